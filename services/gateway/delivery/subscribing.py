"""Subscribing and unsubscribing: what a client may see, and where it joins delivery.

A subscribe is answered under the delivery lock, so live delivery stands still while the
client joins: it enters the audience (or starts its resume's replay) at the answer's
position, and the events after that position follow the answer. On eventlet and gevent
the answer is written before any other task runs (nothing yields in between).
"""

from __future__ import annotations

import json
import logging

import redis

from services.gateway.delivery import answers
from services.gateway.delivery.connection import Phase
from services.gateway.delivery.requests import Forbidden, InvalidRequest, SubscriptionRequest, parse
from shared import contract

log = logging.getLogger(__name__)


class Subscriptions:
    """Serves ``subscribe`` and ``unsubscribe`` for the hub."""

    def __init__(self, live, catchup, event_log, metrics, settings, spawn):
        self._live = live
        self._spawn = spawn
        self._catchup = catchup
        self._log = event_log
        self._metrics = metrics
        self._max = settings.gateway_max_subscriptions
        self._skip_in_flight = settings.gateway_skip_in_flight_bytes

    def subscribe(self, client, payload: object) -> dict:
        try:
            request = parse(payload, allow_options=True, max_serials=self._max)
            self._authorize(client, request)
        except InvalidRequest as exc:
            return answers.refused(exc.code, str(exc))
        if request.when_behind is not None:
            client.skips_when_behind = request.when_behind == contract.WHEN_BEHIND_SKIP
            # What waits for a client adds to the age of its next live event: one that
            # prefers the newest keeps little waiting, and is skipped ahead past that.
            limit = self._skip_in_flight if client.skips_when_behind else None
            client.transport.limit_in_flight(limit)
        if not self._live.wait_started():
            return answers.unavailable()
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
            return answers.unavailable()
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
            return answers.unavailable("the event history is being rebuilt, try again")
        if epoch.id != self._live.epoch:
            return answers.unavailable("the event history changed, try again")
        return None

    def _answer(self, client, request: SubscriptionRequest, recovered):
        """Subscribe ``client`` while live delivery stands still; the answer and
        ``recovered``."""
        answer: dict = {"ok": True}
        live = self._live
        with live.lock:
            if request.snapshot:
                # Read while live delivery stands still: the snapshot then holds at least
                # every change up to the position the client joins at; a later change also
                # arrives as an event (with a higher version).
                answer["snapshot"] = self._snapshot(request)
            answer["position"] = live.position
            answer["epoch"] = live.epoch
            phase = client.phase
            if phase is Phase.AWAITING and recovered:
                # Up to the live position the replay sends what the request asks for;
                # after it, every subscription.
                self._add(client, request.targets)
                client.move(Phase.REPLAYING)
                self._spawn(
                    self._catchup.replay, client, request.since, request.targets, live.position
                )
            elif phase is Phase.AWAITING:
                self._add(client, request.targets)
                self._catchup.join(client)
            else:
                if recovered and phase is not Phase.LIVE:
                    # One replay per connection, at its own position: it serves targets
                    # added now from there on, so events of new ones since ``since`` are
                    # not all replayed; the client reloads them (``recovered``).
                    recovered = request.targets <= client.subscriptions
                self._add(client, request.targets)
        return answer, recovered

    def _authorize(self, client, request: SubscriptionRequest) -> None:
        principal = client.principal
        if request.wants_all and not principal.all_drones:
            raise Forbidden("forbidden: this token may not subscribe to all drones")
        denied = sorted(s for s in request.serials if not principal.can_see(s))
        if denied:
            raise Forbidden(f"forbidden: this token does not cover {', '.join(denied[:5])}")
        if len(client.subscriptions | request.targets) > self._max:
            raise InvalidRequest(f"at most {self._max} subscriptions per connection")

    def _snapshot(self, request: SubscriptionRequest) -> list[dict]:
        serials = None if request.wants_all else sorted(request.serials)
        return [json.loads(doc) for doc in self._log.snapshot(serials)]

    def _add(self, client, targets: frozenset[str]) -> None:
        """Subscribe ``client`` to ``targets``: in the audience at once when it is live,
        else when its catch-up ends (``CatchUp.join``)."""
        new = targets - client.subscriptions
        client.subscriptions |= targets
        if client.live:
            self._live.audience.add(client, new)
        self.count(new, +1)

    def unsubscribe(self, client, payload: object) -> dict:
        try:
            request = parse(payload, allow_options=False, max_serials=self._max)
        except InvalidRequest as exc:
            return answers.refused(exc.code, str(exc))
        with self._live.lock:
            gone = request.targets & client.subscriptions
            if client.phase in (Phase.LIVE, Phase.LEAVING):
                self._live.audience.remove(client, gone)
            self.count(gone, -1)
            client.subscriptions -= request.targets
        return {"ok": True, "subscriptions": sorted(client.subscriptions)}

    def count(self, targets, delta: int) -> None:
        for target in targets:
            kind = "all" if target == contract.ALL else "drone"
            self._metrics.subscriptions.labels(kind).inc(delta)
