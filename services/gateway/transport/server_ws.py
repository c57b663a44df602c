"""The WebSocket of a session, for each async mode, through public APIs.

We write to the TCP socket ourselves, with frames built once per message (``frames``),
which is what makes a fan-out cheap; how the client's frames are read differs:

- gevent (what production runs): the endpoint completes the upgrade itself and takes the
  connection from the server (``upgrade``); a :class:`~.reader.WebSocketReader` reads it
  without a task while the client is quiet.
- eventlet: ``eventlet.websocket.WebSocketWSGI`` wraps a handler and calls it with the
  WebSocket, for the connection's life (a task per connection); ``socket`` is the
  connection's green socket, ``fd`` the OS socket under it. Its reads go through the
  gate's frame-size limit (``guard``).
"""

from __future__ import annotations

import contextlib
import socket

from services.gateway.transport.writer import RawSocket


def serve(environ, start_response, async_mode: str, options, new_session):
    """Serve this request's WebSocket with a session ``new_session(raw)`` (``raw``: the
    :class:`RawSocket` its writer writes to), for the connection's life.

    A client silent for a ping interval and timeout (no pong) is gone: its session ends.
    """
    silence = options.ping_interval + options.ping_timeout
    if async_mode == "gevent":
        import gevent

        from services.gateway.transport import upgrade
        from services.gateway.transport.reader import WebSocketReader

        sock = upgrade.accept(environ)
        if sock is None:  # not an upgrade: the gate refuses these first (``guard``)
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"not a WebSocket request"]
        sock.settimeout(silence)
        session = new_session(_gevent_raw(sock))
        WebSocketReader(
            sock,
            session,
            loop=gevent.get_hub().loop,
            spawn=gevent.spawn_raw,
            max_message_bytes=options.max_message_bytes,
            silence=silence,
        ).start()
        return []
    from eventlet.websocket import WebSocketWSGI

    def handle(ws):
        ws.socket.settimeout(silence)
        new_session(_eventlet_raw(ws.socket)).run(ws.wait)

    return WebSocketWSGI(handle, max_frame_length=options.max_message_bytes)(
        environ, start_response
    )


def _gevent_raw(sock) -> RawSocket:
    def try_send(data) -> int:
        try:
            return sock.send(data, 0, 0.0)  # gevent: timeout 0 raises instead of waiting
        except BlockingIOError:
            return 0

    return RawSocket(try_send, sock.sendall, _no_delay(sock))


def _eventlet_raw(green) -> RawSocket:
    real = green.fd  # the non-blocking OS socket under the green one

    def try_send(data) -> int:
        try:
            return real.send(data)
        except BlockingIOError:
            return 0

    _no_delay(real)
    return RawSocket(try_send, green.sendall, real)


def _no_delay(sock):
    """Nagle's algorithm off, as Node's Socket.IO server does: with it, a small frame can
    wait for the ACK of the previous one (delayed ACK: up to 40 ms on Linux)."""
    with contextlib.suppress(OSError):  # not TCP (a Unix socket): nothing to disable
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
