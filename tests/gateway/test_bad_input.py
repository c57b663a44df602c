"""Malformed requests get an error or are dropped; they never hurt the gateway or others."""

import json

import pytest
import requests
import websocket

from shared import contract
from tests.support.waiting import wait_until

MALFORMED = [
    None,
    42,
    "all",
    ["all"],
    {"all": "true"},
    {"droneSerial": "has space"},
    {"droneSerial": "x" * 5000},
    {"droneSerials": [f"S{i}" for i in range(1001)]},
    {"droneSerial": {"$ne": None}},
    {"all": True, "__proto__": {"admin": True}},
]


@pytest.mark.parametrize("payload", MALFORMED)
def test_malformed_subscribe_is_answered_with_an_error(gateway, connect, payload):
    client = connect(gateway)

    answer = client.call("subscribe", payload)

    assert answer["ok"] is False and answer["error"]
    assert client.of(contract.SIO_SUBSCRIBED)[-1] == answer


@pytest.mark.parametrize("payload", MALFORMED)
def test_malformed_unsubscribe_is_answered_with_an_error(gateway, connect, payload):
    client = connect(gateway)

    assert client.call("unsubscribe", payload)["ok"] is False


def test_connection_stays_usable_after_a_bad_request(gateway, connect, writer, serial):
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": 7})

    client.call("subscribe", {"droneSerial": serial})
    writer.write(serial)

    assert client.wait_drone_events(1)[0]["droneSerial"] == serial


def test_unknown_events_are_ignored(gateway, connect, writer, serial):
    client = connect(gateway)
    client.sio.emit("drop_database", {"now": True})

    client.call("subscribe", {"droneSerial": serial})
    writer.write(serial)

    assert client.wait_drone_events(1)


def raw_socket(gateway):
    url = gateway.url.replace("http", "ws") + contract.SOCKETIO_PATH + "/?EIO=4&transport=websocket"
    return websocket.create_connection(url, timeout=5)


def closed_by_server(ws) -> bool:
    try:
        return ws.recv() == ""
    except (websocket.WebSocketException, OSError):
        return True


def test_garbage_frames_do_not_disturb_other_clients(gateway, connect, writer, serial):
    bystander = connect(gateway)
    bystander.call("subscribe", {"droneSerial": serial})
    for frame in [
        "",
        "42[",
        "4X",
        "40{bad",
        '42["subscribe",' + "[" * 500,
        "9" * 10_000,
        "\x00\xff",
        '421["subscribe",{"all":true}]',
    ]:
        ws = raw_socket(gateway)
        try:
            ws.recv()  # Engine.IO open packet
            ws.send(frame)
            ws.send_binary(b"\x04\x00garbage")
        except (websocket.WebSocketException, OSError):
            pass  # the gateway may hang up on garbage: that is fine
        finally:
            ws.close()

    writer.write(serial)

    assert bystander.wait_drone_events(1)
    assert requests.get(gateway.url + "/healthz", timeout=5).status_code == 200


def test_oversized_message_closes_only_that_connection(gateway, connect, writer, serial):
    bystander = connect(gateway)
    bystander.call("subscribe", {"droneSerial": serial})
    ws = raw_socket(gateway)
    ws.recv()
    ws.send("40")
    huge = json.dumps(["subscribe", {"droneSerial": "x" * 200_000}])
    ws.send("42" + huge)

    wait_until(lambda: closed_by_server(ws), message="oversized sender disconnected")
    writer.write(serial)

    assert bystander.wait_drone_events(1)


def test_ten_thousand_serials_are_dropped_with_the_connection(gateway, connect, writer, serial):
    bystander = connect(gateway)
    bystander.call("subscribe", {"droneSerial": serial})
    greedy = connect(gateway)

    greedy.sio.emit("subscribe", {"droneSerials": [f"S{i}" for i in range(10_000)]})

    wait_until(lambda: not greedy.sio.connected, message="oversized request dropped")
    writer.write(serial)
    assert bystander.wait_drone_events(1)


def connected_clients(gateway) -> float:
    return gateway.metric("gateway_connected_clients")


def test_disconnected_clients_are_forgotten(gateway, connect):
    baseline = connected_clients(gateway)
    clients = [connect(gateway) for _ in range(5)]
    for client in clients:
        client.call("subscribe", {"all": True})
    wait_until(lambda: connected_clients(gateway) == baseline + 5)

    for client in clients:
        client.close()

    wait_until(lambda: connected_clients(gateway) == baseline, message="clients forgotten")
