"""Long-polling clients, served by python-socketio through its public API.

The WebSocket is the transport this gateway is built around (``session``); long-polling is
the fallback for networks that block WebSockets, and python-socketio serves it well. Its
sessions are not upgraded (``allow_upgrades=False``): a client that wants the WebSocket
connects with it directly.

What a polling client has not taken is bounded here, without looking into
python-engineio's queue: the bytes emitted to it since it last polled (a poll takes
everything queued). Past the client's bound it counts as behind; past twice the gateway's
bound it is disconnected, and resumes from the history when it comes back.
"""

from __future__ import annotations

import logging

import socketio

from services.gateway.transport.progress import Progress

log = logging.getLogger(__name__)

NAMESPACE = "/"


class PollingTransport:
    """One python-socketio (long-polling) client, as a Transport."""

    kind = "polling"

    def __init__(self, server, sid: str, *, bound: int, runtime, on_dropped):
        self._server = server
        self.sid = sid
        self.eio_sid = server.manager.eio_sid_from_sid(sid, NAMESPACE)
        self._bound = bound
        self._limit: int | None = None
        self._unpolled = 0
        self._behind = False
        self._closed = False
        self._dropping = False  # past twice the bound: its close is on its way
        self._on_behind = None
        self._on_dropped = on_dropped
        self._spawn = runtime.spawn
        self._progress = Progress(runtime.event)

    def send(self, message) -> None:
        if self._closed or self._dropping:
            return
        self._server.emit(message.event, message.data, to=self.sid, namespace=NAMESPACE)
        self._count(len(message.frame))

    def send_many(self, messages) -> None:
        for message in messages:
            self.send(message)

    def _count(self, size: int) -> None:
        self._unpolled += size
        if self._unpolled > 2 * self._bound:
            self._dropping = True
            log.warning("%s has not polled %d bytes: dropping it", self.sid, self._unpolled)
            self._on_dropped()
            # Not from inside the fan-out that sent this: closing runs the disconnect
            # handler, which changes the audience the fan-out is going through.
            self._spawn(self.close, abort=True)
        elif self._unpolled > (self._limit or self._bound) and not self._behind:
            self._behind = True
            if self._on_behind is not None:
                self._on_behind()

    def polled(self) -> None:
        """The client polled: it takes everything emitted to it so far."""
        self._unpolled = 0
        self._behind = False
        self._progress.made(self._closed)

    def backlog(self) -> int:
        return self._unpolled

    unread = backlog

    def limit_in_flight(self, max_bytes: int | None) -> None:
        self._limit = max_bytes

    def on_behind(self, callback) -> None:
        self._on_behind = callback

    def wait_until(self, condition, timeout: float | None = None) -> bool:
        return self._progress.wait_until(condition, lambda: self._closed, timeout)

    def close(self, *, abort: bool = False, goodbye: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._progress.made(True)
        self._server.disconnect(self.sid, namespace=NAMESPACE)

    def ended(self) -> None:
        """python-socketio ended the session (the client left, or its heartbeat failed)."""
        self._closed = True
        self._progress.made(True)

    @property
    def closed(self) -> bool:
        return self._closed


class PollingClients:
    """The long-polling clients of this process, by Engine.IO sid (what a poll names)."""

    def __init__(self, server, *, bound: int, runtime, on_dropped):
        self._server = server
        self._bound = bound
        self._runtime = runtime
        self._on_dropped = on_dropped
        self._by_eio_sid: dict[str, PollingTransport] = {}

    def transport(self, sid: str) -> PollingTransport:
        return PollingTransport(
            self._server, sid, bound=self._bound, runtime=self._runtime, on_dropped=self._on_dropped
        )

    def add(self, transport: PollingTransport) -> None:
        self._by_eio_sid[transport.eio_sid] = transport

    def remove(self, sid: str) -> None:
        eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
        transport = self._by_eio_sid.pop(eio_sid, None)
        if transport is not None:
            transport.ended()

    def polled(self, eio_sid: str) -> None:
        transport = self._by_eio_sid.get(eio_sid)
        if transport is not None:
            transport.polled()


class ConfirmingManager(socketio.Manager):
    """python-socketio's client manager, telling ``on_confirmed(sid, namespace)`` when a
    client's connection to a namespace is confirmed to it.

    python-socketio runs the connect handler first, then sends the client its CONNECT
    packet and marks it connected here (``connect``, the manager's extension point); it
    tells the handler nothing. The contract's ``connected`` event must follow that packet:
    a client drops events that come before it.
    """

    def __init__(self):
        super().__init__()
        self.on_confirmed = None  # set once the hub exists (``sockets.register``)

    def connect(self, sid, namespace):
        sid = super().connect(sid, namespace)
        if self.on_confirmed is not None:
            self.on_confirmed(sid, namespace)
        return sid
