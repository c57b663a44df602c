"""Resuming with ``since`` and starting from a snapshot."""

from shared import contract
from tests.support.waiting import wait_until


def ids_of(client, serial):
    return [e["id"] for e in client.drone_events() if e["droneSerial"] == serial]


def test_resume_replays_every_event_after_since(gateway, connect, writer, serial):
    ids = [i for _ in range(10) for i in writer.write(serial)]
    client = connect(gateway)

    answer = client.call("subscribe", {"droneSerial": serial, "since": ids[3]})

    assert answer["recovered"] is True
    wait_until(lambda: ids_of(client, serial) == ids[4:], message="replayed events")


def test_resume_continues_live_without_gap_or_duplicate(gateway, connect, writer, serial):
    before = [i for _ in range(200) for i in writer.write(serial)]
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial, "since": before[0]})
    after = [i for _ in range(50) for i in writer.write(serial)]

    expected = before[1:] + after
    wait_until(lambda: len(ids_of(client, serial)) >= len(expected), message="all events")
    assert ids_of(client, serial) == expected


def test_resume_filters_to_the_subscription(gateway, connect, writer, serial):
    first = writer.write(serial)[0]
    writer.write(serial + "-other")
    mine = writer.write(serial)
    client = connect(gateway)

    client.call("subscribe", {"droneSerial": serial, "since": first})

    wait_until(lambda: ids_of(client, serial) == mine)
    assert all(e["droneSerial"] == serial for e in client.drone_events())


def test_since_from_the_future_is_not_recovered(gateway, connect, serial):
    client = connect(gateway)

    answer = client.call("subscribe", {"droneSerial": serial, "since": "99999999999999-0"})

    assert answer["ok"] is True and answer["recovered"] is False


def test_malformed_since_is_refused(gateway, connect, serial):
    client = connect(gateway)

    answer = client.call("subscribe", {"droneSerial": serial, "since": "not-an-id"})

    assert answer["ok"] is False
    assert "since" in answer["error"]


def test_since_older_than_the_history_is_not_recovered(
    start_gateway, process_settings, connect, process_writer, serial
):
    gateway = start_gateway(process_settings)
    process_writer.log.maxlen = 10  # this test's log keeps only a few events
    first = process_writer.write(serial)[0]
    for _ in range(300):
        process_writer.write(serial)
    client = connect(gateway)

    answer = client.call("subscribe", {"droneSerial": serial, "since": first})

    assert answer["recovered"] is False


def test_snapshot_answers_with_the_current_documents(gateway, connect, writer, serial):
    writer.write(serial, deviceName="one")
    writer.write(serial, deviceName="two")
    client = connect(gateway)

    answer = client.call("subscribe", {"droneSerial": serial, "snapshot": True})

    [drone] = answer["snapshot"]
    assert (drone["deviceName"], drone["version"]) == ("two", 2)


def test_subscribed_answer_comes_before_replayed_events(gateway, connect, writer, serial):
    first = writer.write(serial)[0]
    writer.write(serial)
    client = connect(gateway)

    client.call("subscribe", {"droneSerial": serial, "since": first})
    client.wait_drone_events(1)

    names = [name for name, _ in client.received if name != contract.SIO_CONNECTED]
    assert names[0] == contract.SIO_SUBSCRIBED
