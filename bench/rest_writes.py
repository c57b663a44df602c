"""REST writes per second through the API, and their p50/p99, by ``API_WORKERS``.

A private Redis, and for each worker count a fresh MongoDB server (the development server,
SecantusDB, unless ``--mongodb-uri`` names another) and one ``python -m services.api``
process (the API's own worker class, rate limits off): ``--concurrency`` client threads toggle
the streams of 50 drones in a closed loop (each thread its own drones, so no write waits
on another's compare-and-set) for ``--seconds``. Every write is one findAndModify with its
outbox batch, the event log append and the ``$pull``. Everything shares this machine's
cores, the load generator included: the figures compare configurations, they are no
capacity of a real deployment.

    python -m bench.rest_writes [--workers 1,2,4] [--seconds 15] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.outbox_latency import percentile
from shared.auth import mint_token
from shared.settings import Settings
from tests.support.mongo_server import MongoServer
from tests.support.redis_server import RedisServer, free_port
from tests.support.services import ServiceProcess

SECRET = "bench-" + "s" * 40
DRONES = 50


def drive(port: int, token: str, serials: list[str], seconds: float, concurrency: int) -> dict:
    """Closed-loop toggles from ``concurrency`` threads; counts and latencies."""
    headers = {"Authorization": f"Bearer {token}", "Content-Length": "0"}
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    deadline = time.monotonic() + seconds

    def loop(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = serials[n::concurrency]
        i = 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            conn.request("POST", f"/api/v1/drones/{mine[i % len(mine)]}/stream/toggle", "", headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                latencies[n].append((time.perf_counter() - start) * 1000)
            else:
                errors[n] += 1
            i += 1
        conn.close()

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    done = [x for per_thread in latencies for x in per_thread]
    return {
        "writes": len(done),
        "errors": sum(errors),
        "writes_per_s": round(len(done) / elapsed, 1),
        "p50_ms": round(percentile(done, 50), 1) if done else None,
        "p99_ms": round(percentile(done, 99), 1) if done else None,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (gunicorn's workers) so far."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def register(port: int, token: str, serials: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for serial in serials:
        body = json.dumps({"deviceSerialNumber": serial, "deviceName": serial})
        conn.request(
            "POST",
            "/api/v1/drones/register",
            body,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"register {serial}: {response.status}")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the list, taking turns")
    parser.add_argument("--mongodb-uri", default=None, help="default: a private dev server")
    parser.add_argument("--out", type=Path, default=Path("bench/results/rest-writes.json"))
    args = parser.parse_args()
    token = mint_token(SECRET, "admin", "bench")
    serials = [f"W{n:03d}" for n in range(DRONES)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            for workers in [int(w) for w in args.workers.split(",")] * args.rounds:
                port = free_port()
                # A fresh server per row: SecantusDB slows down past 10,000 retryable writes
                # in 30 minutes (see docs/performance.md), which would favour the first rows.
                mongo = None if args.mongodb_uri else MongoServer(Path(tmp) / f"mongo{port}")
                if mongo:
                    mongo.start()
                settings = Settings.from_env(
                    {},
                    redis_url=redis_server.url,
                    mongodb_uri=args.mongodb_uri or mongo.uri,
                    mongodb_db=f"bench{port}",
                    key_prefix=f"bench{port}",
                    jwt_secret=SECRET,
                    rate_limits_enabled=False,
                    log_level="WARNING",
                    var_dir=Path(tmp) / f"var{port}",
                    api_port=port,
                    api_workers=workers,
                )
                api = ServiceProcess("services.api", settings, port, Path(tmp) / f"api{port}.log")
                api.start()
                try:
                    register(port, token, serials)
                    drive(port, token, serials, 2, args.concurrency)  # warm-up
                    pids = {"api": api.process.pid, "db": mongo.process.pid if mongo else None}
                    before = {k: cpu_seconds(p) for k, p in pids.items() if p}
                    row = drive(port, token, serials, args.seconds, args.concurrency)
                    for name, start in before.items():
                        used = cpu_seconds(pids[name]) - start
                        row[f"{name}_cpu_ms_per_write"] = round(1000 * used / row["writes"], 2)
                finally:
                    api.stop()
                    if mongo:
                        mongo.stop()
                row = {"api_workers": workers, "concurrency": args.concurrency, **row}
                results.append(row)
                print(json.dumps(row), flush=True)
        finally:
            redis_server.stop()
    store = "mongodb (--mongodb-uri)" if args.mongodb_uri else "development server (SecantusDB)"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"store": store, "rows": results}, indent=2) + "\n")
    print(f"\n{store}")
    print(
        "| API_WORKERS | writes/s | p50 ms | p99 ms | errors | API CPU ms/write | DB CPU ms/write |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in results:
        print(
            f"| {row['api_workers']} | {row['writes_per_s']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {row['errors']} | {row.get('api_cpu_ms_per_write')} | "
            f"{row.get('db_cpu_ms_per_write', '-')} |"
        )


if __name__ == "__main__":
    main()
