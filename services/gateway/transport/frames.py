"""What goes on the wire of a WebSocket session: RFC 6455 frames holding Engine.IO v4
packets holding Socket.IO v5 packets, all as text.

A message sent to many clients is one :class:`Message`: its frame is built once and shared
by every recipient.
"""

from __future__ import annotations

import struct

from services.gateway import fastjson

_FIN_TEXT = 0x81
_FIN_CLOSE = 0x88

# Engine.IO v4 packet types (github.com/socketio/engine.io-protocol).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = "0123456"
# Socket.IO v5 packet types (github.com/socketio/socket.io-protocol).
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR = "01234"


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented server text frame (RFC 6455 5.2)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((_FIN_TEXT, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, n)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, n)
    return header + payload


def close_frame(code: int = 1000) -> bytes:
    """A close frame with a status code (RFC 6455 5.5.1)."""
    return struct.pack("!BBH", _FIN_CLOSE, 2, code)


def sio_frame(sio_packet: str) -> bytes:
    """A Socket.IO packet in an Engine.IO message in a frame."""
    return text_frame(EIO_MESSAGE + sio_packet)


def event_frame(event: str, data) -> bytes:
    """The frame of the Socket.IO event ``event`` with ``data`` to the default namespace;
    ``data`` may be a :class:`~services.gateway.fastjson.RawJSON` envelope, inserted as is."""
    return sio_frame(SIO_EVENT + fastjson.dumps([event, data]))


def ack_frame(ack_id: int, args: list) -> bytes:
    return sio_frame(f"{SIO_ACK}{ack_id}" + fastjson.dumps(args))


PING_FRAME = text_frame(EIO_PING)


class Message:
    """An event for one or many clients: each transport takes what it needs of it (the
    WebSocket its frame, built here once and shared; long-polling the event and data, for
    python-socketio)."""

    __slots__ = ("event", "data", "frame")

    def __init__(self, event: str, data):
        self.event = event
        self.data = data
        self.frame = event_frame(event, data)
