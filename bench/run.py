"""Benchmark harness: our gateway in each async mode against the Node peer, in the same run.

    python -m bench.run --quick                                   # < 2 minutes
    python -m bench.run --modes eventlet,gevent --clients 200,1000

For each (gateway, client kind, clients C, rate step) it measures delivered messages/s, the
fraction delivered, p50/p99/max latency (publisher monotonic timestamp to client receipt),
gateway CPU% and RSS, memory per idle connection and the time to connect C clients. The
gateway under test runs on core 0; Redis, the publisher and the clients on core 1.
Results go to ``<out>/latest.json``, ``<out>/latest.md`` and ``<out>/latest.png``, replacing
the previous run's (git keeps the history; the JSON says when the run started).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import redis

from bench import procs as procs_module
from bench import report
from bench.procs import (
    ClientProcess,
    Gateway,
    Peer,
    Processes,
    ensure_client_modules,
    pin,
    rss_bytes,
    start_api,
    start_gateway,
    tree,
)
from bench.publisher import eventlog_sender, publish, pubsub_sender
from bench.rest_writer import register, write
from shared.auth import mint_token
from shared.settings import Settings
from tests.support.redis_server import RedisServer

SECRET = "bench-secret-" + "s" * 40
CLIENTS_PER_PROCESS = 2500
E2E_LIGHT = 20  # clients of the end-to-end control run
MODES = ("eventlet", "gevent")


@dataclasses.dataclass
class Plan:
    """How long and how hard: ``--quick`` shrinks every knob."""

    modes: list[str]
    kinds: list[str]
    clients: list[int]
    rates: list[float]  # delivered messages/s targets (events/s = rate / C)
    step_seconds: float
    drain_seconds: float
    warmup_seconds: float
    scenarios: bool
    peer: bool
    big_clients: int = 10_000
    overload_of: float | None = None  # msg/s the overload multiplies; None: from the sweep
    rounds: int = 1  # sweeps of each configuration, taking turns with the peer


def monotonic_ns() -> int:
    return time.monotonic_ns()


class Bench:
    """Runs sweeps and scenarios against one private Redis; collects result rows."""

    def __init__(
        self, procs: Processes, redis_server: RedisServer, plan: Plan, peer_dir: Path | None = None
    ):
        self.procs = procs
        self.redis = redis_server
        self.client = redis.Redis.from_url(redis_server.url)
        self.plan = plan
        self.peer = Peer(procs, peer_dir)
        self.token = mint_token(SECRET, "viewer", "bench")
        self.run_id = 0
        self.prefixes = 0

    # --- processes ------------------------------------------------------------------
    @contextlib.contextmanager
    def running(self):
        """Two lists to put started services and client processes in; all stopped at exit."""
        started: list[Gateway] = []
        conns: list[ClientProcess] = []
        try:
            yield started, conns
        finally:
            for c in conns:
                c.quit(self.procs)
            for g in started:
                self.procs.stop(g.proc)

    def start(
        self, gateway: str, cores: str = "0", prefix: str | None = None
    ) -> tuple[Gateway, str]:
        """Start a gateway; returns it and the publisher target that feeds it.

        Gateways given the same ``prefix`` are replicas reading the same event log.
        """
        if gateway == report.PEER:
            return self.peer.start(self.redis.port, cores), "pubsub"
        if prefix is None:
            self.prefixes += 1
            prefix = f"bench{self.prefixes}"
        return start_gateway(self.procs, gateway, self.redis.url, prefix, SECRET, cores), prefix

    def sender(self, target: str, run: int):
        if target == "pubsub":
            return pubsub_sender(self.client)
        return eventlog_sender(self.client, target, run)

    def connect(
        self,
        gateways: list[Gateway],
        clients: int,
        kind: str,
        when_behind: str = "replay",
        cores: set[int] | None = None,
    ) -> list[ClientProcess]:
        """Spread ``clients`` over the gateways and client processes (on ``cores``, else on
        the harness's core); wait until subscribed."""
        per_gateway = [clients // len(gateways)] * len(gateways)
        per_gateway[0] += clients - sum(per_gateway)
        started = []
        for gw, count in zip(gateways, per_gateway, strict=True):
            nproc = math.ceil(count / CLIENTS_PER_PROCESS)
            for i in range(nproc):
                share = count // nproc + (1 if i < count % nproc else 0)
                started.append(
                    ClientProcess(
                        self.procs,
                        gw.url,
                        share,
                        kind,
                        self.token,
                        f"client-{gw.port}-{i}",
                        when_behind,
                    )
                )
                if cores:
                    pin(started[-1].proc.pid, cores)
        ready = [c.expect("ready", timeout=60 + clients / 50) for c in started]
        failed = sum(r["failed"] for r in ready)
        if failed:
            raise RuntimeError(f"{failed} of {clients} clients failed: {ready[0]['error']}")
        return started

    def check_clock(self, client: ClientProcess) -> None:
        """Node's hrtime and Python's monotonic_ns must be the same clock."""
        before = monotonic_ns()
        theirs = client.ask("clock", "clock")["now_ns"]
        after = monotonic_ns()
        if not before <= theirs <= after:
            raise RuntimeError(f"clocks differ: {before} <= {theirs} <= {after} is false")

    # --- one measured step ----------------------------------------------------------
    def step(
        self,
        gateways: list[Gateway],
        target: str,
        clients: list[ClientProcess],
        phases: list[tuple[float, float]],
        drain: float,
    ) -> tuple[dict, dict, dict]:
        """Publish ``phases``; returns the row, the merged client stats and the publisher's."""
        return self.measure(
            gateways,
            clients,
            lambda run: publish(self.sender(target, run), run, phases),
            phases[0][0],
            drain,
        )

    def measure(
        self,
        gateways: list[Gateway],
        clients: list[ClientProcess],
        produce,
        events_per_s: float,
        drain: float,
    ) -> tuple[dict, dict, dict]:
        """Run ``produce(run)`` (it returns at least sent/start_ns/end_ns) and measure."""
        self.run_id += 1
        run = self.run_id
        for c in clients:
            c.ask(f"reset {run}", "reset")
        gw_procs = [p for g in gateways for p in tree(g.pid)]
        cl_procs = [psutil.Process(c.proc.pid) for c in clients]
        for p in gw_procs + cl_procs:
            p.cpu_percent(None)
        gc_before = [g.full_collections() for g in gateways]
        psutil.cpu_percent(percpu=True)  # starts the machine's per-core count
        sent = produce(run)
        gw_cpu = sum(p.cpu_percent(None) for p in gw_procs)
        cl_cpu = sum(p.cpu_percent(None) for p in cl_procs)
        cores = psutil.cpu_percent(percpu=True)
        expected = sent["sent"] * sum(c.clients for c in clients)
        merged = self._drain(clients, expected, drain)
        gc_after = [g.full_collections() for g in gateways]
        full_gcs = [
            (after[0] - before[0], after[1] - before[1])
            for before, after in zip(gc_before, gc_after, strict=True)
            if before is not None
        ]
        seconds = (max(merged["last_recv_ns"], sent["end_ns"]) - sent["start_ns"]) / 1e9
        row = {
            "events_per_s": events_per_s,
            "sent": sent["sent"],
            "publisher_rate": sent.get("rate"),
            "publisher_behind_ms": sent.get("behind_ms"),
            "body_bytes": sent.get("body_bytes"),
            "expected": expected,
            "received": merged["received"],
            "fraction": merged["received"] / expected if expected else 0.0,
            "delivered_per_s": merged["received"] / seconds if seconds > 0 else 0.0,
            "p50_ms": report.percentile(merged["hist"], 0.50),
            "p99_ms": report.percentile(merged["hist"], 0.99),
            "max_ms": merged["max_ms"],
            "cpu_percent": gw_cpu,
            "rss_mb": sum(rss_bytes(g.pid) for g in gateways) / 2**20,
            "client_cpu_percent": cl_cpu,
            # How busy each core was, whatever ran on it: the gateway's is core 0, the
            # clients share core 1 with Redis and the publisher (or the REST writer).
            "core_busy_percent": cores,
            "duplicates": merged["duplicates"],
            "out_of_order": merged["out_of_order"],
            "disconnects": merged["disconnects"],
            # CPython full collections in the gateway(s) during the step: each one holds
            # every delivery of its process for its whole length.
            "full_gcs": sum(n for n, _ in full_gcs) if full_gcs else None,
            "full_gc_ms": sum(s for _, s in full_gcs) * 1000 if full_gcs else None,
            "clients_without_events": merged["clients_without_events"],
        }
        return row, merged, sent

    def _drain(self, clients: list[ClientProcess], expected: int, limit: float) -> dict:
        """Poll the clients until all expected events arrived, progress stops, or ``limit``."""
        deadline = time.monotonic() + limit
        last, last_change = -1, time.monotonic()
        while True:
            merged = report.merge_stats([c.ask("stats", "stats") for c in clients])
            now = time.monotonic()
            got = merged["received"] + merged["recovered"]
            if got != last:
                last, last_change = got, now
            if got >= expected or now > deadline or now - last_change > 2.0:
                return merged
            time.sleep(0.25)

    # --- a sweep over rate steps ----------------------------------------------------
    def sweep(
        self,
        gateway: str,
        kind: str,
        clients: int,
        rates: list[float],
        gateways: int = 1,
        seconds: float | None = None,
        client_cores: set[int] | None = None,
    ) -> dict:
        """Start the gateway(s), connect, measure idle memory, then step the rate up.

        ``client_cores``: where the clients run (default: the harness's core, not the
        gateway's)."""
        seconds = seconds or self.plan.step_seconds
        target = None
        with self.running() as (started, conns):
            for i in range(gateways):
                gw, target = self.start(gateway, cores=str(i % os.cpu_count()), prefix=target)
                started.append(gw)
            time.sleep(0.5)
            rss0 = sum(rss_bytes(g.pid) for g in started)
            t0 = time.monotonic()
            conns += self.connect(started, clients, kind, cores=client_cores)
            connect_s = time.monotonic() - t0
            self.check_clock(conns[0])
            time.sleep(1.0)
            rss1 = sum(rss_bytes(g.pid) for g in started)
            config = {
                "gateway": gateway if gateways == 1 else f"{gateway} x{gateways}",
                "kind": kind,
                "clients": clients,
                "gateways": gateways,
                "connect_s": connect_s,
                "idle_rss_mb": rss1 / 2**20,
                "idle_kb_per_conn": (rss1 - rss0) / clients / 1024,
                "steps": [],
            }
            if self.plan.warmup_seconds:
                self.step(
                    started,
                    target,
                    conns,
                    [(rates[0] / clients, self.plan.warmup_seconds)],
                    self.plan.drain_seconds,
                )
            for rate in rates:
                row, _, _ = self.step(
                    started, target, conns, [(rate / clients, seconds)], self.plan.drain_seconds
                )
                config["steps"].append(row)
                print(
                    f"  {config['gateway']:<12} {kind:<6} C={clients:<6} "
                    f"{rate / clients:>9.1f} ev/s  delivered {row['fraction']:.4f} "
                    f"{row['delivered_per_s']:>10,.0f} msg/s  p99 {row['p99_ms'] or 0:8.1f} ms "
                    f"cpu {row['cpu_percent']:5.0f}%",
                    flush=True,
                )
                if report.is_saturated(row):
                    break
            return config

    # --- scenarios ------------------------------------------------------------------
    def overload(
        self,
        gateway: str,
        kind: str,
        clients: int,
        overload_rate: float,
        base_rate: float,
        when_behind: str = "replay",
    ) -> dict:
        """``overload_rate`` events/s for 10 s, then ``base_rate``: time to recover."""
        with self.running() as (started, conns):
            gw, target = self.start(gateway)
            started.append(gw)
            conns += self.connect(started, clients, kind, when_behind)
            # Long enough after the load for a backlog served in order to be read out.
            phases = [(overload_rate, 10.0), (base_rate, 90.0)]
            with gw.health_probe() as health:
                row, merged, sent = self.step(started, target, conns, phases, drain=30.0)
            slow = gw.slow_clients()
            answered = sorted(t * 1000 for t in health if t is not None)
            end_ns = sent["phase_end_ns"][0]
            return {
                "gateway": gateway,
                "kind": kind,
                "clients": clients,
                "when_behind": when_behind,
                "base_events_per_s": base_rate,
                "overload_events_per_s": overload_rate,
                "slow_clients_caught_up": slow and slow[0],
                "slow_clients_dropped": slow and slow[1],
                "health_requests": len(health),
                "health_failed": len(health) - len(answered),
                "health_p99_ms": report.quantile(answered, 0.99),
                "health_max_ms": answered[-1] if answered else None,
                "recovery_s": report.recovery_seconds(merged, end_ns),
                "fraction": row["fraction"],
                # whenBehind "skip": the gaps, and what the clients fetched of them with
                # ``history`` (not in the latency figures), and when the last came in.
                "missed_notices": merged["missed"],
                "fraction_recovered": merged["recovered"] / row["expected"],
                "history_filled_s": merged["recovered_last_ns"]
                and round((merged["recovered_last_ns"] - end_ns) / 1e9, 2),
                "p99_ms": row["p99_ms"],
                "max_ms": row["max_ms"],
                "rss_mb_after": row["rss_mb"],
                "disconnects": row["disconnects"],
                "disconnect_reasons": merged["disconnect_reasons"],
                # The longest a client went without a ping (interval 25 s, given up at 45 s).
                "max_ping_gap_s": round(merged["max_ping_gap_ms"] / 1000, 1),
                # When, in seconds from the end of the overload (negative: during it).
                "disconnect_s": [round((t - end_ns) / 1e9, 1) for t in merged["disconnect_ns"]],
                "duplicates": row["duplicates"],
                "publisher_behind_ms": sent["behind_ms"],
            }

    def end_to_end(
        self, mode: str, kind: str, clients: int, writes_per_s: float, seconds: float
    ) -> dict:
        """REST writes through a running API to ``clients``: request start to receipt."""
        serials = [f"E2E-{n:03d}" for n in range(20)]
        with self.running() as (started, conns):
            self.prefixes += 1
            prefix = f"bench{self.prefixes}"
            api = start_api(self.procs, self.redis.url, prefix, SECRET, cores="0")
            started.append(api)
            gw = start_gateway(self.procs, mode, self.redis.url, prefix, SECRET, "0")
            started.append(gw)
            admin = mint_token(SECRET, "admin", "bench")
            register(api.url, admin, serials)
            conns += self.connect([gw], clients, kind)

            api_procs = tree(api.pid)

            def produce(run: int, seconds: float = seconds) -> dict:
                for p in api_procs:
                    p.cpu_percent(None)
                res = write(api.url, admin, serials, run, writes_per_s, seconds)
                api_cpu = sum(p.cpu_percent(None) for p in api_procs)
                return dict(res, sent=res["expected_events"], api_cpu_percent=api_cpu)

            if self.plan.warmup_seconds:  # as before a sweep: connections, caches, threads
                warm = self.plan.warmup_seconds
                self.measure([gw], conns, lambda run: produce(run, warm), writes_per_s, 10.0)
            row, _, sent = self.measure([gw], conns, produce, writes_per_s, drain=10.0)
            return {
                "gateway": mode,
                "kind": kind,
                "clients": clients,
                "writes_per_s": writes_per_s,
                "seconds": seconds,
                "writes_ok": sent["ok"],
                "write_errors": sent["errors"],
                "rest_p50_ms": sent["rest_p50_ms"],
                "rest_p99_ms": sent["rest_p99_ms"],
                "fraction": row["fraction"],
                "p50_ms": row["p50_ms"],
                "p99_ms": row["p99_ms"],
                "max_ms": row["max_ms"],
                "duplicates": row["duplicates"],
                "out_of_order": row["out_of_order"],
                "gateway_cpu_percent": row["cpu_percent"],
                "api_cpu_percent": sent["api_cpu_percent"],
                "client_cpu_percent": row["client_cpu_percent"],
                "core_busy_percent": row["core_busy_percent"],
            }


def machine() -> str:
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs ({platform.processor() or 'cpu'}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )


def parse_args(argv=None) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short sweep, < 2 minutes")
    parser.add_argument("--modes", default=None, help="comma-separated: eventlet,gevent")
    parser.add_argument("--kinds", default="sio", help="client kinds: sio,sio-nd")
    parser.add_argument("--clients", default=None, help="comma-separated client counts")
    parser.add_argument("--rates", default=None, help="delivered messages/s steps, comma-separated")
    parser.add_argument("--step-seconds", type=float, default=None)
    parser.add_argument("--no-peer", action="store_true", help="skip the Node peer")
    parser.add_argument(
        "--peer-dir",
        default=None,
        help=f"the Node peer's sources (default: ${procs_module.PEER_DIR_ENV}, else "
        "../shared/peer beside the checkout)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="sweep each configuration this many times, taking turns with the peer; the "
        "report gives the median round (on a noisy machine, 3 or 5)",
    )
    parser.add_argument("--no-scenarios", action="store_true")
    parser.add_argument("--big-clients", type=int, default=10_000, help="idle-ish scenario size")
    parser.add_argument(
        "--history-rate",
        type=float,
        default=0.0,
        help="events/s at which each client of the overload-skip scenario fetches its gaps "
        "with history (default 0: it reloads state instead, and live latency is measured "
        "alone)",
    )
    parser.add_argument(
        "--overload-of",
        type=float,
        default=None,
        help="sustainable msg/s the overload scenario multiplies by 20 "
        "(default: the peer's strict rate in this run's sweep)",
    )
    parser.add_argument("--only-scenarios", action="store_true", help="no sweeps")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"which scenarios (comma-separated among {','.join(SCENARIOS)})",
    )
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    modes = (args.modes or Settings().gateway_async_mode).split(",")
    if any(m not in MODES for m in modes):
        parser.error(f"modes must be among {', '.join(MODES)}")
    if any(name not in SCENARIOS for name in args.scenarios.split(",")):
        parser.error(f"scenarios must be among {', '.join(SCENARIOS)}")
    kinds = args.kinds.split(",")
    if any(k not in ("sio", "sio-nd") for k in kinds):
        parser.error("kinds must be among sio, sio-nd")
    default_rates = (
        "2500,10000,40000"
        if args.quick
        else "2500,5000,10000,20000,30000,40000,60000,80000,100000,120000,160000,200000"
    )
    plan = Plan(
        modes=modes,
        kinds=kinds,
        clients=[
            int(c) for c in (args.clients or ("200" if args.quick else "200,1000")).split(",")
        ],
        rates=[float(r) for r in (args.rates or default_rates).split(",")],
        step_seconds=args.step_seconds or (3.0 if args.quick else 8.0),
        drain_seconds=4.0 if args.quick else 10.0,
        warmup_seconds=0.5 if args.quick else 2.0,
        scenarios=not (args.quick or args.no_scenarios),
        peer=not args.no_peer,
        big_clients=args.big_clients,
        overload_of=args.overload_of,
        rounds=args.rounds,
    )
    if any(c < 1 or c > 20_000 for c in plan.clients):
        parser.error("client counts must be in 1..20000")
    if plan.rounds < 1:
        parser.error("rounds must be at least 1")
    args.peer_source = None
    if plan.peer:
        try:
            args.peer_source = procs_module.peer_source(args.peer_dir)
        except procs_module.PeerNotFound as exc:
            parser.error(str(exc))
    return args, plan


SCENARIOS = ("two", "big", "e2e", "overload", "overload-skip")


def scenarios(bench: Bench, plan: Plan, results: dict, names=SCENARIOS) -> None:
    """The issue's scenarios: 2 gateways vs 1, 10k clients, end to end, overload and recovery."""
    # The production mode when it is measured, else the first one.
    mode = "gevent" if "gevent" in plan.modes else plan.modes[0]
    kind, clients = plan.kinds[0], plan.clients[0]
    if "two" in names:
        two_gateways(bench, plan, results, mode, kind, clients)
    if "big" in names:
        big_clients(bench, plan, results, mode, kind)
    if "e2e" in names:
        end_to_end(bench, results, mode, kind, clients)
    if "overload" in names:
        overload(bench, plan, results, kind, clients)
    if "overload-skip" in names:
        overload(bench, plan, results, kind, clients, when_behind="skip")


def end_to_end(bench: Bench, results: dict, mode: str, kind: str, clients: int) -> None:
    """REST at 100 writes/s to ``clients``, then to a few: the second run shows what the API
    and the gateway add when the clients' core is not the bottleneck."""
    for name, count in (("end_to_end_rest", clients), ("end_to_end_rest_light", E2E_LIGHT)):
        print(f"scenario: end to end, REST 100 writes/s, {count} clients", flush=True)
        res = bench.end_to_end(mode, kind, count, 100.0, 10.0)
        print(f"  p99 {res['p99_ms']} ms, delivered {res['fraction']:.4f}", flush=True)
        results["scenarios"][name] = res


def two_gateways(bench: Bench, plan: Plan, results: dict, mode: str, kind: str, clients: int):
    print("scenario: two gateway processes", flush=True)
    pair = bench.sweep(mode, kind, clients, plan.rates, gateways=2)
    results["configs"].append(pair)
    single = report.summary_of(results, mode, kind, clients)
    results["scenarios"]["two_gateways"] = {
        "gateway": mode,
        "clients": clients,
        "strict_per_s_1": single["strict_per_s"] if single else None,
        "strict_per_s_2": report.strict_rate(pair["steps"]),
        "duplicates": sum(r["duplicates"] for r in pair["steps"]),
        "out_of_order": sum(r["out_of_order"] for r in pair["steps"]),
    }


def big_clients(bench: Bench, plan: Plan, results: dict, mode: str, kind: str) -> None:
    """10,000 clients at 1 event/s each: one event to all, every second.

    Twice per gateway: with the clients on the harness's core, as every other figure; then
    spread over all cores ("spread"), since one core of clients takes about 270 ms to read
    one event's 10,000 copies (for the peer too), which is the p99 the first run measures.
    """
    print(f"scenario: {plan.big_clients:,} clients at 1 event/s", flush=True)
    all_cores = set(range(os.cpu_count()))
    for gateway in plan.modes + ([report.PEER] if plan.peer else []):
        for name, cores in (("big_clients", None), ("big_clients_spread", all_cores)):
            try:
                config = bench.sweep(
                    gateway,
                    kind,
                    plan.big_clients,
                    [float(plan.big_clients)],
                    seconds=20.0,
                    client_cores=cores,
                )
            except (RuntimeError, TimeoutError) as exc:  # e.g. a gateway capping connections
                print(f"  {gateway}: {exc}", flush=True)
                results["scenarios"][f"{name}_{gateway}"] = {"error": str(exc)}
                continue
            if cores is None:  # the spread run stays out of the tables of pinned runs
                results["configs"].append(config)
            step = config["steps"][0]
            results["scenarios"][f"{name}_{gateway}"] = {
                k: config[k] for k in ("connect_s", "idle_kb_per_conn", "idle_rss_mb")
            } | {
                k: step[k]
                for k in (
                    "fraction",
                    "p50_ms",
                    "p99_ms",
                    "max_ms",
                    "cpu_percent",
                    "disconnects",
                    "core_busy_percent",
                )
            }
            print(f"  {name} {gateway}: p99 {step['p99_ms']} ms", flush=True)


def overload(
    bench: Bench, plan: Plan, results: dict, kind: str, clients: int, when_behind="replay"
) -> None:
    """20x the sustainable rate for 10 s, then the first rate step: time to recover.

    Sustainable = ``--overload-of``, else the peer's strict rate in this run (else the best
    gateway's, else the first step), so every gateway gets the same load. With
    ``when_behind="skip"`` the clients ask to skip ahead when behind and fetch the gaps from
    the history (our gateways only: the peer has no history).
    """
    sustainable = plan.overload_of or _sustainable_rate(results, kind, clients) or plan.rates[0]
    overload_rate, base = 20 * sustainable / clients, plan.rates[0] / clients
    skip = when_behind == "skip"
    print(
        f"scenario: overload 20x {sustainable:,.0f} msg/s for 10 s"
        + (", clients skip when behind" if skip else ""),
        flush=True,
    )
    for gateway in plan.modes + ([report.PEER] if plan.peer and not skip else []):
        res = bench.overload(gateway, kind, clients, overload_rate, base, when_behind)
        res["sustainable_msgs_per_s"] = sustainable
        print(
            f"  {gateway}: recovery {res['recovery_s']} s, delivered {res['fraction']:.4f}"
            f" live + {res['fraction_recovered']:.4f} from the history"
            f" ({res['missed_notices']} gaps, filled {res['history_filled_s']} s after), "
            f"p99 {res['p99_ms']} ms, "
            f"disconnects {res['disconnects']} {res['disconnect_reasons']}, "
            f"health p99 {res['health_p99_ms']} ms ({res['health_failed']} failed)",
            flush=True,
        )
        results["scenarios"][f"overload{'_skip' if skip else ''}_{gateway}"] = res


def _sustainable_rate(results: dict, kind: str, clients: int) -> float | None:
    """The peer's strict rate for this kind and count, else the best one swept; None if none."""
    peer = report.summary_of(results, report.PEER, kind, clients)
    lines = [peer] if peer else report.summaries(results)
    return (
        max(
            (s["strict_per_s"] for s in lines if (s["kind"], s["clients"]) == (kind, clients)),
            default=0.0,
        )
        or None
    )


def write_outputs(results: dict, out: Path) -> Path:
    """Write the run's figures, tables and plot over the previous run's; the JSON's path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    (out / "latest.md").write_text(report.markdown(results))
    report.plot(results, out / "latest.png")
    return path


def main(argv=None) -> None:
    args, plan = parse_args(argv)
    os.environ["BENCH_HISTORY_RATE"] = str(args.history_rate)  # for bench/client.js
    if os.cpu_count() >= 2:
        os.sched_setaffinity(0, {1})  # Redis, publisher and clients inherit core 1
    ensure_client_modules()
    results = {
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "plan": dataclasses.asdict(plan),
        "configs": [],
        "scenarios": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    procs = Processes(workdir / "logs")
    server = RedisServer(workdir / "redis")
    bench = None
    t0 = time.monotonic()
    try:
        server.start()
        pin(server.process.pid, {1 % os.cpu_count()})
        bench = Bench(procs, server, plan, args.peer_source)
        gateways = plan.modes + ([report.PEER] if plan.peer else [])
        if not args.only_scenarios:
            for clients in plan.clients:
                for kind in plan.kinds:
                    for n in range(plan.rounds):
                        # Every other round runs in reverse, so that a machine slowing
                        # down (or speeding up) over a round favours no one.
                        turn = gateways if n % 2 == 0 else gateways[::-1]
                        for gateway in turn:
                            config = bench.sweep(gateway, kind, clients, plan.rates)
                            if plan.rounds > 1:
                                config["round"] = n + 1
                            results["configs"].append(config)
        if plan.scenarios or args.only_scenarios:
            scenarios(bench, plan, results, args.scenarios.split(","))
    finally:
        procs.stop_all()
        server.stop()
        if bench:
            bench.peer.cleanup()
        results["seconds"] = round(time.monotonic() - t0, 1)
        if results["configs"] or results["scenarios"]:
            path = write_outputs(results, Path(args.out))
            print(report.markdown(results))
            print(
                f"wrote {path}, {args.out}/latest.md, {args.out}/latest.png "
                f"in {results['seconds']} s"
            )
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
