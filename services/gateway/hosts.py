"""Which ``Host`` a development-only route answers: loopback names and the allowed origins."""

from __future__ import annotations

import ipaddress
import urllib.parse

_LOOPBACK_NAMES = frozenset({"localhost"})


def _hostname(host: str) -> str:
    """``host`` (a Host header or an origin's netloc) without its port, lower case."""
    return (urllib.parse.urlsplit(f"//{host}").hostname or "").lower()


def dev_host_allowed(host: str, allowed_origins: tuple[str, ...]) -> bool:
    """Whether a request with this ``Host`` may read development secrets: loopback names
    and addresses, or the host of a configured origin (never the wildcard)."""
    try:
        name = _hostname(host)
    except ValueError:
        return False
    if not name:
        return False
    if name in _LOOPBACK_NAMES:
        return True
    try:
        if ipaddress.ip_address(name).is_loopback:
            return True
    except ValueError:
        pass
    configured = set()
    for origin in allowed_origins:
        if origin == "*":
            continue
        try:
            configured.add(urllib.parse.urlsplit(origin).netloc.lower())
        except ValueError:
            continue
    return host.lower() in configured
