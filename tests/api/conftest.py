"""Fixtures of the API tests: an app on the test settings, a client, event readers."""

from __future__ import annotations

import json
import threading

import pytest

from services.api import create_app
from shared.auth import mint_token
from shared.eventlog import EventLog
from tests.conftest import TEST_SECRET


@pytest.fixture
def app(settings):
    """The API app with its relay running; shut down after the test."""
    app = create_app(settings)
    yield app
    app.extensions["shutdown"]()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client, auth_headers):
    """``api("post", path, json=..., role="operator")``: a request with that role's token."""

    def call(method: str, path: str, role: str = "admin", headers=None, **kwargs):
        all_headers = {**auth_headers(role), **(headers or {})}
        return client.open(path, method=method.upper(), headers=all_headers, **kwargs)

    return call


@pytest.fixture
def register(api):
    """Register a drone and return its JSON."""

    def reg(serial: str = "TEST123", **fields):
        body = {"deviceSerialNumber": serial, "deviceName": f"Drone {serial}", **fields}
        response = api("post", "/api/v1/drones/register", json=body)
        assert response.status_code == 201, response.json
        return response.json

    return reg


@pytest.fixture
def event_log(settings, redis_client):
    return EventLog(redis_client, settings.key_prefix)


@pytest.fixture
def events(event_log):
    """``events()``: every envelope in the event log so far, decoded, oldest first."""

    def read() -> list[dict]:
        return [json.loads(e.envelope) for e in event_log.range_after("0-0", 100_000)]

    return read


@pytest.fixture
def scoped_token():
    """``scoped_token("operator", ["A"])``: a token of that role covering only those drones."""

    def make(role: str, drones, ttl: int = 3600) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(TEST_SECRET, role, 'scoped', drones, ttl)}"}

    return make


class PubSubRecorder:
    """Records every message published on the contract's channels (pattern subscription)."""

    def __init__(self, redis_client):
        self.pubsub = redis_client.pubsub()
        self.pubsub.psubscribe("drone:*", "system:broadcast")
        self.messages: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = threading.Event()
        # Wait until both subscriptions are confirmed before the test publishes anything.
        confirmed = 0
        while confirmed < 2:
            message = self.pubsub.get_message(timeout=5)
            if message and message["type"] == "psubscribe":
                confirmed += 1
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "pmessage":
                self.messages.append((message["channel"].decode(), message["data"].decode()))

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.pubsub.close()


@pytest.fixture
def pubsub(redis_client):
    recorder = PubSubRecorder(redis_client)
    yield recorder
    recorder.close()
