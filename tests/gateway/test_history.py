"""``history``: a page of the event log on request, e.g. to fill what a client ``missed``."""

import pytest

from shared import contract
from tests.support.waiting import wait_until


def ids_of(client, serial):
    return [e["id"] for e in client.drone_events() if e["droneSerial"] == serial]


def delivered_live(client, writer, serial, count: int) -> list[str]:
    """Write ``count`` events and wait until they reached ``client`` live: the gateway's
    live position is then past them. Returns their ids."""
    ids = [i for _ in range(count) for i in writer.write(serial)]
    wait_until(lambda: ids_of(client, serial)[-count:] == ids, message="live events")
    return ids


def test_history_sends_a_page_of_events_and_where_the_next_starts(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})
    ids = delivered_live(client, writer, serial, 10)

    answer = client.call(contract.SIO_HISTORY, {"after": ids[1], "until": ids[8], "limit": 3})

    assert answer == {"ok": True, "recovered": True, "next": ids[4]}
    assert ids_of(client, serial) == ids + ids[2:5]  # sent before the answer


def test_history_pages_through_a_range_once_in_order(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})
    ids = delivered_live(client, writer, serial, 25)

    after, pages = ids[0], 0
    while after is not None:
        answer = client.call(contract.SIO_HISTORY, {"after": after, "until": ids[-1], "limit": 4})
        after, pages = answer["next"], pages + 1

    assert ids_of(client, serial) == ids + ids[1:]
    assert pages == 6  # 24 events, 4 a page: the last page ends the range


def test_history_ends_at_the_live_position(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})
    ids = delivered_live(client, writer, serial, 3)

    answer = client.call(contract.SIO_HISTORY, {"after": ids[0]})

    assert answer["next"] is None
    assert ids_of(client, serial) == ids + ids[1:]


def test_history_sends_only_events_of_the_clients_subscriptions(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})
    first = delivered_live(client, writer, serial, 1)[0]
    writer.write(serial + "-other")
    mine = delivered_live(client, writer, serial, 1)

    answer = client.call(contract.SIO_HISTORY, {"after": first, "until": mine[0]})

    assert answer["ok"] is True
    assert [e["droneSerial"] for e in client.drone_events()] == [serial] * 3


def test_history_older_than_the_retention_is_not_recovered(
    start_gateway, process_settings, connect, process_writer, serial
):
    gateway = start_gateway(process_settings.replace(gateway_replay_cache_bytes=0))
    process_writer.log.maxlen = 10  # this test's log keeps only a few events
    first = process_writer.write(serial)[0]
    for _ in range(300):
        process_writer.write(serial)
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})

    answer = client.call(contract.SIO_HISTORY, {"after": first})

    assert answer == {"ok": True, "recovered": False, "next": None}
    assert client.drone_events() == []


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "1764252000123-0",
        {},
        {"after": "yesterday"},
        {"after": 5},
        {"after": "1-0", "until": "tomorrow"},
        {"after": "1-0", "limit": 0},
        {"after": "1-0", "limit": 100_000},
        {"after": "1-0", "limit": True},
        {"after": "1-0", "extra": 1},
    ],
)
def test_malformed_history_request_is_refused(gateway, connect, payload):
    client = connect(gateway)

    answer = client.call(contract.SIO_HISTORY, payload)

    assert answer["ok"] is False and answer["error"]
