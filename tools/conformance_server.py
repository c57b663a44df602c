"""``python -m tools.conformance_server``: the gateway as the Socket.IO compliance suites expect it.

The official suites (``test-suite/`` of socketio/engine.io-protocol and
socketio/socket.io-protocol) talk to a server with a reference configuration (their READMEs)
and a few reference handlers. This is the gateway as ``python -m services.gateway`` runs it
(same app factory, server, transport and fast path), with:

- the reference configuration as far as :class:`Settings` can express it: ping interval and
  timeout of 1 s (the reference's 300 ms and 200 ms are below what python-engineio announces:
  it sends ``pingInterval`` as whole seconds x 1000), a 1,000,000-byte maximum payload, any
  origin, no rate limit, and a 1 s handshake timeout (the reference's ``connectTimeout``);
- the reference handlers instead of the gateway's connect and disconnect handlers: ``auth``
  sent back on connect to ``/`` and ``/custom``, ``message`` echoed as ``message-back``,
  ``message-with-ack`` acknowledged with its own arguments. python-socketio confirms a
  connection after its connect handler returns (Node's server before), so ``auth`` is sent
  from a task once the connection is confirmed, as the gateway's own greeting is.

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
import time

from flask import request

from services.gateway.app import create_app
from services.gateway.server import serve

CUSTOM_NAMESPACE = "/custom"


def reference_app(settings: Settings):
    """The gateway app with the suites' reference handlers in place of its connect/disconnect."""
    from services.gateway.extensions import socketio

    app = create_app(settings)

    def send_auth_once_connected(sid, auth, namespace):
        # python-socketio confirms a connection (sends CONNECT) after the connect handler
        # returns; the reference server (Node) emits "auth" after it, so this waits for it.
        deadline = time.monotonic() + 5
        while not socketio.server.manager.is_connected(sid, namespace):
            if time.monotonic() > deadline:
                return
            socketio.sleep(0.005)
        socketio.emit("auth", auth, to=sid, namespace=namespace)

    # Node's ``socket.handshake.auth`` is ``{}`` when the CONNECT carries no payload.
    @socketio.on("connect")
    def on_connect(auth=None):
        socketio.start_background_task(send_auth_once_connected, request.sid, auth or {}, "/")

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
        socketio.start_background_task(
            send_auth_once_connected, request.sid, auth or {}, CUSTOM_NAMESPACE
        )

    return app


if __name__ == "__main__":
    serve(settings, app_factory=reference_app)
