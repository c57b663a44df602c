"""Processes of a benchmark run: gateways under test, the Node peer, load-generator clients.

Every process is started in its own session (process group) and registered with a
:class:`Processes` so that it is stopped, with its children, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

from bench.report import PEER
from shared.settings import Settings
from tests.support.redis_server import free_port
from tests.support.services import metric_samples
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# The Node peer (the original design's gateway) lives in the team folder beside the
# checkout, not in this repository; BENCH_PEER_DIR or ``--peer-dir`` point elsewhere.
PEER_DIR_ENV = "BENCH_PEER_DIR"
DEFAULT_PEER_DIR = ROOT.parent / "shared" / "peer"
LOOPBACK = "127.0.0.1"


def pin(pid: int, cores: set[int]) -> None:
    """Pin every thread of ``pid`` to ``cores`` (``taskset -a -p``)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            os.sched_setaffinity(int(task.name), cores)


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants (gunicorn runs the app in a child of its arbiter)."""
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants."""
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


class Processes:
    """Owns started processes; :meth:`stop_all` ends each process group (TERM, then KILL)."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []

    def spawn(self, name: str, argv: list[str], env: dict | None = None, cwd=None, **kw):
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd or ROOT,
            stdout=kw.pop("stdout", log),
            stderr=log,
            start_new_session=True,
            **kw,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{url} exited early: {tail}")
        return requests.get(url, timeout=1).status_code == 200

    wait_until(up, timeout=timeout, interval=0.1, message=url)


class Gateway:
    """One gateway process under test: ``pid`` for CPU/RSS, ``url`` for clients."""

    def __init__(self, name: str, proc: subprocess.Popen, port: int):
        self.name = name
        self.proc = proc
        self.port = port

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _metric_samples(self) -> dict | None:
        """Our gateway's ``/metrics`` samples; None for the peer, which has none."""
        return None if self.name == PEER else metric_samples(self.url)

    def full_collections(self) -> tuple[int, float] | None:
        """CPython full (generation 2) collections so far: count and seconds; None for the peer."""
        samples = self._metric_samples()
        if samples is None:
            return None
        full = (("generation", "2"),)
        return (
            int(samples[("gateway_gc_pause_seconds_count", full)]),
            samples[("gateway_gc_pause_seconds_sum", full)],
        )

    def slow_clients(self) -> tuple[int, int] | None:
        """Clients served from the history after falling behind, and clients dropped as too
        slow, so far; None for the peer."""
        samples = self._metric_samples()
        if samples is None:
            return None
        return (
            int(samples[("gateway_slow_clients_total", ())]),
            int(samples[("gateway_slow_clients_dropped_total", ())]),
        )

    @contextlib.contextmanager
    def health_probe(self, interval: float = 0.25):
        """Time a health request every ``interval`` while the block runs: how long the
        gateway keeps an HTTP request waiting (yields the list of seconds, None = failed)."""
        url = self.url + ("/health" if self.name == PEER else "/healthz")
        times: list[float | None] = []
        stop = threading.Event()

        def probe() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    start = time.perf_counter()
                    try:
                        ok = session.get(url, timeout=30).status_code == 200
                    except requests.RequestException:
                        ok = False
                    times.append(time.perf_counter() - start if ok else None)
                    stop.wait(interval)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        try:
            yield times
        finally:
            stop.set()
            thread.join()


def start_gateway(
    procs: Processes,
    mode: str,
    redis_url: str,
    key_prefix: str,
    secret: str,
    cores: str = "0",
    port: int | None = None,
) -> Gateway:
    """``taskset -c <cores> python -m services.gateway`` with GATEWAY_ASYNC_MODE=``mode``."""
    port = port or free_port()
    settings = _bench_settings(
        procs,
        redis_url,
        key_prefix,
        secret,
        f"var-{port}",
        gateway_port=port,
        gateway_host=LOOPBACK,
        gateway_async_mode=mode,
    )
    proc = _spawn_service(
        procs, "services.gateway", f"gateway-{mode}-{port}", settings, port, cores
    )
    return Gateway(mode, proc, port)


def _bench_settings(
    procs: Processes, redis_url: str, key_prefix: str, secret: str, var_name: str, **service
) -> Settings:
    """What every benchmarked service shares: the run's Redis and secret, no rate limits,
    quiet logs, its own var dir; ``service`` adds its own settings."""
    return Settings.from_env(
        {},
        redis_url=redis_url,
        key_prefix=key_prefix,
        jwt_secret=secret,
        rate_limits_enabled=False,
        var_dir=procs.log_dir / var_name,
        log_level="WARNING",
        **service,
    )


def _spawn_service(
    procs: Processes, module: str, name: str, settings: Settings, port: int, cores: str
):
    """``taskset -c <cores> python -m <module>`` reading ``settings``; waits for /healthz."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")}
    env.update(settings.to_env(), PYTHONUNBUFFERED="1")
    proc = procs.spawn(name, ["taskset", "-c", cores, sys.executable, "-m", module], env=env)
    wait_http(f"http://{LOOPBACK}:{port}/healthz", proc, procs.log_dir / f"{name}.log")
    return proc


def start_api(
    procs: Processes, redis_url: str, key_prefix: str, secret: str, cores: str = "1"
) -> Gateway:
    """``python -m services.api`` on the embedded store, rate limits off."""
    port = free_port()
    settings = _bench_settings(
        procs, redis_url, key_prefix, secret, f"api-{port}", api_port=port, api_host=LOOPBACK
    )
    proc = _spawn_service(procs, "services.api", f"api-{port}", settings, port, cores)
    return Gateway("api", proc, port)


def peer_source(explicit: str | Path | None = None, environ=os.environ) -> Path:
    """Where the Node peer's sources are: ``explicit``, else $BENCH_PEER_DIR, else
    ``../shared/peer`` beside the checkout. Raises PeerNotFound saying what to set."""
    if explicit:
        path, origin = Path(explicit), "--peer-dir"
    elif environ.get(PEER_DIR_ENV):
        path, origin = Path(environ[PEER_DIR_ENV]), PEER_DIR_ENV
    else:
        path, origin = DEFAULT_PEER_DIR, "the default (../shared/peer beside the checkout)"
    if not (path / "gateway_node.js").is_file():
        raise PeerNotFound(
            f"no Node peer (gateway_node.js) in {path}, from {origin}: set {PEER_DIR_ENV} or "
            "pass --peer-dir to the directory of the peer's gateway_node.js and package.json, "
            "or run without the peer (--no-peer)"
        )
    return path.resolve()


class PeerNotFound(RuntimeError):
    """The Node peer's directory is not where the options or the environment say."""


class Peer:
    """The Node peer gateway, run from a private copy of its sources (npm ci once)."""

    def __init__(self, procs: Processes, source: Path | None = None):
        self.procs = procs
        self.source = source
        self.dir: Path | None = None

    def prepare(self) -> None:
        if self.dir is not None:
            return
        tmp = Path(tempfile.mkdtemp(prefix="bench-peer-"))
        self.dir = tmp / "peer"
        shutil.copytree(self.source or peer_source(), self.dir)
        for path in [self.dir, *self.dir.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=self.dir,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )

    def start(self, redis_port: int, cores: str = "0") -> Gateway:
        self.prepare()
        port = free_port()
        env = dict(os.environ, REDIS_PORT=str(redis_port), PORT=str(port))
        name = f"peer-{port}"
        proc = self.procs.spawn(
            name, ["taskset", "-c", cores, "node", "gateway_node.js"], env=env, cwd=self.dir
        )
        wait_http(f"http://{LOOPBACK}:{port}/health", proc, self.procs.log_dir / f"{name}.log")
        return Gateway(PEER, proc, port)

    def cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir.parent, ignore_errors=True)


def ensure_client_modules() -> None:
    """``npm ci --prefix bench`` when bench/node_modules is missing."""
    if not (BENCH / "node_modules" / "socket.io-client").exists():
        subprocess.run(
            ["npm", "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"],
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )


class ClientProcess:
    """One ``node bench/client.js`` process; talks JSON lines over its stdin/stdout."""

    def __init__(
        self,
        procs: Processes,
        url: str,
        clients: int,
        kind: str,
        token: str,
        name: str,
        when_behind: str = "replay",
    ):
        self.clients = clients
        env = dict(os.environ, BENCH_TOKEN=token, BENCH_WHEN_BEHIND=when_behind)
        self.proc = procs.spawn(
            name,
            ["node", str(BENCH / "client.js"), url, str(clients), kind],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue
        self.lines.put({"event": "eof"})

    def send(self, command: str) -> None:
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def expect(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"client did not answer {event!r} in {timeout}s")
            try:
                msg = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if msg.get("event") == event:
                return msg
            if msg.get("event") == "eof":
                raise RuntimeError("client process exited")

    def ask(self, command: str, event: str, timeout: float = 30) -> dict:
        self.send(command)
        return self.expect(event, timeout)

    def quit(self, procs: Processes) -> None:
        try:
            self.ask("quit", "bye", timeout=5)
            self.proc.wait(5)
        except (TimeoutError, RuntimeError, OSError, subprocess.TimeoutExpired):
            pass
        procs.stop(self.proc)
