"""The in-memory tail of the event log that replays read before they ask Redis."""

from __future__ import annotations

from types import SimpleNamespace

from services.gateway.delivery.recent import EVENT_OVERHEAD, FRAME_OVERHEAD, RecentEvents
from shared.eventlog import LoggedEvent


def _events(first: int, count: int, body: str = "{}") -> list[LoggedEvent]:
    return [LoggedEvent(f"{n}-0", "D1", body) for n in range(first, first + count)]


def _ids(events) -> list[str]:
    return [e.id for e in events]


def _recent(max_bytes: int = 1 << 20, built: list | None = None) -> RecentEvents:
    def message_of(event: LoggedEvent) -> SimpleNamespace:
        if built is not None:
            built.append(event.id)
        return SimpleNamespace(frame=event.id.encode())

    return RecentEvents(max_bytes, message_of)


def test_events_after_a_cursor_stop_at_until_and_count():
    recent = _recent()
    recent.extend(_events(100, 10))

    assert _ids(recent.after("102-0", "106-0", 100)) == ["103-0", "104-0", "105-0", "106-0"]
    assert _ids(recent.after("102-0", "109-0", 2)) == ["103-0", "104-0"]
    assert recent.after("109-0", "109-0", 100) == []


def test_a_cursor_between_two_ids_continues_with_the_next_one():
    recent = _recent()
    recent.extend(_events(100, 3))

    assert _ids(recent.after("100-5", "102-0", 10)) == ["101-0", "102-0"]


def test_a_cursor_older_than_what_is_held_is_not_served():
    recent = _recent()
    recent.extend(_events(100, 3))

    assert recent.after("99-0", "102-0", 10) is None
    assert recent.after("not an id", "102-0", 10) is None
    assert _recent().after("100-0", "100-0", 10) is None  # holds nothing yet


def test_the_oldest_events_go_once_the_bytes_pass_the_bound():
    recent = _recent(max_bytes=5 * (EVENT_OVERHEAD + 100))  # five events of 100 bytes
    recent.extend(_events(100, 8, body="x" * 100))

    assert recent.after("102-0", "107-0", 10) is None
    assert _ids(recent.after("103-0", "107-0", 10)) == ["104-0", "105-0", "106-0", "107-0"]


def test_frames_count_towards_the_bound():
    recent = _recent(max_bytes=5 * (EVENT_OVERHEAD + 100))
    events = _events(100, 5, body="x" * 100)
    recent.extend(events)

    recent.message(events[-1])  # 5 bytes and the overhead: the oldest event has to go

    assert FRAME_OVERHEAD > 0
    assert recent.after("100-0", "104-0", 10) is None
    assert _ids(recent.after("101-0", "104-0", 10)) == ["102-0", "103-0", "104-0"]


def test_each_held_events_frame_is_built_once():
    built: list[str] = []
    recent = _recent(built=built)
    events = _events(100, 3)
    recent.extend(events)

    frames = [recent.message(e).frame for e in events + events]

    assert frames == [b"100-0", b"101-0", b"102-0"] * 2
    assert built == ["100-0", "101-0", "102-0"]


def test_frames_of_events_not_held_are_built_each_time():
    built: list[str] = []
    recent = _recent(built=built)
    recent.extend(_events(100, 3))
    older = LoggedEvent("50-0", "D1", "{}")

    recent.message(older)
    recent.message(older)

    assert built == ["50-0", "50-0"]
