"""``python -m services.gateway``: run one gateway process (scale with processes or pods).

This entry point is the only place that monkey-patches: eventlet or gevent must patch the
standard library before anything else opens a socket or starts a thread.
"""

from shared.settings import Settings

settings = Settings.from_env()
if settings.gateway_async_mode == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif settings.gateway_async_mode == "gevent":
    from gevent import monkey

    monkey.patch_all()

# ruff: noqa: E402 - everything below must come after monkey-patching
from services.gateway.server import serve

if __name__ == "__main__":
    serve(settings)
