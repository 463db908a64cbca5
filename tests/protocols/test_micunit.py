"""Tests of the microphone-unit codec, stream decoder, unit state and line poller.

Every stream test runs four ways: whole, split in two, byte by byte, and after leading
garbage. `fuzz_target` is the entry point for the separate million-input fuzz runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from chamber.protocols.crc import CRC16_MODBUS_CHECK, crc16_modbus, crc16_modbus_bytes
from chamber.protocols.micunit import (
    BUFFER_CAP,
    ESCAPE,
    EVENT_QUEUE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MESSAGE_TYPES,
    SOF,
    TIMING,
    UNASSIGNED,
    Ack,
    Broadcast,
    BroadcastOp,
    Chime,
    ChimePattern,
    Command,
    Discover,
    DiscoverReply,
    FrameError,
    FrameErrorReason,
    Heartbeat,
    Identify,
    LineEvent,
    LineTiming,
    MicLinePoller,
    MicMessage,
    MicProtocolError,
    MicStreamDecoder,
    MicUnitState,
    Nak,
    NakReason,
    Poll,
    RingState,
    SetAddress,
    SetMic,
    SetRing,
    Status,
    StatusEvent,
    UnitBooted,
    UnitEvent,
    UnitEventsLost,
    UnitKeyEvent,
    UnitOffline,
    UnitOnline,
    UnitType,
    discovery_slot,
    encode,
    encode_frame,
    next_seq,
    seq_is_newer,
)

Event = MicMessage | FrameError
# Garbage without SOF, so that it ends as one GARBAGE report at the first real frame.
GARBAGE = bytes([0x00, 0xFF, 0x13, 0x7D, 0x5E, 0xAA, 0x01])


# --- helpers ------------------------------------------------------------------------------


def decode_all(chunks: list[bytes], buffer_cap: int = BUFFER_CAP) -> list[Event]:
    decoder = MicStreamDecoder(buffer_cap)
    events: list[Event] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        events.extend(decoder.events())
    return events


def four_ways(wire: bytes) -> dict[str, list[Event]]:
    """Decode `wire` whole, split in two, byte by byte, and after leading garbage (whose
    GARBAGE report is checked and removed, so all four must agree)."""
    half = len(wire) // 2
    results = {
        "whole": decode_all([wire]),
        "split": decode_all([wire[:half], wire[half:]]),
        "bytewise": decode_all([bytes([b]) for b in wire]),
    }
    garbled = decode_all([GARBAGE + wire])
    assert garbled[0] == FrameError(
        FrameErrorReason.GARBAGE, f"{len(GARBAGE)} bytes outside any frame", count=len(GARBAGE)
    )
    results["garbage"] = garbled[1:]
    return results


def assert_four_ways(wire: bytes, expected: list[Event] | Callable[[list[Event]], None]) -> None:
    for way, events in four_ways(wire).items():
        if callable(expected):
            expected(events)
        else:
            assert events == expected, way


# --- strategies: every message type -------------------------------------------------------

units = st.integers(1, 247)
u8 = st.integers(0, 255)


@st.composite
def ring_and_position(draw: st.DrawFn) -> tuple[RingState, int]:
    ring = draw(st.sampled_from(RingState))
    return ring, draw(st.integers(1, 250)) if ring is RingState.QUEUED else 0


@st.composite
def set_rings(draw: st.DrawFn) -> SetRing:
    state, position = draw(ring_and_position())
    return SetRing(address=draw(units), state=state, position=position)


@st.composite
def statuses(draw: st.DrawFn) -> Status:
    ring, position = draw(ring_and_position())
    events = draw(
        st.lists(
            st.builds(StatusEvent, st.integers(1, 255), st.sampled_from(UnitEvent)),
            max_size=EVENT_QUEUE,
        )
    )
    return Status(
        address=draw(units),
        boot=draw(st.booleans()),
        mic_on=draw(st.booleans()),
        talk_held=draw(st.booleans()),
        priority_held=draw(st.booleans()),
        muted=draw(st.booleans()),
        events_lost=draw(st.booleans()),
        ring=ring,
        position=position,
        level_db=draw(st.integers(-128, 0)),
        events=tuple(events),
    )


STRATEGIES: dict[type[MicMessage], st.SearchStrategy[MicMessage]] = {
    Poll: st.builds(
        Poll, address=units, ack_seq=u8, boot_seen=st.booleans(), lost_seen=st.booleans()
    ),
    SetMic: st.builds(SetMic, address=units, on=st.booleans()),
    SetRing: set_rings(),
    Chime: st.builds(Chime, address=st.integers(0, 247), pattern=st.sampled_from(ChimePattern)),
    SetAddress: st.builds(
        SetAddress, serial=st.integers(0, 0xFFFF_FFFF), new_address=st.integers(1, 247)
    ),
    Discover: st.builds(Discover, slots=st.integers(1, 64), nonce=u8, unseen_only=st.booleans()),
    Heartbeat: st.builds(Heartbeat, counter=u8, sitting_open=st.booleans()),
    Broadcast: st.builds(Broadcast, op=st.sampled_from(BroadcastOp)),
    Identify: st.builds(Identify, address=units, seconds=u8),
    Status: statuses(),
    DiscoverReply: st.builds(
        DiscoverReply,
        address=st.one_of(units, st.just(UNASSIGNED)),
        serial=st.integers(0, 0xFFFF_FFFF),
        unit_type=st.sampled_from(UnitType),
        fw_major=u8,
        fw_minor=u8,
        fw_patch=u8,
    ),
    Ack: st.builds(Ack, address=units, command=st.sampled_from([c for c in Command if c < 0x80])),
    Nak: st.builds(Nak, address=units, command=u8, reason=st.sampled_from(NakReason)),
}
messages = st.one_of(*STRATEGIES.values())


def test_every_message_type_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(MESSAGE_TYPES.values())


# --- CRC ----------------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_modbus(b"123456789") == CRC16_MODBUS_CHECK == 0x4B37
    assert crc16_modbus_bytes(b"123456789") == b"\x37\x4b"


@given(st.binary(max_size=80))
def test_crc_agrees_with_pymodbus(data: bytes) -> None:
    # pymodbus returns the CRC byte-swapped, ready for a big-endian write.
    assert crc16_modbus_bytes(data) == FramerRTU.compute_CRC(data).to_bytes(2, "big")


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_crc_continues(a: bytes, b: bytes) -> None:
    assert crc16_modbus(b, crc16_modbus(a)) == crc16_modbus(a + b)


# --- round trips --------------------------------------------------------------------------


@given(messages)
def test_every_message_round_trips_four_ways(message: MicMessage) -> None:
    assert_four_ways(encode(message), [message])


@given(messages)
def test_sof_only_starts_a_frame(message: MicMessage) -> None:
    wire = encode(message)
    assert wire[0] == SOF
    assert SOF not in wire[1:]
    assert len(wire) <= 1 + 2 * MAX_FRAME


@given(st.lists(messages, min_size=1, max_size=6), st.data())
def test_a_stream_of_messages_at_any_split(batch: list[MicMessage], data: st.DataObject) -> None:
    wire = b"".join(encode(m) for m in batch)
    assert_four_ways(wire, list(batch))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=5)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    assert decode_all(chunks) == batch


@given(st.binary(max_size=60), st.lists(messages, min_size=1, max_size=3))
def test_any_garbage_then_frames_resyncs(garbage: bytes, batch: list[MicMessage]) -> None:
    # SOF never occurs inside a frame, so the first real SOF ends whatever the garbage began.
    wire = garbage + b"".join(encode(m) for m in batch)
    decoded = [e for e in decode_all([wire]) if isinstance(e, MicMessage)]
    assert decoded[-len(batch) :] == batch


# --- bad frames: typed errors, then resync -------------------------------------------------

POLL_1 = encode(Poll(address=1))


def _error_then_poll(reason: FrameErrorReason, **expected: object) -> Callable[[list[Event]], None]:
    def check(events: list[Event]) -> None:
        assert len(events) == 2, events
        error, message = events
        assert isinstance(error, FrameError)
        assert error.reason is reason
        assert error.detail
        for name, value in expected.items():
            assert getattr(error, name) == value
        assert message == Poll(address=1)

    return check


def test_bad_crc_is_reported_and_the_next_frame_decodes() -> None:
    bad = bytearray(encode(SetMic(address=9, on=True)))
    bad[-1] ^= 0x01
    check = _error_then_poll(FrameErrorReason.BAD_CRC, address=9, command=Command.SET_MIC)
    assert_four_ways(bytes(bad) + POLL_1, check)


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 7])
def test_truncated_frame_is_reported(cut: int) -> None:
    status = encode(Status(address=3, events=(StatusEvent(1, UnitEvent.CANCEL_PRESSED),)))
    assert_four_ways(status[:cut] + POLL_1, _error_then_poll(FrameErrorReason.TRUNCATED))


def test_bad_escape() -> None:
    wire = bytes([SOF, 0x01, ESCAPE, 0x33]) + POLL_1
    assert_four_ways(wire, _error_then_poll(FrameErrorReason.BAD_ESCAPE, address=1))


def test_bad_length_is_caught_at_the_length_byte() -> None:
    wire = bytes([SOF, 0x01, 0x01, MAX_PAYLOAD + 1]) + bytes(10) + POLL_1
    assert_four_ways(wire, _error_then_poll(FrameErrorReason.BAD_LENGTH, command=1))


def test_unknown_command_carries_address_and_command() -> None:
    wire = encode_frame(12, 0x42, b"\x01") + POLL_1
    check = _error_then_poll(FrameErrorReason.UNKNOWN_COMMAND, address=12, command=0x42)
    assert_four_ways(wire, check)


@pytest.mark.parametrize(
    ("address", "command", "payload", "reason"),
    [
        (12, Command.SET_MIC, b"\x02", FrameErrorReason.BAD_PAYLOAD),  # bool out of range
        (12, Command.SET_MIC, b"", FrameErrorReason.BAD_PAYLOAD),  # too short
        (12, Command.SET_MIC, b"\x01\x00", FrameErrorReason.BAD_PAYLOAD),  # too long
        (12, Command.SET_RING, b"\x02\x00", FrameErrorReason.BAD_PAYLOAD),  # QUEUED at 0
        (12, Command.SET_RING, b"\x01\x04", FrameErrorReason.BAD_PAYLOAD),  # LIVE at 4
        (12, Command.SET_RING, b"\x09\x00", FrameErrorReason.BAD_PAYLOAD),  # no such ring
        (3, Command.STATUS, b"\x00\x00\x00\x80\x09" + bytes(18), FrameErrorReason.BAD_PAYLOAD),
        (3, Command.STATUS, b"\x00\x00\x00\x10\x00", FrameErrorReason.BAD_PAYLOAD),  # +16 dB
        (3, Command.STATUS, b"\x00\x00\x00\x80\x01\x00\x01", FrameErrorReason.BAD_PAYLOAD),
        (3, Command.ACK, b"\x42", FrameErrorReason.BAD_PAYLOAD),  # ACK of unknown command
        (0, Command.POLL, b"\x00\x00", FrameErrorReason.BAD_ADDRESS),
        (255, Command.SET_MIC, b"\x01", FrameErrorReason.BAD_ADDRESS),
        (5, Command.DISCOVER, b"\x10\x00\x01", FrameErrorReason.BAD_ADDRESS),
        (UNASSIGNED, Command.STATUS, b"\x00\x00\x00\x80\x00", FrameErrorReason.BAD_ADDRESS),
    ],
)
def test_bad_payload_and_address(
    address: int, command: int, payload: bytes, reason: FrameErrorReason
) -> None:
    wire = encode_frame(address, command, payload) + POLL_1
    assert_four_ways(wire, _error_then_poll(reason, address=address, command=command))


# --- garbage, random bytes and the buffer cap ----------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=600), st.integers(0, 600))
def test_random_bytes_give_only_typed_events(data: bytes, cut: int) -> None:
    events = decode_all([data[:cut], data[cut:]])
    # Every event consumes at least one byte, so the work is bounded by the input.
    assert len(events) <= len(data)
    for event in events:
        assert isinstance(event, MicMessage | FrameError)
        if isinstance(event, FrameError):
            assert isinstance(event.reason, FrameErrorReason)
            assert event.detail


def test_garbage_is_reported_once_at_the_next_frame() -> None:
    events = decode_all([bytes(5), bytes(7), POLL_1])
    assert events == [
        FrameError(FrameErrorReason.GARBAGE, "12 bytes outside any frame", count=12),
        Poll(address=1),
    ]


def test_no_garbage_report_for_the_tail_of_a_bad_frame() -> None:
    wire = bytes([SOF, 0x01, 0x01, 0xF0]) + bytes(30) + POLL_1
    reasons = [e.reason for e in decode_all([wire]) if isinstance(e, FrameError)]
    assert reasons == [FrameErrorReason.BAD_LENGTH]


def test_buffer_cap_drops_input_and_says_so() -> None:
    decoder = MicStreamDecoder(buffer_cap=64)
    decoder.receive_data(POLL_1 + bytes(200))
    assert decoder.buffered == 64
    decoder.receive_data(bytes(50))  # still not read: all of it dropped
    assert decoder.buffered == 64
    events = list(decoder.events())
    assert events[0] == Poll(address=1)
    assert events[-1].reason is FrameErrorReason.BUFFER_OVERFLOW  # type: ignore[union-attr]
    assert events[-1].count == 200 + len(POLL_1) - 64 + 50  # type: ignore[union-attr]
    assert decoder.buffered == 0
    decoder.receive_data(POLL_1)
    assert list(decoder.events()) == [Poll(address=1)]


def test_overflow_inside_a_frame_abandons_it() -> None:
    status = encode(Status(address=3, events=(StatusEvent(1, UnitEvent.REQUEST_PRESSED),) * 8))
    decoder = MicStreamDecoder(buffer_cap=10)
    decoder.receive_data(status)  # only the first 10 bytes fit
    decoder.receive_data(POLL_1)  # dropped as well: nobody has read yet
    first = list(decoder.events())
    assert [type(e) for e in first] == [FrameError]
    assert first[0].reason is FrameErrorReason.BUFFER_OVERFLOW  # type: ignore[union-attr]
    decoder.receive_data(POLL_1)
    assert list(decoder.events()) == [Poll(address=1)]


def test_default_cap_holds_many_frames() -> None:
    assert 1 + 2 * MAX_FRAME < BUFFER_CAP
    decoder = MicStreamDecoder()
    decoder.receive_data(POLL_1 * (BUFFER_CAP // len(POLL_1)))
    assert all(e == Poll(address=1) for e in decoder.events())
    with pytest.raises(MicProtocolError):
        MicStreamDecoder(buffer_cap=0)


def test_line_idle_reports_a_frame_cut_short() -> None:
    decoder = MicStreamDecoder()
    decoder.receive_data(POLL_1[:5])
    assert list(decoder.events()) == []
    error = decoder.line_idle()
    assert error is not None
    assert error.reason is FrameErrorReason.TRUNCATED
    assert (error.address, error.command, error.raw) == (1, 1, POLL_1[1:5])
    assert decoder.line_idle() is None  # nothing in progress any more
    decoder.receive_data(bytes(3) + POLL_1)
    assert [type(e) for e in decoder.events()] == [FrameError, Poll]  # garbage, then the poll
    decoder.receive_data(POLL_1)
    with pytest.raises(MicProtocolError):
        decoder.line_idle()


def fuzz_target(data: bytes) -> None:
    """One fuzz input: decode it in two pieces; whatever decodes must re-encode to a frame
    that decodes to the same message; anything else must be a typed FrameError."""
    cut = data[0] % (len(data) + 1) if data else 0
    decoder = MicStreamDecoder(buffer_cap=256)
    decoder.receive_data(data[:cut])
    events = list(decoder.events())
    decoder.receive_data(data[cut:])
    events.extend(decoder.events())
    if len(events) > len(data):
        raise AssertionError("more events than input bytes")
    for event in events:
        if isinstance(event, FrameError):
            if not isinstance(event.reason, FrameErrorReason) or not event.detail:
                raise AssertionError(f"untyped error {event!r}")
        elif isinstance(event, MicMessage):
            again = MicStreamDecoder()
            again.receive_data(encode(event))
            if list(again.events()) != [event]:
                raise AssertionError(f"{event!r} does not round-trip")
        else:
            raise AssertionError(f"unexpected event {event!r}")


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_fuzz_target_random(data: bytes) -> None:
    fuzz_target(data)


@given(st.lists(messages, max_size=4), st.binary(max_size=20), st.integers(0, 80))
def test_fuzz_target_damaged_frames(batch: list[MicMessage], noise: bytes, at: int) -> None:
    wire = bytearray(b"".join(encode(m) for m in batch))
    wire[at:at] = noise
    fuzz_target(bytes(wire))


# --- encode misuse ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        SetMic(address=0, on=True),  # unit command broadcast
        SetMic(address=248, on=True),
        Poll(address=UNASSIGNED),
        Discover(address=5),
        SetAddress(serial=1, new_address=0),
        SetAddress(serial=1, new_address=248),
        SetAddress(serial=-1, new_address=3),
        SetRing(address=3, state=RingState.QUEUED, position=0),
        SetRing(address=3, state=RingState.QUEUED, position=251),
        SetRing(address=3, state=RingState.LIVE, position=1),
        Poll(address=1, ack_seq=256),
        Discover(slots=0),
        Discover(slots=65),
        Status(address=1, level_db=1),
        Status(address=1, events=(StatusEvent(0, UnitEvent.REQUEST_PRESSED),)),
        Status(address=1, events=(StatusEvent(1, UnitEvent.REQUEST_PRESSED),) * 9),
        Ack(address=1, command=0x42),
        Ack(address=1, command=Command.STATUS),
        Chime(address=1, pattern=9),  # type: ignore[arg-type]
        SetMic(address=1, on=1),  # type: ignore[arg-type]
        Heartbeat(counter=True),
    ],
)
def test_encode_refuses_what_the_contract_forbids(message: MicMessage) -> None:
    with pytest.raises(MicProtocolError):
        encode(message)


def test_encode_frame_limits() -> None:
    with pytest.raises(MicProtocolError):
        encode_frame(1, 1, bytes(MAX_PAYLOAD + 1))
    with pytest.raises(MicProtocolError):
        encode_frame(256, 1)
    assert len(encode_frame(1, 1, bytes(MAX_PAYLOAD))) >= MAX_FRAME + 1


# --- sequence numbers and discovery slots --------------------------------------------------


def test_seq_wraps_past_zero() -> None:
    assert next_seq(0) == 1
    assert next_seq(254) == 255
    assert next_seq(255) == 1
    assert seq_is_newer(1, 255)
    assert not seq_is_newer(255, 1)
    assert not seq_is_newer(7, 7)
    assert seq_is_newer(200, 0)


@given(st.integers(0, 0xFFFF_FFFF), u8, st.integers(1, 64))
def test_discovery_slot_is_in_range_and_deterministic(serial: int, nonce: int, slots: int) -> None:
    slot = discovery_slot(serial, nonce, slots)
    assert 0 <= slot < slots
    assert slot == discovery_slot(serial, nonce, slots)


def test_a_new_nonce_separates_colliding_units() -> None:
    serials = range(0x4D430001, 0x4D430001 + 40)
    for nonce in range(4):
        slots = [discovery_slot(s, nonce, 64) for s in serials]
        assert len(set(slots)) > 20  # spread, not all in one slot
    # Pairs that collide under one nonce must mostly part under the next (1/16 by chance).
    pairs = [(a, b) for a in range(1000, 1040) for b in range(a + 1, 1040)]
    collided = [(a, b) for a, b in pairs if discovery_slot(a, 0, 16) == discovery_slot(b, 0, 16)]
    again = [(a, b) for a, b in collided if discovery_slot(a, 1, 16) == discovery_slot(b, 1, 16)]
    assert len(collided) > 20
    assert len(again) < len(collided) / 4
    with pytest.raises(MicProtocolError):
        discovery_slot(1, 0, 0)


# --- the unit -----------------------------------------------------------------------------


def addressed_unit(address: int = 4, unit_type: UnitType = UnitType.DELEGATE) -> MicUnitState:
    return MicUnitState(serial=0x4D430001, unit_type=unit_type, address=address)


def running_unit(address: int = 4) -> MicUnitState:
    """A unit past its start: the master has answered its `boot` with `boot_seen`."""
    return replace(addressed_unit(address), boot=False)


def test_unit_queues_events_and_drops_them_when_acked() -> None:
    unit = running_unit().press(UnitEvent.REQUEST_PRESSED).press(UnitEvent.CANCEL_PRESSED)
    unit, reply = unit.handle(Poll(address=4))
    assert isinstance(reply, Status)
    assert [(e.seq, e.kind) for e in reply.events] == [
        (1, UnitEvent.REQUEST_PRESSED),
        (2, UnitEvent.CANCEL_PRESSED),
    ]
    unit, reply = unit.handle(Poll(address=4, ack_seq=1))
    assert isinstance(reply, Status)
    assert [e.seq for e in reply.events] == [2]
    unit, reply = unit.handle(Poll(address=4, ack_seq=99))  # not in the queue: ignored
    assert isinstance(reply, Status)
    assert [e.seq for e in reply.events] == [2]
    unit, reply = unit.handle(Poll(address=4, ack_seq=2))
    assert isinstance(reply, Status)
    assert reply.events == ()


def test_unit_full_queue_flags_loss_until_drained() -> None:
    unit = running_unit()
    for _ in range(EVENT_QUEUE + 2):
        unit = unit.press(UnitEvent.TALK_PRESSED)
    assert len(unit.events) == EVENT_QUEUE
    assert unit.events_lost
    assert unit.talk_held
    unit, _ = unit.handle(Poll(address=4, ack_seq=3))
    unit, reply = unit.handle(Poll(address=4, ack_seq=EVENT_QUEUE))
    assert isinstance(reply, Status)
    assert reply.events == ()
    assert reply.events_lost  # the queue is empty, but the master has not said it saw
    unit, reply = unit.handle(Poll(address=4, lost_seen=True))
    assert isinstance(reply, Status)
    assert not reply.events_lost


def test_unit_boot_flag_clears_on_boot_seen() -> None:
    unit = addressed_unit()
    unit, reply = unit.handle(Poll(address=4))
    assert isinstance(reply, Status)
    assert reply.boot
    unit, reply = unit.handle(Poll(address=4, boot_seen=True))
    assert isinstance(reply, Status)
    assert not reply.boot


def test_unit_mic_and_ring_commands_are_acked() -> None:
    unit = addressed_unit()
    unit, reply = unit.handle(SetMic(address=4, on=True))
    assert reply == Ack(address=4, command=Command.SET_MIC)
    unit, reply = unit.handle(SetRing(address=4, state=RingState.QUEUED, position=7))
    assert reply == Ack(address=4, command=Command.SET_RING)
    assert (unit.mic_on, unit.ring, unit.position) == (True, RingState.QUEUED, 7)
    unit, reply = unit.handle(Chime(address=4, pattern=ChimePattern.ATTENTION))
    assert reply == Ack(address=4, command=Command.CHIME)
    same, reply = unit.handle(SetMic(address=5, on=False))  # another unit's
    assert (same, reply) == (unit, None)
    same, reply = unit.handle(Status(address=4))  # a reply heard on the line
    assert (same, reply) == (unit, None)


# --- IDENTIFY (§5.10, contract 1.2) ---------------------------------------------------------


@given(st.integers(1, 247), u8, st.sampled_from(["whole", "split", "bytewise", "garbage"]))
def test_identify_round_trips_and_a_unit_blinks_or_refuses_by_its_version(
    address: int, seconds: int, way: str
) -> None:
    """Encode, decode four ways, then the unit model: a 1.2 unit takes it and ACKs, an older
    one NAKs it as unknown; neither changes anything else."""
    wire = encode(Identify(address=address, seconds=seconds))
    chunks = {
        "whole": [wire],
        "split": [wire[:3], wire[3:]],
        "bytewise": [wire[i : i + 1] for i in range(len(wire))],
        "garbage": [b"\x00\x13\xff", wire],
    }[way]
    decoder = MicStreamDecoder()
    heard: list[MicMessage | FrameError] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        heard += list(decoder.events())
    messages_heard = [m for m in heard if isinstance(m, MicMessage)]
    assert messages_heard == [Identify(address=address, seconds=seconds)]
    unit = replace(addressed_unit(address), mic_on=True, ring=RingState.LIVE)
    after, reply = unit.handle(messages_heard[0])
    assert reply == Ack(address=address, command=Command.IDENTIFY)
    assert (after.identify_s, after.identified) == (seconds, 1)
    assert (after.mic_on, after.ring, after.events, after.boot) == (
        True,
        RingState.LIVE,
        (),
        unit.boot,
    )
    assert decode_all([encode(reply)]) == [reply]
    for older in ((1, 0), (1, 1)):
        old = replace(unit, contract=older)
        same, nak = old.handle(messages_heard[0])
        assert nak == Nak(
            address=address, command=Command.IDENTIFY, reason=NakReason.UNKNOWN_COMMAND
        )
        assert (same.identify_s, same.identified) == (0, 0)
        assert decode_all([encode(nak)]) == [nak]


def test_identify_is_addressed_only() -> None:
    with pytest.raises(MicProtocolError):
        encode(Identify(address=0, seconds=5))
    with pytest.raises(MicProtocolError):
        encode(Identify(address=3, seconds=256))
    with pytest.raises(MicProtocolError):
        encode(Identify(address=3, seconds=True))
    # A broadcast IDENTIFY from the line is a bad frame, not a command.
    events = decode_all([encode_frame(0, Command.IDENTIFY, b"\x05")])
    assert [e.reason for e in events if isinstance(e, FrameError)] == [FrameErrorReason.BAD_ADDRESS]


def test_broadcasts_spare_the_chair() -> None:
    delegate = replace(addressed_unit(), mic_on=True, ring=RingState.LIVE)
    chair = replace(addressed_unit(2, UnitType.CHAIR), mic_on=True, ring=RingState.LIVE)
    for op in BroadcastOp:
        _, reply = delegate.handle(Broadcast(op=op))
        assert reply is None
    muted, _ = delegate.handle(Broadcast(op=BroadcastOp.PRIORITY_MUTE_ON))
    assert muted.mic_on
    assert muted.muted
    assert not muted.live
    unmuted, _ = muted.handle(Broadcast(op=BroadcastOp.PRIORITY_MUTE_OFF))
    assert unmuted.live
    off, _ = delegate.handle(Broadcast(op=BroadcastOp.ALL_MICS_OFF))
    assert not off.mic_on
    dark, _ = delegate.handle(Broadcast(op=BroadcastOp.ALL_RINGS_OFF))
    assert dark.ring is RingState.OFF
    for op in BroadcastOp:
        assert chair.handle(Broadcast(op=op)) == (chair, None)


def test_discovery_and_addressing_by_serial() -> None:
    unit = MicUnitState(serial=0x4D430001, firmware=(1, 2, 0))
    unit, reply = unit.handle(Poll(address=UNASSIGNED))
    assert reply is None  # an unassigned unit answers polls to nobody
    unit, reply = unit.handle(Discover(nonce=3))
    assert reply == DiscoverReply(
        address=UNASSIGNED,
        serial=0x4D430001,
        unit_type=UnitType.DELEGATE,
        fw_major=1,
        fw_minor=2,
        fw_patch=0,
    )
    same, reply = unit.handle(SetAddress(serial=0x4D430002, new_address=23))
    assert (same, reply) == (unit, None)
    unit, reply = unit.handle(SetAddress(serial=0x4D430001, new_address=23))
    assert reply == Ack(address=23, command=Command.SET_ADDRESS)
    assert unit.address == 23
    _, reply = unit.handle(Discover(unseen_only=True))
    assert reply is None  # known units stay quiet in later rounds
    _, reply = unit.handle(Discover(unseen_only=False))
    assert isinstance(reply, DiscoverReply)
    assert reply.address == 23


def test_unit_naks_intact_nonsense_and_ignores_bad_crc() -> None:
    unit = addressed_unit(12)
    decoder = MicStreamDecoder()
    bad_crc = bytearray(encode(SetMic(address=12, on=True)))
    bad_crc[-2] ^= 0x40
    decoder.receive_data(
        encode_frame(12, 0x42, b"")
        + encode_frame(12, Command.SET_MIC, b"\x07")
        + bytes(bad_crc)
        + encode_frame(13, 0x42, b"")
        + encode_frame(12, 0xC4, b"")
    )
    replies = [unit.handle_error(e) for e in decoder.events() if isinstance(e, FrameError)]
    assert replies == [
        Nak(address=12, command=0x42, reason=NakReason.UNKNOWN_COMMAND),
        Nak(address=12, command=Command.SET_MIC, reason=NakReason.BAD_PAYLOAD),
        None,  # bad CRC: silence
        None,  # another unit's
        None,  # a reply code: units never answer those
    ]


def test_level_is_clamped_to_dbfs() -> None:
    unit = addressed_unit()
    assert unit.with_level(5).level_db == 0
    assert unit.with_level(-300).level_db == -128
    assert unit.with_level(-24).status().level_db == -24


# --- the poller ---------------------------------------------------------------------------


def poll_cycle(
    poller: MicLinePoller,
    units: dict[int, MicUnitState],
    now: float,
    lose: frozenset[int] = frozenset(),
) -> list[LineEvent]:
    """Poll until the poller idles; units in `lose` do not answer. Returns line events."""
    events: list[LineEvent] = []
    while (poll := poller.next_poll(now)) is not None:
        unit = units.get(poll.address)
        if unit is None or poll.address in lose:
            events += poller.on_no_reply(now + TIMING.response_timeout_s)
            continue
        units[poll.address], reply = unit.handle(poll)
        assert reply is not None
        events += poller.on_reply(reply, now)
    return events


def test_poller_round_robin_and_online() -> None:
    poller = MicLinePoller([3, 1, 2])
    units = {a: addressed_unit(a) for a in (1, 2, 3)}
    order = []
    while (poll := poller.next_poll(0.0)) is not None:
        order.append(poll.address)
        units[poll.address], reply = units[poll.address].handle(poll)
        assert reply is not None
        assert poller.on_reply(reply, 0.0)[0] == UnitOnline(poll.address)
    assert order == [3, 1, 2]
    assert poller.next_due(0.0) == pytest.approx(TIMING.poll_cycle_min_s)
    assert poller.next_poll(TIMING.poll_cycle_min_s / 2) is None
    assert poller.next_poll(TIMING.poll_cycle_min_s) == Poll(address=3)


def test_poller_retries_then_counts_misses_then_offline() -> None:
    poller = MicLinePoller([5])
    now, tries = 0.0, 0
    events: list[LineEvent] = []
    while not events:
        poll = poller.next_poll(now)
        if poll is None:
            now = poller.next_due(now)
            continue
        tries += 1
        assert poller.reply_deadline == pytest.approx(now + TIMING.response_timeout_s)
        now += TIMING.response_timeout_s
        events = poller.on_no_reply(now)
    assert events == [UnitOffline(5)]
    assert tries == TIMING.offline_after_misses * (1 + TIMING.retries)
    assert not poller.is_online(5)
    # Offline: tried once per offline interval, with no retries.
    assert poller.next_poll(now + TIMING.poll_cycle_min_s) is None
    later = now + TIMING.offline_poll_interval_s
    assert poller.next_poll(later) == Poll(address=5)
    assert poller.on_no_reply(later + TIMING.response_timeout_s) == []
    poll = poller.next_poll(later + TIMING.offline_poll_interval_s)
    assert poll is not None
    _, reply = addressed_unit(5).handle(poll)
    assert reply is not None
    events = poller.on_reply(reply, later)
    assert events[0] == UnitOnline(5)
    assert poller.is_online(5)


def test_poller_ignores_stray_replies_and_refuses_misuse() -> None:
    poller = MicLinePoller([1, 2])
    with pytest.raises(MicProtocolError):
        poller.on_no_reply(0.0)
    poll = poller.next_poll(0.0)
    assert poll == Poll(address=1)
    assert poller.awaiting == 1
    assert poller.on_reply(Status(address=2), 0.0) == []
    assert poller.on_reply(Ack(address=1, command=Command.SET_MIC), 0.0) == []
    with pytest.raises(MicProtocolError):
        poller.next_poll(0.0)
    with pytest.raises(MicProtocolError):
        MicLinePoller([1, 1])
    with pytest.raises(MicProtocolError):
        MicLinePoller([0])


def test_poller_boot_flow_restores_once() -> None:
    poller = MicLinePoller([7])
    units = {7: addressed_unit(7)}
    assert poll_cycle(poller, units, 0.0) == [UnitOnline(7), UnitBooted(7)]
    assert poll_cycle(poller, units, 0.1) == []  # still booting: no second UnitBooted
    booting = units[7]
    assert booting.boot
    poller.state_restored(7)
    assert poll_cycle(poller, units, 0.2) == []
    restored = units[7]
    assert not restored.boot
    units[7] = replace(addressed_unit(7), seen=True).press(UnitEvent.REQUEST_PRESSED)  # restart
    assert poll_cycle(poller, units, 0.3) == [
        UnitBooted(7),
        UnitKeyEvent(7, 1, UnitEvent.REQUEST_PRESSED),
    ]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(UnitEvent), max_size=3),
            st.sampled_from(["ok", "lost-poll", "lost-reply"]),
        ),
        max_size=25,
    )
)
def test_presses_arrive_exactly_once_in_order_over_a_lossy_line(
    rounds: list[tuple[list[UnitEvent], str]],
) -> None:
    """The guarantee of §6.2, end to end through the codec: lost polls and lost replies
    neither lose nor repeat a key event, unless the unit said it lost some."""
    poller = MicLinePoller([9], LineTiming.from_spec())
    unit = replace(addressed_unit(9), boot=False)
    unit_rx, master_rx = MicStreamDecoder(), MicStreamDecoder()
    pressed: list[UnitEvent] = []
    delivered: list[UnitEvent] = []
    lost = False
    now = 0.0

    def exchange(fate: str) -> None:
        nonlocal unit, now, lost
        poll = poller.next_poll(now)
        assert poll is not None
        now += 0.001
        if fate == "lost-poll":
            poller.on_no_reply(now + TIMING.response_timeout_s)
            return
        unit_rx.receive_data(encode(poll))
        (heard,) = unit_rx.events()
        assert isinstance(heard, MicMessage)
        unit, reply = unit.handle(heard)
        assert reply is not None
        if fate == "lost-reply":
            poller.on_no_reply(now + TIMING.response_timeout_s)
            return
        master_rx.receive_data(encode(reply))
        (status,) = master_rx.events()
        assert isinstance(status, Status)
        for event in poller.on_reply(status, now):
            if isinstance(event, UnitKeyEvent):
                delivered.append(event.kind)
            lost = lost or isinstance(event, UnitEventsLost)

    for presses, fate in rounds:
        for kind in presses:
            unit = unit.press(kind)
            pressed.append(kind)
        now = poller.next_due(now)
        exchange(fate)
    for _ in range(4):  # a clean line drains what is left and clears the loss flag
        now = poller.next_due(now)
        exchange("ok")
    assert not unit.events_lost
    if lost:
        it = iter(pressed)
        assert all(kind in it for kind in delivered)  # an ordered subsequence
    else:
        assert delivered == pressed


@settings(max_examples=150)
@given(
    st.lists(st.sampled_from(["ok", "miss", "dead"]), min_size=1, max_size=5),
    st.lists(st.floats(0, 3.0), max_size=40),
)
def test_poller_schedule_invariants(fates: list[str], waits: list[float]) -> None:
    """`next_due` never lies, answering units are polled every cycle, and a unit goes
    offline exactly when it has missed `offline_after_misses` polls, retries included."""
    addresses = list(range(1, len(fates) + 1))
    poller = MicLinePoller(addresses)
    units = {a: replace(addressed_unit(a), boot=False) for a in addresses}
    misses = dict.fromkeys(addresses, 0)
    now = 0.0
    for wait in waits:
        now = poller.next_due(now + wait)
        poll = poller.next_poll(now)
        assert poll is not None
        assert poller.next_due(now) == poller.reply_deadline
        fate = fates[poll.address - 1]
        # "miss" units answer every other try, so their retries save them.
        answers = fate == "ok" or (fate == "miss" and misses[poll.address] % 2 == 1)
        if answers:
            misses[poll.address] = 0
            units[poll.address], reply = units[poll.address].handle(poll)
            assert reply is not None
            events = poller.on_reply(reply, now)
            assert UnitOffline(poll.address) not in events
            assert poller.is_online(poll.address)
        else:
            misses[poll.address] += 1
            events = poller.on_no_reply(now + TIMING.response_timeout_s)
            if UnitOffline(poll.address) in events:
                assert fate == "dead"
                assert misses[poll.address] == TIMING.offline_after_misses * (1 + TIMING.retries)


# --- restarts and acknowledgements (§5.1, contract 1.1) -------------------------------------


def test_a_restarted_unit_ignores_an_ack_meant_for_its_previous_run() -> None:
    unit = running_unit(7).press(UnitEvent.REQUEST_PRESSED)
    unit, _ = unit.handle(Poll(address=7, ack_seq=1))
    assert unit.events == ()
    # Restart, and the delegate presses at once: the new run numbers from 1 again.
    unit = replace(addressed_unit(7), seen=True).press(UnitEvent.REQUEST_PRESSED)
    unit, reply = unit.handle(Poll(address=7, ack_seq=1))  # built before the master knew
    assert isinstance(reply, Status)
    assert reply.boot
    assert [(e.seq, e.kind) for e in reply.events] == [(1, UnitEvent.REQUEST_PRESSED)]
    # The POLL with boot_seen is about the new run: its ack counts.
    unit, reply = unit.handle(Poll(address=7, ack_seq=1, boot_seen=True))
    assert isinstance(reply, Status)
    assert not reply.boot
    assert reply.events == ()


def test_the_poller_acknowledges_until_the_unit_dropped_it_then_sends_zero() -> None:
    poller = MicLinePoller([4])
    units = {4: running_unit(4)}
    assert poll_cycle(poller, units, 0.0) == [UnitOnline(4)]
    units[4] = units[4].press(UnitEvent.REQUEST_PRESSED)
    assert poll_cycle(poller, units, 0.1) == [UnitKeyEvent(4, 1, UnitEvent.REQUEST_PRESSED)]
    poll = poller.next_poll(0.2)
    assert poll == Poll(address=4, ack_seq=1)
    assert poller.on_no_reply(0.2 + TIMING.response_timeout_s) == []  # a lost reply ...
    retry = poller.next_poll(0.21)
    assert retry == Poll(address=4, ack_seq=1)  # ... repeats the ack
    units[4], reply = units[4].handle(retry)
    assert isinstance(reply, Status)
    assert reply.events == ()
    assert poller.on_reply(reply, 0.21) == []
    # Landed: never repeated, so no later restart of the unit can meet it.
    assert poller.next_poll(0.3) == Poll(address=4, ack_seq=0)


def test_a_press_right_after_a_restart_arrives_once_even_from_a_unit_that_honours_any_ack() -> None:
    """The master's half of the rule protects a 1.0 unit too: it holds no stale ack."""

    def honours_any_ack(unit: MicUnitState, poll: Poll) -> tuple[MicUnitState, Status]:
        seqs = [e.seq for e in unit.events]
        if poll.ack_seq in seqs:
            unit = replace(unit, events=unit.events[seqs.index(poll.ack_seq) + 1 :])
        unit = replace(unit, boot=unit.boot and not poll.boot_seen)
        return unit, unit.status()

    poller = MicLinePoller([7])
    unit = running_unit(7)
    delivered: list[tuple[int, UnitEvent]] = []
    now = 0.0

    def exchange() -> None:
        nonlocal unit, now
        now = poller.next_due(now)
        poll = poller.next_poll(now)
        assert poll is not None
        unit, reply = honours_any_ack(unit, poll)
        for event in poller.on_reply(reply, now):
            if isinstance(event, UnitKeyEvent):
                delivered.append((event.seq, event.kind))
            if isinstance(event, UnitBooted):
                poller.state_restored(7)

    unit = unit.press(UnitEvent.REQUEST_PRESSED)
    for _ in range(3):
        exchange()
    unit = replace(addressed_unit(7), seen=True).press(UnitEvent.REQUEST_PRESSED)
    for _ in range(3):
        exchange()
    assert delivered == [(1, UnitEvent.REQUEST_PRESSED), (1, UnitEvent.REQUEST_PRESSED)]
    assert unit.events == ()
    assert not unit.boot


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(UnitEvent), max_size=3),
            st.sampled_from(["ok", "lost-poll", "lost-reply", "restart"]),
        ),
        max_size=30,
    )
)
def test_restarts_lose_only_what_the_unit_itself_forgot(
    rounds: list[tuple[list[UnitEvent], str]],
) -> None:
    """Units restart between polls, and presses come right after: every press the unit
    still holds reaches the master exactly once, in order. What a restart wipes from the
    unit's own queue before it was reported is all that is lost. (A restart while the
    master restores the unit is the window §5.1 says no 1.x unit can tell apart; it is
    not drawn here.)"""
    poller = MicLinePoller([9], LineTiming.from_spec())
    unit = running_unit(9)
    run = 0
    expected: list[tuple[int, int, UnitEvent]] = []  # (run, seq, kind) the master must get
    delivered: list[tuple[int, int, UnitEvent]] = []
    restoring = False
    now = 0.0

    def exchange(fate: str) -> None:
        nonlocal unit, now, restoring
        now = poller.next_due(now)
        poll = poller.next_poll(now)
        assert poll is not None
        now += 0.001
        if fate == "lost-poll":
            poller.on_no_reply(now + TIMING.response_timeout_s)
            return
        unit, reply = unit.handle(poll)
        assert isinstance(reply, Status)
        if fate == "lost-reply":
            poller.on_no_reply(now + TIMING.response_timeout_s)
            return
        if not reply.boot:
            restoring = False
        for event in poller.on_reply(reply, now):
            if isinstance(event, UnitBooted):
                restoring = True
                poller.state_restored(9)  # as the driver does once SET_MIC/SET_RING landed
            if isinstance(event, UnitKeyEvent):
                delivered.append((run, event.seq, event.kind))

    for presses, fate in rounds:
        if fate == "restart" and not restoring:
            # Events the unit held that never reached the master die with its memory.
            forgotten = {(run, e.seq, e.kind) for e in unit.events} - set(delivered)
            expected = [e for e in expected if e not in forgotten]
            unit, run = replace(addressed_unit(9), seen=True), run + 1
        for kind in presses:
            if len(unit.events) < EVENT_QUEUE:
                unit = unit.press(kind)
                expected.append((run, unit.last_seq, kind))
        exchange("ok" if fate == "restart" else fate)
    for _ in range(6):  # a clean line drains what is left
        exchange("ok")
    assert unit.events == ()
    assert delivered == expected


def test_a_holding_poller_acknowledges_only_settled_events() -> None:
    """`hold_acks`: an event is acknowledged once its caller made it durable, never before;
    a settle that names an earlier run of the unit acknowledges nothing of the new one."""
    poller = MicLinePoller([4], hold_acks=True)
    unit = running_unit(4).press(UnitEvent.REQUEST_PRESSED).press(UnitEvent.TALK_PRESSED)
    now = 0.0

    def exchange() -> tuple[Poll, list[LineEvent]]:
        nonlocal unit, now
        now += TIMING.poll_cycle_min_s
        poll = poller.next_poll(now)
        assert poll is not None
        unit, reply = unit.handle(poll)
        assert isinstance(reply, Status)
        return poll, poller.on_reply(reply, now)

    _, events = exchange()
    keys = [e for e in events if isinstance(e, UnitKeyEvent)]
    assert [e.seq for e in keys] == [1, 2]
    poll, _ = exchange()
    assert poll.ack_seq == 0  # delivered, not settled: the unit keeps both
    assert len(unit.events) == 2
    poller.settle(4, keys[0].run, keys[0].seq)
    poll, events = exchange()
    assert poll.ack_seq == 1
    assert [e.seq for e in unit.events] == [2]
    assert not [e for e in events if isinstance(e, UnitKeyEvent)]  # nothing delivered twice
    poller.settle(4, keys[1].run, keys[1].seq)
    poll, _ = exchange()
    assert poll.ack_seq == 2
    assert not unit.events
    # The unit restarts with a press: a late settle of the old run's event 1 must not
    # acknowledge the new run's event 1.
    unit = addressed_unit(4).press(UnitEvent.REQUEST_PRESSED)
    _, events = exchange()
    (new,) = [e for e in events if isinstance(e, UnitKeyEvent)]
    assert new.run == keys[0].run + 1
    poller.settle(4, keys[0].run, 1)
    poll, _ = exchange()
    assert poll.ack_seq == 0
    assert len(unit.events) == 1
