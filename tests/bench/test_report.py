"""The benchmark report: a configuration swept in several rounds is summed up by its median."""

from __future__ import annotations

from bench import report


def _step(delivered: float, p99: float, cpu: float = 50.0) -> dict:
    return {
        "events_per_s": delivered / 100,
        "delivered_per_s": delivered,
        "fraction": 1.0,
        "duplicates": 0,
        "out_of_order": 0,
        "disconnects": 0,
        "p50_ms": p99 / 4,
        "p99_ms": p99,
        "max_ms": p99 * 2,
        "cpu_percent": cpu,
        "client_cpu_percent": 40.0,
        "rss_mb": 75.0,
    }


def _sweep(gateway: str, round_: int | None, steps: list[dict], connect_s: float = 1.0) -> dict:
    config = {
        "gateway": gateway,
        "kind": "sio",
        "clients": 100,
        "connect_s": connect_s,
        "idle_kb_per_conn": 20.0,
        "idle_rss_mb": 70.0,
        "steps": steps,
    }
    if round_ is not None:
        config["round"] = round_
    return config


def _results(*configs: dict) -> dict:
    return {"started": "2026-11-28T00:00:00Z", "machine": "vm", "configs": list(configs)}


# Three rounds whose strict rates are 40k, 80k and 60k: the median round is the third.
ROUNDS = [
    _sweep("gevent", 1, [_step(40_000, 30.0), _step(60_000, 400.0)], connect_s=1.0),
    _sweep("gevent", 2, [_step(40_000, 20.0), _step(60_000, 50.0), _step(80_000, 90.0)], 3.0),
    _sweep("gevent", 3, [_step(40_000, 10.0), _step(60_000, 70.0, cpu=64.0)], connect_s=2.0),
]


def test_the_strict_rate_of_rounds_is_the_median_rounds_with_its_own_latency_and_cpu():
    (line,) = report.summaries(_results(*ROUNDS))

    assert line["strict_per_s"] == 60_000
    assert line["p99_at_strict_ms"] == 70.0
    assert line["cpu_at_strict"] == 64.0


def test_each_rounds_strict_rate_is_kept_in_round_order():
    (line,) = report.summaries(_results(*ROUNDS))

    assert line["strict_rounds"] == [40_000, 80_000, 60_000]


def test_the_other_figures_of_rounds_are_their_medians():
    (line,) = report.summaries(_results(*ROUNDS))

    assert line["connect_s"] == 2.0
    assert line["max_delivered_per_s"] == 60_000


def test_an_even_number_of_rounds_reports_the_lower_middle_round_a_rate_really_measured():
    (line,) = report.summaries(_results(*ROUNDS[:2]))

    assert line["strict_per_s"] == 40_000
    assert line["p99_at_strict_ms"] == 30.0


def test_configurations_keep_the_order_in_which_they_were_first_swept():
    peer = _sweep(report.PEER, 1, [_step(40_000, 10.0)])

    lines = report.summaries(_results(ROUNDS[0], peer, ROUNDS[1]))

    assert [s["gateway"] for s in lines] == ["gevent", report.PEER]


def test_summary_of_a_configuration_not_swept_is_none():
    assert report.summary_of(_results(*ROUNDS), report.PEER, "sio", 100) is None


PEERS = [
    _sweep(report.PEER, 1, [_step(40_000, 10.0), _step(80_000, 60.0)]),
    _sweep(report.PEER, 2, [_step(40_000, 10.0), _step(80_000, 60.0)]),
    _sweep(report.PEER, 3, [_step(40_000, 10.0), _step(60_000, 90.0)]),
]


def test_the_table_gives_each_round_and_its_ratio_to_the_peers_same_round():
    table = report.markdown(_results(*ROUNDS, *PEERS))

    assert "| 40,000 / 80,000 / 60,000 (0.50 / 1.00 / 1.00×) |" in table
    assert "| 60,000 (0.75×) |" in table  # the median rounds: 60k against the peer's 80k
    assert "| gevent #2 | sio | 100 |" in table


def test_a_run_of_one_round_has_no_per_round_column():
    table = report.markdown(_results(_sweep("gevent", None, [_step(40_000, 10.0)])))

    assert "per round" not in table
    assert "| gevent | sio | 100 |" in table


def test_a_configuration_swept_once_beside_rounds_has_no_ratio_per_round():
    pair = _sweep("gevent x2", None, [_step(40_000, 10.0)])

    table = report.markdown(_results(*ROUNDS, *PEERS, pair))

    assert "| gevent x2 | sio | 100 | 40,000 (0.50×) | 40,000 |" in table
