"""Database faults: a failing write answers 503 and publishes nothing; a database down at
start makes the API unready until it returns; a failure after the write loses no event.

Faults come from the server's own fail points (``configureFailPoint``, which only the
tests' server accepts) or from stopping the server.
"""

import pymongo
import pytest
import requests

from tests.support.mongo_server import fail_point
from tests.support.waiting import wait_until

BASE = "/api/v1/drones"


@pytest.fixture
def faults(mongo_server, mongo_client):
    """``faults(["insert"])``: those commands of the API fail until the block ends."""
    if mongo_server.external:
        pytest.skip("MONGODB_URI is set: fail points need the tests' own server")

    def arm(commands: list[str]):
        return fail_point(mongo_client, commands)

    return arm


def _unavailable(response) -> None:
    body = response.json() if callable(response.json) else response.json  # requests or Flask
    assert response.status_code == 503, body
    assert body["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "1"


def _outbox(settings, serial: str) -> list[int]:
    with pymongo.MongoClient(settings.mongodb_uri) as client:
        doc = client[settings.mongodb_db]["drones"].find_one({"deviceSerialNumber": serial})
    return [batch["seq"] for batch in doc["_outbox"]]


def test_a_write_failing_mid_request_answers_503_changes_nothing_and_publishes_nothing(
    app, api, register, events, faults
):
    register("F1")
    wait_until(lambda: len(events()) == 1, message="drone.created published")
    before = api("get", f"{BASE}/F1").json

    with faults(["findAndModify", "insert"]):
        _unavailable(api("patch", f"{BASE}/F1", json={"deviceName": "changed"}))
        _unavailable(api("post", f"{BASE}/F1/stream/toggle"))
        _unavailable(
            api("post", f"{BASE}/register", json={"deviceSerialNumber": "F2", "deviceName": "x"})
        )
        _unavailable(
            api("post", "/api/v1/system/broadcast", json={"message": "m", "level": "info"})
        )

    assert api("get", f"{BASE}/F1").json == before
    assert api("get", f"{BASE}/F2").status_code == 404
    assert app.extensions["relay"].flush()  # nothing left pending, nothing new published
    assert [e["event"] for e in events()] == ["drone.created"]
    # And the API works again as soon as the database does.
    assert api("post", f"{BASE}/F1/stream/toggle").status_code == 200


def test_a_failure_after_the_write_loses_no_event_and_duplicates_none(
    app, api, register, events, settings, faults
):
    register("F3")
    wait_until(lambda: len(events()) == 1, message="drone.created published")
    body = {"type": "intrusion", "confidence": 0.9}

    # ``update`` carries both the incident's upsert (before its event is appended) and the
    # pull of a published batch (after): the documents are written, what follows fails.
    with faults(["update"]):
        toggled = api("post", f"{BASE}/F3/stream/toggle")
        assert toggled.status_code == 200, toggled.json  # the write is committed
        reported = api("post", f"{BASE}/F3/incidents", json=body, role="detector")
        assert reported.status_code == 201, reported.json
        # The toggle's events went out before its pull failed; the incident's wait in the
        # document, since an incident is stored before it is announced.
        wait_until(lambda: len(events()) == 3, message="the toggle's events published")
        assert _outbox(settings, "F3") == [2, 3]

    # The relay finishes both: the incident stored then announced, the batches pulled.
    wait_until(lambda: _outbox(settings, "F3") == [], timeout=15, message="outbox drained")
    names = [e["event"] for e in events()]
    assert names == [
        "drone.created",
        "drone.updated",
        "drone.stream.status",
        "drone.incident.detected",
    ]
    incidents = api("get", f"{BASE}/F3/incidents").json
    assert [i["id"] for i in incidents] == [reported.json["id"]]


def test_database_down_at_start_makes_readyz_fail_until_it_returns(
    restartable_mongo, start_api, process_settings, auth_headers, events
):
    # restartable_mongo first: torn down last, after the API has flushed and stopped.
    restartable_mongo.stop()
    api = start_api(process_settings.replace(mongodb_uri=restartable_mongo.uri))

    ready = requests.get(api.url + "/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["checks"]["mongodb"].startswith("error")
    register = {"deviceSerialNumber": "DOWN1", "deviceName": "d"}
    refused = requests.post(
        api.url + f"{BASE}/register", json=register, headers=auth_headers(), timeout=10
    )
    _unavailable(refused)

    restartable_mongo.start()
    wait_until(
        lambda: requests.get(api.url + "/readyz", timeout=10).status_code == 200,
        timeout=30,
        message="the API ready again",
    )
    created = requests.post(
        api.url + f"{BASE}/register", json=register, headers=auth_headers(), timeout=10
    )
    assert created.status_code == 201, created.text
    again = requests.post(
        api.url + f"{BASE}/register", json=register, headers=auth_headers(), timeout=10
    )
    assert again.status_code == 409  # the unique serial index was created on the way
    wait_until(lambda: [e["event"] for e in events()] == ["drone.created"], timeout=15)
