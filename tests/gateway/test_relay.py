"""The relay against a fake event log and hub: what it does when trimming overtook it."""

from __future__ import annotations

import threading

from services.gateway.relay import EventRelay
from shared.eventlog import EventLog, LoggedEvent, PendingEvent
from tests.support.waiting import wait_until


class FakeLog:
    """Serves ``reads`` one after the other; trimming passed every position in ``trimmed``."""

    def __init__(self, reads: list[list[LoggedEvent]], trimmed: set[str], relay_box: list):
        self._reads = reads
        self._trimmed = trimmed
        self._relay_box = relay_box
        self.calls: list[tuple[str, str]] = []

    def epoch(self):
        return None

    def live_position(self) -> tuple[str, int]:
        return "1-0", 1

    def read(self, after: str, count: int, block_ms: int):
        self.calls.append(("read", after))
        if not self._reads:
            self._relay_box[0].stop()
            return []
        return self._reads.pop(0)

    def trimmed_after(self, after: str, added_through: int | None = None) -> bool:
        self.calls.append(("trimmed_after", after))
        return after in self._trimmed


class FakeHub:
    def __init__(self):
        self.position = "0-0"
        self.epoch = None
        self.calls: list[tuple] = []

    def go_live(self, position, epoch=None):
        self.position = position

    def overtaken(self, position):
        self.calls.append(("overtaken", position))

    def deliver(self, events):
        self.calls.append(("deliver", [e.id for e in events]))
        self.position = events[-1].id

    def change_epoch(self, epoch, start):
        raise AssertionError("no epoch change here")


class FakeMetrics:
    class _Counter:
        def inc(self, n=1):
            pass

    redis_reconnects = _Counter()


def _event(event_id: str) -> LoggedEvent:
    return LoggedEvent(event_id, "D1", '{"type":"drone.updated"}')


def _run(reads, trimmed):
    box: list = []
    hub = FakeHub()
    log = FakeLog(reads, trimmed, box)
    relay = EventRelay(lambda: log, hub, FakeMetrics(), sleep=lambda s: None)
    box.append(relay)
    relay.run()
    return hub, log


def test_relay_whose_position_was_trimmed_before_its_read_tells_the_hub_first():
    hub, log = _run([[_event("2-0")], [_event("9-0"), _event("10-0")]], trimmed={"2-0"})

    # Events 3..8 were trimmed before the second read: the hub learns it before it delivers
    # the events after the gap, so no client takes them for the ones that follow 2-0.
    assert hub.calls == [
        ("deliver", ["2-0"]),
        ("overtaken", "2-0"),
        ("deliver", ["9-0", "10-0"]),
    ]
    # The check comes after the read: trimming between the two is not missed either.
    assert log.calls[:4] == [
        ("read", "1-0"),
        ("trimmed_after", "1-0"),
        ("read", "2-0"),
        ("trimmed_after", "2-0"),
    ]


def test_relay_not_overtaken_delivers_without_telling_the_hub():
    hub, _ = _run([[_event("2-0")], [_event("3-0")]], trimmed=set())
    assert hub.calls == [("deliver", ["2-0"]), ("deliver", ["3-0"])]


def test_relay_checks_nothing_after_an_empty_read():
    hub, log = _run([[]], trimmed={"1-0"})
    assert hub.calls == []
    assert ("trimmed_after", "1-0") not in log.calls


class RecordingHub(FakeHub):
    """A hub that keeps the epoch it went live in, as the real one does."""

    def go_live(self, position, epoch=None):
        self.position, self.epoch = position, epoch

    def change_epoch(self, epoch, start):
        self.calls.append(("change_epoch", epoch))
        self.epoch = epoch


def _append(log: EventLog, seq: int) -> str:
    event = PendingEvent('{"event":"drone.updated"}', ("drone:D1:updated",), "D1")
    [event_id] = log.append("test", seq, [event], epoch=log.ensure_epoch())
    return event_id


def test_relay_starting_on_a_stream_trimmed_empty_is_not_overtaken(redis_client, key_prefix):
    # Every entry expired while no gateway ran: the stream is empty but not new. The relay
    # starts after the newest id ever handed out, so the next event follows it with no gap;
    # it started at "0-0" before, and sent every client away at that next event.
    log = EventLog(redis_client, key_prefix)
    _append(log, 1)
    redis_client.xtrim(log.stream_key, maxlen=0, approximate=False)
    hub = RecordingHub()
    relay = EventRelay(lambda: log, hub, FakeMetrics(), sleep=lambda s: None, block_ms=50)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: relay.healthy, message="the relay reads the log")
        new = _append(log, 2)
        wait_until(lambda: ("deliver", [new]) in hub.calls, message="the new event delivered")
    finally:
        relay.stop()
        thread.join(5)
    assert ("overtaken", "0-0") not in hub.calls
    assert [call for call in hub.calls if call[0] == "overtaken"] == []


def test_trimmed_after_the_start_is_exact_with_the_count_added_through_it(redis_client, key_prefix):
    log = EventLog(redis_client, key_prefix)
    _append(log, 1)
    start, added = log.live_position()
    redis_client.xtrim(log.stream_key, maxlen=0, approximate=False)
    _append(log, 2)
    assert log.trimmed_after(start) is True  # conservative: the entry at start is gone
    assert log.trimmed_after(start, added) is False  # but nothing after it was lost
    _append(log, 3)
    redis_client.xtrim(log.stream_key, maxlen=1, approximate=False)  # the 2nd one goes
    assert log.trimmed_after(start, added) is True
