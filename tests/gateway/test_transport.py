"""The gateway's WebSocket framing, checked against an independent decoder (wsproto)."""

from __future__ import annotations

import socket
import threading
import time

import engineio
import pytest
from engineio import packet as eio_packet
from wsproto.frame_protocol import FrameProtocol, Opcode

from services.gateway.transport import Frames, FrameSocket, frame, packet_frame


def decode(data: bytes) -> list[tuple[Opcode, bytes]]:
    """What a client's WebSocket parser reads from ``data`` (server frames are unmasked)."""
    protocol = FrameProtocol(client=True, extensions=[])
    protocol.receive_bytes(data)
    # wsproto hands text payloads over decoded.
    return [
        (f.opcode, f.payload.encode() if f.opcode == Opcode.TEXT else f.payload)
        for f in protocol.received_frames()
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_of_every_length_class_decodes_to_its_payload(size):
    text = "x" * size
    assert decode(frame(text)) == [(Opcode.TEXT, text.encode())]


def test_non_ascii_text_is_sent_as_utf8():
    assert decode(frame("drône ✈")) == [(Opcode.TEXT, "drône ✈".encode())]


def test_bytes_become_a_binary_frame():
    assert decode(frame(b"\x00\xff")) == [(Opcode.BINARY, b"\x00\xff")]


def test_frames_written_together_decode_as_separate_messages_in_order():
    data = Frames(frame("42first") + frame("4" + "y" * 300) + frame("42third"))
    assert [payload for _, payload in decode(data)] == [b"42first", b"4" + b"y" * 300, b"42third"]


def test_packet_frame_is_built_once_per_packet():
    pkt = eio_packet.Packet(eio_packet.MESSAGE, '2["drone:event",{}]')
    first = packet_frame(pkt)
    assert decode(first) == [(Opcode.TEXT, b'42["drone:event",{}]')]
    assert packet_frame(pkt) is first


# --- FrameSocket over a real socket pair ---------------------------------------------------
BOUND = 64 * 1024


class Wire:
    """A FrameSocket writing into one end of a socket pair, and the far end's bytes.

    Background tasks are kept, not started, so that a test decides when the writer runs.
    """

    def __init__(self):
        self.near, self.far = socket.socketpair()
        self.near.setblocking(False)
        self.tasks: list = []
        self.behind: list[str] = []
        self.dropped: list[str] = []
        server = engineio.Server(async_mode="threading")
        server.start_background_task = lambda target, *a, **kw: self.tasks.append(target)
        server.frame_max_backlog = BOUND
        server.frame_send_buffer = 0
        server.frame_on_behind = self.behind.append
        server.frame_on_dropped = lambda: self.dropped.append("sid")
        server.ping_timeout = 0.5  # how long a client may take none of its backlog
        self.sock = FrameSocket(server, "sid")
        self.sock._try_send = self._try_send
        self.sock._sendall = self._sendall
        self.sock._ws = self.sock._tcp = self.near

    def _try_send(self, data) -> int:
        try:
            return self.near.send(data)
        except BlockingIOError:
            return 0

    def _sendall(self, data) -> None:
        self.near.setblocking(True)
        try:
            self.near.sendall(data)
        finally:
            self.near.setblocking(False)

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes from the far end."""
        data = bytearray()
        while len(data) < size:
            data += self.far.recv(size - len(data))
        return bytes(data)

    def start_writer(self) -> threading.Thread:
        """Start the kept writer task in a thread of its own."""
        writer = threading.Thread(target=self.tasks.pop(0))
        writer.start()
        return writer

    def run_writer_while_reading(self, size: int) -> bytes:
        """Run the kept writer task while reading ``size`` bytes at the far end."""
        writer = self.start_writer()
        data = self.read(size)
        writer.join(10)
        return data

    def close(self) -> None:
        self.near.close()
        self.far.close()


@pytest.fixture
def wire():
    w = Wire()
    yield w
    w.close()


def _message(size: int) -> bytes:
    return frame("4" + "x" * (size - 1))


PING = eio_packet.Packet(eio_packet.PING)
PONG = eio_packet.Packet(eio_packet.PONG)


def test_ping_due_while_a_frame_is_half_written_goes_after_that_frame(wire):
    big = _message(4 * 1024 * 1024)  # more than the socket pair's buffers take at once
    assert wire.sock.send_frames(big)
    assert wire.tasks, "the rest of the frame waits for a writer"
    wire.sock.send(PING)

    data = wire.run_writer_while_reading(len(big) + len(frame("2")))
    assert decode(data) == [(Opcode.TEXT, big[10:]), (Opcode.TEXT, b"2")]


def test_each_pong_tells_how_far_the_client_has_read(wire):
    quarter = _message(BOUND // 4)
    wire.sock.send_frames(quarter)  # a ping goes after each quarter of the bound
    wire.sock.send_frames(_message(1000))
    assert decode(wire.read(len(quarter) + 3 + 1000 + 4))[1] == (Opcode.TEXT, b"2")
    assert wire.sock.outstanding() == len(quarter) + 3 + 1000 + 4

    wire.sock.receive(PONG)
    assert wire.sock.outstanding() == 1000 + 4  # only what came after the ping


def test_client_that_reads_slower_than_the_kernel_takes_is_reported_behind(wire):
    message = _message(BOUND // 8)
    for _ in range(7):  # the kernel takes it all, and the client has read none of it
        wire.sock.send_frames(message)
    assert wire.behind == []
    wire.sock.send_frames(_message(BOUND // 4))  # past the bound
    assert wire.sock.outstanding() > BOUND
    assert wire.behind == ["sid"]


def test_idle_client_holds_no_queue_and_a_later_backlog_gets_one(wire):
    wire.sock.server.frame_max_backlog = 64 * 1024 * 1024  # no client is behind here
    big = _message(4 * 1024 * 1024)  # more than the socket pair's buffers take at once
    wire.sock.send_frames(big)
    assert wire.sock.queue.qsize() == 1  # the rest of the frame
    assert decode(wire.run_writer_while_reading(len(big))) == [(Opcode.TEXT, big[10:])]
    assert wire.sock._queue is None  # emptied by the writer, then dropped

    wire.sock.send_frames(big)
    small = _message(100)
    wire.sock.send_frames(small)  # behind the rest of the big one, in a new queue
    data = wire.run_writer_while_reading(len(big) + len(small))
    assert decode(data) == [(Opcode.TEXT, big[10:]), (Opcode.TEXT, small[2:])]


def test_client_reading_a_long_answer_slowly_has_its_next_request_read(wire):
    big = _message(2 * 1024 * 1024)  # one frame, many times the bound
    wire.sock.send_frames(big)
    writer = wire.start_writer()
    received = bytearray()

    def read_slowly():  # some of it every 50 ms: about 2 s in all
        while len(received) < len(big):
            received.extend(wire.far.recv(64 * 1024))
            time.sleep(0.05)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    assert wire.sock._make_room()  # once the backlog is back within the bound
    reader.join(10)
    writer.join(10)
    assert bytes(received[: len(big)]) == big  # and a ping after it
    assert wire.dropped == []


def test_client_that_takes_none_of_its_backlog_for_the_ping_timeout_is_dropped(wire):
    wire.sock.send_frames(_message(2 * 1024 * 1024))
    writer = wire.start_writer()

    assert not wire.sock._make_room()
    assert wire.dropped == ["sid"]
    writer.join(10)  # its blocked write ends with the connection
    assert not writer.is_alive()
