"""Bad input gets a clear error in the one shape, and changes and publishes nothing."""

import threading

import pytest

BASE = "/api/v1/drones"
VALID = {"deviceSerialNumber": "OK1", "deviceName": "ok"}


@pytest.fixture
def nothing_happened(app, events, redis_client, settings):
    """Asserts after the test body that no drone is stored and no event was published."""

    def check():
        drones = app.extensions["storage"].collection("drones")
        assert drones.count_documents({}) == 0
        assert events() == []

    return check


REGISTER_MATRIX = {
    "missing_serial": {"deviceName": "x"},
    "missing_name": {"deviceSerialNumber": "A"},
    "empty_serial": {**VALID, "deviceSerialNumber": ""},
    "serial_bad_chars": {**VALID, "deviceSerialNumber": "a b"},
    "serial_too_long": {**VALID, "deviceSerialNumber": "A" * 65},
    "serial_operator": {**VALID, "deviceSerialNumber": {"$gt": ""}},
    "name_operator": {**VALID, "deviceName": {"$ne": None}},
    "name_too_long": {**VALID, "deviceName": "n" * 201},
    "name_empty": {**VALID, "deviceName": ""},
    "category_too_long": {**VALID, "deviceCategory": "c" * 101},
    "stream_not_bool": {**VALID, "streamIsOn": "true"},
    "stream_number": {**VALID, "streamIsOn": 1},
    "classes_not_list": {**VALID, "detectionClasses": "car"},
    "classes_duplicate": {**VALID, "detectionClasses": ["car", "car"]},
    "classes_too_many": {**VALID, "detectionClasses": [f"c{i}" for i in range(101)]},
    "class_too_long": {**VALID, "detectionClasses": ["x" * 65]},
    "class_empty": {**VALID, "detectionClasses": [""]},
    "stream_url_not_url": {**VALID, "streamUrl": "not a url"},
    "stream_url_javascript": {**VALID, "streamUrl": "javascript:alert(1)"},
    "unknown_field": {**VALID, "color": "red"},
    "dollar_key": {**VALID, "$set": {"version": 99}},
    "dotted_key": {**VALID, "a.b": 1},
    "read_only_version": {**VALID, "version": 5},
    "read_only_id": {**VALID, "id": "x"},
    "body_is_list": [VALID],
    "body_is_string": "TEST",
}


@pytest.mark.parametrize("body", REGISTER_MATRIX.values(), ids=REGISTER_MATRIX.keys())
def test_invalid_register_is_422_and_changes_nothing(api, nothing_happened, body):
    response = api("post", f"{BASE}/register", json=body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["fields"]
    nothing_happened()


def test_validation_error_names_the_offending_fields(api):
    response = api("post", f"{BASE}/register", json={"deviceSerialNumber": 5, "x.y": 1})
    fields = response.json["error"]["details"]["fields"]
    assert set(fields) == {"deviceSerialNumber", "deviceName", "x.y"}


def test_malformed_json_is_400_and_changes_nothing(api, nothing_happened):
    response = api(
        "post", f"{BASE}/register", data='{"deviceSerialNumber": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json["error"] == {
        "code": "bad_request",
        "message": "request body is not valid JSON",
    }
    nothing_happened()


def test_wrong_content_type_is_415_and_changes_nothing(api, nothing_happened):
    response = api(
        "post",
        f"{BASE}/register",
        data="deviceSerialNumber=A",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"
    nothing_happened()


def test_body_over_the_limit_is_413_and_changes_nothing(api, settings, nothing_happened):
    body = {**VALID, "deviceName": "n" * (settings.max_body_bytes + 10)}
    response = api("post", f"{BASE}/register", json=body)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    nothing_happened()


def test_empty_patch_is_422(api, register, events):
    register("EP")
    before = events()
    response = api("patch", f"{BASE}/EP", json={})
    assert response.status_code == 422
    assert events() == before


def test_patch_without_body_is_422(api, register):
    register("NB")
    assert api("patch", f"{BASE}/NB").status_code == 422


PATCH_MATRIX = {
    "serial_is_immutable": {"deviceSerialNumber": "OTHER"},
    "version_is_read_only": {"version": 9},
    "operator_value": {"deviceName": {"$set": "x"}},
    "dollar_key": {"$inc": {"version": 1}},
    "dotted_key": {"deviceName.x": "y"},
    "null_name": {"deviceName": None},
}


@pytest.mark.parametrize("body", PATCH_MATRIX.values(), ids=PATCH_MATRIX.keys())
def test_invalid_patch_is_422_and_changes_nothing(api, register, events, body):
    created = register("PT")
    before = events()
    response = api("patch", f"{BASE}/PT", json=body)
    assert response.status_code == 422
    assert api("get", f"{BASE}/PT").json == created
    assert events() == before


INCIDENT_MATRIX = {
    "missing_type": {"confidence": 0.5},
    "missing_confidence": {"type": "x"},
    "confidence_above_1": {"type": "x", "confidence": 1.5},
    "confidence_negative": {"type": "x", "confidence": -0.1},
    "confidence_string": {"type": "x", "confidence": "0.5"},
    "confidence_bool": {"type": "x", "confidence": True},
    "box_three_numbers": {"type": "x", "confidence": 0.5, "boundingBox": [1, 2, 3]},
    "box_strings": {"type": "x", "confidence": 0.5, "boundingBox": ["1", "2", "3", "4"]},
    "detected_at_not_time": {"type": "x", "confidence": 0.5, "detectedAt": "yesterday"},
    "unknown_field": {"type": "x", "confidence": 0.5, "severity": 3},
}


@pytest.mark.parametrize("body", INCIDENT_MATRIX.values(), ids=INCIDENT_MATRIX.keys())
def test_invalid_incident_is_422_and_stores_nothing(api, app, register, events, body):
    register("IC")
    before = events()
    response = api("post", f"{BASE}/IC/incidents", json=body)
    assert response.status_code == 422
    assert app.extensions["storage"].collection("incidents").count_documents({}) == 0
    assert events() == before


BROADCAST_MATRIX = {
    "missing_message": {"level": "info"},
    "bad_level": {"message": "m", "level": "debug"},
    "empty_message": {"message": "", "level": "info"},
    "unknown_field": {"message": "m", "level": "info", "to": "all"},
}


@pytest.mark.parametrize("body", BROADCAST_MATRIX.values(), ids=BROADCAST_MATRIX.keys())
def test_invalid_broadcast_is_422_and_publishes_nothing(api, events, body):
    response = api("post", "/api/v1/system/broadcast", json=body)
    assert response.status_code == 422
    assert events() == []


def test_serial_with_tombstone_marker_in_path_is_404(api, register):
    register("TM")
    api("delete", f"{BASE}/TM")
    assert api("get", f"{BASE}/%00deleted:x").status_code == 404


def test_concurrent_registers_of_one_serial_give_exactly_one_201(api, events):
    statuses = []
    barrier = threading.Barrier(8)

    def attempt(i):
        barrier.wait()
        body = {"deviceSerialNumber": "RACE", "deviceName": f"n{i}"}
        statuses.append(api("post", f"{BASE}/register", json=body).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 7
    assert [e["event"] for e in events()] == ["drone.created"]
