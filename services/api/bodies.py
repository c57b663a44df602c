"""Request bodies: read whole, within a size limit and a deadline, and nested at most so deep,
before anything parses them.

The body of a write is read here once (and cached by Flask for the parsers), after the
caller's token was checked:

- larger than ``API_MAX_BODY_BYTES``: 413, counted while read, so a chunked body (which
  declares no length) is refused at the limit, not read whole;
- not all there within ``API_BODY_TIMEOUT_SECONDS``: 408 (the gevent worker; elsewhere,
  e.g. Flask's test client, the body is already in memory);
- JSON nested deeper than ``API_MAX_JSON_DEPTH``: 400, before the recursive parser meets it
  (1,000 levels exhausted Python's stack: a 500).
"""

from __future__ import annotations

import contextlib
import re

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from services.api.errors import ApiError

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


class BodyTimeout(Exception):
    """The body did not arrive within its deadline."""


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """True when the JSON text ``body`` opens more than ``limit`` arrays/objects at once.

    Looks only at brackets outside strings; linear in the body, whatever it holds.
    """
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(body):
        position = match.start()
        if position == escaped_at:
            continue
        char = body[position]
        if in_string:
            if char == _BACKSLASH:
                escaped_at = position + 1
            elif char == _QUOTE:
                in_string = False
        elif char == _QUOTE:
            in_string = True
        elif char in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif char in _CLOSE:
            depth -= 1
    return False


def body_deadline(seconds: float):
    """A context that raises :class:`BodyTimeout` in the reading greenlet after ``seconds``,
    under gevent's monkey-patching (the server's worker); a no-op otherwise."""
    from gevent import Timeout, monkey

    if monkey.is_module_patched("socket"):
        return Timeout(seconds, BodyTimeout)
    return contextlib.nullcontext()


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")


def init_body_limits(app: Flask, timeout_seconds: float, max_depth: int) -> None:
    """Read every write's body within the limits; register after authentication."""

    @app.before_request
    def read_body():
        if request.method not in _BODY_METHODS or not _has_body():
            return
        try:
            with body_deadline(timeout_seconds):
                # Werkzeug reads at most MAX_CONTENT_LENGTH (a longer Content-Length: 413).
                body = request.get_data(cache=True)
        except BodyTimeout:
            raise ApiError(
                408,
                "request_timeout",
                f"the request body did not arrive within {timeout_seconds:g} s",
            ) from None
        except HTTPException:
            raise  # 413 past the limit
        except Exception:  # noqa: BLE001 - the server's own chunk parser or a closed socket
            raise ApiError(400, "bad_request", "the request body could not be read") from None
        limit = request.max_content_length
        if request.content_length is None and limit is not None and len(body) >= limit:
            # Werkzeug stops reading a body without a length at the limit, silently.
            raise ApiError(413, "payload_too_large", f"request body larger than {limit} bytes")
        if nesting_exceeds(body, max_depth):
            raise ApiError(400, "bad_request", f"request body nests deeper than {max_depth} levels")
