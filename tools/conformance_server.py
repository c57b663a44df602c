"""``python -m tools.conformance_server``: the gateway as the Socket.IO compliance suites expect it.

The official suites (``test-suite/`` of socketio/engine.io-protocol and
socketio/socket.io-protocol) talk to a server with a reference configuration (their READMEs)
and a few reference handlers. This is the gateway as ``python -m services.gateway`` runs it
(same app factory, server, transport and fast path), with:

- the reference configuration as far as :class:`Settings` can express it: ping interval and
  timeout of 1 s (the reference's 300 ms and 200 ms are below what python-engineio announces:
  it sends ``pingInterval`` as whole seconds x 1000), a 1,000,000-byte maximum payload, any
  origin, no rate limit, and a 1 s handshake timeout (the reference's ``connectTimeout``);
- the reference handlers instead of the gateway's hub: ``auth`` sent back once a client has
  joined, ``message`` echoed as ``message-back``, ``message-with-ack`` acknowledged with its
  own arguments. They are registered twice, as the gateway's handlers are:

  - with Flask-SocketIO, for long-polling clients (and ``/custom``). python-socketio confirms
    a connection after its connect handler returns (Node's server before), so ``auth`` is
    sent once the connection is confirmed (``ConfirmingManager``), as the gateway greets;
  - as :class:`ReferenceSessionHandlers`, passed to ``create_app(session_handlers=...)``, for
    our WebSocket sessions (default namespace only: ``/custom`` gets CONNECT_ERROR). A
    session acknowledges an event with one argument, the handler's answer, so an ack of
    several arguments goes out as one list (``[[1,"2",...]]``, not ``[1,"2",...]``).

Settings come from the environment (``REDIS_URL``, ``GATEWAY_PORT``, ``GATEWAY_ASYNC_MODE``);
``tools/conformance.sh`` starts a private Redis and this server and runs the suites.
"""

from services.gateway.greening import monkey_patch
from shared.settings import Settings

CONFORMANCE_OVERRIDES = dict(
    gateway_ping_interval=1,
    gateway_ping_timeout=1,
    gateway_max_message_bytes=1_000_000,
    gateway_handshake_timeout_seconds=1,  # the reference's connectTimeout: 1000
    allowed_origins=("*",),
    rate_limits_enabled=False,
)

settings = Settings.from_env(**CONFORMANCE_OVERRIDES)
monkey_patch(settings.gateway_async_mode)

# ruff: noqa: E402 - everything below must come after monkey-patching

from flask import request

from services.gateway import fastjson
from services.gateway.app import create_app
from services.gateway.server import serve
from services.gateway.sockets import SessionHandlers
from services.gateway.transport import frames
from services.gateway.transport.session import NOT_HANDLED

CUSTOM_NAMESPACE = "/custom"


class ReferenceSessionHandlers(SessionHandlers):
    """The reference handlers for our WebSocket sessions, in place of the hub's. The table
    of sessions and the handshake deadline stay the gateway's (``opened``, ``closed``)."""

    def __init__(self, gateway, sessions, deadline):
        super().__init__(gateway, sessions, deadline)
        self._joined = {}  # sid -> (session, the CONNECT's auth)

    def connect(self, session, sid, auth):
        self._joined[sid] = (session, auth or {})  # Node's handshake.auth: {} when none
        return None  # any auth is accepted

    def connected(self, sid):
        session, auth = self._joined[sid]
        session.send(frames.Message("auth", auth))

    def event(self, sid, name, args):
        if name == "message":
            # Message(event, data) is an event of one argument; the echo has as many as it got.
            payload = fastjson.dumps(["message-back", *args])
            self._joined[sid][0].send_frames(frames.sio_frame(frames.SIO_EVENT + payload))
            return NOT_HANDLED  # the reference does not acknowledge it
        if name == "message-with-ack":
            # The session acks with [answer]: one argument as itself, several as one list.
            return args[0] if len(args) == 1 else (args or None)
        return NOT_HANDLED

    def disconnect(self, sid):
        self._joined.pop(sid, None)


def reference_app(settings: Settings):
    """The gateway app with the suites' reference handlers in place of the hub's, on our
    WebSocket sessions and on python-socketio's long-polling ones."""
    from services.gateway.extensions import socketio

    app = create_app(settings, session_handlers=ReferenceSessionHandlers)

    # python-socketio confirms a connection (sends CONNECT) after the connect handler
    # returns; the reference server (Node) emits "auth" after it, as the gateway greets.
    auths: dict[tuple[str, str], dict] = {}

    def send_auth(sid, namespace):
        auth = auths.pop((sid, namespace), None)
        if auth is not None:
            socketio.emit("auth", auth, to=sid, namespace=namespace)

    socketio.server.manager.on_confirmed = send_auth

    # Node's ``socket.handshake.auth`` is ``{}`` when the CONNECT carries no payload.
    @socketio.on("connect")
    def on_connect(auth=None):
        auths[(request.sid, "/")] = auth or {}

    @socketio.on("disconnect")
    def on_disconnect(*_reason):
        pass

    @socketio.on("message")
    def on_message(*args):
        socketio.emit("message-back", args, to=request.sid)  # a tuple: several arguments

    @socketio.on("message-with-ack")
    def on_message_with_ack(*args):
        return args

    @socketio.on("connect", namespace=CUSTOM_NAMESPACE)
    def on_custom_connect(auth=None):
        auths[(request.sid, CUSTOM_NAMESPACE)] = auth or {}

    return app


if __name__ == "__main__":
    serve(settings, app_factory=reference_app)
