"""Defect 7: input that answered 500 with a traceback. Must be 400/422 in the error shape."""

from __future__ import annotations

import requests

BASE = "/api/v1/drones"


def test_json_nested_1000_deep_is_400(api_server, healthy, token):
    body = "[" * 1000 + "]" * 1000  # 2 KB
    response = requests.post(
        f"{api_server.url}{BASE}/register",
        data=body,
        headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
        timeout=10,
    )

    healthy.assert_served()
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert "deep" in error["message"]
    assert "Traceback" not in api_server.logs()


def test_a_date_at_the_edge_of_the_range_is_422(api_server, healthy, token):
    headers = {"Authorization": f"Bearer {token()}"}
    created = requests.post(
        f"{api_server.url}{BASE}/register",
        json={"deviceSerialNumber": "EDGE1", "deviceName": "edge"},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201
    incident = {"type": "person", "confidence": 0.5, "detectedAt": "9999-12-31T23:59:59-14:00"}

    response = requests.post(
        f"{api_server.url}{BASE}/EDGE1/incidents", json=incident, headers=headers, timeout=10
    )

    healthy.assert_served()
    assert response.status_code == 422, response.text
    assert "detectedAt" in response.json()["error"]["details"]["fields"]
    assert "Traceback" not in api_server.logs()
