"""The capacity plan: a fleet description to replicas and Redis load, from the unit costs."""

from __future__ import annotations

import json
import math

import pytest

from bench import capacity
from bench.capacity import Costs, Fleet, plan


def test_a_fleet_worked_by_hand():
    # 100 changes/s = 200 events/s, to 1,000 clients following everything: 200,000 msg/s.
    # Each replica reads the stream (100 x 40 us) and has 600,000 - 4,000 us/s left for
    # 15 us messages: 200,000 x 15 / 596,000 = 5.03 -> 6 replicas. Redis per change:
    # 75 + 6 x 30 = 255 us -> 0.0255 of a core, and 700,000 / 255 = 2,745 changes/s at most.
    result = plan(Fleet(drones=1_000, changes_per_second=100, clients=1_000))

    assert result.delivered_per_second == 200_000
    assert (result.gateway_replicas, result.gateway_replicas_for_cpu) == (6, 6)
    assert result.redis_core == pytest.approx(0.0255, abs=1e-3)
    assert result.redis_changes_per_second_limit == 2_745
    assert result.redis_shards == 1
    assert (result.api_replicas, result.api_cores) == (2, 0.26)
    assert result.notes == ()


def test_many_light_clients_are_bound_by_connections_per_replica():
    result = plan(Fleet(drones=10_000, changes_per_second=10, clients=45_000, share=0.0001))

    assert result.gateway_replicas_for_connections == 5
    assert result.gateway_replicas == 5


def test_a_change_rate_past_one_redis_asks_for_shards():
    result = plan(Fleet(drones=100_000, changes_per_second=8_000, clients=100, share=0.01))

    assert result.redis_core > Costs().redis_budget
    assert result.redis_shards == math.ceil(result.redis_core / 0.7) >= 2
    assert any("partition the event log" in note for note in result.notes)


def test_a_stream_one_process_cannot_read_has_no_cpu_answer_but_a_note():
    result = plan(Fleet(drones=100_000, changes_per_second=15_000, clients=10, share=0.001))

    assert result.gateway_replicas_for_cpu is None
    assert any("cannot read the whole event stream" in note for note in result.notes)


def test_more_clients_or_changes_never_need_fewer_replicas_or_less_redis():
    previous = None
    for clients, changes in [(10, 10), (100, 10), (1_000, 50), (5_000, 100), (20_000, 300)]:
        result = plan(Fleet(drones=10_000, changes_per_second=changes, clients=clients))
        if previous:
            assert result.gateway_replicas >= previous.gateway_replicas
            assert result.redis_core >= previous.redis_core
        previous = result


def test_measured_costs_can_be_passed_in():
    cheaper = plan(Fleet(1_000, 100, 1_000), Costs(gateway_us_per_message=5.0))

    assert cheaper.gateway_replicas == 2  # 200,000 x 5 / 596,000 = 1.7 -> 2


def test_the_command_line_prints_a_plan_and_json(capsys):
    assert (
        capacity.main(["--drones", "1000", "--changes-per-second", "100", "--clients", "1000"]) == 0
    )
    assert "gateway replicas               6" in capsys.readouterr().out

    capacity.main(
        ["--drones", "1000", "--changes-per-second", "100", "--clients", "1000", "--json"]
    )
    assert json.loads(capsys.readouterr().out)["gateway_replicas"] == 6


def test_a_share_outside_its_range_is_refused(capsys):
    with pytest.raises(SystemExit):
        capacity.main(
            ["--drones", "10", "--changes-per-second", "1", "--clients", "1", "--share", "2"]
        )
    assert "share must be in (0, 1]" in capsys.readouterr().err
