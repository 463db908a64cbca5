"""Tests of the seat keypad codec: register codecs, requests and replies, framing, the unit
model and the tracker.

Framing runs four ways: whole, split in two, byte by byte, after leading garbage.
`fuzz_target` is the entry point for the separate million-input fuzz runner.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest
from pymodbus.pdu.register_message import (
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from chamber.protocols import modbus_timing
from chamber.protocols.keypad import (
    CARD,
    EVENT_RING,
    FORGET,
    IDENTIFY,
    IDENTIFY_MAX_S,
    IDENTITY,
    LABELS,
    OUTPUTS,
    SEQ_MODULUS,
    STATUS,
    Beep,
    EventCursor,
    ExceptionCode,
    Feature,
    IdentifyState,
    Identity,
    Key,
    KeyEvent,
    KeypadExceptionResponse,
    KeypadFramer,
    KeypadOutputs,
    KeypadProtocolError,
    KeypadRegisters,
    KeypadStatus,
    KeypadTracker,
    KeypadUsageError,
    KeypadVersionError,
    Reason,
    ResyncReason,
    Side,
    StatusFlag,
    Table,
    Transport,
    WriteAck,
    broadcast_beep_request,
    broadcast_lock_request,
    broadcast_vote_request,
    decode_frame,
    decode_identify,
    decode_identity,
    decode_identity_registers,
    decode_outputs,
    decode_reply,
    decode_status,
    decode_status_registers,
    encode_frame,
    encode_identify,
    encode_identity,
    encode_outputs,
    encode_status,
    forget_events_request,
    identify_request,
    next_tag,
    poll_count,
    poll_cycle_wire_time,
    read_forget_request,
    read_identify_request,
    read_identity_request,
    read_outputs_request,
    read_status_request,
    response_timeout,
    t35,
    write_outputs_request,
)

MAKER = "Công ty Điện tử Hà Nội"  # 31 UTF-8 bytes: nearly the 32-byte field


def keypad(
    *, keys: int = 3, card: bool = False, boot_count: int = 1, maker: str = "Công ty Ví Dụ"
) -> KeypadRegisters:
    features = Feature.BEEPER | Feature.PRESENCE_LED
    features |= Feature.CARD_READER if card else Feature.PRESENCE_KEY
    identity = Identity(key_count=keys, maker=maker, serial_number="KP-0001", features=features)
    return KeypadRegisters(identity, boot_count=boot_count)


def exchange(unit: KeypadRegisters, request: ModbusPDU) -> ModbusPDU:
    """Request and reply through real RTU frames, as over the line."""
    seen = decode_frame(encode_frame(request), side=Side.UNIT)
    reply = unit.handle(seen)
    assert reply is not None
    return decode_frame(encode_frame(reply), side=Side.CONTROLLER)


# --- strategies ---------------------------------------------------------------------------

texts = st.text(  # 8 characters of at most 4 UTF-8 bytes fill the 32-byte MAKER field
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=8,
)
identities = st.builds(
    Identity,
    key_count=st.integers(1, 10),
    maker=texts,
    serial_number=st.text(alphabet="ABCDEFXYZ-0123456789", max_size=16),
    features=st.integers(0, 15).map(Feature),
    firmware_version=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    firmware_patch=st.integers(0, 0xFFFF),
    protocol_version=st.tuples(st.just(1), st.integers(0, 255)),
)
led_sets = st.frozensets(st.integers(1, 10))
outputs_st = st.builds(
    KeypadOutputs,
    locked=st.booleans(),
    keys=st.integers(0, 10),
    leds=led_sets,
    presence_led=st.booleans(),
    beep=st.sampled_from(Beep),
)
tags = st.integers(1, 0xFFFF)
units = st.integers(1, 247)


@st.composite
def statuses(draw: st.DrawFn) -> tuple[KeypadStatus, bool]:
    seq = draw(st.integers(0, 0xFFFF))
    n = draw(st.integers(0, EVENT_RING))
    events = []
    for back in reversed(range(n)):
        key = draw(st.sampled_from(Key))
        refused = key.is_voting_key and draw(st.booleans())
        events.append(KeyEvent(key, (seq - back) % SEQ_MODULUS, refused))
    card = draw(st.booleans())
    uid = draw(st.integers(1, 2**64 - 1)) if card and draw(st.booleans()) else None
    flags = StatusFlag(draw(st.integers(0, 31)) & ~int(StatusFlag.CARD))
    if uid is not None:
        flags |= StatusFlag.CARD
    status = KeypadStatus(
        flags=flags,
        boot_count=draw(st.integers(0, 0xFFFF)),
        seq=seq,
        applied_tag=draw(st.integers(0, 0xFFFF)),
        events=tuple(events),
        card=uid,
    )
    return status, card


# --- register codecs round-trip -----------------------------------------------------------


@given(identities)
def test_identity_round_trips(identity: Identity) -> None:
    regs = encode_identity(identity)
    assert len(regs) == IDENTITY.count
    assert decode_identity_registers(regs) == identity


def test_identity_keeps_vietnamese_exactly() -> None:
    identity = Identity(key_count=3, maker=MAKER, serial_number="SỐ-01")
    assert decode_identity_registers(encode_identity(identity)).maker == MAKER
    assert decode_identity_registers(encode_identity(identity)).serial_number == "SỐ-01"
    with pytest.raises(KeypadUsageError):
        encode_identity(Identity(key_count=3, maker=MAKER + "ộ", serial_number=""))


@given(statuses())
def test_status_round_trips(case: tuple[KeypadStatus, bool]) -> None:
    status, card = case
    regs = encode_status(status, card=card)
    assert len(regs) == poll_count(card=card)
    assert decode_status_registers(regs) == status


@given(outputs_st, tags)
def test_outputs_round_trip(outputs: KeypadOutputs, tag: int) -> None:
    regs = encode_outputs(outputs, tag)
    assert len(regs) == OUTPUTS.count
    assert decode_outputs(regs) == (tag, outputs)


def test_outputs_refuse_what_the_map_cannot_hold() -> None:
    with pytest.raises(KeypadUsageError):
        KeypadOutputs(keys=11)
    with pytest.raises(KeypadUsageError):
        KeypadOutputs(leds=frozenset({0}))
    with pytest.raises(KeypadUsageError):
        encode_outputs(KeypadOutputs(), 0)


def test_tags_skip_zero() -> None:
    assert next_tag(1) == 2
    assert next_tag(0xFFFF) == 1


# --- requests and replies, through frames and the unit model --------------------------------


@given(identities, units)
@settings(max_examples=50)
def test_identity_read_round_trips(identity: Identity, unit: int) -> None:
    model = KeypadRegisters(identity)
    request = read_identity_request(unit)
    assert decode_identity(exchange(model, request), unit) == identity


@given(outputs_st, tags, units)
@settings(max_examples=50)
def test_write_then_read_back_round_trips(outputs: KeypadOutputs, tag: int, unit: int) -> None:
    model = keypad(keys=10)
    write = write_outputs_request(unit, outputs, tag)
    assert decode_reply(write, exchange(model, write)) == WriteAck(OUTPUTS.start, OUTPUTS.count)
    assert model.outputs == outputs
    read = read_outputs_request(unit)
    assert decode_reply(read, exchange(model, read)) == (tag, outputs)
    status = decode_status(exchange(model, read_status_request(unit)), unit)
    assert status.applied_tag == tag
    assert not status.booted
    assert status.locked == outputs.locked


def test_poll_reports_presses_and_card() -> None:
    model = keypad(card=True, boot_count=7)
    model.handle(write_outputs_request(5, KeypadOutputs(locked=False, keys=3), 9))
    model.insert_card(0x04A1B2C3D4E5F6)
    model.press(1)
    model.press(3)
    status = decode_status(exchange(model, read_status_request(5, card=True)), 5, card=True)
    assert status.card == 0x04A1B2C3D4E5F6
    assert status.present
    assert [(e.key, e.seq, e.refused) for e in status.events] == [
        (Key.PRESENCE_ON, 1, False),
        (Key.YES, 2, False),
        (Key.ABSTAIN, 3, False),
    ]


def test_presses_when_locked_or_beyond_active_keys_are_refused() -> None:
    model = keypad(keys=5)
    assert model.press(1).refused  # power-up: locked
    model.handle(write_outputs_request(1, KeypadOutputs(locked=False, keys=3), 1))
    assert not model.press(3).refused
    assert model.press(4).refused
    with pytest.raises(KeypadUsageError):
        model.press(6)


def test_presence_key_toggles() -> None:
    model = keypad()
    assert model.press_presence().key is Key.PRESENCE_ON
    assert model.status().present
    assert model.press_presence().key is Key.PRESENCE_OFF
    assert not model.status().present


def test_broadcasts_apply_silently_and_keep_presence_led() -> None:
    model = keypad()
    model.handle(write_outputs_request(1, KeypadOutputs(presence_led=True, leds=frozenset({1})), 1))
    for request in (
        broadcast_vote_request(2, locked=False, keys=3, beep=Beep.CONFIRM),
        broadcast_lock_request(3, locked=True),
        broadcast_beep_request(4, locked=True, beep=Beep.WARNING),
    ):
        frame = encode_frame(request)
        assert frame[0] == 0
        assert model.handle(decode_frame(frame, side=Side.UNIT)) is None
    assert model.applied_tag == 4
    # BEEP reads back as last written (section 3.5).
    assert model.outputs == KeypadOutputs(locked=True, keys=3, presence_led=True, beep=Beep.WARNING)
    assert model.sounded == [Beep.CONFIRM, Beep.WARNING]


def test_read_broadcast_is_ignored() -> None:
    request = ReadInputRegistersRequest(address=0, count=12, dev_id=0)
    assert keypad().handle(request) is None


_FUNCTION = ExceptionCode.ILLEGAL_FUNCTION
_ADDRESS = ExceptionCode.ILLEGAL_DATA_ADDRESS
_VALUE = ExceptionCode.ILLEGAL_DATA_VALUE


def _read(address: int, count: int) -> ModbusPDU:
    return ReadInputRegistersRequest(address=address, count=count, dev_id=1)


def _write(address: int, *values: int) -> ModbusPDU:
    return WriteMultipleRegistersRequest(address=address, registers=list(values), dev_id=1)


def _write1(address: int, value: int) -> ModbusPDU:
    return WriteSingleRegisterRequest(address=address, registers=[value], dev_id=1)


@pytest.mark.parametrize(
    ("request_pdu", "code"),
    [
        (ReadCoilsRequest(address=0, count=1, dev_id=1), _FUNCTION),
        (_read(0x200, 1), _ADDRESS),  # nothing there
        (_read(0x011D, 2), _ADDRESS),  # runs off the identity block
        (_read(0x000C, 1), _ADDRESS),  # card block on a unit without a reader
        (_read(0, 126), _VALUE),  # above the Modbus read limit
        (_write(5, 1, 1), _ADDRESS),  # runs off the output block
        (_write(0, 0), _VALUE),  # tag 0 is reserved
        (_write(1, 2), _VALUE),  # LOCK is 0..1
        (_write1(2, 9), _VALUE),  # no such beep pattern
        (_write1(4, 0x0400), _VALUE),  # LED bit beyond key 10
        (_write1(3, 11), _VALUE),  # more active keys than a keypad has
    ],
)
def test_unit_answers_exceptions(request_pdu: ModbusPDU, code: ExceptionCode) -> None:
    model = keypad()
    before = model.outputs, model.applied_tag
    reply = model.handle(request_pdu)
    assert reply is not None
    assert reply.function_code == request_pdu.function_code | 0x80
    assert reply.exception_code == code
    assert (model.outputs, model.applied_tag) == before  # refused writes change nothing
    if request_pdu.function_code in (0x04, 0x10, 0x06):
        with pytest.raises(KeypadExceptionResponse) as info:
            decode_reply(request_pdu, reply)
        assert info.value.code == code
        assert info.value.reason is Reason.EXCEPTION


def test_single_register_write_leaves_tag() -> None:
    model = keypad()
    request = WriteSingleRegisterRequest(address=2, registers=[int(Beep.REJECT)], dev_id=1)
    assert decode_reply(request, exchange(model, request)) == WriteAck(2, 1)
    assert model.sounded == [Beep.REJECT]
    assert model.applied_tag == 0


def test_reply_checks() -> None:
    request = read_status_request(3)
    good = keypad().handle(request)
    assert good is not None
    good.dev_id = 4
    with pytest.raises(KeypadProtocolError) as info:
        decode_reply(request, good)
    assert info.value.reason is Reason.WRONG_UNIT
    short = ReadInputRegistersResponse(registers=[0] * 11, dev_id=3)
    with pytest.raises(KeypadProtocolError) as info:
        decode_reply(request, short)
    assert info.value.reason is Reason.WRONG_LENGTH
    wrong_fc = ReadInputRegistersResponse(registers=[0] * 6, dev_id=3)
    with pytest.raises(KeypadProtocolError) as info:
        decode_reply(write_outputs_request(3, KeypadOutputs(), 1), wrong_fc)
    assert info.value.reason is Reason.WRONG_FUNCTION


def test_torn_ring_is_refused() -> None:
    model = keypad()
    model.press(1)
    model.press(2)
    regs = encode_status(model.status())
    regs[STATUS.offset("EVENT_SEQ")] = 3  # the ring no longer ends at EVENT_SEQ
    with pytest.raises(KeypadProtocolError) as info:
        decode_status_registers(regs)
    assert info.value.reason is Reason.BAD_RING


def test_card_flag_must_match_card_id() -> None:
    regs = encode_status(KeypadStatus(StatusFlag.CARD, 1, 0, 0), card=True)
    with pytest.raises(KeypadProtocolError) as info:
        decode_status_registers(regs)
    assert info.value.reason is Reason.BAD_VALUE


def test_unknown_major_version_is_refused() -> None:
    regs = encode_identity(Identity(key_count=3, maker="x", serial_number="y"))
    regs[0] = 0x0200
    with pytest.raises(KeypadProtocolError) as info:
        decode_identity_registers(regs)
    assert info.value.reason is Reason.UNSUPPORTED


def test_usage_errors() -> None:
    with pytest.raises(KeypadUsageError):
        read_status_request(0)
    with pytest.raises(KeypadUsageError):
        read_status_request(248)


# --- framing four ways ------------------------------------------------------------------------


def _whole(frames: bytes) -> list[bytes]:
    return [frames]


def _split(frames: bytes) -> list[bytes]:
    return [frames[: len(frames) // 2], frames[len(frames) // 2 :]]


def _bytewise(frames: bytes) -> list[bytes]:
    return [frames[i : i + 1] for i in range(len(frames))]


def _garbage(frames: bytes) -> list[bytes]:
    # Noise that looks like a header of a long reply, then a stray exception start.
    return [b"\x01\x04\xfa\x00\x13\xff\x83", frames]


WAYS: dict[str, Callable[[bytes], list[bytes]]] = {
    "whole": _whole,
    "split": _split,
    "bytewise": _bytewise,
    "garbage": _garbage,
}


def _sample_replies() -> list[ModbusPDU]:
    model = keypad(card=True)
    model.insert_card(42)
    replies = [
        model.handle(read_identity_request(7)),
        model.handle(read_status_request(7, card=True)),
        model.handle(write_outputs_request(7, KeypadOutputs(keys=2), 5)),
        model.handle(read_outputs_request(7)),
        model.handle(identify_request(7, 30)),
        model.handle(read_identify_request(7)),
        model.handle(ReadInputRegistersRequest(address=0x300, count=1, dev_id=7)),
    ]
    return [r for r in replies if r is not None]


def _sample_requests() -> list[ModbusPDU]:
    return [
        read_identity_request(9),
        read_status_request(9),
        write_outputs_request(9, KeypadOutputs(leds=frozenset({1, 10})), 77),
        broadcast_vote_request(78, locked=False, keys=3),
        WriteSingleRegisterRequest(address=2, registers=[1], dev_id=9),
        identify_request(9, 255),
        read_identify_request(9),
    ]


def _same(a: ModbusPDU, b: ModbusPDU) -> bool:
    return encode_frame(a) == encode_frame(b) and a.dev_id == b.dev_id


@pytest.mark.parametrize("way", WAYS)
def test_keypad_framer_replies_four_ways(way: str) -> None:
    replies = _sample_replies()
    stream = b"".join(encode_frame(r) for r in replies)
    framer = KeypadFramer()
    got: list[ModbusPDU] = []
    for chunk in WAYS[way](stream):
        got += framer.feed(chunk)
    assert len(got) == len(replies)
    assert all(_same(a, b) for a, b in zip(got, replies, strict=True))
    assert framer.pending == 0


@pytest.mark.parametrize("way", WAYS)
def test_keypad_framer_requests_four_ways(way: str) -> None:
    requests = _sample_requests()
    stream = b"".join(encode_frame(r) for r in requests)
    framer = KeypadFramer(side=Side.UNIT)
    got: list[ModbusPDU] = []
    for chunk in WAYS[way](stream):
        got += framer.feed(chunk)
    assert [encode_frame(p) for p in got] == [encode_frame(p) for p in requests]


@pytest.mark.parametrize("way", WAYS)
def test_keypad_framer_tcp_four_ways(way: str) -> None:
    replies = _sample_replies()
    for i, reply in enumerate(replies):
        reply.transaction_id = 100 + i
    stream = b"".join(encode_frame(r, Transport.TCP) for r in replies)
    framer = KeypadFramer(Transport.TCP)
    got: list[ModbusPDU] = []
    chunks = WAYS[way](stream)
    if way == "garbage":
        # TCP has no resync point: garbage means a lost stream, and a typed error.
        with pytest.raises(KeypadProtocolError):
            framer.feed(b"".join(chunks))
        return
    for chunk in chunks:
        got += framer.feed(chunk)
    assert [p.transaction_id for p in got] == [100 + i for i in range(len(replies))]
    assert all(_same(a, b) for a, b in zip(got, replies, strict=True))


@pytest.mark.parametrize("way", ["whole", "split", "bytewise", "idle-noise"])
def test_pymodbus_rtu_framer_reads_our_replies(way: str) -> None:
    """pymodbus's own framer (what its clients use) takes our frames as they are."""
    model = keypad()
    model.press_presence()
    # Address 0x30 is no function code: pymodbus's hunt skips it and the idle bytes.
    request = read_status_request(0x30)
    reply = model.handle(request)
    assert reply is not None
    frame = encode_frame(reply)
    chunks = {
        "whole": [frame],
        "split": _split(frame),
        "bytewise": _bytewise(frame),
        # pymodbus drops its whole buffer on a CRC failure, so its hunting copes with
        # idle-line noise (break characters) but not with a plausible false header.
        "idle-noise": [b"\x00\x00\x00", frame],
    }[way]
    framer = FramerRTU(DecodePDU(False))
    buffer = b""
    pdu = None
    for chunk in chunks:
        buffer += chunk
        used, pdu = framer.handleFrame(buffer, 0, 0)
        buffer = buffer[used:]
    assert pdu is not None
    assert decode_status(pdu, 0x30).events[0].key is Key.PRESENCE_ON


def test_pymodbus_socket_framer_reads_our_tcp_frames() -> None:
    request = read_status_request(17)
    request.transaction_id = 9
    _, pdu = FramerSocket(DecodePDU(True)).handleFrame(encode_frame(request, Transport.TCP), 0, 0)
    assert pdu is not None
    assert (pdu.dev_id, pdu.transaction_id, pdu.count) == (17, 9, STATUS.count)


def test_framer_recovers_after_a_corrupted_frame() -> None:
    model = keypad()
    good = encode_frame(model.handle(read_status_request(1)) or read_status_request(1))
    bad = bytearray(good)
    bad[5] ^= 0xFF
    framer = KeypadFramer()
    got = framer.feed(bytes(bad) + good)
    assert len(got) == 1
    assert framer.dropped == len(bad)


def test_framer_buffer_is_capped() -> None:
    framer = KeypadFramer(cap=64)
    framer.feed(b"\x01\x04\xfa" + bytes(200))
    assert framer.pending <= 64
    assert framer.dropped > 0
    framer.reset()
    assert framer.pending == 0


def test_decode_frame_reasons() -> None:
    frame = encode_frame(read_status_request(1))
    with pytest.raises(KeypadProtocolError) as info:
        decode_frame(frame[:3])
    assert info.value.reason is Reason.TRUNCATED
    with pytest.raises(KeypadProtocolError) as info:
        decode_frame(frame[:-1] + bytes([frame[-1] ^ 1]), side=Side.UNIT)
    assert info.value.reason is Reason.BAD_CRC
    tcp = encode_frame(read_status_request(1), Transport.TCP)
    with pytest.raises(KeypadProtocolError) as info:
        decode_frame(tcp[:2] + b"\x00\x01" + tcp[4:], Transport.TCP, Side.UNIT)
    assert info.value.reason is Reason.BAD_HEADER
    with pytest.raises(KeypadProtocolError) as info:
        decode_frame(tcp + b"\x00", Transport.TCP, Side.UNIT)
    assert info.value.reason is Reason.WRONG_LENGTH


# --- the tracker ----------------------------------------------------------------------------


def _poll(model: KeypadRegisters) -> KeypadStatus:
    return decode_status_registers(encode_status(model.status()))


def test_tracker_first_contact_then_events_once() -> None:
    model = keypad()
    model.press(1)
    tracker = KeypadTracker()
    first = tracker.update(_poll(model))
    assert first.events == ()
    assert first.resync is ResyncReason.UNCONFIGURED
    model.handle(write_outputs_request(1, KeypadOutputs(locked=False, keys=3), 1))
    tracker.wrote(1)
    model.press(2)
    model.press(3)
    update = tracker.update(_poll(model))
    assert [e.key for e in update.events] == [Key.NO, Key.ABSTAIN]
    assert update.resync is None
    assert tracker.update(_poll(model)).events == ()


def test_tracker_reports_lost_events_on_overflow() -> None:
    model = keypad()
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    for _ in range(EVENT_RING + 3):
        model.press(1)
    update = tracker.update(_poll(model))
    assert update.lost == 3
    assert [e.seq for e in update.events] == list(range(4, EVENT_RING + 4))


def test_tracker_resumes_from_a_cursor() -> None:
    model = keypad(boot_count=5)
    for _ in range(4):
        model.press(2)
    tracker = KeypadTracker(EventCursor(boot_count=5, seq=2))
    assert [e.seq for e in tracker.update(_poll(model)).events] == [3, 4]


def test_tracker_sees_a_restart_and_takes_its_events() -> None:
    model = keypad(boot_count=5)
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    model.handle(write_outputs_request(1, KeypadOutputs(), 1))
    tracker.wrote(1)
    model.press(1)
    assert tracker.update(_poll(model)).resync is None
    model.restart()
    model.press_presence()
    update = tracker.update(_poll(model))
    assert update.restarted
    assert update.resync is ResyncReason.RESTART
    assert [e.key for e in update.events] == [Key.PRESENCE_ON]
    # The resync write has not landed yet: resync again, but no new restart.
    again = tracker.update(_poll(model))
    assert (again.restarted, again.resync) == (False, ResyncReason.BOOT_FLAG)
    model.handle(write_outputs_request(1, KeypadOutputs(), 2))
    tracker.wrote(2)
    assert tracker.update(_poll(model)).resync is None


def test_tracker_sees_a_restart_without_boot_count() -> None:
    model = keypad(boot_count=9)
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    model.handle(write_outputs_request(1, KeypadOutputs(), 1))
    tracker.wrote(1)
    model.press(1)
    tracker.update(_poll(model))
    model.restart()
    model.boot_count = 9  # a unit whose non-volatile counter is broken
    model.press(1)
    model.press(2)
    update = tracker.update(_poll(model))
    assert update.restarted
    assert [e.seq for e in update.events] == [1, 2]


def test_tracker_sees_a_missed_broadcast() -> None:
    model = keypad()
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    model.handle(write_outputs_request(1, KeypadOutputs(), 1))
    tracker.wrote(1)
    tracker.update(_poll(model))
    tracker.wrote(2)  # a broadcast with tag 2 that this unit never heard
    assert tracker.update(_poll(model)).resync is ResyncReason.TAG_MISMATCH


actions = st.lists(
    st.one_of(
        st.tuples(st.just("press"), st.integers(1, 3)),
        st.tuples(st.just("presence"), st.just(0)),
        st.tuples(st.just("poll"), st.just(0)),
        st.tuples(st.just("restart"), st.just(0)),
    ),
    max_size=60,
)


@given(actions)
def test_tracker_reports_each_event_exactly_once(script: list[tuple[str, int]]) -> None:
    """Each poll yields exactly the events the unit recorded since the previous poll (the
    newest `EVENT_RING` of them), the rest counted as lost; a restart is always seen."""
    model = keypad()
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    start = 0
    polled_start = 0
    pending: list[KeyEvent] = []  # recorded in this start, not yet polled
    for action, arg in [*script, ("poll", 0)]:
        if action == "press":
            pending.append(model.press(arg))
        elif action == "presence":
            pending.append(model.press_presence())
        elif action == "restart":
            model.restart()
            start += 1
            pending = []  # a start no poll saw is gone with the restart
        else:
            update = tracker.update(_poll(model))
            assert update.restarted == (start != polled_start)
            assert list(update.events) == pending[-EVENT_RING:]
            assert update.lost == max(0, len(pending) - EVENT_RING)
            if update.restarted:
                assert update.resync is ResyncReason.RESTART
            polled_start = start
            pending = []


@given(st.lists(st.integers(1, 3), max_size=200), st.integers(1, EVENT_RING))
def test_tracker_loses_nothing_when_polled_in_time(presses: list[int], every: int) -> None:
    model = keypad()
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    recorded: list[KeyEvent] = []
    reported: list[KeyEvent] = []
    for i, key in enumerate(presses, 1):
        recorded.append(model.press(key))
        if i % every == 0:
            reported += tracker.update(_poll(model)).events
    update = tracker.update(_poll(model))
    reported += update.events
    assert update.lost == 0
    assert reported == recorded


def test_tracker_survives_sequence_wrap() -> None:
    model = keypad()
    model.seq = SEQ_MODULUS - 2  # a long-lived unit near the end of its sequence space
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    model.press(1)
    model.press(2)
    model.press(3)
    update = tracker.update(_poll(model))
    assert [e.seq for e in update.events] == [SEQ_MODULUS - 1, 0, 1]
    assert update.lost == 0


# --- timing ---------------------------------------------------------------------------------


def test_poll_cycle_arithmetic() -> None:
    char = 11 / 115200
    per_unit = 8 * char + 0.00175 + 0.0005 + 29 * char + 0.00175
    assert poll_cycle_wire_time(32, 115200, 0.0005) == pytest.approx(32 * per_unit)
    assert poll_cycle_wire_time(32, 115200) == pytest.approx(0.2411, abs=5e-5)
    assert poll_cycle_wire_time(32, 115200, card=True) == pytest.approx(0.2655, abs=5e-5)
    assert poll_cycle_wire_time(32, 9600) == pytest.approx(1.6293, abs=5e-5)
    assert t35(9600) == pytest.approx(3.5 * 11 / 9600)
    assert t35(38400) == 0.00175
    assert response_timeout(115200, 29) == pytest.approx(0.0165, abs=5e-5)
    with pytest.raises(KeypadUsageError, match="negative"):
        poll_cycle_wire_time(-1, 115200)
    with pytest.raises(ValueError, match="baud"):
        modbus_timing.char_time(0)


def test_labels_are_vietnamese_first() -> None:
    assert LABELS[Key.YES]["vi"] == "tán thành"
    assert LABELS[Key.NO]["vi"] == "không tán thành"
    assert LABELS[Key.ABSTAIN]["vi"] == "không biểu quyết"


def test_unit_read_covers_every_input_block() -> None:
    model = keypad(card=True)
    assert model.read(Table.INPUT, IDENTITY.start, IDENTITY.count) == encode_identity(
        model.identity
    )
    polled = model.read(Table.INPUT, STATUS.start, STATUS.count + CARD.count)
    assert isinstance(polled, list)
    assert len(polled) == 16
    assert model.read(Table.INPUT, 0x0050, 1) is ExceptionCode.ILLEGAL_DATA_ADDRESS


# --- garbage in: typed errors only ----------------------------------------------------------

_FUZZ_REQUESTS: list[ModbusPDU] = [
    read_identity_request(1),
    read_status_request(1),
    read_status_request(1, card=True),
    read_outputs_request(1),
    write_outputs_request(1, KeypadOutputs(), 1),
    WriteSingleRegisterRequest(address=2, registers=[1], dev_id=1),
    identify_request(1, 10),
    read_identify_request(1),
]


def fuzz_target(data: bytes) -> None:
    """Feed `data` to every keypad decoder; only KeypadProtocolError may come out."""
    for transport in Transport:
        for side in Side:
            try:
                pdu = decode_frame(data, transport, side)
            except KeypadProtocolError:
                pdu = None
            if pdu is not None and side is Side.CONTROLLER:
                for request in _FUZZ_REQUESTS:
                    pdu.dev_id = request.dev_id
                    with contextlib.suppress(KeypadProtocolError):
                        decode_reply(request, pdu)
            if pdu is not None and side is Side.UNIT:
                _FUZZ_UNIT.handle(pdu)
                _FUZZ_UNIT.sounded.clear()  # a million runs must not grow it
                _FUZZ_UNIT.identified.clear()
            framer = KeypadFramer(transport, side)
            try:
                framer.feed(data)
                framer.feed(data[::-1])
            except KeypadProtocolError:
                pass
    regs = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]
    decoders = (decode_status_registers, decode_identity_registers, decode_outputs, decode_identify)
    for decoder in decoders:
        with contextlib.suppress(KeypadProtocolError):
            decoder(regs)
    counts = (STATUS.count, STATUS.count + CARD.count, IDENTITY.count, OUTPUTS.count, 1)
    for count in counts:
        window = (regs * (count // max(1, len(regs)) + 1))[:count] if regs else [0] * count
        for decoder in decoders:
            with contextlib.suppress(KeypadProtocolError):
                decoder(window)


_FUZZ_UNIT = keypad(card=True)


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_raise_only_typed_errors(data: bytes) -> None:
    fuzz_target(data)


@given(st.lists(st.integers(0, 0xFFFF), min_size=12, max_size=16))
def test_random_status_registers_raise_only_typed_errors(regs: list[int]) -> None:
    try:
        status = decode_status_registers(regs)
    except KeypadProtocolError:
        return
    assert len(status.events) <= EVENT_RING


@given(st.binary(min_size=1, max_size=40), st.sampled_from(_sample_replies()))
def test_valid_frame_found_after_random_noise(noise: bytes, reply: ModbusPDU) -> None:
    framer = KeypadFramer()
    got = framer.feed(noise + encode_frame(reply))
    # Noise can itself hold a frame with a good CRC by chance, but the real one is the last.
    assert got
    assert encode_frame(got[-1]) == encode_frame(reply)


def test_fuzz_target_is_fast() -> None:
    rng = random.Random(1)
    samples = [rng.randbytes(rng.randrange(0, 80)) for _ in range(300)]
    samples += [encode_frame(r) for r in _sample_replies()]
    for sample in samples:
        fuzz_target(sample)


# --- the forget block (§3.6, contract 1.1) ----------------------------------------------------


def test_forget_empties_the_ring_up_to_a_number_and_numbering_goes_on() -> None:
    model = keypad(boot_count=42)
    model.handle(write_outputs_request(1, KeypadOutputs(locked=False, keys=3), 1))
    for key in (1, 2, 3, 1):
        model.press(key)
    request = forget_events_request(1, EventCursor(42, 3))
    assert decode_reply(request, exchange(model, request)) == WriteAck(FORGET.start, 2)
    status = _poll(model)
    assert [(e.seq, e.key) for e in status.events] == [(4, Key.YES)]  # newer than 3: kept
    assert (status.seq, status.applied_tag, status.booted) == (4, 1, False)
    model.forget(EventCursor(42, 4))
    assert _poll(model).events == ()
    assert model.press(2).seq == 5
    assert [e.seq for e in _poll(model).events] == [5]
    read_back = read_forget_request(1)
    assert decode_reply(read_back, exchange(model, read_back)) == EventCursor(42, 3)


@pytest.mark.parametrize(
    ("cursor", "kept"),
    [
        (EventCursor(7, 5), [1, 2, 3, 4, 5]),  # another start: it names other events
        (EventCursor(1, 6), [1, 2, 3, 4, 5]),  # ahead of the unit: nothing that old is new
        (EventCursor(1, (5 - EVENT_RING) % SEQ_MODULUS), [1, 2, 3, 4, 5]),
        (EventCursor(1, 0), [1, 2, 3, 4, 5]),
        (EventCursor(1, 2), [3, 4, 5]),
        (EventCursor(1, 5), []),
    ],
)
def test_forget_touches_only_events_of_this_start_at_or_before_its_number(
    cursor: EventCursor, kept: list[int]
) -> None:
    model = keypad()
    for _ in range(5):
        model.press_presence()
    model.forget(cursor)
    assert [e.seq for e in _poll(model).events] == kept


def test_forget_block_is_written_whole_never_broadcast_and_absent_before_1_1() -> None:
    model = keypad()
    model.press_presence()
    single = WriteSingleRegisterRequest(address=FORGET.start + 1, registers=[1], dev_id=1)
    part = WriteMultipleRegistersRequest(address=FORGET.start, registers=[1], dev_id=1)
    past = WriteMultipleRegistersRequest(address=FORGET.start + 1, registers=[1, 1], dev_id=1)
    for request, code in (
        (single, ExceptionCode.ILLEGAL_DATA_VALUE),
        (part, ExceptionCode.ILLEGAL_DATA_VALUE),
        (past, ExceptionCode.ILLEGAL_DATA_ADDRESS),
    ):
        reply = exchange(model, request)
        with pytest.raises(KeypadExceptionResponse) as info:
            decode_reply(request, reply)
        assert info.value.code == code
    broadcast = forget_events_request(1, EventCursor(1, 1))
    broadcast.dev_id = 0
    assert model.handle(broadcast) is None
    assert [e.seq for e in _poll(model).events] == [1]  # nothing of it was applied
    old = KeypadRegisters(
        Identity(key_count=3, maker="m", serial_number="s", protocol_version=(1, 0))
    )
    assert not old.identity.forgets_events
    assert old.identity.contract == "1.0"
    old.press_presence()
    request = forget_events_request(1, EventCursor(1, 1))
    with pytest.raises(KeypadExceptionResponse) as info:
        decode_reply(request, exchange(old, request))
    assert info.value.code == ExceptionCode.ILLEGAL_DATA_ADDRESS
    assert [e.seq for e in _poll(old).events] == [1]


# --- the identify block (§3.7, contract 1.2) --------------------------------------------------


@given(st.integers(0, IDENTIFY_MAX_S), st.integers(1, 247))
def test_identify_round_trips_through_bytes_and_the_unit(seconds: int, unit: int) -> None:
    """Codec both ways, frame both ways, and the unit model: what goes out comes back."""
    assert decode_identify(encode_identify(seconds)) == IdentifyState(seconds)
    request = identify_request(unit, seconds)
    frame = encode_frame(request)
    heard = decode_frame(frame, side=Side.UNIT)
    assert encode_frame(heard) == frame
    model = keypad()
    reply = model.handle(heard)
    assert reply is not None
    back = decode_frame(encode_frame(reply))
    assert decode_reply(request, back) == WriteAck(IDENTIFY.start, 1)
    assert model.identified == [seconds]
    read = read_identify_request(unit)
    assert decode_reply(read, exchange(model, read)) == IdentifyState(seconds)
    # Nothing else changed: the outputs, the tag and the boot flag are the unit's own.
    assert model.applied_tag == 0
    assert model.outputs == KeypadOutputs()


@given(st.integers(IDENTIFY_MAX_S + 1, 0xFFFF))
def test_identify_beyond_the_range_is_refused_both_ways(seconds: int) -> None:
    with pytest.raises(KeypadUsageError):
        identify_request(1, seconds)
    with pytest.raises(KeypadProtocolError):
        decode_identify([seconds])
    model = keypad()
    raw = WriteSingleRegisterRequest(address=IDENTIFY.start, registers=[seconds], dev_id=1)
    with pytest.raises(KeypadExceptionResponse) as info:
        decode_reply(raw, exchange(model, raw))
    assert info.value.code == ExceptionCode.ILLEGAL_DATA_VALUE
    assert model.identified == []


def test_identify_is_never_broadcast_ends_with_a_restart_and_is_absent_before_1_2() -> None:
    model = keypad()
    broadcast = identify_request(1, 5)
    broadcast.dev_id = 0
    assert model.handle(broadcast) is None
    assert model.identified == []
    model.handle(identify_request(1, 5))
    model.identify_left(3)
    assert model.identify_s == 3
    model.restart()
    assert model.identify_s == 0
    for version in ((1, 0), (1, 1)):
        old = KeypadRegisters(
            Identity(key_count=3, maker="m", serial_number="s", protocol_version=version)
        )
        assert not old.identity.identifies
        request = identify_request(1, 5)
        with pytest.raises(KeypadExceptionResponse) as info:
            decode_reply(request, exchange(old, request))
        assert info.value.code == ExceptionCode.ILLEGAL_DATA_ADDRESS
        assert old.identify_s is None
        with pytest.raises(KeypadUsageError):
            old.identify_left(1)
    for bad in (-1, 256, True, 1.5):
        with pytest.raises(KeypadUsageError):
            encode_identify(bad)  # type: ignore[arg-type]


def test_another_major_version_is_a_version_error() -> None:
    regs = encode_identity(Identity(key_count=3, maker="x", serial_number="y"))
    regs[0] = 0x0203
    with pytest.raises(KeypadVersionError) as info:
        decode_identity_registers(regs)
    assert info.value.version == (2, 3)
    assert info.value.reason is Reason.UNSUPPORTED


@given(st.lists(st.sampled_from(["press", "presence", "poll", "forget", "restart"]), max_size=80))
def test_forgetting_at_the_cursor_never_loses_or_repeats_an_event(script: list[str]) -> None:
    """The controller forgets up to the place of its last poll: every event still reaches
    it exactly once, however forgets, presses, polls and restarts interleave."""
    model = keypad()
    tracker = KeypadTracker()
    tracker.update(_poll(model))
    recorded: list[tuple[int, KeyEvent]] = []
    reported: list[tuple[int, KeyEvent]] = []
    gone: list[tuple[int, KeyEvent]] = []  # wiped by a restart before any poll
    unread: list[tuple[int, KeyEvent]] = []
    for action in [*script, "poll"]:
        if action == "press" and len(unread) < EVENT_RING:
            unread.append((model.boot_count, model.press(1)))
        elif action == "presence" and len(unread) < EVENT_RING:
            unread.append((model.boot_count, model.press_presence()))
        elif action == "restart":
            model.restart()
            gone += unread
            unread = []
        elif action == "forget" and tracker.cursor is not None:
            model.forget(tracker.cursor)
        elif action == "poll":
            status = _poll(model)
            update = tracker.update(status)
            assert update.lost == 0
            reported += [(status.boot_count, e) for e in update.events]
            recorded += unread
            unread = []
    assert reported == recorded
    assert all(event not in reported for event in gone)


@pytest.mark.parametrize(
    "outputs",
    [
        {"keys": 2.0},
        {"keys": True},
        {"leds": frozenset({2.0})},
        {"leds": frozenset({True})},
        {"locked": 1},
        {"presence_led": "yes"},
    ],
)
def test_outputs_take_exact_types(outputs: dict[str, Any]) -> None:
    """A float or a bool where the contract has an integer is refused, not shifted into bits."""
    with pytest.raises(KeypadUsageError):
        KeypadOutputs(**outputs)


@pytest.mark.parametrize("unit", [1.0, True, "1"])
def test_requests_take_an_integer_address(unit: Any) -> None:
    with pytest.raises(KeypadUsageError):
        write_outputs_request(unit, KeypadOutputs(), 1)
    with pytest.raises(KeypadUsageError):
        read_status_request(unit)


@pytest.mark.parametrize("tag", [1.0, True])
def test_output_tags_are_integers(tag: Any) -> None:
    with pytest.raises(KeypadUsageError):
        encode_outputs(KeypadOutputs(), tag)


def test_registers_that_are_not_integers_are_refused() -> None:
    regs: list[Any] = list(encode_outputs(KeypadOutputs(keys=3, leds=frozenset({2})), 5))
    regs[0] = float(regs[0])
    with pytest.raises(KeypadProtocolError) as err:
        decode_outputs(regs)
    assert err.value.reason is Reason.BAD_VALUE


def test_events_a_forget_emptied_are_not_reported_lost() -> None:
    """A controller restarting from an older cursor (its last input was event 2; events 3
    and 4 were refused presses, never inputs) finds them forgotten: no loss."""
    model = keypad()
    for _ in range(4):
        model.press_presence()
    model.forget(EventCursor(1, 4))
    model.press_presence()
    update = KeypadTracker(EventCursor(1, 2)).update(_poll(model))
    assert [e.seq for e in update.events] == [5]
    assert update.lost == 0
    # A full ring is different: what fell off it was never read.
    for _ in range(EVENT_RING + 2):
        model.press_presence()
    assert KeypadTracker(EventCursor(1, 5)).update(_poll(model)).lost == 2
