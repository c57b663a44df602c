"""Swagger UI assets, served from the ``swagger-ui-bundle`` package (no CDN needed)."""

from __future__ import annotations

from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

API_PREFIX = "/api/v1"
DOCS_PATH = "docs"
ASSETS_URL = f"{API_PREFIX}/{DOCS_PATH}/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.get(f"{ASSETS_URL}<path:filename>")
def asset(filename: str):
    return send_from_directory(swagger_ui_path, filename, max_age=86_400)


def openapi_config() -> dict:
    """flask-smorest settings: spec at /api/v1/openapi.json, Swagger UI at /api/v1/docs."""
    from services.api.auth import SECURITY, SECURITY_SCHEME

    return {
        "API_TITLE": "Drone management API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": API_PREFIX,
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": DOCS_PATH,
        "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
        "API_SPEC_OPTIONS": {
            "security": SECURITY,
            "components": {"securitySchemes": {"bearerAuth": SECURITY_SCHEME}},
            "info": {
                "description": "Drones in MongoDB; every change is published as an event "
                "to Redis (see docs/api.md)."
            },
        },
    }
