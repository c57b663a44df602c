"""Defect 1 of issue #20: a refused long-polling POST pinned its connection forever.

python-engineio answered a POST it refused (a packet type it does not take, such as ``9``,
or a body over the limit) by disconnecting the session and waiting for a poll to take the
close packet; no poll came, the answer never did, and the server's socket stayed in
CLOSE_WAIT. With a connection cap of 50, 50 such requests froze the gateway.
"""

from __future__ import annotations

import time

import pytest

from tests.attack.gateway import raw
from tests.attack.gateway.conftest import HEALTHY_WITHIN

CAP = 20


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [(b"9", 400, "bad_request"), (b"4" + b"x" * (20 * 1024), 413, "payload_too_large")],
    ids=["unknown-packet", "over-16KiB"],
)
def test_a_refused_polling_post_is_answered_and_frees_its_connection(
    gateway_in_mode, bystander, body, status, code
):
    gateway = gateway_in_mode(gateway_max_connections=CAP)
    healthy = bystander(gateway)
    slowest = 0.0

    for _ in range(2 * CAP):  # more than the cap: each must give its slot back
        handshake, sid, _ = raw.polling_handshake(gateway.port)
        assert handshake == 200
        with raw.connect(gateway.port, timeout=HEALTHY_WITHIN) as sock:
            started = time.monotonic()
            raw.send_head(
                sock,
                "POST",
                f"{raw.EIO_PATH}?EIO=4&transport=polling&sid={sid}",
                {"Content-Length": str(len(body)), "Content-Type": "text/plain"},
            )
            sock.sendall(body)
            answer, headers, answer_body = raw.read_response(sock)
            slowest = max(slowest, time.monotonic() - started)
            assert (answer, raw.error_code(answer_body)) == (status, code)
            assert headers.get("connection") == "close"
            # The server closes its side: nothing is left in CLOSE_WAIT.
            assert sock.recv(1) == b""
        # The session is gone with it.
        assert (
            raw.request(gateway.port, "GET", f"{raw.EIO_PATH}?EIO=4&transport=polling&sid={sid}")[0]
            == 400
        )

    print(f"slowest answer to a refused POST: {slowest * 1000:.0f} ms")
    healthy.is_served()
    assert raw.request(gateway.port, "GET", "/healthz", timeout=HEALTHY_WITHIN)[0] == 200
