"""Prometheus metrics of one gateway process (bounded labels: never a serial or sid)."""

from __future__ import annotations

import gc
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.eventlog import parse_stream_id


class GatewayMetrics:
    """The gateway's metrics, in a registry of their own (one per app)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.clients = Gauge(
            "gateway_connected_clients", "Connected Socket.IO clients", registry=self.registry
        )
        self.subscriptions = Gauge(
            "gateway_subscriptions",
            "Active subscriptions by kind",
            ["kind"],
            registry=self.registry,
        )
        self.delivered = Counter(
            "gateway_events_delivered", "Events emitted live to rooms", registry=self.registry
        )
        self.replayed = Counter(
            "gateway_events_replayed", "Events read for resuming clients", registry=self.registry
        )
        self.fanout_latency = Histogram(
            "gateway_fanout_latency_seconds",
            "From the event's append to the log until it was emitted",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.redis_reconnects = Counter(
            "gateway_redis_reconnects",
            "Failed reads of the event log (each is retried)",
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "gateway_connections_refused",
            "Connections refused",
            ["reason"],
            registry=self.registry,
        )
        self.slow_clients = Counter(
            "gateway_slow_clients_total",
            "Clients served from the event history after their unsent backlog passed "
            "GATEWAY_MAX_CLIENT_BACKLOG_BYTES",
            registry=self.registry,
        )
        self.slow_clients_skipped = Counter(
            "gateway_slow_clients_skipped_total",
            "Slow clients that asked to skip (whenBehind: skip) joined at the live position "
            "and told what they missed",
            registry=self.registry,
        )
        self.slow_clients_dropped = Counter(
            "gateway_slow_clients_dropped_total",
            "Connections of slow clients closed: they took nothing of their backlog for the "
            "ping timeout, their backlog besides answers passed twice the bound, or the event "
            "history no longer held their position",
            registry=self.registry,
        )
        self.relay_overtaken = Counter(
            "gateway_relay_overtaken_total",
            "Reads of the event log after its trimming had overtaken the relay's position "
            "(events lost to this replica): its clients were sent away to resume",
            registry=self.registry,
        )
        self.gc_pauses = Histogram(
            "gateway_gc_pause_seconds",
            "CPython garbage collections, by generation (2 = full); nothing is sent meanwhile",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        for kind in ("all", "drone"):
            self.subscriptions.labels(kind)
        for generation in "012":
            self.gc_pauses.labels(generation)

    def watch_gc(self) -> None:
        """Time every garbage collection of this process (call once, from the server)."""
        started = 0.0

        def on_gc(phase: str, info: dict) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                pause = time.perf_counter() - started
                self.gc_pauses.labels(str(info["generation"])).observe(pause)

        gc.callbacks.append(on_gc)

    def observe_delivered(self, events) -> None:
        """Count delivered events; the latency of the newest one stands for its batch."""
        if not events:
            return
        self.delivered.inc(len(events))
        appended_ms = parse_stream_id(events[-1].id)[0]
        self.fanout_latency.observe(max(0.0, time.time() - appended_ms / 1000))
