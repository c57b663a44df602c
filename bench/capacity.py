"""Turn a fleet description into the replicas and the Redis load it needs.

    python -m bench.capacity --drones 10000 --changes-per-second 200 --clients 5000
    python -m bench.capacity --drones 50000 --changes-per-second 2000 --clients 20000 \
        --share 0.01 --snapshots-per-second 5 --json

A spreadsheet in code: every cost below was measured on this project's 2-core VM (see
docs/scaling.md for where each comes from), and each tier gets a budget of the core it
runs on. ``--share`` is the fraction of the fleet's events one client subscribes to on
average (1.0: every client follows every drone, as a dashboard does; a detector that
follows its own drone of 10,000 is 0.0001). The figures are a first plan to measure
against, not a promise: rerun `python -m bench.redis_costs` and `make bench` on the
target machines and pass their figures with the ``--*-us`` options.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

EVENTS_PER_CHANGE = 2  # drone.updated + the specific event (stream, AI, classes)


@dataclasses.dataclass(frozen=True)
class Costs:
    """Measured unit costs and the share of a core each tier may use."""

    redis_us_per_change: float = 75.0  # the Lua append of one change (2 events + state)
    redis_us_per_reader_per_change: float = 30.0  # each relay's XREAD woken by a change
    redis_us_per_snapshot_drone: float = 0.35  # HVALS / HMGET per drone document
    redis_budget: float = 0.7  # of the one core that executes Redis commands
    gateway_us_per_message: float = 15.0  # CPU per delivered message (run V, 20k msg/s)
    gateway_us_per_change_read: float = 40.0  # the relay's XREAD and parse, every replica
    gateway_budget: float = 0.6  # of the core of one gateway process (headroom: resumes)
    gateway_connections: int = 10_000  # per process (measured; the hard cap is 20,000)
    gateway_kb_per_connection: float = 6.0  # idle, gevent (run X: 5.0-6.3)
    api_ms_per_write: float = 2.6  # CPU per REST write, the API's share (gunicorn gthread)
    api_budget: float = 0.6
    stream_bytes_per_event: int = 660
    state_bytes_per_drone: int = 441


@dataclasses.dataclass(frozen=True)
class Fleet:
    drones: int
    changes_per_second: float
    clients: int
    share: float = 1.0
    snapshots_per_second: float = 0.0
    snapshot_drones: int | None = None  # drones per snapshot (default: the client's share)
    retention_events: int = 100_000  # EVENT_STREAM_MAXLEN
    min_replicas: int = 2  # per tier, for availability


@dataclasses.dataclass(frozen=True)
class Plan:
    events_per_second: float
    delivered_per_second: float
    gateway_replicas: int
    gateway_replicas_for_cpu: int | None  # None: one replica cannot even read the stream
    gateway_replicas_for_connections: int
    gateway_core_per_replica: float
    gateway_memory_mb_per_replica: float
    redis_core: float  # share of one core that the fleet's traffic costs Redis
    redis_changes_per_second_limit: float  # what one Redis takes at this replica count
    redis_shards: int  # event-log partitions needed to keep each under its budget
    redis_memory_mb: float
    api_replicas: int
    api_cores: float
    notes: tuple[str, ...]


def plan(fleet: Fleet, costs: Costs = Costs()) -> Plan:
    """The replicas and Redis load ``fleet`` needs at ``costs``."""
    if fleet.drones < 1 or fleet.clients < 0 or fleet.changes_per_second < 0:
        raise ValueError("drones must be positive, clients and changes not negative")
    if not 0 < fleet.share <= 1:
        raise ValueError("share must be in (0, 1]")
    notes = []
    events = fleet.changes_per_second * EVENTS_PER_CHANGE
    delivered = events * fleet.clients * fleet.share

    # Gateway: every replica reads the whole stream; what is left of its core delivers.
    reading = fleet.changes_per_second * costs.gateway_us_per_change_read
    left = costs.gateway_budget * 1e6 - reading
    for_connections = math.ceil(fleet.clients / costs.gateway_connections)
    if left <= 0:
        for_cpu = None
        notes.append(
            "one gateway process cannot read the whole event stream at this change rate: "
            "partition the event log (docs/scaling.md, sharding)"
        )
    else:
        for_cpu = math.ceil(delivered * costs.gateway_us_per_message / left)
    replicas = max(fleet.min_replicas, for_connections, for_cpu or 0)
    per_replica = (reading + delivered / replicas * costs.gateway_us_per_message) / 1e6

    # Redis: the append of each change, each relay woken by it, and the snapshots.
    per_change = costs.redis_us_per_change + costs.redis_us_per_reader_per_change * replicas
    snapshot_drones = fleet.snapshot_drones or max(1, round(fleet.drones * fleet.share))
    snapshots = fleet.snapshots_per_second * snapshot_drones * costs.redis_us_per_snapshot_drone
    redis_core = (fleet.changes_per_second * per_change + snapshots) / 1e6
    limit = max(0.0, costs.redis_budget * 1e6 - snapshots) / per_change
    shards = max(1, math.ceil(redis_core / costs.redis_budget))
    if shards > 1:
        notes.append(
            f"one Redis is past its budget ({redis_core:.2f} of a core): partition the event "
            f"log by drone over {shards} streams on separate Redis nodes"
        )
    stream_events = min(fleet.retention_events, events * 86_400)
    redis_memory = (
        stream_events * costs.stream_bytes_per_event + fleet.drones * costs.state_bytes_per_drone
    ) / 2**20

    api_cores = fleet.changes_per_second * costs.api_ms_per_write / 1000
    api_replicas = max(fleet.min_replicas, math.ceil(api_cores / costs.api_budget))
    return Plan(
        events_per_second=events,
        delivered_per_second=delivered,
        gateway_replicas=replicas,
        gateway_replicas_for_cpu=for_cpu,
        gateway_replicas_for_connections=for_connections,
        gateway_core_per_replica=round(per_replica, 3),
        gateway_memory_mb_per_replica=round(
            math.ceil(fleet.clients / replicas) * costs.gateway_kb_per_connection / 1024, 1
        ),
        redis_core=round(redis_core, 3),
        redis_changes_per_second_limit=round(limit),
        redis_shards=shards,
        redis_memory_mb=round(redis_memory, 1),
        api_replicas=api_replicas,
        api_cores=round(api_cores, 2),
        notes=tuple(notes),
    )


def text(fleet: Fleet, result: Plan) -> str:
    """The plan as a short table for a person."""
    cpu = result.gateway_replicas_for_cpu
    lines = [
        f"fleet: {fleet.drones:,} drones, {fleet.changes_per_second:,g} changes/s, "
        f"{fleet.clients:,} clients following {fleet.share:.2%} of the events each",
        f"events/s into the log          {result.events_per_second:,.0f}",
        f"messages/s delivered           {result.delivered_per_second:,.0f}",
        f"gateway replicas               {result.gateway_replicas} "
        f"(CPU: {'-' if cpu is None else cpu}, connections: "
        f"{result.gateway_replicas_for_connections}), each {result.gateway_core_per_replica:.2f} "
        f"core, {result.gateway_memory_mb_per_replica:,.0f} MB of connections",
        f"API replicas                   {result.api_replicas} ({result.api_cores:.2f} cores of "
        "writes)",
        f"Redis                          {result.redis_core:.2f} of one core; one Redis takes "
        f"{result.redis_changes_per_second_limit:,} changes/s with this many gateways; "
        f"{result.redis_shards} shard(s); {result.redis_memory_mb:,.0f} MB",
    ]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--drones", type=int, required=True)
    parser.add_argument("--changes-per-second", type=float, required=True, help="fleet-wide")
    parser.add_argument("--clients", type=int, required=True, help="connected at once")
    parser.add_argument("--share", type=float, default=1.0, help="of the events, per client")
    parser.add_argument("--snapshots-per-second", type=float, default=0.0)
    parser.add_argument("--retention-events", type=int, default=100_000)
    parser.add_argument("--min-replicas", type=int, default=2)
    for field in dataclasses.fields(Costs):
        parser.add_argument(
            "--" + field.name.replace("_", "-"), type=type(field.default), default=field.default
        )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = parser.parse_args(argv)
    fleet = Fleet(
        drones=args.drones,
        changes_per_second=args.changes_per_second,
        clients=args.clients,
        share=args.share,
        snapshots_per_second=args.snapshots_per_second,
        retention_events=args.retention_events,
        min_replicas=args.min_replicas,
    )
    costs = Costs(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Costs)})
    try:
        result = plan(fleet, costs)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(dataclasses.asdict(result), indent=1) if args.json else text(fleet, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
