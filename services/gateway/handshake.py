"""The handshake deadline: a transport session that has not authenticated in time is closed.

An Engine.IO session costs a connection slot, a socket and a task before its client has
shown a token; one that never sends the Socket.IO connect (or whose connect was refused)
would otherwise live as long as it answers pings. Each new session is given
``GATEWAY_HANDSHAKE_TIMEOUT_SECONDS`` to join the namespace, and so is a WebSocket session
whose client left it (a DISCONNECT); then it is closed.

One task serves every session: all share the timeout, so the sessions due next are always
at the front of one FIFO, and a session costs a tuple and a dict entry until its deadline.
"""

from __future__ import annotations

import collections
import logging
import time

log = logging.getLogger(__name__)


class HandshakeDeadline:
    """Closes the Engine.IO sessions that have not joined the namespace ``timeout`` seconds
    after they opened.

    ``joined(eio_sid)`` tells whether a session has authenticated, ``close(eio_sid)`` closes
    it without waiting (and returns whether it was open), ``spawn``/``sleep`` are the async
    mode's; ``on_expired()`` counts each closed session.
    """

    def __init__(self, timeout: float, *, joined, close, spawn, sleep, on_expired, clock=None):
        self.timeout = timeout
        self._joined = joined
        self._close = close
        self._spawn = spawn
        self._sleep = sleep
        self._on_expired = on_expired
        self._clock = clock or time.monotonic
        self._due: collections.deque[tuple[float, str]] = collections.deque()
        self._deadline: dict[str, float] = {}  # each session's latest deadline
        self._task = None

    def opened(self, eio_sid: str) -> None:
        """A transport session has just opened, or left the namespace: its deadline starts
        now (an earlier one no longer applies)."""
        due = self._clock() + self.timeout
        self._deadline[eio_sid] = due
        self._due.append((due, eio_sid))
        if self._task is None:
            self._task = self._spawn(self._run)

    def expire(self) -> list[str]:
        """Close the sessions past their deadline that have not joined; returns their sids."""
        now, due, closed = self._clock(), self._due, []
        while due and due[0][0] <= now:
            when, eio_sid = due.popleft()
            if self._deadline.get(eio_sid) != when:
                continue  # a later deadline replaced this one
            del self._deadline[eio_sid]
            if not self._joined(eio_sid) and self._close(eio_sid):
                self._on_expired()
                closed.append(eio_sid)
        if closed:
            log.info("closed %d sessions that did not authenticate in time", len(closed))
        return closed

    def _run(self) -> None:
        while True:
            try:
                self.expire()
            except Exception:  # noqa: BLE001 - the task must outlive any one failure
                log.exception("handshake deadline sweep failed")
            due = self._due
            wait = due[0][0] - self._clock() if due else self.timeout
            self._sleep(min(max(wait, 0.05), self.timeout))


def on_new_sessions(eio, callback) -> None:
    """Call ``callback(eio_sid)`` for each new Engine.IO session of the server ``eio``, after
    the handlers already registered for its ``connect`` event (python-socketio's)."""
    previous = eio.handlers.get("connect")

    def connect(eio_sid, environ, *args):
        accepted = previous(eio_sid, environ, *args) if previous else None
        if accepted is None or accepted is True:
            callback(eio_sid)
        return accepted

    eio.on("connect", connect)
