#!/usr/bin/env python
"""Container health check: exit 0 when this container's service answers 200 on /healthz.

One image runs either service, so the check asks HEALTHCHECK_PORT when set, else the API
port, then the gateway port: the first port that accepts a connection is this container's
service, and its answer decides. Only the standard library: the image has no curl.
"""

import os
import sys
import urllib.error
import urllib.request


def _ports() -> list[str]:
    explicit = os.environ.get("HEALTHCHECK_PORT")
    if explicit:
        return [explicit]
    return [os.environ.get("API_PORT") or "5000", os.environ.get("GATEWAY_PORT") or "5001"]


def check(ports: list[str], timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the first listening port of ``ports`` answers /healthz with 200, and why."""
    reason = "no port to check"
    for port in ports:
        url = f"http://127.0.0.1:{port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status == 200, f"{url} -> {response.status}"
        except urllib.error.HTTPError as exc:
            return False, f"{url} -> {exc.code}"
        except urllib.error.URLError as exc:
            reason = f"{url} -> {exc.reason}"
            if not isinstance(exc.reason, ConnectionRefusedError):
                return False, reason
        except OSError as exc:  # a listening port that hangs or resets
            return False, f"{url} -> {exc!r}"
    return False, reason


if __name__ == "__main__":
    healthy, reason = check(_ports())
    print(reason)
    sys.exit(0 if healthy else 1)
