"""Defect 5: every made-up HTTP method became a label value of /metrics (5,000 added 21 MB).

Bound: the method, route and status labels each take values from a fixed set, so a client
can add no series whatever it sends.
"""

from __future__ import annotations

import itertools
import string

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.attack.api.wire import exchange
from tests.support.waiting import wait_until

KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
MADE_UP = 300
GROWTH_BOUND = 512  # bytes the exposition may grow by: larger counts, no new series


def _labels(text: str, name: str) -> set:
    return {
        sample.labels[name]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if name in sample.labels
    }


def _attack(api_server, methods, paths):
    for method in methods:
        raw = f"{method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        assert exchange(api_server.port, raw).status in (400, 405, 501)
    for path in paths:
        requests.get(f"{api_server.url}/nowhere/{path}", timeout=5)
    return requests.get(api_server.url + "/metrics", timeout=5).text


def test_made_up_methods_paths_and_statuses_add_no_series(api_server, healthy):
    methods = ["".join(p) for p in itertools.product(string.ascii_uppercase, repeat=4)]
    # A first round makes the series a made-up method or path may use (a few, fixed)...
    wait_until(lambda: healthy.served(2), message="the healthy client's two routes")
    _attack(api_server, methods[:3], range(3))  # the scrape counts itself from then on
    before = requests.get(api_server.url + "/metrics", timeout=5).text
    # ...the attack adds none: only the counts grow, a few digits.
    after = _attack(api_server, methods[3 : 3 + MADE_UP], range(3, 103))

    healthy.assert_served()
    print(f"\n/metrics {len(before)} -> {len(after)} bytes after {MADE_UP} made-up methods")
    assert _labels(after, "method") <= KNOWN_METHODS
    assert "/nowhere/1" not in _labels(after, "route")
    assert len(after) - len(before) <= GROWTH_BOUND
