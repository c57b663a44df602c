"""The newest events the relay delivered, kept in memory for replays.

A client that falls behind, or resumes after a short blip, is served from here instead of
by an XRANGE of its own: in an overload hundreds of clients catch up through the same
events, and reading and parsing each of them from Redis once per client was most of the
gateway's time. The frame of each event is built once, on first use, and shared by every
replay that sends it.

The events held are a contiguous run of the log (the relay reads it in order, from where it
stopped), so a replay whose cursor is not older than the oldest event held finds every
event after it here.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from services.gateway.transport.frames import Message
from shared.eventlog import LoggedEvent, parse_stream_id

# Bytes counted besides an event's body and a frame's bytes: the objects around them (the
# event, its id and key, the list slots; the dict entry of a frame), as tracemalloc
# measured them on CPython 3.11.
EVENT_OVERHEAD = 320
FRAME_OVERHEAD = 80


class RecentEvents:
    """The newest delivered events, up to about ``max_bytes``."""

    def __init__(self, max_bytes: int, message_of: Callable[[LoggedEvent], Message]):
        self._max_bytes = max_bytes
        self._message_of = message_of
        self._keys: list[tuple[int, int]] = []  # parsed ids, for bisecting
        self._events: list[LoggedEvent] = []
        self._frames: dict[str, Message] = {}
        self._head = 0  # index of the oldest event held; the slots before it are dropped
        self._bytes = 0

    def clear(self) -> None:
        """Forget every event: the history they belong to was lost (a new epoch)."""
        self._keys, self._events, self._frames = [], [], {}
        self._head = self._bytes = 0

    def extend(self, events: list[LoggedEvent]) -> None:
        """Hold ``events``, which follow the last ones held in the log, dropping the oldest."""
        for event in events:
            self._keys.append(parse_stream_id(event.id))
            self._events.append(event)
            self._bytes += len(event.body) + EVENT_OVERHEAD
        self._trim()

    def _trim(self) -> None:
        while self._bytes > self._max_bytes and self._head < len(self._events):
            old = self._events[self._head]
            self._bytes -= len(old.body) + EVENT_OVERHEAD
            message = self._frames.pop(old.id, None)
            if message is not None:
                self._bytes -= len(message.frame) + FRAME_OVERHEAD
            self._head += 1
        if self._head > len(self._events) // 2:  # amortised: each slot is moved at most once
            del self._keys[: self._head], self._events[: self._head]
            self._head = 0

    def after(self, cursor: str, until: str, count: int) -> list[LoggedEvent] | None:
        """Up to ``count`` events after ``cursor`` and up to ``until``, oldest first; None
        when events after ``cursor`` may be older than the oldest held."""
        pos = parse_stream_id(cursor)
        if pos is None or self._head == len(self._keys) or pos < self._keys[self._head]:
            return None
        start = bisect.bisect_right(self._keys, pos, self._head)
        end = bisect.bisect_right(self._keys, parse_stream_id(until), start)
        return self._events[start : min(end, start + count)]

    def message(self, event: LoggedEvent) -> Message:
        """The message of ``event`` (its frame built once), kept while the event is held."""
        message = self._frames.get(event.id)
        if message is None:
            message = self._message_of(event)
            if self._holds(event):
                self._frames[event.id] = message
                self._bytes += len(message.frame) + FRAME_OVERHEAD
                self._trim()
        return message

    def _holds(self, event: LoggedEvent) -> bool:
        return self._head < len(self._keys) and (
            self._keys[self._head] <= parse_stream_id(event.id) <= self._keys[-1]
        )
