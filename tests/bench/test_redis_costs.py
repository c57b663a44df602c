"""bench.redis_costs measures a real private redis-server: sane, bounded figures."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("psutil")

from bench import redis_costs  # noqa: E402  (needs the bench extra)


def test_a_short_run_reports_costs_per_change_reader_and_snapshot(tmp_path):
    out = tmp_path / "costs.json"

    result = redis_costs.main(
        [
            "--rate",
            "100",
            "--seconds",
            "0.5",
            "--readers",
            "2",
            "--drones",
            "200",
            "--out",
            str(out),
        ]
    )

    assert json.loads(out.read_text()) == result
    phases = {phase["readers"]: phase for phase in result["append"]}
    assert sorted(phases) == [0, 1, 2]
    assert all(phase["mutations"] >= 40 for phase in phases.values())
    # Every reader followed every event, about one XREAD per change each at this pace.
    assert phases[2]["events_read_per_reader"] == phases[2]["events"]
    assert 1.0 <= phases[2]["xread_calls_per_mutation"] <= 2.5
    assert phases[0]["xread_calls_per_mutation"] == 0
    assert phases[0]["stream_bytes_per_event"] > 300  # a ~700-byte body, stored compactly
    assert result["snapshot"]["drones"] == 200
    assert result["snapshot"]["state_hash_bytes"] > 200 * result["snapshot"]["document_bytes"] / 2
