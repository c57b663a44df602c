"""Delivery survives Redis restarts, gateway crashes and gateway shutdowns."""

import signal
import threading

import pytest
import redis
import requests

from shared import contract
from shared.eventlog import EventLog
from tests.support.events import DroneEventWriter
from tests.support.waiting import wait_until


def ids_of(client, serial):
    return [e["id"] for e in client.drone_events() if e["droneSerial"] == serial]


@pytest.fixture
def on_restartable_redis(restartable_redis, process_settings, start_gateway, connect, serial):
    """A gateway on a Redis the test may stop, a writer, and a client subscribed to ``serial``."""
    settings = process_settings.replace(redis_url=restartable_redis.url)
    writer = DroneEventWriter(
        EventLog(redis.Redis.from_url(settings.redis_url), settings.key_prefix)
    )
    gateway = start_gateway(settings)
    client = connect(gateway)
    client.call("subscribe", {"droneSerial": serial})
    return gateway, writer, client


def test_relay_resumes_after_redis_restarts(on_restartable_redis, restartable_redis, serial):
    gateway, writer, client = on_restartable_redis
    before = writer.write(serial)
    client.wait_drone_events(1)

    restartable_redis.restart()
    after = [i for _ in range(5) for i in writer.write(serial)]

    wait_until(
        lambda: ids_of(client, serial) == before + after,
        timeout=30,
        message="events after the restart",
    )


def test_events_written_while_the_relay_is_cut_off_arrive_afterwards(
    on_restartable_redis, restartable_redis, serial
):
    gateway, writer, client = on_restartable_redis
    restartable_redis.stop()
    wait_until(lambda: _not_ready(gateway), timeout=20, message="gateway not ready")

    restartable_redis.start()
    ids = [i for _ in range(10) for i in writer.write(serial)]

    wait_until(lambda: ids_of(client, serial) == ids, timeout=30, message="caught up")


def test_clients_of_a_killed_gateway_resume_on_another_without_gap(
    start_gateway, connect, process_writer, serial
):
    doomed, *survivors = start_gateway(), start_gateway(), start_gateway()
    clients = [connect(doomed) for _ in range(4)]
    for client in clients:
        client.call("subscribe", {"droneSerial": serial})
    written: list[str] = []
    burst = threading.Thread(
        target=lambda: [written.extend(process_writer.write(serial)) for _ in range(300)]
    )
    burst.start()
    wait_until(lambda: all(ids_of(c, serial) for c in clients), message="burst reaching clients")

    doomed.kill()  # mid-burst
    resumed = []
    for n, client in enumerate(clients):
        seen = ids_of(client, serial)
        again = connect(survivors[n % 2])
        answer = again.call("subscribe", {"droneSerial": serial, "since": seen[-1]})
        assert answer["recovered"] is True
        resumed.append((seen, again))
    burst.join(60)

    for seen, again in resumed:
        wait_until(
            lambda s=seen, a=again: s + ids_of(a, serial) == written,
            timeout=20,
            message="every event once, in order, across the switch",
        )


def test_graceful_shutdown_sends_clients_elsewhere_and_exits(start_gateway, connect):
    gateway = start_gateway()
    client = connect(gateway)

    gateway.signal(signal.SIGTERM)

    [notice] = client.wait_for(contract.SIO_RECONNECT)
    assert notice["reason"]
    wait_until(lambda: gateway.process.poll() is not None, timeout=25, message="gateway exit")
    assert gateway.process.returncode == 0


def test_shutdown_drops_the_transport_so_python_clients_reconnect(start_gateway, connect):
    gateway = start_gateway()
    client = connect(gateway)
    reasons = []
    client.sio.on("disconnect", lambda reason=None: reasons.append(reason))

    gateway.signal(signal.SIGTERM)

    wait_until(lambda: reasons, timeout=25, message="client disconnected")
    # A transport error makes python-socketio (and the official clients) reconnect; a
    # Socket.IO "server disconnect" would make them give up.
    assert reasons[0] == client.sio.reason.TRANSPORT_ERROR


def _not_ready(gateway) -> bool:
    return requests.get(gateway.url + "/readyz", timeout=5).status_code == 503


def test_subscribe_waits_until_the_relay_knows_where_live_delivery_starts(
    restartable_redis, process_settings, start_gateway, connect, serial
):
    settings = process_settings.replace(redis_url=restartable_redis.url)
    restartable_redis.stop()
    gateway = start_gateway(settings)  # its relay cannot read where the log ends
    client = connect(gateway)

    # Answered with a position, the client would be joined where the relay later jumps past.
    assert client.call("subscribe", {"droneSerial": serial}, timeout=15)["ok"] is False

    restartable_redis.start()
    wait_until(
        lambda: client.call("subscribe", {"droneSerial": serial}, timeout=15)["ok"],
        timeout=30,
        message="subscribed once the relay is live",
    )
    writer = DroneEventWriter(
        EventLog(redis.Redis.from_url(settings.redis_url), settings.key_prefix)
    )
    ids = [i for _ in range(5) for i in writer.write(serial)]
    wait_until(lambda: ids_of(client, serial) == ids, timeout=30, message="every event")


def test_clients_of_a_gateway_the_history_trimming_overtook_are_sent_to_resume(
    start_gateway, process_settings, writer_for, connect, serial
):
    # A replica that stalls (a burst, a pause of the process) while the stream's trimming
    # passes its position: reading on from there would skip the trimmed events silently.
    settings = process_settings.replace(event_stream_maxlen=100)
    gateway = start_gateway(settings)
    writer = writer_for(settings)
    client = connect(gateway)
    client.call("subscribe", {"all": True})
    writer.write(serial)
    client.wait_drone_events(1)

    gateway.signal(signal.SIGSTOP)
    try:
        for _ in range(400):  # trimmed to the newest 100-200 (MAXLEN ~, 100 per node)
            writer.write(serial)
    finally:
        gateway.signal(signal.SIGCONT)

    [notice] = client.wait_for(contract.SIO_RECONNECT)
    assert notice == {"reason": contract.RECONNECT_FELL_BEHIND}
    # A gap-free prefix, then the notice: none of the events after the gap.
    assert [e["version"] for e in client.drone_events()] == [1]
    # At least once: while the last writes still trim, its next reads may be overtaken too
    # (with no client left to send away).
    assert gateway.metric("gateway_relay_overtaken_total") >= 1
