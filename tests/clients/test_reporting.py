"""``auto_report`` in the Python client, as units: what to report (AppliedState) and how
it is sent (ReportSender, against a fake HTTP session)."""

from __future__ import annotations

import threading

import pytest
import requests
from drone_events import Event, protocol
from drone_events.reporting import AppliedState, ReportSender, error_message

from tests.support.waiting import wait_until

FIELDS = ("streamIsOn", "aiDetectionEnabled", "detectionClasses")


def _drone(serial="D1", version=1, **fields):
    desired = {"streamIsOn": False, "aiDetectionEnabled": False, "detectionClasses": []}
    return {"deviceSerialNumber": serial, **desired, **fields, "version": version}


def _applied(version, drone):
    return {"appliedVersion": version, **{f: drone[f] for f in FIELDS}}


def _event(kind, version, data, serial="D1", n=[0]):  # noqa: B006 - a counter of ids
    n[0] += 1
    return Event(f"1-{n[0]}", kind, "t", data, drone_serial=serial, version=version)


def _change(state, before, after, errors=None):
    """Feed the events of one change (drone.updated, then each field's own event) through
    ``state`` as the client does; ``errors`` maps an event kind to what its callback raised."""
    errors = errors or {}
    full = {**after, "deviceSerialNumber": before["deviceSerialNumber"]}
    changes = {
        f: {"old": before.get(f), "new": after[f]} for f in after if before.get(f) != after[f]
    }
    version = after["version"]
    reports = []
    updated = _event(protocol.DRONE_UPDATED, version, {"changes": changes, "full": full})
    reports += state.handled("event", (updated,), None)
    args = (updated.drone_serial, changes, full, updated)
    reports += state.handled(protocol.DRONE_UPDATED, args, errors.get(protocol.DRONE_UPDATED))
    specific = {
        "streamIsOn": protocol.DRONE_STREAM_STATUS,
        "aiDetectionEnabled": protocol.DRONE_AI_TOGGLED,
        "detectionClasses": protocol.DRONE_CLASSES_CHANGED,
    }
    for field, kind in specific.items():
        if field in changes:
            event = _event(kind, version, {field: after[field], "full": full})
            args = (event.drone_serial, after[field], event)
            reports += state.handled(kind, args, errors.get(kind))
    return reports


# --- AppliedState -------------------------------------------------------------------
def test_a_loaded_snapshot_is_reported_at_each_drones_version():
    state = AppliedState()
    drones = [_drone("A", 3, streamIsOn=True), _drone("B", 1, detectionClasses=["car"])]
    reports = state.handled("resync", (drones,), None)
    assert reports == [
        ("A", {"appliedVersion": 3, "streamIsOn": True, "aiDetectionEnabled": False,
               "detectionClasses": []}),
        ("B", {"appliedVersion": 1, "streamIsOn": False, "aiDetectionEnabled": False,
               "detectionClasses": ["car"]}),
    ]  # fmt: skip


def test_one_change_is_reported_once_after_all_its_events_with_its_version():
    state = AppliedState()
    v1 = _drone()
    state.handled("resync", ([v1],), None)
    v2 = _drone(version=2, streamIsOn=True, aiDetectionEnabled=True)
    reports = _change(state, v1, v2)
    assert reports == [
        ("D1", {"appliedVersion": 2, "streamIsOn": True, "aiDetectionEnabled": True,
                "detectionClasses": []}),
    ]  # fmt: skip


def test_a_change_of_no_reported_field_is_reported_at_once():
    state = AppliedState()
    v1 = _drone()
    state.handled("resync", ([v1],), None)
    reports = _change(state, {**v1, "deviceName": "a"}, {**_drone(version=2), "deviceName": "b"})
    assert reports == [("D1", {"appliedVersion": 2, **{f: v1[f] for f in FIELDS}})]


def test_a_failing_callback_reports_the_previous_value_of_its_field_with_the_error():
    state = AppliedState()
    v1 = _drone(detectionClasses=["car"])
    state.handled("resync", ([v1],), None)
    v2 = _drone(version=2, streamIsOn=True, detectionClasses=["car", "dog"])
    error = RuntimeError("model file missing")
    [(serial, body)] = _change(state, v1, v2, {protocol.DRONE_CLASSES_CHANGED: error})
    assert body == {
        "appliedVersion": 2,
        "streamIsOn": True,  # its callback returned
        "aiDetectionEnabled": False,
        "detectionClasses": ["car"],  # the previous value
        "message": "RuntimeError: model file missing",
    }
    # A later change of another field still shows the failure, until the field is applied.
    v3 = {**v2, "version": 3, "aiDetectionEnabled": True}
    [(_, body)] = _change(state, v2, v3)
    assert body["detectionClasses"] == ["car"]
    assert body["message"] == "RuntimeError: model file missing"
    v4 = {**v3, "version": 4, "detectionClasses": ["dog"]}
    [(_, body)] = _change(state, v3, v4)
    assert body == {"appliedVersion": 4, **{f: v4[f] for f in FIELDS}}


def test_a_failing_updated_callback_fails_every_field_of_the_change():
    state = AppliedState()
    v1 = _drone()
    state.handled("resync", ([v1],), None)
    v2 = _drone(version=2, streamIsOn=True, aiDetectionEnabled=True)
    [(_, body)] = _change(state, v1, v2, {protocol.DRONE_UPDATED: ValueError("boom")})
    assert body == {**_applied(2, v1), "message": "ValueError: boom"}


def test_a_failed_change_of_no_reported_field_reports_the_previous_version():
    state = AppliedState()
    v1 = _drone(version=4)
    state.handled("resync", ([v1],), None)
    before, after = {**v1, "deviceName": "a"}, {**_drone(version=5), "deviceName": "b"}
    [(_, body)] = _change(state, before, after, {protocol.DRONE_UPDATED: OSError("disk full")})
    assert body == {**_applied(4, v1), "message": "OSError: disk full"}


def test_without_a_snapshot_the_previous_values_come_from_the_changes():
    state = AppliedState()
    v1 = _drone(aiDetectionEnabled=True)
    v2 = {**v1, "version": 2, "streamIsOn": True}
    [(_, body)] = _change(state, v1, v2, {protocol.DRONE_STREAM_STATUS: RuntimeError("no")})
    assert body == {
        "appliedVersion": 2,
        "streamIsOn": False,
        "aiDetectionEnabled": True,
        "detectionClasses": [],
        "message": "RuntimeError: no",
    }


def test_a_change_cut_short_is_reported_when_the_next_version_arrives():
    state = AppliedState()
    v1 = _drone()
    state.handled("resync", ([v1],), None)
    full = _drone(version=2, streamIsOn=True)
    changes = {"streamIsOn": {"old": False, "new": True}}
    updated = _event(protocol.DRONE_UPDATED, 2, {"changes": changes, "full": full})
    assert state.handled(protocol.DRONE_UPDATED, ("D1", changes, full, updated), None) == []
    # The stream event of version 2 never came (the client skipped ahead); version 3 does.
    v3 = _drone(version=3, streamIsOn=True, aiDetectionEnabled=True)
    ai = _event(protocol.DRONE_AI_TOGGLED, 3, {"aiDetectionEnabled": True, "full": v3})
    reports = state.handled(protocol.DRONE_AI_TOGGLED, ("D1", True, ai), None)
    assert [body["appliedVersion"] for _, body in reports] == [2, 3]
    assert reports[-1][1] == {"appliedVersion": 3, **{f: v3[f] for f in FIELDS}}


def test_created_is_reported_and_deleted_forgets_the_drone():
    state = AppliedState()
    drone = _drone("N", streamIsOn=True)
    created = _event(protocol.DRONE_CREATED, 1, {"full": drone}, serial="N")
    [(serial, body)] = state.handled(protocol.DRONE_CREATED, ("N", drone, created), None)
    assert (serial, body) == ("N", {"appliedVersion": 1, **{f: drone[f] for f in FIELDS}})
    deleted = _event(protocol.DRONE_DELETED, 1, {"full": drone}, serial="N")
    assert state.handled(protocol.DRONE_DELETED, ("N", drone, deleted), None) == [("N", None)]


def test_other_events_report_nothing():
    state = AppliedState()
    incident = _event(protocol.DRONE_INCIDENT, 1, {"incident": {}})
    assert state.handled(protocol.DRONE_INCIDENT, ("D1", {}, incident), None) == []
    reported = _event(protocol.DRONE_REPORTED, 1, {"reported": {}, "inSync": True})
    assert state.handled(protocol.DRONE_REPORTED, ("D1", {}, True, reported), None) == []


def test_error_messages_fit_the_apis_limit():
    message = error_message(RuntimeError("x" * 500))
    assert len(message) == 200
    assert message.startswith("RuntimeError: xxx")


# --- ReportSender against a fake HTTP session ----------------------------------------
class FakeResponse:
    def __init__(self, status: int, code: str | None = None):
        self.status_code = status
        self.ok = status < 400
        self._body = {"error": {"code": code, "message": code}} if code else {}

    def json(self):
        return self._body


class FakeSession:
    """Records each PUT and answers from a script (a status, or an exception to raise);
    ``gate`` holds the answers until the test lets them through."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[tuple[str, dict, dict]] = []
        self.gate = threading.Semaphore(1000)
        self.lock = threading.Lock()
        self.entered = 0

    def put(self, url, json, headers, timeout):
        with self.lock:
            self.entered += 1
        self.gate.acquire()
        with self.lock:
            self.requests.append((url, json, headers))
            answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, tuple):
            return FakeResponse(*answer)
        return FakeResponse(answer)


@pytest.fixture
def sender_of():
    senders = []

    def make(session, **options):
        tokens = iter(f"token-{n}" for n in range(1000))
        options.setdefault("retry_delay", 0.01)
        options.setdefault("retry_delay_max", 0.05)
        sender = ReportSender(
            "http://api.test:5000/", lambda: next(tokens), session=session, **options
        )
        sender.start()
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.stop(timeout=1)


def test_sender_puts_each_report_with_a_fresh_token(sender_of):
    session = FakeSession()
    sender = sender_of(session)
    sender.submit("D 1/x", {"appliedVersion": 2})
    assert sender.wait_idle(5)
    [(url, body, headers)] = session.requests
    assert url == "http://api.test:5000/api/v1/drones/D%201%2Fx/reported"
    assert body == {"appliedVersion": 2}
    assert headers == {"Authorization": "Bearer token-0"}
    assert sender.sent == 1


def test_a_failed_report_is_retried_until_it_is_stored(sender_of):
    session = FakeSession(requests.ConnectionError("refused"), 503, (429, "rate_limited"), 200)
    sender = sender_of(session)
    sender.submit("D1", {"appliedVersion": 2})
    assert sender.wait_idle(5)
    assert [body for _, body, _ in session.requests] == [{"appliedVersion": 2}] * 4
    assert (sender.sent, sender.failed_attempts) == (1, 3)


def test_a_retry_sends_the_newest_report_never_an_older_one(sender_of):
    session = FakeSession(503, 503)
    session.gate = threading.Semaphore(0)  # the first attempt waits for the test
    sender = sender_of(session)
    sender.submit("D1", {"appliedVersion": 2})
    wait_until(lambda: session.entered == 1, message="the first attempt in flight")
    sender.submit("D1", {"appliedVersion": 3})  # newer reports come while version 2 fails
    sender.submit("D1", {"appliedVersion": 4})
    for _ in range(10):
        session.gate.release()
    assert sender.wait_idle(5)
    sent = [body["appliedVersion"] for _, body, _ in session.requests]
    assert sent == [2, 4, 4]  # 2 failed, 4 replaced it, failed once, then went
    assert sender.sent == 1


def test_reports_refused_for_good_are_not_retried(sender_of):
    session = FakeSession((409, "stale_report"), (403, "forbidden"), (404, "not_found"))
    sender = sender_of(session)
    for serial in ("A", "B", "C"):
        sender.submit(serial, {"appliedVersion": 1})
    assert sender.wait_idle(5)
    assert [url.split("/")[-2] for url, _, _ in session.requests] == ["A", "B", "C"]
    assert sender.refused == 3
    assert sender.sent == 0


def test_a_deleted_drones_queued_report_is_dropped(sender_of):
    session = FakeSession()
    session.gate = threading.Semaphore(0)
    sender = sender_of(session)
    sender.submit("A", {"appliedVersion": 1})
    wait_until(lambda: session.entered == 1, message="A in flight")
    sender.submit("B", {"appliedVersion": 1})
    sender.submit("B", None)
    session.gate.release()
    assert sender.wait_idle(5)
    assert [url.split("/")[-2] for url, _, _ in session.requests] == ["A"]


def test_sender_needs_an_http_api_url():
    with pytest.raises(ValueError, match="api_url"):
        ReportSender(None, lambda: "t")
    with pytest.raises(ValueError, match="api_url"):
        ReportSender("ws://x", lambda: "t")


def test_auto_report_needs_the_api_url():
    from drone_events import DroneEventsClient

    with pytest.raises(ValueError, match="api_url"):
        DroneEventsClient("http://gateway.test:5001", "token", auto_report=True)
    client = DroneEventsClient("http://gateway.test:5001", "token")
    assert client.reporter is None  # opt-in: nothing is reported by default
