"""The wire format of a WebSocket session, checked against an independent decoder (wsproto)."""

from __future__ import annotations

import json

import pytest
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode

from services.gateway.fastjson import RawJSON
from services.gateway.transport import frames
from services.gateway.transport.frames import (
    PING_FRAME,
    Message,
    ack_frame,
    close_frame,
    event_frame,
    sio_frame,
    text_frame,
)


def decode(data: bytes) -> list[tuple[Opcode, object]]:
    """What a client's WebSocket parser reads from ``data``, one entry per whole frame."""
    parser = FrameProtocol(client=True, extensions=[])
    parser.receive_bytes(data)
    decoded = []
    for f in parser.received_frames():
        assert f.frame_finished and f.message_finished
        decoded.append((f.opcode, f.payload))
    return decoded


@pytest.mark.parametrize(
    ("size", "header"),
    [(0, 2), (1, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (200_000, 10)],
)
def test_text_frame_of_every_length_class_decodes_to_its_payload(size, header):
    text = "x" * size
    data = text_frame(text)
    assert len(data) == header + size
    assert decode(data) == [(Opcode.TEXT, text)]


def test_length_is_counted_in_utf8_bytes_not_characters():
    text = "é" * 100  # 100 characters, 200 bytes: the 16-bit length class
    data = text_frame(text)
    assert len(data) == 4 + 200
    assert decode(data) == [(Opcode.TEXT, text)]


def test_frames_written_together_decode_as_separate_messages_in_order():
    data = text_frame("42first") + text_frame("4" + "y" * 300) + text_frame("42third")
    assert [p for _, p in decode(data)] == ["42first", "4" + "y" * 300, "42third"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, CloseReason.NORMAL_CLOSURE), (1002, CloseReason.PROTOCOL_ERROR)],
)
def test_close_frame_carries_its_status_code(code, reason):
    assert decode(close_frame(code)) == [(Opcode.CLOSE, (reason, ""))]


def test_close_frame_defaults_to_a_normal_closure():
    assert close_frame() == close_frame(1000)


def test_ping_frame_is_the_engineio_ping_packet():
    assert decode(PING_FRAME) == [(Opcode.TEXT, "2")]


def test_sio_frame_wraps_a_socketio_packet_in_an_engineio_message():
    assert decode(sio_frame('0{"sid":"abc"}')) == [(Opcode.TEXT, '40{"sid":"abc"}')]


def test_event_frame_holds_the_event_name_and_its_data():
    [(opcode, payload)] = decode(event_frame("drone:event", {"serial": "D-1", "alt": 12.5}))
    assert opcode == Opcode.TEXT
    assert payload.startswith("42")
    assert json.loads(payload[2:]) == ["drone:event", {"serial": "D-1", "alt": 12.5}]


def test_event_frame_inserts_a_raw_json_envelope_verbatim():
    envelope = RawJSON('{"z": 1,  "a": [2]}')  # key order and spacing kept as they came
    assert decode(event_frame("drone:event", envelope)) == [
        (Opcode.TEXT, '42["drone:event",{"z": 1,  "a": [2]}]')
    ]


def test_event_frame_sends_non_ascii_as_utf8_not_escapes():
    data = event_frame("drone:event", {"name": "drône ✈"})
    assert "drône ✈".encode() in data
    assert decode(data) == [(Opcode.TEXT, '42["drone:event",{"name":"drône ✈"}]')]


@pytest.mark.parametrize(("args", "payload"), [([], "437[]"), ([{"ok": True}], '437[{"ok":true}]')])
def test_ack_frame_answers_the_request_id(args, payload):
    assert decode(ack_frame(7, args)) == [(Opcode.TEXT, payload)]


def test_message_frame_is_the_event_frame_of_its_event_and_data():
    message = Message("drone:event", {"serial": "D-1"})
    assert message.frame == event_frame("drone:event", {"serial": "D-1"})


def test_message_frame_is_built_once_and_shared(monkeypatch):
    built = []

    def counting_event_frame(event, data):
        built.append(event)
        return event_frame(event, data)

    monkeypatch.setattr(frames, "event_frame", counting_event_frame)
    message = Message("drone:event", RawJSON('{"n":1}'))
    first = message.frame
    assert message.frame is first
    assert message.frame is first
    assert built == ["drone:event"]
