"""The API attack suite: real ``python -m services.api`` processes (gunicorn, as production
runs them) attacked over loopback sockets, while a healthy client checks it is still served.

Every test bounds its own traffic (connections, bytes) and time; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import secrets

import pytest

from shared.auth import mint_token
from tests.attack.api.wire import HealthyClient

# Production refuses weak secrets: a real random one for the whole run.
ATTACK_SECRET = secrets.token_urlsafe(48)
# Short deadlines so the attacks end quickly; the defaults are documented in docs/security.md.
HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2


@pytest.fixture
def attack_settings(process_settings):
    """Production settings: real secret, rate limits on, short read deadlines."""
    return process_settings.replace(
        app_env="production",
        jwt_secret=ATTACK_SECRET,
        rate_limits_enabled=True,
        api_header_timeout_seconds=HEADER_TIMEOUT,
        api_body_timeout_seconds=BODY_TIMEOUT,
    )


@pytest.fixture
def api_server(start_api, attack_settings):
    """One API process under attack."""
    return start_api(attack_settings)


@pytest.fixture
def token():
    """``token("admin", drones="*")``: a bearer token signed with the attack secret."""

    def make(role: str = "admin", drones="*") -> str:
        return mint_token(ATTACK_SECRET, role, f"attack-{role}", drones, 600)

    return make


@pytest.fixture
def healthy(api_server, token):
    """A client polling ``/healthz`` and an authenticated list while the test attacks."""
    client = HealthyClient(api_server.url, token("viewer"))
    yield client
    client.stop()
