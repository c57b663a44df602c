"""Every route of the contract, one behaviour per test (in-process app, real Redis)."""

import json

BASE = "/api/v1/drones"


def test_register_returns_201_with_defaults(api):
    response = api("post", f"{BASE}/register", json={"deviceSerialNumber": "A1", "deviceName": "a"})
    assert response.status_code == 201
    drone = response.json
    assert drone["deviceSerialNumber"] == "A1"
    assert drone["deviceCategory"] == "Surveillance"
    assert drone["streamIsOn"] is False
    assert drone["aiDetectionEnabled"] is False
    assert drone["detectionClasses"] == []
    assert drone["streamUrl"] is None
    assert drone["version"] == 1
    assert len(drone["id"]) == 24
    assert drone["createdAt"] == drone["updatedAt"] and drone["createdAt"].endswith("Z")


def test_register_keeps_given_fields(register):
    drone = register(
        "B2",
        deviceCategory="Patrol",
        streamIsOn=True,
        aiDetectionEnabled=True,
        detectionClasses=["car"],
        streamUrl="rtsp://cam.local:554/live",
    )
    assert (drone["deviceCategory"], drone["streamIsOn"], drone["aiDetectionEnabled"]) == (
        "Patrol",
        True,
        True,
    )
    assert drone["detectionClasses"] == ["car"]
    assert drone["streamUrl"] == "rtsp://cam.local:554/live"


def test_register_duplicate_serial_is_409(api, register):
    register("DUP")
    response = api(
        "post", f"{BASE}/register", json={"deviceSerialNumber": "DUP", "deviceName": "x"}
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "duplicate_serial"


def test_get_returns_the_drone(api, register):
    created = register("G1")
    response = api("get", f"{BASE}/G1", role="viewer")
    assert response.status_code == 200
    assert response.json == created


def test_get_unknown_drone_is_404(api):
    response = api("get", f"{BASE}/NOPE")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_list_returns_drones_oldest_first(api, register):
    for serial in ("L1", "L2", "L3"):
        register(serial)
    response = api("get", BASE, role="viewer")
    assert response.status_code == 200
    assert [d["deviceSerialNumber"] for d in response.json] == ["L1", "L2", "L3"]
    assert json.loads(response.headers["X-Pagination"])["total"] == 3


def test_list_filters_by_category(api, register):
    register("C1", deviceCategory="Patrol")
    register("C2")
    response = api("get", f"{BASE}?deviceCategory=Patrol")
    assert [d["deviceSerialNumber"] for d in response.json] == ["C1"]


def test_list_filters_by_stream_state(api, register):
    register("S1", streamIsOn=True)
    register("S2")
    response = api("get", f"{BASE}?streamIsOn=false")
    assert [d["deviceSerialNumber"] for d in response.json] == ["S2"]


def test_list_is_paginated(api, register):
    for i in range(5):
        register(f"P{i}")
    response = api("get", f"{BASE}?page=2&page_size=2")
    assert [d["deviceSerialNumber"] for d in response.json] == ["P2", "P3"]
    assert json.loads(response.headers["X-Pagination"])["total_pages"] == 3


def test_list_rejects_page_size_over_100(api):
    response = api("get", f"{BASE}?page_size=101")
    assert response.status_code == 422
    assert "page_size" in response.json["error"]["details"]["fields"]


def test_patch_changes_given_fields_only(api, register):
    register("PA", deviceCategory="Patrol")
    response = api("patch", f"{BASE}/PA", json={"deviceName": "renamed", "streamUrl": None})
    assert response.status_code == 200
    assert response.json["deviceName"] == "renamed"
    assert response.json["deviceCategory"] == "Patrol"
    assert response.json["version"] == 2


def test_patch_without_change_keeps_version(api, register):
    register("PN", deviceName="same")
    response = api("patch", f"{BASE}/PN", json={"deviceName": "same"})
    assert response.status_code == 200
    assert response.json["version"] == 1


def test_patch_unknown_drone_is_404(api):
    assert api("patch", f"{BASE}/NOPE", json={"deviceName": "x"}).status_code == 404


def test_delete_returns_204_and_drone_is_gone(api, register):
    register("D1")
    response = api("delete", f"{BASE}/D1")
    assert response.status_code == 204
    assert response.data == b""
    assert api("get", f"{BASE}/D1").status_code == 404


def test_delete_unknown_drone_is_404(api):
    assert api("delete", f"{BASE}/NOPE").status_code == 404


def test_put_stream_sets_it(api, register):
    register("ST")
    response = api("put", f"{BASE}/ST/stream", json={"streamIsOn": True})
    assert (response.status_code, response.json["streamIsOn"]) == (200, True)


def test_stream_toggle_flips_it(api, register):
    register("TG")
    assert api("post", f"{BASE}/TG/stream/toggle").json["streamIsOn"] is True
    assert api("post", f"{BASE}/TG/stream/toggle").json["streamIsOn"] is False


def test_put_ai_detection_sets_it(api, register):
    register("AI")
    response = api("put", f"{BASE}/AI/ai-detection", json={"enabled": True})
    assert (response.status_code, response.json["aiDetectionEnabled"]) == (200, True)


def test_ai_detection_toggle_flips_it(api, register):
    register("AT")
    response = api("post", f"{BASE}/AT/ai-detection/toggle")
    assert (response.json["aiDetectionEnabled"], response.json["version"]) == (True, 2)


def test_put_detection_classes_replaces_them(api, register):
    register("DC", detectionClasses=["car"])
    response = api("put", f"{BASE}/DC/detection-classes", json={"detectionClasses": ["dog"]})
    assert (response.status_code, response.json["detectionClasses"]) == (200, ["dog"])


def test_report_incident_returns_201_with_id(api, register):
    register("IN")
    body = {
        "type": "intrusion",
        "confidence": 0.87,
        "label": "person",
        "boundingBox": [1, 2, 30, 40],
        "detectedAt": "2026-01-02T03:04:05+01:00",
    }
    response = api("post", f"{BASE}/IN/incidents", json=body, role="detector")
    assert response.status_code == 201
    incident = response.json
    assert len(incident["id"]) == 24
    assert incident["droneSerial"] == "IN"
    assert incident["boundingBox"] == [1, 2, 30, 40]
    assert incident["detectedAt"] == "2026-01-02T02:04:05.000Z"


def test_report_incident_does_not_change_version(api, register):
    register("IV")
    api("post", f"{BASE}/IV/incidents", json={"type": "x", "confidence": 1})
    assert api("get", f"{BASE}/IV").json["version"] == 1


def test_list_incidents_newest_first(api, register):
    register("IL")
    for kind in ("first", "second", "third"):
        api("post", f"{BASE}/IL/incidents", json={"type": kind, "confidence": 0.5})
    response = api("get", f"{BASE}/IL/incidents?page_size=2", role="viewer")
    assert [i["type"] for i in response.json] == ["third", "second"]
    assert json.loads(response.headers["X-Pagination"])["total"] == 3


def test_incidents_of_unknown_drone_is_404(api):
    assert api("get", f"{BASE}/NOPE/incidents").status_code == 404


def test_reregistered_serial_starts_without_old_incidents(api, register):
    register("RI")
    api("post", f"{BASE}/RI/incidents", json={"type": "old", "confidence": 0.5})
    api("delete", f"{BASE}/RI")
    register("RI")
    assert api("get", f"{BASE}/RI/incidents").json == []


def test_broadcast_is_accepted_with_202(api):
    response = api("post", "/api/v1/system/broadcast", json={"message": "hi", "level": "warning"})
    assert response.status_code == 202
    assert response.json["level"] == "warning"


def test_unknown_route_is_404_in_error_shape(client):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_wrong_method_is_405_in_error_shape(api):
    response = api("put", BASE)
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
