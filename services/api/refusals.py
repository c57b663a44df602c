"""Lines about refused requests, at a bounded rate.

Every refused request (a 4xx of the app, or malformed HTTP the server refuses itself) is
worth one log line, but a client can send thousands a second: each process writes at most
``LOG_REFUSED_PER_MINUTE`` of them a minute and counts the rest, which the first line of
the next minute reports as ``suppressed``. Metrics still count every request.
"""

from __future__ import annotations

import logging
import threading
import time

WINDOW_SECONDS = 60.0


class RefusalLog:
    """Logs to ``logger`` at most ``per_minute`` lines per fixed one-minute window."""

    def __init__(self, logger: logging.Logger, per_minute: int, clock=time.monotonic):
        self.logger = logger
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._window_started = clock()
        self._written = 0
        self._suppressed = 0

    def log(self, message: str, level: int = logging.INFO, **fields) -> bool:
        """Write one line with ``fields`` unless this minute's budget is spent; True if
        written."""
        with self._lock:
            now = self._clock()
            carried = 0
            if now - self._window_started >= WINDOW_SECONDS:
                carried, self._suppressed = self._suppressed, 0
                self._window_started, self._written = now, 0
            if self._written >= self.per_minute:
                self._suppressed += 1
                return False
            self._written += 1
        if carried:
            fields["suppressed"] = carried  # lines left out in the previous minute
        self.logger.log(level, message, extra=fields)
        return True
