"""The gateway seen from the wire: its gauges, message sizes, raw WebSocket exchanges."""

from __future__ import annotations

import websocket
from socketio import packet

from tests.support.services import metric_samples
from tests.support.sio import open_session, raw_websocket


def gauges(gateway) -> dict[tuple, float]:
    """The connected-client and subscription gauges, by name and labels."""
    return {
        key: value
        for key, value in metric_samples(gateway.url).items()
        if key[0] in ("gateway_connected_clients", "gateway_subscriptions")
    }


def largest_message(event: str, args: tuple) -> int:
    """Bytes of the biggest WebSocket message python-socketio's client sends for this emit."""
    encoded = packet.Packet(packet.EVENT, data=[event, *args], id=1).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return max(len(p) if isinstance(p, bytes) else len(p.encode()) + 1 for p in parts)


def carries_binary(event: str, args: tuple) -> bool:
    """Whether python-socketio's client sends this emit with binary attachments."""
    return isinstance(packet.Packet(packet.EVENT, data=[event, *args], id=1).encode(), list)


def raw_exchange(gateway, token: str | None, frames: list) -> None:
    """Open a bare WebSocket, optionally join the namespace with a token, send ``frames``."""
    ws = raw_websocket(gateway.url, timeout=5)
    try:
        open_session(ws, token)
        for frame in frames:
            if isinstance(frame, bytes):
                ws.send_binary(frame)
            else:
                ws.send(frame)
    except (websocket.WebSocketException, OSError):
        pass  # the gateway may hang up on garbage: that is its right
    finally:
        ws.close()
