"""hypothesis strategies of hostile Socket.IO traffic: payloads, event names and raw frames."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from shared import contract

# Leaves and containers of any JSON document, unicode and control characters included.
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=20), children, max_size=6)
    ),
    max_leaves=30,
)

serials = (
    st.from_regex(contract.SERIAL_PATTERN, fullmatch=True)
    | st.text(max_size=80)
    | st.sampled_from(["", "all", "*", "a.b", "$gt", "../x", "x" * 65])
)


def _repeated(alphabet: st.SearchStrategy[str], sizes: st.SearchStrategy[int]):
    # Big strings from a small choice sequence: one character times a drawn length.
    return st.builds(lambda c, n: c * n, alphabet, sizes)


def _sizes_around(limit: int) -> st.SearchStrategy[int]:
    # Well within the limit, just around it, or well over it.
    return (
        st.integers(limit // 4, limit - 512)
        | st.integers(limit - 64, limit + 64)
        | st.integers(limit * 2, limit * 3)
    )


def big_strings(limit: int) -> st.SearchStrategy[str]:
    """Strings whose JSON encoding (non-ASCII escaped, as python-socketio sends it) is
    around the gateway's message limit."""

    def of_size(char: str, size: int) -> str:
        return char * max(1, size // (len(json.dumps(char)) - 2))

    return st.builds(of_size, st.characters(codec="utf-8"), _sizes_around(limit))


# Contract-shaped objects with wrong types, extra keys, operators and huge lists.
contract_shaped = st.fixed_dictionaries(
    {},
    optional={
        "all": st.just(True) | json_values,
        "droneSerial": serials | json_values,
        "droneSerials": st.lists(serials, max_size=30)
        | _repeated(st.just(["S"]), st.integers(900, 1100))
        | json_values,
        "since": st.sampled_from(["0-0", "1-0", "99999999999999-0", "-1", "x-y"]) | json_values,
        "snapshot": st.booleans() | json_values,
        "token": st.text(max_size=200) | json_values,
        "$where": json_values,
        "__proto__": st.just({"admin": True}),
    },
)


def emit_arguments(limit: int) -> st.SearchStrategy[tuple]:
    """The arguments of one emit, as python-socketio's client would send them: up to three
    small payloads, or (one time in five) one big payload within, around or over the limit,
    which mostly costs a reconnection."""
    small_binary = st.binary(max_size=2048)
    small = st.one_of(
        contract_shaped,
        json_values,
        small_binary,
        st.dictionaries(st.sampled_from(["droneSerial", "token", "all"]), small_binary, min_size=1),
    )
    big = st.one_of(
        big_strings(limit),
        _repeated(st.just(b"\xff"), _sizes_around(limit)),
        st.builds(lambda s: {"droneSerial": s}, big_strings(limit)),
    )
    return st.sampled_from(range(5)).flatmap(
        lambda pick: st.tuples(big) if pick == 0 else st.lists(small, max_size=3).map(tuple)
    )


ANSWERED = {contract.SIO_SUBSCRIBE, contract.SIO_UNSUBSCRIBE, contract.SIO_REFRESH}
_contract_events = st.sampled_from(sorted(ANSWERED))
# Half contract events; the rest names the gateway does not handle, reserved ones included.
event_names = st.one_of(
    _contract_events,
    _contract_events,
    st.sampled_from(["message", "connected", "drone:event", "*", "", "disconnect", "connect"]),
    st.text(max_size=30),
)


def _nested(depth: int, opener: str, closer: str) -> str:
    return opener * depth + closer * depth


def raw_frames(limit: int) -> st.SearchStrategy[str | bytes]:
    """Raw WebSocket frames: Engine.IO/Socket.IO packets that are malformed, deeply nested,
    oversized, or plain garbage, text and binary."""
    packet_types = st.sampled_from(["", "0", "1", "2", "3", "4", "5", "6", "9"])
    sio_types = st.sampled_from(["", "0", "1", "2", "3", "4", "5", "6", "7", "21", "451-"])
    events = st.sampled_from(sorted(ANSWERED) + ["x", "disconnect", "connect"])
    bodies = st.one_of(
        st.text(max_size=200),
        json_values.map(json.dumps),
        st.builds(lambda e, v: json.dumps([e, v]), events, json_values),
        st.builds(
            lambda e, d: f'["{e}",' + _nested(d, "[", "]") + "]",
            events,
            st.integers(100, min(8000, limit // 2 - 64)),
        ),
        st.builds(
            lambda e, d: f'["{e}",' + '{"a":' * d + "1" + "}" * d + "]",
            events,
            st.integers(100, 2500),
        ),
        st.builds(lambda e: f'["{e}",{{"_placeholder":true,"num":7}}]', events),
        _repeated(st.sampled_from(["[", "{", '"', "\\", "9"]), st.integers(1, limit * 2)),
    )
    text = st.builds(lambda a, b, c: a + b + c, packet_types, sio_types, bodies)
    return text | st.text(max_size=100) | st.binary(max_size=1024)
