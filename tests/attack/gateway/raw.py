"""What an attacker sends, byte by byte: raw HTTP requests and hand-made WebSocket frames."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import struct

from shared.contract import SOCKETIO_PATH

EIO_PATH = SOCKETIO_PATH + "/"


def connect(port: int, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def send_head(sock, method: str, target: str, headers: dict[str, str]) -> None:
    headers = {"Host": "127.0.0.1", **headers}
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def read_response(sock) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of the next response on ``sock``."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def request(port: int, method: str, target: str, body: bytes = b"", headers=None, timeout=5):
    """One request on a connection of its own: (status, headers, body)."""
    with connect(port, timeout) as sock:
        head = {"Content-Length": str(len(body)), **(headers or {})}
        send_head(sock, method, target, head)
        sock.sendall(body)
        return read_response(sock)


def error_code(body: bytes) -> str:
    """The ``error.code`` of a body in the project's error shape (AssertionError if not)."""
    document = json.loads(body)
    assert set(document) == {"error"}, document
    assert isinstance(document["error"]["message"], str)
    return document["error"]["code"]


def polling_handshake_answer(port: int, headers=None, timeout: float = 5):
    """The answer to a long-polling handshake: (status, headers, body)."""
    return request(
        port, "GET", EIO_PATH + "?EIO=4&transport=polling", headers=headers, timeout=timeout
    )


def polling_handshake(port: int, headers=None) -> tuple[int, str | None, bytes]:
    """Open an Engine.IO session over long-polling: (status, sid or None, body)."""
    status, _, body = polling_handshake_answer(port, headers)
    if status != 200:
        return status, None, body
    assert body.startswith(b"0"), body
    return status, json.loads(body[1:])["sid"], body


class RawWebSocket:
    """A client WebSocket written by hand, to send frames no library would."""

    def __init__(
        self,
        port: int,
        target: str = EIO_PATH + "?EIO=4&transport=websocket",
        timeout: float = 5,
        headers=None,
    ):
        self.sock = connect(port, timeout)
        send_head(
            self.sock,
            "GET",
            target,
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
                **(headers or {}),
            },
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head else 0
        self.head = head
        self._buffer = b""

    def send_frame(
        self, payload: bytes, opcode: int = 0x1, fin: bool = True, length: int | None = None
    ) -> None:
        """A masked frame; ``length`` announces another length than the payload's."""
        length = len(payload) if length is None else length
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(text.encode())

    def readable(self, timeout: float) -> bool:
        return bool(self._buffer) or bool(select.select([self.sock], [], [], timeout)[0])

    def _read_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        """The next frame of the server: (opcode, payload)."""
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        return first & 0x0F, self._read_exact(length)

    def read_text(self) -> str:
        opcode, payload = self.read_frame()
        assert opcode == 0x1, (opcode, payload)
        return payload.decode()

    def close_code(self) -> int | None:
        """Read up to the server's close frame: its code (None if the connection ended
        without one)."""
        try:
            while True:
                opcode, payload = self.read_frame()
                if opcode == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        except (ConnectionError, OSError):
            return None

    def close(self) -> None:
        self.sock.close()


def open_engineio_websocket(port: int, headers=None) -> RawWebSocket:
    """An Engine.IO session over a raw WebSocket, its open packet read, no token sent."""
    ws = RawWebSocket(port, headers=headers)
    assert ws.status == 101, ws.head
    assert ws.read_text().startswith("0")
    return ws


def vm_kib(pid: int, field: str) -> int:
    """A memory figure of a process from /proc (VmRSS: resident now, VmHWM: its peak)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)
