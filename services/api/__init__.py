"""The REST API service: drones in MongoDB, every change published to the event log.

``create_app(settings)`` builds one app; ``python -m services.api`` runs it under gunicorn.
"""

from __future__ import annotations

import atexit
import logging
from typing import TYPE_CHECKING

from shared.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
REDIS_TIMEOUT_SECONDS = 0.5


def create_app(settings: Settings | None = None, *, start_relay: bool = True) -> Flask:
    """Build the API app of ``settings`` (read from the environment when None).

    ``start_relay=False`` leaves the outbox relay thread stopped (tests drive it by hand).
    """
    # Here, not at the top: ``python -m services.api`` imports this package before it
    # patches the standard library for gevent, and these take names from ssl at import.
    import redis
    from flask import Flask
    from pymongo.errors import PyMongoError

    from services.api import docs, health
    from services.api.auth import init_auth
    from services.api.bodies import init_body_limits
    from services.api.drones import schemas as drone_schemas
    from services.api.drones.repository import LIVE, DroneRepository
    from services.api.drones.routes import blp as drones_blp
    from services.api.drones.service import DroneService, drone_json
    from services.api.errors import register_error_handlers
    from services.api.extensions import client_ip, create_extensions, subject_or_ip
    from services.api.history import HistoryKeeper
    from services.api.middleware import init_middleware
    from services.api.outbox import OutboxRelay, Publisher
    from services.api.refusals import RefusalLog
    from services.api.storage import Storage
    from services.api.system.routes import blp as system_blp
    from services.api.system.service import BroadcastService
    from shared.auth import TokenVerifier
    from shared.eventlog import EventLog
    from shared.events import dumps
    from shared.proxies import trust_proxies

    settings = settings or Settings.from_env()
    verifier = TokenVerifier(settings)  # refuses production without a real key

    app = Flask(__name__)
    app.json.sort_keys = False
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        RATELIMIT_ENABLED=settings.rate_limits_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_STORAGE_OPTIONS={
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        },
        RATELIMIT_KEY_PREFIX=f"{settings.key_prefix}:ratelimit",
        RATELIMIT_HEADERS_ENABLED=True,
        # Redis down: writes still go through (the outbox keeps their events) unlimited.
        RATELIMIT_SWALLOW_ERRORS=True,
        **docs.openapi_config(),
    )
    app.config["SETTINGS"] = settings
    ext = create_extensions()
    app.extensions["api_extensions"] = ext

    refusal_log = RefusalLog(
        logging.getLogger("services.api.access"), settings.log_refused_per_minute
    )
    app.extensions["refusal_log"] = refusal_log  # the server's worker logs through it too
    init_middleware(
        app, ext.metrics, docs_prefix=f"{docs.API_PREFIX}/{docs.DOCS_PATH}", refusal_log=refusal_log
    )
    init_auth(app, verifier)  # before the limiter: limits are keyed on the verified subject
    ext.limiter.init_app(app)
    # After both: a body is read only for an authenticated caller within its rate.
    init_body_limits(app, settings.api_body_timeout_seconds, settings.api_max_json_depth)
    ext.cors.init_app(
        app,
        resources={r"/api/*": {"origins": list(settings.allowed_origins)}},
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "X-Pagination", "Retry-After"],
        max_age=600,
        always_send=False,
    )

    storage = Storage(settings)
    redis_client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        health_check_interval=15,
    )
    event_log = EventLog(
        redis_client,
        settings.key_prefix,
        settings.event_stream_maxlen,
        settings.event_stream_max_age_seconds,
    )
    drones = storage.collection("drones")
    incidents = storage.collection("incidents")
    broadcasts = storage.collection("broadcasts")
    repository = DroneRepository(drones, incidents)
    history = HistoryKeeper(
        event_log,
        storage.collection("eventlog"),
        lambda: ((doc["deviceSerialNumber"], dumps(drone_json(doc))) for doc in drones.find(LIVE)),
    )
    publisher = Publisher(event_log, incidents, ext.metrics, history)
    try:
        repository.ensure_indexes()
    except PyMongoError as exc:  # the database is down: start anyway, not ready until it is up
        log.warning("database unavailable at start", extra={"error": str(exc)})
    relay = OutboxRelay(publisher, [drones, broadcasts], settings.outbox_poll_seconds, ext.metrics)

    app.extensions.update(
        storage=storage,
        redis=redis_client,
        event_log=event_log,
        publisher=publisher,
        relay=relay,
        drone_service=DroneService(repository, publisher, ext.metrics),
        broadcast_service=BroadcastService(broadcasts, publisher),
        readiness_checks={
            "mongodb": lambda: (storage.ping(), repository.ensure_indexes()),
            "redis": redis_client.ping,
            "outbox_relay": lambda: _require(relay.alive, "relay thread not running"),
        },
    )

    for blp in (drones_blp, system_blp):
        for key_func in (subject_or_ip, client_ip):
            # Shared: one budget for all writes of a caller, not one per route.
            ext.limiter.shared_limit(
                settings.rate_limit_writes,
                scope=f"writes:{key_func.__name__}",
                key_func=key_func,
                methods=WRITE_METHODS,
            )(blp)
    ext.api.init_app(app)
    drone_schemas.document_rules(ext.api.spec)
    ext.api.register_blueprint(drones_blp)
    ext.api.register_blueprint(system_blp)
    app.register_blueprint(health.blp)
    app.register_blueprint(docs.blp)
    register_error_handlers(app)
    trust_proxies(app, settings.trusted_proxy_hops)

    def shutdown() -> None:
        """Stop the relay (publishing what is pending) and close connections; idempotent."""
        if app.extensions.get("stopped"):
            return
        app.extensions["stopped"] = True
        relay.stop()
        storage.close()
        redis_client.close()

    app.extensions["shutdown"] = shutdown
    if start_relay:
        relay.start()
        atexit.register(shutdown)
    return app


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)
