"""The event envelope the gateway delivers, as a typed value."""

from __future__ import annotations

import dataclasses
from typing import Any


class EnvelopeError(ValueError):
    """A message from the gateway is not a valid event envelope."""


def parse_event_id(value: object) -> tuple[int, int]:
    """``"1764252000123-4"`` as ``(1764252000123, 4)``, the order in which ids compare.

    Raises :class:`EnvelopeError` for anything that is not an event id.
    """
    if isinstance(value, str):
        ms, sep, seq = value.partition("-")
        if ms.isdigit() and (not sep or seq.isdigit()):
            return int(ms), int(seq) if sep else 0
    raise EnvelopeError(f"not an event id: {value!r}")


@dataclasses.dataclass(frozen=True)
class Event:
    """One event: ``drone.*`` (``drone_serial`` and ``version`` set) or ``system.broadcast``."""

    id: str
    event: str
    timestamp: str
    data: dict[str, Any]
    drone_serial: str | None = None
    version: int | None = None
    meta: dict[str, Any] | None = None

    @property
    def position(self) -> tuple[int, int]:
        """The id as a comparable tuple: a later event has a greater position."""
        return parse_event_id(self.id)

    @property
    def full(self) -> dict[str, Any] | None:
        """The drone document after the change, when the event carries one."""
        return self.data.get("full")

    @classmethod
    def from_envelope(cls, envelope: object) -> Event:
        """Build from the JSON envelope; :class:`EnvelopeError` when it is malformed."""
        if not isinstance(envelope, dict):
            raise EnvelopeError(f"an envelope is a JSON object, got {type(envelope).__name__}")
        parse_event_id(envelope.get("id"))
        kind, data = envelope.get("event"), envelope.get("data")
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise EnvelopeError("an envelope needs 'event' (string) and 'data' (object)")
        return cls(
            id=envelope["id"],
            event=kind,
            timestamp=str(envelope.get("timestamp", "")),
            data=data,
            drone_serial=envelope.get("droneSerial"),
            version=envelope.get("version"),
            meta=envelope.get("meta"),
        )

    def to_envelope(self) -> dict[str, Any]:
        """The wire form again (keys as the gateway sends them)."""
        envelope: dict[str, Any] = {"id": self.id, "event": self.event}
        if self.drone_serial is not None:
            envelope["droneSerial"] = self.drone_serial
        if self.version is not None:
            envelope["version"] = self.version
        envelope["timestamp"] = self.timestamp
        envelope["data"] = self.data
        if self.meta is not None:
            envelope["meta"] = self.meta
        return envelope
