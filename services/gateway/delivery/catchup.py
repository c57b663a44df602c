"""Catch-up: clients served from the event history instead of live, at their own pace.

- **Resume** (``since``): the events after the client's position, then it joins live
  delivery at the exact position the relay has reached.
- **Slow readers**: a client whose transport reports it behind leaves the audience at the
  live position and is replayed from there, paced by what it has read, then joins again.
  It stays connected, keeps its heartbeats and misses nothing; the gateway holds no more
  than the bound for it. Only when the history no longer holds its position is the
  connection dropped: it resumes with ``since`` and learns ``recovered: false``.
- **Skip ahead** (``whenBehind: "skip"``): once its backlog has drained it rejoins at the
  live position at once, after a ``missed`` notice naming the part it did not get, which
  it fetches with ``history`` at its own pace.
- **History requests**: a page of the log, as it was delivered live.
"""

from __future__ import annotations

import logging

import redis

from services.gateway.delivery.connection import Phase
from services.gateway.delivery.live import wanted
from services.gateway.transport.frames import Message
from shared import contract
from shared.eventlog import LoggedEvent, parse_stream_id

log = logging.getLogger(__name__)

# How long a replay that is ahead of this replica's relay waits for it before joining.
RELAY_AHEAD_WAIT_SECONDS = 5.0


class CatchUp:
    """Replays, skip-aheads and history pages, for the clients of one gateway."""

    def __init__(self, live, event_log, metrics, runtime, *, replay_batch: int, max_backlog: int):
        self._live = live
        self._log = event_log
        self._metrics = metrics
        self._runtime = runtime
        self.replay_batch = replay_batch
        # A replay pauses above half the bound past which a client counts as behind.
        self._replay_backlog = max_backlog // 2
        self.drop = None  # ``drop(client)``: the hub's, set when it is built

    # --- falling behind ---------------------------------------------------------------
    def fall_behind(self, client) -> None:
        """The transport's report that a live client is behind: catch it up. During a
        delivery (this task holds the lock) the client leaves the audience at once;
        otherwise it is LEAVING until a task of its own takes the lock to switch."""
        if not client.live:
            return
        if self._live.in_delivery():
            self._live.leave_now(client)  # ``caught_behind`` follows the delivery
        else:
            # Live delivery skips it from now on: its replay starts at this position (read
            # without the lock: a delivery does not yield while it holds it).
            client.move(Phase.LEAVING)
            self._runtime.spawn(self._leave, client, self._live.position)

    def caught_behind(self, left) -> None:
        """Clients that left the audience during a delivery, each with its position."""
        for client, position in left:
            self._start(client, position)

    def _leave(self, client, position: str) -> None:
        with self._live.lock:
            if client.phase is not Phase.LEAVING:
                return  # closed meanwhile
            self._live.audience.leave(client)
        self._start(client, position)

    def _start(self, client, cursor: str) -> None:
        if client.phase is not Phase.LEAVING:
            return
        self._metrics.slow_clients.inc()
        log.info("%s reads slower than events come: serving it from the log", client.sid)
        if client.skips_when_behind:
            client.move(Phase.SKIPPING)
            self._runtime.spawn(self._skip_ahead, client, cursor)
        else:
            client.move(Phase.REPLAYING)
            self._runtime.spawn(self.replay, client, cursor)

    def _skip_ahead(self, client, cursor: str) -> None:
        """Once the client has read its backlog, join it to live delivery at the live
        position, first telling it the events after ``cursor`` it did not get."""
        transport = client.transport
        # All of it sent, and read but for what came after the last ping: else the live
        # events would wait behind what fills its kernel's buffers.
        transport.wait_until(lambda: transport.backlog() == 0)
        self._wait_for_reading(client)
        with self._live.lock:
            if client.phase is not Phase.SKIPPING:
                return
            if self._live.position != cursor:
                # Under the lock: the notice goes out before any event after ``until``.
                missed = {"after": cursor, "until": self._live.position}
                transport.send(Message(contract.SIO_MISSED, missed))
                self._metrics.slow_clients_skipped.inc()
            self.join(client)

    def join(self, client) -> None:
        """The client reached the live position (the lock held): into the audience."""
        client.move(Phase.LIVE)
        self._live.audience.join(client)

    # --- replays ----------------------------------------------------------------------
    def replay(self, client, cursor: str, only=None, until: str = "0-0") -> None:
        """Send a replaying client the events after ``cursor`` it subscribes to, paced to
        its reading, then join it to live delivery at the position reached. Events up to
        ``until`` are sent only for the targets ``only`` (a resuming subscribe's; the
        client's other subscriptions had them live)."""
        until_pos = parse_stream_id(until)
        waited_for_relay = 0.0
        while client.phase is Phase.REPLAYING:
            self._wait_for_reading(client)  # nor join live delivery before
            with self._live.lock:
                live = self._live.position
                if parse_stream_id(cursor) >= parse_stream_id(live) or (
                    waited_for_relay > RELAY_AHEAD_WAIT_SECONDS
                ):
                    # Caught up (or ahead of this replica's relay, which catches up in
                    # moments): from here on, delivery is live.
                    if client.phase is Phase.REPLAYING:
                        self.join(client)
                    return
            if parse_stream_id(cursor) > parse_stream_id(live):
                self._runtime.sleep(0.01)
                waited_for_relay += 0.01
                continue
            try:
                batch = self.read_after(cursor, live)
            except redis.RedisError:
                log.warning("replay paused: event history unavailable", exc_info=True)
                self._runtime.sleep(0.5)
                continue
            if batch is None:
                log.warning("%s fell behind the event history: dropping it", client.sid)
                self._metrics.slow_clients_dropped.inc()
                self.drop(client)
                return
            self._send_replayed(
                client,
                [
                    event
                    for event in batch
                    if wanted(
                        only & client.subscriptions
                        if only is not None and parse_stream_id(event.id) <= until_pos
                        else client.subscriptions,
                        event,
                    )
                ],
            )
            self._metrics.replayed.inc(len(batch))
            cursor = batch[-1].id if len(batch) == self.replay_batch else live
            self._runtime.sleep(0)  # let live delivery and other clients run between pages

    def read_after(self, cursor: str, live: str, count: int | None = None):
        """The next page of a replay: from memory when it reaches back that far, else from
        Redis; None when the log no longer holds every event after ``cursor``."""
        count = count or self.replay_batch
        recent = self._live.recent
        if recent is not None:
            page = recent.after(cursor, live, count)
            if page is not None:
                return page
        page = self._log.range_after(cursor, count, until=live)
        # Read first, then check: the log may be trimmed past the cursor while a slow
        # client catches up, and a page read after that would hide a gap.
        return page if self._log.history_since(cursor).recovered else None

    def _send_replayed(self, client, events: list[LoggedEvent]) -> None:
        """Write ``events`` in writes of about half the bound, each once the client has
        read most of what came before."""
        start, size = 0, 0
        for end, event in enumerate(events, 1):
            size += len(event.body)
            if size >= self._replay_backlog or end == len(events):
                self._wait_for_reading(client)
                self.send_events(client, events[start:end])
                start, size = end, 0

    def send_events(self, client, events: list[LoggedEvent]) -> None:
        if events:
            client.transport.send_many([self._live.message(event) for event in events])

    def _wait_for_reading(self, client) -> None:
        """Wait while the client has more than half the bound not read (unsent, or sent
        and not acknowledged by a pong): reading the history outruns any network, and past
        the bound a client counts as behind."""
        transport, limit = client.transport, self._replay_backlog
        transport.wait_until(lambda: transport.unread() <= limit)

    # --- history requests -------------------------------------------------------------
    def history_page(self, client, request) -> dict:
        """Write the client the events of a page of the log that its subscriptions take,
        as they were delivered live, and answer where the next page starts (``next``;
        None when the page reached ``until`` or the live position). Raises RedisError."""
        # Never past what this replica delivered live: a later event may still come live.
        until = self._live.position
        if request.until is not None and parse_stream_id(request.until) < parse_stream_id(until):
            until = request.until
        page = self.read_after(request.after, until, request.limit)
        if page is None:
            return {"ok": True, "recovered": False, "next": None}
        self.send_events(client, [e for e in page if wanted(client.subscriptions, e)])
        self._metrics.replayed.inc(len(page))
        full = len(page) == request.limit and page[-1].id != until
        return {"ok": True, "recovered": True, "next": page[-1].id if full else None}
