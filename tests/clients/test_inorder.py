"""The client's one reliance on library internals (``drone_events/inorder.py``) fails here,
loudly, on library versions it was not written for or hooks that moved. (That events do
reach the handlers in order is checked against real gateways, e.g. test_python_client.)"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import threading

import engineio
import pytest
from drone_events.inorder import WRITTEN_FOR, InOrderEngineIOClient, InOrderSocketIOClient


@pytest.mark.parametrize("distribution", sorted(WRITTEN_FOR))
def test_the_libraries_are_the_major_versions_it_was_written_for(distribution):
    major = int(importlib.metadata.version(distribution).split(".")[0])
    assert major == WRITTEN_FOR[distribution], (
        f"drone_events/inorder.py was written for {distribution} {WRITTEN_FOR[distribution]}.x:"
        f" check its hooks against {major}.x, then update WRITTEN_FOR"
    )


def test_the_socketio_client_builds_the_in_order_engineio_client():
    assert type(InOrderSocketIOClient().eio) is InOrderEngineIOClient


def test_engineio_hands_messages_to_the_hook_as_a_background_task():
    # The message is handed to _trigger_event with run_async=True; _trigger_event takes
    # run_async from its keyword arguments, and runs the handler inline without it.
    reader = inspect.getsource(engineio.Client)
    assert re.search(r"_trigger_event\(\s*['\"]message['\"][^)]*run_async=True", reader)
    assert "run_async" in inspect.getsource(engineio.Client._trigger_event)

    client = InOrderEngineIOClient()
    ran_on = []
    client.on("message", lambda data: ran_on.append(threading.current_thread()))
    client._trigger_event("message", "42[]", run_async=True)  # the hook itself
    assert ran_on == [threading.current_thread()]  # inline, on the reading thread
