"""One connected client and its delivery state: a plain state machine, no server needed.

A connection is sent nothing (no drone event, no broadcast) before its first ``subscribe``
is answered, and then every event in strictly increasing id order, once. Its phases, and
every transition between them, are here (drawn in docs/gateway.md):

- AWAITING: connected, no subscribe answered yet; sent nothing but answers.
- LIVE: in the audience; gets each event as the relay delivers it.
- LEAVING: reported behind by its transport while live, outside a delivery; it leaves the
  audience as soon as the delivery lock is free (and gets no event meanwhile).
- REPLAYING: served from the event history at the pace it reads (a resume with ``since``,
  or a client that read too slowly), until it reaches the live position.
- SKIPPING: a ``whenBehind: "skip"`` client that fell behind: once its backlog has drained
  it rejoins at the live position, after a ``missed`` notice.
- CLOSED: gone; no transition leaves it.
"""

from __future__ import annotations

import dataclasses
import enum

from shared.auth import Principal


class Phase(enum.Enum):
    AWAITING = "awaiting"
    LIVE = "live"
    LEAVING = "leaving"
    REPLAYING = "replaying"
    SKIPPING = "skipping"
    CLOSED = "closed"


# Every transition the gateway makes, and no other.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.AWAITING: frozenset({Phase.LIVE, Phase.REPLAYING, Phase.CLOSED}),
    Phase.LIVE: frozenset({Phase.LEAVING, Phase.REPLAYING, Phase.SKIPPING, Phase.CLOSED}),
    Phase.LEAVING: frozenset({Phase.REPLAYING, Phase.SKIPPING, Phase.CLOSED}),
    Phase.REPLAYING: frozenset({Phase.LIVE, Phase.CLOSED}),
    Phase.SKIPPING: frozenset({Phase.LIVE, Phase.CLOSED}),
    Phase.CLOSED: frozenset(),
}


class PhaseError(RuntimeError):
    """A transition the state machine does not allow (a bug in the gateway)."""


@dataclasses.dataclass(eq=False)
class Client:
    """One connected Socket.IO client: who it is, what it subscribed to, where it is."""

    sid: str
    principal: Principal
    transport: object = None  # its :class:`services.gateway.transport` Transport
    subscriptions: set[str] = dataclasses.field(default_factory=set)
    greeted: bool = False  # the contract's ``connected`` event went out
    phase: Phase = Phase.AWAITING
    skips_when_behind: bool = False  # ``whenBehind: "skip"``: skipped ahead, not replayed

    def __post_init__(self) -> None:
        # The fan-out's inner loop calls it once per recipient and event: bound once here.
        self.send = self.transport.send if self.transport is not None else None

    def move(self, to: Phase) -> None:
        if to not in TRANSITIONS[self.phase]:
            raise PhaseError(f"{self.sid}: no transition from {self.phase.value} to {to.value}")
        self.phase = to

    @property
    def live(self) -> bool:
        return self.phase is Phase.LIVE

    @property
    def catching_up(self) -> bool:
        """Served from the history, not live: replaying or skipping ahead."""
        return self.phase in (Phase.REPLAYING, Phase.SKIPPING)

    @property
    def started(self) -> bool:
        """Whether a subscribe was answered: events may have been sent to it."""
        return self.phase not in (Phase.AWAITING, Phase.CLOSED)

    def may_resume(self) -> bool:
        """Whether a ``since`` can be honoured: only before anything was sent, or while the
        resume's own replay runs. Later, events of other subscriptions newer than ``since``
        have been sent, and replaying older ones would break the id order."""
        return self.phase in (Phase.AWAITING, Phase.REPLAYING, Phase.SKIPPING)
