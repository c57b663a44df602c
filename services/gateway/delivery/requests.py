"""Parsing of ``subscribe`` / ``unsubscribe`` payloads: pure functions, no server needed.

A payload names its targets in exactly one of three contract shapes (``{"all": true}``,
``{"droneSerial": "X"}``, ``{"droneSerials": [...]}``); ``subscribe`` may add ``since``
(resume after an event id), ``snapshot`` (answer with current state) and ``whenBehind``
(what to do when the client reads too slowly). ``history`` asks for a page of the log.
"""

from __future__ import annotations

import dataclasses

from shared.contract import (
    ALL,
    CODE_BAD_REQUEST,
    CODE_FORBIDDEN,
    WHEN_BEHIND_REPLAY,
    WHEN_BEHIND_SKIP,
    serial_problem,
)
from shared.eventlog import parse_stream_id

TARGET_KEYS = ("all", "droneSerial", "droneSerials")
SUBSCRIBE_OPTIONS = ("since", "snapshot", "whenBehind")
HISTORY_FIELDS = ("after", "until", "limit")


class InvalidRequest(ValueError):
    """The payload breaks the contract; the message is safe to send to the client."""

    code = CODE_BAD_REQUEST


class Forbidden(InvalidRequest):
    """The token may not do what the payload asks."""

    code = CODE_FORBIDDEN


@dataclasses.dataclass(frozen=True)
class SubscriptionRequest:
    """What a client asked for. ``targets`` holds ``"all"`` and/or drone serials."""

    targets: frozenset[str]
    since: str | None = None
    snapshot: bool = False
    when_behind: str | None = None  # None: as before (a new connection replays)

    @property
    def wants_all(self) -> bool:
        return ALL in self.targets

    @property
    def serials(self) -> frozenset[str]:
        return self.targets - {ALL}


def parse(payload: object, *, allow_options: bool, max_serials: int) -> SubscriptionRequest:
    """Validate ``payload`` and return the request, or raise :class:`InvalidRequest`."""
    payload = _object_of(payload, TARGET_KEYS + (SUBSCRIBE_OPTIONS if allow_options else ()))
    present = [key for key in TARGET_KEYS if key in payload]
    if len(present) != 1:
        raise InvalidRequest("give exactly one of 'all', 'droneSerial' or 'droneSerials'")
    targets = _targets(present[0], payload[present[0]], max_serials)

    since = _event_id(payload, "since")
    snapshot = payload.get("snapshot", False)
    if not isinstance(snapshot, bool):
        raise InvalidRequest("'snapshot' must be true or false")
    when_behind = payload.get("whenBehind")
    if when_behind is not None and when_behind not in (WHEN_BEHIND_REPLAY, WHEN_BEHIND_SKIP):
        raise InvalidRequest(f"'whenBehind' must be {WHEN_BEHIND_REPLAY!r} or {WHEN_BEHIND_SKIP!r}")
    return SubscriptionRequest(frozenset(targets), since, snapshot, when_behind)


@dataclasses.dataclass(frozen=True)
class HistoryRequest:
    """A page of the log: events after ``after`` up to ``until`` (inclusive), at most ``limit``."""

    after: str
    until: str | None
    limit: int


def parse_history(payload: object, *, max_limit: int) -> HistoryRequest:
    """Validate a ``history`` payload and return the request, or raise :class:`InvalidRequest`."""
    payload = _object_of(payload, HISTORY_FIELDS)
    after, until = _event_id(payload, "after", required=True), _event_id(payload, "until")
    limit = payload.get("limit", max_limit)
    if type(limit) is not int or not 1 <= limit <= max_limit:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {max_limit}")
    return HistoryRequest(after, until, limit)


def _object_of(payload: object, allowed: tuple[str, ...]) -> dict:
    """``payload`` if it is an object with no field outside ``allowed``."""
    if not isinstance(payload, dict):
        raise InvalidRequest("payload must be an object")
    unknown = [key for key in payload if key not in allowed]
    if unknown:
        shown = ", ".join(repr(str(k)[:40]) for k in unknown[:5])
        raise InvalidRequest(f"unknown field(s): {shown}")
    return payload


def _event_id(payload: dict, key: str, required: bool = False) -> str | None:
    """The event id under ``key``; None when it is absent and not ``required``."""
    value = payload.get(key)
    if (value is not None or required) and parse_stream_id(value) is None:
        raise InvalidRequest(f"'{key}' must be an event id such as '1764252000123-0'")
    return value


def _targets(key: str, value: object, max_serials: int) -> set[str]:
    if key == "all":
        if value is not True:
            raise InvalidRequest("'all' must be true")
        return {ALL}
    if key == "droneSerial":
        return {_serial(value)}
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'droneSerials' must be a non-empty list of serials")
    if len(value) > max_serials:
        raise InvalidRequest(f"at most {max_serials} serials per request")
    return {_serial(item) for item in value}


def _serial(value: object) -> str:
    problem = serial_problem(value)
    if problem:
        raise InvalidRequest(problem)
    return value
