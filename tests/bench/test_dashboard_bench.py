"""bench/dashboard.py runs end to end on a small fleet (its figures are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import dashboard


def test_the_dashboard_bench_measures_every_event(tmp_path):
    if not Path(dashboard.CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    result = dashboard.measure(drones=30, rate=10, seconds=2, workdir=tmp_path)
    assert result["events"] == 20
    assert result["shown"] == 20  # every event reached its row
    assert 0 < result["main_thread_busy_share"] <= 1.5
    assert result["latency_ms"]["p95"] is not None
