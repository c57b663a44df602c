"""Injection attempts on the routes tests/api/test_bad_input.py leaves out: query filters,
path serials, and the bodies of the stream, AI, classes, incident and broadcast routes.
Each is refused (or matches nothing) and stores and publishes nothing."""

from __future__ import annotations

import pytest

BASE = "/api/v1/drones"
OPERATOR = {"$ne": None}


@pytest.fixture
def client(api_app):
    return api_app.test_client()


@pytest.fixture
def call(client, auth_headers):
    def request(method: str, path: str, **kwargs):
        return client.open(path, method=method.upper(), headers=auth_headers("admin"), **kwargs)

    return request


@pytest.fixture
def fleet(call):
    for serial in ("INJ1", "INJ2"):
        body = {"deviceSerialNumber": serial, "deviceName": serial, "deviceCategory": "Cat"}
        assert call("post", f"{BASE}/register", json=body).status_code == 201
    return ["INJ1", "INJ2"]


@pytest.fixture
def state(api_app):
    """``state()``: everything stored and published, to compare before and after."""

    def snapshot():
        storage = api_app.extensions["storage"]
        return (
            list(storage.collection("drones").find({}, sort=[("_id", 1)])),
            list(storage.collection("incidents").find({})),
            list(storage.collection("broadcasts").find({})),
            api_app.extensions["event_log"].last_id(),
        )

    return snapshot


@pytest.mark.parametrize("value", ['{"$ne": null}', "$where", '{"$regex": ".*"}'])
def test_operator_in_a_filter_value_is_a_literal(call, fleet, value):
    # Read as an operator, it would match the whole fleet; as a literal, nothing.
    response = call("get", BASE, query_string={"deviceCategory": value})

    assert response.status_code == 200
    assert response.json == []


@pytest.mark.parametrize("name", ["deviceCategory[$ne]", "deviceCategory.x", "$where"])
def test_unknown_filter_parameter_is_ignored(call, fleet, name):
    response = call("get", BASE, query_string={name: "Other"})

    assert response.status_code == 200
    assert [d["deviceSerialNumber"] for d in response.json] == fleet


@pytest.mark.parametrize("serial", ["$where", "a.b", "%7B%22%24gt%22%3A%22%22%7D", "INJ1.x", "*"])
def test_path_serial_injection_changes_nothing(call, fleet, state, serial):
    before = state()

    responses = [
        call("get", f"{BASE}/{serial}"),
        call("patch", f"{BASE}/{serial}", json={"deviceName": "x"}),
        call("post", f"{BASE}/{serial}/stream/toggle"),
        call("delete", f"{BASE}/{serial}"),
    ]

    assert {r.status_code for r in responses} == {404}
    assert state() == before


BODIES = {
    "stream_operator": ("put", f"{BASE}/INJ1/stream", {"streamIsOn": OPERATOR}),
    "stream_dollar_key": ("put", f"{BASE}/INJ1/stream", {"streamIsOn": True, "$set": {"x": 1}}),
    "ai_operator": ("put", f"{BASE}/INJ1/ai-detection", {"enabled": OPERATOR}),
    "classes_operator": ("put", f"{BASE}/INJ1/detection-classes", {"detectionClasses": OPERATOR}),
    "classes_item_operator": (
        "put",
        f"{BASE}/INJ1/detection-classes",
        {"detectionClasses": [OPERATOR]},
    ),
    "incident_type_operator": (
        "post",
        f"{BASE}/INJ1/incidents",
        {"type": OPERATOR, "confidence": 1},
    ),
    "incident_dotted_key": (
        "post",
        f"{BASE}/INJ1/incidents",
        {"type": "x", "confidence": 1, "droneId.$id": 1},
    ),
    "incident_box_operator": (
        "post",
        f"{BASE}/INJ1/incidents",
        {"type": "x", "confidence": 1, "boundingBox": [OPERATOR] * 4},
    ),
    "broadcast_operator": (
        "post",
        "/api/v1/system/broadcast",
        {"message": OPERATOR, "level": "info"},
    ),
    "broadcast_level_operator": (
        "post",
        "/api/v1/system/broadcast",
        {"message": "m", "level": {"$in": ["info"]}},
    ),
}


@pytest.mark.parametrize("name", BODIES)
def test_body_injection_is_422_and_changes_nothing(call, fleet, state, name):
    method, path, body = BODIES[name]
    before = state()

    response = call(method, path, json=body)

    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"]
    assert state() == before


def test_request_id_that_could_forge_log_fields_is_replaced(client):
    forged = 'x","level":"CRITICAL'

    response = client.get("/healthz", headers={"X-Request-ID": forged})

    assert response.headers["X-Request-ID"] != forged
