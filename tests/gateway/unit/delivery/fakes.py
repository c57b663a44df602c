"""Fakes for the delivery unit tests: a transport, an event log, a runtime, a hub.

Nothing here starts a server, a process or Redis. Spawned tasks are recorded and run when
the test says so (``runtime.tasks.run_all()``), in order, in the test's thread. A task that
must really wait for a client's progress (``wait_until`` with no timeout, its condition
false) blocks, and only in a thread of its own (``runtime.tasks.start_next()``): the test
waits for it to register (``transport.wait_for_waiter()``) and releases it by changing what
the transport reports (``transport.set_unread(0)``).
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

from services.gateway.delivery.hub import Hub
from services.gateway.metrics import GatewayMetrics
from services.gateway.transport.frames import Message
from shared import contract
from shared.auth import Principal, TokenVerifier, mint_token
from shared.epochs import Epoch
from shared.eventlog import History, LoggedEvent, parse_stream_id
from shared.settings import Settings
from tests.conftest import TEST_SECRET

# Failsafe of every wait between the test and a task's thread: a bug ends in a failure,
# never in a hung run. Nothing waits this long when the code under test is right.
WAIT_LIMIT = 5.0
EPOCH = "epoch-1"
BASE_MS = 1_764_252_000_000


class FakeTransport:
    """Records what delivery sends; reports backlog/unread as the test sets them."""

    def __init__(self):
        self.messages: list[Message] = []
        self.writes: list[list[Message]] = []  # one entry per send / send_many call
        self.closes: list[bool] = []  # the ``abort`` of each close()
        self.goodbyes: list[bool] = []  # whether each close() said goodbye (Socket.IO)
        self.closed = False
        self.in_flight_limit: object = "unset"
        self.waiters: list = []  # conditions a task blocked on (or timed out on)
        self._backlog = 0
        self._unread = 0
        self._behind = None
        self._behind_after_send = False
        self._cond = threading.Condition()

    # --- what delivery calls -----------------------------------------------------------
    def send(self, message: Message) -> None:
        self._write([message])

    def send_many(self, messages) -> None:
        self._write(list(messages))

    def _write(self, messages: list[Message]) -> None:
        self.messages.extend(messages)
        self.writes.append(messages)
        if self._behind_after_send:  # the writer queues the frames, then reports
            self._behind_after_send = False
            self.report_behind()

    def backlog(self) -> int:
        return self._backlog

    def unread(self) -> int:
        return self._unread

    def limit_in_flight(self, max_bytes) -> None:
        self.in_flight_limit = max_bytes

    def on_behind(self, callback) -> None:
        self._behind = callback

    def wait_until(self, condition, timeout: float | None = None) -> bool:
        with self._cond:
            if condition():
                return True
            self.waiters.append(condition)
            self._cond.notify_all()
            if timeout is not None:
                return False  # as if the timeout passed: nobody waits in a unit test
            if threading.current_thread() is threading.main_thread():
                raise AssertionError("a task blocked in the test's thread: use start_next()")
            if not self._cond.wait_for(lambda: condition() or self.closed, WAIT_LIMIT):
                raise AssertionError("a task waited for a client's progress that never came")
            self.waiters.remove(condition)
            return condition()

    def close(self, *, abort: bool = False, goodbye: bool = True) -> None:
        with self._cond:
            self.closes.append(abort)
            self.goodbyes.append(goodbye and not abort)
            self.closed = True
            self._cond.notify_all()

    # --- what the test calls ------------------------------------------------------------
    def report_behind(self) -> None:
        """The writer's report that the client fell behind (as from its own task)."""
        self._behind()

    def behind_on_next_send(self) -> None:
        """Report the client behind from inside its next send (during a delivery)."""
        self._behind_after_send = True

    def set_unread(self, unread: int, backlog: int | None = None) -> None:
        with self._cond:
            self._unread = unread
            if backlog is not None:
                self._backlog = backlog
            self._cond.notify_all()

    def wait_for_waiter(self) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.waiters, WAIT_LIMIT):
                raise AssertionError("no task waited for this client")

    # --- reading what was sent ----------------------------------------------------------
    def named(self, event: str) -> list:
        return [m.data for m in self.messages if m.event == event]

    def event_ids(self) -> list[str]:
        """The ids of the drone events and broadcasts sent, in order."""
        kinds = (contract.SIO_DRONE_EVENT, contract.SIO_SYSTEM_BROADCAST)
        return [json.loads(m.data)["id"] for m in self.messages if m.event in kinds]


class FakeEventLog:
    """The event log's read API over a list of :class:`LoggedEvent`."""

    def __init__(self):
        self.events: list[LoggedEvent] = []
        self.epoch_id: str | None = EPOCH
        self.ready = True  # False: the snapshot state is being rebuilt
        self.states: dict[str, dict] = {}
        self.last_generated = "0-0"
        self.trimmed = False
        self.range_reads = 0

    def append(self, serial: str = "") -> LoggedEvent:
        """A new event of drone ``serial`` ("" for a system broadcast), as the log holds it."""
        event_id = f"{max(BASE_MS, parse_stream_id(self.last_generated)[0]) + 1}-0"
        body = json.dumps({"type": "drone.updated", "serial": serial or None})
        event = LoggedEvent(event_id, serial, body, self.epoch_id or "")
        self.events.append(event)
        self.last_generated = event_id
        return event

    def append_many(self, serials) -> list[LoggedEvent]:
        return [self.append(serial) for serial in serials]

    def trim_through(self, event_id: str) -> None:
        """Drop the events up to ``event_id`` (the stream's trimming by count or age)."""
        pos = parse_stream_id(event_id)
        self.events = [e for e in self.events if parse_stream_id(e.id) > pos]
        self.trimmed = True

    def range_after(self, after: str, count: int, until: str = "+") -> list[LoggedEvent]:
        self.range_reads += 1
        low = parse_stream_id(after)
        high = None if until == "+" else parse_stream_id(until)
        held = [e for e in self.events if parse_stream_id(e.id) > low]
        return [e for e in held if high is None or parse_stream_id(e.id) <= high][:count]

    def epoch(self) -> Epoch | None:
        if self.epoch_id is None:
            return None
        return Epoch(self.epoch_id, "0-0", self.last_generated, self.ready)

    def history_since(self, since: str) -> History:
        pos, epoch = parse_stream_id(since), self.epoch()
        if pos is None or epoch is None:
            return History(False, "lost", epoch)
        if pos > parse_stream_id(self.last_generated):
            return History(False, "ahead", epoch)
        oldest = parse_stream_id(self.events[0].id if self.events else self.last_generated)
        return History(not self.trimmed or pos >= oldest, "", epoch)

    def snapshot(self, serials=None) -> list[str]:
        chosen = self.states if serials is None else {s: self.states[s] for s in serials}
        return [json.dumps(doc) for doc in chosen.values() if doc is not None]


class Tasks:
    """The runtime's spawned tasks, run when the test says so."""

    def __init__(self):
        self.pending: list[tuple] = []
        self.sleeps: list[float] = []

    def spawn(self, fn, *args):
        self.pending.append((fn, args))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def run_all(self, limit: int = 1000) -> None:
        """Run the pending tasks (and those they spawn) in order, in the test's thread."""
        for _ in range(limit):
            if not self.pending:
                return
            fn, args = self.pending.pop(0)
            fn(*args)
        raise AssertionError("tasks keep spawning tasks")

    def start_next(self) -> threading.Thread:
        """Run the next pending task in a thread of its own (it may block); :meth:`join`
        re-raises what it raised."""
        fn, args = self.pending.pop(0)

        def run():
            try:
                fn(*args)
            except BaseException as exc:  # handed to the test's thread
                thread.error = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.error = None
        thread.start()
        return thread

    def join(self, thread: threading.Thread) -> None:
        thread.join(WAIT_LIMIT)
        assert not thread.is_alive(), "the task did not end"
        if thread.error is not None:
            raise thread.error


def make_runtime() -> SimpleNamespace:
    tasks = Tasks()
    return SimpleNamespace(spawn=tasks.spawn, sleep=tasks.sleep, event=threading.Event, tasks=tasks)


def make_settings(**changes) -> Settings:
    """Gateway settings for unit tests: the test secret, no replay memory, small pages."""
    defaults = dict(
        jwt_secret=TEST_SECRET,
        gateway_replay_batch=3,
        gateway_replay_cache_bytes=0,
        gateway_max_client_backlog_bytes=1000,
        gateway_max_subscriptions=5,
    )
    return Settings(**{**defaults, **changes})


def token(subject: str = "alice", role: str = "viewer", drones="*", ttl: int = 3600) -> str:
    return mint_token(TEST_SECRET, role, subject, drones, ttl_seconds=ttl)


def principal(subject: str = "alice", drones=None) -> Principal:
    return Principal(subject, "viewer", drones, time.time() + 3600)


def sample(metrics: GatewayMetrics, name: str, **labels) -> float:
    """The value of one of the metrics' samples (0 when it has none yet)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


class Gateway:
    """A hub over fakes (live once :meth:`go_live` is called), and the tests' steps."""

    def __init__(self, **settings):
        self.log = FakeEventLog()
        self.settings = make_settings(**settings)
        self.metrics = GatewayMetrics()
        self.runtime = make_runtime()
        self.tasks: Tasks = self.runtime.tasks
        self.hub = Hub(
            self.log, TokenVerifier(self.settings), self.settings, self.metrics, self.runtime
        )

    def go_live(self) -> None:
        """The relay starts at the log's end, in its epoch."""
        self.hub.go_live(self.log.last_generated, self.log.epoch_id)

    def connect(self, sid: str = "s1", tok: str | None = None, **claims):
        transport = FakeTransport()
        client = self.hub.connect(sid, {"token": tok or token(**claims)}, transport)
        return client, transport

    def subscribe(self, sid: str, **payload) -> dict:
        return self.hub.handle(sid, contract.SIO_SUBSCRIBE, [payload])

    def publish(self, *serials: str) -> list[LoggedEvent]:
        """Append events to the log and deliver them live, in one delivery."""
        events = self.log.append_many(serials)
        self.hub.deliver(events)
        return events
