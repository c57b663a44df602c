"""Stopping the processes the tests start."""

from __future__ import annotations

import subprocess


def terminate(process: subprocess.Popen, timeout: float, kill=None) -> None:
    """SIGTERM ``process`` and wait up to ``timeout`` seconds; then ``kill()`` (default:
    SIGKILL to the process itself) and wait for it to go."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        (kill or process.kill)()
        process.wait()
