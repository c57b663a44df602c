"""deploy/nginx/edge.conf in a real nginx in front of the real API and gateway.

Only the upstream addresses and the listen port are swapped for local ones. Skipped where
nginx is not installed (Debian: ``apt-get install nginx-light``).
"""

import shutil
import subprocess
import threading

import pytest
import requests
import socketio

from tests.deploy.conftest import REPO
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")


def edge_config(tmp_path, api_port, gateway_port, edge_port):
    """A main nginx.conf that includes edge.conf, rewritten to local addresses."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    conf = (REPO / "deploy" / "nginx" / "edge.conf").read_text()
    replacements = {
        "server api:5000;": f"server 127.0.0.1:{api_port};",
        "server gateway:5001;": f"server 127.0.0.1:{gateway_port};",
        "listen 8080;": f"listen 127.0.0.1:{edge_port};",
    }
    for old, new in replacements.items():
        assert old in conf, f"edge.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    (tmp_path / "edge.conf").write_text(conf)
    temp = "\n".join(
        f"  {kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}\n  include {tmp_path}/edge.conf;\n}}\n"
    )
    return main


@pytest.fixture
def edge(tmp_path, process_settings, start_api, start_gateway):
    """The API, the gateway and nginx in front of them; yields the edge's base URL."""
    edge_port = free_port()
    origin = f"http://127.0.0.1:{edge_port}"
    api = start_api()
    gateway = start_gateway(process_settings.replace(allowed_origins=(origin,)))
    main = edge_config(tmp_path / "nginx", api.port, gateway.port, edge_port)
    check = subprocess.run(["nginx", "-t", "-c", str(main)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        ["nginx", "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: requests.get(f"{origin}/edge-healthz", timeout=1).ok, message="nginx edge"
        )
        yield origin
    finally:
        proc.terminate()
        proc.wait(10)


def test_api_routes_through_the_edge(edge, auth_headers):
    response = requests.get(f"{edge}/api/v1/drones", headers=auth_headers("viewer"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")


def test_test_page_is_served_at_the_root(edge):
    response = requests.get(f"{edge}/", timeout=5)
    assert response.status_code == 200
    assert "text/html" in response.headers["Content-Type"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_connects_through_the_edge(edge, tokens, transport):
    client = socketio.Client(reconnection=False)
    welcomed = threading.Event()
    client.on("connected", lambda data: welcomed.set())
    try:
        client.connect(
            edge,
            socketio_path="/ws/events",
            transports=[transport],
            auth={"token": tokens["viewer"]},
            wait_timeout=10,
        )
        assert welcomed.wait(10)
        assert client.transport() == transport
    finally:
        client.disconnect()


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
def test_gateway_readiness_and_metrics_are_not_served_through_the_edge(edge, path):
    response = requests.get(f"{edge}{path}", timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
