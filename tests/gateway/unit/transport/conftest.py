"""Scaffolding of the transport's unit tests: a socket pair with a real Writer on one end,
the client's WebSocket parser (wsproto) on the other, and a runtime whose tasks are daemon
threads (``make_wire``); a session over it, a scripted client, recording handlers (``setup``)."""

from __future__ import annotations

import socket
import threading
import time
import types

import pytest
from wsproto.frame_protocol import FrameProtocol

from services.gateway.transport.session import NOT_HANDLED, WebSocketSession
from services.gateway.transport.writer import RawSocket, Writer

HUGE = 64 * 1024 * 1024  # a bound no test reaches: no pings, nobody behind


class Wire:
    """A Writer on one end of a socket pair; the other end is the client's."""

    def __init__(self, bound: int = HUGE, send_buffer: int = 16 * 1024):
        self.near, self.far = socket.socketpair()
        self.far.settimeout(5)
        self.threads: list[threading.Thread] = []
        self.behind: list[bool] = []
        self.dropped: list[bool] = []
        runtime = types.SimpleNamespace(spawn=self._spawn, sleep=time.sleep, event=threading.Event)
        raw = RawSocket(self._try_send, self.near.sendall, self.near)
        self.writer = Writer(
            raw, bound=bound, send_buffer=send_buffer, runtime=runtime, on_dropped=self._dropped
        )
        self.writer.on_behind(lambda: self.behind.append(True))
        self._parser = FrameProtocol(client=True, extensions=[])
        self.frames: list[tuple] = []
        self._partial: list | None = None
        self.received = 0  # bytes the client has read

    def _spawn(self, target, *args, **kwargs):
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def _try_send(self, data) -> int:
        try:
            return self.near.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0

    def _dropped(self) -> None:
        self.dropped.append(True)

    def read(self, count: int, chunk: int = 64 * 1024) -> list[tuple]:
        """The next ``count`` whole frames the client reads."""
        start = len(self.frames)
        while len(self.frames) < start + count:
            data = self.far.recv(chunk)
            assert data, f"the connection ended after {self.frames[start:]}"
            self._feed(data)
        return self.frames[start:]

    def read_to_end(self, pace: float = 0.0) -> list[tuple]:
        """Every frame until the writer closes the connection; with ``pace``, 16 KiB at a
        time, a pause of ``pace`` seconds between two: a client reading slowly."""
        start = len(self.frames)
        while data := self.far.recv(16 * 1024 if pace else 64 * 1024):
            self._feed(data)
            time.sleep(pace)
        assert self._partial is None, "the connection ended inside a frame"
        return self.frames[start:]

    def read_written(self) -> list[tuple]:
        """The frames of everything the writer has written so far."""
        start = len(self.frames)
        while self.received < self.writer.written:
            self._feed(self.far.recv(64 * 1024))
        return self.frames[start:]

    def _feed(self, data: bytes) -> None:
        self.received += len(data)
        self._parser.receive_bytes(data)
        for f in self._parser.received_frames():
            if self._partial is None:
                self._partial = [f.opcode, f.payload]
            else:
                self._partial[1] += f.payload
            if f.frame_finished:
                self.frames.append(tuple(self._partial))
                self._partial = None

    def writer_done(self) -> bool:
        return not any(t.is_alive() for t in self.threads)

    def close(self) -> None:
        self.writer.drop("test over", quiet=True)  # ends a writer task blocked in sendall
        self.near.close()
        self.far.close()


@pytest.fixture
def make_wire():
    wires = []

    def make(**kwargs) -> Wire:
        wires.append(Wire(**kwargs))
        return wires[-1]

    yield make
    for w in wires:
        w.close()


class Script:
    """The client's messages, read in order; a callable step runs between two reads, an
    exception is raised by the read; the end of the script is the client closing."""

    def __init__(self, steps):
        self.steps = list(steps)

    def __call__(self):
        while self.steps:
            step = self.steps.pop(0)
            if isinstance(step, BaseException):
                raise step
            if not callable(step):
                return step
            step()
        return None


class Handlers:
    """Records each call as ``(name, *args)``; ``connect`` returns ``refusal``, ``event``
    the answer in ``answers`` for the event's name (NOT_HANDLED for another name)."""

    def __init__(self, refusal=None, answers=None):
        self.refusal, self.answers, self.calls, self.answering = refusal, answers or {}, [], []

    def __getattr__(self, name):  # opened, connected, disconnect, closed
        return lambda *args: self.calls.append((name, *args))

    def of(self, name):
        return [call[1:] for call in self.calls if call[0] == name]

    def names(self):
        return [call[0] for call in self.calls]

    def connect(self, session, sid, auth):
        self.calls.append(("connect", session, sid, auth))
        return self.refusal

    def event(self, sid, name, args):
        self.calls.append(("event", sid, name, args))
        self.answering.append(self.calls[0][1]._writer.answering)  # opened(session) first
        return self.answers.get(name, NOT_HANDLED)


@pytest.fixture
def setup(make_wire):
    """``setup(**options)``: a session writing to a wire; ``s.play(*steps)`` runs it to its
    end on a Script of ``steps``, ``s.run(*steps)`` also returns the frames its client read."""

    def make(*, max_backlog=64 * 1024, ping_timeout=20, send_buffer=0, **handlers):
        wire = make_wire(bound=max_backlog, send_buffer=send_buffer)
        s = types.SimpleNamespace(wire=wire, added=[], handlers=Handlers(**handlers))
        options = types.SimpleNamespace(
            ping_interval=25, ping_timeout=ping_timeout, max_message_bytes=16384,
            max_backlog=max_backlog,
        )  # fmt: skip
        pinger = types.SimpleNamespace(add=s.added.append)
        s.session = WebSocketSession(wire.writer, options, s.handlers, pinger)
        s.play = lambda *steps: s.session.run(Script(steps))
        s.run = lambda *steps: (s.play(*steps), wire.read_to_end())[1]
        return s

    return make
