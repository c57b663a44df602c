"""A storm of hostile traffic against a real gateway process, with a bystander watching.

hypothesis generates the events a python-socketio client emits (contract events, unknown
and reserved names; nested JSON, unicode, strings and binary attachments within and over the
size limit, wrong types, several arguments) and raw frames over a bare WebSocket (malformed
Engine.IO/Socket.IO packets, nesting thousands deep, garbage text and binary). Afterwards
the gateway is alive and healthy, the bystander got every event written during and after
the storm exactly once and in order, and the client and subscription gauges are back where
they were. (A sender over the size limit or with binary data, which the gateway's protocol
does not carry, is disconnected; the storm then goes on with a new client.)
"""

from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import contract
from tests.fuzz import strategies
from tests.fuzz.conftest import fuzz_examples
from tests.fuzz.wire import carries_binary, gauges, largest_message, raw_exchange
from tests.support.sio import RecordingClient
from tests.support.waiting import wait_until

PAYLOADS = fuzz_examples(300)
FRAMES = fuzz_examples(300)  # raw connections, 1-3 frames each
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(300 + (PAYLOADS + FRAMES) * 0.2)]
EVENT_EVERY = 25  # the writer appends one event for the bystander every N inputs
MARGIN = 64  # bytes around the size limit where either outcome is right


def hypothesis_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


class Storm:
    """One python-socketio client at a time; replaced when the gateway drops or forgets it."""

    def __init__(self, gateway, token: str, limit: int):
        self.gateway = gateway
        self.token = token
        self.limit = limit
        self.client: RecordingClient | None = None
        self.sent = 0
        self.answered = 0
        self.dropped = 0
        self.opened: list[RecordingClient] = []

    def current(self) -> RecordingClient:
        if self.client is None or not self.client.sio.connected:
            self.client = RecordingClient(self.gateway.url, self.token).connect()
            self.opened.append(self.client)
        return self.client

    def send(self, event: str, args: tuple) -> None:
        client = self.current()
        size = largest_message(event, args)
        self.sent += 1
        if size > self.limit + MARGIN or carries_binary(event, args):
            # Over the limit, or binary data (not part of the gateway's protocol: the
            # contract carries JSON only): the connection is closed.
            client.sio.emit(event, args)
            wait_until(lambda: not client.sio.connected, message="sender dropped")
            self.dropped += 1
            return
        if size > self.limit - MARGIN:
            client.sio.emit(event, args)
            self._settle(client)
            return
        if event not in strategies.ANSWERED:
            client.sio.emit(event, args)
            return
        answer = client.call(event, args, timeout=10)
        self.answered += 1
        assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
        if not answer["ok"]:
            assert isinstance(answer["error"], str) and answer["error"], answer
            if answer["error"] == "not connected":
                # A client-sent event named "disconnect" made the hub forget this one.
                client.close()
        assert client.sio.connected or answer.get("error") == "not connected"

    def _settle(self, client: RecordingClient) -> None:
        """Just around the limit either outcome is right; find out which one it was."""
        answers = []
        client.sio.emit(contract.SIO_UNSUBSCRIBE, {"all": True}, callback=answers.append)
        wait_until(lambda: answers or not client.sio.connected, message="answer or drop")
        self.dropped += not answers

    def close(self) -> None:
        for client in self.opened:
            client.close()


@pytest.fixture(scope="module")
def module_settings(module_settings):
    """A short liveness window: a connection the gateway stopped reading is dropped by its
    ping timeout within seconds (see test_gateway_findings.py), so leaks show as leaks."""
    return module_settings.replace(gateway_ping_interval=2, gateway_ping_timeout=3)


@pytest.fixture
def bystander(gateway, connect, serial):
    client = connect(gateway)
    assert client.call(contract.SIO_SUBSCRIBE, {"droneSerial": serial})["ok"] is True
    return client


def test_storm_leaves_gateway_healthy_and_bystander_served(
    gateway, module_settings, bystander, writer, serial, tokens, fuzz_report
):
    limit = module_settings.gateway_max_message_bytes
    baseline = gauges(gateway)
    storm = Storm(gateway, tokens["admin"], limit)
    written = []

    def tick(count: int) -> None:
        if count % EVENT_EVERY == 0:
            written.extend(writer.write(serial, tick=count))

    @hypothesis_settings(PAYLOADS)
    @given(
        event=strategies.event_names,
        args=strategies.emit_arguments(limit),
    )
    def emit_storm(event, args):
        storm.send(event, args)
        tick(storm.sent)

    frames_sent = 0

    @hypothesis_settings(FRAMES)
    @given(
        authenticated=st.booleans(),
        frames=st.lists(strategies.raw_frames(limit), min_size=1, max_size=3),
    )
    def frame_storm(authenticated, frames):
        nonlocal frames_sent
        raw_exchange(gateway, tokens["viewer"] if authenticated else None, frames)
        frames_sent += len(frames)
        tick(frames_sent)

    try:
        emit_storm()
        frame_storm()
    finally:
        storm.close()
    written.extend(writer.write(serial, tick="after"))

    assert gateway.process.poll() is None, gateway.logs()[-3000:]
    assert requests.get(gateway.url + "/healthz", timeout=5).status_code == 200
    events = bystander.wait_drone_events(len(written))
    assert [e["version"] for e in events] == list(range(1, len(written) + 1))
    assert [e["id"] for e in events] == written
    wait_until(lambda: gauges(gateway) == baseline, timeout=15, message="gauges at baseline")
    assert bystander.sio.connected
    fuzz_report(
        "gateway/socketio-emits",
        storm.sent,
        0,
        f"{storm.answered} answered, {storm.dropped} dropped (oversized or binary), "
        f"{len(storm.opened)} clients",
    )
    fuzz_report("gateway/raw-frames", frames_sent, 0, f"bystander got {len(written)} events")
