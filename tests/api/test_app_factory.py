"""The app factory builds independent, complete apps."""

import pytest

from services.api import create_app
from shared.settings import SettingsError

ROUTES = {
    "/api/v1/drones/register": {"post"},
    "/api/v1/drones": {"get"},
    "/api/v1/drones/{serial}": {"get", "patch", "delete"},
    "/api/v1/drones/{serial}/stream": {"put"},
    "/api/v1/drones/{serial}/stream/toggle": {"post"},
    "/api/v1/drones/{serial}/ai-detection": {"put"},
    "/api/v1/drones/{serial}/ai-detection/toggle": {"post"},
    "/api/v1/drones/{serial}/detection-classes": {"put"},
    "/api/v1/drones/{serial}/incidents": {"get", "post"},
    "/api/v1/drones/{serial}/reported": {"put"},
    "/api/v1/system/broadcast": {"post"},
}


def test_factory_builds_app_without_starting_relay(settings):
    app = create_app(settings, start_relay=False)
    try:
        assert not app.extensions["relay"].alive
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        app.extensions["shutdown"]()


def test_factory_starts_relay_and_shutdown_stops_it(settings):
    app = create_app(settings)
    relay = app.extensions["relay"]
    assert relay.alive
    app.extensions["shutdown"]()
    assert not relay.alive


def test_two_apps_keep_their_own_settings(settings, key_prefix):
    first = create_app(settings, start_relay=False)
    second = create_app(settings.replace(max_body_bytes=2048), start_relay=False)
    try:
        assert first.config["MAX_CONTENT_LENGTH"] == settings.max_body_bytes
        assert second.config["MAX_CONTENT_LENGTH"] == 2048
        spec = first.test_client().get("/api/v1/openapi.json").json
        assert set(spec["paths"]) == set(ROUTES)
    finally:
        first.extensions["shutdown"]()
        second.extensions["shutdown"]()


def test_openapi_lists_every_route_with_bearer_security(client):
    spec = client.get("/api/v1/openapi.json").json
    assert {path: set(ops) - {"parameters"} for path, ops in spec["paths"].items()} == ROUTES
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]


def test_openapi_documents_max_page_size(client):
    spec = client.get("/api/v1/openapi.json").json
    params = spec["paths"]["/api/v1/drones"]["get"]["parameters"]
    page_size = next(p for p in params if p["name"] == "page_size")
    assert page_size["schema"]["maximum"] == 100


def test_docs_page_is_served_with_local_assets(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/api/v1/docs/assets/swagger-ui-bundle.js" in page.data
    assert "unsafe-inline" in page.headers["Content-Security-Policy"]
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_production_refuses_to_start_without_a_real_key(settings):
    with pytest.raises(SettingsError):
        create_app(settings.replace(app_env="production", jwt_secret=None), start_relay=False)


def test_production_refuses_a_short_secret(settings):
    with pytest.raises(SettingsError):
        create_app(settings.replace(app_env="production", jwt_secret="short"), start_relay=False)
