"""Every client gets every event exactly once, in id order, across resumes, or is told
``recovered: false`` with a complete snapshot (issue #19, docs/clients.md).

Real Redis, API and three gateways; python-socketio, the project's Python client and the
official Node ``socket.io-client`` resume while broadcasts storm, Redis restarts, and Redis
comes back empty or from an older copy of its files.
"""

from __future__ import annotations

import pytest
from drone_events import DroneEventsClient

from tests.clients.conftest import node_modules  # noqa: F401 - a fixture
from tests.e2e.resume_support import (
    HandledRecorder,
    NodeResumer,
    Resumer,
    after,
    broadcasts,
    tally,
    toggles,
    wait_for_all,
)
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_until

SERIALS = [f"R-{i}" for i in range(4)]
CLEAN = {"lost": 0, "duplicated": 0, "reordered": 0, "unexpected": 0}


@pytest.fixture
def proxies():
    started: list[TcpProxy] = []

    def make(gateway) -> TcpProxy:
        started.append(TcpProxy(gateway.port))
        return started[-1]

    yield make
    for proxy in started:
        proxy.close()


def test_resumes_under_a_broadcast_storm_get_every_event_once_in_order(
    start_api,
    start_gateway,
    rest_for,
    tokens,
    process_settings,
    proxies,
    node_modules,  # noqa: F811
):
    api = start_api()
    gateways = [start_gateway() for _ in range(3)]
    rest = rest_for(api)
    for serial in SERIALS:
        rest.register(serial)
    storm, changes = broadcasts(rest, pause=0.02), toggles(rest, SERIALS, pause=0.01)
    storm.start()
    changes.start()

    urls = [g.url for g in gateways]
    resumers = [Resumer(urls[i:] + urls[:i], tokens["viewer"], rounds=12) for i in range(6)]
    links = [proxies(gateways[i % 3]) for i in range(4)]
    python_clients = []
    for link in links[:2]:
        client = DroneEventsClient(
            link.url,
            tokens["viewer"],
            all_drones=True,
            reconnection_delay=0.05,
            reconnection_delay_max=0.3,
        )
        python_clients.append((client, HandledRecorder(client)))
        client.connect()
    # Where each started: its first answer's position (reported with the SUBSCRIBED state);
    # before issue #19 the client had no states: its position just after connect().
    starts = {id(c): h.start(c.last_event_id) for c, h in python_clients}
    node = [NodeResumer(link.url, tokens["viewer"]) for link in links[2:]]
    try:
        wait_until(lambda: all(n.first_position for n in node), timeout=30, message="node ready")
        for resumer in resumers:
            resumer.start()
        for _ in range(25):  # dropped connections of the Python and Node clients
            for link in links:
                link.cut()
            wait_until(lambda: storm.acked >= 3, timeout=10)
            acked = storm.acked
            wait_until(lambda a=acked: storm.acked >= a + 5, timeout=10, message="broadcasts")
        for resumer in resumers:
            assert resumer.done.wait(120), "resumer finished its rounds"
        storm.finish()
        changes.finish()

        clients = [(lambda r=r: r.received, lambda r=r: r.first_position) for r in resumers]
        clients += [(lambda h=h: h.ids, lambda c=c: starts[id(c)]) for c, h in python_clients]
        clients += [(lambda n=n: n.received, lambda n=n: n.first_position) for n in node]
        ids = wait_for_all(clients, process_settings)
        figures = {
            "acked": {"broadcasts": storm.acked, "changes": changes.acked},
            "resumer": [tally(after(ids, r.first_position), r.received) for r in resumers],
            "python": [tally(after(ids, starts[id(c)]), h.ids) for c, h in python_clients],
            "node": [tally(after(ids, n.first_position), n.received) for n in node],
        }
        print("broadcast storm figures:", figures)
        assert storm.acked > 100 and changes.acked > 100
        assert all(r.not_recovered == 0 for r in resumers)
        assert figures["resumer"] == [CLEAN] * len(resumers)
        assert figures["python"] == [CLEAN] * len(python_clients)
        assert figures["node"] == [CLEAN] * len(node)
    finally:
        for resumer in resumers:
            resumer.close()
        for client, _ in python_clients:
            client.disconnect()
        for n in node:
            n.stop()
