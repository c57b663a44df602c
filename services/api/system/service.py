"""System broadcasts: stored with their event in one write, removed once published."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from services.api import batches
from services.api.outbox import Publisher
from shared import contract
from shared.events import utc_now_iso


class BroadcastService:
    """Sends ``system.broadcast`` messages through the outbox of the ``broadcasts`` collection."""

    def __init__(self, broadcasts, publisher: Publisher):
        self.broadcasts = broadcasts
        self.publisher = publisher

    def send(self, message: str, level: str, request_id: str | None) -> dict[str, Any]:
        """Accept a broadcast; it is published now or, if Redis is down, by the relay."""
        now = utc_now_iso()
        sent = batches.event(
            contract.SYSTEM_BROADCAST,
            {"message": message, "level": level},
            timestamp=now,
            serial=None,
            version=None,
            request_id=request_id,
        )
        doc = {
            "_id": ObjectId(),
            "_transient": True,
            "_seq": 1,
            "_outbox": [batches.batch(1, [sent])],
            "createdAt": now,
        }
        self.broadcasts.insert_one(doc)
        self.publisher.publish_after_write(self.broadcasts, doc)
        return {"id": str(doc["_id"]), "message": message, "level": level, "acceptedAt": now}
