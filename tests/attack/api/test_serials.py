"""Defect 8: ``"ABC\\n"`` passed the serial pattern (``$`` allows a final newline) and a drone
could be named ``all``, the channel word meaning every drone."""

from __future__ import annotations

import pytest
import requests

BASE = "/api/v1/drones"


def _register(api_server, token, serial):
    return requests.post(
        f"{api_server.url}{BASE}/register",
        json={"deviceSerialNumber": serial, "deviceName": "x"},
        headers={"Authorization": f"Bearer {token()}"},
        timeout=10,
    )


@pytest.mark.parametrize("serial", ["ABC\n", "all", "ALL"])
def test_serial_with_newline_or_reserved_name_is_422(api_server, healthy, token, serial):
    response = _register(api_server, token, serial)

    healthy.assert_served()
    assert response.status_code == 422, response.text
    message = response.json()["error"]["details"]["fields"]["deviceSerialNumber"]
    if serial.lower() == "all":
        assert "reserved" in str(message)


def test_a_serial_with_a_trailing_newline_is_neither_registered_nor_found(
    api_server, healthy, token
):
    registered = _register(api_server, token, "ABC\n")
    fetched = requests.get(
        f"{api_server.url}{BASE}/ABC%0A",
        headers={"Authorization": f"Bearer {token()}"},
        timeout=10,
    )

    healthy.assert_served()
    assert registered.status_code == 422
    assert fetched.status_code == 404
    assert fetched.json()["error"]["code"] == "not_found"
