"""The gateway's app factory builds a complete app without starting anything."""

import types

from werkzeug.test import Client

from services.gateway import create_app
from services.gateway.app import wsgi_entry


def test_create_app_builds_an_app_with_its_gateway(settings):
    app = create_app(settings.replace(gateway_async_mode="gevent"))

    assert "gateway" in app.extensions
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_app_is_not_ready_before_its_relay_runs(settings):
    app = create_app(settings.replace(gateway_async_mode="gevent"))

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["checks"]["relay"] is False


def test_dev_tokens_are_never_served_in_production(settings):
    (settings.var_dir).mkdir(parents=True, exist_ok=True)
    (settings.var_dir / "dev-tokens.json").write_text('{"admin": "x"}')
    app = create_app(settings.replace(gateway_async_mode="gevent", app_env="production"))

    assert app.test_client().get("/dev/tokens").status_code == 404


def test_metrics_are_exposed_in_prometheus_format(settings):
    app = create_app(settings.replace(gateway_async_mode="gevent"))

    body = app.test_client().get("/metrics").get_data(as_text=True)

    assert "gateway_connected_clients" in body
    assert "gateway_fanout_latency_seconds" in body


def test_served_entry_is_the_apps_middleware_stack_as_a_function(settings):
    app = create_app(settings.replace(gateway_async_mode="gevent"))

    entry = wsgi_entry(app)

    # A callable object would cost each idle WebSocket's reader a C stack frame to wait in.
    assert isinstance(entry, types.FunctionType | types.MethodType)
    assert Client(entry).get("/healthz").json == {"status": "ok"}
