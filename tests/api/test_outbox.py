"""The outbox: a write succeeds with Redis down, and its events are published once, in order."""

import json

import pytest
import redis

from services.api import create_app
from shared.eventlog import EventLog
from tests.support.waiting import wait_until

BASE = "/api/v1/drones"


@pytest.fixture
def down_settings(settings, restartable_redis):
    return settings.replace(redis_url=restartable_redis.url)


@pytest.fixture
def make_app(down_settings):
    apps = []

    def make(start_relay=True):
        app = create_app(down_settings, start_relay=start_relay)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["shutdown"]()


@pytest.fixture
def logged(down_settings):
    client = redis.Redis.from_url(down_settings.redis_url)
    log = EventLog(client, down_settings.key_prefix)

    def read():
        return [json.loads(e.envelope) for e in log.range_after("0-0", 10_000)]

    yield read
    client.close()


def _call(app, auth_headers, method, path, **kwargs):
    return app.test_client().open(path, method=method, headers=auth_headers("admin"), **kwargs)


def _pending(app):
    drones = app.extensions["storage"].collection("drones")
    broadcasts = app.extensions["storage"].collection("broadcasts")
    return sum(len(d["_outbox"]) for c in (drones, broadcasts) for d in c.find({}))


def _script(app, auth_headers):
    """A few writes of every kind; returns their statuses."""
    register = {"deviceSerialNumber": "OB1", "deviceName": "o"}
    return [
        _call(app, auth_headers, "POST", f"{BASE}/register", json=register).status_code,
        _call(app, auth_headers, "POST", f"{BASE}/OB1/stream/toggle").status_code,
        _call(
            app,
            auth_headers,
            "POST",
            f"{BASE}/OB1/incidents",
            json={"type": "x", "confidence": 0.5},
        ).status_code,
        _call(
            app,
            auth_headers,
            "POST",
            "/api/v1/system/broadcast",
            json={"message": "m", "level": "info"},
        ).status_code,
        _call(app, auth_headers, "PATCH", f"{BASE}/OB1", json={"deviceName": "p"}).status_code,
    ]


EXPECTED = [
    ("drone.created", 1),
    ("drone.updated", 2),
    ("drone.stream.status", 2),
    ("drone.incident.detected", 2),
    ("drone.updated", 3),
    ("system.broadcast", None),
]


def _sequence(events):
    # The broadcast has its own outbox, so its place relative to the drone's events may differ.
    return sorted(
        [(e["event"], e.get("version")) for e in events], key=lambda x: x[0] == "system.broadcast"
    )


def test_writes_succeed_while_redis_is_down(make_app, auth_headers, restartable_redis):
    app = make_app()
    restartable_redis.stop()
    assert _script(app, auth_headers) == [201, 200, 201, 202, 200]
    assert _pending(app) == 5


def test_relay_publishes_everything_once_in_order_when_redis_returns(
    make_app, auth_headers, restartable_redis, logged
):
    app = make_app()
    restartable_redis.stop()
    _script(app, auth_headers)
    restartable_redis.start()
    wait_until(lambda: _pending(app) == 0, timeout=20, message="outbox drained")
    events = logged()
    assert _sequence(events) == _sequence([{"event": n, "version": v} for n, v in EXPECTED])
    drone_events = [e for e in events if e["event"] != "system.broadcast"]
    assert [e["version"] for e in drone_events] == sorted(e["version"] for e in drone_events)


def test_incident_is_stored_even_while_redis_is_down(make_app, auth_headers, restartable_redis):
    app = make_app()
    _call(
        app,
        auth_headers,
        "POST",
        f"{BASE}/register",
        json={"deviceSerialNumber": "IS", "deviceName": "i"},
    )
    restartable_redis.stop()
    _call(app, auth_headers, "POST", f"{BASE}/IS/incidents", json={"type": "x", "confidence": 0.1})
    listed = _call(app, auth_headers, "GET", f"{BASE}/IS/incidents").json
    assert [i["type"] for i in listed] == ["x"]


def test_shutdown_flushes_pending_events(make_app, auth_headers, restartable_redis, logged):
    app = make_app(start_relay=False)
    restartable_redis.stop()
    _script(app, auth_headers)
    restartable_redis.start()
    assert logged() == []
    app.extensions["shutdown"]()
    assert len(logged()) == len(EXPECTED)


def test_publish_failures_are_counted(make_app, auth_headers, restartable_redis):
    app = make_app(start_relay=False)
    restartable_redis.stop()
    _call(
        app,
        auth_headers,
        "POST",
        f"{BASE}/register",
        json={"deviceSerialNumber": "MF", "deviceName": "m"},
    )
    app.extensions["relay"].flush()
    metrics = app.test_client().get("/metrics").data.decode()
    assert "api_publish_failures_total 2.0" in metrics
    assert "api_outbox_backlog 1.0" in metrics


def test_readiness_follows_redis(make_app, restartable_redis):
    client = make_app().test_client()
    assert client.get("/readyz").status_code == 200
    restartable_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["details"]["checks"]["redis"].startswith("error")
    restartable_redis.start()
    wait_until(lambda: client.get("/readyz").status_code == 200, message="ready again")


def test_duplicate_publish_of_a_batch_is_dropped(make_app, auth_headers, logged):
    app = make_app(start_relay=False)
    drones = app.extensions["storage"].collection("drones")
    publisher = app.extensions["publisher"]
    publisher._down_until = float("inf")  # keep the batch pending: no fast path
    _call(
        app,
        auth_headers,
        "POST",
        f"{BASE}/register",
        json={"deviceSerialNumber": "DD", "deviceName": "d"},
    )
    snapshot = drones.find_one({"deviceSerialNumber": "DD"})
    publisher._down_until = 0
    assert publisher.publish(drones, snapshot)
    assert publisher.publish(drones, snapshot)  # as after a crash before the pull
    assert [e["event"] for e in logged()] == ["drone.created"]
    assert drones.find_one({"deviceSerialNumber": "DD"})["_outbox"] == []


def test_tombstone_is_removed_after_publish_and_serial_reused(make_app, auth_headers, logged):
    app = make_app(start_relay=False)
    drones = app.extensions["storage"].collection("drones")
    body = {"deviceSerialNumber": "TS", "deviceName": "t"}
    first = _call(app, auth_headers, "POST", f"{BASE}/register", json=body).json
    assert _call(app, auth_headers, "DELETE", f"{BASE}/TS").status_code == 204
    assert drones.count_documents({}) == 0  # published, so the tombstone is gone
    second = _call(app, auth_headers, "POST", f"{BASE}/register", json=body).json
    assert second["id"] != first["id"] and second["version"] == 1
    assert [(e["event"], e["data"]["full"]["id"]) for e in logged()] == [
        ("drone.created", first["id"]),
        ("drone.deleted", first["id"]),
        ("drone.created", second["id"]),
    ]


def test_tombstone_waits_in_store_while_redis_is_down(
    make_app, auth_headers, restartable_redis, logged
):
    app = make_app()
    drones = app.extensions["storage"].collection("drones")
    _call(
        app,
        auth_headers,
        "POST",
        f"{BASE}/register",
        json={"deviceSerialNumber": "TW", "deviceName": "t"},
    )
    restartable_redis.stop()
    _call(app, auth_headers, "DELETE", f"{BASE}/TW")
    assert drones.find_one({"_deleted": True})["_deletedSerial"] == "TW"
    restartable_redis.start()
    wait_until(lambda: drones.count_documents({}) == 0, timeout=20, message="tombstone removed")
    assert [e["event"] for e in logged()] == ["drone.created", "drone.deleted"]
