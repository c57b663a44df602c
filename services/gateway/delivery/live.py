"""Live delivery: each event the relay reads goes to its audience, once, in id order.

Every gateway replica reads the whole event log itself and sends only to its own clients,
so N replicas never multiply an event. ``lock`` makes "advance the position and send" and
"compare the position and join" (a subscribe, the end of a replay) mutually exclusive: a
client joins the audience at an exact position, with no gap and no duplicate at the seam.
"""

from __future__ import annotations

import threading

from services.gateway.delivery.connection import Phase
from services.gateway.fastjson import RawJSON
from services.gateway.transport.frames import Message
from shared import contract
from shared.eventlog import LoggedEvent

# Messages held back per write batch: bounds the wait of the first client of a fan-out.
BATCH_MESSAGES = 10_000


def route(event: LoggedEvent) -> tuple[str, str | None]:
    """The Socket.IO event name of a logged event, and its drone (None: a broadcast)."""
    if event.serial:
        return contract.SIO_DRONE_EVENT, event.serial
    return contract.SIO_SYSTEM_BROADCAST, None


def message_of(event: LoggedEvent) -> Message:
    """The message of a logged event: its envelope goes in as it came from Redis."""
    return Message(route(event)[0], RawJSON(event.envelope))


def wanted(targets, event: LoggedEvent) -> bool:
    """Whether subscriptions to ``targets`` take ``event``."""
    return not event.serial or contract.ALL in targets or event.serial in targets


class LiveDelivery:
    """The live position, and the fan-out of each new event to the live clients."""

    def __init__(self, audience, metrics, runtime, recent=None):
        self.audience = audience
        self.recent = recent
        self._metrics = metrics
        self.lock = threading.Lock()
        self.position = "0-0"  # id of the newest event sent live
        self.epoch: str | None = None  # the history epoch live delivery is in
        self._started = runtime.event()  # the relay has taken its starting position
        self._delivering: int | None = None  # the task inside ``deliver``, holding the lock
        self._leaving: list = []  # clients reported behind during this delivery

    def start(self, position: str, epoch: str | None = None) -> None:
        """The relay's starting position: live delivery goes on from there."""
        with self.lock:
            self.position = position
            self.epoch = epoch
        self._started.set()

    def wait_started(self, timeout: float = 5.0) -> bool:
        """A subscribe answered before the relay takes its position would join at a
        position the relay then jumps past: the events in between would reach no one."""
        return self._started.wait(timeout)

    def message(self, event: LoggedEvent) -> Message:
        return self.recent.message(event) if self.recent is not None else message_of(event)

    def in_delivery(self) -> bool:
        """Whether the calling task is inside :meth:`deliver` (and holds the lock)."""
        return self._delivering == threading.get_ident()

    def leave_now(self, client) -> None:
        """Take a client that fell behind during this delivery out of the audience at once
        (the lock is held): the rest of the batch is not sent to it."""
        client.move(Phase.LEAVING)
        self._leaving.append((client, self.position))  # what it got: its replay starts there

    def deliver(self, events: list[LoggedEvent], after_leaving) -> None:
        """Send events read live from the log to their audience.

        Each client's events of a batch go out in one write; a batch holds about
        ``BATCH_MESSAGES`` messages, so the first clients do not wait for a long fan-out.
        A single event (or so many clients that a batch holds one) is written to each
        client as soon as it is sent: the first clients read while the fan-out goes on.
        ``after_leaving(left)`` gets the clients that fell behind meanwhile, each with the
        position of the last event it was sent.
        """
        per_batch = max(1, BATCH_MESSAGES // max(1, len(self.audience)))
        with self.lock:
            if self.recent is not None:
                self.recent.extend(events)
            self._delivering = threading.get_ident()
            try:
                for start in range(0, len(events), per_batch):
                    chunk = events[start : start + per_batch]
                    if len(chunk) == 1:
                        self._send_one(chunk[0])
                    else:
                        self._send_batch(chunk)
            finally:
                self._delivering = None
                leaving, self._leaving = self._leaving, []
                for client, _ in leaving:
                    self.audience.leave(client)
        self._metrics.observe_delivered(events)
        if leaving:
            after_leaving(leaving)

    def _send_one(self, event: LoggedEvent) -> None:
        self.position = event.id
        message = self.message(event)
        live = Phase.LIVE
        for client in self.audience.of_event(route(event)[1]):
            if client.phase is live:
                client.send(message)

    def _send_batch(self, events: list[LoggedEvent]) -> None:
        pending: dict = {}
        live = Phase.LIVE
        for event in events:
            message = self.message(event)
            for client in self.audience.of_event(route(event)[1]):
                if client.phase is live:
                    held = pending.get(client)
                    if held is None:
                        pending[client] = [message]
                    else:
                        held.append(message)
        self.position = events[-1].id
        for client, messages in pending.items():
            if client.phase is live:
                client.transport.send_many(messages)
