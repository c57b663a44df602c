"""The real server (``python -m services.api``, gunicorn) on the tests' MongoDB server."""

import json
import signal
import threading

import pytest
import redis
import requests

from services.api.storage import Storage
from shared.eventlog import EventLog
from tests.support.services import metric_samples
from tests.support.waiting import wait_until

BASE = "/api/v1/drones"


@pytest.fixture
def log_reader(process_settings):
    client = redis.Redis.from_url(process_settings.redis_url)
    log = EventLog(client, process_settings.key_prefix)
    yield lambda: [json.loads(e.envelope) for e in log.range_after("0-0", 100_000)]
    client.close()


def _stored(settings, serial):
    storage = Storage(settings)
    try:
        drones = storage.collection("drones")
        doc = drones.find_one({"deviceSerialNumber": serial})
        pending = sum(len(d.get("_outbox") or []) for d in drones.find({}))
        return doc, pending
    finally:
        storage.close()


def _register(api, headers, serial):
    response = requests.post(
        f"{api.url}{BASE}/register",
        json={"deviceSerialNumber": serial, "deviceName": serial.lower()},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 201


def _burst(url, headers, serial, stop, results):
    session = requests.Session()
    while not stop.is_set():
        try:
            response = session.post(
                f"{url}{BASE}/{serial}/stream/toggle", headers=headers, timeout=10
            )
            results.append(response.status_code)
        except requests.RequestException:
            results.append("error")
            return


def _run_burst(api, headers, serial, until, threads=4):
    stop = threading.Event()
    results: list = []
    workers = [
        threading.Thread(target=_burst, args=(api.url, headers, serial, stop, results))
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    wait_until(lambda: results.count(200) >= 40, timeout=60, message="burst under way")
    until()
    stop.set()
    for w in workers:
        w.join(30)
    return results


def _check_chain(events, serial, final_version):
    updated = [
        e["version"] for e in events if e["event"] == "drone.updated" and e["droneSerial"] == serial
    ]
    assert updated == list(range(2, final_version + 1))


def test_server_serves_the_api(start_api, auth_headers, log_reader):
    api = start_api()
    body = {"deviceSerialNumber": "TEST123", "deviceName": "Test Drone"}
    response = requests.post(
        f"{api.url}{BASE}/register", json=body, headers=auth_headers(), timeout=10
    )
    assert response.status_code == 201
    assert [e["event"] for e in log_reader()] == ["drone.created"]
    assert requests.get(f"{api.url}/readyz", timeout=5).status_code == 200
    # Not one warning, e.g. gevent's MonkeyPatchWarning: modules the master imported
    # before patching (pymongo's ssl_context would not be cooperative in the workers).
    assert '"logger":"py.warnings"' not in api.logs()


def test_sigterm_finishes_requests_and_publishes_everything(
    start_api, auth_headers, process_settings, log_reader
):
    api = start_api()
    headers = auth_headers()
    _register(api, headers, "GR")
    results = _run_burst(api, headers, "GR", lambda: api.signal(signal.SIGTERM))
    assert api.process.wait(60) == 0
    assert set(results) <= {200, "error"}  # refused after shutdown, never a 5xx
    doc, pending = _stored(process_settings, "GR")
    assert pending == 0
    # A request cut off on the client side may still have been applied by the server.
    assert doc["version"] >= 1 + results.count(200)
    _check_chain(log_reader(), "GR", doc["version"])


def test_sigkill_mid_burst_then_restart_delivers_every_change_once(
    start_api, auth_headers, process_settings, log_reader
):
    api = start_api()
    headers = auth_headers()
    _register(api, headers, "KL")
    results = _run_burst(api, headers, "KL", api.kill)
    doc, pending_at_kill = _stored(process_settings, "KL")
    assert doc["version"] >= 1 + results.count(200)
    restarted = start_api()
    wait_until(
        lambda: _stored(process_settings, "KL")[1] == 0, timeout=30, message="outbox drained"
    )
    # A write the killed process had sent may still be applied by the database after the
    # read above: the chain runs to the version stored once everything has settled.
    final, _ = _stored(process_settings, "KL")
    assert final["version"] >= doc["version"]
    events = log_reader()
    _check_chain(events, "KL", final["version"])
    print(
        f"\nSIGKILL burst: {results.count(200)} toggles answered 200, version "
        f"{final['version']}, {pending_at_kill} batches pending at kill, {len(events)} events "
        "delivered once"
    )
    assert (
        requests.get(f"{restarted.url}{BASE}/KL", headers=headers, timeout=10).json()["version"]
        == final["version"]
    )


def test_sigkill_with_redis_down_then_restart_publishes_the_backlog_once(
    start_api, auth_headers, process_settings, restartable_redis
):
    settings = process_settings.replace(redis_url=restartable_redis.url)
    api = start_api(settings)
    headers = auth_headers()
    _register(api, headers, "RD")
    answered_before: list = []

    def redis_dies_then_crash():
        answered_before.append(len(answered))
        restartable_redis.stop()
        wait_until(
            lambda: len(answered) >= answered_before[0] + 40,
            timeout=60,
            message="writes while Redis is down",
        )
        api.kill()

    answered: list = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=_burst, args=(api.url, headers, "RD", stop, answered))
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    wait_until(lambda: answered.count(200) >= 20, timeout=60, message="burst under way")
    redis_dies_then_crash()
    stop.set()
    for w in workers:
        w.join(30)
    doc, pending_at_kill = _stored(settings, "RD")
    assert pending_at_kill > 0, "the crash must leave a backlog for this test to mean anything"
    restartable_redis.start()
    start_api(settings)
    wait_until(lambda: _stored(settings, "RD")[1] == 0, timeout=30, message="outbox drained")
    client = redis.Redis.from_url(settings.redis_url)
    log = EventLog(client, settings.key_prefix)
    events = [json.loads(e.envelope) for e in log.range_after("0-0", 100_000)]
    client.close()
    _check_chain(events, "RD", doc["version"])
    print(
        f"\nRedis down + SIGKILL: version {doc['version']}, {pending_at_kill} batches pending "
        f"at kill, {len(events)} events delivered once after restart"
    )


def _healthz_requests(api) -> float:
    samples = metric_samples(api.url)
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "api_requests_total" and ("route", "/healthz") in labels
    )


def test_metrics_count_the_requests_of_every_worker(start_api, process_settings):
    api = start_api(process_settings.replace(api_workers=2))
    before = _healthz_requests(api)
    for _ in range(40):  # a connection each: the workers take them as they come
        assert requests.get(api.url + "/healthz", headers={"Connection": "close"}).ok

    # Whichever worker answers the scrape, it counts every worker's requests.
    assert [_healthz_requests(api) for _ in range(6)] == [before + 40] * 6
