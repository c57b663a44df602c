"""The bounded writer over a real socket pair; a wsproto parser reads the far end."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from wsproto.frame_protocol import CloseReason, Opcode

from services.gateway.transport.frames import close_frame, text_frame
from services.gateway.transport.writer import WRITE_CHUNK
from tests.support.waiting import wait_until

PING = (Opcode.TEXT, "2")


def message(size: int):
    """A frame of ``size`` payload bytes, and what the client reads of it."""
    text = "4" + "x" * (size - 1)
    return text_frame(text), (Opcode.TEXT, text)


@pytest.fixture
def wire(make_wire):
    return make_wire()


def test_frame_the_kernel_takes_is_written_at_once_without_a_writer_task(wire):
    frame, expected = message(100)
    wire.writer.send(frame)
    assert (wire.writer.written, wire.writer.backlog(), wire.threads) == (len(frame), 0, [])
    assert wire.read(1) == [expected]


def test_idle_client_holds_no_queue_and_a_later_backlog_gets_one(wire):
    big, big_read = message(256 * 1024)  # more than the socket pair's buffers take at once
    small, small_read = message(100)
    wire.writer.send(big)
    assert wire.writer.backlog() > 0 and len(wire.threads) == 1
    assert wire.read(1) == [big_read]
    wait_until(wire.writer_done, timeout=5, message="the writer task to end")
    assert wire.writer.backlog() == 0 and wire.writer._queue is None

    wire.writer.send(small)  # idle again: written at once, no task
    assert len(wire.threads) == 1
    wire.writer.send(big)
    wire.writer.send(small)  # behind the rest of the big one, in a new queue
    assert len(wire.threads) == 2
    assert wire.read(3) == [small_read, big_read, small_read]


def test_ping_due_while_a_frame_is_half_written_goes_after_that_frame(wire):
    big, big_read = message(256 * 1024)
    wire.writer.send(big)
    assert 0 < wire.writer.written < len(big)
    wire.writer.ping()
    assert wire.read(2) == [big_read, PING]
    wait_until(wire.writer_done, timeout=5, message="the writer task to end")
    wire.writer.pong()
    assert wire.writer.unread() == 0  # the pong was for the ping after the whole frame


def test_each_pong_tells_how_far_the_client_has_read(make_wire):
    wire = make_wire(bound=64 * 1024, send_buffer=0)
    quarter, quarter_read = message(16 * 1024)
    after, after_read = message(1000)
    wire.writer.send(quarter)  # a ping goes after each quarter of the bound
    wire.writer.send(after)
    assert wire.read(3) == [quarter_read, PING, after_read]
    assert wire.writer.unread() == len(quarter) + 3 + len(after)

    wire.writer.pong()
    assert wire.writer.unread() == len(after)  # only what came after the ping
    wire.writer.pong()  # no ping outstanding: tells nothing
    assert wire.writer.unread() == len(after)


def test_a_ping_follows_each_quarter_of_the_bound_written(make_wire):
    wire = make_wire(bound=64 * 1024, send_buffer=0)
    eighth, eighth_read = message(8 * 1024)
    for _ in range(8):
        wire.writer.send(eighth)
    assert wire.read(12) == [eighth_read, eighth_read, PING] * 4


def test_client_reading_slower_than_the_kernel_takes_is_reported_behind_once(make_wire):
    wire = make_wire(bound=64 * 1024, send_buffer=0)
    eighth, _ = message(8 * 1024)
    for _ in range(7):  # the kernel takes it all, and the client has read none of it
        wire.writer.send(eighth)
    assert wire.behind == []
    wire.writer.send(message(16 * 1024)[0])  # past the bound
    assert wire.writer.backlog() == 0 and wire.writer.unread() > 64 * 1024
    assert wire.behind == [True]
    for _ in range(4):
        wire.writer.send(eighth)
    assert wire.behind == [True]  # once, until it catches up

    for _ in range(wire.read_written().count(PING)):
        wire.writer.pong()
    assert wire.writer.unread() <= 64 * 1024 // 2
    for _ in range(12):
        wire.writer.send(eighth)
    assert wire.behind == [True, True]  # behind again, reported again


def fill(wire, until, size: int = 1024, most: int = 1000) -> int:
    """Send frames of ``size`` until ``until()`` holds; how many it took."""
    frame, _ = message(size)
    for sent in range(most):
        if until():
            return sent
        wire.writer.send(frame)
    raise AssertionError("the condition never held")


def test_backlog_past_the_bound_is_behind_and_past_twice_the_bound_dropped(make_wire):
    wire = make_wire(bound=16 * 1024, send_buffer=4096)  # the client reads nothing
    fill(wire, lambda: wire.writer.backlog() > 16 * 1024)
    assert wire.behind == [True] and wire.dropped == [] and not wire.writer.closed
    fill(wire, lambda: wire.writer.closed)
    assert wire.dropped == [True]
    assert wire.writer.backlog() > 2 * 16 * 1024
    wait_until(wire.writer_done, timeout=5, message="the blocked writer task to end")
    while wire.far.recv(64 * 1024):  # what the kernel took (maybe part of a frame), then
        pass  # the end: the connection is shut down (a recv timeout would raise)


def test_answers_being_written_do_not_count_toward_the_drop(make_wire):
    bound = 16 * 1024
    wire = make_wire(bound=bound, send_buffer=4096)
    wire.writer.answering = True
    fill(wire, lambda: wire.writer.backlog() > 3 * bound)
    wire.writer.answering = False
    answers = wire.writer.backlog()  # queued while answering, none of it written yet
    assert wire.behind == [True] and not wire.writer.closed

    fill(wire, lambda: wire.writer.backlog() + 1024 + 4 > 2 * bound + answers)
    assert not wire.writer.closed
    wire.writer.send(message(1024)[0])
    assert wire.writer.closed and wire.dropped == [True]


def test_wait_until_is_woken_by_a_pong(wire):
    wire.writer.ping()  # idle: written at once
    assert wire.read(1) == [PING] and wire.threads == [] and wire.writer.unread() == 3
    result = []
    waiter = threading.Thread(
        target=lambda: result.append(wire.writer.wait_until(lambda: wire.writer.unread() == 0, 5))
    )
    waiter.start()
    # Registered first: under preemptive threads, progress made between the waiter's check
    # and its registration would not wake it (gevent/eventlet do not switch there).
    wait_until(lambda: wire.writer._progress._waiters, timeout=5, message="the waiter to wait")
    started = time.monotonic()
    wire.writer.pong()
    waiter.join(5)
    assert result == [True]
    assert time.monotonic() - started < 2  # woken, not timed out


def test_wait_until_returns_false_when_the_connection_is_dropped(wire):
    result = []
    waiter = threading.Thread(target=lambda: result.append(wire.writer.wait_until(lambda: False)))
    waiter.start()
    wait_until(lambda: wire.writer._progress._waiters, timeout=5, message="the waiter to wait")
    wire.writer.drop("test")
    waiter.join(5)
    assert result == [False] and wire.dropped == [True]


def test_wait_until_answers_at_once_when_the_condition_holds_or_times_out(wire):
    assert wire.writer.wait_until(lambda: True, timeout=0)
    assert not wire.writer.wait_until(lambda: False, timeout=0.05)
    wire.writer.finish()
    assert not wire.writer.wait_until(lambda: True, timeout=0)  # closed


def test_wait_until_is_woken_as_each_chunk_of_a_large_frame_is_written(wire):
    big, _ = message(2 * 1024 * 1024)
    wire.writer.send(big)

    def read_slowly():  # 16 KiB every 5 ms: the whole frame takes more than 0.6 s
        while wire.far.recv(16 * 1024):
            time.sleep(0.005)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        start = wire.writer.written
        woken = wire.writer.wait_until(lambda: wire.writer.written >= start + 2 * WRITE_CHUNK, 0.25)
    finally:
        wire.writer.drop("test over", quiet=True)  # the client then reads to the end
        reader.join(5)
    assert woken


def test_finish_writes_the_goodbye_after_the_queue_then_closes(wire):
    big, big_read = message(256 * 1024)
    wire.writer.send(big)
    wire.writer.finish(close_frame())
    assert not wire.writer.closed  # the client has not taken its backlog yet
    wire.writer.send(message(10)[0])  # nothing is taken after the goodbye
    assert wire.read_to_end() == [big_read, (Opcode.CLOSE, (CloseReason.NORMAL_CLOSURE, ""))]
    wait_until(lambda: wire.writer.closed, timeout=5, message="the writer to close")
    assert wire.dropped == []


def test_finish_on_an_idle_connection_closes_at_once(wire):
    wire.writer.finish(close_frame(1002))
    assert wire.writer.closed
    assert wire.read_to_end() == [(Opcode.CLOSE, (CloseReason.PROTOCOL_ERROR, ""))]


def test_drop_closes_at_once_and_ends_a_blocked_writer_task(wire):
    wire.writer.send(message(256 * 1024)[0])
    assert len(wire.threads) == 1
    wire.writer.drop("test")
    assert wire.writer.closed and wire.dropped == [True]
    wait_until(wire.writer_done, timeout=5, message="the blocked writer task to end")
    wire.writer.drop("again")
    wire.writer.send(message(10)[0])
    wire.writer.ping()
    assert wire.dropped == [True] and len(wire.threads) == 1


def test_connection_broken_while_writing_closes_the_writer_quietly(wire):
    wire.writer.send(message(256 * 1024)[0])
    wire.far.close()
    wait_until(wire.writer_done, timeout=5, message="the writer task to end")
    assert wire.writer.closed and wire.dropped == []


def send_buffer_set_to(size: int) -> int:
    """What the kernel reports for a send buffer set to ``size``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        return probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def test_limit_in_flight_bounds_the_client_and_its_send_buffer(wire):
    sndbuf = lambda: wire.near.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)  # noqa: E731
    assert sndbuf() == send_buffer_set_to(16 * 1024)
    wire.writer.limit_in_flight(8 * 1024)
    assert sndbuf() == send_buffer_set_to(8 * 1024)
    fill(wire, lambda: wire.writer.backlog() > 8 * 1024)
    assert wire.behind == [True]  # far below the server's bound
    wire.writer.limit_in_flight(None)
    assert sndbuf() == send_buffer_set_to(16 * 1024)


def test_limit_in_flight_none_restores_the_kernel_default_send_buffer(make_wire):
    wire = make_wire(send_buffer=0)
    default = wire.near.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    wire.writer.limit_in_flight(8 * 1024)
    wire.writer.limit_in_flight(None)
    assert wire.near.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == default
