"""deploy/docker/healthcheck.py against real local HTTP servers."""

import http.server
import os
import subprocess
import sys
import threading

import pytest

from tests.deploy.conftest import REPO
from tests.support.redis_server import free_port

SCRIPT = REPO / "deploy" / "docker" / "healthcheck.py"


@pytest.fixture
def serve():
    """``serve(status)``: an HTTP server answering /healthz with ``status``; returns its port."""
    servers = []

    def start(status: int) -> int:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status if self.path == "/healthz" else 404)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_check(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("PORT")}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthy_when_the_api_port_answers_200(serve):
    result = run_check(API_PORT=str(serve(200)), GATEWAY_PORT=str(free_port()))
    assert result.returncode == 0, result.stdout


def test_unhealthy_when_healthz_fails(serve):
    result = run_check(API_PORT=str(serve(503)), GATEWAY_PORT=str(serve(200)))
    assert result.returncode == 1
    assert "503" in result.stdout


def test_falls_through_to_the_gateway_port_when_the_api_port_is_closed(serve):
    result = run_check(API_PORT=str(free_port()), GATEWAY_PORT=str(serve(200)))
    assert result.returncode == 0, result.stdout


def test_unhealthy_when_nothing_listens():
    result = run_check(API_PORT=str(free_port()), GATEWAY_PORT=str(free_port()))
    assert result.returncode == 1


def test_explicit_port_wins(serve):
    result = run_check(
        HEALTHCHECK_PORT=str(serve(503)), API_PORT=str(serve(200)), GATEWAY_PORT=str(serve(200))
    )
    assert result.returncode == 1
