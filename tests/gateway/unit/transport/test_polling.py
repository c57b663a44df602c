"""Long-polling clients over a fake python-socketio server (its public API only)."""

from __future__ import annotations

import json
import threading
import types

import pytest
import socketio
import werkzeug.test

from services.gateway.transport.frames import Message
from services.gateway.transport.polling import ConfirmingManager, PollingClients, PollingTransport
from tests.support.waiting import wait_until

BOUND = 1000


class Server:
    """What the transport uses of python-socketio's Server, recording the calls."""

    def __init__(self):
        self.emitted, self.disconnected = [], []
        self.manager = types.SimpleNamespace(eio_sid_from_sid=lambda sid, namespace: f"eio-{sid}")

    def emit(self, event, data, *, to, namespace):
        self.emitted.append((event, data, to, namespace))

    def disconnect(self, sid, *, namespace):
        self.disconnected.append((sid, namespace))


class Runtime:
    """Tasks are kept for the test to run; events are real."""

    def __init__(self):
        self.tasks = []
        self.event = threading.Event

    def spawn(self, target, *args, **kwargs):
        self.tasks.append(lambda: target(*args, **kwargs))

    def run_tasks(self):
        while self.tasks:
            self.tasks.pop(0)()


@pytest.fixture
def server():
    return Server()


@pytest.fixture
def runtime():
    return Runtime()


@pytest.fixture
def dropped():
    return []


@pytest.fixture
def transport(server, runtime, dropped):
    t = PollingTransport(
        server, "s1", bound=BOUND, runtime=runtime, on_dropped=lambda: dropped.append(1)
    )
    t.behind = []
    t.on_behind(lambda: t.behind.append(1))
    return t


def message(size: int) -> Message:
    """An event whose WebSocket frame is ``size`` bytes long."""
    n = size - len(Message("e", "").frame)
    while n > 0 and len(Message("e", "x" * n).frame) > size:  # a longer length field
        n -= 1
    m = Message("e", "x" * n)
    assert len(m.frame) == size
    return m


def test_send_emits_the_event_to_the_client_and_counts_its_bytes(transport, server):
    m = Message("drone:event", {"serial": "D-1"})
    transport.send(m)
    transport.send_many([m, m])
    assert server.emitted == [("drone:event", {"serial": "D-1"}, "s1", "/")] * 3
    assert transport.backlog() == transport.unread() == 3 * len(m.frame)
    assert transport.eio_sid == "eio-s1" and transport.kind == "polling"


def test_past_the_bound_it_is_behind_once_until_it_polls(transport):
    transport.send(message(BOUND))
    assert transport.behind == []
    transport.send(message(20))
    transport.send(message(20))
    assert transport.behind == [1]
    transport.polled()
    assert transport.backlog() == 0
    transport.send(message(BOUND + 1))
    assert transport.behind == [1, 1]


def test_limit_in_flight_makes_it_behind_sooner_and_none_restores_the_bound(transport):
    transport.limit_in_flight(100)
    transport.send(message(101))
    assert transport.behind == [1]
    transport.polled()
    transport.limit_in_flight(None)
    transport.send(message(BOUND))
    assert transport.behind == [1]


def test_past_twice_the_bound_it_is_dropped_outside_the_fan_out(
    transport, server, runtime, dropped
):
    transport.send(message(2 * BOUND))
    assert dropped == [] and runtime.tasks == []
    transport.send(message(20))
    assert dropped == [1]
    assert server.disconnected == [] and not transport.closed  # not from inside the sender
    runtime.run_tasks()
    assert server.disconnected == [("s1", "/")] and transport.closed
    transport.send(message(20))
    assert len(server.emitted) == 2  # nothing is emitted to a closed client


def test_a_dropped_client_is_counted_and_closed_once(transport, runtime, dropped):
    transport.send_many([message(BOUND + 1)] * 3)  # the close it spawns runs after the batch
    assert dropped == [1] and len(runtime.tasks) == 1


def test_close_disconnects_once_and_wakes_waiters(transport, server):
    result = []
    waiter = threading.Thread(target=lambda: result.append(transport.wait_until(lambda: False)))
    waiter.start()
    wait_until(lambda: transport._progress._waiters, timeout=5, message="the waiter to wait")
    transport.close()
    transport.close()
    waiter.join(5)
    assert result == [False]
    assert server.disconnected == [("s1", "/")]


def test_wait_until_is_woken_by_a_poll(transport):
    transport.send(message(100))
    result = []
    waiter = threading.Thread(
        target=lambda: result.append(transport.wait_until(lambda: transport.backlog() == 0, 5))
    )
    waiter.start()
    wait_until(lambda: transport._progress._waiters, timeout=5, message="the waiter to wait")
    transport.polled()
    waiter.join(5)
    assert result == [True]


def test_wait_until_times_out_without_a_poll(transport):
    transport.send(message(100))
    assert not transport.wait_until(lambda: transport.backlog() == 0, timeout=0.05)
    assert transport.wait_until(lambda: transport.backlog() > 0, timeout=0)


def test_clients_route_polls_by_engineio_sid_and_end_removed_ones(server, runtime, dropped):
    clients = PollingClients(
        server, bound=BOUND, runtime=runtime, on_dropped=lambda: dropped.append(1)
    )
    one, two = clients.transport("s1"), clients.transport("s2")
    clients.add(one)
    clients.add(two)
    one.send(message(100))
    two.send(message(100))
    clients.polled("eio-s1")
    clients.polled("eio-unknown")  # a poll of a client that is gone: nothing happens
    assert (one.backlog(), two.backlog()) == (0, 100)

    clients.remove("s2")
    assert two.closed and server.disconnected == []  # python-socketio ended it already
    assert not two.wait_until(lambda: True, timeout=0)
    clients.polled("eio-s2")
    assert two.backlog() == 100
    for _ in range(3):
        two.send(message(BOUND))  # nothing is sent to a client that has ended
    assert dropped == [] and len(server.emitted) == 2


def test_the_manager_confirms_a_client_once_python_socketio_connected_it():
    # A real python-socketio server over WSGI, in process: a client is confirmed when the
    # server, after its connect handler, marks it connected; not before, not if refused.
    manager = ConfirmingManager()
    confirmed = []
    manager.on_confirmed = lambda sid, namespace: confirmed.append((sid, namespace))
    server = socketio.Server(client_manager=manager, async_mode="threading", async_handlers=False)
    http = werkzeug.test.Client(socketio.WSGIApp(server))
    seen_in_handler = []

    @server.on("connect")
    def connect(sid, environ, auth):
        seen_in_handler.append((sid, "/") in confirmed)
        return auth == {"token": "ok"}

    def join(token: str) -> str:
        opened = http.get("/socket.io/?EIO=4&transport=polling").text
        eio_sid = json.loads(opened[1:])["sid"]
        url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
        assert http.post(url, data="40" + json.dumps({"token": token})).status_code == 200
        return http.get(url).text  # what the server answered

    accepted, refused = join("ok"), join("bad")
    assert seen_in_handler == [False, False]  # during the handler: not yet
    assert accepted.startswith("40{") and refused.startswith("44{")
    assert confirmed == [(json.loads(accepted[2:])["sid"], "/")]  # once; the refused one never
