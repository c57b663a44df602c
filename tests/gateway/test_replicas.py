"""Any number of gateway replicas behind one Redis: every client gets each event once."""

from collections import Counter

from tests.support.waiting import wait_until


def test_three_gateways_deliver_each_event_exactly_once(
    start_gateway, connect, process_writer, serial
):
    gateways = [start_gateway() for _ in range(3)]
    clients = [connect(gw) for gw in gateways for _ in range(2)]
    for client in clients:
        client.call("subscribe", {"all": True})
        client.call("subscribe", {"droneSerial": serial})

    ids = [i for _ in range(30) for i in process_writer.write(serial)]
    marker = process_writer.write(serial + "-marker")[0]
    for client in clients:
        wait_until(
            lambda c=client: marker in [e["id"] for e in c.drone_events()],
            message="marker event on every client",
        )

    for client in clients:
        received = [e["id"] for e in client.drone_events() if e["droneSerial"] == serial]
        assert received == ids, "each event once, in order"
        assert max(Counter(received).values()) == 1
