"""Unit tests of the plain functions behind the attack suite (tests/attack/api)."""

from __future__ import annotations

import json
import logging

import pytest
from gunicorn.http import errors as http_errors

from services.api.bodies import nesting_exceeds
from services.api.metrics import method_label, status_label
from services.api.refusals import WINDOW_SECONDS, RefusalLog
from services.api.worker import error_bytes, refusal
from shared import contract
from shared.auth import estimated_secret_bits, secret_weakness


@pytest.mark.parametrize(
    "body,limit,exceeds",
    [
        (b"[" * 1000 + b"]" * 1000, 32, True),
        (b"[" * 32 + b"]" * 32, 32, False),
        (b"[" * 33 + b"]" * 33, 32, True),
        (b'{"a": "' + b"[" * 100 + b'"}', 32, False),  # brackets in a string do not count
        (b'{"a": "\\"' + b"[" * 100 + b'"}', 32, False),  # nor after an escaped quote
        (b'["\\\\", ' + b"[" * 40 + b"]" * 41, 32, True),  # an escaped backslash ends
        (b'{"a": [1, {"b": [2]}]}', 4, False),
        (b'{"a": [1, {"b": [2]}]}', 3, True),
        (b"", 2, False),
    ],
)
def test_nesting_depth(body, limit, exceeds):
    assert nesting_exceeds(body, limit) is exceeds


def test_labels_take_values_from_fixed_sets():
    assert method_label("GET") == "GET"
    assert method_label("PROPFIND") == "other"
    assert method_label("get") == "other"
    assert status_label(404) == "404"
    assert status_label(999) == "other"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_refusal_log_writes_at_most_its_budget_a_minute_then_reports_the_rest(caplog):
    clock = Clock()
    refusals = RefusalLog(logging.getLogger("test.refusals"), per_minute=3, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.refusals"):
        written = [refusals.log("request", status=400) for _ in range(10)]
        clock.now += WINDOW_SECONDS
        assert refusals.log("request", status=401)

    assert written == [True] * 3 + [False] * 7
    assert len(caplog.records) == 4
    assert caplog.records[-1].suppressed == 7
    assert not hasattr(caplog.records[0], "suppressed")


@pytest.mark.parametrize(
    "exc,status",
    [
        (http_errors.LimitRequestLine(10_000, 4094), 414),
        (http_errors.LimitRequestHeaders("too many"), 431),
        (http_errors.InvalidRequestLine("\x16\x03"), 400),
        (http_errors.InvalidChunkSize("zz"), 400),
        (http_errors.UnsupportedTransferCoding("gzip"), 501),
        (RuntimeError("bug"), 500),
    ],
)
def test_what_the_server_refuses_is_answered_in_the_error_shape(exc, status):
    answer_status, code, message = refusal(exc)
    raw = error_bytes(answer_status, code, message)
    head, _, body = raw.partition(b"\r\n\r\n")

    assert answer_status == status
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["error"]["code"] == code


@pytest.mark.parametrize("serial", ["ABC\n", "ABC\r\n", "", "a b", "x" * 65, "all", "ALL", 7])
def test_serials_match_whole_and_reserved_names_are_refused(serial):
    assert not contract.is_valid_serial(serial)


def test_reserved_serial_has_a_clear_message():
    assert "reserved" in contract.serial_problem("All")
    assert contract.serial_problem("DRONE-1:a.b_c") is None
    assert contract.serial_problem("allx") is None


@pytest.mark.parametrize(
    "secret,refused",
    [
        ("a" * 32, True),
        ("ab" * 24, True),
        ("0123456789" * 4, True),
        ("dev-" + "Qm7vR2xLp9TfW4kZc8NbJ3yHs6DgUa1E", True),
        ("Qm7vR2xLp9TfW4kZc8NbJ3yHs6D", True),  # short
        ("9cd7cb08795f14fa262b23ecf9e3bb49", False),  # secrets.token_hex(16)
        ("oqDQVvUV7Oqcbct0PMEaXoOeDL1bcrBdmiLFV3s9N5I", False),  # token_urlsafe(32)
    ],
)
def test_production_secrets_need_entropy(secret, refused):
    assert (secret_weakness(secret) is not None) is refused


def test_entropy_estimate():
    assert estimated_secret_bits("a" * 32) == 0
    assert estimated_secret_bits("ab" * 24) == pytest.approx(2)
