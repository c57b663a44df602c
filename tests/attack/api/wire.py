"""Raw HTTP/1.1 over loopback sockets, and a healthy client that measures being served."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field

import requests

# What a healthy client must keep getting while an attack runs.
SERVED_WITHIN_SECONDS = 2.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def assert_error_shape(self, status: int, code: str | None = None) -> dict:
        """The answer is ``status`` in the one JSON error shape; returns its ``error``."""
        assert self.status == status, (self.status, self.body[:300])
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        error = self.json()["error"]
        assert isinstance(error["message"], str) and error["message"]
        if code is not None:
            assert error["code"] == code, error
        return error


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock: socket.socket, timeout: float = 10.0) -> RawResponse:
    """One response read off ``sock`` (Content-Length or close delimited)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full response head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    return RawResponse(status, headers, body[:length] if length >= 0 else body)


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> RawResponse:
    """Send ``raw`` on a new connection and read the answer."""
    with connect(port, timeout) as sock:
        sock.sendall(raw)
        return read_response(sock, timeout)


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (reads EOF or a reset); never blocks."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        sock.setblocking(False)
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
    return data == b"" or data.startswith(b"HTTP/1.1 ")


@dataclass
class Probe:
    url: str
    seconds: float
    status: int | str


@dataclass
class HealthyClient:
    """Polls ``/healthz`` and ``GET /api/v1/drones`` on fresh connections, one after the
    other, until stopped; every probe must be answered 200 within 2 s."""

    base_url: str
    token: str
    probes: list[Probe] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        urls = [self.base_url + "/healthz", self.base_url + "/api/v1/drones"]
        headers = {"Authorization": f"Bearer {self.token}", "Connection": "close"}
        index = 0
        while not self._stop.is_set():
            url = urls[index % 2]
            index += 1
            started = time.monotonic()
            try:
                # Past the bound is a failure whatever comes after: no need to wait longer.
                answer = requests.get(url, headers=headers, timeout=SERVED_WITHIN_SECONDS)
                status = answer.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            self.probes.append(Probe(url, time.monotonic() - started, status))
            self._stop.wait(0.1)

    def served(self, count: int) -> bool:
        """At least ``count`` probes were made (a condition to wait on)."""
        return len(self.probes) >= count

    def stop(self):
        self._stop.set()
        self._thread.join(SERVED_WITHIN_SECONDS + 5)

    def assert_served(self, minimum: int = 3) -> None:
        """Once ``minimum`` probes are made, stop; every probe was a 200 within the bound."""
        deadline = time.monotonic() + 30
        while not self.served(minimum) and time.monotonic() < deadline:
            self._stop.wait(0.1)
        self.stop()
        bad = [p for p in self.probes if p.status != 200 or p.seconds > SERVED_WITHIN_SECONDS]
        assert len(self.probes) >= minimum, f"only {len(self.probes)} probes"
        assert not bad, f"{len(bad)} of {len(self.probes)} probes not served in time: {bad[:5]}"
