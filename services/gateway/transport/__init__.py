"""The gateway's transport: how bytes reach a client, behind one small interface.

Delivery (``services.gateway.delivery``) sees every client as a :class:`Transport`:

- ``send(message)`` / ``send_many(messages)``: queue events in order; never blocks;
- ``backlog()``: bytes not yet handed to the kernel (or, long-polling, not yet polled);
- ``unread()``: bytes the client has not read yet (sent ones count until a pong says so);
- ``limit_in_flight(bytes | None)``: a smaller bound for a client that prefers the present;
- ``on_behind(callback)``: called once when the client falls behind, until it catches up;
- ``wait_until(condition, timeout)``: wait for the client's progress, signalled, not polled;
- ``close(goodbye=, abort=)``: after what was sent, with a Socket.IO goodbye (the client
  stays away) or without (it reconnects); ``abort`` cuts at once; ``closed``.

Two implementations: :class:`~.session.WebSocketSession` (ours: Engine.IO and Socket.IO
over the server's WebSocket, a bounded writer, shared pings), and
:class:`~.polling.PollingTransport` (python-socketio's long-polling, through its public
API). :mod:`.endpoint` routes each request to one of them.
"""

from services.gateway.transport.frames import Message

__all__ = ["Message"]
