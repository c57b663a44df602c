"""Parsing of subscribe/unsubscribe payloads (no server needed)."""

import pytest

from services.gateway.subscriptions import InvalidRequest, parse


def subscribe(payload):
    return parse(payload, allow_options=True, max_serials=100)


def test_all_shape_targets_all():
    assert subscribe({"all": True}).targets == {"all"}


def test_single_serial_shape():
    assert subscribe({"droneSerial": "DRONE123"}).targets == {"DRONE123"}


def test_serial_list_shape():
    assert subscribe({"droneSerials": ["A", "B", "A"]}).targets == {"A", "B"}


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
    ],
)
def test_malformed_payloads_are_refused(payload):
    with pytest.raises(InvalidRequest):
        subscribe(payload)


def test_unsubscribe_takes_no_resume_options():
    with pytest.raises(InvalidRequest):
        parse({"all": True, "since": "1-0"}, allow_options=False, max_serials=10)
