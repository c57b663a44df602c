"""The gateway's app factory."""

from __future__ import annotations

import types

from flask import Flask

from shared.contract import SOCKETIO_PATH
from shared.proxies import trust_proxies
from shared.settings import Settings


def _origin_check(allowed: tuple[str, ...]):
    """Allow the configured origins and the gateway's own (the test page); refuse the rest.

    Clients that send no Origin (detectors, servers) are not browsers and are let through;
    a browser on another site is refused, which stops cross-site WebSocket hijacking.
    """
    allowed_set = frozenset(allowed)

    def check(origin, environ) -> bool:
        if origin is None or origin in allowed_set or "*" in allowed_set:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == own

    return check


def _without_compression_offer(wsgi_app):
    """Drop the client's permessage-deflate offer before the WebSocket server sees it.

    Browsers offer compression on every connection; a server that accepts compresses each
    message separately for each client, which costs more CPU than the whole fan-out.
    """
    call = _as_function(wsgi_app)

    def without_compression_offer(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return call(environ, start_response)

    return without_compression_offer


def _as_function(wsgi_app):
    """``wsgi_app`` as a function or bound method, which CPython calls without a new C
    stack frame; a call to a callable object (a middleware instance) takes one, about
    700 bytes, and under eventlet a WebSocket's reader task waits under the whole WSGI
    stack for the connection's life: greenlet keeps a copy of that C stack for every idle
    connection. (Under gevent no task waits: ``transport.reader``.)"""
    if isinstance(wsgi_app, types.FunctionType | types.MethodType):
        return wsgi_app
    return wsgi_app.__call__


def wsgi_entry(app: Flask):
    """What the WSGI server calls: the app's middleware stack without ``Flask.__call__``
    (which only calls it), as a function or bound method (:func:`_as_function`)."""
    return _as_function(app.wsgi_app)


def _serve_sessions(app: Flask, socketio, gateway, settings: Settings, session_handlers) -> None:
    """The Socket.IO endpoint (``transport.endpoint``) behind the gate (``guard``): our
    WebSocket sessions and python-socketio's long-polling ones, with the handshake
    deadline and the limits of a client without a token over both."""
    from services.gateway import sockets
    from services.gateway.guard import transport_guard
    from services.gateway.handshake import HandshakeDeadline, on_new_sessions
    from services.gateway.transport import endpoint
    from services.gateway.transport.pinger import Pinger
    from services.gateway.transport.polling import PollingClients

    server, runtime = socketio.server, gateway.runtime
    eio, refused = server.eio, gateway.metrics.connections_refused
    dropped = gateway.metrics.slow_clients_dropped.inc
    sessions = endpoint.Sessions()
    polling = PollingClients(
        server, bound=settings.gateway_max_client_backlog_bytes, runtime=runtime, on_dropped=dropped
    )

    def joined(eio_sid: str) -> bool:
        session = sessions.get(eio_sid)
        if session is not None:
            return session.sid is not None
        return server.manager.sid_from_eio_sid(eio_sid, "/") is not None

    def close_session(eio_sid: str) -> bool:
        session = sessions.get(eio_sid)
        if session is not None:
            session.close()
            return True
        sock = eio.sockets.get(eio_sid)
        if sock is None or sock.closed or sock.closing:
            return False
        sock.close(wait=False, abort=False)  # never waits for a poll to take the close
        return True

    deadline = HandshakeDeadline(
        settings.gateway_handshake_timeout_seconds,
        joined=joined,
        close=close_session,
        spawn=runtime.spawn,
        sleep=runtime.sleep,
        on_expired=refused.labels("handshake_timeout").inc,
    )
    on_new_sessions(eio, deadline.opened)
    options = endpoint.SessionOptions(settings)
    app.wsgi_app = endpoint.route(
        app.wsgi_app,
        path=SOCKETIO_PATH,
        async_mode=settings.gateway_async_mode,
        options=options,
        new_session=endpoint.session_factory(
            options,
            runtime=runtime,
            handlers=(session_handlers or sockets.SessionHandlers)(gateway, sessions, deadline),
            pinger=Pinger(settings.gateway_ping_interval, runtime),
            on_dropped=dropped,
        ),
        polled=polling.polled,
    )
    origin_allowed = _origin_check(settings.allowed_origins)
    app.wsgi_app = transport_guard(
        app.wsgi_app,
        path=SOCKETIO_PATH,
        max_message_bytes=settings.gateway_max_message_bytes,
        max_sessions=settings.gateway_max_connections,
        session_count=lambda: len(eio.sockets) + len(sessions),
        allow_session=gateway.allow_connection,
        allow_origin=lambda environ: origin_allowed(environ.get("HTTP_ORIGIN"), environ),
        close_session=close_session,
        on_refused=lambda code: refused.labels(code).inc(),
    )
    sockets.register(socketio, gateway, polling, deadline)


def create_app(settings: Settings | None = None, *, session_handlers=None) -> Flask:
    """Build a gateway app; ``app.extensions["gateway"].start()`` starts its background tasks.

    ``session_handlers(gateway, sessions, deadline)`` makes the handlers of our WebSocket
    sessions; default :class:`sockets.SessionHandlers` (the conformance server passes a
    subclass with the compliance suites' reference handlers)."""
    from services.gateway import fastjson, http
    from services.gateway.extensions import socketio
    from services.gateway.gateway import Gateway
    from services.gateway.protocol_log import protocol_logger
    from services.gateway.transport.polling import ConfirmingManager

    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = settings.gateway_max_message_bytes
    socketio.init_app(
        app,
        client_manager=ConfirmingManager(),  # when a polling client may be greeted
        async_mode=settings.gateway_async_mode,
        path=SOCKETIO_PATH,
        # No message queue: every replica reads the event log itself and sends only to
        # its own clients (docs/gateway.md, "Redis: who writes and reads what").
        cors_allowed_origins=_origin_check(settings.allowed_origins),
        max_http_buffer_size=settings.gateway_max_message_bytes,
        ping_interval=settings.gateway_ping_interval,
        ping_timeout=settings.gateway_ping_timeout,
        json=fastjson,
        # python-socketio serves long-polling only: a client that wants the WebSocket
        # connects with it directly, to our transport (``transport.endpoint``).
        allow_upgrades=False,
        # A client's requests are answered one at a time, in order, as our sessions do.
        async_handlers=False,
        manage_session=False,
        # A logger of ours, so that neither library adds its own stderr handler: one line
        # per refused input, rate limited, in the process's one format (``protocol_log``).
        logger=protocol_logger(),
        engineio_logger=protocol_logger(),
    )
    gateway = Gateway(settings, socketio)
    _serve_sessions(app, socketio, gateway, settings, session_handlers)
    app.wsgi_app = _without_compression_offer(app.wsgi_app)
    trust_proxies(app, settings.trusted_proxy_hops)  # outermost: Socket.IO sees the client
    app.extensions["gateway"] = gateway
    app.register_blueprint(http.bp)
    return app
