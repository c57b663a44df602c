"""Putting events into the event log directly, the way the API's outbox does."""

from __future__ import annotations

import json
import uuid

from shared import contract
from shared.eventlog import EpochMismatch, EventLog, PendingEvent
from shared.events import encode_body, utc_now_iso


class DroneEventWriter:
    """Appends ``drone.updated`` events with consecutive versions, one outbox per drone."""

    def __init__(self, event_log: EventLog):
        self.log = event_log
        self._versions: dict[str, int] = {}
        self._origins: dict[str, str] = {}
        self._epoch: str | None = None

    def _append(self, origin: str, seq: int, events, state=None) -> list[str]:
        """Append in the log's current epoch (begun when there is none: no API runs here)."""
        for attempt in (1, 2):
            if self._epoch is None or attempt == 2:
                self._epoch = self.log.ensure_epoch()
            try:
                return self.log.append(origin, seq, events, state, epoch=self._epoch)
            except EpochMismatch:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def write(self, serial: str, **changes) -> list[str]:
        """One mutation of ``serial``: its version goes up by one. Returns the event ids."""
        version = self._versions.get(serial, 0) + 1
        self._versions[serial] = version
        origin = self._origins.setdefault(serial, uuid.uuid4().hex)
        full = {"deviceSerialNumber": serial, "version": version, **changes}
        body = encode_body(
            contract.DRONE_UPDATED,
            {"changes": {}, "full": full},
            timestamp=utc_now_iso(),
            serial=serial,
            version=version,
        )
        event = PendingEvent(body, contract.drone_channels(serial, contract.DRONE_UPDATED), serial)
        return self._append(origin, version, [event], state=(serial, json.dumps(full)))

    def broadcast(self, message: str) -> list[str]:
        body = encode_body(
            contract.SYSTEM_BROADCAST,
            {"message": message, "level": "info"},
            timestamp=utc_now_iso(),
        )
        event = PendingEvent(body, (contract.SYSTEM_BROADCAST_CHANNEL,))
        return self._append(uuid.uuid4().hex, 1, [event])


def versions(events: list[dict], serial: str) -> list[int]:
    """The versions of ``serial`` among received envelopes, in the order they came."""
    return [e["version"] for e in events if e["droneSerial"] == serial]
