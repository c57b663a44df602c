"""The client's algorithm as plain classes (clients/python/drone_events/resume.py)."""

import random

from drone_events.resume import MAX_RETRY_SECONDS, Backoff, Position


def started(position="10-0") -> Position:
    p = Position()
    p.answered({"all": True}, {"ok": True, "position": position}, starts=True)
    return p


def test_a_first_answer_starts_the_stream_at_its_position():
    p = Position()
    reload = p.answered({"all": True}, {"ok": True, "position": "10-0"}, starts=True)
    assert reload and p.id == "10-0"


def test_events_of_either_kind_move_the_position_and_older_ones_are_duplicates():
    p = started()
    assert p.take("11-0")  # a drone event
    assert p.take("11-1")  # a broadcast counts the same
    assert not p.take("11-1") and not p.take("9-0")
    assert p.id == "11-1"


def test_ids_compare_as_pairs():
    p = started("9-0")
    assert p.take("10-0")
    assert not p.take("9-99")


def test_a_recovered_resume_keeps_the_position_for_the_missed_events():
    p = started()
    p.take("12-0")
    request = {"all": True, "since": "12-0", "snapshot": True}
    answer = {"ok": True, "recovered": True, "position": "40-0", "snapshot": []}
    assert not p.answered(request, answer, starts=True)
    assert p.id == "12-0" and p.take("13-0")  # the replay follows


def test_a_resume_not_recovered_restarts_at_the_answer_even_backwards():
    p = started()
    p.take("90-0")  # from a history that was lost
    answer = {"ok": True, "recovered": False, "position": "50-0"}
    assert p.answered({"all": True, "since": "90-0"}, answer, starts=True)
    assert p.id == "50-0" and p.take("51-0")


def test_a_later_subscribe_only_moves_the_position_forward():
    p = started()
    p.take("20-0")
    assert not p.answered({"droneSerial": "X"}, {"ok": True, "position": "15-0"}, starts=False)
    assert p.id == "20-0"
    p.answered({"droneSerial": "Y"}, {"ok": True, "position": "25-0"}, starts=False)
    assert p.id == "25-0"


def test_skipping_ahead_resumes_after_the_gap():
    p = started()
    p.skip_to("70-0")
    assert p.id == "70-0" and not p.take("69-0")


def test_backoff_starts_at_retry_after_doubles_and_stops_at_thirty_seconds():
    backoff = Backoff(random.Random(1))
    delays = [backoff.delay(1) for _ in range(8)]
    bases = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays, bases, strict=True))
    assert max(delays) <= MAX_RETRY_SECONDS * 1.2
    backoff.reset()
    assert backoff.delay(2) <= 2.4


def test_backoff_without_a_usable_retry_after_starts_at_one_second():
    assert 0.8 <= Backoff(random.Random(2)).delay(None) <= 1.2
