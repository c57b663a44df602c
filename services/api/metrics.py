"""Prometheus metrics of one app, in a registry of its own (so tests can build many apps).

Labels are bounded: every value comes from a fixed set (:func:`method_label`,
:func:`status_label`, the route templates of the app such as ``/api/v1/drones/<serial>``,
never the serial), so nothing a client sends adds a series.

Under gunicorn with several workers each worker counts its own requests, and a scrape
reaches one of them: the server then runs prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``python -m services.api`` before the workers start),
in which every worker writes its samples to files and :meth:`Metrics.exposition` adds up
all of them.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
UNMATCHED_ROUTE = "<unmatched>"


def method_label(method: str) -> str:
    """The method, or ``other`` for any method the API does not serve."""
    return method if method in METHODS else OTHER


def status_label(status: int) -> str:
    """The status code: the API only answers standard ones, but the label never trusts it."""
    return str(status) if 100 <= status <= 599 else OTHER


class Metrics:
    """The API's collectors."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "api_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "api_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.events_published = Counter(
            "api_events_published_total",
            "Events appended to the event log (duplicates dropped by the log not counted)",
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "api_publish_failures_total",
            "Attempts to publish an outbox batch that failed (Redis unreachable or erroring)",
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "api_outbox_backlog",
            "Outbox batches waiting to be published, as of the relay's last scan",
            registry=self.registry,
            # Every worker's relay scans the same database: the live workers' largest.
            multiprocess_mode="livemax",
        )

        self.sync_seconds = Histogram(
            "api_drone_sync_seconds",
            "Seconds from a desired change of a drone to the detector's report that brings it "
            "in sync (PUT .../reported)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The Prometheus text of this app's collectors, or of every worker's."""
        if MULTIPROCESS_DIR not in os.environ:
            return generate_latest(self.registry)
        workers = CollectorRegistry()
        MultiProcessCollector(workers)
        return generate_latest(workers)
