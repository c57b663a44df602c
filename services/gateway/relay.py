"""The relay: follows the event log in Redis and hands every new event to the hub.

It reads the stream with a blocking XREAD from the last position it delivered, so a
gateway that loses Redis for a while resumes exactly where it stopped once Redis is back
(python-socketio #1581 and #281 are how a plain pub/sub listener silently dies instead).

A relay that lags so far behind that the stream's trimming overtakes its position would
read on past the gap: it checks after each read and the hub then sends the clients that
had events of this replica away to resume (``Hub.overtaken``), to learn ``recovered: false``.

It also follows the history's epoch (``shared.epochs``): each entry carries the epoch it was
appended in, and the epoch is read about every ``EPOCH_CHECK_SECONDS``, so a Redis that lost
its history is noticed before an event of the new epoch is delivered (``Hub.change_epoch``).
"""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)

EPOCH_CHECK_SECONDS = 0.5


class EventRelay:
    """Reads the log from the hub's position and delivers, reconnecting with backoff."""

    def __init__(
        self,
        open_log,
        hub,
        metrics,
        sleep,
        block_ms: int = 1000,
        batch: int = 100,
        max_backoff: float = 5.0,
    ):
        # The log on a connection of the relay's own (``Gateway``), opened in ``run``: in
        # this process, and through the same backoff when Redis is not there yet.
        self._open_log = open_log
        self._log = None
        self._hub = hub
        self._metrics = metrics
        self._sleep = sleep
        self._block_ms = block_ms
        self._batch = batch
        self._max_backoff = max_backoff
        self._stopped = False
        self.healthy = False
        self.last_ok = 0.0
        self._epoch_checked = 0.0
        # Where live delivery started, and the stream's entries-added then: the exact
        # test of a gap right after it (the entry at that id may be trimmed already).
        self._start = ""
        self._added_at_start: int | None = None

    def stop(self) -> None:
        self._stopped = True

    def run(self) -> None:
        """Loop until :meth:`stop`: read, deliver, and ride out Redis outages."""
        backoff = 0.1
        started = False
        while not self._stopped:
            try:
                if self._log is None:
                    self._log = self._open_log()
                if not started:
                    # Start live after the newest id ever handed out, older events being for
                    # resuming clients; not after the newest entry held, which trimming may
                    # have removed (an emptied stream would read as "0-0", and the next
                    # event as a gap).
                    epoch = self._log.epoch()
                    start, self._added_at_start = self._log.live_position()
                    self._start = start
                    self._hub.go_live(start, epoch.id if epoch else None)
                    self._epoch_checked = time.monotonic()
                    started = True
                elif (
                    not self.healthy or time.monotonic() - self._epoch_checked > EPOCH_CHECK_SECONDS
                ):
                    self._check_epoch()
                position = self._hub.position
                events = self._log.read(position, count=self._batch, block_ms=self._block_ms)
                # Read first, then check: trimming may have overtaken the position while
                # this replica lagged (a burst, a stall), and then the read skipped events.
                added = self._added_at_start if position == self._start else None
                overtaken = bool(events) and self._log.trimmed_after(position, added)
            except redis.RedisError as exc:
                if self.healthy:
                    log.warning("event log unreachable, retrying: %s", exc)
                self.healthy = False
                self._metrics.redis_reconnects.inc()
                self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if not self.healthy:
                log.info("event log reachable, delivering from %s", self._hub.position)
            self.healthy = True
            self.last_ok = time.monotonic()
            backoff = 0.1
            if overtaken:
                # Its clients would get the events after the gap as if none were missing.
                self._hub.overtaken(position)
            if events:
                try:
                    self._deliver(events)
                except redis.RedisError as exc:
                    log.warning("event log unreachable while changing epoch: %s", exc)
                    continue
                except Exception:  # noqa: BLE001 - one bad event must not stop delivery
                    log.exception("delivery of %d events failed", len(events))
                if len(events) == self._batch:
                    # More are waiting: let the writers and the clients' requests run first.
                    self._sleep(0)

    def _check_epoch(self) -> None:
        """Read the epoch; tell the hub when it is not the one live delivery is in."""
        self._epoch_checked = time.monotonic()
        epoch = self._log.epoch()
        current = epoch.id if epoch else None
        if current != self._hub.epoch:
            self._hub.change_epoch(current, epoch.start if epoch else None)

    def _deliver(self, events) -> None:
        """Deliver ``events``, changing epoch first where one of another epoch begins."""
        start = 0
        for i, event in enumerate(events):
            # Entries appended before epochs existed carry none: they belong to any.
            if event.epoch and event.epoch != self._hub.epoch:
                if i > start:
                    self._hub.deliver(events[start:i])
                epoch = self._log.epoch()
                known = epoch is not None and epoch.id == event.epoch
                self._hub.change_epoch(event.epoch, epoch.start if known else None)
                self._epoch_checked = time.monotonic()
                start = i
        if start < len(events):
            self._hub.deliver(events[start:])
