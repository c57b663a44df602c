"""Example detector process: follows its drones' settings live and says what it would do.

    GATEWAY_URL=http://localhost:5001 API_URL=http://localhost:5000 \\
        TOKEN=<detector JWT> DRONE_SERIALS=DRONE123 python clients/python/example_detector.py

A real detector would start/stop reading the video stream, switch its AI model on and
off and reload the YOLO classes where this prints. With ``auto_report=True`` the client
tells the API (API_URL) after each change what was applied, so the operator sees the
drone ``inSync`` or why not: this detector refuses classes its model does not know, and
that error becomes the report's message. Stop it with Ctrl+C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys

from drone_events import DroneEventsClient

# The classes a COCO-trained YOLO model detects (a subset, as an example).
MODEL_CLASSES = frozenset(
    ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat")
    + ("bird", "cat", "dog", "horse", "sheep", "cow", "backpack", "umbrella", "suitcase")
)


class Detector:
    """The state of one drone's detector pipeline; the print calls stand in for the work."""

    def __init__(self, serial: str):
        self.serial = serial
        self.version = 0  # the drone's highest version applied (0: none, or deleted)
        self.streaming = False
        self.ai_enabled = False
        self.classes: list[str] = []

    def current(self, event) -> bool:
        """Whether a change event is not older than the state: an older version (already
        applied) must not undo a newer one."""
        if event.version is None or event.version < self.version:
            return False
        self.version = event.version
        return True

    def load(self, drone: dict) -> None:
        """Take over the whole state (first start, or after the gateway lost history)."""
        self.version = drone.get("version", 0)
        self.set_stream(drone.get("streamIsOn", False), drone.get("streamUrl"))
        self.set_ai(drone.get("aiDetectionEnabled", False))
        self.set_classes(drone.get("detectionClasses", []))

    def set_stream(self, on: bool, url: str | None = None) -> None:
        if on != self.streaming:
            print(f"[{self.serial}] {'start' if on else 'stop'} reading the stream {url or ''}")
            self.streaming = on

    def set_ai(self, enabled: bool) -> None:
        if enabled != self.ai_enabled:
            print(f"[{self.serial}] AI detection {'on' if enabled else 'off'}")
            self.ai_enabled = enabled

    def set_classes(self, classes: list[str]) -> None:
        unknown = [c for c in classes if c not in MODEL_CLASSES]
        if unknown:  # the model stays as it was; auto_report tells the operator why
            raise ValueError(f"the model does not detect {', '.join(unknown)}")
        if classes != self.classes:
            print(f"[{self.serial}] YOLO classes now {', '.join(classes) or '(none)'}")
            self.classes = list(classes)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    url = os.environ.get("GATEWAY_URL", "http://localhost:5001")
    api_url = os.environ.get("API_URL", "http://localhost:5000")
    token = os.environ.get("TOKEN")
    serials = [s.strip() for s in os.environ.get("DRONE_SERIALS", "").split(",") if s.strip()]
    if not token or not serials:
        print("set TOKEN (a detector JWT) and DRONE_SERIALS (comma-separated)", file=sys.stderr)
        return 2

    detectors = {serial: Detector(serial) for serial in serials}
    # snapshot=True: start from each drone's current settings, then follow the changes.
    # auto_report=True: after each change's callbacks, report what was applied to the API.
    client = DroneEventsClient(
        url, token, serials=serials, snapshot=True, auto_report=True, api_url=api_url
    )

    @client.on_resync
    def load_state(drones):
        # The snapshot replaces the state: a drone missing from it does not exist (now).
        current = {drone["deviceSerialNumber"]: drone for drone in drones}
        for serial, detector in detectors.items():
            detector.load(current.get(serial, {}))

    # Each handler applies a change only if it is not older than the state (docs/clients.md,
    # "The client's algorithm"): the events of one change share its version.
    @client.on_stream_status
    def stream(serial, stream_is_on, event):
        if detectors[serial].current(event):
            detectors[serial].set_stream(stream_is_on, (event.full or {}).get("streamUrl"))

    @client.on_ai_detection
    def ai(serial, enabled, event):
        if detectors[serial].current(event):
            detectors[serial].set_ai(enabled)

    @client.on_detection_classes
    def classes(serial, classes, added, removed, event):
        if detectors[serial].current(event):
            detectors[serial].set_classes(classes)

    @client.on_created
    def created(serial, drone, event):
        if detectors[serial].current(event):
            detectors[serial].load(drone)

    @client.on_deleted
    def deleted(serial, drone, event):
        if detectors[serial].current(event):
            print(f"[{serial}] drone deleted: stop everything")
            detectors[serial].load({})

    @client.on_state
    def state(state, detail):
        print(f"[gateway] subscription {state.value}{': ' + detail if detail else ''}")

    @client.on_broadcast
    def broadcast(message, level, event):
        print(f"[system/{level}] {message}")

    signal.signal(signal.SIGTERM, lambda *_: client.disconnect())
    with client:
        print(f"following {', '.join(serials)} on {url}")
        with contextlib.suppress(KeyboardInterrupt):
            client.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
