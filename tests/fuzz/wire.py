"""The gateway seen from the wire: its gauges, message sizes, raw WebSocket exchanges."""

from __future__ import annotations

import json

import requests
import websocket
from prometheus_client.parser import text_string_to_metric_families
from socketio import packet

from shared import contract


def gauges(gateway) -> dict[tuple, float]:
    """The connected-client and subscription gauges, by name and labels."""
    text = requests.get(gateway.url + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in ("gateway_connected_clients", "gateway_subscriptions")
        for sample in family.samples
    }


def largest_message(event: str, args: tuple) -> int:
    """Bytes of the biggest WebSocket message python-socketio's client sends for this emit."""
    encoded = packet.Packet(packet.EVENT, data=[event, *args], id=1).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return max(len(p) if isinstance(p, bytes) else len(p.encode()) + 1 for p in parts)


def raw_exchange(gateway, token: str | None, frames: list) -> None:
    """Open a bare WebSocket, optionally join the namespace with a token, send ``frames``."""
    url = gateway.url.replace("http", "ws") + contract.SOCKETIO_PATH + "/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=5)
    try:
        assert ws.recv().startswith("0")  # Engine.IO open
        if token is not None:
            ws.send("40" + json.dumps({"token": token}))
            assert ws.recv().startswith("40")
        for frame in frames:
            if isinstance(frame, bytes):
                ws.send_binary(frame)
            else:
                ws.send(frame)
    except (websocket.WebSocketException, OSError):
        pass  # the gateway may hang up on garbage: that is its right
    finally:
        ws.close()
