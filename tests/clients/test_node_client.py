"""The official JavaScript client (socket.io-client from npm, run by Node) against the gateway."""

from __future__ import annotations

import pytest

# Each subscription shape, the drones registered, and the creations it must receive.
SHAPES = {
    "all": ({"all": True}, ["JSA", "JSB"], ["JSA", "JSB"]),
    "droneSerial": ({"droneSerial": "JSA"}, ["JSB", "JSA"], ["JSA"]),
    "droneSerials": ({"droneSerials": ["JSA", "JSC"]}, ["JSA", "JSB", "JSC"], ["JSA", "JSC"]),
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_official_client_receives_exactly_its_subscription(stack, tokens, node_client, shape):
    subscription, registered, expected = SHAPES[shape]
    node = node_client(stack.gateway.url, tokens["viewer"], subscription)
    [answer] = node.wait_for("subscribed")
    assert answer["ok"] is True

    for serial in registered:
        stack.register(serial)
    # A last change to the last expected drone: once it arrived, every earlier event
    # that was going to arrive has.
    stack.set_stream(expected[-1], True)

    node.wait_for("event", lambda events: any(e["event"] == "drone.stream.status" for e in events))
    received = [(e["event"], e["droneSerial"]) for e in node.of("event")]
    assert received == [("drone.created", s) for s in expected] + [
        ("drone.updated", expected[-1]),
        ("drone.stream.status", expected[-1]),
    ]
    ids = [e["id"] for e in node.of("event")]
    assert len(set(ids)) == len(ids)


def test_official_client_is_refused_without_a_valid_token(stack, node_client):
    node = node_client(stack.gateway.url, "forged", {"all": True})
    [refusal] = node.wait_for("connect_error")
    assert "unauthorized" in refusal["message"]
