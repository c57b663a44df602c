"""The Python client (drone_events) against the real API and gateway processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import socketio
from drone_events import DroneEventsClient, RefreshError, protocol

from shared import contract
from shared.auth import mint_token
from shared.eventlog import EventLog
from tests.clients.conftest import ROOT, recorded
from tests.conftest import TEST_SECRET
from tests.support.waiting import wait_until


def test_client_protocol_names_are_the_contracts():
    names = [name for name in vars(protocol) if name.isupper()]
    assert names
    assert {n: getattr(protocol, n) for n in names} == {n: getattr(contract, n) for n in names}


def test_typed_callbacks_follow_stream_ai_and_class_changes(stack, make_client):
    client = make_client(stack.gateway.url, serials=["DET1"])
    record = recorded(client)
    client.connect()
    stack.register("DET1")
    stack.set_stream("DET1", True)
    stack.call("PUT", "/drones/DET1/ai-detection", {"enabled": True})
    stack.call("PUT", "/drones/DET1/detection-classes", {"detectionClasses": ["person", "car"]})
    stack.call("PUT", "/drones/DET1/detection-classes", {"detectionClasses": ["car", "truck"]})

    classes = record.wait_for("detection_classes", 2)
    assert [(c[0], c[1], c[2], c[3]) for c in classes] == [
        ("DET1", ["person", "car"], ["person", "car"], []),
        ("DET1", ["car", "truck"], ["truck"], ["person"]),
    ]
    assert [(serial, on) for serial, on, _ in record.of("stream_status")] == [("DET1", True)]
    assert [(serial, on) for serial, on, _ in record.of("ai_detection")] == [("DET1", True)]
    assert [(serial, drone["deviceName"]) for serial, drone, _ in record.of("created")] == [
        ("DET1", "Drone DET1")
    ]


def test_config_updates_carry_changes_and_the_full_drone(stack, make_client):
    client = make_client(stack.gateway.url, serials="DET2")
    record = recorded(client)
    client.connect()
    stack.register("DET2")
    stack.call("PATCH", "/drones/DET2", {"deviceName": "Renamed", "streamIsOn": True})

    [(serial, changes, full, event)] = record.wait_for("config_updated", 1)
    assert serial == "DET2"
    assert changes == {
        "deviceName": {"old": "Drone DET2", "new": "Renamed"},
        "streamIsOn": {"old": False, "new": True},
    }
    assert (full["deviceName"], full["version"], event.version) == ("Renamed", 2, 2)
    record.wait_for("stream_status", 1)
    # drone.updated comes first, then the specific event of the same mutation.
    events = [e.event for (e,) in record.of("event")]
    assert events == [contract.DRONE_CREATED, contract.DRONE_UPDATED, contract.DRONE_STREAM_STATUS]


def test_events_of_other_drones_are_not_delivered(stack, make_client):
    client = make_client(stack.gateway.url, serials=["MINE"])
    record = recorded(client)
    client.connect()
    stack.register("OTHER")
    stack.register("MINE")
    stack.set_stream("OTHER", True)
    stack.set_stream("MINE", True)  # the last change: once it is here, OTHER's would be too

    record.wait_for("stream_status", 1)
    assert {e.drone_serial for (e,) in record.of("event")} == {"MINE"}


def test_incidents_and_broadcasts_reach_their_callbacks(stack, make_client):
    client = make_client(stack.gateway.url, serials=["INC1"])
    record = recorded(client)
    client.connect()
    stack.register("INC1")
    stack.call("POST", "/drones/INC1/incidents", {"type": "person", "confidence": 0.9}, expect=201)
    stack.call("POST", "/system/broadcast", {"message": "maintenance", "level": "warning"}, 202)

    [(message, level, _)] = record.wait_for("broadcast", 1)
    assert (message, level) == ("maintenance", "warning")
    [(serial, incident, _)] = record.wait_for("incident", 1)
    assert (serial, incident["type"], incident["confidence"]) == ("INC1", "person", 0.9)


def test_a_bad_token_is_refused(stack):
    client = DroneEventsClient(stack.gateway.url, "not-a-jwt", all_drones=True, reconnect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect()
    client.disconnect()


def test_resumes_after_a_gateway_restart_without_gap_or_duplicate(
    stack, make_client, redis_client, process_settings
):
    client = make_client(stack.gateway.url, serials=["RES1"])
    record = recorded(client)
    client.connect()
    stack.register("RES1")
    record.wait_for("created", 1)

    stack.gateway.stop()
    for on in (True, False, True):  # missed while the gateway is down
        stack.set_stream("RES1", on)
    stack.gateway.start()
    stack.call("PATCH", "/drones/RES1", {"deviceName": "after restart"})

    record.wait_for("config_updated", 4)
    log = EventLog(redis_client, process_settings.key_prefix)
    expected = [e.id for e in log.range_after("0-0", 1000) if e.serial == "RES1"]
    assert [e.id for (e,) in record.of("event")] == expected
    assert len(expected) == 8  # created, 3 x (updated + stream), updated


def test_on_resync_when_the_missed_events_are_gone(
    stack, make_client, redis_client, process_settings
):
    client = make_client(stack.gateway.url, serials=["SYNC1"])
    record = recorded(client)
    client.connect()
    stack.register("SYNC1")
    record.wait_for("created", 1)

    stack.gateway.stop()
    stack.set_stream("SYNC1", True)
    log = EventLog(redis_client, process_settings.key_prefix)
    redis_client.xtrim(log.stream_key, maxlen=0, approximate=False)  # the history expired
    stack.gateway.start()

    [(drones,)] = record.wait_for("resync", 1)
    assert [(d["deviceSerialNumber"], d["streamIsOn"], d["version"]) for d in drones] == [
        ("SYNC1", True, 2)
    ]
    stack.set_stream("SYNC1", False)  # and live events follow the resync
    assert [on for _, on, _ in record.wait_for("stream_status", 1)] == [False]


def test_snapshot_on_first_connect(stack, make_client):
    stack.register("SNAP1", streamIsOn=True)
    client = make_client(stack.gateway.url, serials=["SNAP1"], snapshot=True)
    record = recorded(client)
    client.connect()
    [(drones,)] = record.wait_for("resync", 1)
    assert [(d["deviceSerialNumber"], d["streamIsOn"]) for d in drones] == [("SNAP1", True)]


def test_refresh_token_extends_the_session(stack, make_client):
    client = make_client(stack.gateway.url, all_drones=True)
    client.connect()
    before = client.expires_at
    newer = mint_token(TEST_SECRET, "detector", "test-detector", ttl_seconds=7200)
    reply = client.refresh_token(newer)
    assert reply["ok"] is True
    assert client.expires_at == reply["expiresAt"] > before


def test_refresh_with_another_subjects_token_is_refused(stack, make_client):
    client = make_client(stack.gateway.url, all_drones=True)
    client.connect()
    with pytest.raises(RefreshError, match="another subject"):
        client.refresh_token(mint_token(TEST_SECRET, "detector", "someone-else"))


def test_example_detector_follows_its_drone(stack, tokens, tmp_path):
    stack.register("EXD1", streamIsOn=True)
    output = tmp_path / "detector.out"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_URL": stack.gateway.url,
        "API_URL": stack.api.url,
        "TOKEN": tokens["detector"],
        "DRONE_SERIALS": "EXD1",
    }
    with output.open("w") as out:
        detector = subprocess.Popen(
            [sys.executable, str(ROOT / "clients" / "python" / "example_detector.py")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "start reading the stream" in output.read_text(), timeout=20)
        stack.call("PUT", "/drones/EXD1/ai-detection", {"enabled": True})
        stack.call("PUT", "/drones/EXD1/detection-classes", {"detectionClasses": ["person"]})
        wait_until(lambda: "YOLO classes now person" in output.read_text(), timeout=20)
    finally:
        detector.terminate()
        assert detector.wait(15) == 0
    assert "[EXD1] AI detection on" in output.read_text()


def test_a_token_function_renews_an_expired_session(stack, make_client):
    minted: list[str] = []

    def token() -> str:
        # The first token lives 2 s: the gateway ends that session; later ones last.
        minted.append(
            mint_token(TEST_SECRET, "detector", "renewing", ttl_seconds=2 if not minted else 600)
        )
        return minted[-1]

    client = make_client(stack.gateway.url, token=token, serials=["TOK1"])
    record = recorded(client)
    client.connect()
    first_session = client.client_id
    wait_until(
        lambda: client.client_id != first_session and client.connected,
        timeout=15,
        message="a new session after the token expired",
    )
    stack.register("TOK1")
    assert [serial for serial, _, _ in record.wait_for("created", 1)] == ["TOK1"]
    assert len(minted) == 2


def test_a_fixed_token_that_expired_ends_the_client(stack, make_client):
    short = mint_token(TEST_SECRET, "detector", "short-lived", ttl_seconds=2)
    client = make_client(stack.gateway.url, token=short, all_drones=True)
    client.connect()
    waiter = threading.Thread(target=client.wait)
    waiter.start()
    waiter.join(15)  # wait() returns: the gateway ended the session and the client gives up
    assert not waiter.is_alive()
    assert not client.connected
    assert "token expired" in client.last_error


def test_subscriptions_change_while_connected(stack, make_client):
    client = make_client(stack.gateway.url, serials=["RT1"])
    record = recorded(client)
    client.connect()
    client.subscribe("RT2")
    client.unsubscribe("RT1")
    wait_until(lambda: client.subscriptions == ["RT2"], message="subscriptions == [RT2]")
    stack.register("RT1")
    stack.register("RT2")  # after RT1's event: once it is here, RT1's would be too
    assert [serial for serial, _, _ in record.wait_for("created", 1)] == ["RT2"]
    assert {e.drone_serial for (e,) in record.of("event")} == {"RT2"}
