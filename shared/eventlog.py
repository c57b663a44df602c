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
import uuid
from collections.abc import Iterable, Sequence

import redis

from shared import epochs
from shared.epochs import Epoch
from shared.events import with_id

# KEYS: stream, applied marker, state hash, epoch hash. ARGV: seq, marker TTL, maxlen,
# min id, state serial, state JSON, event count, epoch id, published id, then the events.
# Refuses (error "EPOCH ...") unless the epoch is the caller's, ready, and holds every
# event MongoDB knows was published; returns {epoch's last id, id of each event added}.
_APPEND_SCRIPT = """
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local epoch = redis.call('HMGET', KEYS[4], 'id', 'last', 'ready')
if epoch[1] ~= ARGV[8] then return redis.error_reply('EPOCH not the expected history') end
if epoch[3] ~= '1' then return redis.error_reply('EPOCH the history is being rebuilt') end
if older(epoch[2], ARGV[9]) then return redis.error_reply('EPOCH the history lost events') end
local seq = tonumber(ARGV[1])
local applied = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq <= applied then return {epoch[2]} end
redis.call('SET', KEYS[2], seq, 'EX', ARGV[2])
local ids = {''}
local i = 10
for _ = 1, tonumber(ARGV[7]) do
  local serial, body, nch = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*',
                        's', serial, 'b', body, 'e', ARGV[8])
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
if #ids > 1 then redis.call('HSET', KEYS[4], 'last', ids[#ids]) end
ids[1] = redis.call('HGET', KEYS[4], 'last')
return ids
"""

# KEYS: stream, epoch hash, state hash. ARGV: expected epoch id ('' for none), new epoch id,
# start id. Begins the epoch unless another process changed the epoch first (returns 0):
# the stream's next ids come after ``start``, the snapshot state is emptied for the rebuild.
_BEGIN_EPOCH_SCRIPT = """
local current = redis.call('HGET', KEYS[2], 'id') or ''
if current ~= ARGV[1] then return 0 end
if ARGV[3] ~= '0-0' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('XGROUP', 'CREATE', KEYS[1], 'epoch', '$', 'MKSTREAM')
    redis.call('XGROUP', 'DESTROY', KEYS[1], 'epoch')
  end
  redis.call('XSETID', KEYS[1], ARGV[3])
end
redis.call('DEL', KEYS[3], KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'start', ARGV[3], 'last', ARGV[3], 'ready', '0')
return 1
"""

# KEYS: epoch hash, state hash. ARGV: epoch id, then serial/JSON pairs. Writes rebuilt
# snapshot state only while that epoch is still being rebuilt: once it is ready, appends
# keep the state, and a late rebuild must not put older documents back.
_REBUILD_SCRIPT = """
local epoch = redis.call('HMGET', KEYS[1], 'id', 'ready')
if epoch[1] ~= ARGV[1] or epoch[2] == '1' then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: epoch hash. ARGV: epoch id. The rebuild is done: appends may go on.
_READY_SCRIPT = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ready', '1')
return 1
"""


class EpochMismatch(Exception):
    """The event log refused an append: its history is not the one the caller knows
    (wiped, rolled back, changed by another process, or being rebuilt)."""


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
    epoch: str = ""  # the history epoch it was appended in

    @property
    def envelope(self) -> str:
        return with_id(self.id, self.body)


@dataclasses.dataclass(frozen=True)
class History:
    """Whether the log still holds every event after ``since`` (``recovered``), and the
    epoch it was judged in (None: Redis holds no epoch, it lost its history)."""

    recovered: bool
    reason: str = ""
    epoch: Epoch | None = None


# One parser of stream ids, kept under the name the gateway and tests import from here.
parse_stream_id = epochs.parse_id


def redis_time_ms(client: redis.Redis) -> int:
    """Redis's clock in milliseconds: the clock its stream ids come from."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _holds_after(info: dict, pos: tuple[int, int]) -> bool:
    """Whether the stream of ``info`` (its XINFO STREAM) holds every entry after ``pos``."""
    if info.get("entries-added") == info["length"]:
        return True  # nothing was ever trimmed
    # Trimming drops the oldest entries; what follows ``pos`` is all there while ``pos`` is
    # not older than the oldest entry still held.
    first = info.get("first-entry")
    last = parse_stream_id(_decode(info["last-generated-id"]))
    oldest = parse_stream_id(_decode(first[0])) if first else last
    return pos >= oldest


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
        self.epoch_key = f"{tag}:epoch"
        self.maxlen = maxlen
        self.max_age_seconds = max_age_seconds
        self._append = client.register_script(_APPEND_SCRIPT)
        self._begin_epoch = client.register_script(_BEGIN_EPOCH_SCRIPT)
        self._rebuild = client.register_script(_REBUILD_SCRIPT)
        self._ready = client.register_script(_READY_SCRIPT)

    # --- writing --------------------------------------------------------------------
    def append(
        self,
        origin: str,
        seq: int,
        events: Sequence[PendingEvent],
        state: tuple[str, str | None] | None = None,
        *,
        epoch: str,
        published: str = "0-0",
    ) -> list[str]:
        """Append one batch of events; returns their ids, or [] if the batch was applied before.

        ``origin`` names the outbox the batch comes from and ``seq`` its position there:
        a batch whose ``seq`` is not above the last applied one of its origin is skipped.
        ``state`` is ``(serial, drone JSON)`` to record, or ``(serial, None)`` to forget.
        Raises :class:`EpochMismatch` unless the log's epoch is ``epoch``, ready, and
        holds ``published`` (the newest id the caller knows was published).
        """
        return self.append_batch(origin, seq, events, state, epoch=epoch, published=published)[1]

    def append_batch(
        self,
        origin: str,
        seq: int,
        events: Sequence[PendingEvent],
        state: tuple[str, str | None] | None = None,
        *,
        epoch: str,
        published: str = "0-0",
    ) -> tuple[str, list[str]]:
        """:meth:`append`, also returning the newest id of the epoch after it (to record as
        published, also when the batch had been applied before)."""
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
            epoch,
            published,
        ]
        for event in events:
            args += [event.serial, event.body, len(event.channels), *event.channels]
        try:
            reply = self._append(
                keys=[
                    self.stream_key,
                    self._applied_prefix + origin,
                    self.state_key,
                    self.epoch_key,
                ],
                args=args,
            )
        except redis.ResponseError as exc:
            if str(exc).startswith("EPOCH"):
                raise EpochMismatch(str(exc)) from None
            raise
        return _decode(reply[0]), [_decode(i) for i in reply[1:]]

    # --- the history's epoch --------------------------------------------------------
    def epoch(self) -> Epoch | None:
        """The epoch Redis holds, or None when it holds none (its history was lost)."""
        fields = self.client.hgetall(self.epoch_key)
        return Epoch.from_fields({_decode(k): _decode(v) for k, v in fields.items()})

    def last_generated_id(self) -> str:
        """The newest id the stream ever handed out (also of trimmed or deleted entries)."""
        return self.live_position()[0]

    def live_position(self) -> tuple[str, int]:
        """The newest id the stream ever handed out, and how many entries it had been
        given up to it (``entries-added``), read together."""
        try:
            info = self.client.xinfo_stream(self.stream_key)
        except redis.ResponseError:  # no stream
            return "0-0", 0
        return _decode(info["last-generated-id"]), int(info.get("entries-added") or 0)

    def ensure_epoch(self) -> str:
        """The current epoch's id, beginning a ready one when Redis holds none: for writers
        without a database to rebuild the snapshot from (tests, benchmarks). The API's
        ``HistoryKeeper`` judges the epoch against MongoDB instead."""
        current = self.epoch()
        while current is None or not current.ready:
            if current is None:
                start = epochs.new_start(
                    self.last_generated_id(), "0-0", redis_time_ms(self.client)
                )
                self.begin_epoch(None, uuid.uuid4().hex[:16], start)
                current = self.epoch()
            if current is not None and not current.ready:
                self.mark_ready(current.id)
                current = self.epoch()
        return current.id

    def begin_epoch(self, expected: str | None, new_id: str, start: str) -> bool:
        """Begin epoch ``new_id`` at ``start`` unless the epoch is no longer ``expected``
        (another process got there first: False). Its snapshot state starts empty and
        appends are refused until :meth:`mark_ready`."""
        keys = [self.stream_key, self.epoch_key, self.state_key]
        return bool(self._begin_epoch(keys=keys, args=[expected or "", new_id, start]))

    def rebuild_state(self, epoch_id: str, documents: Sequence[tuple[str, str]]) -> bool:
        """Write rebuilt snapshot documents (serial, JSON) while ``epoch_id`` is rebuilt."""
        args: list[str] = [epoch_id]
        for serial, doc in documents:
            args += [serial, doc]
        return bool(self._rebuild(keys=[self.epoch_key, self.state_key], args=args))

    def mark_ready(self, epoch_id: str) -> bool:
        """The snapshot state of ``epoch_id`` is whole: appends and snapshots may go on."""
        return bool(self._ready(keys=[self.epoch_key], args=[epoch_id]))

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
        """Whether the log still holds every event after ``since``, in the current epoch."""
        pos = parse_stream_id(since)
        if pos is None:
            return History(False, "since is not an event id")
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.epoch_key)
        pipe.xinfo_stream(self.stream_key)
        fields, info = pipe.execute(raise_on_error=False)
        if isinstance(fields, Exception):
            raise fields
        epoch = Epoch.from_fields({_decode(k): _decode(v) for k, v in fields.items()})
        if epoch is None:
            return History(False, "the history was lost", None)
        if not epochs.resumable(since, epoch):
            return History(False, "since is from a history that was lost", epoch)
        if isinstance(info, redis.ResponseError):  # no stream yet: nothing happened
            return History(
                pos == (0, 0), "" if pos == (0, 0) else "since is not in this history", epoch
            )
        if isinstance(info, Exception):
            raise info
        last = parse_stream_id(_decode(info["last-generated-id"]))
        if pos > last:
            return History(False, "since is ahead of this deployment's history", epoch)
        held = _holds_after(info, pos)
        return History(held, "" if held else "since is older than the history", epoch)

    def trimmed_after(self, after: str, added_through: int | None = None) -> bool:
        """Whether trimming may have dropped events after ``after`` (the test of
        :meth:`history_since`, without the epoch's): call it after a read from ``after``,
        which then may have skipped events if this holds. Conservative: it also holds when
        only the entry ``after`` itself was trimmed, unless ``added_through`` (the stream's
        ``entries-added`` when ``after`` was its newest id, :meth:`live_position`) says
        every entry given after it is still held."""
        try:
            info = self.client.xinfo_stream(self.stream_key)
        except redis.ResponseError:  # no stream: nothing was trimmed
            return False
        if _holds_after(info, parse_stream_id(after) or (0, 0)):
            return False
        if added_through is None:
            return True
        # Every entry still held is newer than ``after`` here: none was lost while they
        # are as many as the entries given after it.
        return info["length"] < int(info.get("entries-added") or 0) - added_through

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
            epoch = fields.get(b"e", fields.get("e", b""))
            events.append(
                LoggedEvent(_decode(entry_id), _decode(serial), _decode(body), _decode(epoch))
            )
        return events
