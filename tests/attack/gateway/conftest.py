"""Fixtures of the gateway attack suite: real gateway processes in each async mode, and a
healthy client beside each attack that must keep connecting and receiving events."""

from __future__ import annotations

import uuid

import pytest
import redis

from shared.eventlog import EventLog
from tests.support.events import DroneEventWriter
from tests.support.sio import RecordingClient
from tests.support.waiting import wait_until

MODES = ("eventlet", "gevent")
# What "keeps being served" means for the healthy client beside an attack.
HEALTHY_WITHIN = 2.0


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def gateway_in_mode(start_gateway, process_settings, mode):
    """``gateway_in_mode(**settings)``: a gateway process in the test's async mode."""

    def start(**overrides):
        return start_gateway(process_settings.replace(gateway_async_mode=mode, **overrides))

    return start


@pytest.fixture
def event_writer(process_settings) -> DroneEventWriter:
    return DroneEventWriter(
        EventLog(
            redis.Redis.from_url(process_settings.redis_url),
            process_settings.key_prefix,
            process_settings.event_stream_maxlen,
            process_settings.event_stream_max_age_seconds,
        )
    )


class Bystander:
    """A legitimate client beside the attack: subscribed to every drone, it must get each
    new event, and a new legitimate client must connect, within ``HEALTHY_WITHIN``."""

    def __init__(self, gateway, token: str, writer: DroneEventWriter, headers=None):
        self.gateway, self.token, self.writer = gateway, token, writer
        self.headers = headers
        self.serial = f"B-{uuid.uuid4().hex[:10]}"
        self.clients: list[RecordingClient] = []
        self.client = self._connect(timeout=10)
        assert self.client.call("subscribe", {"all": True})["ok"] is True

    def _connect(self, timeout: float) -> RecordingClient:
        client = RecordingClient(self.gateway.url, self.token, headers=self.headers)
        self.clients.append(client)
        return client.connect(wait=timeout)

    def receives_events(self) -> None:
        """The standing client gets a new event within the bound."""
        before = len(self.client.drone_events())
        self.writer.write(self.serial, status="active")
        self.client.wait_drone_events(before + 1, timeout=HEALTHY_WITHIN)

    def can_connect(self) -> None:
        """A new client connects (token accepted, greeting read) within the bound."""
        self._connect(timeout=HEALTHY_WITHIN)

    def is_served(self) -> None:
        self.receives_events()
        self.can_connect()

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def bystander(tokens, event_writer):
    """``bystander(gateway, headers=None)``: a :class:`Bystander` on ``gateway``."""
    made: list[Bystander] = []

    def make(gateway, headers=None) -> Bystander:
        b = Bystander(gateway, tokens["viewer"], event_writer, headers)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def wait_closed(check, timeout: float, message: str):
    return wait_until(check, timeout=timeout, interval=0.05, message=message)
