"""A leaner, faster engine.io WebSocket transport for the eventlet and gevent modes.

python-engineio gives every WebSocket client three tasks: the reader, a writer that sends
one packet per ``ws.send`` (one frame encoding and one ``send()`` syscall per packet per
client, plus a queue hand-off and a task switch), and a ping task that sleeps through each
ping interval. With thousands of clients those tasks are most of the gateway's CPU and of
the memory of an idle connection, and every object they hold lengthens CPython's full
garbage collections.

:class:`FrameSocket` keeps engine.io's protocol, queue (made only while something waits in
it) and reader, and changes the rest:

- each packet is framed once: an event emitted to many clients is one packet object shared
  by every recipient, and its frame is cached on it;
- a packet is written straight away, with a non-blocking ``send`` from whichever task sent
  it, when nothing is waiting to be written for that client; whatever the socket does not
  take is queued, and only then does a writer task start: it writes everything queued with
  one ``sendall`` per drain and ends when the queue is empty. Per client the bytes keep the
  order in which the packets were sent;
- inside :func:`batch` (the relay's delivery of a batch of events) messages are held back
  and each client's go out in one write at the end;
- one :class:`Pinger` task per server sends every client's pings, and a ping goes ahead of
  the messages still queued for its client: the writer takes about ``WRITE_CHUNK`` at a
  time (or one batch's write), so a ping waits behind no more than that and the kernel's
  buffers, and a client that reads slowly is not taken for dead;
- a client whose unsent backlog passes a bound is reported (``on_behind``): the hub then
  stops its live delivery and serves it from the event history at the pace it reads;
- a client's requests are read one at a time (the server handles them in its reader,
  ``async_handlers=False``), and the next only once its unsent backlog is back under the
  bound: the answers it has not taken are at most the bound and one request's, however
  large that one is (a snapshot of a big fleet). A client that takes nothing for a
  heartbeat's timeout meanwhile is dropped. So is one whose backlog of everything but
  answers still passes twice the bound: what one client makes the gateway hold is bounded;
- what a client has *read* is known from its pongs: a client answers pings in order, once
  it has read everything before them, so each pong tells how far it has read. A ping goes
  out after every quarter of the bound written, and a client with more than the bound
  written but not read is reported too. Without this, the kernel's buffers (the receiving
  side's grows to megabytes on Linux) hide a slow reader from the backlog bound, and a ping
  would wait behind megabytes that the client takes longer to read than the ping timeout.

python-engineio has no hook for its socket class, so :meth:`FastPath.install` promotes each new
socket to :class:`FrameSocket` from the engine.io ``connect`` event, which fires right after
the socket is created and before its transport starts.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import struct
import threading
import time

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio import socket as eio_socket
from socketio import packet as sio_packet

log = logging.getLogger(__name__)

_OPCODE_TEXT = 0x1
_OPCODE_BINARY = 0x2
_FIN = 0x80
_FAST_MODES = ("eventlet", "gevent")
# Bytes per blocking write of the writer task: between two, a ping can go ahead.
WRITE_CHUNK = 64 * 1024


class Frames(bytes):
    """Complete WebSocket frames, ready for the wire."""

    __slots__ = ()


def frame(payload: str | bytes) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 5.2): text for str, binary for bytes."""
    if isinstance(payload, str):
        payload, opcode = payload.encode(), _OPCODE_TEXT
    else:
        payload, opcode = bytes(payload), _OPCODE_BINARY
    n = len(payload)
    if n < 126:
        header = bytes((_FIN | opcode, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", _FIN | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", _FIN | opcode, 127, n)
    return header + payload


def packet_frame(pkt) -> bytes:
    """The frame of an engine.io packet, built once per packet object."""
    cached = pkt.__dict__.get("ws_frame")
    if cached is None:
        cached = pkt.ws_frame = frame(pkt.encode())
    return cached


_PING_FRAME = frame(eio_packet.Packet(eio_packet.PING).encode())


def _frame_of(item) -> bytes:
    return item if type(item) is Frames else packet_frame(item)


_held: list[FrameSocket] | None = None  # sockets with packets held back by batch()


@contextlib.contextmanager
def batch():
    """Hold back the messages sent to WebSocket clients, then write each client's at once.

    Only for one cooperative (eventlet/gevent) task at a time: the relay.
    """
    global _held
    if _held is not None:  # nested: the outer batch writes
        yield
        return
    _held = []
    try:
        yield
    finally:
        sockets, _held = _held, None
        for sock in sockets:
            sock.flush()


class FrameSocket(eio_socket.Socket):
    """An engine.io socket with direct writes, a writer task only on backlog, shared pings."""

    # Class-level defaults: instances are promoted from engine.io's Socket, not constructed.
    _try_send = None  # non-blocking send of the TCP socket, once the WebSocket is up
    _sendall = None  # blocking send of all bytes, for the writer
    _ws = None  # the WebSocket, once it carries the session
    # Frames of the messages held back by the open batch(). A bytearray, not a list:
    # it is not tracked by the garbage collector, so a fan-out to thousands of clients
    # leaves nothing behind that would bring CPython's next full collection forward.
    _held_frames = None
    _writing = False  # a task is writing what is queued
    _backlog = 0  # bytes queued and not yet taken by the writer
    _behind = False  # the backlog passed the bound and has not fallen back to half of it
    _urgent = None  # a ping frame the writer sends before the next of what is queued
    _partial_head = False  # the queue starts with the rest of a frame the kernel took part of
    # How far the client has read, from its pongs (see the module's docstring).
    _written = 0  # bytes handed to the kernel
    _pinged_at = 0  # the stream position after the last ping
    _read_to = 0  # the client has read up to here: the position of its last pong's ping
    # The positions of the pings not answered yet, oldest first: a list, not a deque (which
    # takes 600 bytes for the one or few entries it ever holds).
    _pings = None
    _next_check = 0  # the position at which to ping, or to see whether it reads too slowly
    _tcp = None  # the TCP socket under the WebSocket
    _max_backlog = None  # this client's own bound and send buffer (``limit_in_flight``)
    _writer_task = None
    _finished = False  # the WebSocket is closed: nothing more goes out
    _reader = None  # the task reading (and answering) the client's requests
    # Bytes of answers queued since the backlog was last within the bound: they are paced
    # by the reader (``_make_room``), not by the bound that drops a client.
    _answers = 0
    # engine.io's queue, made when something is queued and dropped once the writer has
    # emptied it: an idle client on the WebSocket needs none, and one is 2.5 KB.
    _queue = None

    @classmethod
    def promote(cls, sock: eio_socket.Socket) -> None:
        """Make engine.io's new ``sock`` a :class:`FrameSocket`, keeping what it queued."""
        sock.__class__ = cls
        sock._queue = sock.__dict__.pop("queue")

    @property
    def queue(self):
        """engine.io's queue (long-polling's transport, and the writer's backlog)."""
        if self._queue is None:
            self._queue = self.server.create_queue()
        return self._queue

    @queue.setter
    def queue(self, queue) -> None:
        self._queue = queue

    def _queued(self) -> int:
        queue = self._queue
        return 0 if queue is None else queue.qsize()

    # --- sending ------------------------------------------------------------------------
    def send(self, pkt):
        """Write ``pkt`` now (or hold it while a batch is open); engine.io's queue otherwise."""
        if self._try_send is None:  # long-polling, or upgrading: the queue is the transport
            return super().send(pkt)
        if not self.check_ping_timeout():
            return
        if pkt.packet_type == eio_packet.PING:
            self._ping(packet_frame(pkt))
            return
        if pkt.packet_type == eio_packet.MESSAGE:
            self._send_message(packet_frame(pkt))
            return
        if self._held_frames:
            self.flush()  # what was held goes first
        self._write(packet_frame(pkt))

    def send_frames(self, frames: bytes) -> bool:
        """Send complete frames (:meth:`FastPath.message_frame`: one message's, shared by
        every recipient of a fan-out, or a replay page's) after what went before, held
        while a batch is open; False when this client is not on the WebSocket yet (they
        would not be framed)."""
        if self._try_send is None:
            return False
        if self.check_ping_timeout():
            self._send_message(frames)
        return True

    def _send_message(self, frames: bytes) -> None:
        if _held is not None:
            if self._held_frames is None:
                self._held_frames = bytearray(frames)
                _held.append(self)
            else:
                self._held_frames += frames
            return
        if self._held_frames:
            self.flush()  # what was held goes first
        self._write(frames)

    def _bound(self) -> int:
        return self._max_backlog or self.server.frame_max_backlog

    def outstanding(self) -> int:
        """Bytes for this client that it has not read yet: unsent, or sent and not read."""
        return self._backlog + self._written - self._read_to

    # --- pings: heartbeats, and how far the client has read ----------------------------
    def _ping(self, ping: bytes) -> None:
        """Send a ping ahead of what is queued, at a frame boundary."""
        if self._urgent is not None or self._finished:
            return  # one is on its way: its pong serves this one's purpose too
        if self._held_frames:
            self.flush()  # what was held goes first
        if not (self._writing or self._queued()):
            sent = self._send_now(ping)
            if sent == len(ping):
                self._pinged()
                return
            ping = ping[sent:]
        self._urgent = ping
        self._start_writer()

    def _pinged(self) -> None:
        """A ping has just gone to the kernel: its pong will say the client read this far."""
        self._pinged_at = self._written
        if self._pings is None:
            self._pings = [self._written]
        else:
            self._pings.append(self._written)

    def _check_reading(self) -> None:
        """Ping after each quarter of the bound written, so that pongs keep telling, and
        report the client behind once more than the bound waits for it.

        Runs only when the position passes ``_next_check``: one comparison per write.
        """
        bound = self.server.frame_max_backlog
        if self._written - self._pinged_at >= bound // 4:
            self._ping(_PING_FRAME)
        if not self._behind and self.outstanding() > bound:
            self._behind = True  # the kernel took it, but the client reads slowly
            self.server.frame_on_behind(self.sid)
        self._next_check = min(self._pinged_at + bound // 4, self._read_to + bound + 1)

    def receive(self, pkt):
        """engine.io's, and a pong moves what the client has read up to its ping."""
        # A pong to a ping sent while long-polling would count for a later one: it only
        # moves the position early, once, for a client that has just upgraded.
        if pkt.packet_type == eio_packet.PONG and self._pings:
            self._read_to = self._pings.pop(0)
            if self._behind and self.outstanding() <= self.server.frame_max_backlog // 2:
                self._behind = False
        return super().receive(pkt)

    def limit_in_flight(self, max_bytes: int | None) -> None:
        """Hold at most ``max_bytes`` for this client, in the queue and in the kernel's send
        buffer each (None: the server's bound and buffer again)."""
        self._max_backlog = max_bytes
        if self._tcp is not None:
            self._set_send_buffer()

    def _set_send_buffer(self) -> None:
        size = self._max_backlog or self.server.frame_send_buffer
        if size:
            # A fixed size also turns off the kernel's growing of it (up to 4 MiB on Linux),
            # which would keep a slow client's backlog out of sight of the backlog bound.
            with contextlib.suppress(OSError):
                self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    def flush(self) -> None:
        """Write the messages held back by :func:`batch`."""
        frames, self._held_frames = self._held_frames, None
        if frames:
            self._write(frames)

    def _send_now(self, data: bytes | bytearray) -> int:
        """Hand the kernel what it takes of ``data`` without blocking; how much it took.
        Only when nothing is queued or being written: the bytes must keep their order."""
        try:
            sent = self._try_send(data)
        except OSError:  # the writer meets the error too and closes the connection
            sent = 0
        self._written += sent
        return sent

    def _write(self, data: bytes | bytearray) -> None:
        """Send ``data`` without blocking if nothing is ahead of it; queue what is left."""
        if self._finished:
            return
        if not (self._writing or self._queued()):
            sent = self._send_now(data)
            if sent == len(data):
                if self._written >= self._next_check:
                    self._check_reading()
                return
            if sent:
                self._partial_head = True  # no ping may go before the rest of this frame
            data = data[sent:]
        self._backlog += len(data)
        if threading.get_ident() == self._reader:
            self._answers += len(data)
        # A client's own, smaller bound (``limit_in_flight``) moves it off live delivery
        # sooner; the server's bound still decides when it is dropped.
        if self._behind and self._backlog > 2 * self.server.frame_max_backlog + self._answers:
            self._drop_slow_client("its backlog besides answers passed twice the bound")
            return
        self.queue.put(Frames(data))
        self._start_writer()
        if self._backlog > self._bound() and not self._behind:
            self._behind = True
            self.server.frame_on_behind(self.sid)

    def _drop_slow_client(self, why: str) -> None:
        """Close the connection now: the client does not read what it is sent.

        A shutdown, not a WebSocket close: a client that does not read would not read the
        close frame either, and it must not block the sender. The reader then sees the end
        of the connection and ends the session as for any lost client.
        """
        self._finished = True
        self._discard_queued()
        with contextlib.suppress(OSError):
            self._tcp.shutdown(socket.SHUT_RDWR)
        self.server.frame_on_dropped()
        log.warning("dropped %s: %s", self.sid, why)

    def _start_writer(self) -> None:
        if self._finished:
            self._discard_queued()
        elif (
            not self._writing
            and self._ws is not None
            and (self._queued() or self._urgent is not None)
        ):
            self._writing = True  # from now: the spawned writer may not have run yet
            self._writer_task = self.server.start_background_task(self._write_queued)

    def _write_queued(self) -> None:
        """Write what is queued, blocking as needed, until the queue is empty or ends."""
        self._writing = True
        try:
            while True:
                if self._urgent is not None and not self._partial_head:
                    urgent, self._urgent = self._urgent, None
                    self._sendall(urgent)
                    self._written += len(urgent)
                    self._pinged()
                if not self._queued():
                    if self._urgent is None:
                        self._queue = None  # all written; the next backlog makes another
                        return  # and starts a new writer
                    continue
                data, end, counted = self._take_queued()
                self._partial_head = False
                if data:
                    self._send_all(data)
                    if self._written >= self._next_check:
                        self._check_reading()
                # Only now: bytes still being written wait for the client as much as queued
                # ones (one queued item can be a whole replay page).
                self._backlog -= counted
                if self._behind and self._backlog <= self._bound() // 2:
                    self._behind = False
                if self._answers and self._backlog <= self.server.frame_max_backlog:
                    self._answers = 0
                if end:
                    break
        except Exception:  # noqa: BLE001 - a broken connection: close it, as engine.io does
            pass
        finally:
            self._writing = False
        self._finish()

    def _send_all(self, data: bytes) -> None:
        """Write ``data``, blocking; a long one (a snapshot of a big fleet) in pieces of
        ``WRITE_CHUNK``, so that a slow client's progress shows (``_make_room``)."""
        if len(data) <= 2 * WRITE_CHUNK:
            self._sendall(data)
            self._written += len(data)
            return
        for start in range(0, len(data), WRITE_CHUNK):
            piece = data[start : start + WRITE_CHUNK]
            self._sendall(piece)
            self._written += len(piece)

    def _take_queued(self) -> tuple[bytes, bool, int]:
        """About ``WRITE_CHUNK`` of what is queued, framed; whether the end marker (None)
        came; and how many of the bytes count in the backlog."""
        queue, frames, size, backlog = self.queue, [], 0, 0
        end = False
        while size < WRITE_CHUNK and queue.qsize():
            item = queue.get_nowait()
            queue.task_done()
            if item is None:
                end = True
                break
            data = _frame_of(item)
            frames.append(data)
            size += len(data)
            if type(item) is Frames:
                backlog += len(data)
        return b"".join(frames), end, backlog

    def _finish(self) -> None:
        """Close the WebSocket (the reader then ends the session) and drop what is queued."""
        self._finished = True
        with contextlib.suppress(Exception):
            self._ws.close()
        self._discard_queued()

    def _discard_queued(self) -> None:
        self._urgent = None
        queue = self._queue
        for _ in range(self._queued()):
            queue.get_nowait()
            queue.task_done()

    def close(self, wait=True, abort=False, reason=None):
        """engine.io's close; the end marker it queues starts the writer that closes the ws."""
        super().close(wait=False, abort=abort, reason=reason)
        if self._try_send is not None:
            self._start_writer()
        if wait:
            self.queue.join()

    # --- pings --------------------------------------------------------------------------
    def schedule_ping(self):
        """Ping again one interval after this pong, from the server's shared :class:`Pinger`."""
        if self.last_ping:
            self.last_ping = None
            pinger = self.server.__dict__.get("frame_pinger")
            if pinger is None:
                pinger = self.server.frame_pinger = Pinger(self.server)
            pinger.add(self)

    # --- the WebSocket session ----------------------------------------------------------
    def _upgrade_websocket(self, environ, start_response):
        """engine.io's, calling the WebSocket wrapper's bound ``__call__``: the reader waits
        under this call for the connection's life, and a call to a callable object costs
        it a saved C stack frame (see ``app.wsgi_entry``)."""
        if self.upgraded:
            raise OSError("Socket has been upgraded already")
        if self.server._async["websocket"] is None:
            return self.server._bad_request()
        ws = self.server._async["websocket"](self._websocket_handler, self.server)
        return ws.__call__(environ, start_response)

    def _websocket_handler(self, ws):
        """engine.io's WebSocket loop, without its writer task."""
        writers = _raw_writers(ws, self.server.async_mode)
        if writers is None:
            # Not a transport this module knows how to write to: engine.io's own path.
            queue = self.queue
            self.__class__ = eio_socket.Socket
            self.queue = queue
            return eio_socket.Socket._websocket_handler(self, ws)
        ws = _CheckedWebSocket(ws, self.server.max_http_buffer_size)
        for attr in ("_sock", "socket"):  # the read timeout engine.io sets
            with contextlib.suppress(Exception):
                getattr(ws, attr).settimeout(self.server.ping_interval + self.server.ping_timeout)
        if self.connected and not self._upgrade(ws):  # from long-polling
            return []
        self.connected = self.upgraded = True
        self._ws = ws
        self._sendall, self._try_send, self._tcp = writers
        self._set_send_buffer()
        self._write_queued()  # the open packet, the connect reply, what polling left
        self.server.logger.info("%s: Upgrade to websocket successful", self.sid)
        self._read(ws)
        self.queue.put(None)  # the writer (this task, if none runs) closes the WebSocket
        if self._writing:
            self._writer_task.join()
        else:
            self._write_queued()
        self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        return []

    def _upgrade(self, ws) -> bool:
        """The long-polling to WebSocket upgrade handshake (probe, then upgrade packet)."""
        self.upgrading = True  # the polling transport stops taking packets
        try:
            probe = eio_packet.Packet(encoded_packet=ws.wait())
            if probe.packet_type != eio_packet.PING or probe.data != "probe":
                self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                return False
            ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
            upgrade = eio_packet.Packet(encoded_packet=ws.wait())
            if upgrade.packet_type != eio_packet.UPGRADE:
                self.server.logger.info("%s: Failed websocket upgrade, no UPGRADE packet", self.sid)
                return False
            return True
        finally:
            self.upgrading = False

    def _read(self, ws) -> None:
        """Receive packets until the client goes or the connection breaks."""
        self._reader = threading.get_ident()
        while self._make_room():
            try:
                message = ws.wait()
            except Exception as exc:  # noqa: BLE001 - a broken connection ends the session
                if not self.closed:
                    self.server.logger.info("%s: Unexpected error %r, closing", self.sid, exc)
                return
            if message is None:  # closed by the client
                return
            try:
                self.receive(eio_packet.Packet(encoded_packet=message))
            except eio_exceptions.UnknownPacketError:
                pass
            except eio_exceptions.SocketIsClosedError:
                return
            except Exception:
                self.server.logger.exception("Unknown receive error")
                return

    def _make_room(self) -> bool:
        """Wait until the client's unsent backlog is within the bound before its next
        request; False when the connection is over (dropped if it took nothing of its
        backlog for the time it has to answer a ping)."""
        bound = self.server.frame_max_backlog
        if self._backlog <= bound:
            return not self._finished
        patience = self.server.ping_timeout
        written, deadline = self._written, time.monotonic() + patience
        while self._backlog > bound and not self._finished:
            if self._written != written:
                written, deadline = self._written, time.monotonic() + patience
            elif time.monotonic() > deadline:
                self._drop_slow_client(f"it took nothing of its backlog for {patience} s")
                break
            self.server.sleep(0.01)
        return not self._finished


class _CheckedWebSocket:
    """The transport's WebSocket, reading only what python-engineio can take.

    It decodes a frame outside its error handling, so a frame such as ``""`` or ``"hello"``
    would end a reader without the clean-up that closes the connection, leaving the client
    counted and subscribed until the ping timeout: such a frame reads as a close (None).
    """

    def __init__(self, ws, max_size: int):
        self._inner = ws
        self._max_size = max_size

    def wait(self):
        message = self._inner.wait()
        if message is None:
            return None
        if len(message) > self._max_size:
            raise ValueError("packet is too large")
        if isinstance(message, str) and not (message and "0" <= message[0] <= "6"):
            return None
        return message

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Pinger:
    """Pings every client one interval after its last pong, from a single task.

    engine.io starts (and keeps asleep) one task per client for this. All clients share the
    interval, so the clients due next are always at the front of one FIFO.
    """

    def __init__(self, server):
        self._server = server
        self._due: collections.deque[tuple[float, FrameSocket]] = collections.deque()
        self._task = None

    def add(self, sock: FrameSocket) -> None:
        self._due.append((time.monotonic() + self._server.ping_interval, sock))
        if self._task is None:
            self._task = self._server.start_background_task(self._run)

    def _run(self) -> None:
        due, sleep = self._due, self._server.sleep
        while True:
            now = time.monotonic()
            pinged = 0
            while due and due[0][0] <= now:
                _, sock = due.popleft()
                self._ping(sock)
                pinged += 1
                if pinged % 500 == 0:
                    sleep(0)  # a crowd of pings must not hold up event delivery
            sleep(min(due[0][0] - now, 1.0) if due else 1.0)

    @staticmethod
    def _ping(sock: FrameSocket) -> None:
        if sock.closing or sock.closed:
            return
        sock.last_ping = time.time()
        try:
            sock.send(eio_packet.Packet(eio_packet.PING))
        except Exception:
            log.exception("ping to %s failed", sock.sid)


def _raw_writers(ws, async_mode: str):
    """``(sendall, try_send, tcp_socket)`` of the socket under ``ws``, Nagle off; None if
    unknown.

    ``try_send`` never blocks: it returns how many bytes the socket took (0 when full).
    Node's Socket.IO server disables Nagle's algorithm too: with it, a small frame can wait
    for the ACK of the previous one (delayed ACK: up to 40 ms on Linux).
    """
    if async_mode == "eventlet":
        from eventlet.websocket import RFC6455WebSocket

        if not isinstance(ws, RFC6455WebSocket):
            return None
        green = ws.socket
        sendall, real = green.sendall, green.fd  # fd: the non-blocking OS socket

        def try_send(data: bytes) -> int:
            try:
                return real.send(data)
            except BlockingIOError:
                return 0

        sock = real
    else:
        inner = getattr(ws, "_sock", None)  # engine.io's wrapper holds gevent-websocket's
        if getattr(inner, "raw_write", None) is None:
            return None
        sock, sendall = inner.handler.socket, inner.raw_write

        def try_send(data: bytes) -> int:
            try:
                return sock.send(data, 0, 0.0)  # gevent: timeout 0 raises instead of waiting
            except BlockingIOError:
                return 0

    with contextlib.suppress(OSError):  # not TCP (a Unix socket): nothing to disable
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sendall, try_send, sock


class FastPath:
    """What the hub uses of this transport, for the clients of one python-socketio server."""

    batch = staticmethod(batch)

    def __init__(self, server):
        self._server = server

    def install(
        self, *, max_backlog_bytes: int, on_behind, on_dropped, send_buffer_bytes: int
    ) -> None:
        """Serve the server's WebSocket clients with :class:`FrameSocket` (only where
        :func:`supported`). ``on_behind(sid)`` is called (with the Socket.IO sid) when a
        client's unsent backlog passes ``max_backlog_bytes``; past twice that the connection
        is dropped and ``on_dropped()`` called. A ``send_buffer_bytes`` above 0 fixes the
        kernel's send buffer of each client socket.
        """
        server, eio = self._server, self._server.eio
        eio.frame_max_backlog = max_backlog_bytes
        eio.frame_on_dropped = on_dropped

        def behind(eio_sid: str) -> None:
            sid = server.manager.sid_from_eio_sid(eio_sid, "/")
            if sid is not None:
                on_behind(sid)

        eio.frame_on_behind = behind
        eio.frame_send_buffer = send_buffer_bytes
        on_connect = eio.handlers["connect"]

        def promote_then_connect(eio_sid, environ, *args):
            sock = eio.sockets.get(eio_sid)
            if type(sock) is eio_socket.Socket:
                FrameSocket.promote(sock)
            return on_connect(eio_sid, environ, *args)

        eio.handlers["connect"] = promote_then_connect

    def _socket(self, sid: str):
        sock = self._server.eio.sockets.get(self._server.manager.eio_sid_from_sid(sid, "/"))
        return sock if isinstance(sock, FrameSocket) else None

    def bounds(self, sid: str) -> bool:
        """Whether this transport writes to the client ``sid``, and so bounds its backlog
        (False for long-polling, or while it upgrades)."""
        sock = self._socket(sid)
        return sock is not None and sock._try_send is not None

    def backlog(self, sid: str) -> int:
        """Bytes waiting unsent for the client ``sid`` (0 if unknown)."""
        sock = self._socket(sid)
        return sock._backlog if sock else 0

    def outstanding(self, sid: str) -> int:
        """Bytes for the client ``sid`` that it has not read yet (0 if unknown): see
        :meth:`FrameSocket.outstanding`."""
        sock = self._socket(sid)
        return sock.outstanding() if sock else 0

    def limit_in_flight(self, sid: str, max_bytes: int | None) -> None:
        """See :meth:`FrameSocket.limit_in_flight`; nothing for a client not served here."""
        sock = self._socket(sid)
        if sock is not None:
            sock.limit_in_flight(max_bytes)

    def write_frames(self, sid: str, frames: bytes) -> bool:
        """Write frames to the client ``sid``; False when it cannot take them as such
        (long-polling, or not served by this transport): emit instead."""
        sock = self._socket(sid)
        return sock is not None and sock.send_frames(frames)

    def message_frame(self, event: str, data) -> bytes:
        """The frame of the Socket.IO event ``event`` with ``data`` to the default
        namespace, as python-socketio's emit sends it, built with its own packet classes."""
        return packet_frame(self._message_packet(event, data))

    def _message_packet(self, event: str, data) -> eio_packet.Packet:
        pkt = self._server.packet_class(sio_packet.EVENT, namespace="/", data=[event, data])
        return eio_packet.Packet(eio_packet.MESSAGE, data=pkt.encode())

    def fan_out(self, event: str, data, rooms: list[str] | None, skip: list[str] | None) -> None:
        """Emit ``event`` to the clients of this process in ``rooms`` (None: all of them) but
        those in ``skip``, as python-socketio's emit does, with one frame for all.

        Per recipient only a dictionary lookup and the socket's own write remain: through
        python-socketio's emit each recipient costs three more calls (``_send_eio_packet``,
        ``send_packet``, ``_get_socket``); at 200 clients and 60k-80k msg/s this saves
        3-5 % of a core and halves the p99 (``docs/performance.md``, sixth round).
        """
        server = self._server
        sockets = server.eio.sockets
        skipped = set(skip) if skip else ()
        message = polling = None
        for sid, eio_sid in server.manager.get_participants("/", rooms):
            if sid in skipped:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            if type(sock) is FrameSocket:
                if message is None:
                    message = self.message_frame(event, data)
                if sock.send_frames(message):
                    continue
            if polling is None:  # long-polling, or upgrading: engine.io's queue
                polling = self._message_packet(event, data)
            sock.send(polling)


def supported(async_mode: str, compression: bool) -> bool:
    """Whether :class:`FastPath` can serve clients in this configuration: eventlet or gevent,
    and no permessage-deflate (a compressed frame differs per connection, so it cannot be
    shared)."""
    return async_mode in _FAST_MODES and not compression
