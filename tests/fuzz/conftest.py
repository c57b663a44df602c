"""Fixtures of the fuzzing and security tests, and the fuzzing figures in the test report.

``FUZZ_EXAMPLES`` raises the number of generated inputs (``make fuzz``); ``make test`` runs
the same tests with small, deterministic bounds.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from services.api import create_app

# The gateway tests' long-lived gateway process and event writer, reused as they are.
from tests.gateway.conftest import gateway, module_settings, serial, writer  # noqa: F401


def fuzz_examples(default: int) -> int:
    """How many inputs to generate: ``FUZZ_EXAMPLES`` when set, else ``default``."""
    raw = os.environ.get("FUZZ_EXAMPLES", "").strip()
    return int(raw) if raw else default


@dataclasses.dataclass
class FuzzFigure:
    name: str
    examples: int
    failures: int
    detail: str = ""


_FIGURES: list[FuzzFigure] = []


@pytest.fixture
def fuzz_report(record_property):
    """``fuzz_report(name, examples, failures, detail)``: a line of the session's summary
    (and properties of the test in the JUnit report)."""

    def record(name: str, examples: int, failures: int, detail: str = "") -> None:
        _FIGURES.append(FuzzFigure(name, examples, failures, detail))
        record_property(f"{name}.examples", examples)
        record_property(f"{name}.failures", failures)

    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("fuzzing")
    for figure in _FIGURES:
        extra = f" ({figure.detail})" if figure.detail else ""
        terminalreporter.write_line(
            f"{figure.name}: {figure.examples} inputs, {figure.failures} failures{extra}"
        )
    total = sum(f.examples for f in _FIGURES)
    failed = sum(f.failures for f in _FIGURES)
    terminalreporter.write_line(f"total: {total} inputs, {failed} failures")


@pytest.fixture
def api_app(settings):
    """The API on the test settings (real Redis, the tests' MongoDB server), relay stopped:
    a request's effects are all done when it returns."""
    app = create_app(settings, start_relay=False)
    yield app
    app.extensions["shutdown"]()


@pytest.fixture
def mock_api_app(mock_settings):
    """The same on mongomock, for the schema fuzzer: hundreds of generated requests about
    the HTTP contract, not storage, kept fast in process (see docs/api.md)."""
    app = create_app(mock_settings, start_relay=False)
    yield app
    app.extensions["shutdown"]()
