"""End-to-end load: REST writes to a running API at a fixed rate.

Each write is ``POST /api/v1/drones/{serial}/stream/toggle``, which publishes
``drone.updated`` and ``drone.stream.status``. A toggle always changes the drone, so every
write yields its two events even when two writes to one drone overlap (a ``PUT`` of a value
could land after the next one and change nothing). The request carries
``X-Request-ID: bench-<run>-<time.monotonic_ns() at request start>``; the API copies it into
the envelopes' ``meta.requestId``, from which the load generator measures request start to
client receipt.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import requests

EVENTS_PER_WRITE = 2  # drone.updated + drone.stream.status


def register(base_url: str, token: str, serials: list[str]) -> None:
    """Register the drones (a 409 for one that exists is fine)."""
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        for serial in serials:
            resp = session.post(
                f"{base_url}/api/v1/drones/register",
                headers=headers,
                timeout=10,
                json={"deviceSerialNumber": serial, "deviceName": f"Bench {serial}"},
            )
            if resp.status_code not in (201, 409):
                raise RuntimeError(f"register {serial}: {resp.status_code} {resp.text[:200]}")


def write(
    base_url: str,
    token: str,
    serials: list[str],
    run: int,
    rate: float,
    seconds: float,
    workers: int = 16,
) -> dict:
    """Send ``rate * seconds`` stream writes on schedule, round-robin over ``serials``."""
    local = threading.local()
    counts = {"ok": 0, "errors": 0, "latency_ms": []}
    lock = threading.Lock()

    url = urllib.parse.urlsplit(base_url)

    def one(serial: str) -> None:
        # http.client rather than requests: the writer shares its core with the clients,
        # and requests costs several times more CPU per call.
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Request-ID": f"bench-{run}-{time.monotonic_ns()}",
            "Content-Length": "0",
        }
        t0 = time.monotonic()
        try:
            local.conn.request("POST", f"/api/v1/drones/{serial}/stream/toggle", headers=headers)
            resp = local.conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except (OSError, http.client.HTTPException):
            local.conn.close()  # reconnects on the next request
            ok = False
        with lock:
            counts["ok" if ok else "errors"] += 1
            counts["latency_ms"].append((time.monotonic() - t0) * 1000)

    total = int(rate * seconds)
    start = time.monotonic_ns()
    with ThreadPoolExecutor(workers) as pool:
        for i in range(total):
            due = start + int(i * 1e9 / rate)
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, serials[i % len(serials)])
    end = time.monotonic_ns()
    lat = sorted(counts["latency_ms"])
    return {
        "writes": total,
        "ok": counts["ok"],
        "errors": counts["errors"],
        "expected_events": counts["ok"] * EVENTS_PER_WRITE,
        "rest_p50_ms": lat[len(lat) // 2] if lat else None,
        "rest_p99_ms": lat[int(len(lat) * 0.99)] if lat else None,
        "start_ns": start,
        "end_ns": end,
    }
