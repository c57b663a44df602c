"""The one JSON error shape: ``{"error": {"code": str, "message": str, "details"?: {...}}}``.

Every error the service returns goes through here: our own :class:`ApiError`, HTTP errors
raised by Flask/werkzeug/flask-smorest/webargs/flask-limiter, and unexpected exceptions
(logged with their stack trace, answered without it).
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from marshmallow import Schema, fields
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError
from werkzeug.exceptions import HTTPException

from shared.auth import AuthError, Forbidden

log = logging.getLogger(__name__)

# Codes of the HTTP errors raised by the framework.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_error",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorSchema(Schema):
    """The error shape as the OpenAPI document describes it (flask-smorest's own differs)."""

    error = fields.Nested(ErrorBodySchema, required=True)


class ApiError(Exception):
    """An error answered as is: HTTP ``status``, machine ``code``, human ``message``."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class NotFound(ApiError):
    def __init__(self, message: str):
        super().__init__(404, "not_found", message)


class Conflict(ApiError):
    def __init__(self, message: str, code: str = "conflict"):
        super().__init__(409, code, message)


def error_response(status: int, code: str, message: str, details: dict | None = None, headers=None):
    """A Flask response in the error shape."""
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    if headers:
        for name, value in headers:
            if name.lower() != "content-type":
                response.headers[name] = value
    return response


def _http_error(exc: HTTPException):
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    details = None
    messages = data.get("messages")
    if messages:
        # webargs: {"json": {"field": [...]}} or {"query": ...}; name the offending fields.
        details = {"fields": _flatten_locations(messages)}
    message = exc.description if isinstance(exc.description, str) else exc.name
    if status == 400 and messages and _is_json_syntax_error(messages):
        message, details = "request body is not valid JSON", None
    elif messages:
        message = "invalid request: " + ", ".join(sorted(details["fields"]))
    headers = exc.get_headers() if status in (405, 429) else None
    if status == 429:
        message = f"rate limit exceeded ({exc.description})"
    return error_response(status, _CODES.get(status, "http_error"), message, details, headers)


def _flatten_locations(messages: dict) -> dict:
    if len(messages) == 1:
        only = next(iter(messages.values()))
        if isinstance(only, dict):
            return only
    return messages


def _is_json_syntax_error(messages: dict) -> bool:
    json_messages = messages.get("json")
    return isinstance(json_messages, list) and any("JSON" in str(m) for m in json_messages)


def _transient(exc: PyMongoError) -> bool:
    return isinstance(exc, ConnectionFailure | ExecutionTimeout) or any(
        exc.has_error_label(label) for label in ("RetryableWriteError", "TransientTransactionError")
    )


def register_error_handlers(app: Flask) -> None:
    """Answer every error in the one JSON shape (call after flask-smorest's ``init_app``)."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(AuthError)
    def auth_error(exc: AuthError):
        response = error_response(401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer realm="drones"'
        return response

    @app.errorhandler(Forbidden)
    def forbidden(exc: Forbidden):
        return error_response(403, "forbidden", str(exc))

    app.register_error_handler(HTTPException, _http_error)

    @app.errorhandler(PyMongoError)
    def database_error(exc: PyMongoError):
        if not _transient(exc):
            return unexpected(exc)
        # Unreachable, stepping down, timed out, a write the server calls retryable: the
        # write did not happen (and so published nothing); the client may retry.
        log.warning("database unavailable", extra={"error": str(exc)})
        return error_response(
            503, "unavailable", "the database is unavailable, retry", headers=[("Retry-After", "1")]
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
