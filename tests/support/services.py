"""Start the real services as separate processes, the way production runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.settings import Settings
from tests.support.processes import terminate
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def metric_samples(base_url: str) -> dict[tuple[str, tuple], float]:
    """Every sample on ``base_url``/metrics, by sample name and sorted label pairs."""
    text = requests.get(base_url + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class ServiceProcess:
    """One service started with ``python -m <module>``; logs go to ``log_path``."""

    def __init__(self, module: str, settings: Settings, port: int, log_path: Path):
        self.module = module
        self.settings = settings
        self.port = port
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServiceProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")}
        env.update(self.settings.to_env())
        env["PYTHONUNBUFFERED"] = "1"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group, so a crash takes the workers too
        )
        log.close()
        wait_until(self._healthy, timeout=timeout, message=f"{self.module} on {self.url}")
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.module} exited: {self.logs()[-3000:]}")
        return requests.get(self.url + "/healthz", timeout=1).status_code == 200

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric on the service's ``/metrics``."""
        value = metric_samples(self.url).get((name, ()))
        if value is None:
            raise AssertionError(f"metric {name} missing")
        return value

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL to the whole process group (server and workers): a crash, no clean-up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if not self.process:
            return None
        process = self.process
        terminate(process, timeout, kill=lambda: os.killpg(process.pid, signal.SIGKILL))
        return process.returncode
