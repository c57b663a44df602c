"""The event log: one Redis stream holding every event, plus the contract's pub/sub channels.

The API appends; gateways read. One Lua script appends all events of one mutation
atomically: it drops a batch it has already applied (the outbox delivers at least once,
this makes it exactly once into Redis), adds each event to the stream, publishes its
envelope on its pub/sub channels, trims the stream by count and age, and records the
drone's latest state for snapshots.

All keys share one hash tag (``{prefix}``) so the script also runs on Redis Cluster.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence

import redis

from shared.events import with_id

_APPEND_SCRIPT = """
local seq = tonumber(ARGV[1])
local applied = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq <= applied then return {} end
redis.call('SET', KEYS[2], seq, 'EX', ARGV[2])
local ids = {}
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  local serial, body, nch = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 's', serial, 'b', body)
  local envelope = '{"id":"' .. id .. '",' .. string.sub(body, 2)
  for c = 1, nch do redis.call('PUBLISH', ARGV[i + 2 + c], envelope) end
  ids[#ids + 1] = id
  i = i + 3 + nch
end
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[4])
if ARGV[5] ~= '' then
  if ARGV[6] == '' then
    redis.call('HDEL', KEYS[3], ARGV[5])
  else
    redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
  end
end
return ids
"""


@dataclasses.dataclass(frozen=True)
class PendingEvent:
    """An event ready to append: its body (envelope without id) and where it goes."""

    body: str
    channels: tuple[str, ...]
    serial: str = ""  # "" for events that belong to no drone (system.broadcast)


@dataclasses.dataclass(frozen=True)
class LoggedEvent:
    """An event read back from the log."""

    id: str
    serial: str
    body: str

    @property
    def envelope(self) -> str:
        return with_id(self.id, self.body)


@dataclasses.dataclass(frozen=True)
class History:
    """Whether the log still holds every event after ``since`` (``recovered``)."""

    recovered: bool
    reason: str = ""


def parse_stream_id(value: object) -> tuple[int, int] | None:
    """``"1764252000123-4"`` as ``(1764252000123, 4)``; None when it is not a stream id."""
    if not isinstance(value, str) or len(value) > 41:
        return None
    ms, sep, seq = value.partition("-")
    if not ms.isdigit() or (sep and not seq.isdigit()):
        return None
    return int(ms), int(seq) if sep else 0


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class EventLog:
    """Appends to and reads from the event stream of one deployment (``key_prefix``)."""

    def __init__(
        self,
        client: redis.Redis,
        key_prefix: str = "drones",
        maxlen: int = 100_000,
        max_age_seconds: int = 86_400,
    ):
        self.client = client
        tag = "{" + key_prefix + "}"
        self.stream_key = f"{tag}:events"
        self.state_key = f"{tag}:state"
        self._applied_prefix = f"{tag}:applied:"
        self.maxlen = maxlen
        self.max_age_seconds = max_age_seconds
        self._append = client.register_script(_APPEND_SCRIPT)

    # --- writing --------------------------------------------------------------------
    def append(
        self,
        origin: str,
        seq: int,
        events: Sequence[PendingEvent],
        state: tuple[str, str | None] | None = None,
    ) -> list[str]:
        """Append one batch of events; returns their ids, or [] if the batch was applied before.

        ``origin`` names the outbox the batch comes from and ``seq`` its position there:
        a batch whose ``seq`` is not above the last applied one of its origin is skipped.
        ``state`` is ``(serial, drone JSON)`` to record, or ``(serial, None)`` to forget.
        """
        min_id = max(0, int(time.time() * 1000) - self.max_age_seconds * 1000)
        serial, state_json = state if state else ("", None)
        args: list[object] = [
            seq,
            self.max_age_seconds * 2,
            self.maxlen,
            min_id,
            serial,
            state_json or "",
            len(events),
        ]
        for event in events:
            args += [event.serial, event.body, len(event.channels), *event.channels]
        ids = self._append(
            keys=[self.stream_key, self._applied_prefix + origin, self.state_key], args=args
        )
        return [_decode(i) for i in ids]

    # --- reading --------------------------------------------------------------------
    def last_id(self) -> str:
        """The id of the newest event, or ``"0-0"`` when the log is empty."""
        entries = self.client.xrevrange(self.stream_key, count=1)
        return _decode(entries[0][0]) if entries else "0-0"

    def read(self, after: str, count: int = 1000, block_ms: int | None = None) -> list[LoggedEvent]:
        """Events after ``after``, oldest first; waits up to ``block_ms`` when there are none."""
        reply = self.client.xread({self.stream_key: after}, count=count, block=block_ms)
        if not reply:
            return []
        return self._entries(reply[0][1])

    def range_after(self, after: str, count: int, until: str = "+") -> list[LoggedEvent]:
        """Up to ``count`` events after ``after`` and up to ``until`` (inclusive), oldest first."""
        raw = self.client.xrange(self.stream_key, min="(" + after, max=until, count=count)
        return self._entries(raw)

    def history_since(self, since: str) -> History:
        """Whether the log still holds every event after ``since``."""
        pos = parse_stream_id(since)
        if pos is None:
            return History(False, "since is not an event id")
        try:
            info = self.client.xinfo_stream(self.stream_key)
        except redis.ResponseError:  # no stream yet: nothing happened, nothing missed
            return History(pos == (0, 0), "" if pos == (0, 0) else "since is not in this history")
        last = parse_stream_id(_decode(info["last-generated-id"]))
        if pos > last:
            return History(False, "since is ahead of this deployment's history")
        if info.get("entries-added") == info["length"]:
            return History(True)  # nothing was ever trimmed
        # Trimming drops the oldest entries; "since" is covered while it is not older
        # than the oldest entry still held.
        first = info.get("first-entry")
        oldest = parse_stream_id(_decode(first[0])) if first else last
        return History(pos >= oldest, "since is older than the history")

    def snapshot(self, serials: Iterable[str] | None = None) -> list[str]:
        """The latest drone JSON documents, all of them or those of ``serials``."""
        if serials is None:
            values = self.client.hvals(self.state_key)
        else:
            serials = list(serials)
            values = self.client.hmget(self.state_key, serials) if serials else []
        return [_decode(v) for v in values if v is not None]

    @staticmethod
    def _entries(raw) -> list[LoggedEvent]:
        events = []
        for entry_id, fields in raw:
            serial = fields.get(b"s", fields.get("s", b""))
            body = fields.get(b"b", fields.get("b", b""))
            events.append(LoggedEvent(_decode(entry_id), _decode(serial), _decode(body)))
        return events
