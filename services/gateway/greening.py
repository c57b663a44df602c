"""Monkey-patching for the async mode, done once, first thing in a gateway process.

eventlet warns at import that it is deprecated (it is in bugfix mode upstream; gevent is the
default and what production runs). An operator who chose eventlet knows that: the warning
is silenced for that one import, by its message, through the public ``warnings`` API.
"""

from __future__ import annotations

import warnings

EVENTLET_DEPRECATION = r"\s*Eventlet is deprecated"


def import_eventlet():
    """``import eventlet`` without its deprecation warning; other warnings still show."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=EVENTLET_DEPRECATION)
        import eventlet
    return eventlet


def monkey_patch(async_mode: str) -> None:
    """Patch the standard library for ``async_mode`` (nothing to do for threading)."""
    if async_mode == "eventlet":
        import_eventlet().monkey_patch()
    elif async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
