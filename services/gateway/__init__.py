"""The broadcast gateway: pushes the API's events from Redis to Socket.IO clients.

This package imports nothing at load time: ``python -m services.gateway`` must be able to
monkey-patch (eventlet, gevent) before Flask, redis or socket are imported.
"""


def create_app(settings=None):
    """Build a gateway app (see :func:`services.gateway.app.create_app`)."""
    from services.gateway.app import create_app as _create_app

    return _create_app(settings)
