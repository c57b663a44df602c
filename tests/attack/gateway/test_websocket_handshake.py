"""A WebSocket request that is not a valid opening handshake (RFC 6455 4.2.1) is refused by
the gate with 400 in the error shape, before any upgrade, in every async mode."""

from __future__ import annotations

import pytest

from tests.attack.gateway import raw

VALID = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}
TARGET = raw.EIO_PATH + "?EIO=4&transport=websocket"


@pytest.mark.parametrize(
    "change",
    [
        {"Sec-WebSocket-Version": "8"},
        {"Sec-WebSocket-Key": "c2hvcnQ="},  # 5 bytes, not 16
        {"Sec-WebSocket-Key": "not base64 at all!"},
        {"Connection": "keep-alive"},
        {"Upgrade": None},  # transport=websocket asked for as a plain GET
        {"Upgrade": "h2c"},
    ],
    ids=["version", "short-key", "bad-key", "no-connection-upgrade", "no-upgrade", "not-websocket"],
)
def test_a_bad_handshake_is_refused_before_the_upgrade(gateway_in_mode, change):
    gateway = gateway_in_mode()
    headers = {k: v for k, v in (VALID | change).items() if v is not None}
    status, headers, body = raw.request(gateway.port, "GET", TARGET, headers=headers)
    assert status == 400
    assert raw.error_code(body) == "bad_request"
    assert b"not a WebSocket handshake" in body


def test_a_valid_handshake_is_upgraded(gateway_in_mode):
    gateway = gateway_in_mode()
    ws = raw.RawWebSocket(gateway.port)
    assert ws.status == 101
    assert ws.read_text().startswith("0{")
