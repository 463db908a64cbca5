"""The MQTT codec: round trips, hostile input, topics, duplicates, the ACL and a real broker.

`fuzz_target` is the entry point of the long fuzz run: any bytes, split into a topic and a
payload, must decode or raise `MqttProtocolError`, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import math
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.protocols.mqtt import (
    MESSAGE_TYPES,
    BeepCommand,
    BeepPattern,
    ChimeCommand,
    Cleared,
    ClientRole,
    ConfirmCommand,
    ControllerStatus,
    Decoded,
    DuplicateFilter,
    ErrorReason,
    IdentifyCommand,
    LedsCommand,
    LinkState,
    LockCommand,
    Message,
    MessageKind,
    MicCancelKey,
    MicCommand,
    MicMode,
    MicRequestKey,
    MqttProtocolError,
    MqttUsageError,
    PresenceKey,
    PriorityKey,
    Qos,
    RingCommand,
    RingState,
    Route,
    SeatMark,
    SeqVerdict,
    SittingState,
    Speaker,
    SpeakerList,
    TalkKey,
    Topics,
    UnitEvent,
    UnitFeatures,
    UnitStatus,
    VoiceLevel,
    VoteKey,
    VoteMode,
    VoteState,
    Waiting,
    WallAttendance,
    WallFloor,
    WallItem,
    WallResult,
    WallSeats,
    WallSitting,
    WallVote,
    render_acl,
    seat_username,
    topic_matches,
)

HALL = "hdnd-tinh"
TOPICS = Topics(HALL)

# --- strategies, within the limits the JSON Schemas set ------------------------------------

seats = st.integers(1, 99_999)
boots = st.integers(0, 2**32 - 1)
seqs = st.integers(1, 2**32 - 1)
keys = st.integers(1, 10)
counts = st.integers(0, 10_000)


def texts(max_size: int) -> st.SearchStrategy[str]:
    # Any Unicode a Python str can carry in UTF-8: Vietnamese, emoji, controls, quotes.
    return st.text(max_size=max_size)


vietnamese = st.text(
    alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợ"
    "úùủũụứừửữựýỳỷỹỵAĂÂĐÊÔƠƯ ",
    max_size=60,
)
names = st.one_of(vietnamese, texts(200))
deadlines = st.one_of(st.none(), st.floats(0, 4e9, allow_nan=False))
answers = st.lists(texts(100), min_size=2, max_size=10).map(tuple)


@st.composite
def wall_votes(draw: st.DrawFn) -> WallVote:
    labels = draw(answers)
    mode = draw(st.sampled_from(VoteMode))
    state = draw(st.sampled_from(VoteState))
    hidden = mode is VoteMode.SECRET and state in (
        VoteState.PREPARED,
        VoteState.OPEN,
        VoteState.HELD,
    )
    totals = None
    if not hidden:
        totals = draw(
            st.one_of(st.none(), st.tuples(*[counts for _ in labels])),
        )
    return WallVote(
        state=state,
        id=draw(texts(64)),
        title=draw(names),
        mode=mode,
        answers=labels,
        voted=draw(counts),
        entitled=draw(counts),
        deadline=draw(deadlines),
        remaining_s=draw(deadlines),
        warning=draw(st.booleans()),
        totals=totals,
    )


@st.composite
def wall_results(draw: st.DrawFn) -> WallResult:
    labels = draw(answers)
    return WallResult(
        vote_id=draw(texts(64)),
        title=draw(names),
        passed=draw(st.booleans()),
        answers=labels,
        totals=draw(st.tuples(*[counts for _ in labels])),
        did_not_vote=draw(counts),
        rule=draw(texts(64)),
        base=draw(counts),
        needed=draw(counts),
        explanation=draw(names),
    )


@st.composite
def wall_seats(draw: st.DrawFn) -> WallSeats:
    mode = draw(st.sampled_from(VoteMode))
    marks: st.SearchStrategy[int | SeatMark] = st.sampled_from(SeatMark)
    if mode is not VoteMode.SECRET:
        marks = st.one_of(keys, marks)
    table = draw(st.dictionaries(seats, marks, max_size=50))
    return WallSeats(vote_id=draw(texts(64)), mode=mode, seats=tuple(sorted(table.items())))


lists = st.sampled_from(SpeakerList)
speakers = st.builds(
    Speaker,
    seat=seats,
    name=names,
    list=lists,
    deadline=deadlines,
    remaining_s=deadlines,
    overtime=st.booleans(),
)
waiting = st.builds(Waiting, seat=seats, name=names, list=lists)


@st.composite
def rings(draw: st.DrawFn) -> RingCommand:
    state = draw(st.sampled_from(RingState))
    position = draw(st.integers(1, 250)) if state is RingState.QUEUED else 0
    return RingCommand(seat=draw(seats), state=state, position=position)


@st.composite
def unit_statuses(draw: st.DrawFn) -> UnitStatus:
    seat = draw(seats)
    if draw(st.booleans()):
        return UnitStatus(seat=seat, state=LinkState.OFFLINE)
    firmware = draw(st.one_of(st.none(), texts(64)))
    return UnitStatus(seat, LinkState.ONLINE, boot=draw(boots), firmware=firmware)


STRATEGIES: dict[MessageKind, st.SearchStrategy[Message]] = {
    MessageKind.UNIT_STATUS: unit_statuses(),
    MessageKind.PRESENCE_KEY: st.builds(
        PresenceKey,
        seat=seats,
        boot=boots,
        seq=seqs,
        present=st.booleans(),
        card=st.one_of(st.none(), texts(64)),
    ),
    MessageKind.VOTE_KEY: st.builds(VoteKey, seat=seats, boot=boots, seq=seqs, key=keys),
    MessageKind.MIC_REQUEST: st.builds(MicRequestKey, seat=seats, boot=boots, seq=seqs, list=lists),
    MessageKind.MIC_CANCEL: st.builds(MicCancelKey, seat=seats, boot=boots, seq=seqs),
    MessageKind.TALK_KEY: st.builds(TalkKey, seat=seats, boot=boots, seq=seqs, held=st.booleans()),
    MessageKind.PRIORITY_KEY: st.builds(
        PriorityKey, seat=seats, boot=boots, seq=seqs, held=st.booleans()
    ),
    MessageKind.VOICE_LEVEL: st.builds(
        VoiceLevel, seat=seats, level_db=st.floats(-120, 0, allow_nan=False)
    ),
    MessageKind.CMD_LEDS: st.builds(
        LedsCommand,
        seat=seats,
        lit=st.lists(keys, unique=True, max_size=10).map(tuple),
        present=st.one_of(st.none(), st.booleans()),
    ),
    MessageKind.CMD_LOCK: st.builds(
        LockCommand, seat=seats, locked=st.booleans(), keys=st.integers(0, 10)
    ),
    MessageKind.CMD_BEEP: st.builds(BeepCommand, seat=seats, pattern=st.sampled_from(BeepPattern)),
    MessageKind.CMD_MIC: st.builds(MicCommand, seat=seats, on=st.booleans()),
    MessageKind.CMD_RING: rings(),
    MessageKind.CMD_CHIME: st.builds(ChimeCommand, seat=seats),
    MessageKind.UNIT_FEATURES: st.builds(
        UnitFeatures,
        seat=seats,
        boot=boots,
        features=st.lists(st.from_regex(r"\A[a-z][a-z0-9-]{0,31}\Z"), max_size=32, unique=True).map(
            tuple
        ),
    ),
    MessageKind.CMD_IDENTIFY: st.builds(IdentifyCommand, seat=seats, seconds=st.integers(0, 255)),
    MessageKind.CMD_CONFIRM: st.builds(ConfirmCommand, seat=seats, boot=boots, seq=seqs),
    MessageKind.WALL_SITTING: st.builds(
        WallSitting, state=st.sampled_from(SittingState), id=texts(64), title=names
    ),
    MessageKind.WALL_ITEM: st.builds(
        WallItem,
        id=texts(64),
        title=names,
        number=st.integers(1, 500),
        count=st.integers(1, 500),
    ),
    MessageKind.WALL_ATTENDANCE: st.builds(
        WallAttendance,
        registration_open=st.booleans(),
        present=counts,
        members=counts,
        needed=counts,
        quorum=st.booleans(),
    ),
    MessageKind.WALL_VOTE: wall_votes(),
    MessageKind.WALL_RESULT: wall_results(),
    MessageKind.WALL_SEATS: wall_seats(),
    MessageKind.WALL_FLOOR: st.builds(
        WallFloor,
        mode=st.sampled_from(MicMode),
        speakers=st.lists(speakers, max_size=5).map(tuple),
        waiting=st.lists(waiting, max_size=10).map(tuple),
    ),
    MessageKind.CONTROLLER_STATUS: st.builds(
        ControllerStatus,
        state=st.sampled_from(LinkState),
        version=st.one_of(st.none(), texts(64)),
    ),
}

any_message = st.one_of(*STRATEGIES.values())


def test_every_channel_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(MessageKind) == set(MESSAGE_TYPES)


# --- round trips ----------------------------------------------------------------------------


@given(any_message)
def test_every_message_round_trips(message: Message) -> None:
    publication = TOPICS.publication(message)
    channel = TOPICS.channel(message.kind)
    assert (publication.qos, publication.retain) == (channel.qos, channel.retain)
    assert TOPICS.decode(publication.topic, publication.payload) == message


@given(names)
def test_names_are_sent_as_written(name: str) -> None:
    floor = WallFloor(MicMode.REQUEST, (), (Waiting(7, name, SpeakerList.SPEAK),))
    payload = floor.encode()
    # Literal UTF-8, not \\u escapes: only what JSON must escape is escaped.
    if not any(c in '"\\' or c < " " for c in name):
        assert name.encode("utf-8") in payload
    decoded = TOPICS.decode(TOPICS.topic(MessageKind.WALL_FLOOR), payload)
    assert isinstance(decoded, WallFloor)
    assert decoded.waiting[0].name == name


def test_vietnamese_is_literal_utf8_and_not_normalised() -> None:
    composed = "Nguyễn"  # U+1EC5, one code point
    decomposed = "Nguye\u0302\u0303n"  # the same letter as base + two combining marks
    for name in (composed, decomposed):
        payload = WallSitting(SittingState.OPEN, "kh", name).encode()
        assert name.encode("utf-8") in payload
        decoded = TOPICS.decode(TOPICS.topic(MessageKind.WALL_SITTING), payload)
        assert isinstance(decoded, WallSitting)
        assert decoded.title == name


def test_encoding_is_compact_json() -> None:
    assert VoteKey(seat=42, boot=7, seq=2, key=1).encode() == b'{"boot":7,"seq":2,"key":1}'
    assert ChimeCommand(seat=1).encode() == b"{}"
    assert UnitStatus(42, LinkState.OFFLINE).encode() == b'{"state":"offline"}'


@given(any_message)
def test_retained_channels_can_be_cleared(message: Message) -> None:
    seat = getattr(message, "seat", None)
    topic = TOPICS.topic(message.kind, seat)
    if TOPICS.channel(message.kind).retain:
        assert TOPICS.decode(topic, b"") == Cleared(message.kind, seat)
        publication = TOPICS.publication(Cleared(message.kind, seat))
        assert (publication.payload, publication.retain) == (b"", True)
    else:
        with pytest.raises(MqttProtocolError) as err:
            TOPICS.decode(topic, b"")
        assert err.value.reason is ErrorReason.EMPTY
        with pytest.raises(MqttUsageError):
            TOPICS.publication(Cleared(message.kind, seat))


# --- hostile input --------------------------------------------------------------------------


def fuzz_target(data: bytes) -> None:
    """Decode any bytes as `topic NUL payload`; only `MqttProtocolError` may come out."""
    raw_topic, _, payload = data.partition(b"\x00")
    topic = raw_topic.decode("utf-8", "replace")
    # An empty topic part, or one starting with 0x01, picks a real channel, so that fuzzed
    # payloads reach the JSON and schema checks and not only the topic parser.
    if raw_topic[:1] in (b"", b"\x01"):
        kinds = list(MessageKind)
        kind = kinds[len(raw_topic) % len(kinds)]
        topic = TOPICS.topic(kind, 42 if TOPICS.channel(kind).per_seat else None)
    with contextlib.suppress(MqttProtocolError):
        TOPICS.decode(topic, payload)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    fuzz_target(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.sampled_from(MessageKind), json_values)
def test_random_json_is_decoded_or_refused_with_a_reason(kind: MessageKind, value: Any) -> None:
    topic = TOPICS.topic(kind, 9 if TOPICS.channel(kind).per_seat else None)
    payload = json.dumps(value, ensure_ascii=False).encode()
    message: Decoded | None = None
    reason: ErrorReason | None = None
    try:
        message = TOPICS.decode(topic, payload)
    except MqttProtocolError as exc:
        reason = exc.reason
    if message is None:
        assert reason in (ErrorReason.SCHEMA, ErrorReason.INCONSISTENT)
    else:
        assert not isinstance(message, Cleared)
        assert message.kind is kind


@given(
    st.one_of(
        st.text(max_size=80),
        st.lists(
            st.sampled_from(
                [
                    "chamber",
                    HALL,
                    "seat",
                    "1",
                    "unit",
                    "cmd",
                    "wall",
                    "vote",
                    "+",
                    "#",
                    "",
                    "01",
                    "status",
                ]
            ),
            max_size=7,
        ).map("/".join),
    )
)
def test_random_topics_raise_only_protocol_errors(topic: str) -> None:
    route: Route | None = None
    try:
        route = TOPICS.parse(topic)
    except MqttProtocolError as exc:
        carried = exc.topic
    if route is None:
        # The error names the topic (cut short when it is huge).
        assert topic.startswith(carried)
    else:
        assert TOPICS.topic(route.kind, route.seat) == topic


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe{}", ErrorReason.NOT_UTF8),
        ('{"boot":1,"seq":1,"key":1}'.encode("utf-16"), ErrorReason.NOT_UTF8),
        (b"\xef\xbb\xbf" + b'{"boot":1,"seq":1,"key":1}', ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":1', ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":NaN}', ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":1e999}', ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":' + b"9" * 5000 + b"}", ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":1,"key":2}', ErrorReason.BAD_JSON),
        (b"[" * 50_000, ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":11}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":0,"key":1}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":true}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":1.5}', ErrorReason.SCHEMA),
        # JSON Schema counts these as integers; the contract's integers do not.
        (b'{"boot":1,"seq":1,"key":2.0}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":1e0}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":2E0}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1.0,"key":1}', ErrorReason.SCHEMA),
        (b'{"boot":7e0,"seq":1,"key":1}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":"2"}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":null}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":{"key":2}}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":[2]}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":18446744073709551617}', ErrorReason.SCHEMA),
        (b'{"boot":1,"seq":1,"key":-Infinity}', ErrorReason.BAD_JSON),
        (b'{"boot":1,"seq":1,"key":1,"extra":0}', ErrorReason.SCHEMA),
        (b'{"boot":1,"key":1}', ErrorReason.SCHEMA),
        (b"[1]", ErrorReason.SCHEMA),
        (b"", ErrorReason.EMPTY),
        (b" " * 300_000, ErrorReason.TOO_LARGE),
    ],
)
def test_bad_payloads_are_refused_with_their_reason(payload: bytes, reason: ErrorReason) -> None:
    with pytest.raises(MqttProtocolError) as err:
        TOPICS.decode(TOPICS.topic(MessageKind.VOTE_KEY, 5), payload)
    assert err.value.reason is reason
    assert err.value.topic == f"chamber/{HALL}/seat/5/unit/vote"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (MessageKind.PRESENCE_KEY, b'{"boot":1,"seq":1,"present":1}'),
        (MessageKind.PRESENCE_KEY, b'{"boot":1,"seq":2.0,"present":true}'),
        (MessageKind.TALK_KEY, b'{"boot":1,"seq":1,"held":"true"}'),
        (MessageKind.UNIT_STATUS, b'{"state":"online","boot":3.0}'),
        (MessageKind.CMD_LEDS, b'{"lit":[1.0],"present":true}'),
        (MessageKind.CMD_RING, b'{"state":"queued","position":2.0}'),
        (MessageKind.WALL_SEATS, b'{"vote_id":"v1","mode":"open","seats":{"3":2.0}}'),
        (MessageKind.WALL_SEATS, b'{"vote_id":"v1","mode":"open","seats":{"3":true}}'),
    ],
)
def test_every_integer_and_flag_is_strictly_typed(kind: MessageKind, payload: bytes) -> None:
    channel = TOPICS.channel(kind)
    topic = TOPICS.topic(kind, 3 if channel.per_seat else None)
    with pytest.raises(MqttProtocolError) as err:
        TOPICS.decode(topic, payload)
    assert err.value.reason is ErrorReason.SCHEMA


@given(any_message)
def test_decoded_fields_have_exactly_their_declared_types(message: Message) -> None:
    decoded = TOPICS.decode(TOPICS.publication(message).topic, message.encode())
    for value in _leaves(decoded):
        assert type(value) in (int, float, str, bool, type(None)) or isinstance(value, enum.Enum)
    assert decoded == message


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [leaf for f in dataclasses.fields(value) for leaf in _leaves(getattr(value, f.name))]
    return [value]


def test_encode_refuses_a_float_where_an_integer_goes() -> None:
    with pytest.raises(MqttUsageError, match="key"):
        VoteKey(seat=3, boot=1, seq=1, key=2.0).encode()  # type: ignore[arg-type]
    with pytest.raises(MqttUsageError, match="position"):
        RingCommand(seat=3, state=RingState.QUEUED, position=True).encode()


def test_a_huge_array_of_bad_items_is_refused_quickly() -> None:
    payload = json.dumps({"lit": ["x"] * 20_000, "present": None}).encode()
    with pytest.raises(MqttProtocolError) as err:
        TOPICS.decode(TOPICS.topic(MessageKind.CMD_LEDS, 5), payload)
    assert err.value.reason is ErrorReason.SCHEMA


def test_hidden_totals_are_enforced_both_ways() -> None:
    vote = WallVote(
        VoteState.OPEN, "b", "t", VoteMode.SECRET, ("Có", "Không"), 3, 5, None, None, False, (2, 1)
    )
    with pytest.raises(MqttUsageError, match="totals"):
        vote.encode()
    payload = json.dumps(vote.to_payload()).encode()
    with pytest.raises(MqttProtocolError) as err:
        TOPICS.decode(TOPICS.topic(MessageKind.WALL_VOTE), payload)
    assert err.value.reason is ErrorReason.SCHEMA
    closed = WallVote(
        VoteState.CLOSED,
        "b",
        "t",
        VoteMode.SECRET,
        ("Có", "Không"),
        3,
        5,
        None,
        None,
        False,
        (2, 1),
    )
    assert TOPICS.decode(TOPICS.topic(MessageKind.WALL_VOTE), closed.encode()) == closed


def test_secret_seat_maps_show_no_keys() -> None:
    seat_map = WallSeats("b", VoteMode.SECRET, ((1, 1),))
    with pytest.raises(MqttUsageError):
        seat_map.encode()
    allowed = WallSeats("b", VoteMode.SECRET, ((1, SeatMark.VOTED), (2, SeatMark.ABSENT)))
    assert TOPICS.decode(TOPICS.topic(MessageKind.WALL_SEATS), allowed.encode()) == allowed


def test_totals_must_match_answers() -> None:
    vote = WallVote(
        VoteState.OPEN, "b", "t", VoteMode.OPEN, ("Có", "Không"), 3, 5, None, None, False, (1,)
    )
    with pytest.raises(MqttUsageError, match="1 totals for 2 answers"):
        vote.encode()
    payload = json.dumps(vote.to_payload()).encode()
    with pytest.raises(MqttProtocolError) as err:
        TOPICS.decode(TOPICS.topic(MessageKind.WALL_VOTE), payload)
    assert err.value.reason is ErrorReason.INCONSISTENT


def test_encode_refuses_what_the_contract_forbids() -> None:
    for message in (
        VoteKey(seat=1, boot=0, seq=0, key=1),
        LockCommand(seat=1, locked=False, keys=11),
        RingCommand(seat=1, state=RingState.QUEUED, position=0),
        RingCommand(seat=1, state=RingState.LIVE, position=2),
        UnitStatus(seat=1, state=LinkState.ONLINE),
        UnitStatus(seat=1, state=LinkState.OFFLINE, boot=3),
        WallSeats("b", VoteMode.OPEN, ((1, 1), (1, 2))),
        WallFloor(MicMode.OPEN, (Speaker(1, "A", SpeakerList.SPEAK, math.inf, None, False),), ()),
        WallSitting(SittingState.OPEN, "kh", "lone \udc80 surrogate"),
    ):
        with pytest.raises(MqttUsageError):
            message.encode()


# --- topics ---------------------------------------------------------------------------------


@given(st.sampled_from(MessageKind), seats)
def test_topics_build_and_parse_back(kind: MessageKind, seat: int) -> None:
    per_seat = TOPICS.channel(kind).per_seat
    topic = TOPICS.topic(kind, seat if per_seat else None)
    assert topic.startswith(f"chamber/{HALL}/")
    assert TOPICS.parse(topic) == Route(kind, seat if per_seat else None)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("chamber/other-hall/seat/1/unit/vote", ErrorReason.FOREIGN_HALL),
        (f"chamber/{HALL}/seat/01/unit/vote", ErrorReason.BAD_TOPIC),
        (f"chamber/{HALL}/seat/0/unit/vote", ErrorReason.BAD_TOPIC),
        (f"chamber/{HALL}/seat/+/unit/vote", ErrorReason.BAD_TOPIC),
        (f"chamber/{HALL}/seat/100000/unit/vote", ErrorReason.BAD_TOPIC),
        (f"chamber/{HALL}/seat/1/unit/vote/", ErrorReason.UNKNOWN_TOPIC),
        (f"chamber/{HALL}/seat/1/unit/volume", ErrorReason.UNKNOWN_TOPIC),
        (f"chamber/{HALL}/wall", ErrorReason.UNKNOWN_TOPIC),
        (f"/chamber/{HALL}/wall/vote", ErrorReason.UNKNOWN_TOPIC),
        ("", ErrorReason.BAD_TOPIC),
        ("x" * 2000, ErrorReason.BAD_TOPIC),
    ],
)
def test_bad_topics_are_refused(topic: str, reason: ErrorReason) -> None:
    with pytest.raises(MqttProtocolError) as err:
        TOPICS.parse(topic)
    assert err.value.reason is reason


@pytest.mark.parametrize("hall", ["", "A", "a/b", "a+", "#", "-a", "a-", "x" * 33, "hội-trường"])
def test_hall_ids_that_cannot_be_topic_levels_are_refused(hall: str) -> None:
    with pytest.raises(MqttUsageError):
        Topics(hall)


def test_misused_topic_building_is_a_usage_error() -> None:
    with pytest.raises(MqttUsageError):
        TOPICS.topic(MessageKind.VOTE_KEY)
    with pytest.raises(MqttUsageError):
        TOPICS.topic(MessageKind.VOTE_KEY, 0)
    with pytest.raises(MqttUsageError):
        TOPICS.topic(MessageKind.WALL_VOTE, 3)


def test_wills_and_subscriptions() -> None:
    unit_will = TOPICS.will(42)
    assert unit_will.topic == f"chamber/{HALL}/seat/42/unit/status"
    assert TOPICS.decode(unit_will.topic, unit_will.payload) == UnitStatus(42, LinkState.OFFLINE)
    assert unit_will.retain
    controller_will = TOPICS.will()
    assert TOPICS.decode(controller_will.topic, controller_will.payload) == ControllerStatus(
        LinkState.OFFLINE
    )
    (controller,) = TOPICS.subscriptions(ClientRole.CONTROLLER)
    for kind, channel in ((k, TOPICS.channel(k)) for k in MessageKind):
        from_unit = channel.publisher is ClientRole.SEAT_UNIT
        assert (
            topic_matches(
                controller.topic_filter,
                TOPICS.topic(kind, 5) if channel.per_seat else TOPICS.topic(kind),
            )
            is from_unit
        )
    assert controller.qos is Qos.AT_LEAST_ONCE
    unit = TOPICS.subscriptions(ClientRole.SEAT_UNIT, 42)
    assert [s.topic_filter for s in unit] == [
        f"chamber/{HALL}/seat/42/cmd/#",
        f"chamber/{HALL}/controller/status",
    ]
    assert {s.qos for s in unit} == {Qos.AT_LEAST_ONCE}
    with pytest.raises(MqttUsageError):
        TOPICS.subscriptions(ClientRole.SEAT_UNIT)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/+", "a/b/c", False),
        ("a/b", "a/b", True),
        ("a/b", "a/b/c", False),
        ("+", "", True),
    ],
)
def test_topic_filters_follow_mqtt(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


# --- duplicates and replays -----------------------------------------------------------------


def press(seat: int, boot: int, seq: int) -> VoteKey:
    return VoteKey(seat=seat, boot=boot, seq=seq, key=1)


def test_duplicate_filter_verdicts() -> None:
    seen = DuplicateFilter()
    assert seen.check(press(1, 3, 1)) is SeqVerdict.NEW
    assert seen.check(press(1, 3, 2)) is SeqVerdict.NEW
    assert seen.check(press(1, 3, 2)) is SeqVerdict.DUPLICATE
    assert seen.check(press(1, 3, 1)) is SeqVerdict.REPLAY
    assert seen.check(press(1, 3, 5)) is SeqVerdict.GAP
    assert seen.check(press(1, 2, 99)) is SeqVerdict.REPLAY
    assert seen.check(press(1, 4, 1)) is SeqVerdict.RESTART
    # Seats are independent.
    assert seen.check(press(2, 3, 2)) is SeqVerdict.NEW
    assert seen.marks() == {1: (4, 1), 2: (3, 2)}
    assert (seen.mark(1), seen.mark(2), seen.mark(3)) == ((4, 1), (3, 2), None)
    assert [v.accepted for v in SeqVerdict] == [True, True, True, False, False]


def test_marks_survive_a_controller_restart() -> None:
    before = DuplicateFilter()
    before.check(press(7, 1, 10))
    after = DuplicateFilter(before.marks())
    assert after.check(press(7, 1, 10)) is SeqVerdict.DUPLICATE
    assert after.check(press(7, 1, 11)) is SeqVerdict.NEW


def test_a_unit_cannot_reset_its_own_replay_protection() -> None:
    """A status with a lower boot (0 or any other) is reported, and changes nothing: the
    unit's older numbers stay refused. Only the owner's `forget` clears a seat."""
    seen = DuplicateFilter()
    seen.check(press(7, 9, 10))
    assert not seen.observe_status(UnitStatus(7, LinkState.ONLINE, boot=9))
    assert not seen.observe_status(UnitStatus(7, LinkState.OFFLINE))
    assert seen.check(press(7, 0, 1)) is SeqVerdict.REPLAY
    assert seen.observe_status(UnitStatus(7, LinkState.ONLINE, boot=0))
    assert seen.check(press(7, 0, 1)) is SeqVerdict.REPLAY
    assert seen.check(press(7, 9, 10)) is SeqVerdict.DUPLICATE
    assert seen.marks() == {7: (9, 10)}
    seen.forget(7)
    assert seen.marks() == {}


events = st.lists(
    st.tuples(st.integers(1, 3), st.integers(0, 3), st.integers(1, 6)), max_size=60
).flatmap(
    # Redeliver a random part of what was sent, in random places, as a broker may after
    # reconnects.
    lambda sent: st.permutations(sent + sent[: len(sent) // 2]) if sent else st.just([])
)


@given(events)
def test_each_press_counts_once_and_never_goes_back(presses: list[tuple[int, int, int]]) -> None:
    seen = DuplicateFilter()
    kinds: list[Callable[[int, int, int], UnitEvent]] = [
        press,
        lambda s, b, q: TalkKey(seat=s, boot=b, seq=q, held=True),
    ]
    accepted: list[tuple[int, int, int]] = []
    highest: dict[int, tuple[int, int]] = {}
    for i, (seat, boot, seq) in enumerate(presses):
        verdict = seen.check(kinds[i % 2](seat, boot, seq))
        # The model: accept exactly what is above the highest accepted mark of the seat.
        should = seat not in highest or (boot, seq) > highest[seat]
        assert verdict.accepted is should
        if should:
            highest[seat] = (boot, seq)
            accepted.append((seat, boot, seq))
    assert len(accepted) == len(set(accepted))
    assert seen.marks() == highest


# --- access control -------------------------------------------------------------------------


def test_acl_blocks() -> None:
    text = render_acl(HALL, [42, 3, 42], "chamber-controller", "wall-a")
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in text.split("\n\n")[1:]}
    assert list(blocks) == [
        "user chamber-controller",
        "user wall-a",
        "user seat-0003",
        "user seat-0042",
    ]
    assert blocks["user chamber-controller"] == [f"topic readwrite chamber/{HALL}/#"]
    assert blocks["user wall-a"] == [
        f"topic read chamber/{HALL}/wall/#",
        f"topic read chamber/{HALL}/controller/status",
    ]
    assert blocks["user seat-0042"] == [
        f"topic write chamber/{HALL}/seat/42/unit/#",
        f"topic read chamber/{HALL}/seat/42/cmd/#",
        f"topic read chamber/{HALL}/controller/status",
    ]
    assert "pattern" not in text


def test_acl_refuses_names_that_would_break_the_file() -> None:
    for bad in ("", "two words", "line\nuser evil", "tab\t", "#comment"):
        with pytest.raises(MqttUsageError):
            render_acl(HALL, [1], bad, "wall")
        with pytest.raises(MqttUsageError):
            render_acl(HALL, [1], "controller", bad)
    with pytest.raises(MqttUsageError):
        render_acl(HALL, [1], "same", "same")
    with pytest.raises(MqttUsageError):
        render_acl(HALL, [1], "seat-0001", "wall")
    with pytest.raises(MqttUsageError):
        render_acl(HALL, [0], "controller", "wall")
    with pytest.raises(MqttUsageError):
        render_acl("bad/hall", [1], "controller", "wall")


def test_seat_usernames() -> None:
    assert seat_username(42) == "seat-0042"
    assert seat_username(12345) == "seat-12345"
    with pytest.raises(MqttUsageError):
        seat_username(0)


# --- against a real broker ------------------------------------------------------------------

MOSQUITTO = shutil.which("mosquitto")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
PASSWORDS = {"chamber": "c-secret", "wall": "w-secret", "seat-0001": "s1", "seat-0002": "s2"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def broker_config(tmp_path: Path) -> tuple[Path, int]:
    """A mosquitto configuration with a password file and the rendered ACL."""
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto is not installed")
    passwords = tmp_path / "passwords"
    for i, (user, secret) in enumerate(PASSWORDS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD, *create, "-b", str(passwords), user, secret],
            check=True,
            capture_output=True,
        )
    (tmp_path / "acl").write_text(render_acl(HALL, [1, 2], "chamber", "wall"), encoding="utf-8")
    port = _free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {passwords}",
        f"acl_file {tmp_path / 'acl'}",
        "persistence false",
        "log_dest stderr",
    ]
    if os.geteuid() == 0:
        # Started as root, mosquitto would drop to its own user, who cannot read tmp_path.
        lines.append("user root")
    config = tmp_path / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config, port


@pytest.fixture
async def broker(broker_config: tuple[Path, int]) -> AsyncIterator[int]:
    """A running mosquitto on a free loopback port; yields the port."""
    assert MOSQUITTO is not None
    config, port = broker_config
    process = await asyncio.create_subprocess_exec(
        MOSQUITTO,
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(10):
            while b" running" not in (line := await process.stderr.readline()):
                assert line, "mosquitto exited before it was running"
        yield port
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def _next(client: Any) -> Decoded:
    message = await anext(aiter(client.messages))
    assert isinstance(message.payload, bytes | bytearray)
    return TOPICS.decode(message.topic.value, bytes(message.payload))


async def test_a_seat_unit_can_neither_speak_for_another_seat_nor_read_its_commands(
    broker: int,
) -> None:
    import aiomqtt

    def client(user: str, **extra: Any) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1", broker, username=user, password=PASSWORDS[user], identifier=user, **extra
        )

    forged = VoteKey(seat=2, boot=1, seq=1, key=1)
    own = VoteKey(seat=1, boot=1, seq=1, key=2)
    will = TOPICS.will(1)
    async with client("chamber") as controller:
        for sub in TOPICS.subscriptions(ClientRole.CONTROLLER):
            await controller.subscribe(sub.topic_filter, qos=int(sub.qos))
        async with client(
            "seat-0001",
            will=aiomqtt.Will(will.topic, will.payload, int(will.qos), will.retain),
        ) as seat1:
            await seat1.subscribe(f"chamber/{HALL}/seat/+/cmd/#", qos=1)
            # MQTT keeps one client's messages in order: had the forged press passed the
            # ACL, the controller would receive it before the unit's own press.
            for message in (forged, own):
                publication = TOPICS.publication(message)
                await seat1.publish(
                    f"chamber/{HALL}/seat/2/unit/vote" if message is forged else publication.topic,
                    publication.payload,
                    qos=int(publication.qos),
                )
            # The same for commands: seat 2's LEDs go first, seat 1 must see only its own.
            for message_seat in (2, 1):
                publication = TOPICS.publication(LedsCommand(seat=message_seat, lit=(1,)))
                await controller.publish(
                    publication.topic, publication.payload, qos=1, retain=publication.retain
                )
            async with asyncio.timeout(5):
                assert await _next(controller) == own
                assert await _next(seat1) == LedsCommand(seat=1, lit=(1,))
        async with client("wall") as wall:
            # A wall only reads: its publish is dropped, the controller's marker arrives.
            await wall.publish(
                TOPICS.topic(MessageKind.PRESENCE_KEY, 1), press(1, 1, 9).encode(), qos=1
            )
            marker = MicCancelKey(seat=1, boot=1, seq=2)
            async with client("seat-0001") as seat1_again:
                await seat1_again.publish(
                    TOPICS.topic(MessageKind.MIC_CANCEL, 1), marker.encode(), qos=1
                )
            async with asyncio.timeout(5):
                assert await _next(controller) == marker
