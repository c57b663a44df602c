"""Desired vs reported state: the rules of ``PUT /drones/{serial}/reported`` and ``inSync``.

A drone's mutable fields are its *desired* state, versioned by ``version``. A detector
reports what it actually applied and which desired version that was (``appliedVersion``);
the drone is *in sync* when the report is of the current version and every field it
states equals the desired value (the model of AWS IoT Device Shadow and Azure device twins).
Pure functions: the service does the reads and the atomic write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.api.errors import ApiError, Conflict
from shared import contract

# The order of a report's keys on the wire.
REPORT_KEYS = (
    "appliedVersion",
    *contract.REPORTED_FIELDS,
    "message",
    "reportedAt",
    "reportedBy",
)


def in_sync(doc: dict[str, Any]) -> bool:
    """True when ``doc``'s report is of its current version and agrees with every field it
    states; False without a report."""
    reported = doc.get("reported")
    if not reported or reported.get("appliedVersion") != doc.get("version"):
        return False
    return all(
        reported[field] == doc.get(field) for field in contract.REPORTED_FIELDS if field in reported
    )


def check_report(doc: dict[str, Any], applied_version: int) -> None:
    """Refuse a report of a version the drone has not reached (422) or older than the one
    stored (409 ``stale_report``): a late report must not overwrite a newer one."""
    if applied_version > doc["version"]:
        message = f"appliedVersion {applied_version} is above the drone's version {doc['version']}"
        raise ApiError(
            422,
            "validation_error",
            f"invalid request: appliedVersion ({message})",
            {"fields": {"appliedVersion": [message]}},
        )
    stored = doc.get("reported")
    if stored and applied_version < stored["appliedVersion"]:
        raise Conflict(
            f"a report of version {stored['appliedVersion']} is already stored; "
            f"this one of version {applied_version} is older",
            "stale_report",
        )


def make_report(body: dict[str, Any], subject: str, now: str) -> dict[str, Any]:
    """The stored ``reported`` object of a validated request body."""
    report = {**body, "reportedAt": now, "reportedBy": subject}
    return {key: report[key] for key in REPORT_KEYS if key in report}


def seconds_to_sync(before: dict[str, Any], after: dict[str, Any], now: str) -> float | None:
    """Seconds from the desired change to this report, when the report brings the drone
    into sync; None otherwise. ``updatedAt`` is the time of the last desired change (a
    report does not touch it)."""
    if in_sync(before) or not in_sync(after):
        return None
    changed_at = before.get("updatedAt") or before.get("createdAt")
    if not changed_at:
        return None
    return max(0.0, (_parse(now) - _parse(changed_at)).total_seconds())


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
