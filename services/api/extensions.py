"""The Flask extensions of one app, created unbound and bound with ``init_app``.

flask-limiter and flask-smorest keep per-app state (storage, spec) on the extension object,
so each app gets its own instances from :func:`create_extensions` instead of sharing
module-level ones: the tests build many apps with different settings in one process.
"""

from __future__ import annotations

import dataclasses

from flask import g, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_smorest import Api

from services.api.errors import ErrorSchema
from services.api.metrics import Metrics


def client_ip() -> str:
    """The client's address: the peer's, or what ``TRUSTED_PROXY_HOPS`` proxies forwarded."""
    return request.remote_addr or "unknown"


def subject_or_ip() -> str:
    """The caller's token subject, or its address when it has no valid token."""
    principal = getattr(g, "principal", None)
    return f"sub:{principal.subject}" if principal else f"ip:{client_ip()}"


class DocumentedApi(Api):
    """flask-smorest's Api, documenting errors in the shape :mod:`services.api.errors` sends."""

    ERROR_SCHEMA = ErrorSchema


@dataclasses.dataclass(frozen=True)
class Extensions:
    api: Api
    limiter: Limiter
    cors: CORS
    metrics: Metrics


def create_extensions() -> Extensions:
    """Unbound extensions for one app."""
    return Extensions(
        api=DocumentedApi(),
        limiter=Limiter(key_func=client_ip),
        cors=CORS(),
        metrics=Metrics(),
    )
