"""Events end to end against the real Redis: exact envelopes, channels, order, versions."""

import json

from shared.events import with_id
from tests.support.waiting import wait_until

BASE = "/api/v1/drones"


def _published(pubsub, count):
    return wait_until(
        lambda: pubsub.messages if len(pubsub.messages) >= count else None,
        message=f"{count} pub/sub messages",
    )


def test_seed_curl_example_publishes_drone_created(api, pubsub, events):
    body = {
        "deviceSerialNumber": "TEST123",
        "deviceName": "Test Drone",
        "deviceCategory": "Surveillance",
        "streamIsOn": False,
    }
    drone = api("post", f"{BASE}/register", json=body, headers={"X-Request-ID": "req-1"}).json
    [event] = events()
    assert event == {
        "id": event["id"],
        "event": "drone.created",
        "droneSerial": "TEST123",
        "version": 1,
        "timestamp": drone["createdAt"],
        "data": {"full": drone},
        "meta": {"requestId": "req-1"},
    }
    messages = _published(pubsub, 2)
    assert [channel for channel, _ in messages] == ["drone:TEST123:created", "drone:all:created"]


def test_pubsub_bytes_equal_the_logged_envelope(api, register, pubsub, event_log):
    register("BYTES")
    api("post", f"{BASE}/BYTES/stream/toggle")
    logged = event_log.range_after("0-0", 100)
    messages = _published(pubsub, 2 * len(logged))
    expected = []
    for entry in logged:
        expected += [with_id(entry.id, entry.body)] * 2
    assert [data for _, data in messages] == expected


def test_scripted_sequence_gives_exact_events_in_order(api, register, events, pubsub):
    register("SEQ", detectionClasses=["car", "dog"])
    api("put", f"{BASE}/SEQ/stream", json={"streamIsOn": True})
    api(
        "patch",
        f"{BASE}/SEQ",
        json={
            "deviceName": "n2",
            "aiDetectionEnabled": True,
            "detectionClasses": ["dog", "person"],
        },
    )
    api("patch", f"{BASE}/SEQ", json={"deviceName": "n2"})  # no change: no event
    api("post", f"{BASE}/SEQ/incidents", json={"type": "intrusion", "confidence": 0.9})
    api("post", "/api/v1/system/broadcast", json={"message": "bye", "level": "critical"})
    api("delete", f"{BASE}/SEQ")
    got = events()
    assert [(e["event"], e.get("version")) for e in got] == [
        ("drone.created", 1),
        ("drone.updated", 2),
        ("drone.stream.status", 2),
        ("drone.updated", 3),
        ("drone.ai.detection.toggled", 3),
        ("drone.detection.classes.changed", 3),
        ("drone.incident.detected", 3),
        ("system.broadcast", None),
        ("drone.deleted", 3),
    ]
    assert got[1]["data"]["changes"] == {"streamIsOn": {"old": False, "new": True}}
    assert got[2]["data"]["streamIsOn"] is True
    assert got[3]["data"]["changes"] == {
        "deviceName": {"old": "Drone SEQ", "new": "n2"},
        "aiDetectionEnabled": {"old": False, "new": True},
        "detectionClasses": {"old": ["car", "dog"], "new": ["dog", "person"]},
    }
    classes = got[5]["data"]
    assert (classes["added"], classes["removed"]) == (["person"], ["car"])
    assert got[3]["data"]["full"] == got[4]["data"]["full"] == classes["full"]
    assert got[6]["data"]["incident"]["type"] == "intrusion"
    assert got[7]["data"] == {"message": "bye", "level": "critical"}
    assert "droneSerial" not in got[7]
    assert got[8]["data"]["full"]["deviceName"] == "n2"
    channels = [c for c, _ in _published(pubsub, 17)]
    assert channels == [
        "drone:SEQ:created",
        "drone:all:created",
        "drone:SEQ:updated",
        "drone:all:updated",
        "drone:SEQ:stream",
        "drone:all:stream",
        "drone:SEQ:updated",
        "drone:all:updated",
        "drone:SEQ:ai",
        "drone:all:ai",
        "drone:SEQ:config",
        "drone:all:config",
        "drone:SEQ:incident",
        "drone:all:incident",
        "system:broadcast",
        "drone:SEQ:deleted",
        "drone:all:deleted",
    ]


def test_event_ids_increase(api, register, events):
    register("IDS")
    for _ in range(3):
        api("post", f"{BASE}/IDS/ai-detection/toggle")
    ids = [tuple(map(int, e["id"].split("-"))) for e in events()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_full_drone_in_event_equals_rest_response(api, register, events):
    register("FULL")
    response = api("put", f"{BASE}/FULL/detection-classes", json={"detectionClasses": ["x"]})
    assert events()[-1]["data"]["full"] == response.json


def test_snapshot_state_follows_changes_and_delete(api, register, event_log):
    register("SNAP")
    drone = api("post", f"{BASE}/SNAP/stream/toggle").json
    assert [json.loads(s) for s in event_log.snapshot(["SNAP"])] == [drone]
    api("delete", f"{BASE}/SNAP")
    assert event_log.snapshot(["SNAP"]) == []


def test_request_id_is_generated_when_absent(api, register, events):
    response = api(
        "post", f"{BASE}/register", json={"deviceSerialNumber": "RID", "deviceName": "r"}
    )
    assert events()[0]["meta"]["requestId"] == response.headers["X-Request-ID"]


def test_invalid_request_id_is_replaced(api):
    response = api("get", BASE, headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 32
