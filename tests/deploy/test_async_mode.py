"""One async mode by default everywhere: make run, Compose and Kubernetes take the settings'
default (gevent) and nothing overrides it; eventlet stays a choice, without its warning."""

import subprocess
import sys

import pytest

from shared.settings import Settings
from tests.deploy.conftest import REPO
from tests.deploy.test_kubernetes import OVERLAYS, app_container, config


def test_the_default_async_mode_is_gevent():
    assert Settings().gateway_async_mode == "gevent"
    assert Settings.from_env({}).gateway_async_mode == "gevent"


def test_compose_takes_the_default_async_mode(compose):
    for name, service in compose["services"].items():
        assert "GATEWAY_ASYNC_MODE" not in (service.get("environment") or {}), name
    assert "GATEWAY_ASYNC_MODE" not in compose.get("x-app-environment", {})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_takes_the_default_async_mode(rendered, overlay):
    objects = rendered[overlay]
    assert "GATEWAY_ASYNC_MODE" not in config(objects)
    names = {item["name"] for item in app_container(objects, "gateway").get("env", [])}
    assert "GATEWAY_ASYNC_MODE" not in names


def test_make_run_takes_the_default_async_mode():
    procfile = (REPO / "Procfile").read_text()
    assert "GATEWAY_ASYNC_MODE" not in procfile
    assert "gateway: python -m services.gateway" in procfile


def test_eventlet_starts_without_its_deprecation_warning():
    """The monkey-patching the gateway's entry point does, in a fresh interpreter, with
    every warning shown: eventlet's deprecation notice is not among them."""
    code = (
        "from services.gateway.greening import monkey_patch; monkey_patch('eventlet'); "
        "import eventlet.patcher as p; assert p.is_monkey_patched('socket')"
    )
    run = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "Eventlet is deprecated" not in run.stderr


def test_eventlet_warning_is_there_without_the_filter():
    """The check above can fail: a bare import does print the notice."""
    run = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import eventlet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Eventlet is deprecated" in run.stderr
