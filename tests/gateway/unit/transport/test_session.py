"""The Engine.IO/Socket.IO session over a real Writer and socket pair, driven by a scripted
client, with handlers and a pinger that record their calls (all in conftest: ``setup``)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from wsproto.frame_protocol import CloseReason, Opcode

from services.gateway.transport.frames import Message, text_frame
from services.gateway.transport.session import NOT_HANDLED
from tests.support.waiting import wait_until

CLOSE_NORMAL = (Opcode.CLOSE, (CloseReason.NORMAL_CLOSURE, ""))
CLOSE_PROTOCOL_ERROR = (Opcode.CLOSE, (CloseReason.PROTOCOL_ERROR, ""))


def texts(frames):
    return [payload for opcode, payload in frames if opcode == Opcode.TEXT]


def test_run_sends_the_open_packet_then_tells_the_handlers_and_the_pinger(setup):
    s = setup()
    frames = s.run()
    assert texts(frames)[0][0] == "0"
    assert json.loads(texts(frames)[0][1:]) == {
        "sid": s.session.eio_sid, "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000,
        "maxPayload": 16384,
    }  # fmt: skip
    assert s.handlers.calls == [("opened", s.session), ("closed", s.session)]
    assert s.added == [s.session]
    assert frames[-1] == CLOSE_NORMAL and s.session.closed


def test_connect_joins_the_namespace_with_its_auth_and_the_end_leaves_it(setup):
    s = setup()
    frames = s.run('40{"token":"t"}')
    [(session, sid, auth)] = s.handlers.of("connect")
    assert (session, auth, s.session.sid) == (s.session, {"token": "t"}, sid)
    assert sid != s.session.eio_sid
    assert texts(frames)[1:] == [f'40{{"sid":"{sid}"}}']
    assert s.handlers.names() == ["opened", "connect", "connected", "disconnect", "closed"]
    assert s.handlers.of("connected") == s.handlers.of("disconnect") == [(sid,)]


def test_connect_without_payload_has_no_auth_and_a_second_connect_is_ignored(setup):
    s = setup()
    frames = s.run("40", '40{"token":"t"}')
    assert [auth for _, _, auth in s.handlers.of("connect")] == [None]
    assert len(texts(frames)) == 2


def test_refused_connect_answers_connect_error_and_leaves_the_client_outside(setup):
    s = setup(refusal="unauthorized")
    frames = s.run("40", '421["subscribe"]')
    assert texts(frames)[1:] == ['44{"message":"unauthorized"}']
    assert s.session.sid is None
    assert s.handlers.names() == ["opened", "connect", "closed"]  # its event was not handled


def test_connect_to_another_namespace_is_refused_without_the_handlers(setup):
    s = setup()
    frames = s.run("40/admin,")
    assert texts(frames)[1:] == ['44/admin,{"message":"Invalid namespace"}']
    assert s.handlers.names() == ["opened", "closed"]


@pytest.mark.parametrize(
    ("packet", "answer", "args", "ack"),
    [
        ('421["subscribe",{"serials":["D1"]}]', {"ok": 1}, [{"serials": ["D1"]}], '431[{"ok":1}]'),
        ('4212["subscribe"]', None, [], "4312[]"),
        ('421["subscribe"]', NOT_HANDLED, [], None),
        ('42["subscribe"]', {"ok": True}, [], None),
    ],
)  # fmt: skip
def test_event_goes_to_the_handler_and_is_acked_when_asked_and_handled(
    setup, packet, answer, args, ack
):
    s = setup(answers={"subscribe": answer})
    frames = s.run("40", packet)
    assert s.handlers.of("event") == [(s.session.sid, "subscribe", args)]
    assert texts(frames)[2:] == ([ack] if ack else [])
    assert s.handlers.answering == [True] and not s.wire.writer.answering


def test_acks_from_the_client_are_ignored(setup):
    s = setup()
    frames = s.run("40", "431[]", "43")
    assert len(texts(frames)) == 2 and frames[-1] == CLOSE_NORMAL


def test_disconnect_packet_leaves_the_namespace_once(setup):
    s = setup()
    s.run("40", "41")
    assert s.session.sid is None
    assert s.handlers.names() == ["opened", "connect", "connected", "disconnect", "left", "closed"]


def test_each_pong_schedules_one_heartbeat_and_tells_the_read_position(setup):
    s = setup()
    unread = []
    frames = s.run(
        s.session.heartbeat,  # the pinger's call: a ping goes out
        lambda: unread.append(s.session.unread()),
        "3",
        lambda: unread.append(s.session.unread()),
        "3",  # the pong of a ping that measured reading: no heartbeat more
    )
    assert texts(frames)[1] == "2"
    assert unread == [len(text_frame(texts(frames)[0])) + 3, 0]
    assert s.added == [s.session, s.session]


def test_client_ping_is_answered_and_noop_and_upgrade_are_ignored(setup):
    s = setup()
    frames = s.run("2probe", "6", "5", "40")
    assert texts(frames)[1] == "3probe" and s.handlers.of("connected")
    assert frames[-1] == CLOSE_NORMAL


def test_engineio_close_ends_the_reading(setup):
    s = setup()
    s.run("1", "40")
    assert s.handlers.names() == ["opened", "closed"]


@pytest.mark.parametrize(
    "message",
    ["9", "", "0", "4", b"42[]", '42["a",', '451-["a",{"_placeholder":true,"num":0}]', "47",
     "4x", '44{"message":"x"}', '40"auth"', "40[1]", '42{"not":"a list"}', "42[1]", "42[]",
     '42/admin,["a"]', "41/admin,", "421x", '42["a"]', '421["a"]'],
)  # fmt: skip
def test_protocol_error_closes_the_connection_with_1002(setup, message):
    s = setup(answers={"a": 1})
    frames = s.run(message, "40")
    assert frames[-1] == CLOSE_PROTOCOL_ERROR and frames.count(CLOSE_PROTOCOL_ERROR) == 1
    assert CLOSE_NORMAL not in frames
    assert s.handlers.names() == ["opened", "closed"]  # nothing handled, nothing read after


def test_protocol_error_after_connect_also_leaves_the_namespace(setup):
    s = setup()
    frames = s.run("40", "9")
    assert frames[-1] == CLOSE_PROTOCOL_ERROR
    assert s.handlers.names()[-2:] == ["disconnect", "closed"]


def test_deeply_nested_payload_is_a_protocol_error(setup):
    s = setup()
    assert s.run("42" + "[" * 10_000)[-1] == CLOSE_PROTOCOL_ERROR


def test_lost_connection_ends_the_session_and_leaves_the_namespace(setup):
    s = setup()
    s.run("40", ConnectionResetError("reset by peer"), "41")
    assert s.handlers.names()[-2:] == ["disconnect", "closed"]
    assert s.wire.dropped == []


def test_close_says_goodbye_and_ends_the_reading(setup):
    s = setup()
    # "6": what the client sent meanwhile; the next read waits for room, and there is none
    frames = s.run("40", s.session.close, "6", '42["never read"]')
    assert texts(frames)[-1] == "41" and frames[-1] == CLOSE_NORMAL
    assert frames.count(CLOSE_NORMAL) == 1
    assert "event" not in s.handlers.names()


def test_close_of_a_session_outside_the_namespace_sends_no_socketio_disconnect(setup):
    # DISCONNECT ends a namespace the client is in; a session that never joined (the
    # handshake deadline) gets the close frame alone, and its client may reconnect.
    s = setup()
    frames = s.run(s.session.close)
    assert texts(frames)[1:] == [] and frames[-1] == CLOSE_NORMAL


def test_leaving_the_namespace_tells_the_handlers(setup):
    s = setup()
    s.run("40", "41", "40")
    assert s.handlers.names()[1:] == [
        "connect", "connected", "disconnect", "left", "connect", "connected", "disconnect",
        "closed",
    ]  # fmt: skip
    assert s.handlers.of("left") == [(s.session,)]


def test_abort_closes_at_once_without_a_goodbye(setup):
    s = setup()
    frames = s.run("40", lambda: s.session.close(abort=True), "6", "41")
    assert Opcode.CLOSE not in [opcode for opcode, _ in frames]
    assert s.session.closed and s.wire.dropped == []
    assert s.handlers.names()[-2:] == ["disconnect", "closed"]


def test_send_and_send_many_write_each_message_frame(setup):
    s = setup()
    one, two = Message("drone:event", {"n": 1}), Message("drone:event", {"n": 2})
    frames = s.run(lambda: s.session.send(one), lambda: s.session.send_many([two, one]))
    assert texts(frames)[1:] == ['42["drone:event",{"n":1}]', '42["drone:event",{"n":2}]',
                                 '42["drone:event",{"n":1}]']  # fmt: skip


# --- room for the next request: a Writer with a small bound and send buffer -------------
BIG = "x" * (512 * 1024)


def read_in_thread(s, pace=0.0):
    frames = []

    def read():
        try:
            frames.extend(s.wire.read_to_end(pace))
        except AssertionError as exc:  # dropped inside a frame
            frames.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, frames


def writer_task_ended(s):
    """A script step before the end: under preemptive threads, a finish() racing the
    writer task's exit could be lost (not so under gevent/eventlet)."""
    return lambda: wait_until(s.wire.writer_done, timeout=5, message="the writer task to end")


def test_next_request_is_read_once_the_backlog_of_answers_is_within_the_bound(setup):
    s = setup(max_backlog=16 * 1024, send_buffer=16 * 1024, answers={"big": BIG})
    reader, frames = read_in_thread(s)
    backlog_when_read = []
    s.play("40", '421["big"]', lambda: backlog_when_read.append(s.session.backlog()),
           writer_task_ended(s))  # fmt: skip
    reader.join(5)
    assert backlog_when_read and backlog_when_read[0] <= 16 * 1024
    assert texts(frames)[2] == f'431["{BIG}"]' and frames[-1] == CLOSE_NORMAL
    assert s.wire.dropped == []


def test_client_reading_a_long_answer_slowly_has_its_next_request_read(setup):
    s = setup(max_backlog=16 * 1024, send_buffer=16 * 1024, ping_timeout=0.25,
              answers={"big": "x" * (2 * 1024 * 1024)})  # fmt: skip
    reader, frames = read_in_thread(s, pace=0.005)  # 16 KiB every 5 ms: more than 0.6 s
    s.play("40", '421["big"]', "6", writer_task_ended(s))
    reader.join(10)
    assert s.wire.dropped == []
    assert frames[-1] == CLOSE_NORMAL


def test_client_taking_none_of_its_backlog_for_the_ping_timeout_is_dropped(setup):
    s = setup(max_backlog=16 * 1024, send_buffer=16 * 1024, ping_timeout=0.2,
              answers={"big": BIG})  # fmt: skip
    read_after = []
    started = time.monotonic()
    s.play("40", '421["big"]', lambda: read_after.append(True), "6")
    assert 0.2 <= time.monotonic() - started < 3
    assert s.wire.dropped == [True] and read_after == []
    assert s.handlers.names()[-2:] == ["disconnect", "closed"]
    wait_until(s.wire.writer_done, timeout=5, message="the blocked writer task to end")
