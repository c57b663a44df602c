"""Drone and incident documents in MongoDB, with the outbox batches of their changes.

Each method is one single-document write (atomic on every backend, no transaction needed).
Changes are compare-and-set on ``_seq``, the document's outbox counter, which every
mutation increments: a write based on a stale read matches nothing and the caller retries.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.errors import DuplicateKeyError, OperationFailure

TOMBSTONE_PREFIX = "\x00deleted:"  # never a valid serial, so a tombstone frees its serial
LIVE = {"_deleted": {"$ne": True}}


class DuplicateSerial(Exception):
    """A live drone already has this serial."""


class DroneRepository:
    """Reads and atomic writes of the ``drones`` and ``incidents`` collections."""

    def __init__(self, drones, incidents):
        self.drones = drones
        self.incidents = incidents
        self._indexed = False

    def ensure_indexes(self) -> None:
        """Create the indexes, once per process (the server ignores an existing one).

        Tried at start and again before the first insert, so an API started while the
        database is down still gets its unique serial index before it stores a drone."""
        if self._indexed:
            return
        self.drones.create_index("deviceSerialNumber", unique=True)
        self.incidents.create_index([("droneId", 1), ("_id", -1)])
        with contextlib.suppress(OperationFailure, NotImplementedError):
            self.drones.create_index("_outbox.seq")
        self._indexed = True

    # --- reads ------------------------------------------------------------------------
    def get(self, serial: str) -> dict[str, Any] | None:
        return self.drones.find_one({"deviceSerialNumber": serial, **LIVE})

    def list(self, query: dict[str, Any], skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of live drones matching ``query`` (oldest first) and the total count."""
        query = {**query, **LIVE}
        total = self.drones.count_documents(query)
        docs = list(self.drones.find(query).sort("_id", 1).skip(skip).limit(limit))
        return docs, total

    def incidents_of(self, drone_id: ObjectId, skip: int, limit: int) -> tuple[list[dict], int]:
        """A page of one drone's incidents, newest first, and their total count."""
        query = {"droneId": drone_id}
        total = self.incidents.count_documents(query)
        docs = list(self.incidents.find(query).sort("_id", -1).skip(skip).limit(limit))
        return docs, total

    # --- writes -----------------------------------------------------------------------
    def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.ensure_indexes()
        try:
            self.drones.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateSerial(doc["deviceSerialNumber"]) from None
        return doc

    def apply(
        self,
        doc: dict[str, Any],
        batch: dict[str, Any],
        set_fields: dict[str, Any] | None = None,
        bump_version: bool = True,
    ) -> dict[str, Any] | None:
        """Set ``set_fields`` and push ``batch`` if ``doc`` is still current; the new document,
        or None when another write came first (re-read and retry)."""
        update: dict[str, Any] = {
            "$inc": {"_seq": 1, **({"version": 1} if bump_version else {})},
            "$push": {"_outbox": batch},
        }
        if set_fields:
            update["$set"] = set_fields
        return self.drones.find_one_and_update(
            {"_id": doc["_id"], "_seq": doc["_seq"], **LIVE},
            update,
            return_document=pymongo.ReturnDocument.AFTER,
        )

    def tombstone(self, doc: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any] | None:
        """Mark ``doc`` deleted and push its last batch, if it is still current; the serial is
        free at once, and the document goes away once the batch is published."""
        set_fields = {
            "deviceSerialNumber": f"{TOMBSTONE_PREFIX}{doc['_id']}",
            "_deletedSerial": doc["deviceSerialNumber"],
            "_deleted": True,
        }
        return self.apply(doc, batch, set_fields, bump_version=False)

    def save_incident(self, incident: dict[str, Any]) -> None:
        """Store an incident; idempotent (the relay stores it again before announcing it)."""
        self.incidents.replace_one({"_id": incident["_id"]}, incident, upsert=True)
