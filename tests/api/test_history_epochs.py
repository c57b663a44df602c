"""The API keeps the history's epoch: MongoDB is the arbiter of what Redis must hold."""

from __future__ import annotations

import json
import logging

import pytest

from shared import epochs


def _relay(app):
    return app.extensions["relay"]


def _state(event_log) -> dict[str, int]:
    return {
        json.loads(d)["deviceSerialNumber"]: json.loads(d)["version"] for d in event_log.snapshot()
    }


def _history_lines(caplog) -> list[tuple[int, str]]:
    records = caplog.get_records("setup") + caplog.get_records("call")
    return [(r.levelno, r.getMessage()) for r in records if r.name == "services.api.history"]


def test_the_first_write_begins_a_ready_epoch(register, event_log, caplog):
    caplog.set_level(logging.INFO, "services.api.history")
    register("E-1")
    epoch = event_log.epoch()
    assert epoch is not None and epoch.ready and epoch.start == "0-0"
    assert epoch.last == event_log.last_id()
    # A new deployment has lost nothing: no warning that says it has.
    lines = _history_lines(caplog)
    assert (logging.INFO, f"the event history begins: epoch {epoch.id} from 0-0") in lines
    assert not [line for line in lines if line[0] >= logging.WARNING]


def test_redis_wiped_begins_a_new_epoch_after_every_published_id_and_rebuilds_the_state(
    app, register, api, event_log, redis_client, caplog
):
    register("E-1")
    register("E-2")
    api("POST", "/api/v1/drones/E-1/stream/toggle")
    before = event_log.epoch()
    last = event_log.last_id()
    tag = event_log.stream_key.split(":")[0]  # "{prefix}"
    for key in redis_client.scan_iter(match=tag.replace("{", "[{]").replace("}", "[}]") + "*"):
        redis_client.delete(key)  # as a Redis restarted without its files

    assert _relay(app).flush()  # the relay's poll: no write needed

    after = event_log.epoch()
    assert after.id != before.id and after.ready
    assert any(
        level == logging.WARNING and "lost events" in message
        for level, message in _history_lines(caplog)
    )
    assert epochs.parse_id(after.start) >= epochs.parse_id(last)
    assert _state(event_log) == {"E-1": 2, "E-2": 1}
    register("E-3")  # appends go on, after the start
    assert epochs.parse_id(event_log.last_id()) > epochs.parse_id(after.start)


def test_redis_rolled_back_is_found_out_by_the_published_id(app, register, api, event_log):
    register("E-1")
    old = event_log.epoch()
    api("POST", "/api/v1/drones/E-1/stream/toggle")
    # An older copy of Redis: the same epoch, holding less than MongoDB says was published.
    event_log.client.hset(event_log.epoch_key, "last", old.last)

    assert _relay(app).flush()

    assert event_log.epoch().id != old.id


def test_an_append_to_another_epoch_is_refused(register, event_log):
    from shared.eventlog import EpochMismatch

    register("E-1")
    with pytest.raises(EpochMismatch):
        event_log.append("x", 1, [], epoch="not-this-one")
