"""Who gets a live event (services/gateway/delivery/audience.py)."""

from services.gateway.delivery.audience import Audience
from services.gateway.delivery.connection import Client
from tests.gateway.unit.delivery.fakes import principal


def client(sid: str, *targets: str) -> Client:
    return Client(sid, principal(), subscriptions=set(targets))


def sids(clients) -> list[str]:
    return sorted(c.sid for c in clients)


def test_a_client_of_all_and_of_the_drone_gets_the_drone_event_once():
    audience = Audience()
    both = client("both", "all", "D1")
    audience.join(both)
    recipients = list(audience.of_event("D1"))
    assert recipients == [both]


def test_a_drone_event_goes_to_the_fleet_and_the_drone_subscribers_only():
    audience = Audience()
    for c in (client("fleet", "all"), client("d1", "D1"), client("d2", "D2", "D3")):
        audience.join(c)
    assert sids(audience.of_event("D1")) == ["d1", "fleet"]
    assert sids(audience.of_event("D3")) == ["d2", "fleet"]
    assert sids(audience.of_event("D9")) == ["fleet"]


def test_a_drone_event_without_fleet_subscribers_goes_to_the_drone_subscribers():
    audience = Audience()
    audience.join(client("d1", "D1"))
    assert sids(audience.of_event("D1")) == ["d1"]
    assert sids(audience.of_event("D2")) == []


def test_a_broadcast_goes_to_every_live_client_once():
    audience = Audience()
    for c in (client("fleet", "all"), client("d1", "D1"), client("both", "all", "D1")):
        audience.join(c)
    assert sids(audience.of_event(None)) == ["both", "d1", "fleet"]
    assert len(audience) == 3


def test_a_client_that_leaves_gets_nothing_more():
    audience = Audience()
    gone, stays = client("gone", "all", "D1"), client("stays", "D1")
    audience.join(gone)
    audience.join(stays)
    audience.leave(gone)
    assert sids(audience.of_event("D1")) == ["stays"]
    assert sids(audience.of_event("D2")) == []
    assert sids(audience.of_event(None)) == ["stays"]
    assert len(audience) == 1


def test_leaving_twice_or_without_joining_is_harmless():
    audience = Audience()
    c = client("c", "D1")
    audience.leave(c)
    audience.join(c)
    audience.leave(c)
    audience.leave(c)
    assert len(audience) == 0 and list(audience.of_event("D1")) == []


def test_added_targets_bring_their_events():
    audience = Audience()
    c = client("c", "D1")
    audience.join(c)
    c.subscriptions |= {"D2", "all"}
    audience.add(c, {"D2", "all"})
    assert sids(audience.of_event("D2")) == ["c"]
    assert list(audience.of_event("D7")) == [c]
    assert list(audience.of_event("D1")) == [c]  # once, though it is also in "all"


def test_removed_targets_stop_their_events_but_not_the_broadcasts():
    audience = Audience()
    c, other = client("c", "D1", "D2"), client("other", "D2")
    audience.join(c)
    audience.join(other)
    audience.remove(c, {"D2"})
    c.subscriptions -= {"D2"}
    assert sids(audience.of_event("D2")) == ["other"]
    assert sids(audience.of_event("D1")) == ["c"]
    assert sids(audience.of_event(None)) == ["c", "other"]


def test_removing_the_last_member_of_a_target_forgets_the_target():
    audience = Audience()
    c = client("c", "all")
    audience.join(c)
    audience.remove(c, {"all"})
    audience.remove(c, {"all", "never-added"})
    assert list(audience.of_event("D1")) == []
    # Its fleet entry is gone: a drone's own subscribers are the only recipients now.
    d1 = client("d1", "D1")
    audience.join(d1)
    assert list(audience.of_event("D1")) == [d1]


def test_a_client_that_rejoins_is_counted_once():
    audience = Audience()
    c = client("c", "all")
    audience.join(c)
    audience.join(c)
    assert len(audience) == 1
    assert list(audience.of_event(None)) == [c]
    assert list(audience.of_event("D1")) == [c]
