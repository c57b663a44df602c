"""What the transactional outbox adds to the latency of a write.

Both paths toggle a drone's stream in-process, on the same store and a private Redis:

- ``outbox``: ``DroneService.toggle`` as the API runs it: a compare-and-set write that also
  pushes the batch of events into the drone document, the Lua append to the event log, and
  the ``$pull`` of the published batch.
- ``direct``: the seed's design: one ``find_one_and_update`` of the field, then the same
  events appended to the event log. It loses events when Redis is down or the process dies
  between the two steps; the outbox is what that safety costs.

    python -m bench.outbox_latency [--writes 2000] [--backends mongomock,devserver]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pymongo

from services.api import create_app
from shared import contract
from shared.eventlog import PendingEvent
from shared.events import encode_body, utc_now_iso
from shared.settings import Settings
from tests.support.mongo_server import MongoServer
from tests.support.redis_server import RedisServer


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def direct_toggle(collection, event_log, serial: str) -> None:
    """Write, then publish: no outbox."""
    doc = collection.find_one({"deviceSerialNumber": serial})
    new = not doc["streamIsOn"]
    doc = collection.find_one_and_update(
        {"_id": doc["_id"]},
        {"$set": {"streamIsOn": new, "updatedAt": utc_now_iso()}, "$inc": {"version": 1}},
        return_document=pymongo.ReturnDocument.AFTER,
    )
    full = {k: v for k, v in doc.items() if k != "_id"}
    events = []
    for name, data in (
        (
            contract.DRONE_UPDATED,
            {"changes": {"streamIsOn": {"old": not new, "new": new}}, "full": full},
        ),
        (contract.DRONE_STREAM_STATUS, {"streamIsOn": new, "full": full}),
    ):
        body = encode_body(
            name, data, timestamp=utc_now_iso(), serial=serial, version=doc["version"]
        )
        events.append(PendingEvent(body, contract.drone_channels(serial, name), serial))
    event_log.append(str(doc["_id"]), doc["version"], events, epoch=event_log.ensure_epoch())


def measure(settings: Settings, writes: int) -> dict[str, dict[str, float]]:
    app = create_app(settings, start_relay=False)
    service = app.extensions["drone_service"]
    service.register({"deviceSerialNumber": "OUTBOX", "deviceName": "o"}, None)
    direct_collection = app.extensions["storage"].collection("direct")
    direct_collection.insert_one(
        {"deviceSerialNumber": "DIRECT", "streamIsOn": False, "version": 1}
    )
    timings: dict[str, list[float]] = {"outbox": [], "direct": []}
    for _ in range(writes):  # interleaved, so both see the same machine state
        start = time.perf_counter()
        service.toggle("OUTBOX", "streamIsOn", None)
        timings["outbox"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        direct_toggle(direct_collection, app.extensions["event_log"], "DIRECT")
        timings["direct"].append((time.perf_counter() - start) * 1000)
    app.extensions["shutdown"]()
    return {
        path: {
            "p50_ms": round(percentile(t, 50), 3),
            "p99_ms": round(percentile(t, 99), 3),
            "mean_ms": round(statistics.fmean(t), 3),
        }
        for path, t in timings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--backends", default="mongomock,devserver")
    parser.add_argument("--out", type=Path, default=Path("bench/results/outbox-latency.json"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        mongo = MongoServer(Path(tmp) / "mongo").start() if "devserver" in args.backends else None
        try:
            for backend in args.backends.split(","):
                settings = Settings.from_env(
                    {},
                    redis_url=redis_server.url,
                    key_prefix=f"bench-{backend}",
                    var_dir=Path(tmp) / backend,
                    jwt_secret="b" * 40,
                    mongodb_uri="mongomock://bench" if backend == "mongomock" else mongo.uri,
                )
                results[backend] = measure(settings, args.writes)
        finally:
            if mongo:
                mongo.stop()
            redis_server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("| store | path | p50 ms | p99 ms | mean ms |\n|---|---|---|---|---|")
    for backend, paths in results.items():
        for path, figures in paths.items():
            print(
                f"| {backend} | {path} | {figures['p50_ms']} | {figures['p99_ms']} | "
                f"{figures['mean_ms']} |"
            )
        added = {k: round(paths["outbox"][k] - paths["direct"][k], 3) for k in ("p50_ms", "p99_ms")}
        print(f"| {backend} | added by the outbox | {added['p50_ms']} | {added['p99_ms']} | |")


if __name__ == "__main__":
    main()
