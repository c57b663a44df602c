"""Plain HTTP routes of the gateway: the test page, the dashboard, health, readiness,
metrics, dev tokens."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.hosts import dev_host_allowed
from shared.auth import DEV_TOKENS_FILE

bp = Blueprint("gateway_http", __name__)


def _gateway():
    return current_app.extensions["gateway"]


@bp.get("/")
def test_page():
    """The interactive test client page."""
    return send_from_directory(current_app.static_folder, "index.html")


@bp.get("/dashboard")
def dashboard():
    """The live fleet dashboard (static files under /static/dashboard/)."""
    return send_from_directory(current_app.static_folder, "dashboard/index.html")


@bp.get("/dashboard/config.json")
def dashboard_config():
    """Where the dashboard's REST calls go, and whether development tokens may exist."""
    settings = _gateway().settings
    if settings.api_public_url:
        api_url = settings.api_public_url.rstrip("/")
    elif settings.is_production:
        api_url = ""  # the page's own origin: an edge proxy serves /api/ beside the gateway
    else:
        host = urlsplit(request.host_url).hostname or "localhost"
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        api_url = f"{request.scheme}://{host}:{settings.api_port}"
    return jsonify(apiUrl=api_url, development=not settings.is_production)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    ok, checks = _gateway().ready()
    return jsonify(status="ready" if ok else "unavailable", checks=checks), 200 if ok else 503


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(_gateway().metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/dev/tokens")
def dev_tokens():
    """One token per role for the local stack; never served in production."""
    settings = _gateway().settings
    path = settings.var_dir / DEV_TOKENS_FILE
    if settings.is_production or not path.exists():
        return jsonify(error={"code": "not_found", "message": "no development tokens"}), 404
    if not dev_host_allowed(request.host, settings.allowed_origins):
        # A page of another site whose name was made to resolve to 127.0.0.1 (DNS
        # rebinding) reaches this route as same-origin, but with its own name as Host.
        return jsonify(
            error={
                "code": "forbidden_host",
                "message": "development tokens are served to localhost and the allowed origins",
            }
        ), 403
    return jsonify(json.loads(path.read_text()))


@bp.after_app_request
def security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; connect-src 'self' ws: wss: http: https:; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        )
    return response
