"""A connection's phases (services/gateway/delivery/connection.py): the state machine alone."""

import itertools

import pytest

from services.gateway.delivery.connection import TRANSITIONS, Client, Phase, PhaseError
from tests.gateway.unit.delivery.fakes import principal

A, LI, LE, R, S, C = (
    Phase.AWAITING,
    Phase.LIVE,
    Phase.LEAVING,
    Phase.REPLAYING,
    Phase.SKIPPING,
    Phase.CLOSED,
)

# Written out here, not read from TRANSITIONS: a change to the table must change this too.
ALLOWED = {
    (A, LI),  # a subscribe without since
    (A, R),  # a resume
    (A, C),
    (LI, LE),  # reported behind outside a delivery
    (LI, R),
    (LI, S),
    (LI, C),
    (LE, R),  # left the audience: replayed
    (LE, S),  # or skipped ahead
    (LE, C),
    (R, LI),  # caught up
    (R, C),
    (S, LI),  # its backlog drained
    (S, C),
}
REFUSED = sorted(
    set(itertools.product(Phase, Phase)) - ALLOWED, key=lambda t: (t[0].value, t[1].value)
)


def client_in(phase: Phase) -> Client:
    client = Client("sid-1", principal())
    client.phase = phase
    return client


def ids(pair) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_a_new_client_awaits_its_first_answer_with_nothing_sent():
    client = Client("sid-1", principal())
    assert client.phase is Phase.AWAITING
    assert not client.live and not client.started and not client.catching_up
    assert not client.greeted and client.subscriptions == set()


def test_the_table_holds_exactly_the_documented_transitions():
    table = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(Phase)


@pytest.mark.parametrize("pair", sorted(ALLOWED, key=ids), ids=ids)
def test_an_allowed_transition_moves_the_client(pair):
    client = client_in(pair[0])
    client.move(pair[1])
    assert client.phase is pair[1]


@pytest.mark.parametrize("pair", REFUSED, ids=ids)
def test_a_transition_outside_the_table_raises_and_keeps_the_phase(pair):
    client = client_in(pair[0])
    with pytest.raises(PhaseError, match=f"from {pair[0].value} to {pair[1].value}"):
        client.move(pair[1])
    assert client.phase is pair[0]


@pytest.mark.parametrize("target", list(Phase), ids=lambda p: p.value)
def test_closed_is_terminal(target):
    client = client_in(Phase.CLOSED)
    with pytest.raises(PhaseError):
        client.move(target)
    assert client.phase is Phase.CLOSED


@pytest.mark.parametrize(
    "phase, may_resume",
    [(A, True), (LI, False), (LE, False), (R, True), (S, True), (C, False)],
    ids=lambda v: v.value if isinstance(v, Phase) else str(v),
)
def test_a_since_is_honoured_only_before_anything_was_sent_or_while_catching_up(phase, may_resume):
    assert client_in(phase).may_resume() is may_resume


@pytest.mark.parametrize(
    "phase, live, catching_up, started",
    [
        (A, False, False, False),
        (LI, True, False, True),
        (LE, False, False, True),
        (R, False, True, True),
        (S, False, True, True),
        (C, False, False, False),
    ],
    ids=lambda v: v.value if isinstance(v, Phase) else str(v),
)
def test_the_phase_properties(phase, live, catching_up, started):
    client = client_in(phase)
    assert (client.live, client.catching_up, client.started) == (live, catching_up, started)


def test_a_slow_client_goes_round_the_cycle_and_closes():
    client = Client("sid-1", principal())
    for phase in (LI, LE, R, LI, R, LI, S, LI, LE, S, LI, C):
        client.move(phase)
    assert client.phase is Phase.CLOSED


def test_a_resume_cannot_go_live_twice_nor_replay_twice():
    client = Client("sid-1", principal())
    client.move(R)
    with pytest.raises(PhaseError):
        client.move(R)
    client.move(LI)
    with pytest.raises(PhaseError):
        client.move(LI)
