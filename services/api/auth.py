"""Bearer-token checks of the ``/api/v1`` routes (tokens are verified by shared.auth)."""

from __future__ import annotations

import functools

from flask import Flask, current_app, g, request

from shared.auth import AuthError, Principal, TokenVerifier

# Blueprints whose every route needs a token; the rest (health, metrics, docs) is public.
PROTECTED_BLUEPRINTS = {"drones", "system"}
SECURITY = [{"bearerAuth": []}]
SECURITY_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def init_auth(app: Flask, verifier: TokenVerifier) -> None:
    """Verify the token of every protected request before anything else runs (rate limits
    are keyed on the verified subject)."""
    app.extensions["token_verifier"] = verifier

    @app.before_request
    def authenticate():
        g.principal = None
        if request.blueprint not in PROTECTED_BLUEPRINTS or request.method == "OPTIONS":
            return
        g.principal = verifier.verify(_bearer_token())


def principal() -> Principal:
    """The caller of the current request (only set on protected routes)."""
    if g.get("principal") is None:
        raise AuthError("a bearer token is required")
    return g.principal


def requires(permission: str):
    """Decorator: the caller needs ``permission``, on the route's ``serial`` if it has one."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal().require(permission, kwargs.get("serial"))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def verifier() -> TokenVerifier:
    return current_app.extensions["token_verifier"]
