"""Fixtures of the gateway tests: running gateway processes, an event writer, clients."""

from __future__ import annotations

import uuid

import pytest
import redis

from shared.eventlog import EventLog
from shared.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support.events import DroneEventWriter
from tests.support.redis_server import free_port
from tests.support.services import ServiceProcess


def _event_log(settings: Settings) -> EventLog:
    return EventLog(
        redis.Redis.from_url(settings.redis_url),
        settings.key_prefix,
        settings.event_stream_maxlen,
        settings.event_stream_max_age_seconds,
    )


@pytest.fixture(scope="module")
def module_settings(redis_server, tmp_path_factory) -> Settings:
    """Settings shared by the tests of one module that use one long-lived gateway."""
    prefix = f"m{uuid.uuid4().hex[:12]}"
    return Settings.from_env(
        {},
        redis_url=redis_server.url,
        key_prefix=prefix,
        mongodb_db=prefix,
        var_dir=tmp_path_factory.mktemp("var"),
        jwt_secret=TEST_SECRET,
        rate_limits_enabled=False,
    )


@pytest.fixture(scope="module")
def gateway(module_settings, tmp_path_factory):
    """One gateway process (default async mode) for the whole module."""
    port = free_port()
    proc = ServiceProcess(
        "services.gateway",
        module_settings.replace(gateway_port=port),
        port,
        tmp_path_factory.mktemp("logs") / "gateway.log",
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def writer(module_settings) -> DroneEventWriter:
    """Writes events into the log the module's gateway reads."""
    return DroneEventWriter(_event_log(module_settings))


@pytest.fixture
def process_writer(process_settings) -> DroneEventWriter:
    """Writes events into the log of gateways started with ``start_gateway``."""
    return DroneEventWriter(_event_log(process_settings))


@pytest.fixture
def writer_for():
    """``writer_for(settings)``: a writer into the log of those settings (its retention)."""
    return lambda settings: DroneEventWriter(_event_log(settings))


@pytest.fixture
def serial() -> str:
    """A drone serial no other test uses."""
    return f"D-{uuid.uuid4().hex[:10]}"
