"""Defect 3 of issue #20: sessions that never authenticate lived forever, dodged the connect
rate limit and, at the connection cap, the server stopped accepting instead of refusing.

Now: a transport session that has not joined the namespace within
GATEWAY_HANDSHAKE_TIMEOUT_SECONDS is closed; the connect rate limit counts transport
sessions; at GATEWAY_MAX_CONNECTIONS a new one gets a 503 in the error shape at once,
while /healthz and the clients already connected are served.
"""

from __future__ import annotations

import contextlib
import json
import struct
import time

from shared.auth import mint_token
from tests.attack.gateway import raw
from tests.attack.gateway.conftest import HEALTHY_WITHIN
from tests.conftest import TEST_SECRET
from tests.support.waiting import wait_until

DEADLINE = 2
# The deadline sweep runs at least every deadline; the rest is a loaded machine's slack.
CLOSED_WITHIN = 2 * DEADLINE + 3


def _polling_session_closed(port: int, sid: str) -> bool:
    status, _, body = raw.request(
        port, "GET", f"{raw.EIO_PATH}?EIO=4&transport=polling&sid={sid}", timeout=60
    )
    return status == 400 or body.startswith(b"1") or b"\x1e1" in body


def test_sessions_that_do_not_authenticate_are_closed_at_the_handshake_deadline(
    gateway_in_mode, bystander, mode
):
    gateway = gateway_in_mode(gateway_handshake_timeout_seconds=DEADLINE)
    healthy = bystander(gateway)
    opened = time.monotonic()
    silent = [raw.open_engineio_websocket(gateway.port) for _ in range(10)]
    refused = raw.open_engineio_websocket(gateway.port)  # a connect with a bad token
    refused.send_text("40" + json.dumps({"token": "not-a-token"}))
    assert refused.read_text().startswith("44")
    polling = [raw.polling_handshake(gateway.port)[1] for _ in range(10)]

    for ws in [*silent, refused]:
        ws.sock.settimeout(CLOSED_WITHIN)
        # Reads (pings included) up to the server's close frame; None: a timeout.
        assert ws.close_code() is not None
        assert time.monotonic() - opened < CLOSED_WITHIN
    for sid in polling:
        wait_until(
            lambda sid=sid: _polling_session_closed(gateway.port, sid),
            timeout=CLOSED_WITHIN,
            message="the polling session closed",
        )
    closed_after = time.monotonic() - opened
    print(f"{mode}: 21 unauthenticated sessions closed {closed_after:.1f} s after opening")

    assert closed_after >= DEADLINE
    # The healthy client, connected before them, is past the deadline and still served.
    healthy.is_served()
    for ws in [*silent, refused]:
        ws.close()


def test_the_connect_rate_limit_counts_transport_sessions(gateway_in_mode, bystander):
    gateway = gateway_in_mode(
        rate_limits_enabled=True, rate_limit_connects="5/minute", trusted_proxy_hops=1
    )
    healthy = bystander(gateway, headers={"X-Forwarded-For": "198.51.100.1"})
    attacker = {"X-Forwarded-For": "203.0.113.9"}

    outcomes = [raw.polling_handshake(gateway.port, headers=attacker) for _ in range(8)]
    ws = raw.RawWebSocket(gateway.port, headers=attacker)

    assert [status for status, _, _ in outcomes] == [200] * 5 + [429] * 3
    assert {raw.error_code(body) for status, _, body in outcomes if status == 429} == {
        "rate_limited"
    }
    assert ws.status == 429
    ws.close()
    healthy.is_served()


def test_at_the_connection_cap_new_connections_are_refused_at_once(
    gateway_in_mode, bystander, mode
):
    cap = 16
    gateway = gateway_in_mode(gateway_max_connections=cap, gateway_handshake_timeout_seconds=60)
    healthy = bystander(gateway)  # one session
    idle = [raw.open_engineio_websocket(gateway.port) for _ in range(cap - 1)]

    started = time.monotonic()
    ws = raw.RawWebSocket(gateway.port, timeout=HEALTHY_WITHIN)
    status, _, body = raw.polling_handshake_answer(gateway.port, timeout=HEALTHY_WITHIN)
    refused_in = time.monotonic() - started
    print(f"{mode}: at the cap, two new connections refused in {refused_in * 1000:.0f} ms")

    assert ws.status == 503
    assert (status, raw.error_code(body)) == (503, "over_capacity")
    ws.close()
    assert raw.request(gateway.port, "GET", "/healthz", timeout=HEALTHY_WITHIN)[0] == 200
    healthy.receives_events()

    # Once a slot is given back, a new client connects again.
    idle.pop().close()
    wait_until(lambda: healthy.can_connect() is None, timeout=10, message="a free slot")
    for sock in idle:
        sock.close()


def test_a_client_that_leaves_the_namespace_has_the_deadline_again(gateway_in_mode, mode):
    """A WebSocket client that joins, then leaves the namespace (DISCONNECT) and keeps its
    connection, holds a slot without a token as a new session would: it has the handshake
    timeout from its leaving to join again, then it is closed, without a DISCONNECT."""
    gateway = gateway_in_mode(gateway_handshake_timeout_seconds=DEADLINE)
    ws = raw.open_engineio_websocket(gateway.port)
    ws.send_text("40" + json.dumps({"token": mint_token(TEST_SECRET, "viewer", "leaver")}))
    assert ws.read_text().startswith("40")
    time.sleep(DEADLINE * 0.75)  # joined past most of its first deadline
    ws.send_text("41")
    left = time.monotonic()

    texts, code = [], None
    ws.sock.settimeout(CLOSED_WITHIN)
    with contextlib.suppress(ConnectionError, OSError):
        while code is None:
            opcode, payload = ws.read_frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0]
            else:
                texts.append(payload.decode())
    closed_after = time.monotonic() - left

    assert code == 1000, texts
    assert DEADLINE * 0.9 <= closed_after < CLOSED_WITHIN
    assert not [t for t in texts if t.startswith("41")]  # no DISCONNECT outside the namespace
    ws.close()


def test_a_polling_client_that_leaves_the_namespace_has_the_deadline_again(gateway_in_mode):
    gateway = gateway_in_mode(gateway_handshake_timeout_seconds=DEADLINE)
    _, sid, _ = raw.polling_handshake(gateway.port)
    target = f"{raw.EIO_PATH}?EIO=4&transport=polling&sid={sid}"
    token = mint_token(TEST_SECRET, "viewer", "leaver")
    raw.request(gateway.port, "POST", target, body=b"40" + json.dumps({"token": token}).encode())
    assert raw.request(gateway.port, "GET", target)[2].startswith(b"40")
    time.sleep(DEADLINE * 0.75)  # joined past most of its first deadline
    raw.request(gateway.port, "POST", target, body=b"41")
    left = time.monotonic()

    wait_until(
        lambda: _polling_session_closed(gateway.port, sid),
        timeout=CLOSED_WITHIN,
        message="the polling session closed",
    )

    assert time.monotonic() - left >= DEADLINE * 0.9
