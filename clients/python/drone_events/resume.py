"""The client's algorithm (docs/clients.md, "The client's algorithm") as plain classes.

:class:`Position` is the resume position: the id of the newest event handled, of either kind
(drone event or broadcast), or the position of a subscribe answer that started the stream.
:class:`Backoff` spaces the retries of a subscribe the gateway refused as ``unavailable``.
:class:`State` is what the client tells the application about its subscription.
"""

from __future__ import annotations

import enum
import random
import threading
from typing import Any

from .event import EnvelopeError, parse_event_id

MAX_RETRY_SECONDS = 30.0


class State(enum.Enum):
    """Where the client's subscription stands (``DroneEventsClient.state``, ``on_state``)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    SUBSCRIBING = "subscribing"  # connected, the subscribe is on its way
    RETRYING = "retrying"  # connected, the gateway answered "unavailable": retrying
    SUBSCRIBED = "subscribed"  # the gateway confirmed the subscription
    REFUSED = "refused"  # the gateway refused it for good (bad request, forbidden)


class Backoff:
    """Delays for retrying ``unavailable``: ``retryAfter`` first, doubled up to 30 s, each
    with ±20 % jitter so that many clients of a restarted gateway do not retry in step."""

    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or random.Random()
        self._next: float | None = None

    def reset(self) -> None:
        self._next = None

    def delay(self, retry_after: object) -> float:
        """The delay before the next retry, given the answer's ``retryAfter``."""
        first = retry_after if isinstance(retry_after, int | float) and retry_after > 0 else 1.0
        base = first if self._next is None else self._next
        self._next = min(base * 2, MAX_RETRY_SECONDS)
        return min(base, MAX_RETRY_SECONDS) * self._rng.uniform(0.8, 1.2)


class Position:
    """The resume position and the rules that move it; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pos: tuple[int, int] | None = None
        self._id: str | None = None

    @property
    def id(self) -> str | None:
        """What to send as ``since`` (None: nothing handled yet, ask for a snapshot)."""
        with self._lock:
            return self._id

    def take(self, event_id: str) -> bool:
        """An event arrived: True (and the position moves to it) unless its id is not newer
        than the position, a duplicate to drop."""
        pos = parse_event_id(event_id)
        with self._lock:
            if self._pos is not None and pos <= self._pos:
                return False
            self._pos, self._id = pos, event_id
            return True

    def answered(self, request: dict[str, Any], answer: dict[str, Any], starts: bool) -> bool:
        """A subscribe answered ``ok: true``; returns whether its snapshot replaces the state.

        ``starts``: the connection's own subscribe (sent on connect). When it had no
        ``since``, or its ``since`` was not recovered, the stream starts at the answer's
        position. A subscribe that adds targets later only moves the position forward.
        A recovered ``since`` keeps both: the missed events follow.
        """
        resumed = "since" in request
        recovered = answer.get("recovered")
        restart = starts and (not resumed or recovered is False)
        position = answer.get("position")
        try:
            pos = parse_event_id(position) if position else None
        except EnvelopeError:
            pos = None
        with self._lock:
            if pos is None or (resumed and recovered is not False):
                pass  # recovered: the missed events follow and move the position
            elif resumed or self._pos is None or pos > self._pos:
                # Not recovered: the old position belongs to a lost history, whatever its id.
                self._pos, self._id = pos, position
        return restart or (resumed and recovered is False)

    def skip_to(self, event_id: str) -> None:
        """The gateway moved this client ahead (``missed``): resume after ``event_id``."""
        try:
            pos = parse_event_id(event_id)
        except EnvelopeError:
            return
        with self._lock:
            if self._pos is None or pos > self._pos:
                self._pos, self._id = pos, event_id
