"""The API's gunicorn worker: gevent, one greenlet per connection, and what the server
refuses before the app sees a request answered in the API's JSON error shape.

Why gevent: the gthread worker gives each connection a thread while it reads the request,
so 16 clients sending half a request line held all 16 threads and nobody else was served.
Here a slow socket costs a greenlet; gunicorn closes a connection whose request line and
headers have not all arrived within its ``keepalive`` (``API_HEADER_TIMEOUT_SECONDS``), and
each worker serves at most ``worker_connections`` (``API_WORKER_CONNECTIONS``) at once.

gunicorn answers malformed requests (bad request line, a line or headers past the limits,
bad chunked encoding) itself, in HTML; :meth:`ApiWorker.handle_error` is gunicorn's public
hook for them and answers in JSON instead.
"""

from __future__ import annotations

import contextlib
import http
import json
import logging

from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from services.api.refusals import RefusalLog

log = logging.getLogger("services.api.access")

# gunicorn's limits of a request head (its defaults), documented in docs/security.md.
MAX_REQUEST_LINE_BYTES = 4094
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8190

_REFUSALS: list[tuple[tuple[type[Exception], ...], int, str, str]] = [
    (
        (http_errors.LimitRequestLine,),
        414,
        "uri_too_long",
        f"the request line is longer than {MAX_REQUEST_LINE_BYTES} bytes",
    ),
    (
        (http_errors.LimitRequestHeaders,),
        431,
        "headers_too_large",
        f"at most {MAX_HEADER_FIELDS} request headers of {MAX_HEADER_FIELD_BYTES} bytes each",
    ),
    (
        (http_errors.UnsupportedTransferCoding,),
        501,
        "not_implemented",
        "unsupported transfer coding",
    ),
    (
        (http_errors.ExpectationFailed,),
        417,
        "expectation_failed",
        "unsupported Expect header",
    ),
    (
        (http_errors.ParseException,),
        400,
        "bad_request",
        "malformed HTTP request",
    ),
]


def refusal(exc: BaseException) -> tuple[int, str, str]:
    """Status, code and message of the answer to ``exc`` raised while reading a request."""
    for classes, status, code, message in _REFUSALS:
        if isinstance(exc, classes):
            return status, code, message
    return 500, "internal_error", "internal server error"


def error_bytes(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response in the error shape that closes the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ApiWorker(GeventWorker):
    """gunicorn's gevent worker answering its own refusals in JSON (see the module)."""

    def handle_error(self, req, client, addr, exc):
        status, code, message = refusal(exc)
        peer = addr[0] if addr else ""
        if status >= 500:
            log.error("error reading a request", exc_info=exc, extra={"client": peer})
        else:
            self._refusal_log().log(
                "refused", status=status, code=code, reason=str(exc)[:200], client=peer
            )
        with contextlib.suppress(OSError):  # the client is gone: nothing to answer
            client.sendall(error_bytes(status, code, message))

    def _refusal_log(self) -> RefusalLog:
        # The app's, so its access lines and these share one budget.
        app = getattr(self, "wsgi", None)
        shared = getattr(app, "extensions", {}).get("refusal_log")
        if shared is None:
            shared = self.__dict__.setdefault("_own_refusal_log", RefusalLog(log, 300))
        return shared
