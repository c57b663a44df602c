"""``PUT /drones/{serial}/reported``: desired vs reported state, ``inSync``, its event."""

from __future__ import annotations

import pytest

from services.api.drones import sync

BASE = "/api/v1/drones"


def _report(api, serial, role="detector", headers=None, **body):
    return api("put", f"{BASE}/{serial}/reported", role=role, headers=headers, json=body)


# --- the rules, as pure functions -----------------------------------------------------
def _doc(version=3, reported=None, **fields):
    base = {"streamIsOn": True, "aiDetectionEnabled": False, "detectionClasses": ["car"]}
    return {**base, **fields, "version": version, "reported": reported}


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        (None, False),
        ({"appliedVersion": 3}, True),
        ({"appliedVersion": 2}, False),
        ({"appliedVersion": 3, "streamIsOn": True, "detectionClasses": ["car"]}, True),
        ({"appliedVersion": 3, "streamIsOn": False}, False),
        ({"appliedVersion": 3, "aiDetectionEnabled": True}, False),
        ({"appliedVersion": 3, "detectionClasses": ["car", "dog"]}, False),
        ({"appliedVersion": 3, "streamIsOn": True, "message": "fine"}, True),
    ],
)
def test_in_sync_needs_the_current_version_and_every_stated_field_equal(reported, expected):
    assert sync.in_sync(_doc(reported=reported)) is expected


def test_seconds_to_sync_counts_only_the_report_that_brings_the_drone_in_sync():
    before = {**_doc(reported={"appliedVersion": 2}), "updatedAt": "2026-01-01T00:00:00.000Z"}
    after = {**before, "reported": {"appliedVersion": 3}}
    assert sync.seconds_to_sync(before, after, "2026-01-01T00:00:02.500Z") == 2.5
    assert sync.seconds_to_sync(after, after, "2026-01-01T00:00:09.000Z") is None  # already
    failing = {**before, "reported": {"appliedVersion": 3, "streamIsOn": False}}
    assert sync.seconds_to_sync(before, failing, "2026-01-01T00:00:02.500Z") is None


# --- the endpoint ---------------------------------------------------------------------
def test_a_new_drone_is_not_in_sync_and_has_no_report(register):
    drone = register("NEW1")
    assert drone["reported"] is None
    assert drone["inSync"] is False


def test_a_matching_report_brings_the_drone_in_sync(api, register, tokens):
    register("R1", streamIsOn=True, detectionClasses=["car"])
    response = _report(api, "R1", appliedVersion=1, streamIsOn=True, detectionClasses=["car"])
    assert response.status_code == 200, response.json
    drone = response.json
    assert drone["inSync"] is True
    assert drone["version"] == 1  # a report does not bump the version
    reported = drone["reported"]
    assert reported == {
        "appliedVersion": 1,
        "streamIsOn": True,
        "detectionClasses": ["car"],
        "reportedAt": reported["reportedAt"],
        "reportedBy": "test-detector",
    }
    assert api("get", f"{BASE}/R1").json == drone


def test_a_desired_change_makes_the_drone_not_in_sync_until_the_next_report(api, register):
    register("R2")
    assert _report(api, "R2", appliedVersion=1, streamIsOn=False).json["inSync"] is True
    changed = api("put", f"{BASE}/R2/stream", role="operator", json={"streamIsOn": True}).json
    assert changed["version"] == 2
    assert changed["inSync"] is False
    assert changed["reported"]["appliedVersion"] == 1
    assert _report(api, "R2", appliedVersion=2, streamIsOn=True).json["inSync"] is True


def test_a_report_that_differs_keeps_the_drone_out_of_sync_with_its_message(api, register):
    register("R3")
    api("put", f"{BASE}/R3/stream", role="operator", json={"streamIsOn": True})
    body = {"appliedVersion": 2, "streamIsOn": False, "message": "camera unreachable"}
    drone = _report(api, "R3", **body).json
    assert drone["inSync"] is False
    assert drone["reported"]["message"] == "camera unreachable"


def test_an_applied_version_above_the_drone_version_is_422_and_changes_nothing(
    api, register, events
):
    register("R4")
    before = len(events())
    response = _report(api, "R4", appliedVersion=2)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "appliedVersion" in response.json["error"]["details"]["fields"]
    assert api("get", f"{BASE}/R4").json["reported"] is None
    assert len(events()) == before


def test_a_stale_report_is_409_and_changes_nothing(api, register, events):
    register("R5")
    api("put", f"{BASE}/R5/stream", role="operator", json={"streamIsOn": True})
    stored = _report(api, "R5", appliedVersion=2, streamIsOn=True).json
    before = len(events())
    response = _report(api, "R5", appliedVersion=1, streamIsOn=False, message="late")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "stale_report"
    assert api("get", f"{BASE}/R5").json == stored
    assert len(events()) == before
    # The same version again is not stale (a retry, or a failure after a success).
    assert _report(api, "R5", appliedVersion=2, streamIsOn=True).status_code == 200


def test_roles_detector_within_its_claim_and_admin_only(api, register, client, scoped_token):
    register("MINE")
    register("OTHER")
    body = {"appliedVersion": 1}
    assert _report(api, "MINE", role="admin", **body).status_code == 200
    for role in ("operator", "viewer"):
        response = _report(api, "MINE", role=role, **body)
        assert response.status_code == 403, role
        assert response.json["error"]["code"] == "forbidden"
    headers = scoped_token("detector", ["MINE"])
    ok = client.put(f"{BASE}/MINE/reported", json=body, headers=headers)
    assert ok.status_code == 200
    outside = client.put(f"{BASE}/OTHER/reported", json=body, headers=headers)
    assert outside.status_code == 403
    assert outside.json["error"]["code"] == "forbidden"
    assert api("get", f"{BASE}/OTHER").json["reported"] is None
    assert client.put(f"{BASE}/MINE/reported", json=body).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"streamIsOn": True},
        {"appliedVersion": 0},
        {"appliedVersion": -1},
        {"appliedVersion": "1"},
        {"appliedVersion": True},
        {"appliedVersion": 1.5},
        {"appliedVersion": 1, "streamIsOn": "yes"},
        {"appliedVersion": 1, "aiDetectionEnabled": 1},
        {"appliedVersion": 1, "detectionClasses": "car"},
        {"appliedVersion": 1, "detectionClasses": ["car", "car"]},
        {"appliedVersion": 1, "message": "x" * 201},
        {"appliedVersion": 1, "reportedBy": "someone else"},
        {"appliedVersion": 1, "inSync": True},
        {"appliedVersion": 1, "$set": {"version": 9}},
    ],
)
def test_invalid_bodies_are_refused_in_the_error_shape(api, register, body):
    register("BAD")
    response = _report(api, "BAD", **body)
    assert response.status_code == 422, response.json
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == "validation_error"
    assert api("get", f"{BASE}/BAD").json["reported"] is None


def test_a_message_of_200_characters_is_accepted(api, register):
    register("LONG")
    drone = _report(api, "LONG", appliedVersion=1, message="m" * 200).json
    assert drone["reported"]["message"] == "m" * 200


def test_reports_for_an_unknown_drone_are_404(api):
    response = _report(api, "NOPE", appliedVersion=1)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_list_filters_on_in_sync(api, register):
    for serial in ("S1", "S2", "S3"):
        register(serial)
    _report(api, "S2", appliedVersion=1)
    behind = api("get", f"{BASE}?inSync=false").json
    assert [d["deviceSerialNumber"] for d in behind] == ["S1", "S3"]
    caught_up = api("get", f"{BASE}?inSync=true").json
    assert [d["deviceSerialNumber"] for d in caught_up] == ["S2"]
    api("post", f"{BASE}/S2/stream/toggle", role="operator")
    behind = api("get", f"{BASE}?inSync=false").json
    assert [d["deviceSerialNumber"] for d in behind] == ["S1", "S2", "S3"]


def test_drone_reported_event_keeps_the_version_and_goes_on_its_channels(
    api, register, events, pubsub
):
    register("EV", streamIsOn=True)
    api("put", f"{BASE}/EV/ai-detection", role="operator", json={"enabled": True})
    drone = _report(
        api,
        "EV",
        appliedVersion=2,
        streamIsOn=True,
        aiDetectionEnabled=True,
        headers={"X-Request-ID": "rep-1"},
    ).json
    got = events()
    assert [e["event"] for e in got] == [
        "drone.created",
        "drone.updated",
        "drone.ai.detection.toggled",
        "drone.reported",
    ]
    reported = got[-1]
    assert reported == {
        "id": reported["id"],
        "event": "drone.reported",
        "droneSerial": "EV",
        "version": 2,
        "timestamp": drone["reported"]["reportedAt"],
        "data": {"reported": drone["reported"], "inSync": True},
        "meta": {"requestId": "rep-1"},
    }
    assert got[1]["data"]["full"]["inSync"] is False  # drone.updated's full carries inSync
    channels = [channel for channel, data in pubsub.messages if '"drone.reported"' in data]
    assert channels == ["drone:EV:reported", "drone:all:reported"]


def test_the_snapshot_state_carries_the_report(api, register, event_log):
    import json

    register("SNAP")
    drone = _report(api, "SNAP", appliedVersion=1).json
    [state] = event_log.snapshot(["SNAP"])
    assert json.loads(state) == drone


def test_the_sync_histogram_observes_the_report_that_brings_the_drone_in_sync(
    api, register, client
):
    def count():
        text = client.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith("api_drone_sync_seconds_count"):
                return float(line.split()[-1])
        raise AssertionError("no api_drone_sync_seconds_count in /metrics")

    register("MET")
    assert count() == 0
    _report(api, "MET", appliedVersion=1, streamIsOn=True)  # differs: not in sync
    assert count() == 0
    _report(api, "MET", appliedVersion=1, streamIsOn=False)  # brings it in sync
    assert count() == 1
    _report(api, "MET", appliedVersion=1)  # was in sync already
    assert count() == 1


@pytest.mark.parametrize("field", ["reported", "inSync"])
def test_reported_and_in_sync_are_read_only(api, register, field):
    register("RO")
    value = {"reported": {"appliedVersion": 1}, "inSync": True}[field]
    response = api("patch", f"{BASE}/RO", role="operator", json={field: value})
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]
    body = {"deviceSerialNumber": "RO2", "deviceName": "x", field: value}
    assert api("post", f"{BASE}/register", json=body).status_code == 422
    drone = api("get", f"{BASE}/RO").json
    assert (drone["reported"], drone["inSync"]) == (None, False)
