"""The log of python-socketio and python-engineio: one JSON line per refused input, rate limited.

Left to themselves, the two libraries log to a logger of their own with a plain-text stderr
handler of their own beside the process's JSON one (each error twice, in two formats), and
a client's undecodable packet (``42[``) as a full traceback. Given a logger (their public
``logger``/``engineio_logger`` options), they add no handler; this module makes that logger:

- its lines go to the process's handlers (JSON, ``shared.logs``), once;
- an error raised while decoding what a client sent is one line naming the error, without
  a traceback (a traceback that passes through our code or Flask-SocketIO's is a bug of
  ours and keeps it);
- at most ``burst`` lines per ``window`` seconds; the next line after a quiet spell says
  how many were dropped. A client repeating a bad packet cannot flood the log.
"""

from __future__ import annotations

import logging
import threading
import time

LOGGER_NAME = "services.gateway.protocol"
# Packages of the code that handles a client's request on our side: a traceback through
# them is a bug to see in full, not a refused input. Our JSON codec, which the libraries
# call to decode a packet, is not among them.
_OUR_CODE = ("/services/", "/shared/", "/flask_socketio/")
_CODEC = ("/services/gateway/fastjson.py",)
# Lines of the protocol log per window: a client repeating a bad packet gets this many.
BURST = 10
WINDOW_SECONDS = 10.0


class RefusedInputFilter(logging.Filter):
    """Shortens refused-input errors to one line, and rate limits the logger's lines."""

    def __init__(self, burst: int = BURST, window: float = WINDOW_SECONDS, clock=time.monotonic):
        super().__init__()
        self._burst = burst
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = None
        self._in_window = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self._clock()
            if self._window_start is None or now - self._window_start >= self._window:
                self._window_start, self._in_window = now, 0
            if self._in_window >= self._burst:
                self._dropped += 1
                return False
            self._in_window += 1
            dropped, self._dropped = self._dropped, 0
        if record.exc_info and _from_client_input(record.exc_info):
            error = record.exc_info[1]
            record.msg = "refused input from a client: %s: %s"
            record.args = (type(error).__name__, str(error)[:200])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        if dropped:
            record.droppedLines = dropped  # a field of the JSON line (``shared.logs``)
        return True


def _from_client_input(exc_info) -> bool:
    """Whether the exception was raised by the libraries alone, decoding a client's packet."""
    tb = exc_info[2]
    if tb is None:
        return False
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if any(part in filename for part in _OUR_CODE) and not filename.endswith(_CODEC):
            return False
        tb = tb.tb_next
    return True


def protocol_logger() -> logging.Logger:
    """The logger to give python-socketio and python-engineio (one for both)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, RefusedInputFilter) for f in logger.filters):
        logger.addFilter(RefusedInputFilter())
        # Their INFO lines are one per packet; warnings and errors are what is wanted.
        logger.setLevel(logging.WARNING)
    return logger
