"""A run's outputs replace the previous run's: bench/results holds one JSON, table and plot."""

from __future__ import annotations

import json

from bench import run
from tests.bench.test_report import ROUNDS, _results


def test_a_run_writes_latest_json_table_and_plot_over_the_previous_run(tmp_path):
    first = _results(*ROUNDS[:1])
    second = dict(_results(*ROUNDS), started="2026-11-29T00:00:00Z")

    run.write_outputs(first, tmp_path)
    path = run.write_outputs(second, tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "latest.md", "latest.png"]
    assert path == tmp_path / "latest.json"
    assert json.loads(path.read_text())["started"] == "2026-11-29T00:00:00Z"
    assert "2026-11-29T00:00:00Z" in (tmp_path / "latest.md").read_text()
