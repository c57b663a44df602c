"""REST calls on the real API reach Socket.IO clients of the real gateway, as in the contract."""

from shared import contract


def test_seed_example_register_reaches_a_subscribed_client(
    start_api, start_gateway, rest_for, connect
):
    api, gateway = start_api(), start_gateway()
    client = connect(gateway)
    client.call("subscribe", {"all": True})

    response = rest_for(api).register(
        "TEST123", deviceName="Test Drone", deviceCategory="Surveillance", streamIsOn=False
    )

    assert response.status_code == 201
    [event] = client.wait_drone_events(1)
    assert event["event"] == "drone.created"
    assert event["droneSerial"] == "TEST123"
    assert event["version"] == 1
    assert event["data"]["full"] == response.json()


def test_scripted_sequence_arrives_exactly_and_in_order(
    start_api, start_gateway, rest_for, connect
):
    api, gateway = start_api(), start_gateway()
    rest = rest_for(api)
    watcher = connect(gateway)
    watcher.call("subscribe", {"droneSerial": "SEQ-1"})

    assert rest.register("SEQ-1").status_code == 201
    assert rest.toggle_stream("SEQ-1").status_code == 200
    assert rest.call("PUT", "/drones/SEQ-1/ai-detection", {"enabled": True}).ok
    assert rest.call(
        "PUT", "/drones/SEQ-1/detection-classes", {"detectionClasses": ["person", "car"]}
    ).ok
    assert rest.call("PATCH", "/drones/SEQ-1", {"deviceName": "Renamed"}).ok
    assert rest.call("PATCH", "/drones/SEQ-1", {"deviceName": "Renamed"}).ok  # no change
    assert (
        rest.call(
            "POST", "/drones/SEQ-1/incidents", {"type": "intrusion", "confidence": 0.9}
        ).status_code
        == 201
    )
    assert rest.call("DELETE", "/drones/SEQ-1").status_code == 204

    expected = [
        ("drone.created", 1),
        ("drone.updated", 2),
        ("drone.stream.status", 2),
        ("drone.updated", 3),
        ("drone.ai.detection.toggled", 3),
        ("drone.updated", 4),
        ("drone.detection.classes.changed", 4),
        ("drone.updated", 5),
        ("drone.incident.detected", 5),
        ("drone.deleted", 5),
    ]
    events = watcher.wait_drone_events(len(expected))
    assert [(e["event"], e["version"]) for e in events] == expected
    classes = events[6]["data"]
    assert (classes["added"], classes["removed"]) == (["person", "car"], [])
    assert events[7]["data"]["changes"] == {"deviceName": {"old": "Drone SEQ-1", "new": "Renamed"}}


def test_system_broadcast_reaches_every_subscribed_client(
    start_api, start_gateway, rest_for, connect
):
    api, gateway = start_api(), start_gateway()
    clients = [connect(gateway), connect(gateway, role="detector")]
    # Any subscription brings broadcasts; a connection that never subscribes gets none.
    clients[0].call("subscribe", {"all": True})
    clients[1].call("subscribe", {"droneSerial": "ANY-1"})

    response = rest_for(api).call(
        "POST", "/system/broadcast", {"message": "landing all drones", "level": "warning"}
    )

    assert response.status_code == 202
    for client in clients:
        [event] = client.wait_for(contract.SIO_SYSTEM_BROADCAST)
        assert event["data"] == {"message": "landing all drones", "level": "warning"}


def test_request_id_travels_from_rest_to_the_client(start_api, start_gateway, rest_for, connect):
    api, gateway = start_api(), start_gateway()
    client = connect(gateway)
    client.call("subscribe", {"all": True})
    rest = rest_for(api)
    rest.session.headers["X-Request-ID"] = "trace-me-42"

    response = rest.register("TRACE-1")

    assert response.headers["X-Request-ID"] == "trace-me-42"
    [event] = client.wait_drone_events(1)
    assert event["meta"]["requestId"] == "trace-me-42"


def test_snapshot_on_subscribe_matches_the_api(start_api, start_gateway, rest_for, connect):
    api, gateway = start_api(), start_gateway()
    rest = rest_for(api)
    rest.register("SNAP-1")
    rest.toggle_stream("SNAP-1")
    client = connect(gateway)

    answer = client.call("subscribe", {"droneSerial": "SNAP-1", "snapshot": True})

    assert answer["snapshot"] == [rest.get("SNAP-1")]
