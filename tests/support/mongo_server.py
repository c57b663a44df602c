"""A private MongoDB wire-protocol server (``python -m tools.devmongo``, SecantusDB) on a free
port, with its files in a temporary folder; and the real ``mongod`` of ``MONGODB_URI``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pymongo

from tests.support.processes import terminate
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


class MongoServer:
    """Starts, stops and restarts one development server process on a fixed port.

    Started with its test commands on, so a test can arm ``configureFailPoint``."""

    external = False

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self, **options) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, **{"serverSelectionTimeoutMS": 2000, **options})

    def start(self) -> MongoServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.devmongo",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.workdir / "data"),
                "--test-commands",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        log.close()
        try:
            with self.client(serverSelectionTimeoutMS=200) as client:
                wait_until(
                    lambda: self._alive() and client.admin.command("ping"),
                    timeout=30,
                    message=f"MongoDB wire-protocol server on port {self.port}",
                )
        except BaseException:
            self.stop()  # never leave a server behind a failed start
            raise
        return self

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            log = (self.workdir / "server.log").read_text(errors="replace")
            raise RuntimeError(f"tools.devmongo exited: {log[-3000:]}")
        return True

    def stop(self) -> None:
        if self.process:
            terminate(self.process, 15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class ExternalMongo:
    """The MongoDB of ``MONGODB_URI`` (a real ``mongod``): used as is, never restarted."""

    external = True

    def __init__(self, uri: str):
        self.uri = uri

    def client(self, **options) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, **{"serverSelectionTimeoutMS": 5000, **options})

    def stop(self) -> None:
        pass


@contextlib.contextmanager
def fail_point(client: pymongo.MongoClient, commands: list[str], error_code: int = 89):
    """Make the API's ``commands`` fail on the server until the block ends.

    ``failCommand`` scoped to the API's connections (appName ``drones-api``), so the test's
    own client keeps working. Code 89 (NetworkTimeout) is a transient error the server
    labels retryable: pymongo retries a write once, then raises it. (A "shutting down" or
    "not primary" code would also make pymongo forget the server until its next heartbeat,
    some seconds: that path is the one of a server that is really down, tested by stopping
    one.)"""
    client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": {"failCommands": commands, "errorCode": error_code, "appName": "drones-api"},
        }
    )
    try:
        yield
    finally:
        client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
