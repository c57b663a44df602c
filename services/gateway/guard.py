"""The gate in front of the Engine.IO endpoint: what a client without a token can spend.

A WSGI middleware of ours, ahead of python-engineio, so that each limit holds whatever the
transport under it:

- **New transport sessions** (a request without ``sid``): refused with 503 at once when
  the process already holds ``GATEWAY_MAX_CONNECTIONS`` Engine.IO sessions (the server
  keeps room beyond that for health checks and these refusals), and with 429 over the
  per-address connection rate limit, counted per transport session, before any session
  exists.
- **Long-polling POST bodies**: at most ``GATEWAY_MAX_MESSAGE_BYTES``, refused with 413
  from the ``Content-Length`` before a byte of the body is read (or once a chunked body
  passes it), and a body that is not an Engine.IO payload the server accepts is refused
  with 400. python-engineio answers either by disconnecting the session and waiting for a
  poll that will never come to take the close packet: the POST never got an answer and
  its socket stayed open. Here the session is closed without waiting, and the answer is
  our error shape.
- **WebSocket upgrades**: a request for the WebSocket transport (or with ``Upgrade:
  websocket``) that is not a valid opening handshake is refused with
  400 before any upgrade. Under eventlet its frames are read through
  :class:`frame_limit.LimitedSocket` (gevent: our reader checks them, ``transport.reader``).

Every refusal is ``{"error": {"code", "message"}}`` with ``Connection: close``; what was
not read of the request's body is not read (the read side of the socket is shut).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import socket
import urllib.parse

from services.gateway.frame_limit import LimitedSocket

# Engine.IO v4 packet types a client may send the server (python-engineio refuses the
# others by dropping the session): close, pong, message, upgrade; "b" is a base64 message.
_CLIENT_PACKET_TYPES = frozenset("1345")
_MAX_PACKETS = 16  # python-engineio's Payload.max_decode_packets


class Refusal(Exception):
    """A request the gate answers itself."""

    def __init__(self, status: str, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


def refusal_of_handshake(environ) -> str | None:
    """Why this upgrade request is not a WebSocket opening handshake a server may accept
    (RFC 6455 4.2.1), None if it is."""
    if environ.get("REQUEST_METHOD") != "GET":
        return "the method must be GET"
    if environ.get("HTTP_UPGRADE", "").strip().lower() != "websocket":
        return "Upgrade must be websocket"
    if "upgrade" not in environ.get("HTTP_CONNECTION", "").lower():
        return "Connection must include Upgrade"
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        return "Sec-WebSocket-Version must be 13"
    try:
        key = base64.b64decode(environ.get("HTTP_SEC_WEBSOCKET_KEY", ""), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        return "Sec-WebSocket-Key must be 16 bytes in base64"
    return None


def refusal_of_payload(body: bytes) -> str | None:
    """Why ``body`` is not a long-polling payload python-engineio takes as is (None if it is)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if not text:
        return "the body is empty"
    packets = text.split("\x1e")
    if len(packets) > _MAX_PACKETS:
        return f"more than {_MAX_PACKETS} packets in one body"
    for number, packet in enumerate(packets):
        if not packet:
            return "an empty packet"
        if packet[0] == "b":
            try:
                base64.b64decode(packet[1:], validate=True)
            except (binascii.Error, ValueError):
                return "a binary packet that is not base64"
        elif packet[0] not in _CLIENT_PACKET_TYPES:
            return f"packet type {packet[0]!r} is not one a client sends"
        elif packet[0] == "1" and number != len(packets) - 1:
            return "packets after a close packet"
    return None


def error_response(start_response, refusal: Refusal, environ):
    """Answer ``refusal`` in the error shape and close the connection without reading
    further: a client over a size limit may still be sending."""
    body = json.dumps({"error": {"code": refusal.code, "message": str(refusal)}}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    if refusal.retry_after is not None:
        headers.append(("Retry-After", str(refusal.retry_after)))
    start_response(refusal.status, headers)
    return _ThenStopReading([body], environ)


class _ThenStopReading(list):
    """A response body whose ``close`` (the server calls it once the answer is written, and
    before it would read and drop what is left of the request body) shuts the read side of
    the connection: the server then sees the end of the request at once."""

    def __init__(self, chunks, environ):
        super().__init__(chunks)
        self._environ = environ

    def close(self) -> None:
        sock = client_socket(self._environ)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)


def client_socket(environ):
    """The client's socket: gevent's handler puts it in ``gateway.socket``
    (``transport.upgrade``), eventlet gives it through ``eventlet.input``."""
    sock = environ.get("gateway.socket")
    if sock is None and "eventlet.input" in environ:
        with contextlib.suppress(Exception):
            sock = environ["eventlet.input"].get_socket()
    return sock


class _LimitedEventletInput:
    """``eventlet.input`` handing eventlet's WebSocket a socket whose reads are limited."""

    __slots__ = ("_input", "_sock")

    def __init__(self, inner, max_bytes: int):
        self._input = inner
        self._sock = LimitedSocket(inner.get_socket(), max_bytes)

    def get_socket(self):
        return self._sock

    def __getattr__(self, name):
        return getattr(self._input, name)


def transport_guard(
    app,
    *,
    path: str,
    max_message_bytes: int,
    max_sessions: int,
    session_count,
    allow_session,
    allow_origin,
    close_session,
    on_refused,
):
    """Wrap the WSGI ``app`` (Flask with python-socketio's middleware) with the gate.

    ``session_count()`` is the number of Engine.IO sessions the process holds,
    ``allow_session(remote_addr)`` the per-address rate limit, ``allow_origin(environ)``
    the check of a browser's Origin, ``close_session(sid)``
    closes one session without waiting, ``on_refused(code)`` counts a refusal.
    Returns a function (see ``app._as_function``).
    """
    prefix = path.rstrip("/")

    def guarded(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(prefix):
            return app(environ, start_response)
        try:
            _check(environ)
        except Refusal as refusal:
            on_refused(refusal.code)
            return error_response(start_response, refusal, environ)
        return app(environ, start_response)

    def _check(environ) -> None:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        sid = query.get("sid", [None])[0]
        method = environ.get("REQUEST_METHOD")
        if sid is None and method == "GET":
            if not allow_origin(environ):
                # Cross-site WebSocket hijacking: a page of another site, with the user's
                # cookies, must not open a session.
                raise Refusal("403 Forbidden", "forbidden", "origin not allowed")
            if session_count() >= max_sessions:
                raise Refusal(
                    "503 Service Unavailable",
                    "over_capacity",
                    "this gateway holds as many connections as it may; retry shortly",
                    retry_after=5,
                )
            if not allow_session(environ.get("REMOTE_ADDR")):
                raise Refusal(
                    "429 Too Many Requests",
                    "rate_limited",
                    "too many connection attempts, retry later",
                    retry_after=60,
                )
        # A request for the WebSocket transport is a handshake, whatever its headers say.
        transport = query.get("transport", [None])[0]
        if transport == "websocket" or environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            if sid is not None:
                raise Refusal(
                    "400 Bad Request",
                    "bad_request",
                    "long-polling sessions are not upgraded: connect with the WebSocket directly",
                )
            why = refusal_of_handshake(environ)
            if why is not None:
                raise Refusal("400 Bad Request", "bad_request", f"not a WebSocket handshake: {why}")
            if "eventlet.input" in environ:
                environ["eventlet.input"] = _LimitedEventletInput(
                    environ["eventlet.input"], max_message_bytes
                )
        elif method == "POST" and sid is not None:
            _check_body(environ, sid)

    def _check_body(environ, sid: str) -> None:
        raw_length = environ.get("CONTENT_LENGTH") or ""
        try:
            length = int(raw_length) if raw_length else None
        except ValueError:
            length = -1
        if length is not None and length < 0:
            raise _closing(sid, "400 Bad Request", "bad_request", "invalid Content-Length")
        if length is not None and length > max_message_bytes:
            raise _closing(sid, "413 Content Too Large", "payload_too_large", _too_large())
        body = environ["wsgi.input"].read(max_message_bytes + 1 if length is None else length)
        if len(body) > max_message_bytes:
            raise _closing(sid, "413 Content Too Large", "payload_too_large", _too_large())
        why = refusal_of_payload(body)
        if why is not None:
            raise _closing(
                sid, "400 Bad Request", "bad_request", f"not an Engine.IO payload: {why}"
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

    def _too_large() -> str:
        return f"a long-polling body may hold at most {max_message_bytes} bytes"

    def _closing(sid: str, status: str, code: str, message: str) -> Refusal:
        close_session(sid)
        return Refusal(status, code, message)

    return guarded
