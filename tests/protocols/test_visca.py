"""Tests of the VISCA codec: raw messages, the stream decoder, VISCA-over-IP datagrams.

Every stream test runs four ways: whole, split in two, byte by byte, and after leading
garbage. `fuzz_target` is the entry point for the million-input fuzz runner (tests/fuzz.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.protocols.visca import (
    MAX_PRESET,
    MAX_SEQUENCE,
    MAX_SPEED_PAN,
    MAX_SPEED_TILT,
    AbsolutePosition,
    Ack,
    Command,
    CommandMessage,
    Completion,
    ControlAck,
    ControlError,
    ControlErrorCode,
    ErrorCode,
    Garbage,
    GarbageReason,
    Home,
    IpCommand,
    IpMessage,
    IpReply,
    PanDirection,
    PanTiltDrive,
    PayloadType,
    Position,
    PositionInquiry,
    Power,
    PowerState,
    PresetRecall,
    PresetSet,
    Refusal,
    Reply,
    StreamEvent,
    StreamRole,
    TiltDirection,
    ViscaIpClient,
    ViscaRemoteError,
    ViscaStreamDecoder,
    ViscaUsageError,
    ZoomStop,
    control_reply,
    encode_command,
    encode_reply,
    parse_command,
    parse_controller_datagram,
    parse_datagram,
    parse_reply,
    reply_datagram,
)

# --- Sony's worked bytes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (PresetRecall(5), "8101043f0205ff"),
        (PresetSet(12), "8101043f010cff"),
        (Home(), "81010604ff"),
        (Power(PowerState.ON), "8101040002ff"),
        (Power(PowerState.OFF), "8101040003ff"),
        (PanTiltDrive(PanDirection.STOP, TiltDirection.STOP), "8101060101010303ff"),
        (PanTiltDrive(PanDirection.LEFT, TiltDirection.UP, 8, 6), "8101060108060101ff"),
        (ZoomStop(), "8101040700ff"),
        (AbsolutePosition(-1, 0x1234, 0x18, 0x14), "8101060218140f0f0f0f01020304ff"),
        (PositionInquiry(), "81090612ff"),
    ],
)
def test_commands_are_sonys_bytes(command: Command, wire: str) -> None:
    assert encode_command(command).hex() == wire
    assert parse_command(bytes.fromhex(wire)) == (1, command)


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (Ack(1, 1), "9041ff"),
        (Completion(1, 2), "9052ff"),
        (Refusal(1, 1, ErrorCode.NOT_EXECUTABLE), "906141ff"),
        (Refusal(1, 0, ErrorCode.SYNTAX), "906002ff"),
        (Ack(2, 1), "a041ff"),
    ],
)
def test_replies_are_sonys_bytes(reply: Reply, wire: str) -> None:
    assert encode_reply(reply).hex() == wire
    assert parse_reply(bytes.fromhex(wire)) == reply


def test_position_reply() -> None:
    wire = encode_reply(Position(1, -2, 300))
    assert wire.hex() == "90500f0f0f0e0001020cff"
    assert parse_reply(wire, position=True) == Position(1, -2, 300)
    assert parse_reply(wire) == Completion(1, 0, bytes.fromhex("0f0f0f0e0001020c"))


def test_visca_over_ip_header() -> None:
    """VISCA over IP: payload type, payload length, sequence number, then the payload."""
    client = ViscaIpClient()
    assert client.reset().hex() == "020000010000000001"
    sequence, datagram = client.command(PresetRecall(3))
    assert sequence == 0
    assert datagram.hex() == "01000007000000008101043f0203ff"
    assert client.command(Home())[0] == 1
    sequence, datagram = client.command(PositionInquiry())
    assert datagram[:2] == b"\x01\x10"
    assert sequence == 2
    assert client.receive_datagram(bytes.fromhex("01110003000000029041ff")) == IpReply(2, Ack(1, 1))
    assert client.receive_datagram(control_reply(0).encode()) == ControlAck(0)
    assert client.receive_datagram(
        control_reply(9, ControlErrorCode.SEQUENCE).encode()
    ) == ControlError(9, ControlErrorCode.SEQUENCE)
    client.reset()
    assert client.next_sequence == 0


def test_sequence_wraps() -> None:
    client = ViscaIpClient()
    client.next_sequence = MAX_SEQUENCE
    assert client.command(Home())[0] == MAX_SEQUENCE
    assert client.next_sequence == 0


@pytest.mark.parametrize(
    "bad",
    [
        lambda: encode_command(PresetRecall(MAX_PRESET + 1)),
        lambda: encode_command(PresetRecall(-1)),
        lambda: encode_command(Home(), camera=0),
        lambda: encode_command(Home(), camera=9),
        lambda: encode_command(PanTiltDrive(PanDirection.LEFT, TiltDirection.UP, 0, 1)),
        lambda: encode_command(AbsolutePosition(0x8000, 0)),
        lambda: encode_reply(Ack(8, 1)),
        lambda: encode_reply(Completion(1, 1, b"\xff")),
        lambda: IpMessage(PayloadType.VISCA_COMMAND, 0, b"").encode(),
        lambda: IpMessage(PayloadType.VISCA_COMMAND, -1, b"\x01").encode(),
    ],
)
def test_misuse_is_a_usage_error(bad: Callable[[], object]) -> None:
    with pytest.raises(ViscaUsageError):
        bad()


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "81ff",
        "8101043f0205",  # no terminator
        "0101043f0205ff",  # no header
        "8101043f02ffff",
        "8101043f0280ff",  # preset 128
        "8101043f0305ff",  # memory op 3
        "9101043f0205ff",  # from a camera
        "8001043f0205ff",  # address 0
        "81" + "00" * 15 + "ff",  # 17 bytes
    ],
)
def test_peer_garbage_is_a_remote_error(wire: str) -> None:
    with pytest.raises(ViscaRemoteError):
        parse_command(bytes.fromhex(wire))


@pytest.mark.parametrize(
    "data",
    ["", "0100", "0100000700000000", "01000008000000008101043f0203ff", "0300000100000000ff"],
)
def test_bad_datagrams(data: str) -> None:
    with pytest.raises(ViscaRemoteError):
        parse_datagram(bytes.fromhex(data))


def test_a_camera_reads_a_reset() -> None:
    assert parse_controller_datagram(ViscaIpClient().reset()) == IpCommand(0, None)
    with pytest.raises(ViscaRemoteError):
        parse_controller_datagram(reply_datagram(0, Ack(1, 1)))
    with pytest.raises(ViscaRemoteError):
        ViscaIpClient().receive_datagram(ViscaIpClient().command(Home())[1])


# --- strategies -----------------------------------------------------------------------------

presets = st.integers(0, MAX_PRESET)
pan_speeds = st.integers(1, MAX_SPEED_PAN)
tilt_speeds = st.integers(1, MAX_SPEED_TILT)
words = st.integers(-0x8000, 0x7FFF)
commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(PresetRecall, presets),
    st.builds(PresetSet, presets),
    st.just(Home()),
    st.builds(Power, st.sampled_from(PowerState)),
    st.builds(
        PanTiltDrive,
        st.sampled_from(PanDirection),
        st.sampled_from(TiltDirection),
        pan_speeds,
        tilt_speeds,
    ),
    st.just(ZoomStop()),
    st.builds(AbsolutePosition, words, words, pan_speeds, tilt_speeds),
    st.just(PositionInquiry()),
)
cameras = st.integers(1, 7)
sockets = st.integers(0, 2)
replies: st.SearchStrategy[Reply] = st.one_of(
    st.builds(Ack, cameras, sockets),
    st.builds(Completion, cameras, sockets),
    st.builds(Refusal, cameras, sockets, st.sampled_from(ErrorCode)),
)


@given(commands, st.integers(1, 8))
def test_command_round_trip(command: Command, camera: int) -> None:
    assert parse_command(encode_command(command, camera)) == (camera, command)


@given(replies)
def test_reply_round_trip(reply: Reply) -> None:
    assert parse_reply(encode_reply(reply)) == reply


@given(cameras, words, words)
def test_position_round_trip(camera: int, pan: int, tilt: int) -> None:
    assert parse_reply(encode_reply(Position(camera, pan, tilt)), position=True) == Position(
        camera, pan, tilt
    )


@given(commands, st.integers(0, MAX_SEQUENCE))
def test_datagram_round_trip(command: Command, sequence: int) -> None:
    client = ViscaIpClient()
    client.next_sequence = sequence
    sent, datagram = client.command(command)
    assert sent == sequence
    assert parse_controller_datagram(datagram) == IpCommand(sequence, command)


@given(replies, st.integers(0, MAX_SEQUENCE))
def test_reply_datagram_round_trip(reply: Reply, sequence: int) -> None:
    assert ViscaIpClient().receive_datagram(reply_datagram(sequence, reply)) == IpReply(
        sequence, reply
    )


# --- the stream four ways ------------------------------------------------------------------


def _whole(data: bytes, decoder: ViscaStreamDecoder) -> list[StreamEvent]:
    decoder.receive_data(data)
    return list(decoder.events())


def _split(data: bytes, decoder: ViscaStreamDecoder) -> list[StreamEvent]:
    decoder.receive_data(data[: len(data) // 2])
    events = list(decoder.events())
    decoder.receive_data(data[len(data) // 2 :])
    return events + list(decoder.events())


def _bytewise(data: bytes, decoder: ViscaStreamDecoder) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for i in range(len(data)):
        decoder.receive_data(data[i : i + 1])
        while (event := decoder.next_event()) is not None:
            events.append(event)
    return events


FEEDS = [_whole, _split, _bytewise]


@pytest.mark.parametrize("feed", FEEDS)
@given(st.lists(replies, max_size=8))
def test_reply_stream(
    feed: Callable[[bytes, ViscaStreamDecoder], list[StreamEvent]], sent: list[Reply]
) -> None:
    data = b"".join(encode_reply(r) for r in sent)
    assert feed(data, ViscaStreamDecoder()) == sent


@pytest.mark.parametrize("feed", FEEDS)
@given(st.lists(st.tuples(st.integers(1, 8), commands), max_size=8))
def test_command_stream(
    feed: Callable[[bytes, ViscaStreamDecoder], list[StreamEvent]],
    sent: list[tuple[int, Command]],
) -> None:
    data = b"".join(encode_command(c, a) for a, c in sent)
    got = feed(data, ViscaStreamDecoder(StreamRole.CAMERA))
    assert got == [CommandMessage(a, c) for a, c in sent]


@pytest.mark.parametrize("feed", FEEDS)
@given(st.binary(max_size=40).map(lambda b: bytes(x & 0x7F for x in b)), st.lists(replies))
def test_garbage_in_front(
    feed: Callable[[bytes, ViscaStreamDecoder], list[StreamEvent]],
    junk: bytes,
    sent: list[Reply],
) -> None:
    """Noise without a header byte (or ending in FF) is dropped, and what follows is read."""
    sent = [*sent, Ack(1, 1)]  # noise is reported once the next header shows where it ends
    data = junk + b"\xff" + b"".join(encode_reply(r) for r in sent)
    events = feed(data, ViscaStreamDecoder())
    garbage = [e for e in events if isinstance(e, Garbage)]
    assert all(g.reason is GarbageReason.NO_HEADER for g in garbage)
    assert b"".join(g.data for g in garbage) == junk + b"\xff"
    assert [e for e in events if not isinstance(e, Garbage)] == sent


def test_resync_after_a_long_run_and_a_bad_message() -> None:
    decoder = ViscaStreamDecoder()
    decoder.receive_data(b"\x90" + b"\x01" * 20 + b"\x90\x41\xff" + b"\x90\x77\xff\x90\x51\xff")
    events = list(decoder.events())
    assert events[0] == Garbage(GarbageReason.TOO_LONG, b"\x90" + b"\x01" * 15)
    assert Ack(1, 1) in events
    assert Completion(1, 1) in events
    assert Garbage(GarbageReason.NOT_VISCA, b"\x90\x77\xff") in events


def fuzz_target(data: bytes) -> None:
    """One fuzz input through every decoder: the stream (both roles, in two pieces) and the
    datagram parsers. Whatever decodes must re-encode to the same bytes' meaning; anything
    else must be a typed `Garbage` event or a `ViscaRemoteError`."""
    cut = data[0] % (len(data) + 1) if data else 0
    for role in StreamRole:
        decoder = ViscaStreamDecoder(role, position=bool(cut & 1))
        decoder.receive_data(data[:cut])
        events = list(decoder.events())
        decoder.receive_data(data[cut:])
        events.extend(decoder.events())
        if len(events) > len(data):
            raise AssertionError("more events than input bytes")
        for event in events:
            if isinstance(event, Garbage):
                if not isinstance(event.reason, GarbageReason) or not event.data:
                    raise AssertionError(f"untyped garbage {event!r}")
            elif isinstance(event, CommandMessage):
                if parse_command(encode_command(event.command, event.camera)) != (
                    event.camera,
                    event.command,
                ):
                    raise AssertionError(f"{event!r} does not round-trip")
            elif isinstance(event, Ack | Completion | Refusal | Position):
                if parse_reply(encode_reply(event), position=decoder.position) != event:
                    raise AssertionError(f"{event!r} does not round-trip")
            else:
                raise AssertionError(f"unexpected event {event!r}")
    for parse in (parse_datagram, parse_controller_datagram, ViscaIpClient().receive_datagram):
        with contextlib.suppress(ViscaRemoteError):
            parse(data)


def fuzz_seeds() -> list[bytes]:
    """Valid messages and datagrams of every kind, for the fuzzer to mutate."""
    client = ViscaIpClient()
    sample: list[Command] = [
        PresetRecall(5),
        PresetSet(7),
        Home(),
        Power(PowerState.ON),
        PanTiltDrive(PanDirection.LEFT, TiltDirection.DOWN, 3, 4),
        ZoomStop(),
        AbsolutePosition(-300, 120),
        PositionInquiry(),
    ]
    found = [encode_command(c) for c in sample] + [client.command(c)[1] for c in sample]
    answers: list[Reply] = [
        Ack(1, 1),
        Completion(1, 2),
        Refusal(1, 1, ErrorCode.BUFFER_FULL),
        Position(1, 5, -5),
    ]
    found += [encode_reply(r) for r in answers] + [reply_datagram(3, r) for r in answers]
    found += [client.reset(), control_reply(0).encode()]
    found += [control_reply(1, ControlErrorCode.MESSAGE).encode()]
    return found


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_decoders_survive_random_bytes(data: bytes) -> None:
    fuzz_target(data)


@settings(max_examples=300)
@given(st.sampled_from(fuzz_seeds()), st.binary(max_size=20), st.integers(0, 40))
def test_decoders_survive_mutations(seed: bytes, junk: bytes, at: int) -> None:
    cut = min(at, len(seed))
    fuzz_target(seed[:cut] + junk + seed[cut:])
