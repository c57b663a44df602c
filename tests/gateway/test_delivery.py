"""Events reach exactly the subscribed clients, once each, in version order per drone."""

import pytest

from shared import contract
from tests.support.events import versions
from tests.support.waiting import wait_until


def test_connected_carries_the_client_id(gateway, connect):
    client = connect(gateway)

    [greeting] = client.of(contract.SIO_CONNECTED)

    assert greeting["clientId"] == client.sio.get_sid()


def test_subscribe_all_receives_every_drone(gateway, connect, writer, serial):
    client = connect(gateway)
    assert client.call("subscribe", {"all": True})["ok"] is True

    writer.write(serial)
    writer.write(serial + "x")

    events = client.wait_drone_events(2)
    assert {e["droneSerial"] for e in events} == {serial, serial + "x"}


def test_subscribe_one_serial_receives_only_that_drone(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})

    writer.write(serial + "-other")
    writer.write(serial)

    [event] = client.wait_drone_events(1)
    assert event["droneSerial"] == serial


def test_subscribe_serial_list_receives_those_drones(gateway, connect, writer, serial):
    client = connect(gateway)
    answer = client.call("subscribe", {"droneSerials": [serial + "a", serial + "b"]})
    assert answer["subscriptions"] == [serial + "a", serial + "b"]

    for suffix in ("a", "c", "b"):
        writer.write(serial + suffix)

    events = client.wait_drone_events(2)
    assert sorted(e["droneSerial"] for e in events) == [serial + "a", serial + "b"]


def test_subscribed_event_is_emitted_besides_the_ack(gateway, connect, serial):
    client = connect(gateway)
    client.sio.emit("subscribe", {"droneSerial": serial})  # no ack asked

    [answer] = client.wait_for(contract.SIO_SUBSCRIBED)

    assert answer == {
        "ok": True,
        "position": answer["position"],
        "epoch": answer["epoch"],
        "subscriptions": [serial],
    }


def test_client_in_all_and_drone_room_gets_each_event_once(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"all": True})
    client.call("subscribe", {"droneSerial": serial})

    ids = writer.write(serial) + writer.write(serial)
    client.wait_drone_events(2)
    marker = writer.write(serial + "-marker")
    wait_until(lambda: marker[0] in [e["id"] for e in client.drone_events()])

    received = [e["id"] for e in client.drone_events() if e["droneSerial"] == serial]
    assert received == ids


def test_events_of_a_drone_arrive_in_version_order(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})

    for _ in range(50):
        writer.write(serial)

    assert versions(client.wait_drone_events(50), serial) == list(range(1, 51))


def test_envelope_has_the_contract_fields(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})

    [event_id] = writer.write(serial)

    [event] = client.wait_drone_events(1)
    assert event["id"] == event_id
    assert list(event)[:6] == ["id", "event", "droneSerial", "version", "timestamp", "data"]


def test_unsubscribe_stops_delivery(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})
    answer = client.call("unsubscribe", {"droneSerial": serial})
    assert answer == {"ok": True, "subscriptions": []}

    writer.write(serial)
    marker_client = connect(gateway)
    marker_client.call("subscribe", {"droneSerial": serial})
    writer.write(serial)
    marker_client.wait_drone_events(1)

    assert client.drone_events() == []


def test_system_broadcast_reaches_every_subscribed_client(gateway, connect, writer, serial):
    subscribed = connect(gateway)
    subscribed.call("subscribe", {"droneSerial": serial})
    other = connect(gateway)
    other.call("subscribe", {"droneSerial": serial + "-other"})
    idle = connect(gateway)  # never subscribes: it is sent nothing (docs/clients.md)

    writer.broadcast("maintenance at noon")
    writer.write(serial + "-other")  # after the broadcast: once it is there, so is that

    for client in (subscribed, other):
        [event] = client.wait_for(contract.SIO_SYSTEM_BROADCAST)
        assert event["event"] == "system.broadcast"
        assert event["data"] == {"message": "maintenance at noon", "level": "info"}
    other.wait_drone_events(1)
    assert idle.of(contract.SIO_SYSTEM_BROADCAST) == [] and idle.drone_events() == []


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_every_async_mode_delivers(
    mode, start_gateway, process_settings, process_writer, connect, serial
):
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = connect(gateway)
    client.call("subscribe", {"all": True})

    for _ in range(20):
        process_writer.write(serial)

    assert versions(client.wait_drone_events(20), serial) == list(range(1, 21))
