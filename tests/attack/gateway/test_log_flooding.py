"""Defect 6 of issue #20: one unauthenticated session sending ``42[`` 200 times wrote 400
tracebacks (587 KiB): python-engineio logged each decoding error with its traceback, twice
(its own plain-text stderr handler beside the JSON log). Now a packet that breaks the
protocol closes its connection (the spec's MUST), each refusal is one JSON line without a
traceback, and the protocol log is rate limited: a client reconnecting to repeat it
cannot flood the log either.
"""

from __future__ import annotations

import json

from services.gateway.protocol_log import BURST
from services.gateway.transport.session import CLOSE_PROTOCOL_ERROR
from tests.attack.gateway import raw

FLOOD = 50  # connections, each closed at its first bad packet


def test_a_flood_of_undecodable_packets_writes_a_few_json_lines(gateway_in_mode, bystander, mode):
    gateway = gateway_in_mode()
    healthy = bystander(gateway)
    start = len(gateway.logs().encode())

    for _ in range(FLOOD):
        ws = raw.open_engineio_websocket(gateway.port)
        ws.send_text("42[")
        assert ws.close_code() == CLOSE_PROTOCOL_ERROR
        ws.close()

    written = gateway.log_path.read_bytes()[start:].decode()
    lines = [line for line in written.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # one format: every line is JSON
    refused = [r for r in records if "refused input" in r["msg"]]
    print(f"{mode}: {FLOOD} bad packets wrote {len(lines)} lines, {len(written)} bytes")

    assert 1 <= len(refused) <= BURST
    assert not [r for r in records if "exc" in r]  # no tracebacks
    assert len(lines) <= BURST + 2
    healthy.is_served()
