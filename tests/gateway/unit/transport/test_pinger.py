"""The shared pinger, driven by a fake clock (``ping_due``) and a fake sleep (``_run``)."""

from __future__ import annotations

import logging
import types

import pytest

from services.gateway.transport.pinger import Pinger


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Session:
    def __init__(self, name, pinged, closed=False, fails=False):
        self.name, self._pinged, self.closed, self._fails = name, pinged, closed, fails

    def heartbeat(self):
        self._pinged.append(self.name)
        if self._fails:
            raise RuntimeError("broken session")


class Stop(Exception):
    """Ends the pinger's loop in a test."""


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def runtime(clock):
    """Tasks are recorded, not started; sleeping advances the fake clock."""
    rt = types.SimpleNamespace(spawned=[], slept=[])

    def sleep(seconds):
        rt.slept.append(seconds)
        clock.now += seconds
        if len(rt.slept) >= rt.stop_after:
            raise Stop

    rt.stop_after = 10**9
    rt.spawn = lambda target: rt.spawned.append(target) or target
    rt.sleep = sleep
    return rt


def test_one_task_serves_every_session(clock, runtime):
    pinger = Pinger(25, runtime, clock)
    assert runtime.spawned == []
    pinger.add(Session("a", []))
    pinger.add(Session("b", []))
    assert len(runtime.spawned) == 1


def test_session_is_pinged_one_interval_after_it_was_added(clock, runtime):
    pinged = []
    pinger = Pinger(25, runtime, clock)
    pinger.add(Session("a", pinged))
    clock.now += 24.9
    assert pinger.ping_due() == 125.0 and pinged == []
    clock.now += 0.1
    assert pinger.ping_due() is None
    assert pinged == ["a"]
    assert pinger.ping_due() is None and pinged == ["a"]  # once per add


def test_due_sessions_are_pinged_in_order_and_the_next_due_time_returned(clock, runtime):
    pinged = []
    pinger = Pinger(10, runtime, clock)
    for name, at in [("a", 0), ("b", 1), ("c", 5)]:
        clock.now = 100.0 + at
        pinger.add(Session(name, pinged))
    clock.now = 111.0
    assert pinger.ping_due() == 115.0
    assert pinged == ["a", "b"]
    clock.now = 115.0
    assert pinger.ping_due() is None and pinged == ["a", "b", "c"]


def test_closed_session_is_not_pinged(clock, runtime):
    pinged = []
    pinger = Pinger(10, runtime, clock)
    pinger.add(Session("gone", pinged, closed=True))
    pinger.add(Session("here", pinged))
    clock.now += 10
    assert pinger.ping_due() is None
    assert pinged == ["here"]


def test_a_failing_session_does_not_stop_the_others(clock, runtime, caplog):
    pinged = []
    pinger = Pinger(10, runtime, clock)
    pinger.add(Session("broken", pinged, fails=True))
    pinger.add(Session("fine", pinged))
    clock.now += 10
    with caplog.at_level(logging.ERROR, logger="services.gateway.transport.pinger"):
        assert pinger.ping_due() is None
    assert pinged == ["broken", "fine"]
    assert "ping failed" in caplog.text


def test_a_crowd_of_pings_yields_every_500(clock, runtime):
    pinged = []
    pinger = Pinger(10, runtime, clock)
    for i in range(1200):
        pinger.add(Session(i, pinged))
    clock.now += 10
    pinger.ping_due()
    assert len(pinged) == 1200
    assert runtime.slept == [0, 0]


def test_loop_sleeps_until_the_next_due_at_most_a_second_at_a_time(clock, runtime):
    pinged = []
    pinger = Pinger(2.5, runtime, clock)
    pinger.add(Session("a", pinged))
    [run] = runtime.spawned
    runtime.stop_after = 5
    with pytest.raises(Stop):
        run()
    assert runtime.slept == [1.0, 1.0, 0.5, 1.0, 1.0]  # due at 2.5, then idle
    assert pinged == ["a"]


def test_loop_pings_a_late_session_without_sleeping_first(clock, runtime):
    pinged = []
    pinger = Pinger(2, runtime, clock)
    pinger.add(Session("a", pinged))
    clock.now += 7  # the task ran late
    runtime.stop_after = 1
    with pytest.raises(Stop):
        runtime.spawned[0]()
    assert pinged == ["a"] and runtime.slept == [1.0]
