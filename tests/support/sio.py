"""A python-socketio client that records everything the gateway sends it."""

from __future__ import annotations

import json
import threading

import websocket
from drone_events.inorder import InOrderSocketIOClient

from shared import contract
from tests.support.waiting import wait_until


class RecordingClient:
    """Connects to a gateway (over WebSocket unless told) and keeps every event in order."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        reconnection: bool = False,
        headers: dict | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ):
        self.url = url
        self.token = token
        self.headers = headers or {}
        self.transports = list(transports)
        # python-engineio's client handles each message on a thread of its own, so two
        # events can be recorded in the opposite order of their arrival: the project's
        # client runs the handlers in order, and the tests record through it.
        self.sio = InOrderSocketIOClient(
            reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1
        )
        self.received: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self.sio.on("*", self._record)

    def _record(self, event, data=None):
        with self._lock:
            self.received.append((event, data))

    def connect(self, wait: float = 10) -> RecordingClient:
        self.sio.connect(
            self.url,
            socketio_path=contract.SOCKETIO_PATH,
            transports=self.transports,
            auth={"token": self.token} if self.token is not None else None,
            headers=self.headers,
            wait_timeout=wait,
        )
        self.wait_for(contract.SIO_CONNECTED)
        return self

    def call(self, event: str, data=None, timeout: float = 10):
        return self.sio.call(event, data, timeout=timeout)

    def of(self, event: str) -> list:
        with self._lock:
            return [data for name, data in self.received if name == event]

    def of_any(self, *events: str) -> list:
        """The data of every event named in ``events``, in the order they arrived."""
        with self._lock:
            return [data for name, data in self.received if name in events]

    def drone_events(self) -> list[dict]:
        return self.of(contract.SIO_DRONE_EVENT)

    def wait_for(self, event: str, count: int = 1, timeout: float = 10) -> list:
        return wait_until(
            lambda: len(self.of(event)) >= count and self.of(event),
            timeout=timeout,
            message=f"{count} x {event!r}",
        )

    def wait_drone_events(self, count: int, timeout: float = 15) -> list[dict]:
        return self.wait_for(contract.SIO_DRONE_EVENT, count, timeout)

    def close(self) -> None:
        self.sio.disconnect()


def raw_websocket(gateway_url: str, timeout: float, **options) -> websocket.WebSocket:
    """A bare WebSocket to the gateway's Engine.IO endpoint, nothing read or sent yet;
    ``options`` go to ``websocket.create_connection`` (``sockopt``, …)."""
    url = gateway_url.replace("http", "ws", 1) + contract.SOCKETIO_PATH
    return websocket.create_connection(
        url + "/?EIO=4&transport=websocket", timeout=timeout, **options
    )


def open_session(ws: websocket.WebSocket, token: str | None) -> None:
    """Read the Engine.IO open; with ``token``, join the namespace and read its reply."""
    assert ws.recv().startswith("0")  # Engine.IO open
    if token is not None:
        ws.send("40" + json.dumps({"token": token}))
        assert ws.recv().startswith("40")
