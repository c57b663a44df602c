"""Where the transports meet the hub: thin handlers, they hand everything to it.

- :class:`SessionHandlers`: what our WebSocket sessions call (``transport.session``).
- :func:`register`: python-socketio's handlers, for long-polling clients.
"""

from __future__ import annotations

from flask import request
from flask_socketio import ConnectionRefusedError

from services.gateway.transport.session import NOT_HANDLED
from shared import contract
from shared.auth import AuthError

CONTRACT_REQUESTS = (
    contract.SIO_SUBSCRIBE,
    contract.SIO_UNSUBSCRIBE,
    contract.SIO_HISTORY,
    contract.SIO_REFRESH,
)


def _unauthorized(gateway, exc: AuthError) -> str:
    gateway.metrics.connections_refused.labels("unauthorized").inc()
    return f"unauthorized: {exc}"


class SessionHandlers:
    """The hub's side of a WebSocket session, and the table of open sessions."""

    def __init__(self, gateway, sessions, deadline):
        self._gateway = gateway
        self._hub = gateway.hub
        self._sessions = sessions
        self._deadline = deadline

    def opened(self, session) -> None:
        self._sessions.add(session)
        self._deadline.opened(session.eio_sid)

    def connect(self, session, sid: str, auth) -> str | None:
        """Admit the client; the refusal's message if its token is not good."""
        try:
            self._hub.connect(sid, auth, session)
        except AuthError as exc:
            return _unauthorized(self._gateway, exc)
        return None

    def connected(self, sid: str) -> None:
        self._hub.greet(sid)

    def event(self, sid: str, name: str, args: list):
        answer = self._hub.handle(sid, name, args)
        return NOT_HANDLED if answer is self._hub.UNKNOWN else answer

    def disconnect(self, sid: str) -> None:
        self._hub.disconnect(sid)

    def left(self, session) -> None:
        """The client left the namespace and keeps its connection: it has the handshake
        timeout to join again, as a new session has."""
        self._deadline.opened(session.eio_sid)

    def closed(self, session) -> None:
        self._sessions.remove(session)


def register(socketio, gateway, polling, deadline) -> None:
    """Bind the contract's events to ``gateway``'s hub for python-socketio's clients;
    ``polling`` is the table of their transports (``transport.polling.PollingClients``),
    ``deadline`` the handshake deadline a client that leaves the namespace has again."""
    hub, server = gateway.hub, socketio.server
    # ``polling.ConfirmingManager``; the hub's clients are all on the default namespace.
    server.manager.on_confirmed = lambda sid, _namespace: hub.greet(sid)

    def forged() -> bool:
        # python-socketio marks a client as connected only outside its real connect and
        # disconnect handlers; a connected client that "emits" connect or disconnect is
        # forging a lifecycle event (to dodge token expiry or inflate the client count).
        return server.manager.is_connected(request.sid, "/")

    @socketio.on("connect")
    def on_connect(auth=None):
        if forged():
            return None
        transport = polling.transport(request.sid)
        try:
            hub.connect(request.sid, auth, transport)
        except AuthError as exc:
            raise ConnectionRefusedError(_unauthorized(gateway, exc)) from None
        polling.add(transport)
        # The contract's ``connected`` event: once python-socketio has confirmed the
        # connection to the client (``on_confirmed``, set above), not from this handler.

    @socketio.on("disconnect")
    def on_disconnect(*_reason):
        if not forged():
            polling.remove(request.sid)
            hub.disconnect(request.sid)
            # A client that left (rather than lost) its session: as ``SessionHandlers.left``.
            eio_sid = server.manager.eio_sid_from_sid(request.sid, "/")
            if eio_sid is not None:
                deadline.opened(eio_sid)

    for name in CONTRACT_REQUESTS:
        socketio.on(name)(_request_handler(hub, name))


def _request_handler(hub, name: str):
    def handler(*args):
        return hub.handle(request.sid, name, list(args))

    handler.__name__ = f"on_{name}"
    return handler
