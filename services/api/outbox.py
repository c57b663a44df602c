"""The transactional outbox: events wait in their document until the event log has them.

Every mutation pushes one *batch* ``{"seq", "events", "state"?, "incident"?}`` onto the
``_outbox`` list of the document it changes, in the same atomic write. :class:`Publisher`
appends a document's pending batches to the event log in ``seq`` order and then pulls them
from the document; the log drops a batch whose ``seq`` it has applied before, so a batch
published twice (crash between append and pull, two publishers racing) lands once.

:class:`OutboxRelay` is the background thread that publishes whatever the request threads
could not (Redis down, process killed after the write).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from pymongo.errors import PyMongoError

from services.api.history import HistoryKeeper
from services.api.metrics import Metrics
from shared.eventlog import EpochMismatch, EventLog, PendingEvent

log = logging.getLogger(__name__)

PENDING = {"_outbox.0": {"$exists": True}}


@contextlib.contextmanager
def left_to_relay(step: str) -> Iterator[None]:
    """For the steps after a committed write: a database error is logged, not raised. The
    batch is in the document, so the relay completes the step; the request succeeded."""
    try:
        yield
    except PyMongoError as exc:
        log.warning(
            "%s failed on the database, the relay will retry", step, extra={"error": str(exc)}
        )


class Publisher:
    """Publishes the pending batches of one document; the one way events reach Redis."""

    def __init__(self, event_log: EventLog, incidents, metrics: Metrics, history: HistoryKeeper):
        self.event_log = event_log
        self.history = history
        self.incidents = incidents
        self.metrics = metrics
        self._down_until = 0.0
        self._backoff = 0.0

    @property
    def redis_down(self) -> bool:
        """True while a recent publish failed: request threads then leave work to the relay."""
        return time.monotonic() < self._down_until

    @property
    def retry_delay(self) -> float:
        """How long to wait before the next attempt after a failure (exponential, capped)."""
        return self._backoff

    def publish_after_write(self, collection, doc: dict[str, Any]) -> None:
        """Fast path after a write: publish now unless Redis is known to be down."""
        if not self.redis_down:
            with left_to_relay("publishing after a write"):
                self.publish(collection, doc)

    def publish(self, collection, doc: dict[str, Any]) -> bool:
        """Publish every pending batch of ``doc``, oldest first; False if Redis failed."""
        batches = sorted(doc.get("_outbox") or [], key=lambda b: b["seq"])
        done = 0
        last = ""
        try:
            for batch in batches:
                last = self._append(str(doc["_id"]), batch)
                done = batch["seq"]
        except (redis.RedisError, EpochMismatch) as exc:
            self.metrics.publish_failures.inc()
            self._mark_down()
            log.warning("event publish failed, the relay will retry", extra={"error": str(exc)})
        if done:
            self._mark_up()
            try:
                # Before the batches leave the outbox: MongoDB then knows what Redis holds.
                self.history.record(last)
            except Exception as exc:  # noqa: BLE001 - the batches stay and are published again
                log.warning("recording the published position failed", extra={"error": str(exc)})
                return False
            self._remove_published(collection, doc, done)
        return done == (batches[-1]["seq"] if batches else 0)

    def _append(self, origin: str, batch: dict[str, Any]) -> str:
        """Append one batch in the current epoch (judged again once when Redis refuses it);
        returns the epoch's newest id after it."""
        incident = batch.get("incident")
        if incident is not None:
            # Stored before it is announced, whether or not the request thread got to it.
            self.incidents.replace_one({"_id": incident["_id"]}, incident, upsert=True)
        events = [
            PendingEvent(e["body"], tuple(e["channels"]), e.get("serial", ""))
            for e in batch["events"]
        ]
        state = None
        if "state" in batch:
            state = (events[0].serial, batch["state"])
        for attempt in (1, 2):
            judge = self.history.epoch_id is None or attempt == 2
            if judge and not self.history.check():
                raise EpochMismatch("the event history is being rebuilt")
            try:
                last, ids = self.event_log.append_batch(
                    origin,
                    batch["seq"],
                    events,
                    state,
                    epoch=self.history.epoch_id,
                    published=self.history.published,
                )
                break
            except EpochMismatch:
                if attempt == 2:
                    raise
        self.metrics.events_published.inc(len(ids))
        return last

    def _remove_published(self, collection, doc: dict[str, Any], seq: int) -> None:
        collection.update_one({"_id": doc["_id"]}, {"$pull": {"_outbox": {"seq": {"$lte": seq}}}})
        if doc.get("_deleted") or doc.get("_transient"):
            # Tombstones and broadcasts only live until their events are out.
            collection.delete_one({"_id": doc["_id"], "_outbox": {"$size": 0}})

    def _mark_down(self) -> None:
        self._backoff = min(max(self._backoff * 2, 0.2), 5.0)
        self._down_until = time.monotonic() + self._backoff

    def _mark_up(self) -> None:
        self._backoff = 0.0
        self._down_until = 0.0


class OutboxRelay:
    """A thread that publishes every pending batch of ``collections`` until stopped."""

    def __init__(
        self, publisher: Publisher, collections: list, poll_seconds: float, metrics: Metrics
    ):
        self.publisher = publisher
        self.collections = collections
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OutboxRelay:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self) -> bool:
        """Check the history's epoch, then publish everything pending now; True when nothing
        is left pending."""
        # A Redis that lost its history is repaired here even when nothing is written.
        try:
            ok = self.publisher.history.check()
        except redis.RedisError as exc:
            log.warning(
                "event history unreachable, the relay will retry", extra={"error": str(exc)}
            )
            ok = False
        backlog = 0
        for collection in self.collections:
            docs = list(collection.find(PENDING).sort("_id", 1))
            for doc in docs:
                if not self.publisher.publish(collection, doc):
                    ok = False
                    backlog += len(doc.get("_outbox") or [])
        self.metrics.outbox_backlog.set(backlog)
        return ok

    def _run(self) -> None:
        delay = self.poll_seconds
        while not self._stop.wait(delay):
            try:
                ok = self.flush()
            except PyMongoError as exc:  # the database is down: one line per pass, no trace
                log.warning("outbox relay pass failed on the database", extra={"error": str(exc)})
                ok = False
            except Exception:  # noqa: BLE001 - the relay must outlive any one failure
                log.exception("outbox relay pass failed")
                ok = False
            delay = self.poll_seconds if ok else max(self.publisher.retry_delay, self.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, then publish what is still pending (graceful shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            if not self.flush():
                log.warning("events still pending at shutdown; the next start publishes them")
        except PyMongoError as exc:
            log.warning(
                "database unavailable at shutdown; the next start publishes what is pending",
                extra={"error": str(exc)},
            )
        except Exception:  # noqa: BLE001
            log.exception("outbox flush at shutdown failed")
