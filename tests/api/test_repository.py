"""The repository's contract, run against the MongoDB server (the session's development
server, or the real ``mongod`` of MONGODB_URI) and against mongomock, which the fast unit
tests use: a test that passes on the server and fails on mongomock marks where the fake
differs."""

import threading

import pytest
from bson import ObjectId

from services.api.drones.repository import DroneRepository, DuplicateSerial
from services.api.outbox import PENDING
from services.api.storage import Storage

BACKENDS = ["mongodb", "mongomock"]


@pytest.fixture(params=BACKENDS)
def storage(request, settings, mock_settings):
    store = Storage(settings if request.param == "mongodb" else mock_settings)
    yield store
    store.close()


@pytest.fixture
def repo(storage):
    repository = DroneRepository(storage.collection("drones"), storage.collection("incidents"))
    repository.ensure_indexes()
    return repository


def _doc(serial, **fields):
    return {
        "_id": ObjectId(),
        "deviceSerialNumber": serial,
        "deviceName": serial,
        "deviceCategory": "Surveillance",
        "streamIsOn": False,
        "version": 1,
        "_seq": 1,
        "_outbox": [{"seq": 1, "events": []}],
        **fields,
    }


def test_insert_then_get(repo):
    repo.insert(_doc("A"))
    assert repo.get("A")["deviceName"] == "A"


def test_get_unknown_is_none(repo):
    assert repo.get("NOPE") is None


def test_duplicate_serial_is_refused(repo):
    repo.insert(_doc("A"))
    with pytest.raises(DuplicateSerial):
        repo.insert(_doc("A"))


def test_apply_on_current_doc_sets_bumps_and_pushes(repo):
    doc = repo.insert(_doc("A"))
    updated = repo.apply(doc, {"seq": 2, "events": []}, {"deviceName": "B"})
    assert (updated["deviceName"], updated["version"], updated["_seq"]) == ("B", 2, 2)
    assert [b["seq"] for b in updated["_outbox"]] == [1, 2]


def test_apply_on_stale_doc_writes_nothing(repo):
    doc = repo.insert(_doc("A"))
    repo.apply(doc, {"seq": 2, "events": []}, {"deviceName": "B"})
    assert repo.apply(doc, {"seq": 2, "events": []}, {"deviceName": "C"}) is None
    assert repo.get("A")["deviceName"] == "B"


def test_apply_without_version_bump(repo):
    doc = repo.insert(_doc("A"))
    updated = repo.apply(doc, {"seq": 2, "events": []}, bump_version=False)
    assert (updated["version"], updated["_seq"]) == (1, 2)


def test_tombstone_hides_the_drone_and_frees_the_serial(repo):
    doc = repo.insert(_doc("A"))
    tomb = repo.tombstone(doc, {"seq": 2, "events": []})
    assert tomb["_deleted"] is True and tomb["_deletedSerial"] == "A"
    assert repo.get("A") is None
    assert repo.list({}, 0, 10) == ([], 0)
    repo.insert(_doc("A"))
    assert repo.get("A")["_id"] != doc["_id"]


def test_list_filters_pages_and_counts(repo):
    for i in range(5):
        repo.insert(_doc(f"S{i}", deviceCategory="odd" if i % 2 else "even"))
    docs, total = repo.list({"deviceCategory": "even"}, 1, 1)
    assert total == 3
    assert [d["deviceSerialNumber"] for d in docs] == ["S2"]


def test_list_by_serials(repo):
    for serial in ("A", "B", "C"):
        repo.insert(_doc(serial))
    docs, total = repo.list({"deviceSerialNumber": {"$in": ["A", "C"]}}, 0, 10)
    assert [d["deviceSerialNumber"] for d in docs] == ["A", "C"] and total == 2


def test_incidents_newest_first_and_idempotent_save(repo):
    drone = ObjectId()
    ids = [ObjectId() for _ in range(3)]
    for n, incident_id in enumerate(ids):
        repo.save_incident({"_id": incident_id, "droneId": drone, "type": str(n)})
    repo.save_incident({"_id": ids[0], "droneId": drone, "type": "0"})
    docs, total = repo.incidents_of(drone, 0, 10)
    assert [d["type"] for d in docs] == ["2", "1", "0"] and total == 3


def test_pending_query_and_pull(repo):
    doc = repo.insert(_doc("A"))
    repo.insert(_doc("B", _outbox=[]))
    assert [d["_id"] for d in repo.drones.find(PENDING)] == [doc["_id"]]
    repo.drones.update_one({"_id": doc["_id"]}, {"$pull": {"_outbox": {"seq": {"$lte": 1}}}})
    assert list(repo.drones.find(PENDING)) == []


def test_concurrent_compare_and_set_applies_each_change_once(settings):
    # The server only: mongomock's updates are not atomic across threads.
    storage = Storage(settings)
    repo = DroneRepository(storage.collection("drones"), storage.collection("incidents"))
    repo.ensure_indexes()
    repo.insert(_doc("A"))
    applied = []

    def worker():
        for _ in range(10):
            while True:
                doc = repo.get("A")
                batch = {"seq": doc["_seq"] + 1, "events": []}
                if repo.apply(doc, batch, {"streamIsOn": not doc["streamIsOn"]}):
                    applied.append(1)
                    break

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc = repo.get("A")
    assert doc["version"] == 41 == doc["_seq"]
    assert [b["seq"] for b in doc["_outbox"]] == list(range(1, 42))


def test_development_server_keeps_data_across_restarts(settings, restartable_mongo):
    on_private = settings.replace(mongodb_uri=restartable_mongo.uri)
    first = Storage(on_private)
    DroneRepository(first.collection("drones"), first.collection("incidents")).insert(_doc("P"))
    first.close()
    restartable_mongo.restart()
    second = Storage(on_private)
    try:
        repo = DroneRepository(second.collection("drones"), second.collection("incidents"))
        assert repo.get("P")["deviceName"] == "P"
        with pytest.raises(DuplicateSerial):  # the unique index came back with the data
            repo.insert(_doc("P"))
    finally:
        second.close()


def test_unique_serial_index_is_created_before_the_first_insert(settings):
    # An API started while the database was down has no index yet; its first insert makes it.
    storage = Storage(settings)
    repo = DroneRepository(storage.collection("drones"), storage.collection("incidents"))
    repo.insert(_doc("A"))
    with pytest.raises(DuplicateSerial):
        repo.insert(_doc("A"))
    storage.close()
