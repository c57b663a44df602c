"""The hub (services/gateway/delivery/hub.py): connections and requests, on fakes."""

import time

import pytest

from services.gateway.delivery.connection import Phase
from services.gateway.delivery.hub import Hub
from shared import contract
from shared.auth import AuthError, mint_token
from tests.gateway.unit.delivery.fakes import FakeTransport, Gateway, sample, token


@pytest.fixture
def gw() -> Gateway:
    gateway = Gateway()
    gateway.log.append_many(["D1", "D2"])
    gateway.go_live()
    return gateway


def subscriptions_gauge(gw: Gateway, kind: str) -> float:
    return sample(gw.metrics, "gateway_subscriptions", kind=kind)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        {},
        {"token": ""},
        {"token": "not-a-jwt"},
        {"token": mint_token("another-secret-Qm7vR2xLp9TfW4kZc8NbJ3", "viewer", "eve")},
        {"token": token(ttl=-10)},
        "a-token-not-in-an-object",
    ],
    ids=["none", "empty", "blank", "garbage", "forged", "expired", "not-a-dict"],
)
def test_connect_with_a_bad_token_raises_and_admits_nobody(gw, auth):
    with pytest.raises(AuthError):
        gw.hub.connect("s1", auth, FakeTransport())
    assert gw.hub.client_count == 0 and sample(gw.metrics, "gateway_connected_clients") == 0


def test_connect_admits_a_valid_token_awaiting_its_first_subscribe(gw):
    client, transport = gw.connect("s1", subject="bob")
    assert client.principal.subject == "bob" and client.phase is Phase.AWAITING
    assert gw.hub.client_count == 1 and sample(gw.metrics, "gateway_connected_clients") == 1
    assert transport.messages == []  # nothing before it is greeted


def test_greet_sends_connected_once(gw):
    client, transport = gw.connect("s1")
    gw.hub.greet("s1")
    gw.hub.greet("s1")
    gw.subscribe("s1", all=True)
    assert transport.named(contract.SIO_CONNECTED) == [
        {"clientId": "s1", "expiresAt": int(client.principal.expires_at)}
    ]
    gw.hub.greet("unknown-sid")  # harmless


def test_a_subscribe_greets_first_then_answers(gw):
    _, transport = gw.connect("s1")
    gw.subscribe("s1", all=True)
    assert [m.event for m in transport.messages] == [
        contract.SIO_CONNECTED,
        contract.SIO_SUBSCRIBED,
    ]


def test_the_subscribe_answer_and_its_subscribed_event(gw):
    client, transport = gw.connect("s1")
    answer = gw.subscribe("s1", droneSerials=["D2", "D1"])
    assert answer == {
        "ok": True,
        "position": gw.log.events[-1].id,
        "epoch": "epoch-1",
        "subscriptions": ["D1", "D2"],
    }
    assert transport.named(contract.SIO_SUBSCRIBED) == [answer]
    assert client.subscriptions == {"D1", "D2"} and client.phase is Phase.LIVE
    assert subscriptions_gauge(gw, "drone") == 2


def test_a_subscribe_with_since_answers_recovered(gw):
    gw.connect("s1")
    answer = gw.subscribe("s1", all=True, since=gw.log.events[-1].id)
    assert answer["ok"] and answer["recovered"] is True and answer["subscriptions"] == ["all"]
    assert subscriptions_gauge(gw, "all") == 1


def test_a_subscribe_with_snapshot_answers_the_drones_state(gw):
    gw.log.states = {"D1": {"serial": "D1", "v": 3}, "D2": {"serial": "D2", "v": 1}}
    gw.connect("s1")
    answer = gw.subscribe("s1", droneSerial="D2", snapshot=True)
    assert answer["snapshot"] == [{"serial": "D2", "v": 1}]


def test_a_subscribe_with_since_is_refused_while_the_history_is_rebuilt(gw):
    gw.log.ready = False
    client, _ = gw.connect("s1")
    answer = gw.subscribe("s1", all=True, since=gw.log.events[0].id)
    assert answer["ok"] is False and answer["code"] == contract.CODE_UNAVAILABLE
    assert answer["retryAfter"] > 0 and client.phase is Phase.AWAITING


@pytest.mark.parametrize(
    "payload",
    [{"all": True}, {"droneSerial": "D2"}, {"droneSerials": ["D1", "D9"]}],
    ids=["all", "other-drone", "one-of-several"],
)
def test_a_subscribe_beyond_the_token_is_forbidden(gw, payload):
    client, transport = gw.connect("s1", drones=["D1"])
    answer = gw.hub.handle("s1", contract.SIO_SUBSCRIBE, [payload])
    assert answer["ok"] is False and answer["code"] == contract.CODE_FORBIDDEN
    assert client.subscriptions == set() and client.phase is Phase.AWAITING
    gw.publish("D1", "D2", "D9")
    assert transport.event_ids() == []


def test_the_token_s_own_drones_may_be_subscribed(gw):
    client, _ = gw.connect("s1", drones=["D1"])
    assert gw.subscribe("s1", droneSerial="D1")["ok"] and client.live


@pytest.mark.parametrize(
    "args",
    [[{"droneSerial": "all"}], [{"all": True, "extra": 1}], [], [{"all": True}, 2], ["x"]],
    ids=["reserved-serial", "unknown-field", "no-args", "two-args", "not-an-object"],
)
def test_a_malformed_subscribe_is_a_bad_request(gw, args):
    gw.connect("s1")
    answer = gw.hub.handle("s1", contract.SIO_SUBSCRIBE, args)
    assert answer["ok"] is False and answer["code"] == contract.CODE_BAD_REQUEST


def test_more_subscriptions_than_allowed_are_refused(gw):
    client, _ = gw.connect("s1")
    assert gw.subscribe("s1", droneSerials=["A1", "A2", "A3", "A4"])["ok"]
    answer = gw.subscribe("s1", droneSerials=["A5", "A6"])
    assert answer["code"] == contract.CODE_BAD_REQUEST and len(client.subscriptions) == 4


def test_an_unknown_event_is_unknown_and_a_stranger_is_not_connected(gw):
    gw.connect("s1")
    assert gw.hub.handle("s1", "drop_tables", [{}]) is Hub.UNKNOWN
    for event in (contract.SIO_SUBSCRIBE, contract.SIO_UNSUBSCRIBE, contract.SIO_REFRESH):
        answer = gw.hub.handle("nobody", event, [{"all": True}])
        assert answer == {"ok": False, "code": contract.CODE_BAD_REQUEST, "error": "not connected"}


def test_unsubscribe_stops_that_drone_s_events(gw):
    client, transport = gw.connect("s1")
    gw.subscribe("s1", droneSerials=["D1", "D2"])
    answer = gw.hub.handle("s1", contract.SIO_UNSUBSCRIBE, [{"droneSerial": "D1"}])
    assert answer == {"ok": True, "subscriptions": ["D2"]}
    assert transport.named(contract.SIO_UNSUBSCRIBED) == [answer]
    sent = gw.publish("D1", "D2", "")
    assert transport.event_ids() == [sent[1].id, sent[2].id]
    assert subscriptions_gauge(gw, "drone") == 1


def test_refresh_with_a_token_of_the_same_subject_replaces_it(gw):
    client, transport = gw.connect("s1", subject="bob", ttl=60)
    answer = gw.hub.handle("s1", contract.SIO_REFRESH, [{"token": token("bob", ttl=7200)}])
    assert answer["ok"] is True and answer["expiresAt"] > time.time() + 3600
    assert client.principal.expires_at == answer["expiresAt"]
    assert transport.named(contract.SIO_REFRESHED) == [answer]


@pytest.mark.parametrize(
    "new",
    [token("mallory"), token("bob", drones=["D2"]), "garbage", None],
    ids=["other-subject", "narrower-than-subscriptions", "garbage", "missing"],
)
def test_refresh_is_refused_and_keeps_the_old_token(gw, new):
    client, transport = gw.connect("s1", subject="bob", drones=["D1", "D2"])
    gw.subscribe("s1", droneSerials=["D1", "D2"])
    before = client.principal
    answer = gw.hub.handle("s1", contract.SIO_REFRESH, [{"token": new}])
    assert answer["ok"] is False and answer["code"] == contract.CODE_FORBIDDEN
    assert client.principal is before and transport.named(contract.SIO_REFRESHED) == [answer]


def test_expire_tokens_disconnects_only_the_expired(gw):
    old, t_old = gw.connect("old", ttl=60)
    new, t_new = gw.connect("new", ttl=7200)
    gw.subscribe("old", all=True)
    gw.subscribe("new", all=True)
    assert gw.hub.expire_tokens(now=time.time() + 600) == ["old"]
    assert old.phase is Phase.CLOSED and t_old.closes == [False]
    assert new.phase is Phase.LIVE and not t_new.closed
    assert gw.hub.client_count == 1 and len(gw.hub.live.audience) == 1
    sent = gw.publish("D1")
    assert t_old.event_ids() == [] and t_new.event_ids() == [sent[0].id]


def test_disconnect_closes_the_client_and_leaves_the_audience(gw):
    client, transport = gw.connect("s1")
    gw.subscribe("s1", droneSerials=["D1"])
    gw.subscribe("s1", all=True)
    gw.hub.disconnect("s1")
    gw.hub.disconnect("s1")  # twice: harmless
    assert client.phase is Phase.CLOSED and gw.hub.client_count == 0
    assert len(gw.hub.live.audience) == 0
    assert list(gw.hub.live.audience.of_event("D1")) == []
    assert subscriptions_gauge(gw, "all") == subscriptions_gauge(gw, "drone") == 0
    assert sample(gw.metrics, "gateway_connected_clients") == 0
    gw.publish("D1", "")
    assert transport.event_ids() == []


def test_disconnect_of_a_client_awaiting_its_subscribe(gw):
    client, _ = gw.connect("s1")
    gw.hub.disconnect("s1")
    assert client.phase is Phase.CLOSED and gw.hub.client_count == 0


def test_a_history_page_sends_the_subscribed_events_and_where_to_go_on(gw):
    _, transport = gw.connect("s1")
    gw.subscribe("s1", droneSerial="D1")
    sent = gw.publish("D1", "D2", "D1", "")
    answer = gw.hub.handle("s1", contract.SIO_HISTORY, [{"after": "0-0", "limit": 3}])
    assert answer == {"ok": True, "recovered": True, "next": gw.log.events[2].id}
    assert transport.event_ids() == [e.id for e in sent if e.serial != "D2"] + [
        gw.log.events[0].id,
        gw.log.events[2].id,
    ]


def test_close_all_sends_everyone_away_and_refuses_new_clients(gw):
    client, transport = gw.connect("s1")
    assert gw.hub.close_all() == 1
    assert transport.named(contract.SIO_RECONNECT) == [{"reason": "gateway shutting down"}]
    assert client.phase is Phase.CLOSED and transport.closed
    with pytest.raises(AuthError):
        gw.connect("s2")
