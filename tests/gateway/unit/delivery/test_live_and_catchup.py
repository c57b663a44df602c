"""Live delivery and catch-up (live.py, catchup.py, subscribing.py) through the hub, on fakes.

Each test checks what a client is sent, in order: every event it subscribes to, once, in id
order, also across a fall behind, a replay, a skip-ahead or a resume.
"""

import pytest

from services.gateway.delivery import live as live_module
from services.gateway.delivery.connection import Phase
from shared import contract
from tests.gateway.unit.delivery.fakes import Gateway, sample


def ids(events) -> list[str]:
    return [e.id for e in events]


@pytest.fixture
def gw() -> Gateway:
    gateway = Gateway()
    gateway.log.append_many(["D1", "D2"])  # history from before the relay started
    gateway.go_live()
    return gateway


def live_client(gw: Gateway, sid: str, **payload):
    client, transport = gw.connect(sid)
    answer = gw.subscribe(sid, **(payload or {"all": True}))
    assert answer["ok"] and client.phase is Phase.LIVE
    return client, transport


def test_a_subscribe_goes_live_and_gets_each_event_once_in_id_order(gw):
    _, fleet = live_client(gw, "fleet", all=True)
    _, d1 = live_client(gw, "d1", droneSerials=["D1"])
    _, both = live_client(gw, "both", droneSerials=["D1", "D2"])
    gw.hub.subscribe("both", {"all": True})
    sent = gw.publish("D1") + gw.publish("D2", "", "D1", "D3") + gw.publish("")
    assert fleet.event_ids() == ids(sent)
    assert both.event_ids() == ids(sent)
    assert d1.event_ids() == ids(e for e in sent if e.serial in ("D1", ""))
    assert gw.hub.position == sent[-1].id
    assert sample(gw.metrics, "gateway_events_delivered_total") == len(sent)


def test_one_event_is_one_send_and_a_batch_is_one_write_per_client(gw):
    _, transport = live_client(gw, "s1")
    writes = len(transport.writes)
    gw.publish("D1")
    gw.publish("D1", "D2", "D3")
    assert [len(w) for w in transport.writes[writes:]] == [1, 3]


def test_a_client_behind_during_a_delivery_is_replayed_and_rejoins_without_gap(gw):
    slow, t_slow = live_client(gw, "slow")
    _, t_fast = live_client(gw, "fast")
    t_slow.behind_on_next_send()
    sent = gw.publish("D1", "D2")
    assert slow.phase is Phase.REPLAYING and len(gw.hub.live.audience) == 1
    sent += gw.publish("D3")  # while it waits to replay: not sent live
    assert t_slow.event_ids() == ids(sent[:2])
    gw.tasks.run_all()
    assert slow.phase is Phase.LIVE and len(gw.hub.live.audience) == 2
    sent += gw.publish("D4", "D5")
    assert t_slow.event_ids() == ids(sent) == t_fast.event_ids()
    assert sample(gw.metrics, "gateway_slow_clients_total") == 1


def test_a_client_behind_mid_delivery_gets_the_rest_of_the_batch_replayed(gw, monkeypatch):
    monkeypatch.setattr(live_module, "BATCH_MESSAGES", 1)  # as with >= 10,000 clients
    slow, t_slow = live_client(gw, "slow")
    t_slow.behind_on_next_send()
    sent = gw.publish("D1", "D2", "D3")
    assert t_slow.event_ids() == ids(sent[:1])  # no more of the batch once behind
    gw.tasks.run_all()
    assert slow.phase is Phase.LIVE
    assert t_slow.event_ids() == ids(sent)


def test_a_client_behind_between_deliveries_leaves_at_the_lock_and_rejoins(gw):
    slow, t_slow = live_client(gw, "slow")
    t_slow.report_behind()  # from its writer's task, not from a delivery
    assert slow.phase is Phase.LEAVING
    t_slow.report_behind()  # reported again: nothing more happens
    gw.tasks.run_all()
    assert slow.phase is Phase.LIVE
    sent = gw.publish("D1")
    assert t_slow.event_ids() == ids(sent)


def test_events_delivered_while_a_client_is_leaving_are_replayed_to_it(gw):
    slow, t_slow = live_client(gw, "slow")
    t_slow.report_behind()
    sent = gw.publish("D1")  # before its leaving task runs: not sent to it live
    assert t_slow.event_ids() == []
    gw.tasks.run_all()
    assert slow.phase is Phase.LIVE
    assert t_slow.event_ids() == ids(sent)


def test_a_replay_waits_for_the_client_to_read_and_pages_the_log(gw):
    slow, t_slow = live_client(gw, "slow")
    t_slow.behind_on_next_send()
    sent = gw.publish("D1")
    t_slow.set_unread(10_000)
    sent += gw.publish(*["D1", "D2", "D3"] * 3)
    task = gw.tasks.start_next()
    t_slow.wait_for_waiter()
    assert t_slow.event_ids() == ids(sent[:1]) and slow.phase is Phase.REPLAYING
    t_slow.set_unread(0)
    gw.tasks.join(task)
    assert slow.phase is Phase.LIVE
    assert t_slow.event_ids() == ids(sent)
    assert gw.log.range_reads == 3  # 9 events in pages of 3
    assert 0 in gw.tasks.sleeps  # other tasks run between pages


def test_a_replay_is_served_from_memory_when_it_holds_the_cursor():
    gw = Gateway(gateway_replay_cache_bytes=1 << 20)
    gw.go_live()
    slow, t_slow = live_client(gw, "slow")
    t_slow.behind_on_next_send()
    sent = gw.publish("D1", "D2") + gw.publish("D3")
    gw.tasks.run_all()
    sent += gw.publish("D4")
    assert t_slow.event_ids() == ids(sent) and slow.phase is Phase.LIVE
    assert gw.log.range_reads == 0


def test_a_skipping_client_is_told_what_it_missed_then_goes_live(gw):
    skipper, t_skip = live_client(gw, "skip", all=True, whenBehind="skip")
    assert skipper.skips_when_behind and t_skip.in_flight_limit == 16 * 1024
    t_skip.behind_on_next_send()
    t_skip.set_unread(5_000, backlog=3_000)
    first = gw.publish("D1")
    missed = gw.publish("D2", "D3")
    assert skipper.phase is Phase.SKIPPING
    task = gw.tasks.start_next()
    t_skip.wait_for_waiter()  # its backlog has not drained yet
    assert t_skip.named(contract.SIO_MISSED) == []
    t_skip.set_unread(0, backlog=0)
    gw.tasks.join(task)
    after = gw.publish("D4")
    assert skipper.phase is Phase.LIVE
    assert t_skip.event_ids() == ids(first + after)
    assert t_skip.named(contract.SIO_MISSED) == [{"after": first[0].id, "until": missed[-1].id}]
    kinds = [m.event for m in t_skip.messages]
    assert kinds.index(contract.SIO_MISSED) < len(kinds) - 1  # before the next live event
    assert sample(gw.metrics, "gateway_slow_clients_skipped_total") == 1


def test_a_skipping_client_that_missed_nothing_gets_no_notice(gw):
    skipper, t_skip = live_client(gw, "skip", all=True, whenBehind="skip")
    t_skip.behind_on_next_send()
    sent = gw.publish("D1")
    gw.tasks.run_all()
    sent += gw.publish("D2")
    assert skipper.phase is Phase.LIVE and t_skip.event_ids() == ids(sent)
    assert t_skip.named(contract.SIO_MISSED) == []


def test_a_resume_with_since_replays_then_goes_live(gw):
    since = gw.log.events[0].id
    client, transport = gw.connect("r1")
    answer = gw.subscribe("r1", droneSerial="D2", since=since)
    assert answer["recovered"] is True and answer["position"] == gw.log.events[-1].id
    assert client.phase is Phase.REPLAYING
    gw.publish("D1", "D2")  # while it replays: not sent live
    assert transport.event_ids() == []
    gw.tasks.run_all()
    assert client.phase is Phase.LIVE
    gw.publish("D2", "", "D1")
    wanted = [e for e in gw.log.events[1:] if e.serial in ("D2", "")]
    assert len(wanted) == 4 and transport.event_ids() == ids(wanted)
    kinds = [m.event for m in transport.messages]
    assert kinds[:2] == [contract.SIO_CONNECTED, contract.SIO_SUBSCRIBED]


def test_an_unsubscribe_during_a_resume_stops_that_drone_s_replayed_events(gw):
    gw.log.append_many(["D1", "D2"])
    gw.go_live()
    client, transport = gw.connect("r1")
    gw.subscribe("r1", droneSerials=["D1", "D2"], since=gw.log.events[0].id)
    gw.hub.handle("r1", contract.SIO_UNSUBSCRIBE, [{"droneSerial": "D2"}])
    gw.tasks.run_all()
    assert client.phase is Phase.LIVE
    assert transport.event_ids() == ids(e for e in gw.log.events[1:] if e.serial == "D1")


def test_a_client_skipping_from_between_deliveries_is_told_all_it_missed(gw):
    skipper, t_skip = live_client(gw, "skip", all=True, whenBehind="skip")
    t_skip.report_behind()
    missed = gw.publish("D1", "D2")  # before its leaving task runs: not sent to it
    gw.tasks.run_all()
    assert skipper.phase is Phase.LIVE and t_skip.event_ids() == []
    notice = {"after": gw.log.events[1].id, "until": missed[-1].id}
    assert t_skip.named(contract.SIO_MISSED) == [notice]


def test_a_resume_from_a_trimmed_position_is_not_recovered_and_goes_live(gw):
    since = gw.log.events[0].id
    gw.log.trim_through(gw.log.events[1].id)
    client, transport = gw.connect("r1")
    answer = gw.subscribe("r1", all=True, since=since)
    assert answer["ok"] and answer["recovered"] is False
    assert client.phase is Phase.LIVE and gw.tasks.pending == []
    sent = gw.publish("D1")
    assert transport.event_ids() == ids(sent)


def test_a_replaying_client_whose_cursor_left_the_log_is_dropped(gw):
    slow, t_slow = live_client(gw, "slow")
    t_slow.behind_on_next_send()
    gw.publish("D1")
    later = gw.publish("D2", "D3")
    gw.log.trim_through(later[0].id)  # the log no longer holds every event after D1
    gw.tasks.run_all()
    assert slow.phase is Phase.CLOSED and t_slow.closes == [True]
    assert gw.hub.client_count == 0 and len(gw.hub.live.audience) == 0
    assert sample(gw.metrics, "gateway_slow_clients_dropped_total") == 1


def test_a_new_epoch_sends_every_client_away_and_closes_it(gw):
    live, t_live = live_client(gw, "live")
    waiting, t_waiting = gw.connect("waiting")
    resuming, t_resuming = gw.connect("resuming")
    gw.subscribe("resuming", all=True, since=gw.log.events[0].id)
    assert gw.hub.change_epoch("epoch-2", "1764252999999-0") == 3
    for client, transport in ((live, t_live), (waiting, t_waiting), (resuming, t_resuming)):
        assert transport.named(contract.SIO_RECONNECT) == [{"reason": "history lost"}]
        assert transport.closed and client.phase is Phase.CLOSED
        # No Socket.IO goodbye: a client told "server disconnect" would not come back.
        assert True not in transport.goodbyes
    assert gw.hub.client_count == 0 and len(gw.hub.live.audience) == 0
    assert (gw.hub.position, gw.hub.epoch) == ("1764252999999-0", "epoch-2")
    gw.tasks.run_all()  # the resume's replay ends without sending anything
    assert t_resuming.event_ids() == []


def test_a_first_epoch_is_taken_as_is_and_sends_nobody_away():
    gw = Gateway()
    gw.hub.go_live("0-0", None)
    _, transport = live_client(gw, "s1")
    assert gw.hub.change_epoch("epoch-1", "0-0") == 0
    assert gw.hub.epoch == "epoch-1" and not transport.closed
    assert transport.named(contract.SIO_RECONNECT) == []
