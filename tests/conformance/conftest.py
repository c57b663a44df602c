"""A real gateway process per async mode, reached over real sockets by raw protocol clients.

The conformance tests check the gateway against the Engine.IO v4 and Socket.IO v5 specs
(the READMEs of socketio/engine.io-protocol and socketio/socket.io-protocol) from outside:
no python-socketio client, only HTTP requests and WebSocket frames written by hand.
"""

from __future__ import annotations

import uuid

import pytest

from shared.auth import mint_token
from shared.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support.redis_server import free_port
from tests.support.services import ServiceProcess

# Short heartbeats, so the tests that wait on them wait seconds, not half a minute.
PING_INTERVAL = 1
PING_TIMEOUT = 1
# A session that joins no namespace is closed after this long, where the gateway has such a
# setting (the reference server's connectTimeout); test_socketio.py checks it.
HANDSHAKE_TIMEOUT = 5  # longer than any test here stays unjoined on purpose


@pytest.fixture(scope="module", params=["eventlet", "gevent"])
def gateway(request, redis_server, tmp_path_factory) -> ServiceProcess:
    """One gateway process in each async mode (the two that serve WebSockets on the fast path)."""
    prefix = f"c{uuid.uuid4().hex[:12]}"
    port = free_port()
    settings = Settings.from_env(
        {},
        redis_url=redis_server.url,
        key_prefix=prefix,
        mongodb_db=prefix,
        var_dir=tmp_path_factory.mktemp("var"),
        jwt_secret=TEST_SECRET,
        rate_limits_enabled=False,
        gateway_async_mode=request.param,
        gateway_port=port,
        gateway_ping_interval=PING_INTERVAL,
        gateway_ping_timeout=PING_TIMEOUT,
        gateway_handshake_timeout_seconds=HANDSHAKE_TIMEOUT,
    )
    proc = ServiceProcess(
        "services.gateway", settings, port, tmp_path_factory.mktemp("logs") / "gateway.log"
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def token() -> str:
    return mint_token(TEST_SECRET, "viewer", "conformance")
