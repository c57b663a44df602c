"""A faster engine.io WebSocket writer: all pending packets of a client in one write.

python-engineio's writer task sends one packet per ``ws.send``: one frame encoding and one
``send()`` syscall per packet per client, plus a queue hand-off, a task switch and (under
eventlet) a timer per packet. With hundreds of clients that is most of the gateway's CPU.

:class:`FrameSocket` keeps engine.io's queue and writer task but:

- frames each packet once: an event emitted to many clients is one packet object shared by
  every recipient, and its frame is cached on it;
- writes everything queued for a client with one ``sendall`` (:class:`Frames`);
- inside :func:`batch` (the relay's delivery of a batch of events) holds the packets back
  and then writes each client's with one non-blocking ``send`` from the delivering task
  itself, when nothing is queued or being written for that client; whatever the socket
  does not take goes to the queue, where the writer task finishes it. Per client the
  bytes keep the order in which the packets were sent.

python-engineio has no hook for its socket class, so :func:`install` promotes each new
socket to :class:`FrameSocket` from the engine.io ``connect`` event, which fires right after
the socket is created and before its transport starts.
"""

from __future__ import annotations

import contextlib
import socket
import struct

from engineio import packet as eio_packet
from engineio import socket as eio_socket

_OPCODE_TEXT = 0x1
_OPCODE_BINARY = 0x2
_FIN = 0x80
_FAST_MODES = ("eventlet", "gevent")


class Frames(bytes):
    """Complete WebSocket frames, ready for the wire; engine.io's writer calls ``encode``."""

    __slots__ = ()

    def encode(self, b64: bool = False) -> Frames:  # noqa: ARG002 - engine.io's signature
        return self


def frame(payload: str | bytes) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 5.2): text for str, binary for bytes."""
    if isinstance(payload, str):
        payload, opcode = payload.encode(), _OPCODE_TEXT
    else:
        payload, opcode = bytes(payload), _OPCODE_BINARY
    n = len(payload)
    if n < 126:
        header = bytes((_FIN | opcode, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", _FIN | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", _FIN | opcode, 127, n)
    return header + payload


def packet_frame(pkt) -> bytes:
    """The frame of an engine.io packet, built once per packet object."""
    cached = pkt.__dict__.get("ws_frame")
    if cached is None:
        cached = pkt.ws_frame = frame(pkt.encode())
    return cached


_held: list[FrameSocket] | None = None  # sockets with packets held back by batch()


@contextlib.contextmanager
def batch():
    """Hold back the messages sent to upgraded clients, then write each client's at once.

    Only for one cooperative (eventlet/gevent) task at a time: the relay.
    """
    global _held
    if _held is not None:  # nested: the outer batch writes
        yield
        return
    _held = []
    try:
        yield
    finally:
        sockets, _held = _held, None
        for sock in sockets:
            sock.flush()


class FrameSocket(eio_socket.Socket):
    """An engine.io socket whose WebSocket writes carry every pending packet at once."""

    # Class-level defaults: instances are promoted from engine.io's Socket, not constructed.
    _try_send = None  # non-blocking send of the TCP socket, once the WebSocket is up
    _held_packets = None  # messages held back by the open batch()
    _writing = False  # the writer task is inside a (possibly blocking) write

    def send(self, pkt):
        """Queue ``pkt`` as engine.io does, or hold a message back while a batch is open."""
        if (
            _held is None
            or pkt.packet_type != eio_packet.MESSAGE
            or self._try_send is None
            or not self.upgraded
        ):
            if self._held_packets:
                self.flush()  # what was held goes first
            return super().send(pkt)
        if not self.check_ping_timeout():
            return
        if self._held_packets is None:
            self._held_packets = []
            _held.append(self)
        self._held_packets.append(pkt)

    def flush(self) -> None:
        """Write the held packets now if nothing is ahead of them, else queue them."""
        packets, self._held_packets = self._held_packets, None
        if not packets:
            return
        data = Frames(b"".join(map(packet_frame, packets)))
        if not (self._writing or self.closing or self.closed or self.queue.qsize()):
            try:
                sent = self._try_send(data)
            except OSError:  # the writer task meets the error too and closes the connection
                sent = 0
            if sent == len(data):
                return
            data = Frames(data[sent:])
        self.queue.put(data)

    def poll(self):
        """Like engine.io's, but over WebSocket: wait without a timer, return one buffer.

        The timeout engine.io puts on the wait only ends a writer that nobody feeds; over
        WebSocket the reader (on close or error) and ``close()`` always queue the ``None``
        that ends it, and the ping task feeds it every ``ping_interval`` meanwhile.
        """
        if not self.upgraded:
            return super().poll()  # long-polling: engine.io's own payload encoding
        queue = self.queue
        packets = [queue.get()]
        queue.task_done()
        for _ in range(queue.qsize()):
            packets.append(queue.get_nowait())
            queue.task_done()
        if None in packets:
            # Send what came before the end marker; the next poll returns [] and the writer
            # stops, as engine.io's does.
            packets = packets[: packets.index(None)]
            queue.put(None)
            if not packets:
                return []
        return [Frames(b"".join(map(_frame_of, packets)))]

    def _websocket_handler(self, ws):
        writers = _raw_writers(ws, self.server.async_mode)
        if writers is None:
            # Not a transport this module knows how to write to: engine.io's own path.
            self.__class__ = eio_socket.Socket
            return eio_socket.Socket._websocket_handler(self, ws)
        sendall, self._try_send = writers
        return super()._websocket_handler(_FrameWebSocket(ws, sendall, self))


def _frame_of(item) -> bytes:
    return item if type(item) is Frames else packet_frame(item)


class _FrameWebSocket:
    """The transport's WebSocket, with :class:`Frames` written as they are."""

    def __init__(self, ws, sendall, owner: FrameSocket):
        self._inner = ws
        self._sendall = sendall
        self._owner = owner

    def send(self, message):
        # A blocked write yields to other tasks: no direct write may slip in meanwhile.
        self._owner._writing = True
        try:
            if type(message) is Frames:
                return self._sendall(message)
            return self._inner.send(message)
        finally:
            self._owner._writing = False

    def wait(self):
        """The next message; None (as at a close) for a text frame that is no Engine.IO packet.

        python-engineio decodes a frame outside its error handling, so a frame such as
        ``""`` or ``"hello"`` would end its reader without the clean-up that closes the
        connection, leaving the client counted and subscribed until the ping timeout.
        """
        message = self._inner.wait()
        if isinstance(message, str) and not (message and "0" <= message[0] <= "6"):
            return None
        return message

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _raw_writers(ws, async_mode: str):
    """``(sendall, try_send)`` of the TCP socket under ``ws``, Nagle off; None if unknown.

    ``try_send`` never blocks: it returns how many bytes the socket took (0 when full).
    Node's Socket.IO server disables Nagle's algorithm too: with it, a small frame can wait
    for the ACK of the previous one (delayed ACK: up to 40 ms on Linux).
    """
    if async_mode == "eventlet":
        from eventlet.websocket import RFC6455WebSocket

        if not isinstance(ws, RFC6455WebSocket):
            return None
        green = ws.socket
        sendall, real = green.sendall, green.fd  # fd: the non-blocking OS socket

        def try_send(data: bytes) -> int:
            try:
                return real.send(data)
            except BlockingIOError:
                return 0

        sock = real
    else:
        inner = getattr(ws, "_sock", None)  # engine.io's wrapper holds gevent-websocket's
        if getattr(inner, "raw_write", None) is None:
            return None
        sock, sendall = inner.handler.socket, inner.raw_write

        def try_send(data: bytes) -> int:
            try:
                return sock.send(data, 0, 0.0)  # gevent: timeout 0 raises instead of waiting
            except BlockingIOError:
                return 0

    with contextlib.suppress(OSError):  # not TCP (a Unix socket): nothing to disable
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sendall, try_send


def install(server, async_mode: str, compression: bool) -> bool:
    """Use :class:`FrameSocket` for the clients of ``server`` (a python-socketio Server).

    Only for eventlet and gevent, and only without permessage-deflate (a compressed frame
    differs per connection, so it cannot be shared). Returns whether it was installed;
    :func:`batch` only has an effect when it was.
    """
    if async_mode not in _FAST_MODES or compression:
        return False
    eio = server.eio
    on_connect = eio.handlers["connect"]

    def promote_then_connect(eio_sid, environ, *args):
        sock = eio.sockets.get(eio_sid)
        if type(sock) is eio_socket.Socket:
            sock.__class__ = FrameSocket
        return on_connect(eio_sid, environ, *args)

    eio.handlers["connect"] = promote_then_connect
    return True
