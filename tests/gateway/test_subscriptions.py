"""Parsing of subscribe/unsubscribe payloads (no server needed)."""

import pytest

from services.gateway.delivery.requests import InvalidRequest, parse, parse_history


def subscribe(payload):
    return parse(payload, allow_options=True, max_serials=100)


def test_all_shape_targets_all():
    assert subscribe({"all": True}).targets == {"all"}


def test_single_serial_shape():
    assert subscribe({"droneSerial": "DRONE123"}).targets == {"DRONE123"}


def test_serial_list_shape():
    assert subscribe({"droneSerials": ["A", "B", "A"]}).targets == {"A", "B"}


@pytest.mark.parametrize("choice", ["replay", "skip"])
def test_when_behind_is_read(choice):
    assert subscribe({"all": True, "whenBehind": choice}).when_behind == choice


def test_when_behind_is_unset_unless_given():
    assert subscribe({"all": True}).when_behind is None


def test_since_and_snapshot_are_read():
    request = subscribe({"all": True, "since": "1764252000123-4", "snapshot": True})
    assert (request.since, request.snapshot) == ("1764252000123-4", True)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "all",
        [],
        {},
        {"all": False},
        {"all": "yes"},
        {"all": True, "droneSerial": "A"},
        {"droneSerial": ""},
        {"droneSerial": "a b"},
        {"droneSerial": "x" * 65},
        {"droneSerial": {"$gt": ""}},
        {"droneSerials": []},
        {"droneSerials": "A"},
        {"droneSerials": ["A", 1]},
        {"droneSerials": [f"S{i}" for i in range(101)]},
        {"all": True, "extra": 1},
        {"all": True, "since": "yesterday"},
        {"all": True, "since": 5},
        {"all": True, "snapshot": "true"},
        {"all": True, "whenBehind": "drop"},
        {"all": True, "whenBehind": True},
    ],
)
def test_malformed_payloads_are_refused(payload):
    with pytest.raises(InvalidRequest):
        subscribe(payload)


def test_unsubscribe_takes_no_resume_options():
    with pytest.raises(InvalidRequest):
        parse({"all": True, "since": "1-0"}, allow_options=False, max_serials=10)


def test_history_request_is_read_with_the_page_size_as_default_limit():
    request = parse_history({"after": "1764252000123-4", "until": "1764252000200"}, max_limit=50)
    assert (request.after, request.until, request.limit) == ("1764252000123-4", "1764252000200", 50)


def test_history_takes_a_smaller_limit():
    assert parse_history({"after": "1-0", "limit": 7}, max_limit=50).limit == 7


def test_unsubscribe_takes_no_when_behind():
    with pytest.raises(InvalidRequest):
        parse({"all": True, "whenBehind": "skip"}, allow_options=False, max_serials=10)


@pytest.mark.parametrize(
    "payload",
    [{"droneSerial": "ABC\n"}, {"droneSerials": ["A", "ABC\n"]}, {"droneSerial": "all"}],
)
def test_serials_match_whole_and_all_is_not_a_serial(payload):
    # "ABC\n" passed a "$"-anchored pattern; "all" as a serial would mean every drone.
    with pytest.raises(InvalidRequest):
        subscribe(payload)


def test_a_reserved_serial_is_refused_with_a_clear_message():
    with pytest.raises(InvalidRequest, match="reserved"):
        subscribe({"droneSerial": "ALL"})
