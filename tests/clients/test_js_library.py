"""The JavaScript client library (clients/js) under Node: its unit tests, and the library
with the official socket.io-client against a real gateway."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import requests

from shared.eventlog import EventLog
from tests.clients.conftest import JS_DIR, ROOT, NodeClient, NodeProcess

LIBRARY = ROOT / "clients" / "js" / "src" / "drone-events.js"
SERVED = ROOT / "services" / "gateway" / "static" / "lib" / "drone-events.js"


class LibraryClient(NodeClient):
    """``tests/js/library_client.mjs``: the library's callbacks as JSON lines; commands on
    its stdin."""

    def __init__(self, url: str, token: str, subscription: dict):
        args = [str(JS_DIR / "library_client.mjs"), url, token, json.dumps(subscription)]
        self.process = subprocess.Popen(
            ["node", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def command(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


def _start(node_modules, url: str, token: str, subscription: dict) -> LibraryClient:
    return LibraryClient(url, token, subscription)


def test_library_and_dashboard_unit_tests_pass(node_modules):
    result = subprocess.run(
        [
            "node",
            "--test",
            str(JS_DIR / "drone-events.test.mjs"),
            str(JS_DIR / "dashboard.test.mjs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def test_the_gateway_serves_the_library_unchanged(stack):
    assert SERVED.read_bytes() == LIBRARY.read_bytes()
    response = requests.get(stack.gateway.url + "/static/lib/drone-events.js", timeout=5)
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert response.content == LIBRARY.read_bytes()


def test_library_resumes_across_a_gateway_restart_without_gap_or_duplicate(
    stack, tokens, node_modules, redis_client, process_settings
):
    client = _start(node_modules, stack.gateway.url, tokens["viewer"], {"all": True})
    try:
        stack.register("JSL0")  # before the subscription: in the snapshot
        client.wait_for("subscribed")
        stack.register("JSL1")
        client.wait_for("event", lambda e: any(x["droneSerial"] == "JSL1" for x in e))

        stack.gateway.stop()
        client.wait_for("state", lambda s: s[-1]["state"] == "reconnecting")
        for on in (True, False, True):  # missed while the gateway is down
            stack.set_stream("JSL1", on)
        stack.register("JSL2")
        stack.call("DELETE", "/drones/JSL0", expect=204)
        stack.gateway.start()
        stack.call("PATCH", "/drones/JSL2", {"deviceName": "after restart"})

        client.wait_for(
            "event",
            lambda e: any(x["event"] == "drone.updated" and x["droneSerial"] == "JSL2" for x in e),
        )
        [first, second] = client.wait_for("subscribed", lambda s: len(s) >= 2 and s)[:2]
        assert first["resumed"] is False and second["resumed"] is True
        log = EventLog(redis_client, process_settings.key_prefix)
        logged = [e.id for e in log.range_after(first["answer"]["position"], 1000)]
        received = [e["id"] for e in client.of("event")]
        assert received == logged  # every event after the snapshot, once, in order
        assert len(received) == 1 + 3 * 2 + 1 + 1 + 1
        assert client.of("duplicate") == []

        client.command("dump")
        [dump] = client.wait_for("drones")
        api = {d["deviceSerialNumber"]: d for d in stack.call("GET", "/drones?page_size=100")}
        assert {d["deviceSerialNumber"]: d for d in dump["drones"]} == api
        assert dump["position"] == received[-1]
    finally:
        client.stop()


def test_library_reloads_from_a_snapshot_when_the_history_is_gone(
    stack, tokens, node_modules, redis_client, process_settings
):
    client = _start(node_modules, stack.gateway.url, tokens["viewer"], {"all": True})
    try:
        client.wait_for("subscribed")
        stack.register("JSR1")
        client.wait_for("event", lambda e: e)
        stack.gateway.stop()
        stack.set_stream("JSR1", True)
        log = EventLog(redis_client, process_settings.key_prefix)
        redis_client.xtrim(log.stream_key, maxlen=0, approximate=False)  # the history expired
        stack.gateway.start()
        [_, second] = client.wait_for("subscribed", lambda s: len(s) >= 2 and s)[:2]
        assert second["reloaded"] is True and second["answer"]["recovered"] is False
        client.command("dump")
        [dump] = client.wait_for("drones")
        assert [
            (d["deviceSerialNumber"], d["streamIsOn"], d["version"]) for d in dump["drones"]
        ] == [("JSR1", True, 2)]
    finally:
        client.stop()


def test_library_refreshes_the_token_and_reports_a_refused_one(stack, tokens, node_modules):
    client = _start(node_modules, stack.gateway.url, tokens["viewer"], {"all": True})
    try:
        client.wait_for("subscribed")
        client.command(f"refresh {tokens['admin']}")  # another subject: refused
        [refused] = client.wait_for("refreshed")
        assert refused["answer"]["ok"] is False and "subject" in refused["answer"]["error"]
    finally:
        client.stop()
    forged = _start(node_modules, stack.gateway.url, "forged", {"all": True})
    try:
        [error] = forged.wait_for("error")
        assert error["code"] == "unauthorized" and "unauthorized" in error["message"]
        assert forged.wait_for("state", lambda s: s[-1]["state"] == "failed")
    finally:
        forged.stop()


def test_the_js_example_uses_the_library(stack, tokens, node_modules, tmp_path):
    # The example imports ./src/index.js, which imports "socket.io-client": run a copy
    # next to the tests' node_modules.
    shutil.copy(ROOT / "clients" / "js" / "example.mjs", tmp_path / "example.mjs")
    shutil.copytree(ROOT / "clients" / "js" / "src", tmp_path / "src")
    (tmp_path / "node_modules").symlink_to(node_modules)
    env = {"GATEWAY_URL": stack.gateway.url, "TOKEN": tokens["detector"], "DRONE_SERIALS": "JSX"}
    example = NodeProcess([str(tmp_path / "example.mjs")], env)
    try:
        example.wait_for_line("subscribed to JSX (fresh)")
        stack.register("JSX")
        stack.set_stream("JSX", True)
        example.wait_for_line("JSX v2: stream on")
    finally:
        example.stop()
    assert "snapshot: 0 drone(s)" in example.lines
