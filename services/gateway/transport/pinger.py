"""Heartbeats for every WebSocket session, from one task.

Engine.IO v4: the server pings each client ``pingInterval`` after its last pong, and ends
a session whose client stays silent for ``pingTimeout`` more (the reader's socket timeout
does that). python-engineio keeps a task asleep per client for the pings; all clients here
share the interval, so the sessions due next are always at the front of one FIFO.
"""

from __future__ import annotations

import collections
import logging
import time

log = logging.getLogger(__name__)


class Pinger:
    """Calls ``session.heartbeat()`` one interval after each :meth:`add`."""

    def __init__(self, interval: float, runtime, clock=time.monotonic):
        self._interval = interval
        self._runtime = runtime
        self._clock = clock
        self._due: collections.deque = collections.deque()
        self._task = None

    def add(self, session) -> None:
        self._due.append((self._clock() + self._interval, session))
        if self._task is None:
            self._task = self._runtime.spawn(self._run)

    def ping_due(self) -> float | None:
        """Ping the sessions whose time has come; returns when the next is due (None: none)."""
        due, now, pinged = self._due, self._clock(), 0
        while due and due[0][0] <= now:
            _, session = due.popleft()
            if not session.closed:
                try:
                    session.heartbeat()
                except Exception:  # noqa: BLE001 - one session must not stop the others
                    log.exception("ping failed")
            pinged += 1
            if pinged % 500 == 0:
                self._runtime.sleep(0)  # a crowd of pings must not hold up event delivery
        return due[0][0] if due else None

    def _run(self) -> None:
        while True:
            next_due = self.ping_due()
            wait = self._interval if next_due is None else next_due - self._clock()
            self._runtime.sleep(min(max(wait, 0.0), 1.0))
