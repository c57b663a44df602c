"""Both services behind an ingress: the client's address and scheme as the proxies saw them."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def trust_proxies(app: Flask, hops: int) -> None:
    """Take the client's address (rate limits) and scheme (origin checks) from the
    ``X-Forwarded-For``/``-Proto`` of ``hops`` proxies (``TRUSTED_PROXY_HOPS``); nothing
    when 0. Call it last: the wrapper must be outermost, so every layer sees the client."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
