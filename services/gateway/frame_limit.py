"""Size limits on what a WebSocket client sends, enforced while the bytes are read.

A WebSocket library reads a whole frame, and joins the frames of a fragmented message,
before anything can look at its size (eventlet's does; wsproto hands over a frame's
payload as it arrives, but a message is joined whole before it is handled):
a client with no token could make the gateway hold a 64 MiB frame or a 100 MiB message
sent in 8 KB continuation frames. :class:`FrameLimit` follows the frame headers (RFC 6455
5.2) in the bytes the library reads from the client, and refuses a frame whose header
announces more than the limit, or a continuation that takes its message past it, as soon
as the header has arrived, before its payload is read. The client gets a close frame with
code 1009 (message too big).

Under gevent our reader feeds it what it reads (``transport.reader``). Under eventlet the
limit sits on the socket the library reads from (:class:`LimitedSocket`, handed over in
``eventlet.input``); it carries a few integers per connection.
"""

from __future__ import annotations

import struct

CLOSE_MESSAGE_TOO_BIG = 1009
_CONTROL = 0x8  # opcodes 0x8-0xF: close, ping, pong (at most 125 bytes, never fragmented)


class MessageTooBig(Exception):
    """A frame or a message of a WebSocket client passes the size limit."""


class FrameLimit:
    """Follows the frames in a client's byte stream; refuses oversized frames and messages.

    Fed every byte read from the client, in pieces of any size, in order. The state is the
    header bytes collected so far (at most 14), the payload still to skip, and the size of
    the message being assembled.
    """

    __slots__ = ("_header", "_payload_left", "_message", "_max", "refused")

    def __init__(self, max_bytes: int):
        self._max = max_bytes
        self._header = b""
        self._payload_left = 0
        self._message = 0  # payload bytes of the unfinished data message so far
        self.refused = False

    def feed(self, data: bytes) -> None:
        """Account for ``data``; raise :class:`MessageTooBig` once a header passes the limit."""
        view, at, end = memoryview(data), 0, len(data)
        while at < end:
            if self._payload_left:
                step = min(self._payload_left, end - at)
                self._payload_left -= step
                at += step
                continue
            need = self._header_size(self._header + bytes(view[at : at + 2]))
            take = min(need - len(self._header), end - at)
            self._header += bytes(view[at : at + take])
            at += take
            if len(self._header) == need:
                self._end_of_header()

    @staticmethod
    def _header_size(start: bytes) -> int:
        if len(start) < 2:
            return 2
        code, masked = start[1] & 0x7F, start[1] & 0x80
        return 2 + (2 if code == 126 else 8 if code == 127 else 0) + (4 if masked else 0)

    def _end_of_header(self) -> None:
        header, self._header = self._header, b""
        first, code = header[0], header[1] & 0x7F
        if code == 126:
            length = struct.unpack_from("!H", header, 2)[0]
        elif code == 127:
            length = struct.unpack_from("!Q", header, 2)[0]
        else:
            length = code
        opcode, fin = first & 0x0F, first & 0x80
        if not opcode & _CONTROL:  # data: text, binary or continuation
            total = (self._message if opcode == 0 else 0) + length
            if total > self._max:
                self.refused = True
                raise MessageTooBig(
                    f"a WebSocket message of more than {self._max} bytes "
                    f"({'continued to ' if opcode == 0 else ''}{total} announced)"
                )
            self._message = 0 if fin else total
        self._payload_left = length


class LimitedSocket:
    """eventlet: the client's green socket, its reads checked by a :class:`FrameLimit`.

    eventlet's WebSocket reads with ``recv``; everything else (writes, ``fd``, options)
    goes to the socket itself. A refused frame closes the connection with 1009 and ends
    the read with eventlet's own ``FailedConnectionError``, which its WebSocket answers
    with the same close code.
    """

    __slots__ = ("_sock", "_limit")

    def __init__(self, sock, max_bytes: int):
        self._sock = sock
        self._limit = FrameLimit(max_bytes)

    def recv(self, size: int, *flags) -> bytes:
        data = self._sock.recv(size, *flags)
        try:
            self._limit.feed(data)
        except MessageTooBig as exc:
            from eventlet.websocket import FailedConnectionError

            raise FailedConnectionError(CLOSE_MESSAGE_TOO_BIG, str(exc)[:120]) from None
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)
