"""``python -m services.gateway``: run one gateway process (scale with processes or pods).

This entry point is the only place that monkey-patches: eventlet or gevent must patch the
standard library before anything else opens a socket or starts a thread.
"""

from services.gateway.greening import monkey_patch
from shared.settings import Settings

settings = Settings.from_env()
monkey_patch(settings.gateway_async_mode)

# ruff: noqa: E402 - everything below must come after monkey-patching
from services.gateway.server import serve

if __name__ == "__main__":
    serve(settings)
