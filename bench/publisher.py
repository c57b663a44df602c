"""Fixed-rate event publisher for the benchmark.

Two targets:

- ``eventlog``: :meth:`shared.eventlog.EventLog.append`, the way the API writes events (one
  atomic Lua call per batch: XADD + PUBLISH on the contract channels), read by our gateway.
- ``pubsub``: plain ``PUBLISH drone:{serial}:telemetry``, which the Node peer gateway
  psubscribes to.

Every body is a ~300-byte envelope like the API's ``drone.updated`` with three extra top-level
fields the load generator reads: ``run``, ``seq`` (0.. within the run) and ``ts`` (the
``time.monotonic_ns()`` at which the batch was built). Events due in the same instant go out as
one batch so the publisher keeps up at 100k events/s.

    python -m bench.publisher --redis-url redis://127.0.0.1:6390/0 --target eventlog \
        --key-prefix bench --run 1 --rate 1000 --duration 5

prints one JSON line: ``{"sent": .., "seconds": .., "rate": .., "behind_ms": .., ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import redis

from shared.contract import DRONE_UPDATED, drone_channels
from shared.eventlog import EventLog, PendingEvent
from shared.events import dumps, utc_now_iso

MAX_BATCH = 1000
TELEMETRY_CHANNEL = "drone:{serial}:telemetry"


def drone_serials(count: int) -> list[str]:
    return [f"BENCH-{n:04d}" for n in range(count)]


def _data(serial: str) -> str:
    """The ``data`` of a stream toggle, with a compact ``full`` drone (fixed per drone)."""
    return dumps(
        {
            "changes": {"streamIsOn": {"old": False, "new": True}},
            "full": {
                "deviceSerialNumber": serial,
                "deviceName": f"Drone {serial}",
                "deviceCategory": "Surveillance",
                "streamIsOn": True,
                "aiDetectionEnabled": False,
            },
        }
    )


class BodyFactory:
    """Builds envelope bodies by string formatting: json.dumps per event would cost more."""

    def __init__(self, run: int, serials: list[str]):
        self.run = run
        self.serials = serials
        self.data = {s: _data(s) for s in serials}
        self.versions = dict.fromkeys(serials, 0)

    def body(self, seq: int, timestamp: str, ts: int) -> tuple[str, str]:
        serial = self.serials[seq % len(self.serials)]
        self.versions[serial] += 1
        body = (
            f'{{"event":"{DRONE_UPDATED}","droneSerial":"{serial}",'
            f'"version":{self.versions[serial]},"timestamp":"{timestamp}",'
            f'"data":{self.data[serial]},"run":{self.run},"seq":{seq},"ts":{ts}}}'
        )
        return serial, body


def eventlog_sender(client: redis.Redis, key_prefix: str, run: int) -> Callable:
    """A ``send(batch)`` that appends ``[(serial, body), ...]`` to the event log in one call."""
    log = EventLog(client, key_prefix)
    epoch = log.ensure_epoch()  # the benchmark runs no API to keep the history's epoch
    origin = f"bench-{run}-{os.getpid()}"
    channels = {}
    counter = iter(range(1, 1 << 62))

    def send(batch: list[tuple[str, str]]) -> None:
        events = []
        for serial, body in batch:
            if serial not in channels:
                channels[serial] = drone_channels(serial, DRONE_UPDATED)
            events.append(PendingEvent(body, channels[serial], serial))
        log.append(origin, next(counter), events, epoch=epoch)

    return send


def pubsub_sender(client: redis.Redis) -> Callable:
    """A ``send(batch)`` that PUBLISHes each body on its drone's telemetry channel."""

    def send(batch: list[tuple[str, str]]) -> None:
        pipe = client.pipeline(transaction=False)
        for serial, body in batch:
            pipe.publish(TELEMETRY_CHANNEL.format(serial=serial), body)
        pipe.execute()

    return send


def publish(send: Callable, run: int, phases: list[tuple[float, float]], drones: int = 50) -> dict:
    """Send each ``(rate, seconds)`` phase on schedule, back to back; returns what was sent.

    ``behind_ms`` is how far the publisher itself ever fell behind its schedule.
    """
    factory = BodyFactory(run, drone_serials(drones))
    mono = time.monotonic_ns
    start = mono()
    sent = batches = body_bytes = 0
    behind_ms = 0.0
    boundaries = []
    phase_start = start
    for rate, seconds in phases:
        total = sent + int(rate * seconds)
        first = sent
        deadline = phase_start + int((seconds + 30) * 1e9)  # never run away when Redis stalls
        while sent < total and mono() < deadline:
            now = mono()
            due = min(total, first + int((now - phase_start) * rate / 1e9) + 1)
            if due <= sent:
                time.sleep(max(0.0, (phase_start + (sent - first) * 1e9 / rate - now) / 1e9))
                continue
            behind_ms = max(behind_ms, (due - sent) / rate * 1000)
            n = min(due - sent, MAX_BATCH)
            stamp, ts = utc_now_iso(), mono()
            batch = [factory.body(sent + i, stamp, ts) for i in range(n)]
            body_bytes = len(batch[0][1])
            send(batch)
            sent += n
            batches += 1
        phase_start = max(mono(), phase_start + int(seconds * 1e9))
        boundaries.append(phase_start)
    end = mono()
    seconds = (end - start) / 1e9
    return {
        "sent": sent,
        "seconds": round(seconds, 3),
        "rate": round(sent / seconds, 1) if seconds else 0.0,
        "batches": batches,
        "behind_ms": round(behind_ms, 1),
        "body_bytes": body_bytes,
        "start_ns": start,
        "end_ns": end,
        "phase_end_ns": boundaries,
    }


def _phases(text: str) -> list[tuple[float, float]]:
    """``"8000:10,400:20"`` as ``[(8000.0, 10.0), (400.0, 20.0)]``."""
    phases = []
    for part in text.split(","):
        rate, _, seconds = part.partition(":")
        phases.append((float(rate), float(seconds)))
    if not phases or any(not (0 < r <= 1_000_000 and 0 < s <= 600) for r, s in phases):
        raise ValueError("each phase is RATE:SECONDS with 0 < RATE <= 1e6 and 0 < SECONDS <= 600")
    return phases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--target", choices=("eventlog", "pubsub"), default="eventlog")
    parser.add_argument("--key-prefix", default="bench")
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--rate", type=float, help="events per second")
    parser.add_argument("--duration", type=float, help="seconds")
    parser.add_argument("--phases", help="RATE:SECONDS,... instead of --rate/--duration")
    parser.add_argument("--drones", type=int, default=50)
    args = parser.parse_args(argv)
    try:
        phases = _phases(args.phases or f"{args.rate}:{args.duration}")
    except ValueError as exc:
        parser.error(str(exc))
    client = redis.Redis.from_url(args.redis_url)
    client.ping()
    if args.target == "eventlog":
        send = eventlog_sender(client, args.key_prefix, args.run)
    else:
        send = pubsub_sender(client)
    result = publish(send, args.run, phases, args.drones)
    print(json.dumps(dict(result, target=args.target, phases=phases)), flush=True)


if __name__ == "__main__":
    main()
