"""The JSON module of the Socket.IO server, with pre-encoded payloads passed through.

Envelopes arrive from Redis already encoded. Wrapping one in :class:`RawJSON` lets the
packet encoder insert it verbatim, so the gateway never decodes and re-encodes an event:
one string concatenation per event, whatever the number of recipients.
"""

import json

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
loads = json.loads


class RawJSON(str):
    """A string that already is JSON text."""

    __slots__ = ()


def dumps(obj, **_options) -> str:
    """Like :func:`json.dumps`, but :class:`RawJSON` items of a top-level list go in as they are."""
    if isinstance(obj, list):
        return "[" + ",".join(x if isinstance(x, RawJSON) else _encode(x) for x in obj) + "]"
    return _encode(obj)
