"""The Socket.IO endpoint: which transport serves a request, and the table of our sessions.

- ``transport=websocket`` without a ``sid`` (how every client of ours connects): a
  :class:`~.session.WebSocketSession` of ours, for the connection's life.
- a WebSocket for an existing ``sid`` (an upgrade from long-polling): refused by the gate
  (``guard``); the polling sessions offer no upgrade (``polling``).
- everything else (long-polling, bad requests): python-socketio's app; a poll tells the
  client's :class:`~.polling.PollingTransport` that it took what waited for it.
"""

from __future__ import annotations

import urllib.parse

from services.gateway.transport import server_ws
from services.gateway.transport.session import WebSocketSession
from services.gateway.transport.writer import Writer


class SessionOptions:
    """What every WebSocket session is configured with (from the settings)."""

    __slots__ = ("ping_interval", "ping_timeout", "max_message_bytes", "max_backlog", "send_buffer")

    def __init__(self, settings):
        self.ping_interval = settings.gateway_ping_interval
        self.ping_timeout = settings.gateway_ping_timeout
        self.max_message_bytes = settings.gateway_max_message_bytes
        self.max_backlog = settings.gateway_max_client_backlog_bytes
        self.send_buffer = settings.gateway_socket_send_buffer_bytes


class Sessions:
    """The WebSocket sessions of this process, by Engine.IO sid."""

    def __init__(self):
        self._by_eio_sid: dict[str, WebSocketSession] = {}

    def add(self, session: WebSocketSession) -> None:
        self._by_eio_sid[session.eio_sid] = session

    def remove(self, session: WebSocketSession) -> None:
        self._by_eio_sid.pop(session.eio_sid, None)

    def get(self, eio_sid: str) -> WebSocketSession | None:
        return self._by_eio_sid.get(eio_sid)

    def __len__(self) -> int:
        return len(self._by_eio_sid)


def route(
    socketio_app, *, path: str, async_mode: str, options: SessionOptions, new_session, polled
):
    """Wrap python-socketio's WSGI app: WebSockets are served with sessions of
    ``new_session(raw)``, polls go to ``polled(eio_sid)`` before python-socketio. Returns a
    function (see ``app._as_function``)."""
    prefix = path.rstrip("/")

    def endpoint(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(prefix):
            return socketio_app(environ, start_response)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        transport = query.get("transport", [None])[0]
        sid = query.get("sid", [None])[0]
        if transport == "websocket" and query.get("EIO", [None])[0] == "4":
            if sid is not None:  # the gate refuses it first (``guard``)
                return []
            return server_ws.serve(
                environ,
                start_response,
                async_mode,
                options,
                new_session,
            )
        if sid is not None and transport == "polling" and environ.get("REQUEST_METHOD") == "GET":
            polled(sid)
        return socketio_app(environ, start_response)

    return endpoint


def session_factory(options: SessionOptions, *, runtime, handlers, pinger, on_dropped):
    """``new_session(raw)``: a WebSocket session writing to ``raw``, for a reader to run."""

    def new_session(raw) -> WebSocketSession:
        writer = Writer(
            raw,
            bound=options.max_backlog,
            send_buffer=options.send_buffer,
            runtime=runtime,
            on_dropped=on_dropped,
        )
        return WebSocketSession(writer, options, handlers, pinger)

    return new_session
