"""The gevent reader: a session read through an event loop's watcher and timer (fakes
here), on a real socket pair, with a client that writes real WebSocket frames (wsproto)."""

from __future__ import annotations

import logging
import struct
import threading

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason, Opcode

from services.gateway.transport.frames import Message
from services.gateway.transport.reader import WebSocketReader

MAX_MESSAGE = 16384  # the session options of ``setup``


class FakeWatcher:
    """An io watcher or a timer: the test fires it while it is active."""

    def __init__(self):
        self.callback, self.starts, self.closed = None, 0, False

    def start(self, callback):
        self.callback = callback
        self.starts += 1

    again = start  # a timer's restart

    def stop(self):
        self.callback = None

    def close(self):
        self.closed = True

    @property
    def active(self):
        return self.callback is not None

    def fire(self):
        assert self.active, "fired while not armed"
        self.callback()


class FakeLoop:
    """gevent's loop as the reader uses it: one read watcher and one repeating timer."""

    def __init__(self):
        self.watcher, self.silence, self.timer_args = FakeWatcher(), FakeWatcher(), None

    def io(self, fd, events):
        assert events == 1  # read
        return self.watcher

    def timer(self, after, repeat):
        self.timer_args = (after, repeat)
        return self.silence


class Reading:
    """A session (``setup``) read by a WebSocketReader on the wire's server end; the test
    writes as the client on the far end and fires the loop's watcher."""

    def __init__(self, s):
        self.s, self.loop, self.spawned = s, FakeLoop(), []
        self.client = Connection(ConnectionType.CLIENT)
        self.reader = WebSocketReader(
            s.wire.near,
            s.session,
            loop=self.loop,
            spawn=self._spawn,
            max_message_bytes=MAX_MESSAGE,
            silence=45,
        )

    def _spawn(self, fn, *args):  # the turn runs at once, as the test's next step
        self.spawned.append(fn)
        fn(*args)

    def send(self, *events, raw: bytes = b"") -> None:
        """The client sends ``events`` (and ``raw`` bytes), then the socket is readable."""
        data = b"".join(self.client.send(e) for e in events) + raw
        self.s.wire.far.sendall(data)
        self.loop.watcher.fire()

    @property
    def waiting(self) -> bool:
        return self.loop.watcher.active and self.loop.silence.active

    @property
    def ended(self) -> bool:
        return (
            self.loop.watcher.closed
            and self.loop.silence.closed
            and self.s.wire.near.fileno() == -1
        )


@pytest.fixture
def reading(setup):
    def make(**options) -> Reading:
        r = Reading(setup(**options))
        r.reader.start()
        return r

    return make


def texts(frames):
    return [payload for opcode, payload in frames if opcode == Opcode.TEXT]


def close_code(frames):
    [(opcode, (code, _))] = [f for f in frames if f[0] == Opcode.CLOSE]
    return code


def test_start_opens_the_session_and_waits_without_a_task(reading):
    r = reading()
    assert r.waiting and r.spawned == []
    assert r.loop.timer_args == (45, 45)
    assert texts(r.s.wire.read(1))[0].startswith("0{")
    assert r.s.handlers.names() == ["opened"]


def test_a_message_wakes_one_turn_that_answers_it_and_waits_again(reading):
    r = reading()
    r.send(TextMessage('40{"token":"t"}'))
    assert len(r.spawned) == 1 and r.waiting
    assert r.loop.silence.starts == 2  # the silence countdown restarted
    assert texts(r.s.wire.read(2))[1].startswith('40{"sid":')
    assert r.s.handlers.names() == ["opened", "connect", "connected"]


def test_messages_of_one_read_are_handled_in_order(reading):
    r = reading(answers={"a": 1, "b": 2})
    r.send(TextMessage("40"), TextMessage('421["a"]'), TextMessage('422["b"]'))
    assert texts(r.s.wire.read(4))[2:] == ["431[1]", "432[2]"]


def test_a_message_in_fragments_over_several_reads_is_joined(reading):
    r = reading(answers={"hello": "world"})
    r.send(TextMessage("40"))
    r.send(TextMessage('421["hel', message_finished=False))
    assert r.s.handlers.of("event") == [] and r.waiting
    r.send(TextMessage('lo"]', message_finished=True))
    assert texts(r.s.wire.read(3))[2] == '431["world"]'


def test_a_ping_frame_gets_its_pong(reading):
    r = reading()
    r.send(Ping(b"are you there"))
    assert r.s.wire.read(2)[1] == (Opcode.PONG, b"are you there")
    assert r.waiting


def test_the_clients_close_frame_ends_the_session(reading):
    r = reading()
    r.send(TextMessage("40"), CloseConnection(CloseReason.NORMAL_CLOSURE))
    frames = r.s.wire.read_to_end()
    assert close_code(frames) == CloseReason.NORMAL_CLOSURE
    assert r.s.handlers.names()[-2:] == ["disconnect", "closed"]
    assert r.ended


def test_the_end_of_the_stream_ends_the_session(reading):
    r = reading()
    r.s.wire.far.shutdown(2)
    r.loop.watcher.fire()
    assert r.s.handlers.names() == ["opened", "closed"]
    assert r.ended


def test_a_silent_client_is_ended_by_the_timer(reading):
    r = reading()
    r.loop.silence.fire()
    assert not r.loop.watcher.active
    assert r.s.handlers.names() == ["opened", "closed"]
    assert close_code(r.s.wire.read_to_end()) == CloseReason.NORMAL_CLOSURE
    assert r.ended


@pytest.mark.parametrize(
    ("events", "raw", "code"),
    [
        ((BytesMessage(b"\x00\x01"),), b"", CloseReason.PROTOCOL_ERROR),
        # a text frame that is not UTF-8
        ((), b"\x81\x82\x00\x00\x00\x00\xff\xfe", CloseReason.INVALID_FRAME_PAYLOAD_DATA),
        # a client's frame must be masked
        ((), b"\x81\x0240", CloseReason.PROTOCOL_ERROR),
        # a header announcing more than the limit: refused before its payload comes
        ((), b"\x81\xfe" + struct.pack("!H", MAX_MESSAGE + 1) + b"\x00" * 4, 1009),
    ],
    ids=["binary", "not-utf8", "unmasked", "too-big"],
)
def test_what_breaks_the_websocket_protocol_closes_with_its_code(reading, events, raw, code):
    r = reading()
    r.send(*events, raw=raw)
    assert close_code(r.s.wire.read_to_end()) == code
    assert r.ended


def test_a_message_over_the_limit_in_fragments_is_refused(reading):
    r = reading()
    r.send(TextMessage("4" * (MAX_MESSAGE - 10), message_finished=False))
    r.send(TextMessage("2" * 20, message_finished=True))
    assert close_code(r.s.wire.read_to_end()) == 1009


def test_a_socketio_protocol_error_closes_with_1002(reading):
    r = reading()
    r.send(TextMessage('42["event before connect"]'))
    assert close_code(r.s.wire.read_to_end()) == CloseReason.PROTOCOL_ERROR
    assert r.ended


def test_an_error_of_a_handler_ends_the_session_and_is_logged(reading, caplog):
    r = reading()
    r.s.handlers.event = lambda *args: 1 / 0
    r.send(TextMessage("40"), TextMessage('42["boom"]'))
    assert close_code(r.s.wire.read_to_end()) == CloseReason.NORMAL_CLOSURE
    assert r.ended
    assert any(
        rec.levelno == logging.ERROR and rec.exc_info[0] is ZeroDivisionError
        for rec in caplog.records
    )


def test_a_dropped_client_ends_at_its_next_wakeup(reading):
    r = reading()
    r.s.session.close(abort=True)  # the writer shuts the socket down: it becomes readable
    r.loop.watcher.fire()
    assert r.s.handlers.names() == ["opened", "closed"]
    assert r.ended


def test_the_socket_is_closed_only_once_the_writer_has_written_all(reading):
    r = reading(max_backlog=1024 * 1024)
    big = Message("drone:event", {"x": "y" * 600_000})  # more than the socket buffers take
    r.s.session.send(big)
    frames = []
    client = threading.Thread(target=lambda: frames.extend(r.s.wire.read_to_end()))
    client.start()
    r.send(CloseConnection(CloseReason.NORMAL_CLOSURE))
    client.join(10)
    assert '42["drone:event",{"x":"' + "y" * 600_000 + '"}]' in texts(frames)
    assert close_code(frames) == CloseReason.NORMAL_CLOSURE
    assert r.ended
