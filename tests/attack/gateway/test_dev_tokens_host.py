"""Defect 10 of issue #20 (the gateway's part): in development ``/dev/tokens`` answered
whatever ``Host`` was sent, so a page on another site whose name was made to resolve to
127.0.0.1 (DNS rebinding) could read the 30-day admin token. Now it answers loopback
names and the hosts of the allowed origins only. (That /readyz and /metrics are not routed
publicly is checked on the manifests and a real nginx: tests/deploy.)
"""

from __future__ import annotations

import json

import pytest

from shared.auth import DEV_TOKENS_FILE
from tests.attack.gateway import raw


@pytest.mark.parametrize("mode", ["gevent"], indirect=True)  # HTTP routing: one mode is enough
def test_dev_tokens_are_served_to_loopback_and_allowed_hosts_only(
    gateway_in_mode, bystander, process_settings
):
    process_settings.var_dir.mkdir(parents=True, exist_ok=True)
    (process_settings.var_dir / DEV_TOKENS_FILE).write_text(json.dumps({"admin": "a-token"}))
    gateway = gateway_in_mode(allowed_origins=("https://drones.example.com",))
    healthy = bystander(gateway)

    def status(host: str) -> tuple[int, bytes]:
        answer, _, body = raw.request(gateway.port, "GET", "/dev/tokens", headers={"Host": host})
        return answer, body

    for rebound in ("attacker.example", f"attacker.example:{gateway.port}", "127.0.0.1.nip.io"):
        answer, body = status(rebound)
        assert (answer, raw.error_code(body)) == (403, "forbidden_host"), rebound
        assert b"a-token" not in body
    for local in (
        f"127.0.0.1:{gateway.port}",
        f"localhost:{gateway.port}",
        "[::1]",
        "drones.example.com",
    ):
        assert status(local) == (200, b'{"admin":"a-token"}\n'), local
    healthy.is_served()
