"""Engine.IO v4 (github.com/socketio/engine.io-protocol, README), checked on the wire.

Each test names the part of the spec it checks. Deviations are xfail(strict=True) with the
reason, so a change that fixes one shows up as an unexpected pass.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
import websocket

from tests.conformance.conftest import PING_INTERVAL, PING_TIMEOUT
from tests.conformance.wire import (
    Polling,
    decode_open,
    eio_url,
    is_ack,
    sio_connect,
    ws_closed,
    ws_connect,
    ws_next,
    ws_open,
    ws_until,
)
from tests.support.waiting import wait_until

HEARTBEAT = PING_INTERVAL + PING_TIMEOUT
LIBRARY_400 = (
    "python-engineio answers this bad request with another status or a session; the spec "
    "says HTTP 400"
)


# --- Handshake -------------------------------------------------------------------------
def test_polling_handshake_sends_the_open_packet(gateway):
    """Handshake: an open packet with sid, upgrades, pingInterval, pingTimeout, maxPayload."""
    response = requests.get(eio_url(gateway, EIO=4, transport="polling"), timeout=5)
    assert response.status_code == 200
    handshake = decode_open(response.text)
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(handshake["sid"], str) and handshake["sid"]
    assert handshake["upgrades"] == []  # see "Upgrade" below
    assert handshake["pingInterval"] == PING_INTERVAL * 1000
    assert handshake["pingTimeout"] == PING_TIMEOUT * 1000
    assert handshake["maxPayload"] == gateway.settings.gateway_max_message_bytes


def test_websocket_handshake_sends_the_open_packet(gateway):
    """Handshake over a WebSocket-only session: the same packet, nothing to upgrade to."""
    ws, handshake = ws_open(gateway)
    ws.close()
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert handshake["upgrades"] == []
    assert handshake["pingInterval"] == PING_INTERVAL * 1000
    assert handshake["maxPayload"] == gateway.settings.gateway_max_message_bytes


def test_each_session_gets_its_own_sid(gateway):
    sids = {Polling(gateway).sid for _ in range(3)}
    assert len(sids) == 3


@pytest.mark.parametrize(
    "query",
    [
        {"transport": "polling"},
        {"EIO": "abc", "transport": "polling"},
        {"EIO": 3, "transport": "polling"},
    ],
)
def test_polling_without_a_valid_eio_is_refused_with_400(gateway, query):
    """Query parameters: EIO is mandatory (4); missing, the server MUST answer HTTP 400."""
    assert requests.get(eio_url(gateway, **query), timeout=5).status_code == 400


def test_an_unknown_transport_is_refused_with_400(gateway):
    assert requests.get(eio_url(gateway, EIO=4, transport="abc"), timeout=5).status_code == 400


@pytest.mark.xfail(strict=True, reason="python-engineio takes a missing transport for polling")
def test_a_missing_transport_is_refused_with_400(gateway):
    """Query parameters: transport is mandatory; missing, the server MUST answer HTTP 400."""
    assert requests.get(eio_url(gateway, EIO=4), timeout=5).status_code == 400


@pytest.mark.xfail(strict=True, reason="python-engineio answers 405 Method Not Found")
def test_a_bad_request_method_is_refused_with_400(gateway):
    """The official suite expects HTTP 400 for a PUT to the Engine.IO path."""
    response = requests.put(eio_url(gateway, EIO=4, transport="polling"), timeout=5)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "query", [{"transport": "websocket"}, {"EIO": "abc", "transport": "websocket"}]
)
def test_websocket_without_a_valid_eio_is_closed(gateway, query):
    """WebSocket: if a mandatory query parameter is missing, the server MUST close the
    connection: refused at the upgrade (HTTP 400) or closed without an open packet."""
    try:
        ws = websocket.create_connection(eio_url(gateway, "ws", **query), timeout=5)
    except websocket.WebSocketBadStatusException as refused:
        assert refused.status_code == 400
        return
    try:
        ws.settimeout(5)
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE, data
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        pass
    finally:
        ws.close()


def test_an_unknown_sid_is_refused_with_400(gateway):
    """Sending and receiving data: an unknown sid MUST get HTTP 400, on GET and on POST."""
    url = eio_url(gateway, EIO=4, transport="polling", sid="not-a-session")
    assert requests.get(url, timeout=5).status_code == 400
    assert requests.post(url, data=b"2", timeout=5).status_code == 400


# --- Message framing ---------------------------------------------------------------------
@pytest.mark.xfail(strict=True, reason="python-engineio answers 'OK', not 'ok'")
def test_polling_post_answers_ok(gateway):
    """Sending data: success is HTTP 200 with the string ``ok`` in the body."""
    session = Polling(gateway)
    response = session.post("3")
    assert (response.status_code, response.text) == (200, "ok")


def test_polling_post_answers_200(gateway):
    """Sending data: success is HTTP 200."""
    assert Polling(gateway).post("3").status_code == 200


def test_polling_payload_carries_several_packets_separated_by_1e(gateway, token):
    """Packet encoding (polling): one POST body holds several packets joined by \\x1e, and
    the server reads each (here: a namespace CONNECT and then an EVENT with an ack)."""
    session = Polling(gateway)
    assert (
        session.post(
            "40" + json.dumps({"token": token}), '421["subscribe",{"all":true}]'
        ).status_code
        == 200
    )
    seen = session.until(lambda packet: packet.startswith("431"))
    assert any(packet.startswith('40{"sid":') for packet in seen), seen
    assert seen.index(next(p for p in seen if p.startswith("40"))) < len(seen) - 1


def test_polling_response_joins_packets_with_1e(gateway, token):
    """Packet encoding (polling): what the server has for a client goes out in one GET,
    packets joined by \\x1e, each a whole packet."""
    session = Polling(gateway)
    assert session.post("40" + json.dumps({"token": token})).status_code == 200
    packets = session.until(lambda packet: packet.startswith('42["connected"'))
    for packet in packets:
        assert packet[0] in "0123456", packet


def test_polling_binary_payload_is_base64_with_b_prefix(gateway, token):
    """Packet encoding (polling): a binary packet travels as ``b`` + base64. A BINARY_EVENT
    whose attachment comes that way is reassembled: it is answered (ack id 7)."""
    session = Polling(gateway)
    session.post("40" + json.dumps({"token": token}))
    session.until(lambda packet: packet.startswith('42["connected"'))
    attachment = "b" + base64.b64encode(b"\x01\x02\x03").decode()
    header = '451-7["subscribe",{"_placeholder":true,"num":0}]'
    assert session.post(header, attachment).status_code == 200
    answer = session.until(lambda packet: packet.startswith("437"))[-1]
    assert json.loads(answer[3:])[0]["ok"] is False  # a bytes payload is not a subscription


def test_websocket_sends_each_packet_in_its_own_frame(gateway, token):
    """WebSocket: each packet is its own frame (no \\x1e joining)."""
    ws, _ = ws_open(gateway)
    try:
        assert sio_connect(ws, token).startswith('40{"sid":')
        greeting = ws_next(ws)
        assert greeting.startswith('42["connected",') and "\x1e" not in greeting
    finally:
        ws.close()


@pytest.mark.xfail(
    strict=True,
    reason="the gateway's transport takes no binary data: the contract has none, and a "
    "binary frame closes the connection",
)
def test_websocket_binary_frame_is_an_attachment(gateway, token):
    """WebSocket: binary data is a binary frame (no ``b`` prefix, no base64); an attachment
    sent that way completes a BINARY_EVENT, which gets its ack."""
    ws, _ = ws_open(gateway)
    try:
        sio_connect(ws, token)
        ws_next(ws)  # the greeting
        ws.send('451-9["subscribe",{"_placeholder":true,"num":0}]')
        ws.send_binary(b"\x01\x02\x03")
        assert ws_until(ws, is_ack(9))
    finally:
        ws.close()


# --- Heartbeat ---------------------------------------------------------------------------
def test_websocket_heartbeat_pings_and_keeps_a_ponging_client(gateway, token):
    """Heartbeat: the server pings every pingInterval; a client that pongs stays connected
    past pingInterval + pingTimeout."""
    ws, _ = ws_open(gateway)
    try:
        sio_connect(ws, token)
        ws.settimeout(HEARTBEAT + 2)
        pings = 0
        while pings < 3:
            frame = ws.recv()
            if frame == "2":
                pings += 1
                ws.send("3")
        ws.send('421["subscribe",{"all":true}]')  # still served after three heartbeats
        assert ws_until(ws, is_ack(1))
    finally:
        ws.close()


def test_websocket_client_that_never_pongs_is_closed(gateway, token):
    """Heartbeat: no pong within pingTimeout, the server considers the connection closed."""
    ws, _ = ws_open(gateway)
    sio_connect(ws, token)
    ws.settimeout(HEARTBEAT + 3)
    closed = False
    try:
        while True:  # read, never answer
            opcode, _ = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                closed = True
                break
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        closed = True
    except websocket.WebSocketTimeoutException:
        closed = False
    finally:
        ws.close()
    assert closed


def test_polling_heartbeat_ping_is_answered_with_a_pong_post(gateway):
    """Heartbeat over polling: a GET brings the ping, a POSTed pong is ``ok``."""
    session = Polling(gateway)
    assert session.packets(timeout=HEARTBEAT + 2) == ["2"]
    assert session.post("3").status_code == 200
    assert session.packets(timeout=HEARTBEAT + 2) == ["2"]  # the session lives on


def test_polling_session_without_pong_is_closed(gateway):
    """Heartbeat over polling: no pong, the session is gone (its sid is then unknown: 400)."""
    session = Polling(gateway)
    assert session.packets(timeout=HEARTBEAT + 2) == ["2"]
    # Do not answer; wait on the condition: the sid becomes unknown.
    wait_until(
        lambda: session.get(timeout=HEARTBEAT + 2).status_code == 400,
        timeout=3 * HEARTBEAT + 5,
        message="the unanswered session to be closed",
    )


# --- Close -------------------------------------------------------------------------------
def test_websocket_close_packet_closes_the_session(gateway):
    """Close: a ``1`` from the client ends the session; the server closes the WebSocket."""
    ws, _ = ws_open(gateway)
    ws.send("1")
    try:
        assert ws_closed(ws, timeout=5)
    finally:
        ws.close()


def test_polling_close_packet_ends_the_session(gateway):
    """Close over polling: after a POSTed ``1`` the sid is unknown (HTTP 400)."""
    session = Polling(gateway)
    assert session.post("1").status_code == 200
    wait_until(lambda: session.get(timeout=5).status_code == 400, timeout=5, message="400")


# --- Upgrade -----------------------------------------------------------------------------
# The spec lets a server offer no upgrade. Ours: WebSocket clients connect with it directly
# (to the gateway's own transport), long-polling sessions stay on long-polling.
def test_an_upgrade_of_a_polling_session_is_refused_and_the_session_goes_on(gateway, token):
    """A WebSocket for a polling session's sid is refused with 400 before any upgrade."""
    session = Polling(gateway)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ws_connect(gateway, sid=session.sid)
    assert refused.value.status_code == 400
    session.post("40" + json.dumps({"token": token}))
    assert session.until(lambda packet: packet.startswith('42["connected"'))


# --- Limits ------------------------------------------------------------------------------
def test_a_websocket_message_over_max_payload_closes_the_connection(gateway):
    """maxPayload: the server does not take a message bigger than what it announced."""
    ws, handshake = ws_open(gateway)
    try:
        ws.send("4" + "x" * (handshake["maxPayload"] + 1))
        assert ws_closed(ws, timeout=5)
    finally:
        ws.close()
