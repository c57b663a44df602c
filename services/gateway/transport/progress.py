"""Waiting for a client's progress without polling: a part that must wait (a replay for the
client to read, the reader for its backlog to drain) registers a condition and sleeps on an
event; the transport re-checks the conditions whenever the client makes progress."""

from __future__ import annotations


class Progress:
    """The conditions parts wait on, for one connection."""

    __slots__ = ("_event", "_waiters")

    def __init__(self, event_factory):
        self._event = event_factory
        self._waiters: list | None = None

    def wait_until(self, condition, closed, timeout: float | None = None) -> bool:
        """Wait until ``condition()`` holds; False when ``closed()`` first, or on timeout."""
        while not closed() and not condition():
            waiter = (condition, self._event())
            self._waiters = [*(self._waiters or ()), waiter]
            try:
                if not waiter[1].wait(timeout):
                    return condition() and not closed()
            finally:
                self._waiters = [w for w in self._waiters or () if w is not waiter] or None
        return not closed()

    def made(self, closed: bool = False) -> None:
        """The client made progress (or the connection ended): wake whom it lets go on."""
        if self._waiters:
            for condition, event in self._waiters:
                if closed or condition():
                    event.set()
