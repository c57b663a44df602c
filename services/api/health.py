"""Public operational routes: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """The process answers."""
    return jsonify({"status": "ok"})


@blp.get("/readyz")
def readyz():
    """MongoDB and Redis answer and the outbox relay runs; 503 naming what does not."""
    checks = current_app.extensions["readiness_checks"]
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            results[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in results.values())
    if ready:
        return jsonify({"status": "ready", "checks": results})
    body = {
        "error": {
            "code": "not_ready",
            "message": "a dependency is unavailable",
            "details": {"checks": results},
        }
    }
    return jsonify(body), 503


@blp.get("/metrics")
def metrics():
    body = current_app.extensions["api_extensions"].metrics.exposition()
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0])
