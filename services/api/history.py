"""The keeper of the event history's epoch: MongoDB is the arbiter of what Redis must hold.

Every publish records, before its batches leave the outbox, the newest event id of the
epoch in MongoDB (``published``); every append passes the epoch it expects and that id, and
Redis refuses it when its epoch differs or holds less (``EventLog.append``). The keeper then
judges Redis against MongoDB (``shared.epochs.judge``): a missing epoch (Redis came back
empty) or one behind ``published`` (Redis came back from an older copy) begins a new epoch
whose ids all come after every id the lost history handed out, and the snapshot state is
rebuilt from the drones in MongoDB before the epoch is marked ready. Gateways then answer
every ``since`` from before it with ``recovered: false``.

The relay also calls :meth:`HistoryKeeper.check` on every poll, so a wipe is repaired
without waiting for a write.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from shared import epochs
from shared.epochs import Verdict
from shared.eventlog import EventLog, redis_time_ms

log = logging.getLogger(__name__)

META_ID = "history"
REBUILD_CHUNK = 500


class HistoryKeeper:
    """Keeps Redis's history epoch consistent with MongoDB, for one API process."""

    def __init__(
        self,
        event_log: EventLog,
        meta,
        live_documents: Callable[[], Iterable[tuple[str, str]]],
        on_new_epoch: Callable[[], None] | None = None,
    ):
        self.event_log = event_log
        self.meta = meta  # the collection holding the epoch and the published id
        self._live_documents = live_documents  # (serial, snapshot JSON) of every live drone
        self._on_new_epoch = on_new_epoch
        self._lock = threading.Lock()  # one check at a time in this process
        self.epoch_id: str | None = None  # the ready epoch appends go to
        self.published = "0-0"  # the newest id this process knows was published

    def check(self) -> bool:
        """Judge the epoch, repairing it when Redis lost history; True once appends may go
        on. Raises ``redis.RedisError`` when Redis cannot be reached."""
        with self._lock:
            published, known_epoch = self._read_meta()
            # Taken before Redis is read: an id recorded meanwhile (by a request thread) was
            # appended after this read, and must not count against what it returns.
            published = self.published = _newest(self.published, published)
            current = self.event_log.epoch()
            verdict = epochs.judge(current, published)
            if verdict is Verdict.NEW_EPOCH:
                # Nothing recorded anywhere yet: a new deployment, not a loss.
                first = current is None and known_epoch is None and published == "0-0"
                current = self._begin(current, first=first)
                if current is None:  # another process is at it: judged again on the next call
                    self.epoch_id = None
                    return False
            if not current.ready:
                self._rebuild(current.id)
                current = self.event_log.epoch()
                if current is None or not current.ready:
                    self.epoch_id = None
                    return False
            if current.id != known_epoch:
                self._write_meta({"epoch": current.id, "start": current.start})
            self.epoch_id = current.id
            return True

    def record(self, last_id: str) -> None:
        """``last_id`` (the epoch's newest id after an append) reached Redis: recorded before
        the batch leaves the outbox, so a Redis that loses it is found out."""
        if not last_id or epochs.parse_id(last_id) <= epochs.parse_id(self.published):
            return
        self.published = _newest(self.published, last_id)
        self.meta.update_one(
            {"_id": META_ID},
            {"$max": {"published": epochs.sortable(last_id)}},
            upsert=True,
        )

    # --- internals ------------------------------------------------------------------
    def _read_meta(self) -> tuple[str, str | None]:
        doc = self.meta.find_one({"_id": META_ID}) or {}
        return epochs.unsortable(doc.get("published")), doc.get("epoch")

    def _write_meta(self, fields: dict[str, Any]) -> None:
        self.meta.update_one({"_id": META_ID}, {"$set": fields}, upsert=True)

    def _begin(self, current: epochs.Epoch | None, *, first: bool):
        start = epochs.new_start(
            self.event_log.last_generated_id(), self.published, redis_time_ms(self.event_log.client)
        )
        new_id = uuid.uuid4().hex[:16]
        if not self.event_log.begin_epoch(current.id if current else None, new_id, start):
            return None
        if first:
            log.info("the event history begins: epoch %s from %s", new_id, start)
        else:
            log.warning(
                "the event history in Redis lost events (epoch %s, newest held %s, published %s):"
                " new epoch %s from %s; resuming clients reload their state",
                current.id if current else None,
                current.last if current else None,
                self.published,
                new_id,
                start,
            )
        if self._on_new_epoch is not None:
            self._on_new_epoch()
        self._write_meta({"epoch": new_id, "start": start})
        return self.event_log.epoch()

    def _rebuild(self, epoch_id: str) -> None:
        """Write every live drone into the snapshot state, then mark the epoch ready."""
        documents = list(self._live_documents())
        for i in range(0, len(documents), REBUILD_CHUNK):
            if not self.event_log.rebuild_state(epoch_id, documents[i : i + REBUILD_CHUNK]):
                return  # ready meanwhile (another process), or another epoch began
        self.event_log.mark_ready(epoch_id)
        log.info("snapshot state of epoch %s rebuilt: %d drones", epoch_id, len(documents))


def _newest(a: str, b: str) -> str:
    return a if epochs.parse_id(a) >= epochs.parse_id(b) else b
