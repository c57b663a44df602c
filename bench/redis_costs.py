"""What the event log costs Redis: CPU per appended change, per relay read, per snapshot.

Starts a private redis-server, appends mutations the way the API does (one Lua call per
mutation: two events, ~700-byte bodies with the drone's document, the drone's state), paced
at ``--rate`` mutations/s, with 0, 1 and ``--readers`` blocked ``XREAD`` readers following
the stream the way each gateway replica's relay does. Redis's CPU (user + system, from
/proc, so wake-ups and sockets are counted, not only the commands) over each phase gives
the cost per mutation and, from the difference between reader counts, per reader and
event. Then it times snapshots (``HVALS`` of the state hash, ``HMGET`` of a few serials)
for ``--drones`` drones.

    python -m bench.redis_costs [--rate 400] [--seconds 4] [--readers 4] [--drones 10000]

Prints one JSON object, also written to ``--out`` (default bench/results/redis-costs.json).
Bounded: each phase runs ``--seconds``; everything it starts is stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil
import redis

from shared.contract import DRONE_STREAM_STATUS, DRONE_UPDATED, drone_channels
from shared.eventlog import EventLog, PendingEvent
from shared.events import dumps
from tests.support.redis_server import RedisServer

PREFIX = "costs"


def _drone(serial: str, version: int) -> dict:
    return {
        "id": "6650f0c2a1b2c3d4e5f60718",
        "deviceSerialNumber": serial,
        "deviceName": f"Drone {serial}",
        "deviceCategory": "Surveillance",
        "streamIsOn": version % 2 == 1,
        "aiDetectionEnabled": False,
        "detectionClasses": ["person", "car", "truck"],
        "streamUrl": f"rtsp://cameras.example/{serial}",
        "version": version,
        "createdAt": "2026-11-28T10:00:00.000Z",
        "updatedAt": "2026-11-28T10:00:00.000Z",
    }


def mutation(serial: str, version: int) -> tuple[list[PendingEvent], tuple[str, str]]:
    """The two events and the state of one stream toggle, as the API appends them."""
    full = _drone(serial, version)
    on = full["streamIsOn"]
    common = {"droneSerial": serial, "version": version, "timestamp": full["updatedAt"]}
    updated = {
        "event": DRONE_UPDATED,
        **common,
        "data": {"changes": {"streamIsOn": {"old": not on, "new": on}}, "full": full},
    }
    stream = {"event": DRONE_STREAM_STATUS, **common, "data": {"streamIsOn": on, "full": full}}
    events = [
        PendingEvent(dumps(updated), drone_channels(serial, DRONE_UPDATED), serial),
        PendingEvent(dumps(stream), drone_channels(serial, DRONE_STREAM_STATUS), serial),
    ]
    return events, (serial, dumps(full))


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class Readers:
    """``count`` threads following the stream with blocking XREADs, as gateway relays do."""

    def __init__(self, url: str, count: int):
        self.stop = threading.Event()
        self.read = [0] * count
        self.threads = [
            threading.Thread(target=self._follow, args=(url, n), daemon=True) for n in range(count)
        ]

    def _follow(self, url: str, n: int) -> None:
        log = EventLog(redis.Redis.from_url(url, single_connection_client=True), PREFIX)
        after = log.last_id()
        while not self.stop.is_set():
            events = log.read(after, count=100, block_ms=200)
            if events:
                after = events[-1].id
                self.read[n] += len(events)

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(2)


def append_phase(server: RedisServer, readers: int, rate: float, seconds: float) -> dict:
    """Redis CPU per mutation while appending at ``rate`` with ``readers`` following."""
    client = redis.Redis.from_url(server.url)
    log = EventLog(client, PREFIX)
    process = psutil.Process(server.process.pid)
    serials = [f"COST-{n:04d}" for n in range(100)]
    epoch = log.ensure_epoch()  # no API runs here to keep the history's epoch
    with Readers(server.url, readers) as followers:
        time.sleep(0.3)  # the readers are blocked in XREAD before the clock starts
        client.config_resetstat()
        cpu0, t0 = _cpu_seconds(process), time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - t0) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                events, state = mutation(serials[sent % len(serials)], sent + 1)
                log.append("costs", int(time.time() * 1e6) + sent, events, state, epoch=epoch)
                sent += 1
            time.sleep(max(0.0, sent / rate - (time.monotonic() - t0)))
        time.sleep(0.3)  # the readers take the last events
        cpu = _cpu_seconds(process) - cpu0
        stats = client.info("commandstats")
    xread = stats.get("cmdstat_xread", {})
    return {
        "readers": readers,
        "mutations": sent,
        "events": 2 * sent,
        "events_read_per_reader": min(followers.read) if readers else 0,
        "redis_cpu_us_per_mutation": round(cpu * 1e6 / sent, 1),
        "xread_calls_per_mutation": round(xread.get("calls", 0) / sent, 2),
        "xread_command_us_per_call": xread.get("usec_per_call"),
        "script_command_us_per_call": stats.get("cmdstat_evalsha", {}).get("usec_per_call"),
        "stream_bytes_per_event": round(
            client.memory_usage(log.stream_key, samples=0) / client.xlen(log.stream_key)
        ),
    }


def snapshot_costs(server: RedisServer, drones: int) -> dict:
    """Redis CPU per drone of a full snapshot, and per call of a 10-drone snapshot."""
    repeat = min(1_000, max(20, 200_000 // drones))  # enough for /proc's 10 ms ticks
    calls = 5_000
    client = redis.Redis.from_url(server.url)
    log = EventLog(client, PREFIX)
    pipe = client.pipeline(transaction=False)
    for n in range(drones):
        serial = f"SNAP-{n:06d}"
        pipe.hset(log.state_key, serial, dumps(_drone(serial, 1)))
    pipe.execute()
    process = psutil.Process(server.process.pid)
    cpu0 = _cpu_seconds(process)
    for _ in range(repeat):
        assert len(log.snapshot()) >= drones
    full = _cpu_seconds(process) - cpu0
    some = [f"SNAP-{n:06d}" for n in range(10)]
    cpu0 = _cpu_seconds(process)
    for _ in range(calls):
        log.snapshot(some)
    ten = _cpu_seconds(process) - cpu0
    doc = len(dumps(_drone("SNAP-000000", 1)))
    return {
        "drones": drones,
        "document_bytes": doc,
        "redis_cpu_us_per_drone_full_snapshot": round(full * 1e6 / repeat / drones, 2),
        "redis_cpu_us_per_10_drone_snapshot": round(ten * 1e6 / calls, 1),
        "state_hash_bytes": client.memory_usage(log.state_key),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_costs", description=__doc__)
    parser.add_argument("--rate", type=float, default=400.0, help="mutations/s while appending")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    parser.add_argument("--readers", type=int, default=4, help="the most relays following")
    parser.add_argument("--drones", type=int, default=10_000, help="drones in the snapshot test")
    parser.add_argument("--port", type=int, default=None, help="redis-server port (default: free)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/redis-costs.json"))
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="redis-costs-"))
    server = RedisServer(workdir, args.port).start()
    try:
        result = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rate_mutations_per_s": args.rate,
            "append": [
                append_phase(server, readers, args.rate, args.seconds)
                for readers in sorted({0, 1, args.readers})
            ],
            "snapshot": snapshot_costs(server, args.drones),
        }
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    phases = result["append"]
    if len(phases) >= 2 and phases[-1]["readers"] > 0:
        extra = phases[-1]["redis_cpu_us_per_mutation"] - phases[0]["redis_cpu_us_per_mutation"]
        result["redis_cpu_us_per_reader_per_mutation"] = round(extra / phases[-1]["readers"], 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
