"""Fixtures shared by every test: a private Redis, settings, tokens, and real service processes."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from shared.auth import ROLES, mint_token
from shared.settings import Settings
from tests.support.mongo_server import ExternalMongo, MongoServer
from tests.support.redis_server import RedisServer, free_port
from tests.support.services import ServiceProcess
from tests.support.sio import RecordingClient

# Random-looking: production refuses secrets with little entropy (shared.auth).
TEST_SECRET = "test-secret-Qm7vR2xLp9TfW4kZc8NbJ3yHs6DgUa1E"


class ExternalRedis:
    """A Redis given by REDIS_URL: used as is, never restarted."""

    def __init__(self, url: str):
        self.url = url
        self.process = None

    def restart(self):
        pytest.skip("REDIS_URL is set: the test cannot restart that Redis")

    stop = start = restart


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a free port for the whole run (or REDIS_URL when given)."""
    if os.environ.get("REDIS_URL"):
        yield ExternalRedis(os.environ["REDIS_URL"])
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def restartable_redis(tmp_path):
    """A private redis-server of this test alone, which the test may stop and restart."""
    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is set: tests that restart Redis need a private one")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    """One MongoDB wire-protocol server (the development server, SecantusDB) for the whole
    run, on a free port; or the real ``mongod`` of MONGODB_URI when given. Each test uses a
    database of its own (named after its key prefix)."""
    if os.environ.get("MONGODB_URI"):
        yield ExternalMongo(os.environ["MONGODB_URI"])
        return
    server = MongoServer(tmp_path_factory.mktemp("mongo")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_server):
    """The tests' own client of the session's server (inspection, clean-up, fail points)."""
    client = mongo_server.client()
    yield client
    client.close()


@pytest.fixture
def restartable_mongo(tmp_path):
    """A private development server of this test alone, which it may stop and restart."""
    server = MongoServer(tmp_path / "mongo").start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix() -> str:
    """A key namespace of this test alone, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(redis_server, mongo_server, mongo_client, key_prefix, tmp_path) -> Settings:
    """Settings of one test: private Redis keys, a database of its own on the session's
    MongoDB server (dropped after the test), test secret."""
    yield Settings.from_env(
        {},
        redis_url=redis_server.url,
        key_prefix=key_prefix,
        var_dir=tmp_path / "var",
        mongodb_uri=mongo_server.uri,
        mongodb_db=key_prefix,
        jwt_secret=TEST_SECRET,
        rate_limits_enabled=False,
        outbox_poll_seconds=0.1,
    )
    mongo_client.drop_database(key_prefix)


@pytest.fixture
def mock_settings(settings) -> Settings:
    """The test settings on mongomock (in memory, in this process): for the unit tests that
    are about something else than storage and send many requests (see docs/api.md)."""
    return settings.replace(mongodb_uri=f"mongomock://{settings.key_prefix}")


@pytest.fixture
def redis_client(settings):
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


@pytest.fixture
def tokens() -> dict[str, str]:
    """One valid token per role, covering every drone."""
    return {role: mint_token(TEST_SECRET, role, f"test-{role}") for role in ROLES}


@pytest.fixture
def auth_headers(tokens):
    """``auth_headers("operator")``: the Authorization header of that role's token."""

    def headers(role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    return headers


@pytest.fixture
def process_settings(settings) -> Settings:
    """Settings for services run as processes (the same server and database as the test)."""
    return settings


def _service_starter(module: str, port_setting: str, default_settings: Settings, tmp_path):
    """A ``start(settings=None, port=None)`` function and the list of what it started."""
    started: list[ServiceProcess] = []

    def start(settings: Settings | None = None, port: int | None = None) -> ServiceProcess:
        port = port or free_port()
        settings = (settings or default_settings).replace(**{port_setting: port})
        name = module.rsplit(".", 1)[-1]
        proc = ServiceProcess(module, settings, port, tmp_path / f"{name}-{port}.log").start()
        started.append(proc)
        return proc

    return start, started


@pytest.fixture
def start_api(process_settings, tmp_path):
    """Start ``python -m services.api`` processes; all are stopped after the test."""
    start, started = _service_starter("services.api", "api_port", process_settings, tmp_path)
    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def start_gateway(process_settings, tmp_path):
    """Start ``python -m services.gateway`` processes; all are stopped after the test."""
    start, started = _service_starter(
        "services.gateway", "gateway_port", process_settings, tmp_path
    )
    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def connect(tokens):
    """``connect(gateway, role="viewer", token=...)``: a connected RecordingClient."""
    clients: list[RecordingClient] = []

    def make(gateway, role: str = "viewer", token: str | None = None, **options):
        client = RecordingClient(
            gateway.url, token if token is not None else tokens[role], **options
        )
        clients.append(client)
        return client.connect()

    yield make
    for client in clients:
        client.close()
