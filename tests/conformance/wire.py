"""Raw Engine.IO / Socket.IO clients: HTTP long-polling with requests, WebSocket frames
with websocket-client. Each helper does what the spec describes and nothing more."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import requests
import websocket

from shared.contract import SOCKETIO_PATH

SEPARATOR = "\x1e"  # between the packets of one long-polling payload


def eio_url(gateway, scheme: str = "http", **query) -> str:
    base = gateway.url.replace("http", scheme, 1)
    return f"{base}{SOCKETIO_PATH}/?{urlencode(query)}"


def decode_open(packet: str) -> dict:
    assert packet.startswith("0"), f"expected an open packet, got {packet!r}"
    return json.loads(packet[1:])


# --- HTTP long-polling -----------------------------------------------------------------
class Polling:
    """One long-polling session: ``get`` and ``post`` with its sid."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.http = requests.Session()
        response = self.http.get(eio_url(gateway, EIO=4, transport="polling"), timeout=5)
        assert response.status_code == 200, response.text
        self.open = decode_open(response.text)
        self.sid = self.open["sid"]

    @property
    def url(self) -> str:
        return eio_url(self.gateway, EIO=4, transport="polling", sid=self.sid)

    def get(self, timeout: float = 5) -> requests.Response:
        return self.http.get(self.url, timeout=timeout)

    def packets(self, timeout: float = 5) -> list[str]:
        """One GET's payload, split into its packets."""
        response = self.get(timeout)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.text.split(SEPARATOR)

    def post(self, *packets: str, timeout: float = 5) -> requests.Response:
        return self.http.post(self.url, data=SEPARATOR.join(packets).encode(), timeout=timeout)

    def until(self, predicate, timeout: float = 10) -> list[str]:
        """GET until a packet matches ``predicate``, answering pings; every packet seen."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for packet in self.packets(timeout=max(deadline - time.monotonic(), 0.5)):
                seen.append(packet)
                if packet == "2":
                    assert self.post("3").text == "ok"
                elif predicate(packet):
                    return seen
        raise AssertionError(f"no matching packet in {seen!r}")


# --- WebSocket ---------------------------------------------------------------------------
def ws_connect(gateway, timeout: float = 5, **query) -> websocket.WebSocket:
    query = {"EIO": 4, "transport": "websocket", **query}
    return websocket.create_connection(eio_url(gateway, "ws", **query), timeout=timeout)


def ws_open(gateway, timeout: float = 5) -> tuple[websocket.WebSocket, dict]:
    """A WebSocket-only session and its open packet's payload."""
    ws = ws_connect(gateway, timeout)
    return ws, decode_open(ws.recv())


def ws_next(ws: websocket.WebSocket, answer_pings: bool = True, timeout: float = 5):
    """The next frame that is not a ping (pings answered with a pong on the way); raises
    ``WebSocketTimeoutException`` when none comes within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise websocket.WebSocketTimeoutException("no frame but pings")
        ws.settimeout(left)
        frame = ws.recv()
        if frame == "2" and answer_pings:
            ws.send("3")
            continue
        return frame


def ws_closed(ws: websocket.WebSocket, timeout: float) -> bool:
    """True when the server closes the connection within ``timeout`` (pings answered)."""
    deadline = time.monotonic() + timeout
    ws.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return True
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return True
        if data == b"2":
            ws.send("3")
    return False


def sio_connect(ws: websocket.WebSocket, token: str, namespace: str = "") -> str:
    """Join a namespace with a token (``40{auth}``); the server's answer packet."""
    prefix = f"{namespace}," if namespace else ""
    ws.send(f"40{prefix}" + json.dumps({"token": token}))
    return ws_next(ws)


def ws_until(ws: websocket.WebSocket, predicate, limit: int = 20) -> str:
    """Read frames (pings answered) until one matches ``predicate``; that frame."""
    seen = []
    for _ in range(limit):
        frame = ws_next(ws)
        if predicate(frame):
            return frame
        seen.append(frame)
    raise AssertionError(f"no matching frame in {seen!r}")


def is_ack(ack_id: int):
    """A predicate: an ACK (or BINARY_ACK) packet with that id, in the main namespace."""
    return lambda frame: isinstance(frame, str) and frame.startswith(f"43{ack_id}[")
