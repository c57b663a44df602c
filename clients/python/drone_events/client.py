"""A Socket.IO client of the drone events gateway for detector processes and other services.

It follows the client's algorithm of docs/clients.md exactly (``resume.Position``): after
every (re)connection it subscribes again with ``since`` = the id of the last event it handed
over (drone event or broadcast), so the gateway replays what was missed; it drops any event
whose id is not newer; when the gateway no longer holds the missed events (``recovered:
false``) it hands the snapshot to ``on_resync``; a refusal marked ``unavailable`` is retried
with backoff for as long as it is connected (``state``, ``on_state``). Callbacks run one at
a time, in the order the events arrived, on one dispatcher thread.

With ``when_behind="skip"`` (a detector that must act on the newest command) a client
whose callbacks fall behind stops reading; the gateway then moves it ahead to the newest
event, and the client calls ``on_missed`` and reloads state through ``on_resync``.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import socketio

from . import protocol as p
from .event import EnvelopeError, Event
from .inorder import InOrderSocketIOClient
from .reporting import Reporter
from .resume import Backoff, Position, State

log = logging.getLogger("drone_events")

Token = str | Callable[[], str]
_STOP = object()


# The arguments of each typed handler, from (serial, data, event).
_TYPED_ARGUMENTS: dict[str, Callable[[str | None, dict, Event], tuple]] = {
    p.DRONE_STREAM_STATUS: lambda s, d, e: (s, d.get("streamIsOn"), e),
    p.DRONE_AI_TOGGLED: lambda s, d, e: (s, d.get("aiDetectionEnabled"), e),
    p.DRONE_CLASSES_CHANGED: lambda s, d, e: (
        s,
        d.get("detectionClasses", []),
        d.get("added", []),
        d.get("removed", []),
        e,
    ),
    p.DRONE_UPDATED: lambda s, d, e: (s, d.get("changes", {}), d.get("full"), e),
    p.DRONE_CREATED: lambda s, d, e: (s, d.get("full"), e),
    p.DRONE_DELETED: lambda s, d, e: (s, d.get("full"), e),
    p.DRONE_INCIDENT: lambda s, d, e: (s, d.get("incident"), e),
    p.DRONE_REPORTED: lambda s, d, e: (s, d.get("reported"), d.get("inSync"), e),
    p.SYSTEM_BROADCAST: lambda s, d, e: (d.get("message"), d.get("level"), e),
}


class SubscriptionError(RuntimeError):
    """The gateway refused a subscription (unknown drone shape, not allowed, ...)."""


class RefreshError(RuntimeError):
    """The gateway refused a new token."""


def _serial_list(serials: Iterable[str] | str | None) -> list[str]:
    if serials is None:
        return []
    if isinstance(serials, str):
        return [serials]
    return list(dict.fromkeys(serials))


class DroneEventsClient:
    """Receives the events of some drones (or all) from the gateway and calls your handlers.

    ``token`` is a JWT, or a function returning one, which is then called again before
    every reconnection (so a client outlives its tokens). Register handlers with the
    decorators (``@client.on_stream_status`` ...) before :meth:`connect`.
    """

    def __init__(
        self,
        url: str,
        token: Token,
        *,
        serials: Iterable[str] | str | None = None,
        all_drones: bool = False,
        resume: bool = True,
        snapshot: bool = False,
        reconnect: bool = True,
        transports: tuple[str, ...] = ("websocket",),
        socketio_path: str = p.SOCKETIO_PATH,
        connect_timeout: float = 10.0,
        reconnection_delay: float = 0.5,
        reconnection_delay_max: float = 5.0,
        when_behind: str = p.WHEN_BEHIND_REPLAY,
        max_pending: int | None = None,
        auto_report: bool = False,
        api_url: str | None = None,
    ):
        if when_behind not in (p.WHEN_BEHIND_REPLAY, p.WHEN_BEHIND_SKIP):
            raise ValueError(f"when_behind must be 'replay' or 'skip', not {when_behind!r}")
        if max_pending is not None and max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.url = url
        self.when_behind = when_behind
        # Events waiting for the callbacks. Past this many the client stops reading, so a
        # skipping client is seen as behind by the gateway instead of queueing here.
        if max_pending is None and when_behind == p.WHEN_BEHIND_SKIP:
            max_pending = 100
        self.max_pending = max_pending
        self.resume = resume
        self.snapshot = snapshot
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self._token = token
        self._transports = list(transports)
        self._path = socketio_path
        self._all = all_drones
        self._serials = _serial_list(serials)
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._lock = threading.Lock()
        self._position = Position()
        self._backoff = Backoff()
        self._generation = 0  # counts connections: a retry belongs to the one it was for
        self._state = State.DISCONNECTED
        self.epoch: str | None = None  # the history epoch of the last subscribe answer
        self._ready = threading.Event()
        self._refreshed = threading.Event()
        self._refresh_reply: dict[str, Any] | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._room = threading.Condition()  # signalled as the dispatcher takes from _queue
        self._dispatcher: threading.Thread | None = None
        self._rejoin: threading.Thread | None = None
        self._closing = False
        self._stopped = threading.Event()
        self._connecting = False
        self.client_id: str | None = None
        self.expires_at: float | None = None
        self.subscriptions: list[str] = []
        self.last_error: str | None = None
        self.duplicates_dropped = 0
        self.missed_notices = 0
        self._sio = InOrderSocketIOClient(
            reconnection=reconnect,
            reconnection_delay=reconnection_delay,
            reconnection_delay_max=reconnection_delay_max,
        )
        self._bind_socket_handlers()
        # auto_report: after the callbacks of each configuration event, tell the API at
        # api_url what was applied (drone_events/reporting.py).
        self.reporter = Reporter(api_url, lambda: self._auth()["token"]) if auto_report else None

    # --- registering handlers -------------------------------------------------------
    def _add(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        self._handlers.setdefault(kind, []).append(fn)
        return fn

    def on_event(self, fn):
        """``fn(event)`` for every event, before the typed handler of its type."""
        return self._add("event", fn)

    def on_stream_status(self, fn):
        """``fn(serial, stream_is_on, event)`` on ``drone.stream.status``."""
        return self._add(p.DRONE_STREAM_STATUS, fn)

    def on_ai_detection(self, fn):
        """``fn(serial, enabled, event)`` on ``drone.ai.detection.toggled``."""
        return self._add(p.DRONE_AI_TOGGLED, fn)

    def on_detection_classes(self, fn):
        """``fn(serial, classes, added, removed, event)`` on ``drone.detection.classes.changed``."""
        return self._add(p.DRONE_CLASSES_CHANGED, fn)

    def on_config_updated(self, fn):
        """``fn(serial, changes, full, event)`` on ``drone.updated``."""
        return self._add(p.DRONE_UPDATED, fn)

    def on_created(self, fn):
        """``fn(serial, drone, event)`` on ``drone.created``."""
        return self._add(p.DRONE_CREATED, fn)

    def on_deleted(self, fn):
        """``fn(serial, drone, event)`` on ``drone.deleted`` (the drone as it was)."""
        return self._add(p.DRONE_DELETED, fn)

    def on_incident(self, fn):
        """``fn(serial, incident, event)`` on ``drone.incident.detected``."""
        return self._add(p.DRONE_INCIDENT, fn)

    def on_reported(self, fn):
        """``fn(serial, reported, in_sync, event)`` on ``drone.reported``."""
        return self._add(p.DRONE_REPORTED, fn)

    def on_broadcast(self, fn):
        """``fn(message, level, event)`` on ``system.broadcast``."""
        return self._add(p.SYSTEM_BROADCAST, fn)

    def on_resync(self, fn):
        """``fn(drones)`` with the current drone documents, when state must be reloaded.

        Called after the first subscription when ``snapshot=True``, and whenever a
        resumed subscription could not be replayed (the gateway's history no longer
        holds every missed event).
        """
        return self._add("resync", fn)

    def on_state(self, fn):
        """``fn(state, detail)`` whenever :attr:`state` changes (a ``resume.State`` and a
        reason, e.g. the gateway's error while ``RETRYING``)."""
        return self._add("state", fn)

    def on_missed(self, fn):
        """``fn(after, until)`` when the gateway moved this client ahead (``when_behind=
        "skip"``): the events after id ``after`` up to ``until`` were not delivered.

        Called in order, after the last event before the gap. ``on_resync`` follows with
        the current drone documents once the gateway answers; events after ``until`` may
        come first, and the documents are at least as new as them.
        """
        return self._add("missed", fn)

    # --- state ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._sio.connected

    @property
    def last_event_id(self) -> str | None:
        """The id of the newest event handed over (where a resumed subscription starts)."""
        return self._position.id

    @property
    def state(self) -> State:
        """Whether the subscription is confirmed, being retried, refused, ..."""
        return self._state

    def _set_state(self, state: State, detail: str | None = None) -> None:
        if state is self._state:
            return
        self._state = state
        log.log(
            logging.WARNING if state in (State.RETRYING, State.REFUSED) else logging.INFO,
            "subscription %s%s",
            state.value,
            f": {detail}" if detail else "",
        )
        self._queue.put((self._call, "state", (state, detail)))

    @property
    def pending(self) -> int:
        """How many events and notices wait for the callbacks."""
        return self._queue.qsize()

    # --- lifecycle ------------------------------------------------------------------
    def connect(self) -> DroneEventsClient:
        """Connect, subscribe, and return once the gateway confirmed the subscription.

        Raises ``socketio.exceptions.ConnectionError`` when the gateway refuses the
        connection (bad token) and :class:`SubscriptionError` when it refuses the
        subscription.
        """
        self._closing = False
        self._stopped.clear()
        self._start_dispatcher()
        if self.reporter is not None:
            self.reporter.start()
        self._ready.clear()
        self.last_error = None
        self._connecting = True
        self._set_state(State.CONNECTING)
        try:
            self._open(retry=False)
            ready = self._ready.wait(self.connect_timeout)
        except socketio.exceptions.ConnectionError:
            self.disconnect()
            raise
        finally:
            self._connecting = False
        if not ready:
            self.disconnect()
            raise SubscriptionError(
                f"no subscription within {self.connect_timeout}s: {self.last_error or 'no answer'}"
            )
        if self.last_error:
            error = self.last_error
            self.disconnect()
            raise SubscriptionError(error)
        return self

    def wait(self) -> None:
        """Block until the client is disconnected for good (``disconnect()`` or gave up)."""
        while True:
            self._sio.wait()
            rejoin = self._rejoin
            if rejoin is None or self._closing:
                return
            rejoin.join()
            self._rejoin = None
            if not self._sio.connected:
                return

    def disconnect(self) -> None:
        """Disconnect, stop reconnecting, and stop the dispatcher after queued callbacks."""
        self._closing = True
        self._stopped.set()
        with self._room:
            self._room.notify_all()  # a reading thread waiting for room gives up
        rejoin = self._rejoin
        if rejoin is not None and rejoin is not threading.current_thread():
            rejoin.join(10)
        self._sio.shutdown()
        dispatcher = self._dispatcher
        if dispatcher is not None:
            self._queue.put(_STOP)
            if dispatcher is not threading.current_thread():
                dispatcher.join(10)
            self._dispatcher = None
        if self.reporter is not None:
            self.reporter.stop()

    def __enter__(self) -> DroneEventsClient:
        return self.connect()

    def __exit__(self, *exc_info) -> None:
        self.disconnect()

    def _open(self, retry: bool) -> None:
        self._sio.connect(
            self.url,
            auth=self._auth,
            transports=self._transports,
            socketio_path=self._path,
            wait_timeout=self.connect_timeout,
            retry=retry,
        )

    def _auth(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {"token": token}

    # --- subscriptions --------------------------------------------------------------
    def subscribe(
        self, serials: Iterable[str] | str | None = None, *, all_drones: bool = False
    ) -> None:
        """Add drones (or all) to the subscription; kept across reconnections."""
        serials = _serial_list(serials)
        with self._lock:
            self._all = self._all or all_drones
            self._serials += [s for s in serials if s not in self._serials]
        if self._sio.connected and (all_drones or serials):
            shape = {"all": True} if all_drones else {"droneSerials": serials}
            self._emit_subscribe(shape, starts=False)

    def unsubscribe(
        self, serials: Iterable[str] | str | None = None, *, all_drones: bool = False
    ) -> None:
        """Remove drones (or the all-drones subscription)."""
        serials = _serial_list(serials)
        with self._lock:
            self._all = self._all and not all_drones
            self._serials = [s for s in self._serials if s not in serials]
            remaining = list(self._serials)
        if self._sio.connected and (all_drones or serials):
            shape = {"all": True} if all_drones else {"droneSerials": serials}
            self._sio.emit(p.SIO_UNSUBSCRIBE, shape, callback=self._on_unsubscribe_reply)
            if all_drones and remaining:
                # After a reconnection only "all" was subscribed, which covered these.
                self._emit_subscribe({"droneSerials": remaining}, starts=False)

    def _shape(self) -> dict[str, Any] | None:
        if self._all:
            shape: dict[str, Any] = {"all": True}
        elif self._serials:
            shape = {"droneSerials": list(self._serials)}
        else:
            return None
        if self.when_behind != p.WHEN_BEHIND_REPLAY:
            shape["whenBehind"] = self.when_behind
        return shape

    def _needs_state(self) -> bool:
        """Whether the application keeps state: it asked for snapshots or reloads them."""
        return self.snapshot or bool(self._handlers.get("resync"))

    def _subscribe_on_connect(self) -> None:
        """Step 2 of the algorithm: subscribe with ``since`` = the position when there is
        one, and ``snapshot`` when the application keeps state."""
        with self._lock:
            shape = self._shape()
        since = self._position.id if self.resume else None
        if shape is None:
            self._set_state(State.SUBSCRIBED)
            self._ready.set()
            return
        payload = dict(shape)
        if since:
            payload["since"] = since
            if self._needs_state():
                payload["snapshot"] = True
        else:
            payload["snapshot"] = self.snapshot
        self._set_state(State.SUBSCRIBING)
        self._emit_subscribe(payload, starts=True)

    def _emit_subscribe(self, payload: dict[str, Any], starts: bool, resync: bool = False) -> None:
        """``starts``: the connection's own subscribe, whose answer starts its stream.
        ``resync``: asked for a snapshot after a ``missed`` notice (it reloads the state,
        the position stays)."""
        generation = self._generation
        reply = functools.partial(self._on_subscribe_reply, payload, starts, resync, generation)
        self._sio.emit(p.SIO_SUBSCRIBE, payload, callback=reply)

    def _on_subscribe_reply(
        self, request: dict[str, Any], starts: bool, resync: bool, generation: int, reply=None, *_
    ) -> None:
        if generation != self._generation:
            return  # an answer on a connection that is gone
        if not isinstance(reply, dict) or not reply.get("ok"):
            self._refused(request, starts, resync, reply)
            return
        self._backoff.reset()
        self.epoch = reply.get("epoch", self.epoch)
        reload = self._position.answered(request, reply, starts)
        if reload and "since" in request:
            log.warning("events after %s are no longer held; reloading state", request["since"])
        snapshot = reply.get("snapshot")
        if snapshot is not None and (reload or resync or not starts):
            self._queue.put((self._call, "resync", (snapshot,)))
        self.subscriptions = list(reply.get("subscriptions", []))
        self.last_error = None
        recovered = {True: ", recovered", False: ", not recovered"}.get(reply.get("recovered"), "")
        self._set_state(State.SUBSCRIBED, f"at {reply.get('position')}{recovered}")
        self._ready.set()

    def _refused(self, request, starts: bool, resync: bool, reply) -> None:
        """A refusal: ``unavailable`` is retried with backoff while this connection lasts;
        anything else is reported and not retried."""
        error = reply.get("error") if isinstance(reply, dict) else repr(reply)
        self.last_error = error
        if isinstance(reply, dict) and reply.get("code") == p.CODE_UNAVAILABLE:
            delay = self._backoff.delay(reply.get("retryAfter"))
            self._set_state(State.RETRYING, f"{error}; retrying in {delay:.1f}s")
            generation = self._generation
            threading.Thread(
                target=self._retry,
                args=(request, starts, resync, generation, delay),
                name="drone-events-retry",
                daemon=True,
            ).start()
            return
        log.error("subscription %s refused: %s", request, error)
        self._set_state(State.REFUSED, error)
        self._ready.set()

    def _retry(self, request, starts: bool, resync: bool, generation: int, delay: float) -> None:
        if self._stopped.wait(delay) or generation != self._generation:
            return
        if self._sio.connected:
            self._emit_subscribe(request, starts, resync)

    def _on_unsubscribe_reply(self, reply=None, *_) -> None:
        if isinstance(reply, dict) and reply.get("ok"):
            self.subscriptions = list(reply.get("subscriptions", []))
        else:
            log.error("unsubscribe refused: %s", reply)

    # --- tokens ---------------------------------------------------------------------
    def refresh_token(self, token: Token, timeout: float = 10.0) -> dict[str, Any] | None:
        """Use ``token`` from now on; when connected, hand it to the gateway and wait.

        Returns the gateway's answer (``{"ok": True, "expiresAt": ...}``), or None when
        not connected (the token is then used on the next connection). Raises
        :class:`RefreshError` when the gateway refuses it.
        """
        self._token = token
        if not self._sio.connected:
            return None
        self._refreshed.clear()
        value = token() if callable(token) else token
        self._sio.emit(p.SIO_REFRESH, {"token": value})
        if not self._refreshed.wait(timeout):
            raise RefreshError(f"no answer to the token refresh within {timeout}s")
        reply = self._refresh_reply or {}
        if not reply.get("ok"):
            raise RefreshError(reply.get("error", "token refused"))
        return reply

    # --- socket handlers (run on the reading thread, in order) ----------------------
    def _bind_socket_handlers(self) -> None:
        sio = self._sio
        sio.on("disconnect", self._on_disconnect)
        sio.on("connect_error", self._on_connect_error)
        sio.on(p.SIO_CONNECTED, self._on_connected)
        sio.on(p.SIO_DRONE_EVENT, self._on_envelope)
        sio.on(p.SIO_SYSTEM_BROADCAST, self._on_envelope)
        sio.on(p.SIO_REFRESHED, self._on_refreshed)
        sio.on(p.SIO_MISSED, self._on_missed)

    def _on_connected(self, data=None) -> None:
        self._generation += 1
        self._backoff.reset()
        data = data if isinstance(data, dict) else {}
        self.client_id = data.get("clientId")
        self.expires_at = data.get("expiresAt")
        log.info("connected to %s as %s", self.url, self.client_id)
        self._subscribe_on_connect()

    def _on_connect_error(self, data=None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self.last_error = str(message)
        log.warning("connection to %s refused: %s", self.url, message)

    def _on_disconnect(self, reason=None) -> None:
        log.info("disconnected from %s (%s)", self.url, reason)
        self._generation += 1  # a pending retry or answer belongs to the lost connection
        self._set_state(State.DISCONNECTED, str(reason))
        if self._connecting:  # connect() is waiting for a subscription that will not come
            self.last_error = f"disconnected by the gateway ({reason})"
            self._ready.set()
            return
        self._ready.clear()
        # python-socketio retries a lost transport by itself, but not a disconnect the
        # server asked for: a gateway shutting down (it closes the transport so that
        # clients move to another replica) or an expired token.
        if reason != self._sio.reason.SERVER_DISCONNECT or not self.reconnect or self._closing:
            return
        if not callable(self._token) and self.expires_at and time.time() >= self.expires_at - 1:
            self.last_error = "token expired; give the client a token function to renew it"
            log.error("%s: not reconnecting", self.last_error)
            return
        self._rejoin = threading.Thread(target=self._rejoin_loop, daemon=True)
        self._rejoin.start()

    def _rejoin_loop(self) -> None:
        delay = self._sio.reconnection_delay
        while not self._closing:
            # python-socketio finishes tearing down the old connection on another thread.
            if self._sio.eio.state == "disconnected":
                try:
                    self._open(retry=False)
                    return
                except (socketio.exceptions.ConnectionError, ValueError) as exc:
                    log.info(
                        "reconnecting to %s failed (%s), retrying in %.1fs", self.url, exc, delay
                    )
            if self._stopped.wait(delay):
                return
            delay = min(delay * 2, self._sio.reconnection_delay_max)

    def _on_refreshed(self, reply=None) -> None:
        self._refresh_reply = reply if isinstance(reply, dict) else {"ok": False}
        if self._refresh_reply.get("ok"):
            self.expires_at = self._refresh_reply.get("expiresAt")
        self._refreshed.set()

    def _on_envelope(self, envelope=None) -> None:
        try:
            event = Event.from_envelope(envelope)
        except EnvelopeError as exc:
            log.warning("dropping a malformed event: %s", exc)
            return
        if not self._position.take(event.id):
            self.duplicates_dropped += 1
            return
        self._enqueue((self._deliver, event))

    def _on_missed(self, gap=None) -> None:
        gap = gap if isinstance(gap, dict) else {}
        after, until = gap.get("after"), gap.get("until")
        log.warning(
            "%s was behind: moved ahead past the events after %s up to %s", self.url, after, until
        )
        self.missed_notices += 1
        if until:
            self._position.skip_to(until)
        self._enqueue((self._call, "missed", (after, until)))
        # The newest state of what the client follows (``on_resync``); events after
        # ``until`` are already on their way, and apply on top of it by version.
        with self._lock:
            shape = self._shape()
        if shape is not None:
            self._emit_subscribe({**shape, "snapshot": True}, starts=False, resync=True)

    def _enqueue(self, item: tuple) -> None:
        """Queue ``item`` for the dispatcher; on the reading thread, wait while
        ``max_pending`` are queued: the socket is not read meanwhile, and the gateway
        sees a client that reads slowly."""
        if self.max_pending is not None:
            with self._room:  # the dispatcher says when it took one (``_dispatch_loop``)
                self._room.wait_for(lambda: self._queue.qsize() < self.max_pending or self._closing)
        self._queue.put(item)

    # --- dispatching (one thread, in arrival order) ---------------------------------
    def _start_dispatcher(self) -> None:
        if self._dispatcher is None or not self._dispatcher.is_alive():
            self._dispatcher = threading.Thread(
                target=self._dispatch_loop, name="drone-events-dispatch", daemon=True
            )
            self._dispatcher.start()

    def _dispatch_loop(self) -> None:
        while True:
            item = self._queue.get()
            with self._room:
                self._room.notify()
            if item is _STOP:
                return
            fn, *args = item
            fn(*args)

    def _deliver(self, event: Event) -> None:
        self._call("event", (event,))
        arguments = _TYPED_ARGUMENTS.get(event.event)
        if arguments is not None:
            self._call(event.event, arguments(event.drone_serial, event.data, event))

    def _call(self, kind: str, args: tuple) -> None:
        error = None
        for fn in self._handlers.get(kind, ()):
            try:
                fn(*args)
            except Exception as exc:  # a handler's bug must not stop the event stream
                log.exception("drone_events %s handler %r failed", kind, fn)
                error = error or exc
        if self.reporter is not None:
            self.reporter.handled(kind, args, error)
