"""The hub: the clients of one gateway process, what they may do, and their requests.

It owns the registry of connected clients and routes each request to the part that serves
it: subscriptions (``subscribing``), live delivery (``live``), catch-up (``catchup``).
Transports reach it through four calls: ``connect``, ``greet``, ``disconnect`` and the
contract's events (``handle``); the relay through ``deliver`` and the history's changes.
"""

from __future__ import annotations

import logging
import time

import redis

from services.gateway.delivery import answers
from services.gateway.delivery.audience import Audience
from services.gateway.delivery.catchup import CatchUp
from services.gateway.delivery.connection import Client, Phase
from services.gateway.delivery.live import LiveDelivery, message_of
from services.gateway.delivery.recent import RecentEvents
from services.gateway.delivery.requests import InvalidRequest, parse_history
from services.gateway.delivery.subscribing import Subscriptions
from services.gateway.transport.frames import Message
from shared import contract
from shared.auth import AuthError, TokenVerifier
from shared.eventlog import EventLog, LoggedEvent

log = logging.getLogger(__name__)

# How long the clients sent away get to take their notice before they are cut off.
SEND_AWAY_GRACE_SECONDS = 2.0


class Hub:
    """Connections, subscriptions and delivery of one gateway process."""

    def __init__(self, event_log: EventLog, verifier: TokenVerifier, settings, metrics, runtime):
        recent = None
        if settings.gateway_replay_cache_bytes:
            recent = RecentEvents(settings.gateway_replay_cache_bytes, message_of)
        self.live = LiveDelivery(Audience(), metrics, runtime, recent)
        self.catchup = CatchUp(
            self.live,
            event_log,
            metrics,
            runtime,
            replay_batch=settings.gateway_replay_batch,
            max_backlog=settings.gateway_max_client_backlog_bytes,
        )
        self.catchup.drop = self.drop
        self.subscriptions = Subscriptions(
            self.live, self.catchup, event_log, metrics, settings, runtime.spawn
        )
        self._verifier = verifier
        self._metrics = metrics
        self._runtime = runtime
        self._clients: dict[str, Client] = {}
        self.accepting = True
        self._requests = {
            contract.SIO_SUBSCRIBE: self.subscribe,
            contract.SIO_UNSUBSCRIBE: self.unsubscribe,
            contract.SIO_HISTORY: self.history,
            contract.SIO_REFRESH: self.refresh,
        }

    # --- connections ----------------------------------------------------------------
    def connect(self, sid: str, auth: object, transport) -> Client:
        """Admit a client with a valid token, or raise :class:`AuthError`."""
        if not self.accepting:
            raise AuthError("gateway is shutting down, connect to another replica")
        token = auth.get("token") if isinstance(auth, dict) else None
        client = Client(sid, self._verifier.verify(token), transport)
        transport.on_behind(lambda: self.catchup.fall_behind(client))
        self._clients[sid] = client
        self._metrics.clients.inc()
        return client

    def greet(self, sid: str) -> None:
        """The connection is confirmed to the client: the contract's ``connected`` event,
        once, and before any answer (a quick client may subscribe first)."""
        client = self._clients.get(sid)
        if client is not None and not client.greeted:
            client.greeted = True
            expires = int(client.principal.expires_at)
            self.send(client, contract.SIO_CONNECTED, {"clientId": sid, "expiresAt": expires})

    def disconnect(self, sid: str) -> None:
        """Forget a client (its transport is closed or closing)."""
        client = self._clients.pop(sid, None)
        if client is None:
            return
        with self.live.lock:
            if client.phase in (Phase.LIVE, Phase.LEAVING):
                self.live.audience.leave(client)
            client.move(Phase.CLOSED)
        self._metrics.clients.dec()
        self.subscriptions.count(client.subscriptions, -1)

    def drop(self, client: Client) -> None:
        """Cut a client off without a goodbye, so that it reconnects by itself (the official
        clients and python-socketio alike) and resumes."""
        client.transport.close(abort=True)
        self.disconnect(client.sid)

    def send(self, client: Client, event: str, data) -> None:
        client.transport.send(Message(event, data))

    @property
    def client_count(self) -> int:
        return len(self._clients)

    # --- requests -------------------------------------------------------------------
    def handle(self, sid: str, event: str, args: list):
        """A contract event from a client; its answer (for the ack), or ``unknown`` for an
        event the contract does not have."""
        request = self._requests.get(event)
        if request is None:
            return Hub.UNKNOWN
        return request(sid, args[0] if len(args) == 1 else None)

    UNKNOWN = object()

    def subscribe(self, sid: str, payload: object) -> dict:
        """``subscribe``: emits ``subscribed`` and returns the same answer for the ack."""
        client = self._clients.get(sid)
        if client is None:
            answer = answers.not_connected()
        else:
            self.greet(sid)
            answer = self.subscriptions.subscribe(client, payload)
            self.send(client, contract.SIO_SUBSCRIBED, answer)
        return answer

    def unsubscribe(self, sid: str, payload: object) -> dict:
        client = self._clients.get(sid)
        if client is None:
            return answers.not_connected()
        answer = self.subscriptions.unsubscribe(client, payload)
        self.send(client, contract.SIO_UNSUBSCRIBED, answer)
        return answer

    def history(self, sid: str, payload: object) -> dict:
        client = self._clients.get(sid)
        if client is None:
            return answers.not_connected()
        try:
            request = parse_history(payload, max_limit=self.catchup.replay_batch)
        except InvalidRequest as exc:
            return answers.refused(exc.code, str(exc))
        try:
            return self.catchup.history_page(client, request)
        except redis.RedisError:
            log.warning("event history unavailable for a history request", exc_info=True)
            return answers.unavailable()

    def refresh(self, sid: str, payload: object) -> dict:
        """Replace a client's token with a newer one of the same subject."""
        client = self._clients.get(sid)
        if client is None:
            return answers.not_connected()
        token = payload.get("token") if isinstance(payload, dict) else None
        try:
            principal = self._verifier.verify(token)
            if principal.subject != client.principal.subject:
                raise AuthError("the new token is for another subject")
            if principal.drones is not None and not client.subscriptions <= principal.drones:
                raise AuthError("the new token does not cover the current subscriptions")
        except AuthError as exc:
            answer = answers.refused(contract.CODE_FORBIDDEN, str(exc))
        else:
            client.principal = principal
            answer = {"ok": True, "expiresAt": int(principal.expires_at)}
        self.send(client, contract.SIO_REFRESHED, answer)
        return answer

    def expire_tokens(self, now: float | None = None) -> list[str]:
        """Disconnect every client whose token has expired; returns their sids."""
        now = time.time() if now is None else now
        expired = [c for c in list(self._clients.values()) if c.principal.expires_at <= now]
        for client in expired:
            log.info("token expired, disconnecting %s", client.sid)
            client.transport.close()
            self.disconnect(client.sid)
        return [c.sid for c in expired]

    # --- the relay's side -----------------------------------------------------------
    def go_live(self, position: str, epoch: str | None = None) -> None:
        self.live.start(position, epoch)

    @property
    def position(self) -> str:
        return self.live.position

    @property
    def epoch(self) -> str | None:
        return self.live.epoch

    def deliver(self, events: list[LoggedEvent]) -> None:
        self.live.deliver(events, self.catchup.caught_behind)

    def change_epoch(self, epoch: str | None, start: str | None) -> int:
        """The relay found the history in another epoch. From none to one (this replica
        started while Redis held no epoch) it is taken as is; otherwise the history was
        lost: every client is told to reconnect (``reconnect_elsewhere``, reason "history
        lost") and resumes, to learn ``recovered: false``; live delivery goes on from the
        new epoch's start, so it neither skips nor repeats an event of the new epoch.
        Returns how many clients were sent away."""
        live = self.live
        with live.lock:
            lost, live.epoch = live.epoch is not None, epoch
            if not lost:
                return 0
            if start is not None:
                live.position = start
            if live.recent is not None:
                live.recent.clear()
            clients = list(self._clients.values())
        log.warning(
            "the event history was lost (new epoch %s from %s): %d clients sent to resume",
            epoch,
            start,
            len(clients),
        )
        self._send_away(clients, contract.RECONNECT_HISTORY_LOST)
        return len(clients)

    def overtaken(self, position: str) -> int:
        """The relay found the history trimmed past ``position``, the newest event it
        delivered: the events it read next do not follow it. Every client sent events by
        this replica is told to reconnect and resumes, to learn ``recovered: false``; the
        events kept for replays are forgotten, as they would hide the gap."""
        with self.live.lock:
            if self.live.recent is not None:
                self.live.recent.clear()
            clients = [c for c in self._clients.values() if c.started]
        self._metrics.relay_overtaken.inc()
        log.warning(
            "the event history was trimmed past %s before this replica read on: "
            "%d clients sent to resume",
            position,
            len(clients),
        )
        self._send_away(clients, contract.RECONNECT_FELL_BEHIND)
        return len(clients)

    # --- shutdown -------------------------------------------------------------------
    def close_all(self) -> int:
        """Ask every client to reconnect elsewhere and close its connection."""
        self.accepting = False
        clients = list(self._clients.values())
        self._send_away(clients, "gateway shutting down")
        return len(clients)

    def _send_away(self, clients: list[Client], reason: str) -> None:
        """Tell each client to reconnect (``reconnect_elsewhere``) and close its connection
        once the notice is written; one that does not take it in a moment is cut off."""
        for client in clients:
            self.send(client, contract.SIO_RECONNECT, {"reason": reason})
            self.disconnect(client.sid)
            # No Socket.IO goodbye: a client told "server disconnect" would not reconnect.
            client.transport.close(goodbye=False)
        deadline = time.monotonic() + SEND_AWAY_GRACE_SECONDS
        for client in clients:
            transport = client.transport
            transport.wait_until(
                lambda t=transport: t.closed, max(0.0, deadline - time.monotonic())
            )
            transport.close(abort=True)
