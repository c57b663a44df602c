"""A client's connection in the fast modes: upgrade from long-polling, pings, dead clients,
clients that read too slowly.

eventlet and gevent serve WebSockets through the gateway's own transport (direct writes,
one shared ping task); these tests hold it to the Engine.IO protocol the clients expect.
"""

from __future__ import annotations

import json
import socket

import pytest
import websocket

from tests.support.events import versions
from tests.support.sio import open_session, raw_websocket
from tests.support.waiting import wait_until

FAST_MODES = ["eventlet", "gevent"]


class RawClient:
    """An Engine.IO v4 client over a plain WebSocket, answering pings only when told to."""

    def __init__(self, gateway, token: str, receive_buffer: int | None = None):
        options = {}
        if receive_buffer is not None:  # a small one keeps what it does not read at the server
            options["sockopt"] = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
        self.ws = raw_websocket(gateway.url, timeout=15, **options)
        open_session(self.ws, token)

    def next_packet(self) -> str:
        """The next Engine.IO packet; '' once the server closed the connection."""
        try:
            return self.ws.recv()
        except websocket.WebSocketConnectionClosedException:
            return ""

    def next_ping(self) -> str:
        while (packet := self.next_packet()) not in ("2", ""):
            pass
        return packet

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def fast_pings(process_settings):
    """Pings every second, a client silent for 2 s after one is gone."""
    return process_settings.replace(gateway_ping_interval=1, gateway_ping_timeout=2)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_upgrading_from_long_polling_gets_every_event_once_in_order(
    mode, start_gateway, process_settings, process_writer, connect, serial
):
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = connect(gateway, transports=("polling", "websocket"))
    client.call("subscribe", {"all": True})
    for _ in range(10):  # while the client upgrades
        process_writer.write(serial)
    wait_until(lambda: client.sio.transport() == "websocket", timeout=10, message="upgrade")
    for _ in range(10):
        process_writer.write(serial)

    assert versions(client.wait_drone_events(20), serial) == list(range(1, 21))


@pytest.mark.parametrize("mode", FAST_MODES)
def test_idle_client_is_pinged_every_interval_while_it_answers(
    mode, start_gateway, fast_pings, tokens
):
    gateway = start_gateway(fast_pings.replace(gateway_async_mode=mode))
    client = RawClient(gateway, tokens["viewer"])
    try:
        for _ in range(4):
            assert client.next_ping() == "2"
            client.ws.send("3")
        client.ws.send('42["subscribe",{"all":true}]')
        assert client.next_packet() != ""  # still served after four ping rounds
    finally:
        client.close()


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_stops_answering_pings_is_disconnected(mode, start_gateway, fast_pings, tokens):
    gateway = start_gateway(fast_pings.replace(gateway_async_mode=mode))
    client = RawClient(gateway, tokens["viewer"])
    try:
        wait_until(lambda: gateway.metric("gateway_connected_clients") == 1, timeout=10)
        assert client.next_ping() == "2"  # and no pong
        while client.next_packet() != "":  # until the server closes the connection
            pass
        wait_until(lambda: gateway.metric("gateway_connected_clients") == 0, timeout=10)
    finally:
        client.close()


# --- clients that read slower than events come --------------------------------------------
PADDING = "x" * 8000  # events of about 8 KB
# More than the kernel may buffer for one connection (its send buffer grows to 4 MiB on
# Linux) plus the gateway's bound of 64 KiB: the rest has to wait in the gateway.
FLOOD = 700  # events: 5.6 MB


@pytest.fixture
def small_backlog(process_settings):
    """Clients are dropped past 64 KiB unsent; replays page 10 events at a time."""
    return process_settings.replace(
        gateway_max_client_backlog_bytes=64 * 1024, gateway_replay_batch=10
    )


def _subscribe(client: RawClient, payload: dict) -> None:
    client.ws.send("420" + json.dumps(["subscribe", payload]))
    while not (packet := client.next_packet()).startswith("430"):
        assert packet, "closed before the subscribe reply"


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_stops_reading_is_dropped_once_its_backlog_passes_the_bound(
    mode, start_gateway, small_backlog, process_writer, connect, tokens, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    bystander = connect(gateway)
    bystander.call("subscribe", {"all": True})
    stalled = RawClient(gateway, tokens["viewer"], receive_buffer=4096)
    try:
        _subscribe(stalled, {"all": True})  # and from here on, it reads nothing
        for _ in range(FLOOD):
            process_writer.write(serial, padding=PADDING)

        wait_until(lambda: gateway.metric("gateway_slow_clients_dropped_total") == 1)
        assert versions(bystander.wait_drone_events(FLOOD), serial) == list(range(1, FLOOD + 1))
        wait_until(lambda: gateway.metric("gateway_connected_clients") == 1)
        while stalled.next_packet() != "":  # what the kernel held, then the end
            pass
    finally:
        stalled.close()


@pytest.mark.parametrize("mode", FAST_MODES)
def test_fixed_kernel_send_buffer_leaves_a_slow_clients_backlog_to_the_bound(
    mode, start_gateway, small_backlog, process_writer, tokens, serial
):
    settings = small_backlog.replace(
        gateway_async_mode=mode, gateway_socket_send_buffer_bytes=16 * 1024
    )
    gateway = start_gateway(settings)
    stalled = RawClient(gateway, tokens["viewer"], receive_buffer=4096)
    try:
        _subscribe(stalled, {"all": True})
        for _ in range(60):  # 480 KB: a kernel left to size its buffer would take it all
            process_writer.write(serial, padding=PADDING)

        wait_until(lambda: gateway.metric("gateway_slow_clients_dropped_total") == 1)
    finally:
        stalled.close()


@pytest.mark.parametrize("mode", FAST_MODES)
def test_replay_longer_than_the_backlog_bound_is_paced_to_the_client(
    mode, start_gateway, small_backlog, process_writer, tokens, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    ids = [i for _ in range(FLOOD) for i in process_writer.write(serial, padding=PADDING)]
    client = RawClient(gateway, tokens["viewer"], receive_buffer=4096)
    try:
        _subscribe(client, {"droneSerial": serial, "since": ids[0]})
        received = []
        while len(received) < FLOOD - 1 and (packet := client.next_packet()):
            if packet.startswith('42["drone:event"'):
                received.append(json.loads(packet[2:])[1]["version"])

        assert received == list(range(2, FLOOD + 1))
        assert gateway.metric("gateway_slow_clients_dropped_total") == 0
    finally:
        client.close()
