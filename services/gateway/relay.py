"""The relay: follows the event log in Redis and hands every new event to the hub.

It reads the stream with a blocking XREAD from the last position it delivered, so a
gateway that loses Redis for a while resumes exactly where it stopped once Redis is back
(python-socketio #1581 and #281 are how a plain pub/sub listener silently dies instead).
"""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)


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
                    # Start live from the newest event: older ones are for resuming clients.
                    self._hub.go_live(self._log.last_id())
                    started = True
                events = self._log.read(
                    self._hub.position, count=self._batch, block_ms=self._block_ms
                )
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
            if events:
                try:
                    self._hub.deliver(events)
                except Exception:  # noqa: BLE001 - one bad event must not stop delivery
                    log.exception("delivery of %d events failed", len(events))
                if len(events) == self._batch:
                    # More are waiting: let the writers and the clients' requests run first.
                    self._sleep(0)
