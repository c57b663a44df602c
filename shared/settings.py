"""All configuration, read from the environment into one typed, immutable object.

Every variable is documented in .env.example and in docs/configuration.md (generated
from this module and .env.example by ``python -m tools.configdoc``). Nothing else in the
project reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

ASYNC_MODES = ("eventlet", "gevent")
APP_ENVS = ("development", "production")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _read(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else default


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _read(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _read(env, name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _read(env, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _read(env, name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _read(env, name, default)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    value = _read(env, name)
    path = _read(env, f"{name}_FILE")
    if value and path:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text().strip() or None
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return value


# A setting's variable is its name in capitals, but for these.
_ENV_NAMES = {"key_prefix": "EVENTS_KEY_PREFIX", "max_body_bytes": "API_MAX_BODY_BYTES"}


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


DEV_ORIGINS = (
    "http://localhost:5001",
    "http://127.0.0.1:5001",
    "http://localhost:5000",
    "http://127.0.0.1:5000",
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Typed configuration of both services. Build with :meth:`from_env`."""

    app_env: str = "development"
    log_level: str = "INFO"
    # Lines about refused requests (4xx, malformed HTTP) each process writes per minute;
    # the rest are counted and the count is logged with the next line written.
    log_refused_per_minute: int = 300
    var_dir: Path = Path("var")

    # Storage and messaging
    mongodb_uri: str | None = None  # required by the API; `make run` sets its own server's
    mongodb_db: str = "drones"
    redis_url: str = "redis://127.0.0.1:6380/0"
    key_prefix: str = "drones"
    event_stream_maxlen: int = 100_000
    event_stream_max_age_seconds: int = 86_400

    # API service
    api_host: str = "127.0.0.1"
    api_port: int = 5000
    api_workers: int = 1
    # gevent worker: one greenlet per connection, not a thread, so idle or slow sockets
    # cost memory, not workers; these bound what a client can make a worker hold or wait.
    api_worker_connections: int = 1000
    api_header_timeout_seconds: int = 5
    api_body_timeout_seconds: int = 10
    api_max_json_depth: int = 32
    max_body_bytes: int = 64 * 1024
    outbox_poll_seconds: float = 0.5

    # Gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 5001
    gateway_async_mode: str = "gevent"
    gateway_max_message_bytes: int = 16 * 1024
    gateway_max_subscriptions: int = 1000
    gateway_replay_batch: int = 500
    gateway_ping_interval: int = 25
    gateway_ping_timeout: int = 20
    gateway_max_connections: int = 20_000
    gateway_handshake_timeout_seconds: int = 10
    gateway_max_client_backlog_bytes: int = 1024 * 1024
    gateway_socket_send_buffer_bytes: int = 256 * 1024
    gateway_skip_in_flight_bytes: int = 16 * 1024
    gateway_replay_cache_bytes: int = 64 * 1024 * 1024
    # Where browsers reach the REST API, told to the dashboard. None: the page's own
    # origin in production (an edge proxy serves both), its host with API_PORT in development.
    api_public_url: str | None = None

    # Security
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_file: Path | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    allowed_origins: tuple[str, ...] = DEV_ORIGINS
    rate_limit_writes: str = "300/minute"
    rate_limit_connects: str = "120/minute"
    rate_limits_enabled: bool = True
    # Proxies in front of the services that set X-Forwarded-For/-Proto (the ingress): 0 when
    # clients connect directly, since anyone can send those headers.
    trusted_proxy_hops: int = 0

    shutdown_grace_seconds: int = 20

    # Development stack (`make run`): the ports of its private Redis and MongoDB servers.
    dev_redis_port: int = 6380
    dev_mongo_port: int = 27018

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Read every setting from ``env`` (default ``os.environ``); ``overrides`` win."""
        env = os.environ if env is None else env
        jwks = _read(env, "JWT_JWKS_FILE")
        values = dict(
            app_env=_choice(env, "APP_ENV", "development", APP_ENVS),
            log_level=_read(env, "LOG_LEVEL", "INFO").upper(),
            log_refused_per_minute=_int(env, "LOG_REFUSED_PER_MINUTE", 300, minimum=1),
            var_dir=Path(_read(env, "VAR_DIR", "var")),
            mongodb_uri=_secret(env, "MONGODB_URI"),
            mongodb_db=_read(env, "MONGODB_DB", "drones"),
            redis_url=_secret(env, "REDIS_URL") or cls.redis_url,
            key_prefix=_read(env, "EVENTS_KEY_PREFIX", "drones"),
            event_stream_maxlen=_int(env, "EVENT_STREAM_MAXLEN", 100_000, minimum=1),
            event_stream_max_age_seconds=_int(
                env, "EVENT_STREAM_MAX_AGE_SECONDS", 86_400, minimum=1
            ),
            api_host=_read(env, "API_HOST", "127.0.0.1"),
            api_port=_int(env, "API_PORT", 5000, minimum=1),
            api_workers=_int(env, "API_WORKERS", 1, minimum=1),
            api_worker_connections=_int(env, "API_WORKER_CONNECTIONS", 1000, minimum=1),
            api_header_timeout_seconds=_int(env, "API_HEADER_TIMEOUT_SECONDS", 5, minimum=1),
            api_body_timeout_seconds=_int(env, "API_BODY_TIMEOUT_SECONDS", 10, minimum=1),
            api_max_json_depth=_int(env, "API_MAX_JSON_DEPTH", 32, minimum=2),
            max_body_bytes=_int(env, "API_MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            outbox_poll_seconds=_float(env, "OUTBOX_POLL_SECONDS", 0.5),
            gateway_host=_read(env, "GATEWAY_HOST", "127.0.0.1"),
            gateway_port=_int(env, "GATEWAY_PORT", 5001, minimum=1),
            gateway_async_mode=_choice(env, "GATEWAY_ASYNC_MODE", "gevent", ASYNC_MODES),
            gateway_max_message_bytes=_int(
                env, "GATEWAY_MAX_MESSAGE_BYTES", 16 * 1024, minimum=1024
            ),
            gateway_max_subscriptions=_int(env, "GATEWAY_MAX_SUBSCRIPTIONS", 1000, minimum=1),
            gateway_replay_batch=_int(env, "GATEWAY_REPLAY_BATCH", 500, minimum=1),
            gateway_ping_interval=_int(env, "GATEWAY_PING_INTERVAL", 25, minimum=1),
            gateway_ping_timeout=_int(env, "GATEWAY_PING_TIMEOUT", 20, minimum=1),
            gateway_max_connections=_int(env, "GATEWAY_MAX_CONNECTIONS", 20_000, minimum=1),
            gateway_handshake_timeout_seconds=_int(
                env, "GATEWAY_HANDSHAKE_TIMEOUT_SECONDS", 10, minimum=1
            ),
            gateway_max_client_backlog_bytes=_int(
                env, "GATEWAY_MAX_CLIENT_BACKLOG_BYTES", 1024 * 1024, minimum=1024
            ),
            gateway_socket_send_buffer_bytes=_int(
                env, "GATEWAY_SOCKET_SEND_BUFFER_BYTES", 256 * 1024, minimum=0
            ),
            gateway_skip_in_flight_bytes=_int(
                env, "GATEWAY_SKIP_IN_FLIGHT_BYTES", 16 * 1024, minimum=1024
            ),
            gateway_replay_cache_bytes=_int(
                env, "GATEWAY_REPLAY_CACHE_BYTES", 64 * 1024 * 1024, minimum=0
            ),
            api_public_url=_read(env, "API_PUBLIC_URL"),
            jwt_secret=_secret(env, "JWT_SECRET"),
            jwt_public_key=_secret(env, "JWT_PUBLIC_KEY"),
            jwt_jwks_file=Path(jwks) if jwks else None,
            jwt_algorithms=_list(env, "JWT_ALGORITHMS", ("HS256",)),
            jwt_issuer=_read(env, "JWT_ISSUER"),
            jwt_audience=_read(env, "JWT_AUDIENCE"),
            allowed_origins=_list(env, "ALLOWED_ORIGINS", DEV_ORIGINS),
            rate_limit_writes=_read(env, "RATE_LIMIT_WRITES", "300/minute"),
            rate_limit_connects=_read(env, "RATE_LIMIT_CONNECTS", "120/minute"),
            rate_limits_enabled=_bool(env, "RATE_LIMITS_ENABLED", True),
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0, minimum=0),
            shutdown_grace_seconds=_int(env, "SHUTDOWN_GRACE_SECONDS", 20, minimum=1),
            dev_redis_port=_int(env, "DEV_REDIS_PORT", cls.dev_redis_port, minimum=1),
            dev_mongo_port=_int(env, "DEV_MONGO_PORT", cls.dev_mongo_port, minimum=1),
        )
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The variables that :meth:`from_env` reads back as these settings: how a test or
        the benchmark hands them to a service process. Unset (None) settings are left out;
        an empty list reads back as its default."""
        return {
            _ENV_NAMES.get(field.name, field.name.upper()): _env_value(value)
            for field in dataclasses.fields(self)
            if (value := getattr(self, field.name)) is not None
        }

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Each setting's environment variable, by field name."""
        return {f.name: _ENV_NAMES.get(f.name, f.name.upper()) for f in dataclasses.fields(cls)}

    def replace(self, **changes) -> Settings:
        """A copy with ``changes`` applied (tests use this)."""
        return dataclasses.replace(self, **changes)
