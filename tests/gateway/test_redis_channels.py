"""The gateway uses no Socket.IO message queue: every emit is local to the replica that
serves the client, and each replica reads the event log itself (docs/gateway.md)."""

import socketio

from services.gateway import create_app


def test_the_socketio_server_has_no_message_queue(settings):
    app = create_app(settings.replace(gateway_async_mode="gevent"))

    manager = app.extensions["socketio"].server.manager
    assert not isinstance(manager, socketio.PubSubManager)
