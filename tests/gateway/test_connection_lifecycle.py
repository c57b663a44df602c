"""A client's connection in the fast modes: upgrade from long-polling, pings, dead clients.

eventlet and gevent serve WebSockets through the gateway's own transport (direct writes,
one shared ping task); these tests hold it to the Engine.IO protocol the clients expect.
"""

from __future__ import annotations

import pytest
import websocket

from tests.support.events import versions
from tests.support.sio import open_session, raw_websocket
from tests.support.waiting import wait_until

FAST_MODES = ["eventlet", "gevent"]


class RawClient:
    """An Engine.IO v4 client over a plain WebSocket, answering pings only when told to."""

    def __init__(self, gateway, token: str):
        self.ws = raw_websocket(gateway.url, timeout=15)
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
