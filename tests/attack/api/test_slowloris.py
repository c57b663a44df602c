"""Defect 4: slow clients froze the API (16 half request lines took every gthread worker).

Bounds: a request's line and headers must arrive within API_HEADER_TIMEOUT_SECONDS of the
connection (or of the previous request), its body within API_BODY_TIMEOUT_SECONDS; a slow
socket costs a greenlet, not a worker, so others are served meanwhile.
"""

from __future__ import annotations

import contextlib
import select
import time

from tests.attack.api.conftest import BODY_TIMEOUT, HEADER_TIMEOUT
from tests.attack.api.wire import closed_by_peer, connect, read_response
from tests.support.waiting import wait_until

SLOW_CONNECTIONS = 64  # four times the 16 threads that froze the gthread worker
SLACK = 5.0  # scheduling on two busy cores; the bound is the deadline, not this


def _wait_all_closed(socks, opened_at, pace=None, limit=HEADER_TIMEOUT + SLACK):
    """Seconds after ``opened_at`` at which the server closed each socket; ``pace`` is
    called on the open ones between waits (a trickle)."""
    closed_after: dict[int, float] = {}
    deadline = opened_at + limit + 10
    while len(closed_after) < len(socks) and time.monotonic() < deadline:
        open_socks = [s for s in socks if s.fileno() not in closed_after]
        select.select(open_socks, [], [], 0.5)  # wake on a close, or pace every 0.5 s
        for sock in open_socks:
            if closed_by_peer(sock):
                closed_after[sock.fileno()] = time.monotonic() - opened_at
            elif pace:
                pace(sock)
    return closed_after


def test_half_request_lines_are_dropped_at_the_header_deadline(api_server, healthy):
    socks = [connect(api_server.port) for _ in range(SLOW_CONNECTIONS)]
    opened_at = time.monotonic()
    for sock in socks:
        sock.sendall(b"GET /healthz HT")
    try:
        wait_until(lambda: healthy.served(5), timeout=30, message="probes during the attack")
        closed_after = _wait_all_closed(socks, opened_at)
    finally:
        for sock in socks:
            sock.close()

    healthy.assert_served()
    assert len(closed_after) == SLOW_CONNECTIONS, "slow sockets the server kept open"
    assert max(closed_after.values()) <= HEADER_TIMEOUT + SLACK


def test_headers_trickled_a_byte_at_a_time_are_dropped_at_the_header_deadline(api_server, healthy):
    socks = [connect(api_server.port) for _ in range(16)]
    opened_at = time.monotonic()
    for sock in socks:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")

    def trickle(sock):
        with contextlib.suppress(OSError):
            sock.sendall(b"a")  # activity never extends the deadline

    try:
        closed_after = _wait_all_closed(socks, opened_at, pace=trickle)
    finally:
        for sock in socks:
            sock.close()

    healthy.assert_served()
    assert len(closed_after) == len(socks)
    assert max(closed_after.values()) <= HEADER_TIMEOUT + SLACK


def test_a_stalled_body_gets_408_at_the_body_deadline(api_server, healthy, token):
    head = (
        "POST /api/v1/drones/register HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token()}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    socks = [connect(api_server.port, timeout=BODY_TIMEOUT + SLACK + 10) for _ in range(32)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(head + b'{"deviceSerialNumber": ')
    try:
        answers = [read_response(sock, timeout=BODY_TIMEOUT + SLACK + 10) for sock in socks]
        waited = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()

    healthy.assert_served()
    for answer in answers:
        answer.assert_error_shape(408, "request_timeout")
    assert waited <= BODY_TIMEOUT + SLACK
