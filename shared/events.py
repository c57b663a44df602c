"""The event envelope of the wire contract.

An envelope travels as the same bytes on Redis pub/sub and to Socket.IO clients:
``{"id": ..., "event": ..., "droneSerial": ..., "version": ..., "timestamp": ..., "data": {...}}``.

The ``id`` is the event's position in the event log (a Redis stream entry id), which is only
known when the event is appended. So an event is built and stored as its *body* (the
envelope without ``id``) and the id is spliced in front of it, once, when it is appended or
read back. Splicing strings keeps the bytes identical everywhere and avoids decoding and
re-encoding JSON on the hot path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def utc_now_iso() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. ``2026-11-27T14:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_body(
    event: str,
    data: dict[str, Any],
    *,
    timestamp: str,
    serial: str | None = None,
    version: int | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """Serialize an envelope without its ``id``. ``version`` is left out when None."""
    envelope: dict[str, Any] = {"event": event}
    if serial is not None:
        envelope["droneSerial"] = serial
    if version is not None:
        envelope["version"] = version
    envelope["timestamp"] = timestamp
    envelope["data"] = data
    if meta:
        envelope["meta"] = meta
    return _dumps(envelope)


def with_id(event_id: str, body: str) -> str:
    """The full envelope: ``body`` with ``"id"`` spliced in as the first key."""
    return '{"id":"' + event_id + '",' + body[1:]


def dumps(value: Any) -> str:
    """Compact JSON, the one serialization used for everything the services emit."""
    return _dumps(value)
