"""The bounded writer of one WebSocket connection: the delivery side of our transport.

- A frame is written at once, with a non-blocking send from whichever task sends it, when
  nothing waits ahead of it; what the kernel does not take is queued, and only then does a
  writer task start: it writes what is queued about ``WRITE_CHUNK`` at a time and ends when
  the queue is empty. An idle connection has no task, no queue and no buffer.
- What the client has *read* is known from its pongs: a client answers pings in order,
  once it has read everything before them, so each pong tells how far it has read. A ping
  goes out after every quarter of the bound written, ahead of what is still queued (at a
  frame boundary), so that the kernel's buffers do not hide a slow reader.
- A connection with more than the bound unsent, or written and not read, is reported
  behind (``on_behind``) once, until it is back under half the bound; delivery then stops
  sending it live events and serves it from the history at its own pace. One whose unsent
  backlog of everything but answers passes twice the bound is dropped.
- Parts that wait for the client (a replay, the reader's next request) wait on an event
  that the writer sets when the client's progress lets them go on: nothing polls.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket

from services.gateway.transport.frames import PING_FRAME
from services.gateway.transport.progress import Progress

log = logging.getLogger(__name__)

# Bytes per blocking write of the writer task: between two, a ping can go ahead.
WRITE_CHUNK = 64 * 1024


class RawSocket:
    """How the writer reaches the client's TCP socket: ``try_send(data)`` takes what the
    kernel accepts without blocking and returns how many bytes; ``sendall(data)`` blocks
    (cooperatively); ``tcp`` is the socket, for its options and shutdown."""

    __slots__ = ("try_send", "sendall", "tcp")

    def __init__(self, try_send, sendall, tcp):
        self.try_send = try_send
        self.sendall = sendall
        self.tcp = tcp


class Writer:
    """Writes frames to one client in order, bounded, and tracks how far it has read."""

    __slots__ = (
        "_raw", "_bound", "_spawn", "_progress", "_on_behind", "_on_dropped", "_queue",
        "_writing", "_backlog", "_answers", "_behind", "_urgent", "_partial_head",
        "_written", "_pinged_at", "_read_to", "_pings", "_next_check", "_max_backlog",
        "_closed", "_ending", "_send_buffer", "_kernel_send_buffer", "answering",
    )  # fmt: skip

    def __init__(self, raw: RawSocket, *, bound: int, send_buffer: int, runtime, on_dropped):
        self._raw = raw
        self._bound = bound
        self._send_buffer = send_buffer
        self._spawn = runtime.spawn
        self._progress = Progress(runtime.event)
        self._on_behind = None
        self._on_dropped = on_dropped
        self._queue: collections.deque | None = None  # made when something waits unsent
        self._writing = False  # a writer task runs
        self._backlog = 0  # bytes queued and not yet written by the writer task
        self._answers = 0  # of which answers to requests: paced by the reader, not dropped
        self._behind = False
        self._urgent: bytes | None = None  # a ping that goes ahead of what is queued
        self._partial_head = False  # the queue starts with the rest of a partly sent frame
        self._written = 0  # bytes handed to the kernel
        self._pinged_at = 0  # the position after the last ping
        self._read_to = 0  # the client has read this far: the position of its last pong's ping
        self._pings: list[int] | None = None  # positions of the pings not answered yet
        self._next_check = 0  # the position at which to ping or check the reading again
        self._max_backlog: int | None = None  # this client's own, smaller bound
        self._closed = False  # nothing more is written
        self._ending = False  # nothing more is taken: the writer closes once it has written all
        self.answering = False  # the reader is writing answers to a request
        self._kernel_send_buffer: int | None = None  # before the first size was set
        self._set_send_buffer()

    # --- what delivery uses ---------------------------------------------------------
    def on_behind(self, callback) -> None:
        """Call ``callback()`` when the client falls behind (see the module docstring)."""
        self._on_behind = callback

    def send(self, frames: bytes) -> None:
        """Write ``frames`` after everything sent before; never blocks."""
        if self._closed or self._ending:
            return
        if not (self._writing or self._queue):
            sent = self._send_now(frames)
            if sent == len(frames):
                if self._written >= self._next_check:
                    self._check_reading()
                return
            if sent:
                self._partial_head = True  # no ping may go before the rest of this frame
            frames = frames[sent:]
        self._enqueue(frames)

    def backlog(self) -> int:
        """Bytes waiting unsent."""
        return self._backlog

    def unread(self) -> int:
        """Bytes the client has not read yet: unsent, or sent and not acknowledged by a pong."""
        return self._backlog + self._written - self._read_to

    def limit_in_flight(self, max_bytes: int | None) -> None:
        """Hold at most ``max_bytes`` for this client before it counts as behind, and size
        its kernel send buffer so (None: the server's bound and buffer again)."""
        self._max_backlog = max_bytes
        self._set_send_buffer()

    def wait_until(self, condition, timeout: float | None = None) -> bool:
        """Wait until ``condition()`` holds, re-checked at each progress of the client
        (bytes written, a pong); False when the connection closed first or on timeout."""
        return self._progress.wait_until(condition, lambda: self._closed, timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def written(self) -> int:
        """Bytes handed to the kernel so far: the client's progress."""
        return self._written

    # --- pings and pongs --------------------------------------------------------------
    def ping(self) -> None:
        """Send a ping ahead of what is queued, at a frame boundary."""
        if self._urgent is not None or self._closed:
            return  # one is on its way: its pong serves this one's purpose too
        ping = PING_FRAME
        if not (self._writing or self._queue):
            sent = self._send_now(ping)
            if sent == len(ping):
                self._pinged()
                return
            ping = ping[sent:]
        self._urgent = ping
        self._start_writer()

    def pong(self) -> None:
        """The client answered the oldest ping: it has read up to it."""
        if self._pings:
            self._read_to = self._pings.pop(0)
            if self._behind and self.unread() <= self._bound // 2:
                self._behind = False
            self._progress.made(self._closed)

    def _pinged(self) -> None:
        self._pinged_at = self._written
        if self._pings is None:
            self._pings = [self._written]
        else:
            self._pings.append(self._written)

    def _check_reading(self) -> None:
        """Ping after each quarter of the bound written; report the client behind once more
        than the bound waits for it. Runs only when the position passes ``_next_check``."""
        bound = self._bound
        if self._written - self._pinged_at >= bound // 4:
            self.ping()
        if not self._behind and self.unread() > bound:
            self._fall_behind()  # the kernel took it, but the client reads slowly
        self._next_check = min(self._pinged_at + bound // 4, self._read_to + bound + 1)

    # --- writing ------------------------------------------------------------------------
    def _limit(self) -> int:
        return self._max_backlog or self._bound

    def _fall_behind(self) -> None:
        self._behind = True
        if self._on_behind is not None:
            self._on_behind()

    def _send_now(self, data) -> int:
        """Hand the kernel what it takes of ``data`` without blocking (nothing is ahead)."""
        try:
            sent = self._raw.try_send(data)
        except OSError:  # the reader meets the error too and ends the session
            sent = 0
        self._written += sent
        return sent

    def _enqueue(self, frames: bytes) -> None:
        self._backlog += len(frames)
        if self.answering:
            self._answers += len(frames)
        elif self._behind and self._backlog > 2 * self._bound + self._answers:
            self.drop("its backlog besides answers passed twice the bound")
            return
        if self._queue is None:
            self._queue = collections.deque()
        self._queue.append(frames)
        self._start_writer()
        if self._backlog > self._limit() and not self._behind:
            self._fall_behind()

    def _start_writer(self) -> None:
        if not self._writing and not self._closed:
            self._writing = True  # from now: the spawned task may not have run yet
            self._spawn(self._write_queued)

    def _write_queued(self) -> None:
        """Write what is queued, blocking as needed, until the queue is empty."""
        try:
            while not self._closed:
                if self._urgent is not None and not self._partial_head:
                    urgent, self._urgent = self._urgent, None
                    self._raw.sendall(urgent)
                    self._written += len(urgent)
                    self._pinged()
                if not self._queue:
                    if self._urgent is None:
                        self._queue = None  # all written; the next backlog makes another
                        if self._ending:
                            self._close_now()
                        break
                    continue
                data = self._take_queued()
                self._partial_head = False
                for start in range(0, len(data), WRITE_CHUNK):  # a slow client's progress shows
                    piece = data[start : start + WRITE_CHUNK]
                    self._raw.sendall(piece)
                    self._written += len(piece)
                    self._progress.made(self._closed)
                # Only now: bytes being written wait for the client as much as queued ones.
                self._backlog -= len(data)
                if self._behind and self._backlog <= self._limit() // 2:
                    self._behind = False
                if self._answers and self._backlog <= self._bound:
                    self._answers = 0
                if self._written >= self._next_check:
                    self._check_reading()
                self._progress.made(self._closed)
        except OSError:
            self.drop("the connection broke while writing", quiet=True)
        finally:
            self._writing = False

    def _take_queued(self) -> bytes:
        """About ``WRITE_CHUNK`` of what is queued, in one piece."""
        queue, parts, size = self._queue, [], 0
        while queue and size < WRITE_CHUNK:
            part = queue.popleft()
            parts.append(part)
            size += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # --- the end --------------------------------------------------------------------------
    def finish(self, last: bytes = b"") -> None:
        """Write ``last`` (a goodbye) after what is queued, then close. A client that does
        not take it is dropped by whoever waits for it (``wait_until``, then ``drop``)."""
        if self._closed or self._ending:
            return
        if last:
            self.send(last)
        self._ending = True
        if not self._writing:
            self._close_now()

    def _close_now(self) -> None:
        self._closed = True
        self._shutdown()
        self._progress.made(self._closed)

    def drop(self, why: str, *, quiet: bool = False) -> None:
        """Close the connection now, without a goodbye: the client does not read what it is
        sent, so it would not read a close frame either, and it must not block the sender.
        The reader then sees the end and ends the session as for any lost client."""
        if self._closed:
            return
        self._closed = True
        self._queue = None
        self._urgent = None
        self._shutdown()
        self._progress.made(self._closed)
        if not quiet:
            self._on_dropped()
            log.warning("dropped a client: %s", why)

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.tcp.shutdown(socket.SHUT_RDWR)

    def _set_send_buffer(self) -> None:
        size = self._max_backlog or self._send_buffer
        if not size and self._kernel_send_buffer is None:
            return  # the kernel's own size, never changed
        with contextlib.suppress(OSError):
            if self._kernel_send_buffer is None:
                # Linux reports twice what was set (its bookkeeping): half of it restores it.
                tcp = self._raw.tcp
                self._kernel_send_buffer = tcp.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2
            # A fixed size also turns off the kernel's growing of it (up to 4 MiB on Linux),
            # which would keep a slow client's backlog out of sight of the bound.
            self._raw.tcp.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, size or self._kernel_send_buffer
            )
