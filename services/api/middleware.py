"""Per-request plumbing: request id, JSON access log and metrics, media type and security
headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

from services.api.errors import error_response
from services.api.metrics import UNMATCHED_ROUTE, Metrics, method_label, status_label
from services.api.refusals import RefusalLog
from shared import logs

log = logging.getLogger("services.api.access")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}

# The docs page runs swagger-ui's inline start-up script and styles, all served from here.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)
HTML_CSP = "default-src 'none'; frame-ancestors 'none'"


def current_request_id() -> str | None:
    return g.get("request_id")


def init_middleware(
    app: Flask, metrics: Metrics, docs_prefix: str, refusal_log: RefusalLog
) -> None:
    """Install the hooks on ``app``; call before any other ``before_request``. Requests
    answered 4xx are logged through ``refusal_log`` (at a bounded rate)."""

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        g.log_token = logs.request_id.set(g.request_id)

    @app.before_request
    def require_json_body():
        # webargs would silently ignore a body of another type and report missing fields.
        if request.method not in _BODY_METHODS or not _has_body():
            return None
        if request.mimetype != "application/json":
            return error_response(
                415, "unsupported_media_type", "request body must be application/json"
            )
        return None

    @app.after_request
    def finish_request(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        _security_headers(response, docs_prefix)
        route = request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        method = method_label(request.method)
        metrics.requests.labels(method, route, status_label(response.status_code)).inc()
        metrics.latency.labels(method, route).observe(elapsed)
        fields = {
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "durationMs": round(elapsed * 1000, 2),
        }
        if 400 <= response.status_code < 500:
            refusal_log.log("request", **fields)
        else:
            log.info("request", extra=fields)
        return response

    @app.teardown_request
    def end_request(_exc):
        token = g.pop("log_token", None)
        if token is not None:
            logs.request_id.reset(token)


def _has_body() -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding") == "chunked"


def _security_headers(response, docs_prefix: str) -> None:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    if response.mimetype == "text/html":
        headers["Content-Security-Policy"] = (
            DOCS_CSP if request.path.startswith(docs_prefix) else HTML_CSP
        )
    if response.mimetype == "application/json":
        headers["Cache-Control"] = "no-store"
