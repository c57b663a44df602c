"""Gateway bugs the fuzzing found, each test the right behaviour (strict xfails until the
fixes landed). Reproductions and fixes: docs/security.md, "Findings".
"""

from __future__ import annotations

import pytest

from shared import contract
from shared.auth import mint_token
from tests.conftest import TEST_SECRET
from tests.fuzz.wire import gauges, raw_exchange
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def module_settings(module_settings):
    # Half-dead sockets (last test) hold a graceful stop for the whole grace period.
    return module_settings.replace(shutdown_grace_seconds=2)


def test_client_sent_disconnect_event_does_not_escape_token_expiry(gateway, connect, serial):
    # Expiry is in whole seconds from the minting second: 2 leaves the connect at least 1 s.
    token = mint_token(TEST_SECRET, "viewer", "short", drones=[serial], ttl_seconds=2)
    client = connect(gateway, token=token)
    assert client.call(contract.SIO_SUBSCRIBE, {"droneSerial": serial})["ok"] is True

    client.sio.emit("disconnect")

    wait_until(lambda: not client.sio.connected, timeout=5, message="disconnect at expiry")


def test_client_sent_connect_event_does_not_leak_a_client(gateway, connect, tokens):
    baseline = gauges(gateway)
    client = connect(gateway)
    client.sio.emit("connect", ("x", {"token": tokens["viewer"]}))
    client.call(contract.SIO_UNSUBSCRIBE, {"all": True})  # the forged event has been handled

    client.close()

    wait_until(lambda: gauges(gateway) == baseline, timeout=3, message="gauges at baseline")


@pytest.mark.parametrize("frame", ["", "hello"])
def test_connection_that_sent_a_non_engineio_frame_is_forgotten_at_once(gateway, tokens, frame):
    baseline = gauges(gateway)

    raw_exchange(gateway, tokens["viewer"], [frame])

    wait_until(lambda: gauges(gateway) == baseline, timeout=3, message="gauges at baseline")
