"""Socket.IO event handlers: thin, they hand everything to the hub."""

from __future__ import annotations

from flask import request
from flask_socketio import ConnectionRefusedError

from shared import contract
from shared.auth import AuthError


def _single(args: tuple):
    # A payload is one argument; anything else is a malformed request.
    return args[0] if len(args) == 1 else None


def register(socketio, gateway) -> None:
    """Bind the contract's events to ``gateway``'s hub."""
    hub = gateway.hub

    def forged() -> bool:
        # python-socketio marks a client as connected only outside its real connect and
        # disconnect handlers; a connected client that "emits" connect or disconnect is
        # forging a lifecycle event (to dodge token expiry or inflate the client count).
        return socketio.server.manager.is_connected(request.sid, "/")

    @socketio.on("connect")
    def on_connect(auth=None):
        if forged():
            return None
        # The connection rate limit is counted per transport session, when it opens
        # (``guard``); a session that is refused here is closed at its handshake deadline.
        try:
            hub.connect(request.sid, auth)
        except AuthError as exc:
            gateway.metrics.connections_refused.labels("unauthorized").inc()
            raise ConnectionRefusedError(f"unauthorized: {exc}") from None

    @socketio.on("disconnect")
    def on_disconnect(*_reason):
        if not forged():
            hub.disconnect(request.sid)

    @socketio.on(contract.SIO_SUBSCRIBE)
    def on_subscribe(*args):
        return hub.subscribe(request.sid, _single(args))

    @socketio.on(contract.SIO_UNSUBSCRIBE)
    def on_unsubscribe(*args):
        return hub.unsubscribe(request.sid, _single(args))

    @socketio.on(contract.SIO_HISTORY)
    def on_history(*args):
        return hub.history(request.sid, _single(args))

    @socketio.on(contract.SIO_REFRESH)
    def on_refresh(*args):
        return hub.refresh(request.sid, _single(args))
