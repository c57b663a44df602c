"""Prometheus metrics of one app, in a registry of its own (so tests can build many apps).

Labels are bounded: the route template (``/api/v1/drones/<serial>``), never the serial.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        )
