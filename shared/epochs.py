"""History epochs: the identity of the event history, and the decisions about it.

Redis holds the event history; it can lose it (a restart without persistence, a failover to
a lagging replica, a restore of an older dump). A position (an event id) is only valid in
the history it came from, so the history has an identity, its *epoch*, kept in Redis
(``{prefix}:epoch``: ``id``, ``start``, ``last``, ``ready``) and in MongoDB, which also
records the newest event id it knows was published. MongoDB is the arbiter: Redis without
an epoch (wiped) or with a ``last`` behind what MongoDB says was published (rolled back)
has lost history, and the API starts a new epoch whose ids all come after ``start``.

Everything here is pure: the decisions are tested without Redis or MongoDB.
"""

from __future__ import annotations

import dataclasses
import enum

ZERO = (0, 0)


def parse_id(value: object) -> tuple[int, int] | None:
    """``"1764252000123-4"`` as ``(1764252000123, 4)``; None when it is not a stream id."""
    if not isinstance(value, str) or len(value) > 41:
        return None
    ms, sep, seq = value.partition("-")
    if not ms.isdigit() or (sep and not seq.isdigit()):
        return None
    return int(ms), int(seq) if sep else 0


def format_id(pos: tuple[int, int]) -> str:
    return f"{pos[0]}-{pos[1]}"


def sortable(value: str) -> str:
    """An event id as a string that sorts like the id (MongoDB's ``$max`` compares strings)."""
    ms, seq = parse_id(value) or ZERO
    return f"{ms:020d}-{seq:020d}"


def unsortable(value: str | None) -> str:
    """The inverse of :func:`sortable` (``"0-0"`` for None)."""
    if not value:
        return "0-0"
    ms, _, seq = value.partition("-")
    return f"{int(ms)}-{int(seq)}"


@dataclasses.dataclass(frozen=True)
class Epoch:
    """The epoch as Redis holds it."""

    id: str
    start: str  # every event of this epoch has an id after this one
    last: str  # the newest id appended in this epoch (``start`` before the first)
    ready: bool  # the snapshot state has been rebuilt from the database

    @classmethod
    def from_fields(cls, fields: dict) -> Epoch | None:
        """From the Redis hash (str keys and values); None when there is none."""
        if not fields or not fields.get("id"):
            return None
        return cls(
            fields["id"],
            fields.get("start", "0-0"),
            fields.get("last", fields.get("start", "0-0")),
            fields.get("ready") == "1",
        )


class Verdict(enum.Enum):
    """What the API does about the epoch Redis holds."""

    KEEP = "keep"  # Redis holds the whole published history
    REBUILD = "rebuild"  # the epoch is current but its snapshot state is not rebuilt yet
    NEW_EPOCH = "new_epoch"  # Redis lost history: begin a new epoch


def judge(redis_epoch: Epoch | None, published: str) -> Verdict:
    """Judge Redis's epoch against ``published``, the newest id MongoDB knows reached Redis.

    Missing epoch: Redis was wiped (or never had one). ``last`` behind ``published``: Redis
    came back with an older copy (a dump, a lagging replica, the last second of an AOF).
    """
    if redis_epoch is None:
        return Verdict.NEW_EPOCH
    if (parse_id(redis_epoch.last) or ZERO) < (parse_id(published) or ZERO):
        return Verdict.NEW_EPOCH
    return Verdict.KEEP if redis_epoch.ready else Verdict.REBUILD


def new_start(last_generated: str, published: str, now_ms: int) -> str:
    """Where a new epoch starts: after every id the lost history may have handed out.

    The highest id Redis still generated and the highest MongoDB knows was published; and,
    unless nothing was ever published, Redis's clock now: an event appended to the lost
    history but not yet recorded in MongoDB had an id from before now, and a client that
    saw it must not pass for a client of the new epoch.
    """
    ids = [parse_id(last_generated) or ZERO, parse_id(published) or ZERO]
    if max(ids) == ZERO:
        return "0-0"  # a fresh deployment: nothing was ever handed out
    return format_id(max(*ids, (now_ms, 0)))


def resumable(since: str, epoch: Epoch) -> bool:
    """Whether a ``since`` can belong to ``epoch``: positions before its start are from a
    lost history (the stream's own retention is checked besides)."""
    pos = parse_id(since)
    return pos is not None and pos >= (parse_id(epoch.start) or ZERO)
