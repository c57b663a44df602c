"""A connection's phases (services/gateway/connection.py), without a server."""

import pytest

from services.gateway.connection import Client, Phase, PhaseError
from shared.auth import Principal


def client() -> Client:
    return Client("sid", Principal("u", "viewer", None, 0))


def test_a_new_connection_awaits_its_first_answer_and_may_resume():
    c = client()
    assert c.phase is Phase.AWAITING and not c.started and not c.live and not c.replaying
    assert c.may_resume()


def test_a_subscribe_without_since_makes_it_live_at_once():
    c = client()
    c.go_live()
    assert c.live and c.started
    assert not c.may_resume()  # events were sent: an older since would break the order


def test_a_resume_replays_then_goes_live():
    c = client()
    c.start_replaying()
    assert c.replaying and c.started and c.may_resume()
    c.go_live()
    assert c.live


def test_a_live_client_that_falls_behind_replays_again():
    c = client()
    c.go_live()
    c.start_replaying()
    assert c.replaying


def test_impossible_transitions_are_refused():
    c = client()
    c.start_replaying()
    with pytest.raises(PhaseError):
        c.start_replaying()
    c.go_live()
    with pytest.raises(PhaseError):
        c.go_live()
