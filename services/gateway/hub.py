"""The hub: who is connected, what they subscribed to, and getting each event to them once.

Rooms do the fan-out: one room per drone and one for "all". A client in both gets an
event once because each event is emitted once to the list of both rooms, which
python-socketio de-duplicates per recipient. Every gateway replica reads the whole event
log itself and emits only to its own clients (``ignore_queue``), so N replicas never
multiply an event (python-socketio issue #460).

Resume (``since``) replays the log for one client, then joins the rooms at the exact
position the live relay has reached; ``_lock`` makes "advance position and emit" and
"compare position and join" mutually exclusive, so the seam has no gap and no duplicate.

A client that reads slower than events come (the transport reports its unsent backlog
passing a bound) is caught up the same way: it leaves the rooms at the live position and
is served from the log at the pace it reads, then joins again. It stays connected, keeps
its heartbeats and misses nothing; the gateway holds no more than the bound for it, and
its share of the fan-out costs nothing while it catches up. Only when the log no longer
holds its position is the connection dropped: the client then resumes with ``since`` and
learns ``recovered: false``.

A client that subscribed with ``whenBehind: "skip"`` values the present over the past (a
detector that must react to the latest command): once its backlog has drained it rejoins at
the live position at once, and a ``missed`` notice tells it which part of the log it did not
get, which it fetches with ``history`` at its own pace.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time

import redis

from services.gateway.connection import Client
from services.gateway.fastjson import RawJSON
from services.gateway.recent import RecentEvents
from services.gateway.subscriptions import (
    Forbidden,
    InvalidRequest,
    SubscriptionRequest,
    parse,
    parse_history,
)
from shared import contract
from shared.auth import AuthError, TokenVerifier
from shared.eventlog import EventLog, LoggedEvent, parse_stream_id

log = logging.getLogger(__name__)

NAMESPACE = "/"
# Packets held back per write batch (see ``deliver``): bounds the wait of the first client.
BATCH_PACKETS = 10_000
# What a temporary refusal (``unavailable``) asks the client to wait before it retries.
RETRY_AFTER_SECONDS = 1.0


def refused(code: str, message: str) -> dict:
    """A refusing answer: ``code`` says whether and when to retry (docs/clients.md)."""
    answer = {"ok": False, "code": code, "error": message}
    if code == contract.CODE_UNAVAILABLE:
        answer["retryAfter"] = RETRY_AFTER_SECONDS
    return answer


def _unavailable(message: str = "event history unavailable, try again") -> dict:
    return refused(contract.CODE_UNAVAILABLE, message)


def _not_connected() -> dict:
    return refused(contract.CODE_BAD_REQUEST, "not connected")


def _room(target: str) -> str:
    return contract.ROOM_ALL if target == contract.ALL else contract.drone_room(target)


class Hub:
    """Connections, subscriptions and delivery of one gateway process."""

    def __init__(
        self,
        server,
        event_log: EventLog,
        verifier: TokenVerifier,
        settings,
        metrics,
        sleep,
        spawn,
        fast_path=None,
    ):
        self._server = server
        # The eventlet/gevent transport's direct writes (``transport.FastPath``); without
        # it (threading mode, compression) python-socketio's emit does everything.
        self._fast = fast_path
        self._write_batch = fast_path.batch if fast_path else contextlib.nullcontext
        self._recent = None
        if settings.gateway_replay_cache_bytes:
            self._recent = RecentEvents(settings.gateway_replay_cache_bytes, self._frame)
        # A replay pauses above half the bound past which a client is served from the log.
        self._replay_backlog = settings.gateway_max_client_backlog_bytes // 2
        # Past twice the bound a client is dropped: by the transport on the fast path, by
        # ``drop_overfull_queues`` elsewhere.
        self._max_queued = 2 * settings.gateway_max_client_backlog_bytes
        self._skip_in_flight = settings.gateway_skip_in_flight_bytes
        self._log = event_log
        self._verifier = verifier
        self._metrics = metrics
        self._sleep = sleep
        self._spawn = spawn
        self._max_subscriptions = settings.gateway_max_subscriptions
        self._replay_batch = settings.gateway_replay_batch
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()
        self._delivering: int | None = None  # the task inside ``deliver``, holding the lock
        self.position = "0-0"  # id of the newest event emitted live
        self.epoch: str | None = None  # the history epoch live delivery is in
        self._live = False  # the relay has taken its starting position (``go_live``)
        self.accepting = True

    def go_live(self, position: str, epoch: str | None = None) -> None:
        """The relay's starting position: live delivery goes on from there."""
        with self._lock:
            self.position = position
            self.epoch = epoch
            self._live = True

    def change_epoch(self, epoch: str | None, start: str | None) -> int:
        """The relay found the history in another epoch. From none to one (this replica
        started while Redis held no epoch) it is taken as is; otherwise the history was
        lost: every client is told to reconnect (``reconnect_elsewhere``, reason "history
        lost") and resumes, to learn ``recovered: false``; live delivery goes on from the
        new epoch's start, so it neither skips nor repeats an event of the new epoch.
        Returns how many clients were sent away."""
        with self._lock:
            lost, self.epoch = self.epoch is not None, epoch
            if not lost:
                return 0
            if start is not None:
                self.position = start
            if self._recent is not None:
                self._recent.clear()
            sids = list(self._clients)
        log.warning(
            "the event history was lost (new epoch %s from %s): %d clients sent to resume",
            epoch,
            start,
            len(sids),
        )
        self._send_away(sids, contract.RECONNECT_HISTORY_LOST)
        return len(sids)

    def overtaken(self, position: str) -> int:
        """The relay found the history trimmed past ``position``, the newest event it
        delivered: the events it read next do not follow it. Every client sent events by
        this replica (live, or replaying up to the live position) is told to reconnect
        (``reconnect_elsewhere``) and resumes, to learn ``recovered: false``; the events
        kept for replays are forgotten, as they would hide the gap. Returns how many
        clients were sent away."""
        with self._lock:
            if self._recent is not None:
                self._recent.clear()
            sids = [sid for sid, client in self._clients.items() if client.started]
        self._metrics.relay_overtaken.inc()
        log.warning(
            "the event history was trimmed past %s before this replica read on: "
            "%d clients sent to resume",
            position,
            len(sids),
        )
        self._send_away(sids, contract.RECONNECT_FELL_BEHIND)
        return len(sids)

    def _wait_until_live(self, timeout: float = 5.0) -> bool:
        # A subscribe answered before the relay takes its position would join at a position
        # the relay then jumps past: the events in between would reach no one.
        deadline = time.monotonic() + timeout
        while not self._live and time.monotonic() < deadline:
            self._sleep(0.01)
        return self._live

    # --- connections ----------------------------------------------------------------
    def connect(self, sid: str, auth: object) -> Client:
        """Admit a client with a valid token, or raise :class:`AuthError`."""
        if not self.accepting:
            raise AuthError("gateway is shutting down, connect to another replica")
        token = auth.get("token") if isinstance(auth, dict) else None
        client = Client(sid, self._verifier.verify(token))
        self._clients[sid] = client
        self._metrics.clients.inc()
        self._spawn(self._greet, sid)
        return client

    def _greet(self, sid: str) -> None:
        # The connect handler runs before the connection is confirmed to the client, so
        # the contract's ``connected`` event is sent once it is.
        deadline = time.monotonic() + 5
        while not self._server.manager.is_connected(sid, NAMESPACE):
            if time.monotonic() > deadline or sid not in self._clients:
                return
            self._sleep(0.005)
        client = self._clients.get(sid)
        if client:
            self._send_greeting(client)

    def _send_greeting(self, client: Client) -> None:
        # Once per client, and before any answer: a quick client may subscribe first.
        if not client.greeted:
            client.greeted = True
            self.emit_to(
                client.sid,
                contract.SIO_CONNECTED,
                {"clientId": client.sid, "expiresAt": int(client.principal.expires_at)},
            )

    def disconnect(self, sid: str) -> None:
        """Forget a client; python-socketio has already removed it from its rooms."""
        client = self._clients.pop(sid, None)
        if client:
            self._metrics.clients.dec()
            self._count_subscriptions(client.subscriptions, -1)

    def emit_to(self, sid: str, event: str, data) -> None:
        self._server.emit(event, data, to=sid, namespace=NAMESPACE, ignore_queue=True)

    # --- subscriptions --------------------------------------------------------------
    def subscribe(self, sid: str, payload: object) -> dict:
        """Handle ``subscribe``; emits ``subscribed`` and returns the same answer for the ack."""
        answer = self._subscribe(sid, payload)
        self.emit_to(sid, contract.SIO_SUBSCRIBED, answer)
        return answer

    def _subscribe(self, sid: str, payload: object) -> dict:
        client = self._clients.get(sid)
        if client is None:
            return _not_connected()
        self._send_greeting(client)
        try:
            request = parse(payload, allow_options=True, max_serials=self._max_subscriptions)
            self._authorize(client, request)
        except InvalidRequest as exc:
            return refused(exc.code, str(exc))
        if request.when_behind is not None:
            client.skips_when_behind = request.when_behind == contract.WHEN_BEHIND_SKIP
            if self._fast is not None:
                # What waits for a client adds to the age of its next live event: one that
                # prefers the newest keeps little waiting, and is skipped ahead past that.
                limit = self._skip_in_flight if client.skips_when_behind else None
                self._fast.limit_in_flight(sid, limit)
        if not self._wait_until_live():
            return _unavailable()
        try:
            refusal = self._check_epoch(request)
            if refusal is not None:
                return refusal
            recovered = None
            if request.since:
                recovered = self._log.history_since(request.since).recovered
                # A since is honoured before the connection was sent anything (or during its
                # resume's own replay): later, older events would break the id order.
                recovered = recovered and client.may_resume()
            answer, recovered = self._answer(client, request, recovered)
        except redis.RedisError:
            log.warning("event history unavailable for a subscribe", exc_info=True)
            return _unavailable()
        if recovered is not None:
            answer["recovered"] = recovered
        answer["subscriptions"] = sorted(client.subscriptions)
        return answer

    def _check_epoch(self, request: SubscriptionRequest) -> dict | None:
        """A refusal while the history cannot judge a ``since`` or give a whole snapshot:
        Redis holds no epoch, its snapshot state is being rebuilt, or this replica's relay
        has not reached the new epoch yet (it is about to send its clients away)."""
        if not (request.since or request.snapshot):
            return None
        epoch = self._log.epoch()
        if epoch is None or not epoch.ready:
            return _unavailable("the event history is being rebuilt, try again")
        if epoch.id != self.epoch:
            return _unavailable("the event history changed, try again")
        return None

    def _answer(self, client: Client, request: SubscriptionRequest, recovered):
        """Subscribe ``client`` (under the lock, so live delivery stands still); returns the
        answer and ``recovered``. A connection is sent nothing before its first answer: it
        enters the rooms (or starts its replay) here, and on eventlet and gevent the handler
        writes the answer before any other task runs (it does not yield in between)."""
        answer: dict = {"ok": True}
        with self._lock:
            if request.snapshot:
                # Read while live delivery stands still: the snapshot then holds at least
                # every change up to the position the client joins at; a later change also
                # arrives as an event (with a higher version).
                answer["snapshot"] = self._snapshot(request)
            answer["position"] = self.position
            answer["epoch"] = self.epoch
            if client.replaying:
                # One replay per connection, at its own position: it serves targets added
                # now from there on, so events of new ones since ``since`` are not all
                # replayed; the client reloads them (``recovered``).
                if recovered:
                    recovered = request.targets <= client.subscriptions
                self._add_targets(client, request.targets)
                return answer, recovered
            if recovered:
                # Up to the live position the replay sends what the request asks for; after
                # it, every subscription. (Only a connection sent nothing yet gets here.)
                self._add_targets(client, request.targets)
                client.start_replaying()
                self._spawn(self._replay, client.sid, request.since, request.targets, self.position)
            elif client.live:
                self._add_targets(client, request.targets)
            else:
                # Into the rooms under the lock: the events after the answer's position
                # follow the answer, which the handler writes before it yields.
                self._add_targets(client, request.targets)
                self._go_live(client)
        return answer, recovered

    def _authorize(self, client: Client, request: SubscriptionRequest) -> None:
        principal = client.principal
        if request.wants_all and not principal.all_drones:
            raise Forbidden("forbidden: this token may not subscribe to all drones")
        denied = sorted(s for s in request.serials if not principal.can_see(s))
        if denied:
            raise Forbidden(f"forbidden: this token does not cover {', '.join(denied[:5])}")
        if len(client.subscriptions | request.targets) > self._max_subscriptions:
            raise InvalidRequest(f"at most {self._max_subscriptions} subscriptions per connection")

    def _snapshot(self, request: SubscriptionRequest) -> list[dict]:
        serials = None if request.wants_all else sorted(request.serials)
        return [json.loads(doc) for doc in self._log.snapshot(serials)]

    def _add_targets(self, client: Client, targets: frozenset[str]) -> None:
        """Subscribe ``client`` to ``targets``: in their rooms at once when it is live, else
        when its replay ends (``_go_live``)."""
        new = targets - client.subscriptions
        if client.live:
            for target in targets:
                self._server.enter_room(client.sid, _room(target), namespace=NAMESPACE)
        client.subscriptions |= targets
        self._count_subscriptions(new, +1)

    def _go_live(self, client: Client) -> None:
        """The replay of ``client`` reached the live position (the lock held): into the
        rooms of its subscriptions and of broadcasts."""
        client.go_live()
        for target in client.subscriptions:
            self._server.enter_room(client.sid, _room(target), namespace=NAMESPACE)
        self._server.enter_room(client.sid, contract.ROOM_BROADCASTS, namespace=NAMESPACE)

    def unsubscribe(self, sid: str, payload: object) -> dict:
        """Handle ``unsubscribe``; emits ``unsubscribed`` and returns the answer for the ack."""
        client = self._clients.get(sid)
        if client is None:
            answer = _not_connected()
        else:
            try:
                request = parse(payload, allow_options=False, max_serials=self._max_subscriptions)
            except InvalidRequest as exc:
                answer = refused(exc.code, str(exc))
            else:
                with self._lock:
                    for target in request.targets & client.subscriptions:
                        self._server.leave_room(sid, _room(target), namespace=NAMESPACE)
                    self._count_subscriptions(request.targets & client.subscriptions, -1)
                    client.subscriptions -= request.targets
                answer = {"ok": True, "subscriptions": sorted(client.subscriptions)}
        self.emit_to(sid, contract.SIO_UNSUBSCRIBED, answer)
        return answer

    def _count_subscriptions(self, targets, delta: int) -> None:
        for target in targets:
            kind = "all" if target == contract.ALL else "drone"
            self._metrics.subscriptions.labels(kind).inc(delta)

    # --- token refresh and expiry ---------------------------------------------------
    def refresh(self, sid: str, payload: object) -> dict:
        """Replace a client's token with a newer one of the same subject."""
        client = self._clients.get(sid)
        token = payload.get("token") if isinstance(payload, dict) else None
        if client is None:
            answer = _not_connected()
        else:
            try:
                principal = self._verifier.verify(token)
                if principal.subject != client.principal.subject:
                    raise AuthError("the new token is for another subject")
                if principal.drones is not None and not client.subscriptions <= principal.drones:
                    raise AuthError("the new token does not cover the current subscriptions")
            except AuthError as exc:
                answer = refused(contract.CODE_FORBIDDEN, str(exc))
            else:
                client.principal = principal
                answer = {"ok": True, "expiresAt": int(principal.expires_at)}
        self.emit_to(sid, contract.SIO_REFRESHED, answer)
        return answer

    def expire_tokens(self, now: float | None = None) -> list[str]:
        """Disconnect every client whose token has expired; returns their sids."""
        now = time.time() if now is None else now
        expired = [c.sid for c in list(self._clients.values()) if c.principal.expires_at <= now]
        for sid in expired:
            log.info("token expired, disconnecting %s", sid)
            self._server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
            self.disconnect(sid)
        return expired

    # --- delivery -------------------------------------------------------------------
    def deliver(self, events: list[LoggedEvent]) -> None:
        """Emit events read live from the log to the rooms they belong to.

        Events go out in write batches (``write_batch``, see ``transport.batch``): each
        client gets one write per batch rather than one per event, and a batch holds about
        ``BATCH_PACKETS`` packets so the first clients do not wait for a long fan-out.
        A batch of one event (a single new event, or so many clients that ``BATCH_PACKETS``
        allows only one) has nothing to coalesce: each client's copy is written as soon as
        it is emitted, and the first clients read while the fan-out goes on.
        """
        per_batch = max(1, BATCH_PACKETS // max(1, len(self._clients)))
        coalesce = per_batch > 1 and len(events) > 1
        write_batch = self._write_batch if coalesce else contextlib.nullcontext
        with self._lock:
            if self._recent is not None:
                self._recent.extend(events)
            self._delivering = threading.get_ident()
            try:
                for start in range(0, len(events), per_batch):
                    with write_batch():
                        for event in events[start : start + per_batch]:
                            self._emit_live(event)
            finally:
                self._delivering = None
        self._metrics.observe_delivered(events)

    def _emit_live(self, event: LoggedEvent) -> None:
        self.position = event.id
        name, rooms = _route(event)
        # Clients not live (awaiting their first answer, replaying) are in no room.
        if self._fast is not None:
            self._fast.fan_out(name, RawJSON(event.envelope), rooms, None)
            return
        self._server.emit(
            name, RawJSON(event.envelope), namespace=NAMESPACE, to=rooms, ignore_queue=True
        )

    # --- replays: resuming and catching up ------------------------------------------
    def fall_behind(self, sid: str) -> None:
        """The transport's report that ``sid`` has more unsent than the bound: catch it up.

        It comes from inside an emit. During :meth:`deliver` (this task holds the lock)
        the client leaves live delivery at once, so the rest of the batch is not queued
        for it too; otherwise a task of its own takes the lock to switch.
        """
        client = self._clients.get(sid)
        if client is None or not client.live or client.falling_behind:
            return
        if self._delivering == threading.get_ident():
            self._spawn(self._serve_behind, sid, self._leave_live_delivery(client))
        else:
            client.falling_behind = True
            self._spawn(self._catch_up, sid)

    def _catch_up(self, sid: str) -> None:
        with self._lock:
            client = self._clients.get(sid)
            if client is None:
                return
            client.falling_behind = False
            if not client.live:  # a resume started meanwhile: it paces the client already
                return
            cursor = self._leave_live_delivery(client)
        self._serve_behind(sid, cursor)

    def _serve_behind(self, sid: str, cursor: str) -> None:
        client = self._clients.get(sid)
        if client is not None and client.skips_when_behind:
            self._skip_ahead(sid, cursor)
        else:
            self._replay(sid, cursor)

    def _skip_ahead(self, sid: str, cursor: str) -> None:
        """Once the client has drained its backlog, join it to live delivery at the live
        position, first telling it the events after ``cursor`` it did not get (``missed``)."""
        self._wait_until_sent(sid)  # all of it: what still waits delays the live events
        # And read, but for what came after the last ping: else the live events would wait
        # behind what fills its kernel's buffers, and the transport would still count it as
        # behind, and so would not report it again.
        self._wait_for_drain(sid)
        with self._lock:
            client = self._clients.get(sid)
            if client is None or not client.replaying:
                return
            if self.position != cursor:
                # Under the lock: the notice goes out before any event after ``until``.
                missed = {"after": cursor, "until": self.position}
                self.emit_to(sid, contract.SIO_MISSED, missed)
                self._metrics.slow_clients_skipped.inc()
            self._go_live(client)

    def _leave_live_delivery(self, client: Client) -> str:
        """Take a slow client out of the rooms (the lock held); returns where its replay
        starts: every event up to the live position is already in its queue."""
        self._leave_rooms(client)
        client.start_replaying()
        self._metrics.slow_clients.inc()
        log.info("%s reads slower than events come: serving it from the log", client.sid)
        return self.position

    def _leave_rooms(self, client: Client) -> None:
        for target in client.subscriptions:
            self._server.leave_room(client.sid, _room(target), namespace=NAMESPACE)
        self._server.leave_room(client.sid, contract.ROOM_BROADCASTS, namespace=NAMESPACE)

    def _replay(
        self, sid: str, cursor: str, only: frozenset[str] | None = None, until: str = "0-0"
    ) -> None:
        """Send a replaying client the events after ``cursor`` it subscribes to, paced to
        its reading, then join it to live delivery at the position reached.

        Events up to ``until`` are sent only for the targets ``only`` (a resuming
        subscribe's; the client's other subscriptions had them live).
        """
        until_pos = parse_stream_id(until)
        waited_for_relay = 0.0
        while (client := self._clients.get(sid)) is not None and client.replaying:
            self._wait_for_drain(sid)  # nor rejoin live delivery before
            with self._lock:
                live = self.position
                if parse_stream_id(cursor) >= parse_stream_id(live) or waited_for_relay > 5:
                    # Caught up (or the client is ahead of this replica's relay, which
                    # catches up in moments): from here on, delivery is live.
                    self._go_live(client)
                    return
            if parse_stream_id(cursor) > parse_stream_id(live):
                self._sleep(0.01)
                waited_for_relay += 0.01
                continue
            try:
                batch = self._read_after(cursor, live)
            except redis.RedisError:
                log.warning("replay paused: event history unavailable", exc_info=True)
                self._sleep(0.5)
                continue
            if batch is None:
                log.warning("%s fell behind the event history: dropping it to resync", sid)
                self._metrics.slow_clients_dropped.inc()
                self._drop(sid)
                return
            wanted = [
                event
                for event in batch
                if _wanted(
                    only
                    if only is not None and parse_stream_id(event.id) <= until_pos
                    else client.subscriptions,
                    event,
                )
            ]
            self._send_replayed(sid, wanted)
            self._metrics.replayed.inc(len(batch))
            cursor = batch[-1].id if len(batch) == self._replay_batch else live
            self._sleep(0)  # let live delivery and other clients run between batches

    def history(self, sid: str, payload: object) -> dict:
        """Handle ``history``: write the client the events of a page of the log that its
        subscriptions take, as they were delivered live, and answer where the next page
        starts (``next``; None when the page reached ``until`` or the live position)."""
        client = self._clients.get(sid)
        if client is None:
            return _not_connected()
        try:
            request = parse_history(payload, max_limit=self._replay_batch)
        except InvalidRequest as exc:
            return refused(exc.code, str(exc))
        # Never past what this replica delivered live: a later event may still come live.
        until = self.position
        if request.until is not None and parse_stream_id(request.until) < parse_stream_id(until):
            until = request.until
        try:
            page = self._read_after(request.after, until, request.limit)
        except redis.RedisError:
            log.warning("event history unavailable for a history request", exc_info=True)
            return _unavailable()
        if page is None:
            return {"ok": True, "recovered": False, "next": None}
        self._write_replayed(sid, [e for e in page if _wanted(client.subscriptions, e)])
        self._metrics.replayed.inc(len(page))
        full = len(page) == request.limit and page[-1].id != until
        return {"ok": True, "recovered": True, "next": page[-1].id if full else None}

    def _read_after(
        self, cursor: str, live: str, count: int | None = None
    ) -> list[LoggedEvent] | None:
        """The next page of a replay: from memory when it reaches back that far, else from
        Redis; None when the log no longer holds every event after ``cursor``."""
        count = count or self._replay_batch
        if self._recent is not None:
            page = self._recent.after(cursor, live, count)
            if page is not None:
                return page
        page = self._log.range_after(cursor, count, until=live)
        # Read first, then check: the log may be trimmed past the cursor while a slow
        # client catches up, and a page read after that would hide a gap.
        return page if self._log.history_since(cursor).recovered else None

    def _send_replayed(self, sid: str, events: list[LoggedEvent]) -> None:
        """Write ``events`` to a replaying client in writes of about half the bound, each
        once the client has drained what came before."""
        start, size = 0, 0
        for end, event in enumerate(events, 1):
            size += len(event.body)
            if size >= self._replay_backlog or end == len(events):
                self._wait_for_drain(sid)
                self._write_replayed(sid, events[start:end])
                start, size = end, 0

    def _write_replayed(self, sid: str, events: list[LoggedEvent]) -> None:
        if self._fast is not None:
            frame = self._recent.frame if self._recent is not None else self._frame
            if self._fast.write_frames(sid, b"".join(map(frame, events))):
                return
        for event in events:
            self.emit_to(sid, _route(event)[0], RawJSON(event.envelope))

    def _frame(self, event: LoggedEvent) -> bytes:
        return self._fast.message_frame(_route(event)[0], RawJSON(event.envelope))

    def _wait_for_drain(self, sid: str) -> None:
        """Hold a replay while the client has more than half the bound not read yet (unsent,
        or sent and its reading not acknowledged by a pong): reading the history outruns any
        network, past the bound a client counts as behind (``transport``), and a ping waits
        behind what the client has not read."""
        self._wait_while(sid, lambda: self._fast.outstanding(sid) > self._replay_backlog)

    def _wait_until_sent(self, sid: str) -> None:
        """Wait until nothing waits unsent for the client."""
        self._wait_while(sid, lambda: self._fast.backlog(sid))

    def _wait_while(self, sid: str, waiting) -> None:
        """Poll ``waiting()`` every 10 ms while the client ``sid`` is connected (nothing
        to wait for without the fast path, which alone counts what waits for a client)."""
        if self._fast is None:
            return
        while sid in self._clients and waiting():
            self._sleep(0.01)

    def drop_overfull_queues(self) -> list[str]:
        """Drop the clients that the fast path does not write to (threading mode,
        permessage-deflate, long-polling) with more than twice the backlog bound waiting in
        engine.io's queue; returns their sids.

        Nothing paces or catches up such a client, and engine.io's queue has no bound: this
        is the fast path's own limit on what one client makes the gateway hold. The client
        reconnects and resumes from the history (``since``), as any dropped client does.
        """
        dropped = []
        for sid in list(self._clients):
            if self._fast is not None and self._fast.bounds(sid):
                continue
            sock = self._engineio_socket(sid)
            if sock is not None and _queued_bytes(sock) > self._max_queued:
                log.warning("%s has more than %d bytes unsent: dropping it", sid, self._max_queued)
                self._metrics.slow_clients_dropped.inc()
                self._drop(sid)
                dropped.append(sid)
        return dropped

    def _engineio_socket(self, sid: str):
        eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
        return self._server.eio.sockets.get(eio_sid) if eio_sid else None

    def _drop(self, sid: str):
        """Drop the connection without a goodbye, so that every client reconnects by itself
        (the official ones and python-socketio alike); returns the engine.io socket."""
        sock = self._engineio_socket(sid)
        if sock is not None:
            sock.close(wait=False, abort=True)
        self.disconnect(sid)
        return sock

    # --- shutdown -------------------------------------------------------------------
    def close_all(self) -> int:
        """Ask every client to reconnect elsewhere and close its connection."""
        self.accepting = False
        sids = list(self._clients)
        self._send_away(sids, "gateway shutting down")
        return len(sids)

    def _send_away(self, sids: list[str], reason: str) -> None:
        """Emit ``reconnect_elsewhere`` to each of ``sids`` and close its connection."""
        closing = []
        for sid in sids:
            self.emit_to(sid, contract.SIO_RECONNECT, {"reason": reason})
        for sid in sids:
            # The clients reconnect to another replica behind the balancer. The notice
            # above is written before the drop, and nothing waits on a client that
            # stopped reading.
            sock = self._drop(sid)
            if sock is not None:
                closing.append(sock)
        self._let_writers_finish(closing, timeout=2.0)

    def _let_writers_finish(self, sockets, timeout: float) -> None:
        """Give the writer tasks a bounded moment to put the notices on the wire."""
        deadline = time.monotonic() + timeout
        while any(s.queue.qsize() for s in sockets) and time.monotonic() < deadline:
            self._sleep(0.01)
        self._sleep(0.05)  # the last writes, taken off the queues, are still in flight

    @property
    def client_count(self) -> int:
        return len(self._clients)


def _route(event: LoggedEvent) -> tuple[str, list[str] | None]:
    """The Socket.IO event name of a logged event and its rooms."""
    if event.serial:
        return contract.SIO_DRONE_EVENT, [contract.ROOM_ALL, contract.drone_room(event.serial)]
    return contract.SIO_SYSTEM_BROADCAST, [contract.ROOM_BROADCASTS]


def _queued_bytes(sock) -> int:
    """Bytes waiting in an engine.io socket's queue (every queue python-engineio makes, of
    threads, eventlet or gevent, keeps its items in a deque named ``queue``)."""
    queue = sock.queue
    if queue.qsize() < 2:  # the common case, and one packet is not a backlog
        return 0
    return sum(map(_queued_size, list(queue.queue)))


def _queued_size(item) -> int:
    if isinstance(item, bytes):  # frames the fast path queued before a socket left it
        return len(item)
    data = getattr(item, "data", None)  # an engine.io packet
    return len(data) if isinstance(data, str | bytes) else 0


def _wanted(targets, event: LoggedEvent) -> bool:
    """Whether subscriptions to ``targets`` take ``event``."""
    return not event.serial or contract.ALL in targets or event.serial in targets
