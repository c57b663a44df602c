"""HTTP hardening: rate limits, CORS, security headers, request ids, metrics."""

import pytest

from services.api import create_app

BASE = "/api/v1/drones"
ORIGIN = "http://localhost:5001"


@pytest.fixture
def limited_client(settings):
    app = create_app(
        settings.replace(rate_limits_enabled=True, rate_limit_writes="3/minute"), start_relay=False
    )
    yield app.test_client()
    app.extensions["shutdown"]()


def _toggle(client, headers, ip="10.0.0.1"):
    return client.post(
        f"{BASE}/RL/stream/toggle", headers=headers, environ_base={"REMOTE_ADDR": ip}
    )


def test_writes_over_the_limit_get_429_with_retry_after(limited_client, auth_headers):
    headers = auth_headers("admin")
    limited_client.post(
        f"{BASE}/register", json={"deviceSerialNumber": "RL", "deviceName": "r"}, headers=headers
    )
    assert [_toggle(limited_client, headers).status_code for _ in range(2)] == [200, 200]
    response = _toggle(limited_client, headers)
    assert response.status_code == 429
    assert response.json["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_reads_are_not_limited(limited_client, auth_headers):
    statuses = {limited_client.get(BASE, headers=auth_headers()).status_code for _ in range(6)}
    assert statuses == {200}


def test_limit_is_per_subject_across_addresses(limited_client, auth_headers):
    headers = auth_headers("admin")
    limited_client.post(
        f"{BASE}/register", json={"deviceSerialNumber": "RL", "deviceName": "r"}, headers=headers
    )
    statuses = [_toggle(limited_client, headers, ip=f"10.0.0.{i}").status_code for i in range(3)]
    assert statuses == [200, 200, 429]


def test_limit_is_per_address_across_subjects(limited_client, auth_headers):
    limited_client.post(
        f"{BASE}/register",
        json={"deviceSerialNumber": "RL", "deviceName": "r"},
        headers=auth_headers("admin"),
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    roles = ("operator", "admin", "operator")  # no subject reaches 3, the address does
    statuses = [_toggle(limited_client, auth_headers(role)).status_code for role in roles]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(("hops", "expected"), [(1, [200, 200, 200]), (0, [200, 200, 429])])
def test_address_limit_counts_forwarded_clients_only_behind_trusted_proxies(
    settings, auth_headers, hops, expected
):
    app = create_app(
        settings.replace(
            rate_limits_enabled=True, rate_limit_writes="3/minute", trusted_proxy_hops=hops
        ),
        start_relay=False,
    )
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}  # every request comes through one proxy
    client.post(
        f"{BASE}/register",
        json={"deviceSerialNumber": "RL", "deviceName": "r"},
        headers={**auth_headers("admin"), "X-Forwarded-For": "198.51.100.1"},
        environ_base=proxy,
    )
    roles = ("operator", "admin", "operator")  # no subject reaches 3; one address would
    statuses = [
        client.post(
            f"{BASE}/RL/stream/toggle",
            headers={**auth_headers(role), "X-Forwarded-For": f"203.0.113.{i}"},
            environ_base=proxy,
        ).status_code
        for i, role in enumerate(roles)
    ]
    app.extensions["shutdown"]()

    assert statuses == expected


def test_limits_are_off_when_disabled(client, auth_headers, register):
    register("RL")
    statuses = {_toggle(client, auth_headers()).status_code for _ in range(10)}
    assert statuses == {200}


def test_cors_allows_configured_origin(client, auth_headers):
    response = client.get(BASE, headers={**auth_headers(), "Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_refuses_other_origins(client, auth_headers):
    response = client.get(BASE, headers={**auth_headers(), "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_preflight_allows_authorization_header(client):
    response = client.options(
        f"{BASE}/register",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_security_headers_on_json(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_security_headers_on_errors(client):
    response = client.get(BASE)
    assert response.status_code == 401
    assert response.headers["X-Frame-Options"] == "DENY"


def test_request_id_is_echoed(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )


def test_unexpected_error_is_500_without_stack_trace(app, api, register, monkeypatch):
    register("BOOM")

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["drone_service"], "get", explode)
    response = api("get", f"{BASE}/BOOM")
    assert response.status_code == 500
    assert response.json == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }


def test_metrics_count_requests_by_route_template(client, api, register):
    register("MET")
    api("get", f"{BASE}/MET")
    body = client.get("/metrics").data.decode()
    assert (
        'api_requests_total{method="GET",route="/api/v1/drones/<serial>",status="200"} 1.0' in body
    )
    assert "MET" not in body
    assert "api_events_published_total 1.0" in body
