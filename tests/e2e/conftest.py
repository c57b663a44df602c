"""Fixtures of the end-to-end tests: the real API, gateway and Redis, and a REST helper."""

from __future__ import annotations

import pytest
import requests


class Rest:
    """A small REST client of the API with a bearer token."""

    def __init__(self, base_url: str, token: str):
        self.base = base_url + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def register(self, serial: str, **fields) -> requests.Response:
        body = {"deviceSerialNumber": serial, "deviceName": f"Drone {serial}", **fields}
        return self.session.post(f"{self.base}/drones/register", json=body, timeout=10)

    def toggle_stream(self, serial: str) -> requests.Response:
        return self.session.post(f"{self.base}/drones/{serial}/stream/toggle", timeout=10)

    def get(self, serial: str) -> dict:
        response = self.session.get(f"{self.base}/drones/{serial}", timeout=10)
        response.raise_for_status()
        return response.json()

    def call(self, method: str, path: str, body=None) -> requests.Response:
        return self.session.request(method, self.base + path, json=body, timeout=10)


@pytest.fixture
def rest_for(tokens):
    """``rest_for(api_process, role="admin")``: a REST client of that API."""

    def make(api, role: str = "admin") -> Rest:
        return Rest(api.url, tokens[role])

    return make


@pytest.fixture
def free_api_port() -> int:
    """A port for an API that a test restarts in place."""
    from tests.support.redis_server import free_port

    return free_port()
