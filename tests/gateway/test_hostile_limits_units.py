"""Unit tests of the limits on unauthenticated clients, without a server (issue #20)."""

from __future__ import annotations

import logging
import struct
import sys

import pytest

from services.gateway.frame_limit import FrameLimit, MessageTooBig
from services.gateway.guard import refusal_of_payload
from services.gateway.handshake import HandshakeDeadline
from services.gateway.hosts import dev_host_allowed
from services.gateway.protocol_log import RefusedInputFilter


def header(length: int, opcode: int = 0x1, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    mask = 0x80 if masked else 0
    if length < 126:
        head = struct.pack("!BB", first, mask | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask | 127, length)
    return head + (b"\0\0\0\0" if masked else b"")


def test_frames_within_the_limit_pass_in_pieces_of_any_size():
    limit = FrameLimit(100)
    stream = header(100) + b"x" * 100 + header(5, opcode=0x9) + b"ping!" + header(0)
    for byte in stream:
        limit.feed(bytes([byte]))
    limit.feed(stream)


def test_a_frame_is_refused_at_its_header():
    limit = FrameLimit(100)
    with pytest.raises(MessageTooBig):
        limit.feed(header(64 * 1024 * 1024))
    assert limit.refused


def test_a_fragmented_message_is_refused_at_the_continuation_that_passes_the_limit():
    limit = FrameLimit(100)
    limit.feed(header(60, fin=False) + b"x" * 60)
    with pytest.raises(MessageTooBig):
        limit.feed(header(41, opcode=0x0, fin=False))


def test_control_frames_between_fragments_do_not_count_and_a_new_message_starts_at_zero():
    limit = FrameLimit(100)
    limit.feed(header(60, fin=False) + b"x" * 60)
    limit.feed(header(4, opcode=0xA) + b"pong")
    limit.feed(header(40, opcode=0x0) + b"x" * 40)  # 100: the limit itself
    limit.feed(header(100) + b"x" * 100)


@pytest.mark.parametrize(
    "body",
    [
        b"9",
        b"2",
        b"6",
        b"0",
        b"",
        b"4a\x1e",
        b"\xff",
        b"bnot base64!",
        b"1\x1e4a",
        "\x1e".join(["3"] * 17).encode(),
        b"d=4hello",
    ],
)
def test_payloads_python_engineio_would_drop_the_session_for_are_refused(body):
    assert refusal_of_payload(body) is not None


@pytest.mark.parametrize(
    "body", [b"3", b"40", b'42["subscribe",{"all":true}]', b"4a\x1e3", b"bAAEC", b"5", b"4a\x1e1"]
)
def test_payloads_a_client_sends_pass(body):
    assert refusal_of_payload(body) is None


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def deadline_of(joined: set, closed: list, expired: list):
    """A 10 s HandshakeDeadline on a fake clock (``deadline.clock``), recording closes."""
    clock = FakeClock()
    deadline = HandshakeDeadline(
        10,
        joined=joined.__contains__,
        close=lambda sid: closed.append(sid) or True,
        spawn=lambda task: None,
        sleep=None,
        on_expired=lambda: expired.append(1),
        clock=clock,
    )
    deadline.clock = clock
    return deadline


def test_the_handshake_deadline_closes_only_sessions_that_did_not_join_in_time():
    closed, expired = [], []
    deadline = deadline_of({"b"}, closed, expired)
    deadline.opened("a")
    deadline.opened("b")
    deadline.clock.now = 5
    deadline.opened("c")
    deadline.clock.now = 9.9
    assert deadline.expire() == []
    deadline.clock.now = 10
    assert deadline.expire() == ["a"]
    deadline.clock.now = 15
    assert deadline.expire() == ["c"]
    assert closed == ["a", "c"] and len(expired) == 2


def test_a_session_that_left_the_namespace_has_the_timeout_again_from_then():
    """A client that joined and left has the whole timeout from its leaving to join again:
    the deadline of its opening no longer applies to it."""
    closed = []
    deadline = deadline_of(set(), closed, [])
    deadline.opened("a")
    deadline.clock.now = 4  # "a" joined at 2 and left at 4
    deadline.opened("a")
    deadline.clock.now = 10
    assert deadline.expire() == []
    deadline.clock.now = 14
    assert deadline.expire() == ["a"]
    assert closed == ["a"]


def test_a_decoding_error_of_the_libraries_becomes_one_line_without_traceback():
    from socketio import packet

    try:
        packet.Packet(encoded_packet="2[")
    except ValueError:
        info = sys.exc_info()
    record = logging.LogRecord("p", logging.ERROR, "", 1, "message handler error", None, info)

    assert RefusedInputFilter().filter(record)
    assert record.exc_info is None and record.levelname == "WARNING"
    assert record.getMessage().startswith("refused input from a client: ")


def test_an_error_raised_through_our_code_keeps_its_traceback():
    from shared.settings import Settings, SettingsError

    try:
        Settings.from_env({"GATEWAY_PORT": "not a port"})  # raised in shared/
    except SettingsError:
        info = sys.exc_info()
    record = logging.LogRecord("p", logging.ERROR, "", 1, "message handler error", None, info)

    assert RefusedInputFilter().filter(record)
    assert record.exc_info is info and record.levelname == "ERROR"


def test_the_protocol_log_is_rate_limited_and_says_how_many_lines_it_dropped():
    clock = FakeClock()
    log_filter = RefusedInputFilter(burst=3, window=10, clock=clock)
    records = [logging.makeLogRecord({"msg": "x"}) for _ in range(10)]

    assert [log_filter.filter(r) for r in records] == [True] * 3 + [False] * 7
    clock.now = 10
    later = logging.makeLogRecord({"msg": "y"})
    assert log_filter.filter(later)
    assert later.droppedLines == 7


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost:5001", True),
        ("127.0.0.1", True),
        ("[::1]:5001", True),
        ("drones.example.com", True),
        ("evil.example", False),
        ("evil.example:5001", False),
        ("localhost.evil.example", False),
        ("", False),
        ("[", False),
    ],
)
def test_dev_tokens_hosts(host, allowed):
    assert dev_host_allowed(host, ("https://drones.example.com", "*")) is allowed
