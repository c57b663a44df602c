"""``auto_report``: tell the API what the detector applied (``PUT .../drones/{serial}/reported``).

Two parts:

- :class:`AppliedState` follows the callbacks of the configuration events and decides what to
  report. One change of a drone arrives as ``drone.updated`` followed by the specific event
  of each changed field (``drone.stream.status``, ``drone.ai.detection.toggled``,
  ``drone.detection.classes.changed``), all of one ``version``; the report of that version
  goes out once every one of them was handled. A field whose callback returned is applied
  (its desired value); a field whose callback raised keeps its previous value and the
  error becomes the report's ``message`` until a later change of that field succeeds, so
  the drone stays ``inSync: false`` and the operator sees why.
- :class:`ReportSender` sends reports from a thread of its own, the newest per drone only:
  a report that failed (API unreachable, 5xx, 429) is retried with backoff unless a newer
  one for that drone came meanwhile, which replaces it; never an older one.

Both outlive reconnections: they do not depend on the Socket.IO connection at all.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from . import protocol as p

log = logging.getLogger("drone_events.reporting")

# The desired fields a report states, and the event that announces each one's change.
FIELD_OF_EVENT = {
    p.DRONE_STREAM_STATUS: "streamIsOn",
    p.DRONE_AI_TOGGLED: "aiDetectionEnabled",
    p.DRONE_CLASSES_CHANGED: "detectionClasses",
}
EVENT_OF_FIELD = {field: kind for kind, field in FIELD_OF_EVENT.items()}
# The callbacks after which a report may be due ("resync": a snapshot was loaded).
REPORTING_KINDS = {*FIELD_OF_EVENT, p.DRONE_UPDATED, p.DRONE_CREATED, p.DRONE_DELETED, "resync"}
FIELDS = tuple(EVENT_OF_FIELD)
# What a detector runs before it applied anything.
NOTHING_APPLIED: dict[str, Any] = {
    "streamIsOn": False,
    "aiDetectionEnabled": False,
    "detectionClasses": [],
}
MAX_MESSAGE = 200  # the API's limit on a report's message
REPORT_PATH = "/api/v1/drones/{serial}/reported"


def error_message(error: BaseException) -> str:
    """The report ``message`` of a callback's exception (the API takes up to 200 characters)."""
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


@dataclasses.dataclass
class _Drone:
    """What the detector runs for one drone, as far as the callbacks tell."""

    applied: dict[str, Any]
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    version: int | None = None  # the version of the last report


@dataclasses.dataclass
class _Change:
    """The events of one version of one drone, while they are being handled."""

    serial: str
    version: int
    full: dict[str, Any]
    previous: dict[str, Any]  # the changed fields and their values before the change
    waiting: set[str]  # specific events still to come
    errors: dict[str | None, str] = dataclasses.field(default_factory=dict)  # None: the change


class AppliedState:
    """Turns handled events into reports: ``handled(kind, args, error)`` returns the
    ``(serial, body)`` pairs to send. Called from the client's dispatcher thread only."""

    def __init__(self):
        self._drones: dict[str, _Drone] = {}
        self._open: dict[str, _Change] = {}

    def handled(
        self, kind: str, args: tuple, error: BaseException | None
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """The reports after the callbacks of ``kind`` ran with ``args`` (``error``: the first
        exception one of them raised). A ``None`` body means: forget that drone's reports."""
        if kind not in REPORTING_KINDS:
            return []
        message = error_message(error) if error is not None else None
        if kind == "resync":
            reports = self._close_all()
            for drone in args[0] or []:
                if isinstance(drone, dict) and drone.get("deviceSerialNumber"):
                    reports.append(self._loaded(drone, message))
            return reports
        event = args[-1] if args else None
        serial, version = getattr(event, "drone_serial", None), getattr(event, "version", None)
        if not serial or not isinstance(version, int):
            return []
        reports = []
        change = self._open.get(serial)
        if change is not None and change.version != version:
            reports += self._close(serial)  # the rest of that change never came
        if kind == p.DRONE_CREATED:
            reports.append(self._loaded(event.full or {}, message))
        elif kind == p.DRONE_DELETED:
            self._open.pop(serial, None)
            self._drones.pop(serial, None)
            reports.append((serial, None))
        elif kind == p.DRONE_UPDATED:
            reports += self._updated(serial, version, event.data, message)
        elif kind in FIELD_OF_EVENT:
            reports += self._specific(serial, version, kind, event, message)
        return reports

    # --- the events ---------------------------------------------------------------
    def _loaded(self, drone: dict[str, Any], message: str | None) -> tuple[str, dict]:
        """The whole state was handed over (snapshot, creation)."""
        serial = drone["deviceSerialNumber"]
        desired = {f: drone.get(f, NOTHING_APPLIED[f]) for f in FIELDS}
        state = self._drones.get(serial) or _Drone(dict(NOTHING_APPLIED))
        if message is None:
            state.applied, state.failures = desired, {}
        else:
            state.failures = {f: message for f in FIELDS if state.applied[f] != desired[f]}
        self._drones[serial] = state
        return self._report(serial, state, int(drone.get("version") or 1), message)

    def _updated(self, serial, version, data, message) -> list:
        changes = data.get("changes") if isinstance(data.get("changes"), dict) else {}
        previous = {f: change.get("old") for f, change in changes.items() if f in FIELDS and change}
        change = _Change(
            serial,
            version,
            data.get("full") or {},
            previous,
            waiting={EVENT_OF_FIELD[f] for f in previous},
        )
        if message is not None:
            change.errors[None] = message
        self._open[serial] = change
        return self._close(serial) if not change.waiting else []

    def _specific(self, serial, version, kind, event, message) -> list:
        field = FIELD_OF_EVENT[kind]
        change = self._open.get(serial)
        if change is None or kind not in change.waiting:
            # Its drone.updated was not seen (the client skipped ahead): a change of its own.
            known = self._drones.get(serial)
            old = known.applied[field] if known else _opposite(field, event.data.get(field))
            change = _Change(serial, version, event.full or {}, {field: old}, {kind})
            self._open[serial] = change
        change.waiting.discard(kind)
        if message is not None:
            change.errors[field] = message
        return self._close(serial) if not change.waiting else []

    # --- closing a change -----------------------------------------------------------
    def _close_all(self) -> list:
        reports = []
        for serial in list(self._open):
            reports += self._close(serial)
        return reports

    def _close(self, serial: str) -> list:
        change = self._open.pop(serial)
        full = change.full
        state = self._drones.get(serial)
        if state is None:  # no snapshot: the fields not changed now are as desired
            seed = {f: change.previous.get(f, full.get(f, NOTHING_APPLIED[f])) for f in FIELDS}
            state = self._drones[serial] = _Drone(seed)
        whole_change_failed = change.errors.get(None)
        for field, _old in change.previous.items():
            failure = change.errors.get(field) or whole_change_failed
            if failure is not None:
                state.failures[field] = failure  # the field keeps its previous value
            else:
                state.applied[field] = full.get(field, state.applied[field])
                state.failures.pop(field, None)
        if whole_change_failed and not change.previous:
            # A change of none of the reported fields failed: report the previous version,
            # so the drone is not in sync and the operator reads why.
            version = state.version or max(1, change.version - 1)
            return [self._report(serial, state, version, whole_change_failed, remember=False)]
        return [self._report(serial, state, change.version)]

    def _report(
        self,
        serial: str,
        state: _Drone,
        version: int,
        message: str | None = None,
        remember: bool = True,
    ) -> tuple[str, dict]:
        if remember:
            state.version = version
        body: dict[str, Any] = {"appliedVersion": version, **state.applied}
        messages = list(dict.fromkeys([*state.failures.values(), *([message] if message else [])]))
        if messages:
            text = "; ".join(messages)
            body["message"] = text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
        return serial, body


def _opposite(field: str, value: Any) -> Any:
    """The value a field had before a change to ``value``, as far as can be told."""
    if isinstance(value, bool):
        return not value
    return NOTHING_APPLIED[field]


class ReportSender:
    """Sends the newest report of each drone; retries what failed until it is sent, refused,
    or replaced by a newer report of that drone."""

    def __init__(
        self,
        api_url: str,
        token: Callable[[], str],
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retry_delay: float = 0.5,
        retry_delay_max: float = 30.0,
    ):
        if not api_url or not api_url.startswith(("http://", "https://")):
            raise ValueError("auto_report needs api_url, the API's http(s) base URL")
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._retry_delay_max = retry_delay_max
        self._pending: dict[str, dict[str, Any]] = {}
        self._in_flight: str | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.refused = 0
        self.failed_attempts = 0
        self.last_error: str | None = None

    def submit(self, serial: str, body: dict[str, Any] | None) -> None:
        """Queue ``body`` as the newest report of ``serial`` (None: drop what is queued)."""
        with self._cond:
            self._pending.pop(serial, None)
            if body is not None:
                self._pending[serial] = body  # to the end: drones take turns
            self._cond.notify_all()

    def start(self) -> None:
        with self._cond:
            self._stopping = False
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="drone-report", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Send what is queued for up to ``timeout`` seconds, then stop; True when all went."""
        idle = self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
        return idle

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued report is sent or refused; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and self._in_flight is None, timeout
            )

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending) + (self._in_flight is not None)

    def _run(self) -> None:
        delay = self._retry_delay
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                serial = next(iter(self._pending))
                body = self._pending.pop(serial)
                self._in_flight = serial
            done = self._send(serial, body)
            with self._cond:
                self._in_flight = None
                if not done:
                    self._pending.setdefault(serial, body)  # unless a newer one came
                self._cond.notify_all()
            if done:
                delay = self._retry_delay
                continue
            # Jittered exponential backoff; a stop or newer work does not cut it short,
            # since the API is what is failing.
            wait = delay * random.uniform(0.5, 1.0)
            log.info("report for %s failed (%s); retrying in %.1fs", serial, self.last_error, wait)
            with self._cond:
                self._cond.wait_for(lambda: self._stopping, wait)
            delay = min(delay * 2, self._retry_delay_max)

    def _send(self, serial: str, body: dict[str, Any]) -> bool:
        """True when the report is settled (stored or refused for good)."""
        url = self.api_url + REPORT_PATH.format(serial=quote(serial, safe=""))
        try:
            headers = {"Authorization": f"Bearer {self._token()}"}
            response = self._session.put(url, json=body, headers=headers, timeout=self._timeout)
        except (requests.RequestException, OSError) as exc:
            self.failed_attempts += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if response.ok:
            self.sent += 1
            return True
        code = _error_code(response)
        if response.status_code == 429 or response.status_code >= 500:
            self.failed_attempts += 1
            self.last_error = f"HTTP {response.status_code} {code}"
            return False
        # Refused for good: a newer report is stored (stale_report), the token may not
        # report this drone, the drone is gone, or the body is wrong. Retrying cannot help.
        self.refused += 1
        self.last_error = f"HTTP {response.status_code} {code}"
        level = logging.INFO if code == "stale_report" else logging.WARNING
        log.log(level, "report for %s refused: %s", serial, self.last_error)
        return True


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"


class Reporter:
    """What ``DroneEventsClient(auto_report=True)`` uses: :class:`AppliedState` feeding a
    :class:`ReportSender`."""

    def __init__(self, api_url: str, token: Callable[[], str], **sender_options: Any):
        self.state = AppliedState()
        self.sender = ReportSender(api_url, token, **sender_options)

    def handled(self, kind: str, args: tuple, error: BaseException | None) -> None:
        """After the application's callbacks of ``kind`` returned (or one raised ``error``)."""
        try:
            reports = self.state.handled(kind, args, error)
        except Exception:  # noqa: BLE001 - reporting must never stop the event stream
            log.exception("could not work out the report after %s", kind)
            return
        for serial, body in reports:
            self.sender.submit(serial, body)

    def start(self) -> None:
        self.sender.start()

    def stop(self, timeout: float = 5.0) -> bool:
        return self.sender.stop(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.sender.wait_idle(timeout)
