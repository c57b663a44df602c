"""Detectors report what they applied: the example detector (``auto_report=True``) as a real
process against the real API and gateway processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from shared.auth import mint_token
from shared.eventlog import EventLog
from tests.clients.conftest import ROOT, recorded
from tests.conftest import TEST_SECRET
from tests.support.waiting import wait_until

DETECTOR = "detector-7"


def _token(serials) -> str:
    return mint_token(TEST_SECRET, "detector", DETECTOR, list(serials))


@pytest.fixture
def start_detector(stack, tmp_path):
    """``start_detector(serials)``: clients/python/example_detector.py following ``serials``
    with a detector token covering only them; stopped (and checked) after the test."""
    started = []

    def start(serials):
        output = tmp_path / f"detector-{len(started)}.out"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_URL": stack.gateway.url,
            "API_URL": stack.api.url,
            "TOKEN": _token(serials),
            "DRONE_SERIALS": ",".join(serials),
        }
        with output.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "clients" / "python" / "example_detector.py")],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        process.output = output
        return process

    yield start
    for process in started:
        process.terminate()
        assert process.wait(20) == 0, process.output.read_text()


def _drone_when(stack, serial, condition, message, process=None):
    def check():
        drone = stack.call("GET", f"/drones/{serial}")
        return drone if condition(drone) else None

    try:
        return wait_until(check, timeout=30, message=message)
    except AssertionError:
        if process is not None:
            print(process.output.read_text())
        raise


def _in_sync_at(version):
    return lambda d: d["inSync"] and d["version"] == version


def test_a_detector_follows_three_changes_and_ends_in_sync(stack, start_detector):
    stack.register("REP1")
    detector = start_detector(["REP1"])
    _drone_when(stack, "REP1", _in_sync_at(1), "the snapshot reported", detector)

    stack.set_stream("REP1", True)
    stack.call("PUT", "/drones/REP1/ai-detection", {"enabled": True})
    stack.call("PUT", "/drones/REP1/detection-classes", {"detectionClasses": ["person", "car"]})

    drone = _drone_when(stack, "REP1", _in_sync_at(4), "in sync at version 4", detector)
    reported = drone["reported"]
    assert reported == {
        "appliedVersion": 4,
        "streamIsOn": True,
        "aiDetectionEnabled": True,
        "detectionClasses": ["person", "car"],
        "reportedAt": reported["reportedAt"],
        "reportedBy": DETECTOR,
    }
    assert [d["deviceSerialNumber"] for d in stack.call("GET", "/drones?inSync=false")] == []
    # Each report that brought the drone in sync was timed: at least versions 1 and 4.
    assert stack.api.metric("api_drone_sync_seconds_count") >= 2


def test_a_failing_callback_leaves_the_drone_out_of_sync_with_its_message(stack, start_detector):
    stack.register("REP2", detectionClasses=["person"])
    detector = start_detector(["REP2"])
    _drone_when(stack, "REP2", _in_sync_at(1), "the snapshot reported", detector)

    # The example detector's model does not know "unicorn": its callback raises.
    stack.call("PUT", "/drones/REP2/detection-classes", {"detectionClasses": ["unicorn"]})
    drone = _drone_when(
        stack, "REP2", lambda d: (d["reported"] or {}).get("appliedVersion") == 2, "a report"
    )
    assert drone["inSync"] is False
    assert drone["reported"]["detectionClasses"] == ["person"]  # what still runs
    assert drone["reported"]["message"] == "ValueError: the model does not detect unicorn"
    behind = stack.call("GET", "/drones?inSync=false")
    assert [d["deviceSerialNumber"] for d in behind] == ["REP2"]

    stack.call("PUT", "/drones/REP2/detection-classes", {"detectionClasses": ["dog"]})
    drone = _drone_when(stack, "REP2", _in_sync_at(3), "in sync after the fix", detector)
    assert "message" not in drone["reported"]


def _put_report(stack, serial, body, token):
    return requests.put(
        f"{stack.api.url}/api/v1/drones/{serial}/reported",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_a_stale_report_gets_409_and_changes_nothing(stack, redis_client, process_settings):
    stack.register("REP3")
    stack.set_stream("REP3", True)
    token = _token(["REP3"])
    assert _put_report(stack, "REP3", {"appliedVersion": 2, "streamIsOn": True}, token).ok
    stored = stack.call("GET", "/drones/REP3")
    log = EventLog(redis_client, process_settings.key_prefix)
    last = log.last_id()

    response = _put_report(stack, "REP3", {"appliedVersion": 1, "streamIsOn": False}, token)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_report"
    assert stack.call("GET", "/drones/REP3") == stored
    assert log.last_id() == last


def test_a_report_outside_the_tokens_claim_gets_403(stack):
    stack.register("REP4")
    stack.register("REP5")
    response = _put_report(stack, "REP5", {"appliedVersion": 1}, _token(["REP4"]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert stack.call("GET", "/drones/REP5")["reported"] is None


def test_reported_events_arrive_exactly_once_in_order_through_resume(
    stack, start_detector, make_client, redis_client, process_settings
):
    observer = make_client(stack.gateway.url, token=_token(["REP6"]), serials=["REP6"])
    record = recorded(observer)
    observer.connect()
    stack.register("REP6")
    detector = start_detector(["REP6"])
    _drone_when(stack, "REP6", _in_sync_at(1), "the snapshot reported", detector)
    stack.set_stream("REP6", True)
    _drone_when(stack, "REP6", _in_sync_at(2), "in sync at version 2", detector)

    stack.gateway.stop()  # the observer and the detector lose the gateway
    stack.call("PUT", "/drones/REP6/ai-detection", {"enabled": True})
    admin_report = {"appliedVersion": 3, "aiDetectionEnabled": False, "message": "by hand"}
    assert _put_report(stack, "REP6", admin_report, _token(["REP6"])).ok  # while it is down
    stack.gateway.start()
    # The detector resumes, applies version 3 and reports it again, matching now.
    _drone_when(
        stack,
        "REP6",
        lambda d: _in_sync_at(3)(d) and "message" not in d["reported"],
        "in sync at version 3",
        detector,
    )

    log = EventLog(redis_client, process_settings.key_prefix)
    expected = [e.id for e in log.range_after("0-0", 1000) if e.serial == "REP6"]
    wait_until(
        lambda: len(record.of("event")) >= len(expected),
        timeout=30,  # the gateway restarts, the observer reconnects with backoff
        message="every event",
    )
    got = [e for (e,) in record.of("event")]
    assert [e.id for e in got] == expected  # exactly once, in the log's order
    reports = [(e.version, e.data["reported"]["appliedVersion"], e.data["inSync"])
               for e in got if e.event == "drone.reported"]  # fmt: skip
    assert reports[0] == (1, 1, True)
    assert (3, 3, False) in reports  # the one made while the gateway was down
    assert reports[-1] == (3, 3, True)
    assert [v for v, _, _ in reports] == sorted(v for v, _, _ in reports)
