"""Fixtures of the deployment tests: parsed compose file, rendered overlays, settings names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from deploy import render

REPO = Path(__file__).resolve().parents[2]
SETTINGS_READERS = {"_read", "_int", "_float", "_bool", "_list", "_choice", "_secret"}


def settings_env_names() -> set[str]:
    """Every variable shared/settings.py reads, with the ``_FILE`` twin of each secret."""
    tree = ast.parse((REPO / "shared" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in SETTINGS_READERS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            names.add(node.args[1].value)
            if node.func.id == "_secret":
                names.add(node.args[1].value + "_FILE")
    return names


@pytest.fixture(scope="session")
def settings_names() -> set[str]:
    names = settings_env_names()
    assert len(names) > 30, "the settings parser found too few variables"
    return names


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="session")
def kustomize() -> list[str]:
    commands = render.kustomize_commands()
    if not commands:
        pytest.skip(f"no kustomize on this machine: {render.INSTALL_HINT}")
    return commands[0]


@pytest.fixture(scope="session")
def rendered(kustomize) -> dict[str, list[dict]]:
    """Objects of each overlay, rendered once per run: ``{"dev": [...], "prod": [...]}``."""
    return {Path(o).name: render.render(o, kustomize) for o in render.OVERLAYS}
