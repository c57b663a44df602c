"""A faster engine.io WebSocket writer: every queued packet of a client in one write.

python-engineio's writer task sends one packet per ``ws.send``: one frame encoding and one
``send()`` syscall per packet per client, and under eventlet a timer per wake-up (it waits
on its queue with a timeout). With hundreds of clients that is most of the gateway's CPU.

:class:`FrameSocket` changes only how an upgraded (WebSocket) engine.io socket drains its
queue: it takes everything queued, frames each packet once, and hands the writer a single
:class:`Frames` buffer, which :class:`_FrameWebSocket` writes with one ``sendall``. Packets
emitted to many clients are the same object for every recipient, so their frame is built
once and cached on the packet. Order is the queue's order, exactly as before.

python-engineio has no hook for its socket class, so :func:`install` promotes each new
socket to :class:`FrameSocket` from the engine.io ``connect`` event, which fires right after
the socket is created and before its transport starts.
"""

from __future__ import annotations

import contextlib
import socket
import struct

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


class FrameSocket(eio_socket.Socket):
    """An engine.io socket whose WebSocket writer sends all queued packets in one write."""

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
        return [Frames(b"".join(map(packet_frame, packets)))]

    def _websocket_handler(self, ws):
        raw_write = _raw_writer(ws, self.server.async_mode)
        if raw_write is None:
            # Not a transport this module knows how to write to: engine.io's own path.
            self.__class__ = eio_socket.Socket
            return eio_socket.Socket._websocket_handler(self, ws)
        return super()._websocket_handler(_FrameWebSocket(ws, raw_write))


class _FrameWebSocket:
    """The transport's WebSocket, with :class:`Frames` written as they are."""

    def __init__(self, ws, raw_write):
        self._inner = ws
        self._raw_write = raw_write

    def send(self, message):
        if type(message) is Frames:
            return self._raw_write(message)
        return self._inner.send(message)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _raw_writer(ws, async_mode: str):
    """``sendall`` of the TCP socket under ``ws``, with Nagle's algorithm off; None if unknown.

    Node's Socket.IO server disables Nagle's algorithm too: with it, a small frame can wait
    for the ACK of the previous one (delayed ACK: up to 40 ms on Linux).
    """
    if async_mode == "eventlet":
        from eventlet.websocket import RFC6455WebSocket

        if not isinstance(ws, RFC6455WebSocket):
            return None
        sock, write = ws.socket, ws.socket.sendall
    else:
        inner = getattr(ws, "_sock", None)  # engine.io's wrapper holds gevent-websocket's
        if getattr(inner, "raw_write", None) is None:
            return None
        sock, write = inner.handler.socket, inner.raw_write
    with contextlib.suppress(OSError):  # not TCP (a Unix socket): nothing to disable
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return write


def install(server, async_mode: str, compression: bool) -> bool:
    """Use :class:`FrameSocket` for the clients of ``server`` (a python-socketio Server).

    Only for eventlet and gevent, and only without permessage-deflate (a compressed frame
    differs per connection, so it cannot be shared). Returns whether it was installed.
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
