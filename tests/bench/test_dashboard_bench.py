"""bench/dashboard.py runs end to end on a small fleet (its figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import dashboard

ROOT = Path(__file__).resolve().parents[2]


def test_the_dashboard_bench_measures_every_event():
    if not Path(dashboard.CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    # A process of its own: Playwright's sync API runs once per process, and the browser
    # tests of this session may hold it.
    args = ["--drones", "30", "--rate", "10", "--seconds", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.dashboard", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["events"] == 20
    assert result["shown"] == 20  # every event reached its row
    assert 0 < result["main_thread_busy_share"] <= 1.5
    assert result["latency_ms"]["p95"] is not None
