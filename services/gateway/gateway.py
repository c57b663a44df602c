"""The gateway's parts wired together: hub, relay, token sweeper, limits and shutdown."""

from __future__ import annotations

import logging
import types

import redis
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from services.gateway.delivery.hub import Hub
from services.gateway.metrics import GatewayMetrics
from services.gateway.relay import EventRelay
from shared.auth import TokenVerifier
from shared.eventlog import EventLog

log = logging.getLogger(__name__)

RELAY_BLOCK_MS = 1000
REDIS_RETRIES = 3  # for a command on a fresh connection, after its first attempt failed


class Gateway:
    """Everything one gateway process runs besides the web server itself."""

    def __init__(self, settings, socketio):
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.redis = _redis_client(settings)
        self.event_log = _event_log(self.redis, settings)
        self._socketio = socketio
        server = socketio.server
        # The async mode's primitives, through python-socketio's public API.
        self.runtime = types.SimpleNamespace(
            spawn=server.start_background_task, sleep=server.sleep, event=server.eio.create_event
        )
        self.hub = Hub(
            self.event_log, TokenVerifier(settings), settings, self.metrics, self.runtime
        )
        self.relay = EventRelay(
            lambda: _event_log(_redis_client(settings, single_connection_client=True), settings),
            self.hub,
            self.metrics,
            socketio.sleep,
            block_ms=RELAY_BLOCK_MS,
        )
        self._limiter = None
        if settings.rate_limits_enabled:
            self._limiter = FixedWindowRateLimiter(storage_from_string(settings.redis_url))
            self._connect_limit = parse_limit(settings.rate_limit_connects)
        self._running = False

    def start(self) -> None:
        """Start the relay and the sweeper as background tasks."""
        if self._running:
            return
        self._running = True
        self._socketio.start_background_task(self.relay.run)
        self._socketio.start_background_task(self._sweep)

    def _sweep(self) -> None:
        """Every second: disconnect the clients whose token expired."""
        while self._running:
            try:
                self.hub.expire_tokens()
            except Exception:  # noqa: BLE001 - the sweeper must outlive any one failure
                log.exception("token expiry sweep failed")
            self._socketio.sleep(1)

    def allow_connection(self, remote_addr: str | None) -> bool:
        """Per-IP connection rate limit, shared by every replica through Redis."""
        if self._limiter is None:
            return True
        try:
            # Per deployment (key prefix), as the API's limits are, and per address.
            return self._limiter.hit(
                self._connect_limit,
                self.settings.key_prefix,
                "gateway-connect",
                remote_addr or "unknown",
            )
        except Exception:  # noqa: BLE001 - fail open: a Redis outage must not lock clients out
            log.warning("connection rate limit unavailable", exc_info=True)
            return True

    def ready(self) -> tuple[bool, dict]:
        """Readiness: the relay reads the log and the process is not shutting down."""
        checks = {"relay": self.relay.healthy, "accepting": self.hub.accepting}
        try:
            checks["redis"] = bool(self.redis.ping())
        except redis.RedisError:
            checks["redis"] = False
        return all(checks.values()), checks

    def shutdown(self) -> int:
        """Stop taking connections, send every client elsewhere, stop the background tasks."""
        closed = self.hub.close_all()
        self._running = False
        self.relay.stop()
        log.info("gateway shut down, %d clients sent elsewhere", closed)
        return closed


def _redis_client(settings, **options) -> redis.Redis:
    """A client of the settings' Redis. ``single_connection_client=True`` (the relay's)
    connects at once and skips the pool: taken from the pool, every command first polls
    its connection for stray data, which under gevent is a switch to the hub and back
    (CPU per XREAD ≈ 100-125 µs through the pool, 35-42 µs on a connection of its own).

    A command that fails on its connection (one opened before Redis restarted) is retried
    on a fresh one, a few times with jittered backoff, before the caller sees the error:
    a client's subscribe right after a restart is then answered, not refused."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=RELAY_BLOCK_MS / 1000 + 5,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), REDIS_RETRIES),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        **options,
    )


def _event_log(client: redis.Redis, settings) -> EventLog:
    return EventLog(
        client,
        settings.key_prefix,
        settings.event_stream_maxlen,
        settings.event_stream_max_age_seconds,
    )
