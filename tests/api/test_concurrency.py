"""Concurrent changes: each applies exactly once, versions and events stay consistent."""

import threading

BASE = "/api/v1/drones"
THREADS = 8
TOGGLES_PER_THREAD = 10


def _run_threads(target, count):
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        target(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_toggles_all_apply(api, register):
    register("CT")
    statuses = []
    _run_threads(
        lambda _: statuses.extend(
            api("post", f"{BASE}/CT/stream/toggle").status_code for _ in range(TOGGLES_PER_THREAD)
        ),
        THREADS,
    )
    total = THREADS * TOGGLES_PER_THREAD
    assert statuses == [200] * total
    drone = api("get", f"{BASE}/CT").json
    assert drone["version"] == 1 + total
    assert drone["streamIsOn"] is (total % 2 == 1)


def test_concurrent_toggles_give_a_chained_event_stream(api, register, events):
    register("CE")
    _run_threads(
        lambda _: [
            api("post", f"{BASE}/CE/ai-detection/toggle") for _ in range(TOGGLES_PER_THREAD)
        ],
        THREADS,
    )
    updated = [e for e in events() if e["event"] == "drone.updated"]
    assert [e["version"] for e in updated] == list(range(2, 2 + THREADS * TOGGLES_PER_THREAD))
    previous = False
    for event in updated:
        change = event["data"]["changes"]["aiDetectionEnabled"]
        assert change == {"old": previous, "new": not previous}
        previous = change["new"]


def test_concurrent_mixed_writes_publish_each_version_once(api, register, events):
    register("MX")

    def work(i):
        for n in range(5):
            if i % 2:
                api("patch", f"{BASE}/MX", json={"deviceName": f"t{i}-{n}"})
            else:
                api("post", f"{BASE}/MX/incidents", json={"type": f"t{i}", "confidence": 0.5})

    _run_threads(work, 6)
    got = events()
    versions = [e["version"] for e in got if e["event"] in ("drone.created", "drone.updated")]
    assert versions == list(range(1, 1 + len(versions)))
    assert len(versions) == 1 + 3 * 5
    assert sum(e["event"] == "drone.incident.detected" for e in got) == 3 * 5
    seen = [e["version"] for e in got]
    assert seen == sorted(seen)
