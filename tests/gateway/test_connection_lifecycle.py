"""A client's connection in the fast modes: upgrade from long-polling, pings, dead clients,
clients that read too slowly; and the bound on a slow client outside them.

eventlet and gevent serve WebSockets through the gateway's own transport (direct writes,
one shared ping task); these tests hold it to the Engine.IO protocol the clients expect.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websocket
from drone_events import DroneEventsClient, parse_event_id

from shared import contract
from tests.support.events import versions
from tests.support.services import metric_samples
from tests.support.sio import open_session, raw_websocket
from tests.support.waiting import wait_until

FAST_MODES = ["eventlet", "gevent"]


class RawClient:
    """An Engine.IO v4 client over a plain WebSocket, answering pings only when told to."""

    def __init__(self, gateway, token: str, receive_buffer: int | None = None, **options):
        if receive_buffer is not None:  # a small one keeps what it does not read at the server
            options["sockopt"] = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
        self.ws = raw_websocket(gateway.url, timeout=15, **options)
        open_session(self.ws, token)

    def next_packet(self) -> str:
        """The next Engine.IO packet; '' once the server closed the connection."""
        try:
            return self.ws.recv()
        except websocket.WebSocketConnectionClosedException:
            return ""

    def next_ping(self) -> str:
        while (packet := self.next_packet()) not in ("2", ""):
            pass
        return packet

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def raw_client(tokens):
    """``raw_client(gateway, receive_buffer=None, **options)``: a viewer's RawClient, closed
    after the test; ``options`` go to ``websocket.create_connection`` (``header``, ``cookie``)."""
    clients: list[RawClient] = []

    def make(gateway, receive_buffer: int | None = None, **options) -> RawClient:
        clients.append(RawClient(gateway, tokens["viewer"], receive_buffer, **options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def fast_pings(process_settings):
    """Pings every second, a client silent for 2 s after one is gone."""
    return process_settings.replace(gateway_ping_interval=1, gateway_ping_timeout=2)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_long_polling_client_is_not_upgraded(mode, start_gateway, process_settings, connect):
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = connect(gateway, transports=("polling", "websocket"))
    assert client.call("subscribe", {"all": True})["ok"] is True
    assert client.sio.transport() == "polling"  # WebSocket clients connect with it directly


@pytest.mark.parametrize("mode", FAST_MODES)
def test_long_polling_client_gets_every_event_once_in_order_across_polls(
    mode, start_gateway, process_settings, process_writer, tokens, serial
):
    # A raw client: python-engineio's own refuses a poll that brings more than 16 packets.
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = PollingClient(gateway, tokens["viewer"])
    client.post('42["subscribe",{"all":true}]')
    wait_until(lambda: "subscribed" in client.poll())
    received: list[int] = []

    def poll_until_all_came() -> None:
        while len(received) < 40:
            received.extend(client.events())

    with ThreadPoolExecutor(1) as pool:
        polling = pool.submit(poll_until_all_came)
        for _ in range(40):
            process_writer.write(serial)
        polling.result(timeout=20)
    assert received == list(range(1, 41))


@pytest.mark.parametrize("mode", FAST_MODES)
def test_browsers_compression_offer_is_declined(mode, start_gateway, process_settings, raw_client):
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = raw_client(  # the session works, uncompressed
        gateway, header=["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]
    )
    assert "sec-websocket-extensions" not in {k.lower() for k in client.ws.getheaders()}


@pytest.mark.parametrize("mode", FAST_MODES)
def test_handshake_with_headers_many_times_the_read_buffer_connects(
    mode, start_gateway, process_settings, raw_client
):
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = raw_client(gateway, cookie="session=" + "x" * 6000)
    client.ws.send('42["subscribe",{"all":true}]')
    assert client.next_packet().startswith("42")  # served after the handshake, as any client


@pytest.mark.parametrize("mode", FAST_MODES)
def test_idle_client_is_pinged_every_interval_while_it_answers(
    mode, start_gateway, fast_pings, raw_client
):
    gateway = start_gateway(fast_pings.replace(gateway_async_mode=mode))
    client = raw_client(gateway)
    for _ in range(4):
        assert client.next_ping() == "2"
        client.ws.send("3")
    client.ws.send('42["subscribe",{"all":true}]')
    assert client.next_packet() != ""  # still served after four ping rounds


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_stops_answering_pings_is_disconnected(
    mode, start_gateway, fast_pings, raw_client
):
    gateway = start_gateway(fast_pings.replace(gateway_async_mode=mode))
    client = raw_client(gateway)
    wait_until(lambda: gateway.metric("gateway_connected_clients") == 1, timeout=10)
    assert client.next_ping() == "2"  # and no pong
    while client.next_packet() != "":  # until the server closes the connection
        pass
    wait_until(lambda: gateway.metric("gateway_connected_clients") == 0, timeout=10)


# --- clients that read slower than events come --------------------------------------------
PADDING = "x" * 8000  # events of about 8 KB
# More than the kernel may buffer for one connection (its send buffer grows to 4 MiB on
# Linux) plus the gateway's bound of 64 KiB: the rest has to wait.
FLOOD = 700  # events: 5.6 MB
STEP = 20  # events written at a time where the gateway must keep up: a fifth of the history


@pytest.fixture
def small_backlog(process_settings):
    """A client is behind past 64 KiB unsent; replays page 10 events at a time."""
    return process_settings.replace(
        gateway_max_client_backlog_bytes=64 * 1024, gateway_replay_batch=10
    )


def _subscribe(client: RawClient, payload: dict) -> None:
    client.ws.send("420" + json.dumps(["subscribe", payload]))
    while not (packet := client.next_packet()).startswith("430"):
        assert packet, "closed before the subscribe reply"


def _read_until(client: RawClient, done) -> list[tuple[str, object]]:
    """Events and acks as ``(name, data)`` (acks as ``("ack", answer)``, drone events as
    ``("drone", (id, version))``), answering pings, up to the first that ``done`` holds for."""
    items: list[tuple[str, object]] = []
    while packet := client.next_packet():
        if packet == "2":
            client.ws.send("3")
            continue
        if packet.startswith("42"):
            name, data = json.loads(packet[2:])
            if name == "drone:event":
                name, data = "drone", (data["id"], data["version"])
            item = (name, data)
        elif packet.startswith("43"):
            item = ("ack", json.loads(packet[packet.index("[") :])[0])
        else:
            continue
        items.append(item)
        if done(item):
            break
    return items


def _read_events(client: RawClient, count: int) -> list[int | str]:
    """The next ``count`` events, answering pings on the way: a drone event as its version,
    a broadcast as its message."""
    received: list[int | str] = []

    def take(item) -> bool:
        name, data = item
        if name == "drone":
            received.append(data[1])
        elif name == "system:broadcast":
            received.append(data["data"]["message"])
        return len(received) >= count

    _read_until(client, take)
    return received


def _flood_beside_a_stalled_client(gateway, connect, raw_client, process_writer, serial):
    """A reading client and one that reads nothing once subscribed, both to everything, then
    ``FLOOD`` events of ``serial``; returns ``(bystander, stalled)``."""
    bystander = connect(gateway)
    bystander.call("subscribe", {"all": True})
    stalled = raw_client(gateway, receive_buffer=4096)
    _subscribe(stalled, {"all": True})  # and from here on, it reads nothing
    for _ in range(FLOOD):
        process_writer.write(serial, padding=PADDING)
    return bystander, stalled


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_stops_reading_is_served_from_the_history_without_losing_an_event(
    mode, start_gateway, small_backlog, process_writer, connect, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    bystander, stalled = _flood_beside_a_stalled_client(
        gateway, connect, raw_client, process_writer, serial
    )

    # The bystander reads, but at 8 KB an event it may fall behind now and then too.
    wait_until(lambda: gateway.metric("gateway_slow_clients_total") >= 1)
    assert versions(bystander.wait_drone_events(FLOOD), serial) == list(range(1, FLOOD + 1))
    assert _read_events(stalled, FLOOD) == list(range(1, FLOOD + 1))
    process_writer.write(serial)  # once caught up, it is live again
    assert _read_events(stalled, 1) == [FLOOD + 1]
    assert gateway.metric("gateway_connected_clients") == 2
    assert gateway.metric("gateway_slow_clients_dropped_total") == 0


@pytest.mark.parametrize("mode", FAST_MODES)
def test_broadcast_during_a_slow_clients_catch_up_reaches_it_once_in_its_place(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    stalled = raw_client(gateway, receive_buffer=4096)
    _subscribe(stalled, {"droneSerial": serial})
    half = FLOOD // 2
    for _ in range(half):
        process_writer.write(serial, padding=PADDING)
    wait_until(lambda: gateway.metric("gateway_slow_clients_total") == 1)
    process_writer.broadcast("maintenance at noon")
    for _ in range(half):
        process_writer.write(serial, padding=PADDING)

    expected = [*range(1, half + 1), "maintenance at noon", *range(half + 1, FLOOD + 1)]
    assert _read_events(stalled, FLOOD + 1) == expected
    process_writer.broadcast("back live")
    assert _read_events(stalled, 1) == ["back live"]


@pytest.mark.parametrize("mode", FAST_MODES)
def test_slow_client_overtaken_by_the_history_trimming_is_dropped_to_resync(
    mode, start_gateway, small_backlog, writer_for, raw_client, serial
):
    settings = small_backlog.replace(
        gateway_async_mode=mode, event_stream_maxlen=100, gateway_replay_cache_bytes=0
    )
    gateway = start_gateway(settings)
    writer = writer_for(settings)
    stalled = raw_client(gateway, receive_buffer=4096)
    _subscribe(stalled, {"all": True})
    # Far more than the history keeps once the client is behind, a few at a time: the
    # gateway itself keeps up (a relay that the trimming overtakes sends every client away,
    # see test_resilience), only the client falls behind.
    for written in range(STEP, FLOOD + 1, STEP):
        for _ in range(STEP):
            writer.write(serial, padding=PADDING)
        wait_until(lambda n=written: gateway.metric("gateway_events_delivered_total") >= n)
    wait_until(lambda: gateway.metric("gateway_slow_clients_total") == 1)

    received = _read_events(stalled, FLOOD)  # until the gateway drops it
    assert received == list(range(1, len(received) + 1))  # no gap before the drop
    assert len(received) < FLOOD
    wait_until(lambda: gateway.metric("gateway_slow_clients_dropped_total") == 1)
    wait_until(lambda: gateway.metric("gateway_connected_clients") == 0)
    assert gateway.metric("gateway_relay_overtaken_total") == 0


class PollingClient:
    """A long-polling session driven by hand: it polls only when told to."""

    def __init__(self, gateway, token: str):
        self.url = gateway.url + contract.SOCKETIO_PATH + "/"
        response = requests.get(self.url, params={"EIO": 4, "transport": "polling"}, timeout=5)
        self.sid = json.loads(response.text[1:])["sid"]
        self.post("40" + json.dumps({"token": token}))
        assert "40" in self.poll()

    def post(self, packet: str) -> None:
        params = {"EIO": 4, "transport": "polling", "sid": self.sid}
        assert requests.post(self.url, params=params, data=packet, timeout=5).ok

    def poll(self) -> str:
        params = {"EIO": 4, "transport": "polling", "sid": self.sid}
        return requests.get(self.url, params=params, timeout=5).text

    def events(self) -> list[int]:
        """One poll's drone events, their versions in the order they came."""
        packets = self.poll().split("\x1e")
        return [
            json.loads(packet[2:])[1]["version"]
            for packet in packets
            if packet.startswith('42["drone:event"')
        ]


@pytest.mark.parametrize("mode", FAST_MODES)
def test_long_polling_client_that_stops_polling_is_held_to_the_bound_then_closed(
    mode, start_gateway, small_backlog, process_writer, connect, tokens, serial
):
    gateway = start_gateway(
        small_backlog.replace(
            gateway_async_mode=mode, gateway_ping_interval=1, gateway_ping_timeout=2
        )
    )
    bystander = connect(gateway)
    bystander.call("subscribe", {"all": True})
    stalled = PollingClient(gateway, tokens["viewer"])
    stalled.post('42["subscribe",{"all":true}]')
    wait_until(lambda: "subscribed" in stalled.poll())  # and from here on, it polls no more
    for _ in range(FLOOD):
        process_writer.write(serial, padding=PADDING)

    assert versions(bystander.wait_drone_events(FLOOD), serial) == list(range(1, FLOOD + 1))
    # It fell behind past the bound: live delivery stopped for it, and its heartbeat
    # ended it.
    wait_until(lambda: gateway.metric("gateway_slow_clients_total") >= 1)
    wait_until(lambda: gateway.metric("gateway_connected_clients") == 1, timeout=15)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_sends_requests_and_reads_nothing_is_dropped(
    mode, start_gateway, small_backlog, raw_client
):
    # Its next request waits until its answers are taken, for 2 s at most.
    settings = small_backlog.replace(gateway_async_mode=mode, gateway_ping_timeout=2)
    gateway = start_gateway(settings)
    stalled = raw_client(gateway, receive_buffer=4096)
    wait_until(lambda: gateway.metric("gateway_connected_clients") == 1)
    # Each subscribe adds a drone, and each answer lists them all: a few hundred small
    # requests would leave megabytes of answers unread. (A flood of thousands would stall in
    # TCP first: the full receive buffer of a client that never reads drops the segments
    # that carry the gateway's ACKs too, and the retransmissions back off for minutes.)
    requests = (
        "42" + json.dumps(["subscribe", {"droneSerial": f"X{n:063d}"}]) for n in range(1000)
    )

    def flood_until_dropped() -> bool:
        with contextlib.suppress(OSError, websocket.WebSocketException):
            for request in itertools.islice(requests, 20):
                stalled.ws.send(request)
        return gateway.metric("gateway_slow_clients_dropped_total") == 1

    wait_until(flood_until_dropped, timeout=60)
    wait_until(lambda: gateway.metric("gateway_connected_clients") == 0)


FLEET = 100  # drones of about 8 KB each: a snapshot twelve times the 64 KiB bound


@pytest.mark.parametrize("mode", FAST_MODES)
def test_answer_many_times_the_bound_reaches_a_client_that_reads_it_late(
    mode, start_gateway, small_backlog, process_writer, raw_client
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    fleet = [f"FLEET{n:03d}" for n in range(FLEET)]
    for serial in fleet:
        process_writer.write(serial, padding=PADDING)
    client = raw_client(gateway, receive_buffer=4096)
    client.ws.send("420" + json.dumps(["subscribe", {"all": True, "snapshot": True}]))
    # Nothing read until the answer (the event, then the ack: the snapshot twice) waits;
    # the subscription is counted before the answer is written.
    subscribed_to_all = ("gateway_subscriptions", (("kind", "all"),))
    wait_until(lambda: metric_samples(gateway.url).get(subscribed_to_all) == 1)

    items = _read_until(client, lambda item: item[0] == "ack")
    answers = [data for name, data in items if name in ("subscribed", "ack")]
    snapshots = [sorted(drone["deviceSerialNumber"] for drone in a["snapshot"]) for a in answers]
    assert snapshots == [fleet, fleet]
    process_writer.write(fleet[0])  # and it gets the events after it
    assert _read_events(client, 1) == [2]
    assert gateway.metric("gateway_slow_clients_dropped_total") == 0


@pytest.mark.parametrize("mode", FAST_MODES)
def test_fixed_kernel_send_buffer_leaves_a_slow_clients_backlog_to_the_bound(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    settings = small_backlog.replace(
        gateway_async_mode=mode, gateway_socket_send_buffer_bytes=16 * 1024
    )
    gateway = start_gateway(settings)
    stalled = raw_client(gateway, receive_buffer=4096)
    _subscribe(stalled, {"all": True})
    for _ in range(60):  # 480 KB: a kernel left to size its buffer would take it all
        process_writer.write(serial, padding=PADDING)

    wait_until(lambda: gateway.metric("gateway_slow_clients_total") == 1)


@pytest.mark.parametrize("mode", FAST_MODES)
def test_replay_longer_than_the_backlog_bound_is_paced_to_the_client(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    ids = [i for _ in range(FLOOD) for i in process_writer.write(serial, padding=PADDING)]
    client = raw_client(gateway, receive_buffer=4096)
    _subscribe(client, {"droneSerial": serial, "since": ids[0]})

    assert _read_events(client, FLOOD - 1) == list(range(2, FLOOD + 1))
    assert gateway.metric("gateway_slow_clients_total") == 0


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_is_sent_about_the_bound_past_the_last_ping_it_answered(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    client = raw_client(gateway)  # the kernel's own buffers: they would take megabytes
    _subscribe(client, {"all": True})
    for _ in range(FLOOD):
        process_writer.write(serial, padding=PADDING)
    wait_until(lambda: gateway.metric("gateway_slow_clients_total") == 1)

    # It reads all that comes, but answers no ping: the gateway cannot know it read.
    client.ws.settimeout(2)
    unanswered: list[str] = []
    with contextlib.suppress(websocket.WebSocketTimeoutException):
        while True:
            unanswered.append(client.ws.recv())
    got = [json.loads(p[2:])[1]["version"] for p in unanswered if p.startswith("42")]
    # The bound (64 KiB), what the relay wrote in the batch that passed it, and a page.
    assert 0 < len(got) < FLOOD // 3

    for _ in range(unanswered.count("2")):
        client.ws.send("3")  # now it has read them
    client.ws.settimeout(15)
    assert got + _read_events(client, FLOOD - len(got)) == list(range(1, FLOOD + 1))
    assert gateway.metric("gateway_slow_clients_dropped_total") == 0


@pytest.mark.parametrize("mode", FAST_MODES)
def test_ping_goes_ahead_of_the_events_queued_for_a_slow_client(
    mode, start_gateway, process_settings, process_writer, raw_client, serial
):
    interval = 1
    settings = process_settings.replace(
        gateway_async_mode=mode,
        gateway_ping_interval=interval,
        gateway_ping_timeout=30,
        gateway_socket_send_buffer_bytes=16 * 1024,
        gateway_max_client_backlog_bytes=8 * 1024 * 1024,
    )
    gateway = start_gateway(settings)
    client = raw_client(gateway, receive_buffer=4096)
    _subscribe(client, {"all": True})
    flood = 3000  # 3 MB, under the bound: it all waits in the gateway's queue
    for _ in range(flood):
        process_writer.write(serial, padding="x" * 700)
    time.sleep(3 * interval)  # the server's ping timer: its ping is due by now

    packets = 0
    while (packet := client.next_packet()) not in ("2", ""):
        packets += 1
    assert packet == "2"
    assert packets < flood // 3  # not behind the whole queue
    client.ws.send("3")
    assert _read_events(client, 1)  # still served


# --- clients that skip ahead when behind (whenBehind: "skip") -------------------------------
def _skip_through_a_flood(gateway, client: RawClient, writer, serial):
    """Flood a client that skips when behind and read on: the events it got before the
    ``missed`` notice, the notice, and the live events after it up to one more event."""
    _subscribe(client, {"all": True, "whenBehind": "skip"})
    ids = [i for _ in range(FLOOD) for i in writer.write(serial, padding=PADDING)]
    wait_until(lambda: gateway.metric("gateway_slow_clients_total") >= 1)
    before = _read_until(client, lambda item: item[0] == "missed")
    notice = before.pop()[1]
    ids += writer.write(serial)
    after = _read_until(client, lambda item: item == ("drone", (ids[-1], FLOOD + 1)))
    return ids, [d for _, d in before], notice, [d for _, d in after]


@pytest.mark.parametrize("mode", FAST_MODES)
def test_slow_client_that_skips_rejoins_live_and_is_told_what_it_missed(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    stalled = raw_client(gateway, receive_buffer=4096)

    ids, before, notice, after = _skip_through_a_flood(gateway, stalled, process_writer, serial)

    received = before + after
    assert [v for _, v in before] == list(range(1, len(before) + 1))  # in order up to the gap
    assert notice == {"after": ids[len(before) - 1], "until": notice["until"]}
    resumed = ids.index(notice["until"]) + 1
    assert [i for i, _ in after] == ids[resumed:]  # live again right after the gap
    assert len(received) < FLOOD  # the gap was skipped, not queued
    assert gateway.metric("gateway_slow_clients_skipped_total") >= 1
    assert gateway.metric("gateway_slow_clients_dropped_total") == 0


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_skips_with_more_than_the_bound_unread_in_its_kernel_is_not_dropped(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    stalled = raw_client(gateway)  # the kernel's own receive buffer: more than the 64 KiB bound

    ids, before, notice, after = _skip_through_a_flood(gateway, stalled, process_writer, serial)

    assert [v for _, v in before] == list(range(1, len(before) + 1))
    assert [i for i, _ in after] == ids[ids.index(notice["until"]) + 1 :]
    assert gateway.metric("gateway_slow_clients_dropped_total") == 0


@pytest.mark.parametrize("mode", FAST_MODES)
def test_what_a_skipping_client_missed_comes_from_the_history_exactly_once(
    mode, start_gateway, small_backlog, process_writer, raw_client, serial
):
    gateway = start_gateway(small_backlog.replace(gateway_async_mode=mode))
    stalled = raw_client(gateway, receive_buffer=4096)
    ids, before, notice, after = _skip_through_a_flood(gateway, stalled, process_writer, serial)

    fetched, cursor = [], notice["after"]
    while cursor is not None:
        request = {"after": cursor, "until": notice["until"], "limit": 4}
        stalled.ws.send("421" + json.dumps(["history", request]))
        page = _read_until(stalled, lambda item: item[0] == "ack")
        cursor = page.pop()[1]["next"]
        fetched += [d for name, d in page if name == "drone"]

    every_event = list(zip(ids, range(1, FLOOD + 2), strict=True))
    assert sorted(before + fetched + after, key=lambda d: d[1]) == every_event


@pytest.mark.parametrize("mode", FAST_MODES)
def test_python_client_that_skips_is_told_what_it_missed_then_gets_fresh_state(
    mode, start_gateway, process_settings, process_writer, tokens, serial
):
    gateway = start_gateway(process_settings.replace(gateway_async_mode=mode))
    client = DroneEventsClient(
        gateway.url, tokens["viewer"], all_drones=True, when_behind="skip", max_pending=1
    )
    release = threading.Event()
    handed, gaps, resyncs = [], [], []

    @client.on_event
    def slow_detector(event):  # stuck on its first event until released
        handed.append((event.id, event.version))
        release.wait(30)

    client.on_missed(lambda after, until: gaps.append((after, until)))
    client.on_resync(resyncs.append)
    with client:
        ids = [i for _ in range(FLOOD) for i in process_writer.write(serial, padding=PADDING)]
        wait_until(lambda: gateway.metric("gateway_slow_clients_total") >= 1)
        release.set()
        wait_until(lambda: gaps and resyncs, message="a missed notice, then a snapshot")

        def caught_up() -> bool:  # with every flood event: handed, or skipped with notice
            if handed[-1][0] == ids[-1]:
                return True
            skipped_to = parse_event_id(gaps[-1][1])
            return skipped_to >= parse_event_id(ids[-1]) and len(resyncs) >= len(gaps)

        # A client still behind may skip more of the flood (and be told) before it is live.
        wait_until(caught_up, message="the client caught up with the flood")
        ids += process_writer.write(serial)
        wait_until(lambda: handed[-1][0] == ids[-1], message="the event after the gap")

    after, until = gaps[0]
    got = [event_id for event_id, _ in handed]
    assert [v for _, v in handed] == sorted({v for _, v in handed})  # in order, once each
    assert got[: got.index(after) + 1] == ids[: ids.index(after) + 1]  # all up to the gap
    assert not set(got) & set(ids[ids.index(after) + 1 : ids.index(until) + 1])
    assert len(got) < FLOOD  # the gap was skipped, not queued in the client


@pytest.mark.parametrize("mode", FAST_MODES)
def test_client_that_skips_is_moved_ahead_once_a_little_waits_for_it(
    mode, start_gateway, process_settings, process_writer, raw_client, serial
):
    settings = process_settings.replace(
        gateway_async_mode=mode,
        gateway_max_client_backlog_bytes=4 * 1024 * 1024,  # the bound of other clients
        gateway_skip_in_flight_bytes=16 * 1024,
    )
    gateway = start_gateway(settings)
    client = raw_client(gateway, receive_buffer=4096)
    _subscribe(client, {"all": True, "whenBehind": "skip"})
    for _ in range(60):  # 480 KB: far below the 4 MiB bound, and what a kernel would buffer
        process_writer.write(serial, padding=PADDING)

    wait_until(lambda: gateway.metric("gateway_slow_clients_total") == 1)
    assert _read_until(client, lambda item: item[0] == "missed")[-1][0] == "missed"
