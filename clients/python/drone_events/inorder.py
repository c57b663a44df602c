"""python-socketio's threaded client, handling each message on its reading thread, in order.

The one place the client relies on the internals of python-socketio and python-engineio.
``engineio.Client`` hands every message to a thread of its own, so two events sent in
order can reach the handlers in the opposite order, and neither library has an option to
handle them in order (upstream: the client "does not have the option", python-socketio
#257; handlers that must not overlap are left to the application, #382). Handling them on
the reading thread keeps the gateway's order, and lets a client whose callbacks fall behind
stop reading (``max_pending``), which the gateway then sees.

Written for the major versions in :data:`WRITTEN_FOR`; ``tests/clients/test_inorder.py``
fails on any other, and on hooks that are no longer there as used here.
"""

from __future__ import annotations

import engineio
import socketio

# The distributions whose private hooks this module uses, and their major versions.
WRITTEN_FOR = {"python-engineio": 4, "python-socketio": 5}


class InOrderEngineIOClient(engineio.Client):
    """Runs message handlers on the reading thread, one after the other."""

    def _trigger_event(self, event, *args, **kwargs):
        # Except a Socket.IO DISCONNECT packet ("1..."): its handling joins the reading
        # thread, which cannot happen on that thread.
        if event == "message" and not (isinstance(args[0], str) and args[0].startswith("1")):
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderSocketIOClient(socketio.Client):
    """``socketio.Client`` on :class:`InOrderEngineIOClient`."""

    def _engineio_client_class(self):
        return InOrderEngineIOClient
