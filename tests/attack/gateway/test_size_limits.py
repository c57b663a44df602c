"""Defect 2 of issue #20: the 16 KiB message limit was applied once the whole message was
in memory. One 64 MiB frame added ~188 MiB to a gevent gateway; 100 MiB in 8 KB
continuation frames ~273 MiB to an eventlet one. Now a frame's header, or the
continuation that takes a message past the limit, is refused before its payload is read
(close 1009), and a long-polling body from its Content-Length (413).
"""

from __future__ import annotations

from tests.attack.gateway import raw
from tests.attack.gateway.conftest import HEALTHY_WITHIN

LIMIT = 16 * 1024
# The most an attack here sends if the gateway never refuses it.
ATTACK_CAP = 8 * 1024 * 1024
CHUNK = 64 * 1024


def _stream_until_refused(ws: raw.RawWebSocket, send_next, first_bytes: int) -> int:
    """Wait for the refusal after ``first_bytes`` were sent, then keep sending (up to the
    cap) while none comes; returns the bytes sent before the server's answer."""
    sent = first_bytes
    if ws.readable(HEALTHY_WITHIN):
        return sent
    while sent < ATTACK_CAP:
        try:
            sent += send_next()
        except OSError:
            return sent
        if ws.readable(0):
            return sent
    return sent


def _one_huge_frame(port: int) -> tuple[int, int | None]:
    """A text frame announcing 64 MiB: bytes sent before the answer, and the close code."""
    ws = raw.open_engineio_websocket(port)
    try:
        ws.send_frame(b"4" + b"x" * 1023, length=64 * 1024 * 1024)

        def more() -> int:
            ws.sock.sendall(bytes(CHUNK))
            return CHUNK

        sent = _stream_until_refused(ws, more, 1024)
        return sent, ws.close_code()
    finally:
        ws.close()


def _fragmented_message(port: int) -> tuple[int, int | None]:
    """A message in 8 KB frames: bytes sent before the answer, and the close code."""
    ws = raw.open_engineio_websocket(port)
    try:
        piece = b"x" * 8000
        ws.send_frame(b"4" + piece, fin=False)
        for _ in range(3):  # 32 KB: past the limit
            ws.send_frame(piece, opcode=0x0, fin=False)

        def more() -> int:
            ws.send_frame(piece, opcode=0x0, fin=False)
            return len(piece)

        sent = _stream_until_refused(ws, more, 4 * 8000)
        return sent, ws.close_code()
    finally:
        ws.close()


def test_websocket_frames_and_messages_over_the_limit_are_refused_while_read(
    gateway_in_mode, bystander, mode
):
    gateway = gateway_in_mode()
    healthy = bystander(gateway)
    pid = gateway.process.pid
    rss_before = raw.vm_kib(pid, "VmHWM")

    frame_sent, frame_code = _one_huge_frame(gateway.port)
    fragments_sent, fragments_code = _fragmented_message(gateway.port)

    grown_mib = (raw.vm_kib(pid, "VmHWM") - rss_before) / 1024
    print(
        f"{mode}: 64 MiB frame refused after {frame_sent} B (close {frame_code}); "
        f"fragmented message after {fragments_sent} B (close {fragments_code}); "
        f"peak RSS +{grown_mib:.1f} MiB"
    )
    # The refusal comes at the header, before the payload: nothing near 64 MiB is read.
    assert (frame_code, frame_sent) == (1009, 1024)
    # At the continuation that passes the limit, before anything is sent after it.
    assert (fragments_code, fragments_sent) == (1009, 4 * 8000)
    assert grown_mib < 8
    healthy.is_served()


def test_a_long_polling_body_over_the_limit_is_refused_before_it_is_sent(
    gateway_in_mode, bystander
):
    gateway = gateway_in_mode()
    healthy = bystander(gateway)
    target = f"{raw.EIO_PATH}?EIO=4&transport=polling&sid="

    # Announced: the answer comes after the headers, no byte of the 100 MiB sent.
    _, sid, _ = raw.polling_handshake(gateway.port)
    with raw.connect(gateway.port, timeout=HEALTHY_WITHIN) as sock:
        raw.send_head(sock, "POST", target + sid, {"Content-Length": str(100 * 1024 * 1024)})
        status, headers, body = raw.read_response(sock)
    assert (status, raw.error_code(body)) == (413, "payload_too_large")
    assert headers["connection"] == "close"

    # Chunked: the answer comes once the body passes the limit.
    _, sid, _ = raw.polling_handshake(gateway.port)
    with raw.connect(gateway.port, timeout=HEALTHY_WITHIN) as sock:
        raw.send_head(sock, "POST", target + sid, {"Transfer-Encoding": "chunked"})
        chunk = b"4" + b"x" * 8191
        for _ in range(3):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, _, body = raw.read_response(sock)
    assert (status, raw.error_code(body)) == (413, "payload_too_large")

    healthy.is_served()
