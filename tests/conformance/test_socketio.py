"""Socket.IO v5 (github.com/socketio/socket.io-protocol, README), checked on the wire.

Deviations are xfail(strict=True) with the reason, so a fix shows up as an unexpected pass.
"""

from __future__ import annotations

import json

import pytest

from tests.conformance.conftest import (
    HANDSHAKE_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
)
from tests.conformance.wire import (
    is_ack,
    sio_connect,
    ws_closed,
    ws_next,
    ws_open,
    ws_until,
)

SUBSCRIBE_ALL = '["subscribe",{"all":true}]'


@pytest.fixture
def ws(gateway):
    """A WebSocket-only Engine.IO session, open packet read, no namespace joined yet."""
    ws, _ = ws_open(gateway)
    yield ws
    ws.close()


@pytest.fixture
def joined(ws, token):
    """A session joined to the main namespace, the gateway's greeting read."""
    assert sio_connect(ws, token).startswith('40{"sid":')
    assert ws_next(ws).startswith('42["connected",')
    return ws


# --- Connection to a namespace -----------------------------------------------------------
def test_connect_to_the_main_namespace_answers_connect_with_a_sid(ws, token):
    """CONNECT to "/" with a payload: the server answers CONNECT with the session's sid."""
    answer = sio_connect(ws, token)
    assert answer.startswith("40{")
    payload = json.loads(answer[2:])
    assert set(payload) == {"sid"} and isinstance(payload["sid"], str) and payload["sid"]


def test_connect_without_credentials_answers_connect_error_with_a_message(ws):
    """Refused: a CONNECT_ERROR whose payload is an object with ``message``."""
    ws.send("40")
    answer = ws_next(ws)
    assert answer.startswith("44{"), answer
    payload = json.loads(answer[2:])
    assert isinstance(payload["message"], str) and payload["message"]


def test_connect_with_a_bad_token_answers_connect_error(ws):
    ws.send("40" + json.dumps({"token": "not-a-jwt"}))
    answer = ws_next(ws)
    assert answer.startswith("44{")
    assert "unauthorized" in json.loads(answer[2:])["message"]


def test_connect_to_an_unknown_namespace_answers_connect_error_object(ws, token):
    """CONNECT_ERROR's payload is an object with ``message`` (the official suite expects
    ``{"message":"Invalid namespace"}``)."""
    ws.send("40/admin," + json.dumps({"token": token}))
    answer = ws_next(ws)
    assert answer.startswith("44/admin,")
    assert isinstance(json.loads(answer[len("44/admin,") :]), dict)


def test_connect_to_an_unknown_namespace_is_refused(ws, token):
    """The gateway serves "/" only: another namespace gets a CONNECT_ERROR for it."""
    ws.send("40/admin," + json.dumps({"token": token}))
    assert ws_next(ws).startswith("44/admin,")


def test_a_packet_before_connect_closes_the_connection(ws):
    """If the server does not receive a CONNECT packet first, it MUST close the connection."""
    ws.send("42" + SUBSCRIBE_ALL)
    assert ws_closed(ws, timeout=3)


def test_a_session_that_never_connects_is_closed(ws):
    """If the server does not receive a CONNECT, it MUST close the connection (the
    reference server waits ``connectTimeout``; the gateway GATEWAY_HANDSHAKE_TIMEOUT_SECONDS)."""
    assert ws_closed(ws, timeout=HANDSHAKE_TIMEOUT + PING_INTERVAL + PING_TIMEOUT + 5)


# --- Events and acknowledgements ---------------------------------------------------------
def test_an_event_with_an_id_gets_an_ack_with_the_same_id(joined):
    """Acknowledgement: the receiver MUST answer with an ACK of the same id whose payload
    is an array."""
    joined.send("4212" + SUBSCRIBE_ALL)
    answer = ws_until(joined, is_ack(12))
    payload = json.loads(answer[len("4312") :])
    assert isinstance(payload, list)
    assert payload[0]["ok"] is True and payload[0]["subscriptions"] == ["all"]


def test_acks_keep_their_ids_when_several_are_in_flight(joined):
    for ack_id in (3, 1, 2):
        joined.send(f"42{ack_id}" + SUBSCRIBE_ALL)
    answers = [ws_until(joined, lambda f: f.startswith("43")) for _ in range(3)]
    assert [answer[2] for answer in answers] == ["3", "1", "2"]


def test_an_event_without_an_id_gets_no_ack(joined):
    """No id, no ACK: the gateway answers with its contract's event only."""
    joined.send("42" + SUBSCRIBE_ALL)
    assert ws_next(joined).startswith('42["subscribed",')
    joined.send("427" + SUBSCRIBE_ALL)  # the next frame is this one's, not an earlier ACK
    frames = [ws_next(joined), ws_next(joined)]
    assert [f[:3] for f in frames] == ["42[", "437"]


def test_server_events_are_arrays_with_the_name_first(joined):
    """Sending data: the payload is a non-empty array whose first element is the name."""
    joined.send("42" + SUBSCRIBE_ALL)
    frame = ws_next(joined)
    assert frame.startswith("42")
    payload = json.loads(frame[2:])
    assert isinstance(payload, list) and payload and isinstance(payload[0], str)


@pytest.mark.xfail(
    strict=True,
    reason="the gateway's transport takes no binary data: the contract has none, and a "
    "binary attachment closes the connection",
)
def test_binary_event_with_ack_is_reassembled_and_acked(joined):
    """BINARY_EVENT: ``5<n>-`` header with placeholders, then n binary frames; its ACK has
    the same id."""
    joined.send('451-4["subscribe",{"_placeholder":true,"num":0}]')
    joined.send_binary(b"\x01\x02\x03\x04")
    answer = ws_until(joined, is_ack(4))
    assert json.loads(answer[3:])[0]["ok"] is False  # bytes are not a subscription


# --- Disconnection -----------------------------------------------------------------------
def test_disconnect_packet_leaves_the_namespace(joined, gateway):
    """DISCONNECT: the server expects nothing more and answers no further event there."""
    joined.send("41")
    # The gateway's only namespace is left: the connection is closed, or events to "/"
    # are no longer answered.
    joined.send("429" + SUBSCRIBE_ALL)
    joined.settimeout(3)
    try:
        frames = []
        while True:
            frame = ws_next(joined)
            frames.append(frame)
            assert not is_ack(9)(frame), frames
    except Exception as exc:  # noqa: BLE001 - a timeout or a close both mean: no answer
        assert not isinstance(exc, AssertionError), exc


# --- Bad packets -------------------------------------------------------------------------
def test_an_unknown_engineio_packet_type_closes_the_connection(joined):
    """Engine.IO packet types are 0-6: an ``8`` is not a packet, the session is closed."""
    joined.send("8")
    assert ws_closed(joined, timeout=3)


BAD_PACKETS = {
    "unknown packet type": "48",
    "payload not an array": '42{"abc":1}',
    "invalid ack id": '42abc["subscribe",{"all":true}]',
    "empty event array": "42[]",
    "not JSON": "42[oops",
}


@pytest.mark.parametrize("frame", BAD_PACKETS.values(), ids=BAD_PACKETS.keys())
def test_a_malformed_packet_closes_the_connection(joined, frame):
    """The receiver MUST close the connection on a packet it cannot decode."""
    joined.send(frame)
    assert ws_closed(joined, timeout=3)
