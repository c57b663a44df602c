"""Structured logging: one JSON object per line, with the request id of the current context.

Both services call :func:`configure_logging` once at start-up. Code that handles a request
sets :data:`request_id` (a context variable, so it follows threads and green threads) and
every line logged meanwhile carries it.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from shared.events import dumps, utc_now_iso

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else passed with ``extra=`` is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as compact JSON: time, level, logger, message, request id, extras."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": utc_now_iso(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            line["requestId"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return dumps(line) if _serializable(line) else dumps({k: str(v) for k, v in line.items()})


def _serializable(line: dict) -> bool:
    try:
        dumps(line)
    except (TypeError, ValueError):
        return False
    return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log line of the process to stderr as JSON (replaces existing handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pymongo logs every command's documents at DEBUG: user data, which may carry anything a
    # client sent (a token pasted in a name). Its other loggers (connections, server
    # selection) stay at the service's level.
    logging.getLogger("pymongo.command").setLevel(max(logging.INFO, root.level))
    # Python warnings (e.g. gevent's about the order of imports) as JSON lines too.
    logging.captureWarnings(True)
