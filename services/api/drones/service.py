"""What happens on each drone operation: checks, the atomic write, its events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import ObjectId

from services.api import batches
from services.api.drones import sync
from services.api.drones.repository import DroneRepository, DuplicateSerial
from services.api.errors import ApiError, Conflict, NotFound
from services.api.metrics import Metrics
from services.api.outbox import Publisher
from shared import contract
from shared.events import dumps, utc_now_iso

# Every field of a drone as the contract shows it, in order.
PUBLIC_FIELDS = (
    "deviceSerialNumber",
    *contract.MUTABLE_FIELDS,
    "version",
    "createdAt",
    "updatedAt",
    "reported",  # read-only: what the detector applied (PUT .../reported), or None
)
DEFAULTS = {
    "deviceCategory": contract.DEFAULT_CATEGORY,
    "streamIsOn": False,
    "aiDetectionEnabled": False,
    "detectionClasses": [],
    "streamUrl": None,
    "reported": None,
}
INCIDENT_FIELDS = ("droneSerial", "type", "confidence", "label", "boundingBox", "detectedAt")
MAX_ATTEMPTS = 100


def drone_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The contract's JSON of a drone document (tombstones show their real serial)."""
    drone = {"id": str(doc["_id"])}
    drone.update({field: doc.get(field) for field in PUBLIC_FIELDS})
    drone["inSync"] = sync.in_sync(doc)
    if doc.get("_deleted"):
        drone["deviceSerialNumber"] = doc["_deletedSerial"]
    return drone


def incident_json(doc: dict[str, Any]) -> dict[str, Any]:
    incident = {"id": str(doc["_id"])}
    incident.update({f: doc[f] for f in (*INCIDENT_FIELDS, "createdAt") if f in doc})
    return incident


def _changes(doc: dict[str, Any], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        field: {"old": doc.get(field), "new": new}
        for field, new in values.items()
        if doc.get(field) != new
    }


def _change_events(
    serial: str, version: int, changes: dict, full: dict, now: str, request_id: str | None
) -> list[dict[str, Any]]:
    """``drone.updated`` with every change, then the specific event of each field that has one."""

    def make(name: str, data: dict[str, Any]) -> dict[str, Any]:
        return batches.event(
            name, data, timestamp=now, serial=serial, version=version, request_id=request_id
        )

    events = [make(contract.DRONE_UPDATED, {"changes": changes, "full": full})]
    for field, name in contract.SPECIFIC_EVENT_OF_FIELD.items():
        if field not in changes:
            continue
        data: dict[str, Any] = {field: changes[field]["new"]}
        if field == "detectionClasses":
            old, new = changes[field]["old"] or [], changes[field]["new"]
            data["added"] = [c for c in new if c not in old]
            data["removed"] = [c for c in old if c not in new]
        data["full"] = full
        events.append(make(name, data))
    return events


class DroneService:
    """Drone operations. Each mutation is one atomic write carrying its own events."""

    def __init__(self, repository: DroneRepository, publisher: Publisher, metrics: Metrics):
        self.repository = repository
        self.publisher = publisher
        self.metrics = metrics

    # --- reads ------------------------------------------------------------------------
    def _load(self, serial: str) -> dict[str, Any]:
        doc = self.repository.get(serial) if contract.is_valid_serial(serial) else None
        if doc is None:
            raise NotFound(f"drone '{serial}' not found")
        return doc

    def get(self, serial: str) -> dict[str, Any]:
        return drone_json(self._load(serial))

    def list(
        self, filters: dict[str, Any], serials: frozenset[str] | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of drones matching ``filters``, limited to ``serials`` unless None."""
        query = {k: v for k, v in filters.items() if k in ("deviceCategory", "streamIsOn")}
        if "inSync" in filters:
            # Stored beside the report at every write (drones from before reports lack it).
            query["inSync"] = True if filters["inSync"] else {"$ne": True}
        if serials is not None:
            query["deviceSerialNumber"] = {"$in": sorted(serials)}
        docs, total = self.repository.list(query, skip, limit)
        return [drone_json(d) for d in docs], total

    def incidents(self, serial: str, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        docs, total = self.repository.incidents_of(self._load(serial)["_id"], skip, limit)
        return [incident_json(d) for d in docs], total

    # --- mutations --------------------------------------------------------------------
    def register(self, fields: dict[str, Any], request_id: str | None) -> dict[str, Any]:
        """Create a drone (version 1) with its ``drone.created`` event."""
        now = utc_now_iso()
        doc: dict[str, Any] = {"_id": ObjectId(), **DEFAULTS, **fields}
        doc.update(version=1, createdAt=now, updatedAt=now, inSync=False)
        serial = doc["deviceSerialNumber"]
        full = drone_json(doc)
        created = batches.event(
            contract.DRONE_CREATED,
            {"full": full},
            timestamp=now,
            serial=serial,
            version=1,
            request_id=request_id,
        )
        doc.update(_seq=1, _outbox=[batches.batch(1, [created], state=dumps(full))])
        try:
            self.repository.insert(doc)
        except DuplicateSerial:
            raise Conflict(
                f"a drone with serial '{serial}' already exists", "duplicate_serial"
            ) from None
        self.publisher.publish_after_write(self.repository.drones, doc)
        return full

    def update(self, serial: str, values: dict[str, Any], request_id: str | None) -> dict[str, Any]:
        """Set ``values``; publishes nothing when nothing changes."""
        return self._change(serial, lambda _doc: values, request_id)

    def toggle(self, serial: str, field: str, request_id: str | None) -> dict[str, Any]:
        """Flip a boolean field, relative to the value at the time of the write."""
        return self._change(serial, lambda doc: {field: not doc.get(field)}, request_id)

    def _change(
        self, serial: str, compute: Callable[[dict], dict[str, Any]], request_id: str | None
    ) -> dict[str, Any]:
        for _ in range(MAX_ATTEMPTS):
            doc = self._load(serial)
            values = compute(doc)
            changes = _changes(doc, values)
            if not changes:
                return drone_json(doc)
            now = utc_now_iso()
            version = doc["version"] + 1
            full = drone_json({**doc, **values, "version": version, "updatedAt": now})
            events = _change_events(serial, version, changes, full, now, request_id)
            batch = batches.batch(doc["_seq"] + 1, events, state=dumps(full))
            set_fields = {field: change["new"] for field, change in changes.items()}
            set_fields.update(updatedAt=now, inSync=full["inSync"])  # a new version: not yet
            updated = self.repository.apply(doc, batch, set_fields)
            if updated is not None:
                self.publisher.publish_after_write(self.repository.drones, updated)
                return drone_json(updated)
        raise _busy()

    def delete(self, serial: str, request_id: str | None) -> None:
        """Delete a drone; its ``drone.deleted`` event carries the drone as it was."""
        for _ in range(MAX_ATTEMPTS):
            doc = self._load(serial)
            full = drone_json(doc)
            deleted = batches.event(
                contract.DRONE_DELETED,
                {"full": full},
                timestamp=utc_now_iso(),
                serial=serial,
                version=doc["version"],
                request_id=request_id,
            )
            batch = batches.batch(doc["_seq"] + 1, [deleted], state=None)
            tombstone = self.repository.tombstone(doc, batch)
            if tombstone is not None:
                self.publisher.publish_after_write(self.repository.drones, tombstone)
                return
        raise _busy()

    def report_incident(
        self, serial: str, fields: dict[str, Any], request_id: str | None
    ) -> dict[str, Any]:
        """Store an incident and announce it with the drone's current version."""
        now = utc_now_iso()
        for _ in range(MAX_ATTEMPTS):
            doc = self._load(serial)
            incident = {"_id": ObjectId(), "droneId": doc["_id"], "droneSerial": serial, **fields}
            incident.setdefault("detectedAt", now)
            incident["createdAt"] = now
            public = incident_json(incident)
            detected = batches.event(
                contract.DRONE_INCIDENT,
                {"incident": public},
                timestamp=now,
                serial=serial,
                version=doc["version"],
                request_id=request_id,
            )
            batch = batches.batch(doc["_seq"] + 1, [detected], incident=incident)
            updated = self.repository.apply(doc, batch, bump_version=False)
            if updated is not None:
                self.repository.save_incident(incident)
                self.publisher.publish_after_write(self.repository.drones, updated)
                return public
        raise _busy()

    def report(
        self, serial: str, body: dict[str, Any], subject: str, request_id: str | None
    ) -> dict[str, Any]:
        """Store what the detector applied; announce it with the drone's current version
        (a report does not bump it, like an incident)."""
        for _ in range(MAX_ATTEMPTS):
            doc = self._load(serial)
            sync.check_report(doc, body["appliedVersion"])
            now = utc_now_iso()
            reported = sync.make_report(body, subject, now)
            full = drone_json({**doc, "reported": reported})
            event = batches.event(
                contract.DRONE_REPORTED,
                {"reported": reported, "inSync": full["inSync"]},
                timestamp=now,
                serial=serial,
                version=doc["version"],
                request_id=request_id,
            )
            batch = batches.batch(doc["_seq"] + 1, [event], state=dumps(full))
            set_fields = {"reported": reported, "inSync": full["inSync"]}
            updated = self.repository.apply(doc, batch, set_fields, bump_version=False)
            if updated is not None:
                waited = sync.seconds_to_sync(doc, updated, now)
                if waited is not None:
                    self.metrics.sync_seconds.observe(waited)
                self.publisher.publish_after_write(self.repository.drones, updated)
                return drone_json(updated)
        raise _busy()


def _busy() -> ApiError:
    return ApiError(503, "busy", "too many concurrent changes to this drone, retry")
