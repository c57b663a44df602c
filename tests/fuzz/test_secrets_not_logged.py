"""Neither the signing secret nor any token, valid or not, reaches the logs of either
service, at DEBUG level, whatever the requests do with them."""

from __future__ import annotations

import pytest
import requests
import socketio

from shared import contract
from shared.auth import mint_token
from tests.conftest import TEST_SECRET
from tests.support.sio import RecordingClient

FORGED = mint_token("another-secret-" + "f" * 40, "admin", "forger")
EXPIRED = mint_token(TEST_SECRET, "admin", "old", ttl_seconds=-60)


def _leaks(logs: str, secrets: list[str]) -> list[str]:
    # A token's signature is the part that must never be seen; check it alone too.
    pieces = secrets + [s.rsplit(".", 1)[-1] for s in secrets if s.count(".") == 2]
    return [p[:12] + "..." for p in pieces if p in logs]


@pytest.fixture
def debug_settings(process_settings):
    return process_settings.replace(log_level="DEBUG")


def test_api_logs_hold_no_secret_or_token(start_api, debug_settings, tokens):
    api = start_api(debug_settings)
    url = api.url + "/api/v1/drones"
    for token in (tokens["admin"], tokens["viewer"], FORGED, EXPIRED, "not.a.token"):
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "secret-check"}
        requests.get(url, headers=headers, timeout=10)
        body = {"deviceSerialNumber": "LOG1", "deviceName": token}
        requests.post(url + "/register", json=body, headers=headers, timeout=10)
        requests.post(url + "/register", json={"token": token}, headers=headers, timeout=10)
    api.stop()

    logs = api.logs()
    assert "secret-check" in logs  # the requests were logged, so the check means something
    assert _leaks(logs, [TEST_SECRET, *tokens.values(), FORGED, EXPIRED]) == []


def test_gateway_logs_hold_no_secret_or_token(start_gateway, debug_settings, tokens):
    gateway = start_gateway(debug_settings)
    client = RecordingClient(gateway.url, tokens["viewer"]).connect()
    client.call(contract.SIO_REFRESH, {"token": tokens["admin"]})  # another subject: refused
    client.call(contract.SIO_REFRESH, {"token": FORGED})
    client.call(contract.SIO_SUBSCRIBE, {"droneSerial": tokens["operator"]})
    client.close()
    for token in (FORGED, EXPIRED, "not.a.token"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            RecordingClient(gateway.url, token).connect(wait=5)
    gateway.stop()

    logs = gateway.logs()
    assert "gateway listening" in logs
    assert _leaks(logs, [TEST_SECRET, *tokens.values(), FORGED, EXPIRED]) == []
