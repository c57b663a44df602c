"""Defect 9: gunicorn answered oversized request lines and headers in HTML, and a 2 MB
chunked body got 400 "not valid JSON" instead of 413. Every answer is the error shape."""

from __future__ import annotations

import select
import time

import pytest

from tests.attack.api.wire import connect, exchange, read_response

CHUNK = 16 * 1024
CHUNKED_TOTAL = 2 * 1024 * 1024


def _get(extra_headers: str = "", target: str = "/healthz") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra_headers}\r\n".encode()


MALFORMED = {
    "request_line_10k": (_get(target="/healthz?" + "q" * 10_000), 414),
    "header_10k": (_get("X-Big: " + "h" * 10_000 + "\r\n"), 431),
    "headers_200": (_get("".join(f"X-H{i}: v\r\n" for i in range(200))), 431),
    "garbage_line": (b"\x16\x03\x01 hello there\r\n\r\n", 400),
    "bad_chunk_size": (
        b"POST /api/v1/system/broadcast HTTP/1.1\r\nHost: x\r\n{auth}"
        b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n",
        400,
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=MALFORMED)
def test_malformed_http_is_answered_in_the_error_shape(api_server, healthy, token, case):
    raw, status = MALFORMED[case]
    raw = raw.replace(b"{auth}", f"Authorization: Bearer {token()}\r\n".encode())

    answer = exchange(api_server.port, raw)

    healthy.assert_served()
    answer.assert_error_shape(status)


def test_a_chunked_body_past_the_limit_is_413_once_the_limit_is_read(api_server, healthy, token):
    head = (
        "POST /api/v1/system/broadcast HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token()}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    sent = 0
    with connect(api_server.port, timeout=30) as sock:
        sock.sendall(head)
        while sent < CHUNKED_TOTAL:
            sock.sendall(f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n")
            sent += CHUNK
            # Pace on the server: stop sending as soon as it has answered.
            if select.select([sock], [], [], 0.05)[0]:
                break
        started = time.monotonic()
        answer = read_response(sock, timeout=30)
        waited = time.monotonic() - started

    healthy.assert_served()
    answer.assert_error_shape(413, "payload_too_large")
    print(f"\nchunked body: answered 413 after {sent} bytes sent, {waited:.2f}s later")
    assert sent < CHUNKED_TOTAL, "the server read the whole body before answering"
