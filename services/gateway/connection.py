"""One connected client and the phase of its life (a plain state machine, no server needed).

A connection is sent nothing (no drone event, no broadcast) before its first ``subscribe`` is
answered, and then every event in strictly increasing id order. So it starts AWAITING (in no
room); an answered subscribe makes it LIVE (in the rooms of its subscriptions and of
broadcasts), or REPLAYING when it resumes with ``since`` (still in no room, served from the
log) until its replay reaches the live position. A client that reads too slowly goes back to
REPLAYING to catch up.
"""

from __future__ import annotations

import dataclasses
import enum

from shared.auth import Principal


class Phase(enum.Enum):
    AWAITING = "awaiting"  # connected, no subscribe answered yet: sent nothing but answers
    REPLAYING = "replaying"  # served from the log, in no room, until it reaches the live position
    LIVE = "live"  # in the rooms of its subscriptions and of broadcasts


class PhaseError(RuntimeError):
    """A transition the state machine does not allow (a bug in the hub)."""


@dataclasses.dataclass
class Client:
    """One connected Socket.IO client."""

    sid: str
    principal: Principal
    subscriptions: set[str] = dataclasses.field(default_factory=set)
    greeted: bool = False
    phase: Phase = Phase.AWAITING
    falling_behind: bool = False  # a catch-up is due (see ``Hub.fall_behind``)
    skips_when_behind: bool = False  # ``whenBehind: "skip"``: skipped ahead, not replayed

    @property
    def replaying(self) -> bool:
        return self.phase is Phase.REPLAYING

    @property
    def live(self) -> bool:
        return self.phase is Phase.LIVE

    @property
    def started(self) -> bool:
        """Whether a subscribe was answered: events may have been sent to it."""
        return self.phase is not Phase.AWAITING

    def start_replaying(self) -> None:
        if self.phase is Phase.REPLAYING:
            raise PhaseError(f"{self.sid} is replaying already")
        self.phase = Phase.REPLAYING

    def go_live(self) -> None:
        if self.phase is Phase.LIVE:
            raise PhaseError(f"{self.sid} is live already")
        self.phase = Phase.LIVE

    def may_resume(self) -> bool:
        """Whether a ``since`` can be honoured: only before anything was sent, or while the
        resume's own replay runs. Later, events of other subscriptions newer than ``since``
        have been sent, and replaying older ones would break the id order."""
        return self.phase is not Phase.LIVE
