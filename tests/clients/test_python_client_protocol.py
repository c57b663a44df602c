"""The Python client against a scripted Socket.IO server (python-socketio, real sockets).

The server here plays the gateway's protocol step by step, so the tests can send what a
healthy gateway rarely does: duplicates, a burst of hundreds of events, a resume that the
history cannot serve.
"""

from __future__ import annotations

import threading

import pytest
import socketio
from drone_events import DroneEventsClient, SubscriptionError
from werkzeug.serving import make_server

from tests.clients.conftest import recorded
from tests.support.waiting import wait_until

GOOD_TOKEN = "good-token"


def envelope(n: int, serial: str = "D1", event: str = "drone.updated") -> dict:
    return {
        "id": f"1764252000000-{n}",
        "event": event,
        "droneSerial": serial,
        "version": n,
        "timestamp": "2026-11-27T14:00:00.000Z",
        "data": {"changes": {}, "full": {"deviceSerialNumber": serial, "version": n}},
    }


class ScriptedGateway:
    """Accepts GOOD_TOKEN, records subscribe payloads, answers with ``self.answer(payload)``."""

    def __init__(self):
        self.sio = socketio.Server(async_mode="threading")
        self.requests: list[dict] = []
        self.sids: list[str] = []
        self.answer = lambda payload: {"ok": True, "subscriptions": ["D1"], "position": "0-0"}
        self.sio.on("connect", self._connect)
        self.sio.on("subscribe", self._subscribe)
        app = socketio.WSGIApp(self.sio, socketio_path="ws/events")
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _connect(self, sid, environ, auth):
        if not isinstance(auth, dict) or auth.get("token") != GOOD_TOKEN:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized: bad token")
        self.sids.append(sid)
        self.sio.start_background_task(self._greet, sid)

    def _greet(self, sid):
        # Like the gateway: "connected" once the connection is confirmed to the client.
        wait_until(lambda: self.sio.manager.is_connected(sid, "/"), message="connection")
        self.sio.emit("connected", {"clientId": sid, "expiresAt": 2_000_000_000}, to=sid)

    def _subscribe(self, sid, payload):
        self.requests.append(payload)
        return self.answer(payload)

    def send(self, envelope: dict) -> None:
        self.sio.emit("drone:event", envelope, to=self.sids[-1])

    def notify_missed(self, after: str, until: str) -> None:
        self.sio.emit("missed", {"after": after, "until": until}, to=self.sids[-1])

    def close_transport(self) -> None:
        """Drop the connection the way a gateway going away does (the client reconnects)."""
        eio_sid = self.sio.manager.eio_sid_from_sid(self.sids[-1], "/")
        # On its own thread: engineio's close waits for its send queue to drain, which
        # never happens when the client drops the socket first.
        threading.Thread(target=self.sio.eio.disconnect, args=(eio_sid,), daemon=True).start()


@pytest.fixture
def gateway():
    scripted = ScriptedGateway()
    scripted.thread.start()
    yield scripted
    scripted.server.shutdown()


@pytest.fixture
def client(gateway):
    made = DroneEventsClient(gateway.url, GOOD_TOKEN, serials=["D1"], reconnection_delay=0.1)
    yield made
    made.disconnect()


def test_connect_subscribes_to_the_given_serials(gateway, client):
    client.connect()
    assert gateway.requests == [{"droneSerials": ["D1"], "snapshot": False}]
    assert client.subscriptions == ["D1"]


def test_a_bad_token_is_refused(gateway):
    refused = DroneEventsClient(gateway.url, "wrong", serials=["D1"], reconnect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect()
    refused.disconnect()


def test_a_refused_subscription_raises(gateway, client):
    gateway.answer = lambda payload: {"ok": False, "error": "forbidden: nope"}
    with pytest.raises(SubscriptionError, match="forbidden: nope"):
        client.connect()


def test_a_burst_reaches_the_handlers_in_order(gateway, client):
    record = recorded(client)
    client.connect()
    for n in range(1, 301):
        gateway.send(envelope(n))
    calls = record.wait_for("event", 300)
    assert [event.version for (event,) in calls] == list(range(1, 301))


def test_duplicates_and_older_ids_are_dropped(gateway, client):
    record = recorded(client)
    client.connect()
    for n in (1, 2, 2, 1, 3, 3):
        gateway.send(envelope(n))
    gateway.send(envelope(4))
    calls = record.wait_for("event", 4)
    assert [event.id for (event,) in calls] == [envelope(n)["id"] for n in (1, 2, 3, 4)]
    assert client.duplicates_dropped == 3


def test_reconnection_resumes_after_the_last_event(gateway, client):
    record = recorded(client)
    client.connect()
    gateway.send(envelope(1))
    gateway.send(envelope(2))
    record.wait_for("event", 2)
    gateway.close_transport()
    wait_until(lambda: len(gateway.requests) == 2, message="a second subscribe")
    # With a snapshot too: the application keeps state (it has an on_resync handler).
    assert gateway.requests[1] == {
        "droneSerials": ["D1"],
        "since": envelope(2)["id"],
        "snapshot": True,
    }


def test_resume_from_a_fresh_subscription_starts_at_its_position(gateway, client):
    gateway.answer = lambda payload: {"ok": True, "subscriptions": ["D1"], "position": "77-3"}
    client.connect()
    gateway.close_transport()
    wait_until(lambda: len(gateway.requests) == 2, message="a second subscribe")
    assert gateway.requests[1]["since"] == "77-3"


def test_an_unrecoverable_resume_reloads_a_snapshot(gateway, client):
    record = recorded(client)
    client.connect()
    gateway.send(envelope(1))
    record.wait_for("event", 1)
    drone = {"deviceSerialNumber": "D1", "version": 9}

    def answer(payload):
        if "since" in payload:
            return {
                "ok": True,
                "subscriptions": ["D1"],
                "recovered": False,
                "snapshot": [drone] if payload.get("snapshot") else None,
                "position": "1764252000009-0",
            }
        return {"ok": True, "subscriptions": ["D1"], "position": "1764252000001-0"}

    gateway.answer = answer
    gateway.close_transport()
    assert record.wait_for("resync", 1) == [([drone],)]
    # One subscribe: since, and the snapshot the answer replaces the state with.
    assert gateway.requests[-1] == {
        "droneSerials": ["D1"],
        "since": envelope(1)["id"],
        "snapshot": True,
    }
    assert client.last_event_id == "1764252000009-0"


def test_a_snapshot_on_first_connect_is_handed_to_on_resync(gateway):
    drone = {"deviceSerialNumber": "D1", "version": 2}
    gateway.answer = lambda payload: {"ok": True, "subscriptions": ["D1"], "snapshot": [drone]}
    client = DroneEventsClient(gateway.url, GOOD_TOKEN, serials="D1", snapshot=True)
    record = recorded(client)
    with client:
        assert record.wait_for("resync", 1) == [([drone],)]
    assert gateway.requests == [{"droneSerials": ["D1"], "snapshot": True}]


def test_a_failing_handler_does_not_stop_delivery(gateway, client):
    record = recorded(client)

    @client.on_event
    def explode(event):
        raise RuntimeError("detector bug")

    client.connect()
    gateway.send(envelope(1))
    gateway.send(envelope(2))
    assert len(record.wait_for("event", 2)) == 2


def test_a_skipping_client_asks_for_it_in_its_subscription(gateway):
    client = DroneEventsClient(gateway.url, GOOD_TOKEN, serials="D1", when_behind="skip")
    with client:
        assert gateway.requests == [
            {"droneSerials": ["D1"], "whenBehind": "skip", "snapshot": False}
        ]


def test_when_behind_must_be_replay_or_skip():
    with pytest.raises(ValueError, match="when_behind"):
        DroneEventsClient("http://127.0.0.1:1", GOOD_TOKEN, when_behind="drop")


def test_a_missed_notice_is_handed_over_in_order_then_a_snapshot(gateway):
    drone = {"deviceSerialNumber": "D1", "version": 5}
    gateway.answer = lambda payload: {
        "ok": True,
        "subscriptions": ["D1"],
        "position": "0-0",
        **({"snapshot": [drone]} if payload.get("snapshot") else {}),
    }
    client = DroneEventsClient(gateway.url, GOOD_TOKEN, serials="D1", when_behind="skip")
    record = recorded(client)
    with client:
        gateway.send(envelope(1))
        gateway.send(envelope(2))
        gateway.notify_missed(envelope(2)["id"], envelope(5)["id"])
        record.wait_for("resync", 1)
        gateway.send(envelope(6))
        record.wait_for("event", 3)
        kinds = [call[0] for call in record.calls if call[0] in ("event", "missed", "resync")]
        assert kinds == ["event", "event", "missed", "resync", "event"]
        assert record.of("missed") == [(envelope(2)["id"], envelope(5)["id"])]
        assert record.of("resync") == [([drone],)]
        assert gateway.requests[-1] == {
            "droneSerials": ["D1"],
            "whenBehind": "skip",
            "snapshot": True,
        }
        assert client.missed_notices == 1


def test_after_a_missed_notice_a_reconnection_resumes_past_the_gap(gateway):
    client = DroneEventsClient(
        gateway.url, GOOD_TOKEN, serials="D1", when_behind="skip", reconnection_delay=0.1
    )
    record = recorded(client)
    with client:
        gateway.send(envelope(1))
        gateway.notify_missed(envelope(1)["id"], envelope(4)["id"])
        record.wait_for("missed", 1)
        wait_until(lambda: len(gateway.requests) == 2, message="the snapshot subscribe")
        gateway.close_transport()
        wait_until(lambda: len(gateway.requests) == 3, message="a resuming subscribe")
        assert gateway.requests[2]["since"] == envelope(4)["id"]


def test_a_client_behind_its_callbacks_stops_reading_past_max_pending(gateway):
    client = DroneEventsClient(gateway.url, GOOD_TOKEN, serials="D1", max_pending=3)
    release = threading.Event()
    waiting = []  # how many waited for the callbacks as each event was handed over

    @client.on_event
    def slow(event):
        waiting.append(client.pending)
        release.wait(15)

    with client:
        for n in range(1, 21):
            gateway.send(envelope(n))
        wait_until(lambda: client.pending == 3, message="three events waiting")
        release.set()
        wait_until(lambda: len(waiting) == 20, message="every event handed over")
    assert max(waiting) <= 3
