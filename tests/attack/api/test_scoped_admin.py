"""Defect 10 (API): an admin token limited to some drones could broadcast to every client.

Decision: a broadcast reaches every client, so it needs an admin token for every drone."""

from __future__ import annotations

import requests

BODY = {"message": "maintenance at noon", "level": "info"}


def _broadcast(api_server, token):
    return requests.post(
        f"{api_server.url}/api/v1/system/broadcast",
        json=BODY,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_admin_limited_to_some_drones_cannot_broadcast(api_server, healthy, token):
    scoped = _broadcast(api_server, token("admin", drones=["A", "B"]))
    fleet = _broadcast(api_server, token("admin"))

    healthy.assert_served()
    assert scoped.status_code == 403
    assert "every drone" in scoped.json()["error"]["message"]
    assert fleet.status_code == 202
