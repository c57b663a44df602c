"""Fixtures of the client tests: the running stack, REST helpers, clients, Node and Chromium."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from drone_events import DroneEventsClient

from tests.support.services import ServiceProcess
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclasses.dataclass
class Stack:
    """A running API and gateway, and REST calls against the API as admin."""

    api: ServiceProcess
    gateway: ServiceProcess
    headers: dict[str, str]

    def call(self, method: str, path: str, body=None, expect: int = 200) -> dict | None:
        response = requests.request(
            method, f"{self.api.url}/api/v1{path}", json=body, headers=self.headers, timeout=10
        )
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def register(self, serial: str, **fields) -> dict:
        body = {"deviceSerialNumber": serial, "deviceName": f"Drone {serial}", **fields}
        return self.call("POST", "/drones/register", body, expect=201)

    def set_stream(self, serial: str, on: bool) -> dict:
        return self.call("PUT", f"/drones/{serial}/stream", {"streamIsOn": on})


@pytest.fixture
def stack(start_api, start_gateway, auth_headers) -> Stack:
    return Stack(start_api(), start_gateway(), auth_headers("admin"))


class Recorder:
    """Collects what a client's handlers were called with, for the test to wait on."""

    def __init__(self):
        self.calls: list[tuple] = []
        self._lock = threading.Lock()

    def record(self, kind: str):
        def handler(*args):
            with self._lock:
                self.calls.append((kind, *args))

        return handler

    def of(self, kind: str) -> list[tuple]:
        with self._lock:
            return [call[1:] for call in self.calls if call[0] == kind]

    def wait_for(self, kind: str, count: int, timeout: float = 15) -> list[tuple]:
        return wait_until(
            lambda: (calls := self.of(kind)) and len(calls) >= count and calls,
            timeout=timeout,
            message=f"{count} {kind} call(s), got {self.of(kind)}",
        )


@pytest.fixture
def make_client(tokens):
    """``make_client(url, **options)``: a DroneEventsClient (detector token) closed afterwards."""
    made: list[DroneEventsClient] = []

    def make(url: str, token=None, **options) -> DroneEventsClient:
        client = DroneEventsClient(url, token or tokens["detector"], **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.disconnect()


def recorded(client: DroneEventsClient) -> Recorder:
    """A recorder bound to every handler of ``client``."""
    recorder = Recorder()
    for kind in (
        "event",
        "stream_status",
        "ai_detection",
        "detection_classes",
        "config_updated",
        "created",
        "deleted",
        "incident",
        "broadcast",
        "resync",
        "missed",
    ):
        getattr(client, f"on_{kind}")(recorder.record(kind))
    return recorder


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``tests/js/node_modules`` with the pinned socket.io-client (``npm ci`` when missing)."""
    if not (JS_DIR / "node_modules" / "socket.io-client").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed for the official socket.io-client tests")
        subprocess.run(
            [npm, "ci", "--prefix", str(JS_DIR), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return JS_DIR / "node_modules"


class NodeProcess:
    """``node <args>`` running, its output lines collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            ["node", *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = 20) -> str:
        def found():
            match = next((line for line in self.lines if text in line), None)
            if match is None and not self._reader.is_alive():
                raise AssertionError(f"node exited: {self.lines}")
            return match

        return wait_until(found, timeout=timeout, message=f"{text!r} in {self.lines}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class NodeClient(NodeProcess):
    """``tests/js/subscriber.mjs``: what the official client received, as JSON lines."""

    def __init__(self, url: str, token: str, subscription: dict):
        super().__init__([str(JS_DIR / "subscriber.mjs"), url, token, json.dumps(subscription)])

    def of(self, kind: str) -> list[dict]:
        parsed = [json.loads(line) for line in list(self.lines) if line.startswith("{")]
        return [item for item in parsed if item["type"] == kind]

    def wait_for(self, kind: str, condition=lambda items: items, timeout: float = 15):
        def check():
            if not self._reader.is_alive() and not condition(self.of(kind)):
                raise AssertionError(f"node exited: {self.lines}")
            return condition(self.of(kind))

        return wait_until(check, timeout=timeout, message=f"node client {kind} lines {self.lines}")


@pytest.fixture
def node_client(node_modules):
    """``node_client(url, token, subscription)``: the official JS client, stopped afterwards."""
    started: list[NodeClient] = []

    def start(url: str, token: str, subscription: dict) -> NodeClient:
        client = NodeClient(url, token, subscription)
        started.append(client)
        return client

    yield start
    for client in started:
        client.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
