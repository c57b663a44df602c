"""Reading a client's WebSocket without a task while the client is quiet (gevent).

Most clients send a pong every ping interval and little else. A task per connection that
waits in ``receive()`` costs, for every idle client, its greenlet, the C stack gevent saves
for it and its frames. Here a waiting connection holds a watcher on its socket and a
timer of the event loop: when bytes arrive, a short task reads what arrived, parses the
frames (wsproto, behind our frame-size limit: ``frame_limit``), hands each message to the
session, waits until the client has taken its answers (``session.make_room``), and ends;
the watcher wakes the next one. Only one task reads a connection at a time, so a client's
requests are still answered one by one, in order.

The timer ends a session whose client sent nothing for a ping interval and timeout (it
would have answered a ping), as a socket timeout did for a waiting task.
"""

from __future__ import annotations

import logging

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from services.gateway.frame_limit import CLOSE_MESSAGE_TOO_BIG, FrameLimit, MessageTooBig
from services.gateway.transport.session import ProtocolError

log = logging.getLogger(__name__)

READ_SIZE = 65536  # bytes read per wake-up at most: one wake-up of a busy client is bounded
_READ = 1  # libev's EV_READ


class WebSocketReader:
    """Reads one client's WebSocket for its :class:`~.session.WebSocketSession`."""

    __slots__ = (
        "_sock", "_session", "_spawn", "_watcher", "_silence", "_limit", "_frames", "_parts",
        "_linger",
    )  # fmt: skip

    def __init__(self, sock, session, *, loop, spawn, max_message_bytes: int, silence: float):
        """``sock``: the connection's (gevent) socket; ``loop``: gevent's event loop, for a
        read watcher and a timer; ``spawn(fn, *args)`` starts a task."""
        self._sock = sock
        self._session = session
        self._spawn = spawn
        self._watcher = loop.io(sock.fileno(), _READ)
        self._silence = loop.timer(silence, silence)
        self._linger = silence
        self._limit = FrameLimit(max_message_bytes)
        self._frames = Connection(ConnectionType.SERVER)
        self._parts: list[str] = []  # text of a message that came in several frames

    def start(self) -> None:
        """Open the session; from now on the loop wakes the reader."""
        self._session.open()
        self._wait()

    # --- waiting (the event loop's callbacks: they must not block) ---------------------
    def _wait(self) -> None:
        self._silence.again(self._silent)  # restarts the countdown
        self._watcher.start(self._readable)

    def _readable(self) -> None:
        self._stop_waiting()
        self._spawn(self._turn)

    def _silent(self) -> None:
        self._stop_waiting()
        log.debug("%s: silent for %s s", self._session.eio_sid, self._linger)
        self._spawn(self._end, None)

    def _stop_waiting(self) -> None:
        self._watcher.stop()
        self._silence.stop()

    # --- a turn: read what arrived and answer it ---------------------------------------
    def _turn(self) -> None:
        try:
            going_on = self._read()
        except ProtocolError as exc:
            self._end(exc)
        except Exception:
            log.exception("%s: ending the session", self._session.eio_sid)
            self._end(None)
        else:
            if going_on and self._session.make_room():
                self._wait()
            else:
                self._end(None)

    def _read(self) -> bool:
        """Read and handle what the client sent; False when the connection is over."""
        try:
            data = self._sock.recv(READ_SIZE)
        except OSError as exc:  # reset, or shut down by the writer (a drop)
            if not self._session.closed:
                log.debug("%s: connection lost: %r", self._session.eio_sid, exc)
            return False
        if not data:
            return False
        try:
            self._limit.feed(data)
        except MessageTooBig as exc:
            raise ProtocolError(str(exc), CLOSE_MESSAGE_TOO_BIG) from None
        self._frames.receive_data(data)
        for event in self._frames.events():
            if isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    message = "".join(self._parts)
                    self._parts.clear()
                    if not (self._session.make_room() and self._session.receive(message)):
                        return False
            elif isinstance(event, Ping):
                self._session.send_frames(self._frames.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self._frames.state is not ConnectionState.REMOTE_CLOSING:
                    raise ProtocolError(event.reason or "bad WebSocket frame", event.code)
                return False  # the client's close frame
            elif isinstance(event, BytesMessage):
                self._session.receive(event.data)  # refused there, as binary is anywhere
        return True

    def _end(self, error: ProtocolError | None) -> None:
        """End the session, let the writer take its last frames out, close the socket."""
        session = self._session
        try:
            session.end(error)
            session.wait_until(lambda: session.closed, self._linger)
        finally:
            self._watcher.close()
            self._silence.close()
            self._sock.close()
