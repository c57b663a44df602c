"""Serving the gateway app in the chosen async mode, with a graceful stop on SIGTERM.

- gevent (the default, what production runs): gevent's WSGI server with our handler, whose
  WebSockets our endpoint takes over (``transport.upgrade``).
- eventlet: eventlet's WSGI server (gunicorn 27 no longer ships an eventlet worker).

(A threading mode would cost a thread per connection and none of our transport: it was
dropped.)

On SIGTERM or SIGINT the gateway stops accepting connections, asks every client to
reconnect elsewhere, closes their transports and exits within the grace period.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import signal
import threading

from services.gateway.app import create_app, wsgi_entry
from shared.logs import configure_logging
from shared.settings import Settings

log = logging.getLogger(__name__)


def serve(settings, app_factory=create_app) -> None:
    """Run until SIGTERM/SIGINT. ``app_factory`` builds the app (the conformance server
    passes one that adds the reference handlers of the Socket.IO compliance suites)."""
    configure_logging("gateway", settings.log_level)
    _raise_open_files_limit(settings)
    app = app_factory(settings)
    gateway = app.extensions["gateway"]
    gateway.metrics.watch_gc()
    # What start-up built (modules, the app) lives as long as the process: out of the
    # collector's sight, it no longer lengthens every full collection.
    gc.collect()
    gc.freeze()
    address = (settings.gateway_host, settings.gateway_port)
    log.info(
        "gateway listening on http://%s:%d (async mode %s)", *address, settings.gateway_async_mode
    )
    {"eventlet": _serve_eventlet, "gevent": _serve_gevent}[settings.gateway_async_mode](
        app, gateway, address, settings
    )
    log.info("gateway stopped")


def _serve_eventlet(app, gateway, address, settings) -> None:
    import eventlet
    from eventlet import wsgi
    from eventlet.event import Event

    listener = eventlet.listen(address)
    stopping = Event()
    _on_signals(lambda: stopping.ready() or stopping.send())
    server = eventlet.spawn(
        wsgi.server,
        listener,
        wsgi_entry(app),
        protocol=_small_buffers(wsgi.HttpProtocol),
        log_output=False,
        keepalive=True,
        # How long a client may take to send a request (or stay idle between two). A
        # WebSocket then reads with the heartbeat's timeout instead (python-engineio).
        socket_timeout=settings.gateway_handshake_timeout_seconds,
        # One WebSocket holds one request for its lifetime; eventlet's default cap is 1,024.
        max_size=pool_size(settings.gateway_max_connections),
    )
    gateway.start()
    stopping.wait()
    _stop(gateway, listener.close)
    server.kill()


def _small_buffers(protocol):
    """eventlet's HTTP protocol with 256-byte buffers instead of 8 KiB + 16 KiB per connection.

    A WebSocket keeps its connection's buffers for life but only the handshake goes
    through them (eventlet's WebSocket reads and writes the socket itself): the default
    sizes were 40% of the memory of an idle connection.
    """
    return type("SmallBufferHttpProtocol", (protocol,), {"rbufsize": 256, "wbufsize": 256})


def _serve_gevent(app, gateway, address, settings) -> None:
    import gevent
    from gevent import pywsgi
    from gevent.event import Event

    from services.gateway.transport import upgrade

    # gevent records where every greenlet was spawned (a stack of frames per connection
    # task), for debugging only.
    gevent.config.track_greenlet_tree = False
    server = pywsgi.WSGIServer(
        address,
        wsgi_entry(app),
        handler_class=upgrade.handler_class(
            request_timeout=settings.gateway_handshake_timeout_seconds
        ),
        log=None,
        # A pool of that many request tasks (a WebSocket leaves its task at the upgrade).
        spawn=pool_size(settings.gateway_max_connections),
    )
    stopping = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stopping.set)
    server.start()
    gateway.start()
    stopping.wait()
    _stop(gateway, server.close)
    server.stop(timeout=1)


def pool_size(max_connections: int) -> int:
    """Connections the server takes at once: the sessions it serves and room beyond them
    for health checks, metrics and the 503 that refuses a session over the limit
    (``guard``): a server that stops accepting at its cap leaves all of them waiting."""
    return max_connections + max(64, max_connections // 20)


# Descriptors a process needs besides its clients: Redis, the listener, logs, libraries.
RESERVED_FILES = 100


def _raise_open_files_limit(settings) -> None:
    """Raise the soft open-files limit to the hard one: each connection is a descriptor.

    Many systems start processes with a soft limit of 1,024, far below what one gateway
    serves; the hard limit is what the operator (ulimit, container runtime) allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    limit = None if soft == resource.RLIM_INFINITY else soft
    default_cap = Settings.__dataclass_fields__["gateway_max_connections"].default
    warning = open_files_warning(
        limit,
        settings.gateway_max_connections,
        default_cap=default_cap,
        production=settings.is_production,
    )
    if warning:
        log.warning(warning)
    elif limit is not None and limit < settings.gateway_max_connections + RESERVED_FILES:
        log.debug(
            "open-files limit %d: this process serves up to %d connections",
            limit,
            limit - RESERVED_FILES,
        )


def open_files_warning(
    limit: int | None, connections: int, *, default_cap: int, production: bool
) -> str | None:
    """What to tell the operator when ``limit`` open files cannot hold ``connections``.

    It matters when someone chose the cap (GATEWAY_MAX_CONNECTIONS set to something else
    than the default) or in production, where the cap is the capacity planned per replica.
    A development run with the default cap on a machine whose hard limit is about the
    same (20,000 is common) would warn on every start about connections nobody opens.
    """
    if limit is None or limit >= connections + RESERVED_FILES:
        return None
    if connections == default_cap and not production:
        return None
    return (
        f"open-files limit {limit} lets this process serve about {limit - RESERVED_FILES} "
        f"connections, fewer than GATEWAY_MAX_CONNECTIONS={connections}: raise the hard "
        "limit (ulimit -Hn, the container runtime's nofile) or lower GATEWAY_MAX_CONNECTIONS"
    )


def _on_signals(callback) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: callback())


def _stop(gateway, close_listener) -> None:
    """Close the listener first, so no new client lands on a replica that is leaving."""
    watchdog = threading.Timer(gateway.settings.shutdown_grace_seconds, os._exit, (0,))
    watchdog.daemon = True
    watchdog.start()
    gateway.hub.accepting = False
    close_listener()
    gateway.shutdown()
