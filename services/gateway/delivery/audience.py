"""Who gets a live event: the live clients, indexed by what they subscribed to.

A drone's event goes to the clients subscribed to that drone or to ``all``, once each even
when both; a system broadcast goes to every live client (any subscription brings them).
Only live clients are here: one that awaits its first answer, replays or skips ahead is
in no set, so live delivery cannot reach it out of order.
"""

from __future__ import annotations

from shared import contract


class Audience:
    """The live clients by subscription target (a serial, or ``all``)."""

    def __init__(self):
        self._everyone: dict[str, object] = {}  # sid -> client: the broadcasts' audience
        self._by_target: dict[str, dict[str, object]] = {}

    def join(self, client) -> None:
        """``client`` is live: it gets the events of its subscriptions, and broadcasts."""
        self._everyone[client.sid] = client
        for target in client.subscriptions:
            self._by_target.setdefault(target, {})[client.sid] = client

    def leave(self, client) -> None:
        self._everyone.pop(client.sid, None)
        for target in client.subscriptions:
            self._forget(target, client.sid)

    def add(self, client, targets) -> None:
        """A live ``client`` subscribed to ``targets`` too."""
        for target in targets:
            self._by_target.setdefault(target, {})[client.sid] = client

    def remove(self, client, targets) -> None:
        for target in targets:
            self._forget(target, client.sid)

    def _forget(self, target: str, sid: str) -> None:
        members = self._by_target.get(target)
        if members is not None:
            members.pop(sid, None)
            if not members:
                del self._by_target[target]

    def of_event(self, serial: str | None):
        """The clients a drone's event (``serial``) or a broadcast (None) goes to."""
        if serial is None:
            return self._everyone.values()
        fleet = self._by_target.get(contract.ALL)
        drone = self._by_target.get(serial)
        if drone is None:
            return fleet.values() if fleet else ()
        if fleet is None:
            return drone.values()
        return {**fleet, **drone}.values()

    def __len__(self) -> int:
        return len(self._everyone)
