"""What the resume tests share: resuming clients that record what reached them, load that runs
beside them, and the tally of what each received against the event log."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time

import redis
import requests
import socketio
from drone_events import DroneEventsClient, parse_event_id
from drone_events.inorder import InOrderSocketIOClient

from shared import contract
from tests.clients.conftest import JS_DIR, NodeProcess
from tests.support.waiting import wait_until


def logged_ids(settings) -> list[str]:
    """Every id in the event log, oldest first (the truth the clients are held to)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        key = "{" + settings.key_prefix + "}:events"
        return [entry_id.decode() for entry_id, _ in client.xrange(key)]
    finally:
        client.close()


def after(ids: list[str], position: str | None) -> list[str]:
    start = parse_event_id(position) if position else (0, 0)
    return [i for i in ids if parse_event_id(i) > start]


def tally(expected: list[str], received: list[str]) -> dict[str, int]:
    """Lost, duplicated and out-of-order ids of one client, and ids it should not have."""
    keys = [parse_event_id(i) for i in received]
    return {
        "lost": len(set(expected) - set(received)),
        "duplicated": len(received) - len(set(received)),
        "reordered": sum(1 for a, b in zip(keys, keys[1:], strict=False) if b < a),
        "unexpected": len(set(received) - set(expected)),
    }


class Load(threading.Thread):
    """Calls ``act(i)`` until stopped; counts the acknowledged calls (2xx)."""

    def __init__(self, act, pause: float = 0.0):
        super().__init__(daemon=True)
        self.act, self.pause = act, pause
        self.acked = 0
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                if self.act(i).status_code < 300:
                    self.acked += 1
                else:
                    self.failed += 1
            except requests.RequestException:
                self.failed += 1
            i += 1
            self.stop.wait(self.pause)

    def finish(self) -> None:
        self.stop.set()
        self.join(30)


def broadcasts(rest, pause: float = 0.02) -> Load:
    """A broadcast every ``pause`` seconds (the storm)."""
    return Load(
        lambda i: rest.call(
            "POST", "/system/broadcast", {"message": f"storm {i}", "level": "info"}
        ),
        pause,
    )


def toggles(rest, serials: list[str], pause: float = 0.0) -> Load:
    return Load(lambda i: rest.toggle_stream(serials[i % len(serials)]), pause)


class Resumer(threading.Thread):
    """A python-socketio client that connects ``rounds`` times (to the gateways in turn),
    each time subscribing to all with ``since`` = the newest id it received (of either
    kind), and records every event as it arrived, duplicates included."""

    def __init__(self, urls: list[str], token: str, rounds: int, pause_before_subscribe=0.05):
        super().__init__(daemon=True)
        self.urls, self.token, self.rounds = urls, token, rounds
        self.pause_before_subscribe = pause_before_subscribe
        self.received: list[str] = []
        self.first_position: str | None = None
        self.position: str | None = None
        self.not_recovered = 0
        self.refusals: list[dict] = []
        self.lost_connections = 0
        self.sio = None
        self.done = threading.Event()
        self._rng = random.Random()

    def _take(self, envelope) -> None:
        self.received.append(envelope["id"])
        if self.position is None or parse_event_id(envelope["id"]) > parse_event_id(self.position):
            self.position = envelope["id"]

    def _connect(self, url: str):
        sio = InOrderSocketIOClient(reconnection=False)
        greeted = threading.Event()
        sio.on(contract.SIO_CONNECTED, lambda *_: greeted.set())
        sio.on(contract.SIO_DRONE_EVENT, self._take)
        sio.on(contract.SIO_SYSTEM_BROADCAST, self._take)
        sio.connect(
            url,
            socketio_path=contract.SOCKETIO_PATH,
            transports=["websocket"],
            auth={"token": self.token},
            wait_timeout=10,
        )
        if not greeted.wait(10):
            sio.disconnect()
            raise TimeoutError("no greeting")
        # A client does its own work on connect: live events have time to arrive first.
        time.sleep(self.pause_before_subscribe)
        payload = {"all": True}
        if self.position is not None:
            payload["since"] = self.position
        while True:
            answer = sio.call(contract.SIO_SUBSCRIBE, payload, timeout=15)
            if answer.get("ok"):
                break
            self.refusals.append(answer)
            time.sleep(answer.get("retryAfter", 1))
        if "since" not in payload or answer.get("recovered") is False:
            self.not_recovered += "since" in payload
            self.position = answer["position"]
            if self.first_position is None:
                self.first_position = answer["position"]
        return sio

    def _round(self, url: str):
        """Connect and subscribe, again when the connection is lost meanwhile."""
        for _ in range(20):
            try:
                return self._connect(url)
            except (socketio.exceptions.SocketIOError, TimeoutError):
                self.lost_connections += 1
        raise AssertionError("could not subscribe in 20 attempts")

    def run(self) -> None:
        for n in range(self.rounds):
            sio = self._round(self.urls[n % len(self.urls)])
            time.sleep(self._rng.uniform(0.05, 0.3))  # connected a while: the workload
            sio.disconnect()
        self.sio = self._round(self.urls[self.rounds % len(self.urls)])
        self.done.set()

    def close(self) -> None:
        if self.sio is not None:
            self.sio.disconnect()


class NodeResumer(NodeProcess):
    """``tests/js/resumer.mjs``: the official client resuming after every lost connection."""

    def __init__(self, url: str, token: str):
        super().__init__([str(JS_DIR / "resumer.mjs"), url, token, json.dumps({"all": True})])

    def items(self, kind: str) -> list[dict]:
        parsed = [json.loads(line) for line in list(self.lines) if line.startswith("{")]
        return [item for item in parsed if item["type"] == kind]

    @property
    def first_position(self) -> str | None:
        answers = [a for a in self.items("subscribed") if a.get("ok")]
        return answers[0]["position"] if answers else None

    @property
    def received(self) -> list[str]:
        parsed = [json.loads(line) for line in list(self.lines) if line.startswith("{")]
        return [item["id"] for item in parsed if item["type"] in ("event", "broadcast")]


class HandledRecorder:
    """What a ``DroneEventsClient`` handed to the application (``on_event``), in order."""

    def __init__(self, client: DroneEventsClient):
        self.ids: list[str] = []
        self.states: list[tuple[str, str | None]] = []
        self.resyncs: list[list[dict]] = []
        client.on_event(lambda event: self.ids.append(event.id))
        if hasattr(client, "on_state"):  # (not on the code before issue #19)
            client.on_state(lambda state, detail: self.states.append((state.value, detail)))
        client.on_resync(lambda drones: self.resyncs.append(drones))

    def start(self, fallback: str | None) -> str | None:
        """The position of the first subscribe answer (``SUBSCRIBED`` says "at <id>")."""
        for state, detail in self.states:
            if state == "subscribed" and detail and detail.startswith("at "):
                return detail[3:].split(",")[0]
        return fallback


def wait_for_all(clients_and_starts, settings, timeout: float = 60) -> list[str]:
    """Wait until every client received every logged event after its start; returns the
    log's ids (the wait ends early only on success; the tally then says what is missing)."""
    ids: list[str] = []

    def complete() -> bool:
        nonlocal ids
        ids = logged_ids(settings)
        return all(set(after(ids, start())) <= set(got()) for got, start in clients_and_starts)

    with contextlib.suppress(AssertionError):  # the tally then says what is missing
        wait_until(complete, timeout=timeout, message="every event at every client")
    return ids
