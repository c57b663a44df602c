"""Defect 6 (API): refused input must write one JSON line each, at a bounded rate.

Bound: at most LOG_REFUSED_PER_MINUTE lines about refused requests per process and minute,
whatever arrives; every line of the process is one JSON object, no traceback."""

from __future__ import annotations

import json

import requests

from tests.attack.api.wire import exchange
from tests.support.waiting import wait_until

PER_MINUTE = 40
FLOOD = 300


def _refusals(api_server, token):
    """One of each kind of refused input: raw HTTP errors and 4xx of the app."""
    url = api_server.url
    auth = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}
    yield lambda: exchange(api_server.port, b"\x16\x03\x01 hello\r\n\r\n")
    yield lambda: exchange(
        api_server.port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"h" * 10_000 + b"\r\n\r\n"
    )
    yield lambda: requests.get(f"{url}/nowhere", timeout=5)
    yield lambda: requests.get(f"{url}/api/v1/drones", timeout=5)  # no token: 401
    yield lambda: requests.post(f"{url}/api/v1/drones/register", data="{", headers=auth, timeout=5)
    yield lambda: requests.post(
        f"{url}/api/v1/drones/register", data="[" * 1000, headers=auth, timeout=5
    )


def _lines(api_server, start: int) -> list[str]:
    return api_server.logs()[start:].splitlines()


def _is_refusal(line: str) -> bool:
    record = json.loads(line)
    return record.get("msg") == "refused" or 400 <= record.get("status", 0) < 500


def _refused_lines(lines):
    return [line for line in lines if _is_refusal(line)]


def test_refused_input_logs_one_json_line_each_within_the_rate(
    start_api, attack_settings, healthy, token
):
    api_server = start_api(attack_settings.replace(log_refused_per_minute=PER_MINUTE))
    start = len(api_server.logs())

    kinds = list(_refusals(api_server, token))
    for send in kinds:
        send()
    wait_until(
        lambda: len(_refused_lines(_lines(api_server, start))) >= len(kinds),
        timeout=10,
        message="a line per refusal",
    )
    one_each = _refused_lines(_lines(api_server, start))

    for index in range(FLOOD):
        kinds[index % len(kinds)]()
    flood_lines = _lines(api_server, start)

    healthy.assert_served()
    print(f"\n{len(kinds) + FLOOD} refused requests: {len(flood_lines)} log lines")
    assert len(one_each) == len(kinds), one_each
    for line in api_server.logs().splitlines():
        record = json.loads(line)  # one format: every line of the process is one JSON object
        assert "exc" not in record, record
    assert len(_refused_lines(flood_lines)) <= PER_MINUTE
