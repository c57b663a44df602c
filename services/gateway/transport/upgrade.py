"""gevent: the server's request handler, and the WebSocket upgrade our endpoint completes.

gevent's WSGI server gives each connection a task that runs its requests. A WebSocket that
stayed in that task (gevent-websocket's way) kept it, its saved C stack, its frames and
the request's objects for the connection's life: 20 KB per idle client. Here the endpoint
answers the upgrade itself (:func:`accept`), takes the connection's socket away from the
server (``socket.detach``: the server sees a finished request and lets its task end) and
hands it to a :class:`~.reader.WebSocketReader`, which waits for the client without a task.

The gate (``guard``) has checked the handshake and its limits before :func:`accept` runs,
so a refused WebSocket gets its answer as plain HTTP. A client sends nothing before the
101 (RFC 6455 4.1): what a client sends early is not read.
"""

from __future__ import annotations

import base64
import hashlib

from gevent import pywsgi
from gevent import socket as green_socket

# Where the handler leaves itself in a WebSocket request's environ, for :func:`accept`.
_UPGRADE = "gateway.upgrade"
# The client's socket, for the gate (``guard.client_socket``), in every request's environ.
_SOCKET = "gateway.socket"
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3


def handler_class(*, request_timeout: float):
    """gevent's WSGI handler with a small read buffer, a deadline per request, and the
    WebSocket upgrade of :func:`accept`.

    - It reads requests through a 256-byte buffer instead of 8 KiB.
    - A client has ``request_timeout`` seconds to send each request (gevent has no timeout
      of its own); a WebSocket, once accepted, reads with the heartbeat's instead.
    """

    class Handler(pywsgi.WSGIHandler):
        def __init__(self, sock, address, server):
            sock.settimeout(request_timeout)
            super().__init__(sock, address, server, rfile=sock.makefile("rb", 256))

        def get_environ(self):
            environ = super().get_environ()
            environ[_SOCKET] = self.socket
            if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                environ[_UPGRADE] = self
            return environ

    return Handler


def accept(environ):
    """Answer the WebSocket handshake of this request with 101 and take its connection
    from the server; returns the connection's socket (gevent's), or None when the request
    did not come through :func:`handler_class`'s handler as an upgrade."""
    handler = environ.pop(_UPGRADE, None)
    if handler is None:
        return None
    key = environ["HTTP_SEC_WEBSOCKET_KEY"].encode("ascii")
    answer = base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())  # noqa: S324 - RFC 6455
    handler.socket.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + answer + b"\r\n\r\n"
    )
    # The server reads no further request on it, and closes nothing: the socket it holds
    # no longer owns the descriptor.
    handler.close_connection = True
    return green_socket.socket(fileno=handler.socket.detach())
