"""Outbox batches: the events of one mutation, encoded once, stored with the write."""

from __future__ import annotations

from typing import Any

from shared import contract
from shared.events import encode_body


def event(
    name: str,
    data: dict[str, Any],
    *,
    timestamp: str,
    serial: str | None,
    version: int | None,
    request_id: str | None,
) -> dict[str, Any]:
    """One outbox event: its envelope body (stored as a string so every re-publication is
    byte-identical) and its pub/sub channels."""
    meta = {"requestId": request_id} if request_id else None
    body = encode_body(name, data, timestamp=timestamp, serial=serial, version=version, meta=meta)
    if serial is None:
        channels = [contract.SYSTEM_BROADCAST_CHANNEL]
    else:
        channels = list(contract.drone_channels(serial, name))
    return {"body": body, "channels": channels, "serial": serial or ""}


def batch(seq: int, events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A batch at position ``seq`` of its document's outbox.

    ``state=<drone JSON>`` records the drone's latest state, ``state=None`` forgets it (delete);
    leaving ``state`` out leaves the recorded state alone.
    """
    return {"seq": seq, "events": events, **extra}
