"""The gateway's WebSocket framing, checked against an independent decoder (wsproto)."""

from __future__ import annotations

import pytest
from engineio import packet as eio_packet
from wsproto.frame_protocol import FrameProtocol, Opcode

from services.gateway.transport import Frames, frame, packet_frame


def decode(data: bytes) -> list[tuple[Opcode, bytes]]:
    """What a client's WebSocket parser reads from ``data`` (server frames are unmasked)."""
    protocol = FrameProtocol(client=True, extensions=[])
    protocol.receive_bytes(data)
    # wsproto hands text payloads over decoded.
    return [
        (f.opcode, f.payload.encode() if f.opcode == Opcode.TEXT else f.payload)
        for f in protocol.received_frames()
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_of_every_length_class_decodes_to_its_payload(size):
    text = "x" * size
    assert decode(frame(text)) == [(Opcode.TEXT, text.encode())]


def test_non_ascii_text_is_sent_as_utf8():
    assert decode(frame("drône ✈")) == [(Opcode.TEXT, "drône ✈".encode())]


def test_bytes_become_a_binary_frame():
    assert decode(frame(b"\x00\xff")) == [(Opcode.BINARY, b"\x00\xff")]


def test_frames_written_together_decode_as_separate_messages_in_order():
    data = Frames(frame("42first") + frame("4" + "y" * 300) + frame("42third"))
    assert [payload for _, payload in decode(data)] == [b"42first", b"4" + b"y" * 300, b"42third"]


def test_packet_frame_is_built_once_per_packet():
    pkt = eio_packet.Packet(eio_packet.MESSAGE, '2["drone:event",{}]')
    first = packet_frame(pkt)
    assert decode(first) == [(Opcode.TEXT, b'42["drone:event",{}]')]
    assert packet_frame(pkt) is first
