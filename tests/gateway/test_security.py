"""Who may connect and what they may subscribe to."""

import time

import jwt
import pytest
import socketio
import websocket

from shared import contract
from shared.auth import mint_token
from tests.conftest import TEST_SECRET
from tests.support.sio import RecordingClient
from tests.support.waiting import wait_until


def refused(gateway, token, headers=None) -> bool:
    client = RecordingClient(gateway.url, token, headers=headers)
    try:
        client.connect(wait=5)
    except socketio.exceptions.ConnectionError:
        return True
    client.close()
    return False


def test_connection_without_token_is_refused(gateway):
    assert refused(gateway, None)


def test_expired_token_is_refused(gateway):
    assert refused(gateway, mint_token(TEST_SECRET, "viewer", "x", ttl_seconds=-10))


def test_token_signed_with_another_secret_is_refused(gateway):
    assert refused(gateway, mint_token("another-secret-" + "z" * 40, "viewer", "x"))


def test_unsigned_alg_none_token_is_refused(gateway):
    token = jwt.encode(
        {"sub": "x", "role": "admin", "exp": time.time() + 60}, None, algorithm="none"
    )
    assert refused(gateway, token)


def test_token_with_unknown_role_is_refused(gateway):
    token = jwt.encode({"sub": "x", "role": "root", "exp": time.time() + 60}, TEST_SECRET)
    assert refused(gateway, token)


def websocket_handshake(gateway, origin: str):
    """What a browser-style WebSocket from ``origin`` gets: "session" (the Engine.IO open
    packet), or the HTTP status of the gate's refusal, answered before any upgrade."""
    url = gateway.url.replace("http", "ws") + contract.SOCKETIO_PATH + "/?EIO=4&transport=websocket"
    try:
        ws = websocket.create_connection(url, origin=origin, timeout=5)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    try:
        opcode, data = ws.recv_data(control_frame=True)
    finally:
        ws.close()
    return "session" if opcode == websocket.ABNF.OPCODE_TEXT and data.startswith(b"0{") else data


def test_websocket_from_another_origin_is_refused(gateway):
    assert websocket_handshake(gateway, "http://evil.example") == 403


def test_websocket_from_an_allowed_origin_is_accepted(gateway):
    assert websocket_handshake(gateway, "http://localhost:5001") == "session"


def test_websocket_from_the_gateways_own_origin_is_accepted(gateway):
    assert websocket_handshake(gateway, gateway.url) == "session"


def test_subscription_outside_the_tokens_drones_is_refused(gateway, connect, serial):
    client = connect(gateway, token=mint_token(TEST_SECRET, "detector", "d", drones=[serial]))

    answer = client.call("subscribe", {"droneSerials": [serial, serial + "-other"]})

    assert answer["ok"] is False and "forbidden" in answer["error"]
    assert client.call("subscribe", {"droneSerial": serial})["ok"] is True


def test_subscription_to_all_needs_a_token_for_all_drones(gateway, connect, serial):
    client = connect(gateway, token=mint_token(TEST_SECRET, "detector", "d", drones=[serial]))

    answer = client.call("subscribe", {"all": True})

    assert answer["ok"] is False and "forbidden" in answer["error"]


def test_client_is_disconnected_when_its_token_expires(gateway, connect):
    client = connect(gateway, token=mint_token(TEST_SECRET, "viewer", "v", ttl_seconds=2))

    wait_until(lambda: not client.sio.connected, timeout=10, message="disconnect at expiry")


def test_refreshed_token_keeps_the_client_connected(gateway, connect):
    client = connect(gateway, token=mint_token(TEST_SECRET, "viewer", "v", ttl_seconds=2))
    expires = time.time() + 2

    answer = client.call("refresh", {"token": mint_token(TEST_SECRET, "viewer", "v")})
    assert answer["ok"] is True
    wait_until(lambda: time.time() > expires + 2, timeout=10, message="old expiry passed")

    assert client.sio.connected


def test_refresh_with_another_subjects_token_is_refused(gateway, connect):
    client = connect(gateway, token=mint_token(TEST_SECRET, "viewer", "v"))

    answer = client.call("refresh", {"token": mint_token(TEST_SECRET, "admin", "someone-else")})

    assert answer["ok"] is False


@pytest.mark.parametrize("payload", [None, {}, {"token": "garbage"}, "token"])
def test_refresh_with_a_bad_payload_is_refused(gateway, connect, payload):
    client = connect(gateway)

    assert client.call("refresh", payload)["ok"] is False
    assert client.sio.connected


def test_connection_attempts_over_the_rate_limit_are_refused(
    start_gateway, process_settings, tokens
):
    gateway = start_gateway(
        process_settings.replace(rate_limits_enabled=True, rate_limit_connects="3/minute")
    )

    outcomes = [refused(gateway, tokens["viewer"]) for _ in range(5)]

    assert outcomes == [False, False, False, True, True]


@pytest.mark.parametrize(("hops", "expected"), [(1, [False] * 5), (0, [False] * 3 + [True] * 2)])
def test_connection_rate_limit_counts_forwarded_clients_only_behind_trusted_proxies(
    start_gateway, process_settings, tokens, hops, expected
):
    gateway = start_gateway(
        process_settings.replace(
            rate_limits_enabled=True, rate_limit_connects="3/minute", trusted_proxy_hops=hops
        )
    )

    outcomes = [
        refused(gateway, tokens["viewer"], headers={"X-Forwarded-For": f"203.0.113.{i}"})
        for i in range(5)
    ]

    assert outcomes == expected
