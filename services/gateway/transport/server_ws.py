"""The WebSocket the WSGI server hands us, for each async mode, through its public API.

The server does the HTTP upgrade and reads the client's frames (its own frame parser,
behind our frame-size limit: ``frame_limit``); we write to the TCP socket under it
ourselves, with frames built once per message (``frames``), which is what makes a fan-out
cheap. Nothing else of the server's WebSocket object is used.

- gevent: gevent-websocket's handler puts the WebSocket in ``environ["wsgi.websocket"]``
  before the app runs; ``handler.socket`` is the connection's socket.
- eventlet: ``eventlet.websocket.WebSocketWSGI`` wraps a handler and calls it with the
  WebSocket; ``socket`` is the connection's green socket, ``fd`` the OS socket under it.
"""

from __future__ import annotations

import contextlib
import socket

from services.gateway.transport.writer import RawSocket


def serve(environ, start_response, async_mode: str, options, run):
    """Run ``run(receive, raw)`` for the WebSocket of this request, for its life.

    ``receive()`` returns the client's next message (str or bytes), or None once the
    connection is closed; ``raw`` is the :class:`RawSocket` the writer writes to. A client
    silent for a ping interval and timeout (no pong) ends the read with a timeout.
    """
    silence = options.ping_interval + options.ping_timeout
    if async_mode == "gevent":
        ws = environ.get("wsgi.websocket")
        if ws is None:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"not a WebSocket request"]
        sock = ws.handler.socket
        sock.settimeout(silence)
        raw = _gevent_raw(sock)
        # The handler keeps the request's environ for the connection's life, and nothing
        # reads it once the session runs: its headers and strings (a few KB) go now.
        environ.clear()
        run(ws.receive, raw)
        return []
    from eventlet.websocket import WebSocketWSGI

    def handle(ws):
        ws.socket.settimeout(silence)
        run(ws.wait, _eventlet_raw(ws.socket))

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
