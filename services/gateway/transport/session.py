"""A Socket.IO session over one WebSocket: the Engine.IO v4 and Socket.IO v5 protocols
(the READMEs of socketio/engine.io-protocol and socketio/socket.io-protocol), on the
default namespace, for a client that connects with the WebSocket transport directly.

The session is the connection's reader: it reads one request at a time and answers it
before reading the next, and it reads the next only once the client has taken its
backlog of answers (``_make_room``): what a client's requests make the gateway hold is
bounded. It is also the client's :class:`~services.gateway.transport.interface.Transport`.

Incoming packets are parsed with python-socketio's packet class (its public module); what
does not follow the protocol (another packet type, a binary attachment, a malformed
payload) closes the connection, as the spec asks.
"""

from __future__ import annotations

import json
import logging
import secrets

from socketio import packet as sio_packet

from services.gateway import fastjson
from services.gateway.protocol_log import LOGGER_NAME
from services.gateway.transport import frames as wire
from services.gateway.transport.writer import Writer

log = logging.getLogger(__name__)
# What a client sent that breaks the protocol: one line each, rate limited (``protocol_log``).
refusals = logging.getLogger(LOGGER_NAME)

NAMESPACE = "/"
# Close codes (RFC 6455 7.4.1).
CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR = 1000, 1002


NOT_HANDLED = object()  # what ``handlers.event`` returns for an event it does not know


class ProtocolError(ValueError):
    """The client broke the WebSocket, Engine.IO or Socket.IO protocol: the connection is
    closed with ``close_code``."""

    def __init__(self, message: str, close_code: int = CLOSE_PROTOCOL_ERROR):
        super().__init__(message)
        self.close_code = close_code


class WebSocketSession:
    """One client's Engine.IO session on a WebSocket, and its transport."""

    __slots__ = (
        "eio_sid", "sid", "_writer", "_options", "_handlers", "_pinger", "_ping_due",
    )  # fmt: skip
    kind = "websocket"

    def __init__(self, writer: Writer, options, handlers, pinger):
        self.eio_sid = secrets.token_urlsafe(15)
        self.sid: str | None = None  # the Socket.IO sid, once the namespace is joined
        self._writer = writer
        self._options = options
        self._handlers = handlers
        self._pinger = pinger
        self._ping_due = False  # a heartbeat is scheduled with the pinger

    # --- the Transport interface --------------------------------------------------------
    def send(self, message: wire.Message) -> None:
        self._writer.send(message.frame)

    def send_many(self, messages) -> None:
        self._writer.send(b"".join([m.frame for m in messages]))

    def send_frames(self, frames: bytes) -> None:
        """Queue WebSocket frames as they are (the reader's answers to control frames)."""
        self._writer.send(frames)

    def backlog(self) -> int:
        return self._writer.backlog()

    def unread(self) -> int:
        return self._writer.unread()

    def limit_in_flight(self, max_bytes: int | None) -> None:
        self._writer.limit_in_flight(max_bytes)

    def on_behind(self, callback) -> None:
        self._writer.on_behind(callback)

    def wait_until(self, condition, timeout: float | None = None) -> bool:
        return self._writer.wait_until(condition, timeout)

    def close(self, *, abort: bool = False, goodbye: bool = True) -> None:
        """Close the connection once what was sent before is written: with ``goodbye``, a
        Socket.IO disconnect and a close frame first (the client stays away); without, the
        connection is just cut after it (the client reconnects). ``abort``: cut at once."""
        if abort:
            self._writer.drop("closed by the gateway", quiet=True)
        elif goodbye:
            # DISCONNECT ends the namespace the client is in; outside it, the close frame.
            joined = self.sid is not None
            disconnect = wire.sio_frame(wire.SIO_DISCONNECT) if joined else b""
            self._writer.finish(disconnect + wire.close_frame())
        else:
            self._writer.finish()

    @property
    def closed(self) -> bool:
        return self._writer.closed

    # --- heartbeats -------------------------------------------------------------------
    def heartbeat(self) -> None:
        """The pinger's call, a ping interval after the pong that scheduled it."""
        self._ping_due = False
        self._writer.ping()

    def _schedule_heartbeat(self) -> None:
        # One at a time: the pongs to the pings that measure reading schedule none more.
        if not self._ping_due:
            self._ping_due = True
            self._pinger.add(self)

    # --- the connection's life ----------------------------------------------------------
    # A reader drives it: :meth:`open`, then :meth:`receive` each message of the client
    # and :meth:`make_room` before reading on, then :meth:`end`. Under gevent the reader
    # waits for the client without a task (``reader``); :meth:`run` is the blocking loop
    # for a server whose WebSocket is read by a task per connection (eventlet).
    def open(self) -> None:
        """Send the Engine.IO open packet; the session starts its heartbeats."""
        options = self._options
        self._writer.send(
            wire.text_frame(
                wire.EIO_OPEN
                + json.dumps(
                    {
                        "sid": self.eio_sid,
                        "upgrades": [],
                        "pingInterval": int(options.ping_interval * 1000),
                        "pingTimeout": int(options.ping_timeout * 1000),
                        "maxPayload": options.max_message_bytes,
                    },
                    separators=(",", ":"),
                )
            )
        )
        self._handlers.opened(self)
        self._schedule_heartbeat()

    def run(self, receive) -> None:
        """Open the session, then read and answer the client until the connection ends.

        ``receive()`` returns the client's next message (str or bytes), or None once the
        connection is closed; an error from it is a lost connection."""
        self.open()
        error = None
        try:
            while self.make_room():
                try:
                    message = receive()
                except Exception as exc:  # noqa: BLE001 - a broken connection ends the session
                    if not self._writer.closed:
                        log.debug("%s: connection lost: %r", self.eio_sid, exc)
                    return
                if message is None or not self.receive(message):
                    return
        except ProtocolError as exc:
            error = exc
        finally:
            self.end(error)

    def receive(self, message: str | bytes) -> bool:
        """Handle one message of the client; False when the client closed the session.
        Raises :class:`ProtocolError` for what breaks the protocol."""
        if not isinstance(message, str):
            raise ProtocolError("binary messages are not part of this protocol")
        return self._receive(message)

    def make_room(self) -> bool:
        """Wait until the client's unsent backlog is within the bound before its next
        request; False when the connection is over (dropped if it took nothing of its
        backlog for the time it has to answer a ping)."""
        writer, bound = self._writer, self._options.max_backlog
        while writer.backlog() > bound and not writer.closed:
            written = writer.written
            if not writer.wait_until(
                lambda w=written: writer.backlog() <= bound or writer.written != w,
                self._options.ping_timeout,
            ):
                writer.drop(f"it took nothing of its backlog for {self._options.ping_timeout} s")
        return not writer.closed

    def end(self, error: ProtocolError | None = None) -> None:
        """The connection is over: close it (after what was sent; with the error's close
        code when the client broke the protocol) and tell the handlers."""
        if error is not None:
            refusals.warning("refused input from a client, closing its connection: %s", error)
            self._writer.finish(wire.close_frame(error.close_code))
        self._writer.finish(wire.close_frame(CLOSE_NORMAL))
        if self.sid is not None:
            self._handlers.disconnect(self.sid)
        self._handlers.closed(self)

    def _receive(self, message: str) -> bool:
        """Handle one Engine.IO packet; False when the client closed the session."""
        kind, data = message[:1], message[1:]
        if kind == wire.EIO_PONG:
            self._writer.pong()
            self._schedule_heartbeat()
        elif kind == wire.EIO_MESSAGE:
            self._on_sio_packet(data)
        elif kind == wire.EIO_PING:  # a client's own ping (v3 habit): answered, not required
            self._writer.send(wire.text_frame(wire.EIO_PONG + data))
        elif kind == wire.EIO_CLOSE:
            return False
        elif kind not in (wire.EIO_NOOP, wire.EIO_UPGRADE):
            raise ProtocolError(f"unknown Engine.IO packet type {kind!r}")
        return True

    def _on_sio_packet(self, encoded: str) -> None:
        if not encoded or encoded[0] not in "0123456":
            raise ProtocolError("unknown Socket.IO packet type")
        try:
            pkt = sio_packet.Packet(encoded_packet=encoded)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad ids, deep nesting
            raise ProtocolError(f"malformed Socket.IO packet: {exc}") from None
        if pkt.attachment_count:
            raise ProtocolError("binary attachments are not part of this protocol")
        namespace = pkt.namespace or NAMESPACE
        if pkt.packet_type == sio_packet.CONNECT:
            self._on_connect(namespace, pkt.data)
        elif namespace != NAMESPACE:
            raise ProtocolError(f"not connected to namespace {namespace}")
        elif pkt.packet_type == sio_packet.EVENT:
            self._on_event(pkt.id, pkt.data)
        elif pkt.packet_type == sio_packet.DISCONNECT:
            if self.sid is not None:
                sid, self.sid = self.sid, None
                self._handlers.disconnect(sid)
                self._handlers.left(self)
        elif pkt.packet_type != sio_packet.ACK:  # acks: the gateway asks for none
            raise ProtocolError(f"a client does not send Socket.IO packet type {pkt.packet_type}")

    def _on_connect(self, namespace: str, auth) -> None:
        if namespace != NAMESPACE:
            self._send_sio(
                f"{wire.SIO_CONNECT_ERROR}{namespace},", {"message": "Invalid namespace"}
            )
            return
        if self.sid is not None:
            return  # connected already
        if auth is not None and not isinstance(auth, dict):
            raise ProtocolError("the CONNECT payload must be an object")
        sid = secrets.token_urlsafe(15)
        refusal = self._handlers.connect(self, sid, auth)
        if refusal is not None:
            self._send_sio(wire.SIO_CONNECT_ERROR, {"message": refusal})
            return
        self.sid = sid
        self._send_sio(wire.SIO_CONNECT, {"sid": sid})
        self._handlers.connected(sid)

    def _on_event(self, ack_id: int | None, data) -> None:
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise ProtocolError("an EVENT's payload must be a list that starts with a name")
        if self.sid is None:
            raise ProtocolError("an EVENT before the namespace was joined")
        self._writer.answering = True
        try:
            answer = self._handlers.event(self.sid, data[0], data[1:])
            if ack_id is not None and answer is not NOT_HANDLED:
                self._writer.send(wire.ack_frame(ack_id, [] if answer is None else [answer]))
        finally:
            self._writer.answering = False

    def _send_sio(self, head: str, payload) -> None:
        self._writer.send(wire.sio_frame(head + fastjson.dumps(payload)))
