"""The MQTT contract of IP seat units and display walls, as a sans-IO codec.

Bytes in, typed messages out; messages in, bytes out. What the contract states (topic
addresses, QoS and retain per channel, last wills, payload schemas, the largest payload, who
may publish and read what) is read from `firmware_specs/mqtt_asyncapi.yaml` and the JSON
Schemas it references, not restated here: the classes below only give each payload a type,
and the tests check that both sides agree.

Two kinds of error: `MqttProtocolError` when a peer sent something the contract forbids (a
foreign or malformed topic, bytes that are not UTF-8 JSON, a schema violation), and
`MqttUsageError` when the caller asked for something impossible (a bad hall id, a message that
breaks its own schema). Decoding never raises anything else.

This module never opens a socket, starts a task or reads a clock.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Self

import jsonschema
import jsonschema.exceptions
import jsonschema_rs

from chamber.firmware_specs import load_spec, spec_path

SPEC_FILE = "mqtt_asyncapi.yaml"


# --- codes ------------------------------------------------------------------------------------


class MessageKind(StrEnum):
    """One per channel; the values are the channel ids of the AsyncAPI document (`channels`)."""

    UNIT_STATUS = "unitStatus"
    PRESENCE_KEY = "presenceKey"
    VOTE_KEY = "voteKey"
    MIC_REQUEST = "micRequest"
    MIC_CANCEL = "micCancel"
    TALK_KEY = "talkKey"
    PRIORITY_KEY = "priorityKey"
    VOICE_LEVEL = "voiceLevel"
    CMD_LEDS = "cmdLeds"
    CMD_LOCK = "cmdLock"
    CMD_BEEP = "cmdBeep"
    CMD_MIC = "cmdMic"
    CMD_RING = "cmdRing"
    CMD_CHIME = "cmdChime"
    UNIT_FEATURES = "unitFeatures"
    CMD_IDENTIFY = "cmdIdentify"
    CMD_CONFIRM = "cmdConfirm"
    WALL_SITTING = "wallSitting"
    WALL_ITEM = "wallItem"
    WALL_ATTENDANCE = "wallAttendance"
    WALL_VOTE = "wallVote"
    WALL_RESULT = "wallResult"
    WALL_SEATS = "wallSeats"
    WALL_FLOOR = "wallFloor"
    CONTROLLER_STATUS = "controllerStatus"


class ClientRole(StrEnum):
    """The kinds of broker account (AsyncAPI `x-clients`)."""

    CONTROLLER = "controller"
    SEAT_UNIT = "seat-unit"
    WALL = "wall"


class Qos(IntEnum):
    """MQTT 3.1.1, section 4.3: quality of service levels."""

    AT_MOST_ONCE = 0
    AT_LEAST_ONCE = 1
    EXACTLY_ONCE = 2


class LinkState(StrEnum):
    """schemas/unit-status.json and controller-status.json, `state`."""

    ONLINE = "online"
    OFFLINE = "offline"


class SpeakerList(StrEnum):
    """schemas/mic-request.json and wall-floor.json, `list`."""

    SPEAK = "speak"
    QUESTION = "question"
    REPLY = "reply"


class BeepPattern(StrEnum):
    """schemas/cmd-beep.json, `pattern`."""

    CONFIRM = "confirm"
    REJECT = "reject"
    WARNING = "warning"


class RingState(StrEnum):
    """schemas/cmd-ring.json, `state`."""

    OFF = "off"
    LIVE = "live"
    QUEUED = "queued"
    NEXT = "next"
    PRIORITY = "priority"
    WARNING = "warning"


class SittingState(StrEnum):
    """schemas/wall-sitting.json, `state`."""

    OPEN = "open"
    CLOSED = "closed"


class VoteState(StrEnum):
    """schemas/wall-vote.json, `state`."""

    PREPARED = "prepared"
    OPEN = "open"
    HELD = "held"
    CLOSED = "closed"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class VoteMode(StrEnum):
    """schemas/wall-vote.json and wall-seats.json, `mode`."""

    OPEN = "open"
    SECRET = "secret"
    ROLL_CALL = "roll-call"


class MicMode(StrEnum):
    """schemas/wall-floor.json, `mode`."""

    OPEN = "open"
    OVERRIDE = "override"
    REQUEST = "request"
    VOICE = "voice"
    PUSH_TO_TALK = "push-to-talk"


class SeatMark(StrEnum):
    """schemas/wall-seats.json: a seat that shows no key on the seat map."""

    ABSENT = "absent"
    PRESENT = "present"  # present and has not voted yet
    VOTED = "voted"  # has voted; the choice is not shown


class ErrorReason(StrEnum):
    """Why a topic or payload was refused."""

    BAD_TOPIC = "bad-topic"
    FOREIGN_HALL = "foreign-hall"
    UNKNOWN_TOPIC = "unknown-topic"
    TOO_LARGE = "too-large"
    EMPTY = "empty"
    NOT_UTF8 = "not-utf8"
    BAD_JSON = "bad-json"
    SCHEMA = "schema"
    INCONSISTENT = "inconsistent"


# --- errors -----------------------------------------------------------------------------------


class MqttError(Exception):
    """Base of this module's errors."""


class MqttProtocolError(MqttError):
    """A peer sent a topic or payload the contract forbids; `reason` says which rule it broke."""

    def __init__(self, reason: ErrorReason, detail: str, topic: str = "") -> None:
        super().__init__(f"{reason}: {detail}" + (f" (topic {topic!r})" if topic else ""))
        self.reason = reason
        self.detail = detail
        self.topic = topic


class MqttUsageError(MqttError, ValueError):
    """The caller asked for something the contract cannot express."""


# --- the contract, read from the AsyncAPI document --------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One channel of the AsyncAPI document, with what the codec needs to serve it."""

    kind: MessageKind
    address: str
    qos: Qos
    retain: bool
    publisher: ClientRole
    subscribers: tuple[ClientRole, ...]
    schema_file: str
    schema: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)
    validator: Any = dataclasses.field(repr=False, compare=False)
    # The same schema compiled natively: about 30 times faster for the yes/no question that
    # every press asks; `validator` explains the rare no.
    fast: Any = dataclasses.field(repr=False, compare=False, default=None)
    last_will: Mapping[str, Any] | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.address.split("/"))

    @property
    def per_seat(self) -> bool:
        return "{seat}" in self.address


@dataclass(frozen=True)
class ClientGrant:
    """What one kind of account may do (AsyncAPI `x-clients`); filters keep {hall} and {seat}."""

    role: ClientRole
    username: str
    acl: tuple[tuple[str, str], ...]  # (access, topic filter): access is read, write, readwrite
    subscribe: tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    channels: Mapping[MessageKind, Channel]
    clients: Mapping[ClientRole, ClientGrant]
    hall_pattern: re.Pattern[str]
    seat_pattern: re.Pattern[str]
    max_payload: int
    document: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)


def _schema_file(message: Mapping[str, Any]) -> str:
    payload = message["payload"]
    ref = payload["schema"]["$ref"] if "schema" in payload else payload["$ref"]
    return str(ref)


def _resolve(document: Mapping[str, Any], ref: str) -> Any:
    """Follow a local JSON pointer such as `#/components/messages/voteKey`."""
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@cache
def contract() -> Contract:
    """The contract, read once from the AsyncAPI document and its JSON Schemas."""
    document = load_spec(SPEC_FILE)
    base: Path = spec_path(SPEC_FILE).parent
    operations: dict[str, Mapping[str, Any]] = {}
    for operation in document["operations"].values():
        channel_id = str(operation["channel"]["$ref"]).rsplit("/", 1)[-1]
        operations[channel_id] = operation
    channels: dict[MessageKind, Channel] = {}
    for channel_id, body in document["channels"].items():
        kind = MessageKind(channel_id)
        operation = operations[channel_id]
        (message_ref,) = body["messages"].values()
        message = _resolve(document, message_ref["$ref"])
        schema_file = _schema_file(message)
        schema = json.loads((base / schema_file).read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        binding = operation["bindings"]["mqtt"]
        channels[kind] = Channel(
            kind=kind,
            address=str(body["address"]),
            qos=Qos(binding["qos"]),
            retain=bool(binding["retain"]),
            publisher=ClientRole(operation["x-publisher"]),
            subscribers=tuple(ClientRole(r) for r in operation["x-subscribers"]),
            schema_file=schema_file,
            schema=schema,
            validator=jsonschema.Draft202012Validator(schema),
            fast=jsonschema_rs.Draft202012Validator(schema),
            last_will=body.get("x-last-will"),
        )
    clients = {
        ClientRole(role): ClientGrant(
            role=ClientRole(role),
            username=str(body["username"]),
            acl=tuple((access, str(f)) for access, filters in body["acl"].items() for f in filters),
            subscribe=tuple(str(f) for f in body["subscribe"]),
        )
        for role, body in document["x-clients"].items()
    }
    parameters = document["components"]["parameters"]
    return Contract(
        channels=channels,
        clients=clients,
        hall_pattern=re.compile(parameters["hall"]["x-pattern"]),
        seat_pattern=re.compile(parameters["seat"]["x-pattern"]),
        max_payload=int(document["x-max-payload"]),
        document=document,
    )


# --- payload conversion -----------------------------------------------------------------------

_Convert = Callable[[Any], Any]


class _WrongType(ValueError):
    """A schema-valid value of the wrong JSON type for its field (see `_strict_int`)."""


def _strict_int(value: Any) -> int:
    # JSON Schema counts 2.0 and 1e0 as integers; the contract's integers are written without
    # a fraction or an exponent, and a float key or seat must never reach the meeting core.
    if type(value) is not int:
        raise _WrongType(f"expected an integer, got {_short(value)}")
    return value


def _strict_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _WrongType(f"expected true or false, got {_short(value)}")
    return value


def _strict_str(value: Any) -> str:
    if type(value) is not str:
        raise _WrongType(f"expected text, got {_short(value)}")
    return value


def _strict_float(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise _WrongType(f"expected a number, got {_short(value)}")
    return float(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _reviver(hint: Any) -> _Convert:
    """A function that turns schema-valid JSON into the annotated Python type, refusing
    (`_WrongType`) a value whose JSON type is not the field's own."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        revive = _reviver(inner)
        return lambda v: None if v is None else revive(v)
    if origin is tuple:
        revive = _reviver(typing.get_args(hint)[0])

        def revive_tuple(v: Any) -> tuple[Any, ...]:
            if type(v) not in (list, tuple):
                raise _WrongType(f"expected a list, got {_short(v)}")
            return tuple(revive(x) for x in v)

        return revive_tuple
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        enum_type = hint

        def revive_enum(v: Any) -> Any:
            try:
                return enum_type(v)
            except ValueError:
                raise _WrongType(f"unknown value {_short(v)}") from None

        return revive_enum
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record_reviver(hint)
    if hint is float:
        return _strict_float
    if hint is bool:
        return _strict_bool
    if hint is int:
        return _strict_int
    if hint is str:
        return _strict_str
    return lambda v: v


def _record_reviver(cls: type[Any]) -> _Convert:
    fields = _fields(cls)

    def revive(data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise _WrongType(f"expected an object, got {_short(data)}")
        return cls(**_convert(fields, data))

    return revive


# Converters per payload class, built on first use: decoding must stay cheap per message.
_FIELDS: dict[type[Any], tuple[tuple[str, _Convert], ...]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[str, _Convert], ...]:
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    _FIELDS[cls] = fields = tuple(
        (f.name, _reviver(hints[f.name]))
        for f in dataclasses.fields(cls)
        # A seat message's seat is in its topic, not its payload.
        if not (f.name == "seat" and issubclass(cls, SeatMessage))
    )
    return fields


def _convert(fields: tuple[tuple[str, _Convert], ...], data: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, conv in fields:
        try:
            values[name] = conv(data.get(name))
        except _WrongType as exc:
            raise _WrongType(f"{name}: {exc}") from None
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    # json reads 1e999 as infinity, which no schema bound catches and no JSON encoder writes.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("an object names the same member twice")
    return data


def _describe(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return repr(value.value)
    if isinstance(value, tuple):
        inner = ", ".join(_describe(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return describe(value)
    return repr(value)


def describe(message: Any) -> str:
    """`VoteKey(seat=42, boot=7, seq=2, key=1)`: a message as the contract's examples write it."""
    inner = ", ".join(
        f"{f.name}={_describe(getattr(message, f.name))}" for f in dataclasses.fields(message)
    )
    return f"{type(message).__name__}({inner})"


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A payload of one channel. `encode()` gives the bytes; `Topics.decode` the reverse."""

    kind: ClassVar[MessageKind]

    def to_payload(self) -> dict[str, Any]:
        """The JSON object; optional members left None are omitted."""
        required = _required(self.kind)
        payload: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "seat":
                continue
            value = getattr(self, f.name)
            if value is None and f.name not in required:
                continue
            payload[f.name] = _plain(value)
        return payload

    @classmethod
    def from_payload(cls, seat: int | None, data: Mapping[str, Any]) -> Self:
        """Build from a schema-valid JSON object; `seat` comes from the topic."""
        values = _convert(_fields(cls), data)
        if seat is not None:
            values["seat"] = seat
        return cls(**values)

    def problem(self) -> str | None:
        """A rule the schema cannot state that this message breaks, or None."""
        return None

    # A command of a handful of states (LEDs, lock, ring, microphone, beep): its payload is
    # kept by state, since thousands of seats are sent the same few (the seat is in the topic,
    # not in the payload). Not for messages whose values vary from one to the next.
    cache_payload: ClassVar[bool] = False

    def encode(self) -> bytes:
        """The UTF-8 JSON payload; raises `MqttUsageError` if it would break the contract."""
        if not self.cache_payload:
            return self._encode()
        # By the values' repr, not the values: 2.0 == 2 and True == 1, but a float or a bool
        # where an integer goes must be refused, not sent the payload of the integer.
        key = (type(self), repr(tuple(getattr(self, n) for n in _payload_names(type(self)))))
        known = _PAYLOADS.get(key)
        if known is None:
            known = self._encode()
            if len(_PAYLOADS) < PAYLOAD_CACHE:
                _PAYLOADS[key] = known
        return known

    def _encode(self) -> bytes:
        payload = self.to_payload()
        schema_problem = _schema_problem(contract().channels[self.kind], payload)
        if schema_problem is not None:
            raise MqttUsageError(f"{self.kind}: {schema_problem}")
        try:
            # What a receiver's strict decoding would refuse (a float where an integer goes).
            type(self).from_payload(getattr(self, "seat", None), payload)
        except ValueError as exc:
            raise MqttUsageError(f"{self.kind}: {exc}") from exc
        problem = self.problem()
        if problem is not None:
            raise MqttUsageError(f"{self.kind}: {problem}")
        try:
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            return text.encode("utf-8")
        except (ValueError, UnicodeEncodeError) as exc:
            # Infinity, or a lone surrogate in a str: neither can be sent as UTF-8 JSON.
            raise MqttUsageError(f"{self.kind}: {exc}") from exc


# Payloads of `cache_payload` messages by (type, field values but the seat); bounded.
PAYLOAD_CACHE = 4096
_PAYLOADS: dict[tuple[type[Message], str], bytes] = {}


_NAMES: dict[type[Message], tuple[str, ...]] = {}


def _payload_names(cls: type[Message]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name != "seat")
    return names


@cache
def _required(kind: MessageKind) -> frozenset[str]:
    return frozenset(contract().channels[kind].schema.get("required", ()))


@dataclass(frozen=True)
class SeatMessage(Message):
    """A message on one seat's topics; the seat number is in the topic, not the payload."""

    seat: int


@dataclass(frozen=True)
class UnitEvent(SeatMessage):
    """A key press: `boot` and `seq` let `DuplicateFilter` count it once."""

    boot: int
    seq: int


# seat unit -> controller


@dataclass(frozen=True)
class UnitStatus(SeatMessage):
    kind: ClassVar[MessageKind] = MessageKind.UNIT_STATUS
    state: LinkState
    boot: int | None = None
    firmware: str | None = None


@dataclass(frozen=True)
class PresenceKey(UnitEvent):
    kind: ClassVar[MessageKind] = MessageKind.PRESENCE_KEY
    present: bool
    card: str | None = None


@dataclass(frozen=True)
class VoteKey(UnitEvent):
    kind: ClassVar[MessageKind] = MessageKind.VOTE_KEY
    key: int


@dataclass(frozen=True)
class MicRequestKey(UnitEvent):
    kind: ClassVar[MessageKind] = MessageKind.MIC_REQUEST
    list: SpeakerList


@dataclass(frozen=True)
class MicCancelKey(UnitEvent):
    kind: ClassVar[MessageKind] = MessageKind.MIC_CANCEL


@dataclass(frozen=True)
class TalkKey(UnitEvent):
    kind: ClassVar[MessageKind] = MessageKind.TALK_KEY
    held: bool


@dataclass(frozen=True)
class PriorityKey(UnitEvent):
    kind: ClassVar[MessageKind] = MessageKind.PRIORITY_KEY
    held: bool


@dataclass(frozen=True)
class UnitFeatures(SeatMessage):
    """The optional commands a unit takes (since contract 1.3), by name; a name this codec
    does not know is kept as it came, for the driver to ignore."""

    kind: ClassVar[MessageKind] = MessageKind.UNIT_FEATURES
    # The start they belong to (the unit's status `boot`): retained, they outlive it.
    boot: int
    features: tuple[str, ...]


# The feature a unit names to take `IdentifyCommand`, and the contract version that added
# both `unit/features` and `cmd/identify`.
IDENTIFY_FEATURE = "identify"
IDENTIFY_SINCE = (1, 3)


def contract_version() -> tuple[int, int]:
    """MAJOR.MINOR of the contract (`info.version` of the AsyncAPI document, whose third
    number counts only corrections of the text)."""
    major, minor, *_ = str(contract().document["info"]["version"]).split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class VoiceLevel(SeatMessage):
    kind: ClassVar[MessageKind] = MessageKind.VOICE_LEVEL
    level_db: float


# controller -> seat unit


@dataclass(frozen=True)
class LedsCommand(SeatMessage):
    cache_payload: ClassVar[bool] = True
    kind: ClassVar[MessageKind] = MessageKind.CMD_LEDS
    lit: tuple[int, ...] = ()
    present: bool | None = None


@dataclass(frozen=True)
class LockCommand(SeatMessage):
    cache_payload: ClassVar[bool] = True
    kind: ClassVar[MessageKind] = MessageKind.CMD_LOCK
    locked: bool = True
    keys: int = 0


@dataclass(frozen=True)
class BeepCommand(SeatMessage):
    cache_payload: ClassVar[bool] = True
    kind: ClassVar[MessageKind] = MessageKind.CMD_BEEP
    pattern: BeepPattern = BeepPattern.CONFIRM


@dataclass(frozen=True)
class MicCommand(SeatMessage):
    cache_payload: ClassVar[bool] = True
    kind: ClassVar[MessageKind] = MessageKind.CMD_MIC
    on: bool = False


@dataclass(frozen=True)
class RingCommand(SeatMessage):
    cache_payload: ClassVar[bool] = True
    kind: ClassVar[MessageKind] = MessageKind.CMD_RING
    state: RingState = RingState.OFF
    position: int = 0


@dataclass(frozen=True)
class ChimeCommand(SeatMessage):
    kind: ClassVar[MessageKind] = MessageKind.CMD_CHIME


@dataclass(frozen=True)
class IdentifyCommand(SeatMessage):
    """Blink the unit's LEDs for `seconds` (0 stops), since contract 1.3; only to a unit whose
    `UnitFeatures` names it."""

    kind: ClassVar[MessageKind] = MessageKind.CMD_IDENTIFY
    seconds: int


@dataclass(frozen=True)
class ConfirmCommand(SeatMessage):
    """Every press of the seat up to (boot, seq), boot first, is durable or refused."""

    kind: ClassVar[MessageKind] = MessageKind.CMD_CONFIRM
    boot: int
    seq: int


# controller -> wall


@dataclass(frozen=True)
class WallSitting(Message):
    kind: ClassVar[MessageKind] = MessageKind.WALL_SITTING
    state: SittingState
    id: str
    title: str


@dataclass(frozen=True)
class WallItem(Message):
    kind: ClassVar[MessageKind] = MessageKind.WALL_ITEM
    id: str
    title: str
    number: int
    count: int


@dataclass(frozen=True)
class WallAttendance(Message):
    kind: ClassVar[MessageKind] = MessageKind.WALL_ATTENDANCE
    registration_open: bool
    present: int
    members: int
    needed: int
    quorum: bool


@dataclass(frozen=True)
class WallVote(Message):
    """`answers` and `totals` are in key order; `totals` is None while hidden."""

    kind: ClassVar[MessageKind] = MessageKind.WALL_VOTE
    state: VoteState
    id: str
    title: str
    mode: VoteMode
    answers: tuple[str, ...]
    voted: int
    entitled: int
    deadline: float | None
    remaining_s: float | None
    warning: bool
    totals: tuple[int, ...] | None

    def problem(self) -> str | None:
        if self.totals is not None and len(self.totals) != len(self.answers):
            return f"{len(self.totals)} totals for {len(self.answers)} answers"
        return None


@dataclass(frozen=True)
class WallResult(Message):
    kind: ClassVar[MessageKind] = MessageKind.WALL_RESULT
    vote_id: str
    title: str
    passed: bool
    answers: tuple[str, ...]
    totals: tuple[int, ...]
    did_not_vote: int
    rule: str
    base: int
    needed: int
    explanation: str
    # Since 1.4: each answer's count and share of the total delegates as the hall reads it out
    # ("30 đại biểu (60,00 % tổng số)", rounded down), those present and the total delegates.
    shares: tuple[str, ...] | None = None
    present: int | None = None
    members: int | None = None

    def problem(self) -> str | None:
        if len(self.totals) != len(self.answers):
            return f"{len(self.totals)} totals for {len(self.answers)} answers"
        if self.shares is not None and len(self.shares) != len(self.answers):
            return f"{len(self.shares)} shares for {len(self.answers)} answers"
        return None


@dataclass(frozen=True)
class WallSeats(Message):
    """`seats` pairs a seat number with the key it pressed or a `SeatMark`, by seat number."""

    kind: ClassVar[MessageKind] = MessageKind.WALL_SEATS
    vote_id: str
    mode: VoteMode
    seats: tuple[tuple[int, int | SeatMark], ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "vote_id": self.vote_id,
            "mode": self.mode.value,
            "seats": {str(seat): _plain(mark) for seat, mark in self.seats},
        }

    @classmethod
    def from_payload(cls, seat: int | None, data: Mapping[str, Any]) -> Self:
        marks = sorted(
            (int(number), _strict_int(mark) if type(mark) is not str else SeatMark(mark))
            for number, mark in data["seats"].items()
        )
        return cls(
            vote_id=_strict_str(data["vote_id"]), mode=VoteMode(data["mode"]), seats=tuple(marks)
        )

    def problem(self) -> str | None:
        numbers = [seat for seat, _ in self.seats]
        if len(set(numbers)) != len(numbers):
            return "a seat appears twice"
        return None


@dataclass(frozen=True)
class Speaker:
    seat: int
    name: str
    list: SpeakerList
    deadline: float | None
    remaining_s: float | None
    overtime: bool


@dataclass(frozen=True)
class Waiting:
    seat: int
    name: str
    list: SpeakerList


@dataclass(frozen=True)
class WallFloor(Message):
    """`waiting` is in speaking order: the first one speaks next."""

    kind: ClassVar[MessageKind] = MessageKind.WALL_FLOOR
    mode: MicMode
    speakers: tuple[Speaker, ...]
    waiting: tuple[Waiting, ...]


@dataclass(frozen=True)
class ControllerStatus(Message):
    kind: ClassVar[MessageKind] = MessageKind.CONTROLLER_STATUS
    state: LinkState
    version: str | None = None


@dataclass(frozen=True)
class Cleared:
    """An empty payload on a retained channel: the state it held is gone (MQTT 3.1.1, 3.3.1.3)."""

    kind: MessageKind
    seat: int | None = None

    def encode(self) -> bytes:
        return b""


MESSAGE_TYPES: Mapping[MessageKind, type[Message]] = {
    cls.kind: cls
    for cls in (
        UnitStatus,
        PresenceKey,
        VoteKey,
        MicRequestKey,
        MicCancelKey,
        TalkKey,
        PriorityKey,
        VoiceLevel,
        LedsCommand,
        LockCommand,
        BeepCommand,
        MicCommand,
        RingCommand,
        ChimeCommand,
        UnitFeatures,
        IdentifyCommand,
        ConfirmCommand,
        WallSitting,
        WallItem,
        WallAttendance,
        WallVote,
        WallResult,
        WallSeats,
        WallFloor,
        ControllerStatus,
    )
}

Decoded = Message | Cleared


# --- topics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Where a topic leads: the channel, and the seat for per-seat channels."""

    kind: MessageKind
    seat: int | None = None


@dataclass(frozen=True)
class Publication:
    """Everything a client needs to publish one message."""

    topic: str
    payload: bytes
    qos: Qos
    retain: bool


@dataclass(frozen=True)
class Subscription:
    topic_filter: str
    qos: Qos


def _fast_valid(fast: Any, data: Any) -> bool:
    """The native validator's yes; a no, or anything it cannot take (integers beyond 64
    bits, say), goes to the reference validator, which has the last word."""
    try:
        return bool(fast.is_valid(data))
    except (ValueError, OverflowError, TypeError):
        return False


def _schema_problem(channel: Channel, data: Any) -> str | None:
    """Why `data` breaks the channel's schema, or None when it does not."""
    validator = channel.validator
    try:
        if channel.fast is not None and _fast_valid(channel.fast, data):
            return None
        if validator.is_valid(data):
            return None
        # A huge array of bad items yields one error per item: judge the first few only.
        error = jsonschema.exceptions.best_match(itertools.islice(validator.iter_errors(data), 16))
    except RecursionError:
        return "nested too deeply"
    if error is None:
        return "does not match its schema"
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return f"{where}: {message}"


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1, section 4.7: does a topic filter (with + and #) match a topic name."""
    parts = topic.split("/")
    pattern = topic_filter.split("/")
    for i, level in enumerate(pattern):
        if level == "#":
            return True
        if i >= len(parts) or (level != "+" and level != parts[i]):
            return False
    return len(parts) == len(pattern)


# How many topic names one `Topics` keeps (every kind for 8,192 seats fits).
TOPIC_CACHE = 200_000


class Topics:
    """The topic tree of one hall, and the codec that goes with it.

    Builds topic names and parses them back to a `Route`; decodes a received publication to a
    typed message and turns a message into a `Publication` with its channel's QoS and retain.
    """

    def __init__(self, hall_id: str) -> None:
        self._contract = contract()
        if not isinstance(hall_id, str) or not self._contract.hall_pattern.fullmatch(hall_id):
            raise MqttUsageError(f"hall id {hall_id!r} is not allowed in a topic")
        self.hall_id = hall_id
        # Topic templates grouped by their number of levels, with the hall filled in.
        self._templates: dict[int, list[tuple[tuple[str, ...], Channel]]] = {}
        for channel in self._contract.channels.values():
            segments = tuple(s.replace("{hall}", hall_id) for s in channel.segments)
            self._templates.setdefault(len(segments), []).append((segments, channel))
        self._hall_index = self._contract.channels[MessageKind.CONTROLLER_STATUS].segments.index(
            "{hall}"
        )
        self._prefix = "/".join(
            self._contract.channels[MessageKind.CONTROLLER_STATUS].segments[: self._hall_index]
        )
        # Topic names built so far, by (kind, seat): a press's LED and confirmation go to
        # topics named before (bounded: a seat number is checked, but a caller may try many).
        self._topics: dict[tuple[MessageKind, int | None], str] = {}

    # building

    def channel(self, kind: MessageKind) -> Channel:
        return self._contract.channels[kind]

    def topic(self, kind: MessageKind, seat: int | None = None) -> str:
        known = self._topics.get((kind, seat))
        if known is not None:
            return known
        made = self._topic(kind, seat)
        if len(self._topics) < TOPIC_CACHE:
            self._topics[(kind, seat)] = made
        return made

    def _topic(self, kind: MessageKind, seat: int | None) -> str:
        channel = self._contract.channels[kind]
        address = channel.address.replace("{hall}", self.hall_id)
        if channel.per_seat:
            if seat is None or not self._contract.seat_pattern.fullmatch(str(seat)):
                raise MqttUsageError(f"{kind} needs a seat number, got {seat!r}")
            return address.replace("{seat}", str(seat))
        if seat is not None:
            raise MqttUsageError(f"{kind} is not a per-seat channel")
        return address

    def publication(self, message: Message | Cleared) -> Publication:
        seat = message.seat if isinstance(message, SeatMessage | Cleared) else None
        channel = self._contract.channels[message.kind]
        if isinstance(message, Cleared) and not channel.retain:
            raise MqttUsageError(f"{message.kind} keeps no retained state to clear")
        return Publication(
            self.topic(message.kind, seat), message.encode(), channel.qos, channel.retain
        )

    def will(self, seat: int | None = None) -> Publication:
        """The last will of a seat unit (given its seat) or of the controller (no seat)."""
        kind = MessageKind.CONTROLLER_STATUS if seat is None else MessageKind.UNIT_STATUS
        channel = self._contract.channels[kind]
        if channel.last_will is None:
            raise MqttUsageError(f"{kind} has no last will")
        message = MESSAGE_TYPES[kind].from_payload(seat, channel.last_will)
        return Publication(self.topic(kind, seat), message.encode(), channel.qos, channel.retain)

    def subscriptions(self, role: ClientRole, seat: int | None = None) -> tuple[Subscription, ...]:
        """What a client of this role subscribes to, each at the highest QoS it needs."""
        grant = self._contract.clients[role]
        result = []
        for template in grant.subscribe:
            if "{seat}" in template:
                if seat is None:
                    raise MqttUsageError(f"a {role} subscribes per seat: give its seat")
                template = template.replace("{seat}", str(seat))
            topic_filter = template.replace("{hall}", self.hall_id)
            qos = max(
                (
                    c.qos
                    for c in self._contract.channels.values()
                    if topic_matches(
                        topic_filter, self.topic(c.kind, (seat or 1) if c.per_seat else None)
                    )
                ),
                default=Qos.AT_MOST_ONCE,
            )
            result.append(Subscription(topic_filter, Qos(qos)))
        return tuple(result)

    # parsing

    def parse(self, topic: str) -> Route:
        """Where a received topic leads; `MqttProtocolError` for a foreign or unknown one."""
        if not topic or len(topic) > 1024:
            raise MqttProtocolError(ErrorReason.BAD_TOPIC, "empty or too long", topic[:100])
        segments = topic.split("/")
        if (
            len(segments) > self._hall_index
            and "/".join(segments[: self._hall_index]) == self._prefix
            and segments[self._hall_index] != self.hall_id
        ):
            raise MqttProtocolError(ErrorReason.FOREIGN_HALL, "another hall's topic", topic)
        for template, channel in self._templates.get(len(segments), ()):
            seat_text: str | None = None
            for want, got in zip(template, segments, strict=True):
                if want == "{seat}":
                    seat_text = got
                elif want != got:
                    break
            else:
                if seat_text is None:
                    return Route(channel.kind)
                if not self._contract.seat_pattern.fullmatch(seat_text):
                    raise MqttProtocolError(
                        ErrorReason.BAD_TOPIC, f"seat {seat_text!r} is not a seat number", topic
                    )
                return Route(channel.kind, int(seat_text))
        raise MqttProtocolError(ErrorReason.UNKNOWN_TOPIC, "no channel has this topic", topic)

    def decode(self, topic: str, payload: bytes) -> Decoded:
        """A received publication as a typed message; `MqttProtocolError` for anything else."""
        route = self.parse(topic)
        channel = self._contract.channels[route.kind]
        if len(payload) > self._contract.max_payload:
            raise MqttProtocolError(ErrorReason.TOO_LARGE, f"{len(payload)} bytes", topic)
        if not payload:
            if channel.retain:
                return Cleared(route.kind, route.seat)
            raise MqttProtocolError(ErrorReason.EMPTY, "an empty payload", topic)
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MqttProtocolError(ErrorReason.NOT_UTF8, str(exc), topic) from exc
        try:
            data = json.loads(
                text,
                parse_constant=_reject_constant,
                parse_float=_finite_float,
                object_pairs_hook=_no_duplicates,
            )
        except (ValueError, RecursionError) as exc:
            raise MqttProtocolError(ErrorReason.BAD_JSON, str(exc)[:200], topic) from exc
        problem = _schema_problem(channel, data)
        if problem is not None:
            raise MqttProtocolError(ErrorReason.SCHEMA, problem, topic)
        try:
            message = MESSAGE_TYPES[route.kind].from_payload(route.seat, data)
        except ValueError as exc:  # _WrongType, or a mark that is not a SeatMark
            raise MqttProtocolError(ErrorReason.SCHEMA, str(exc), topic) from exc
        problem = message.problem()
        if problem is not None:
            raise MqttProtocolError(ErrorReason.INCONSISTENT, problem, topic)
        return message


# --- duplicates and replays -------------------------------------------------------------------


class SeqVerdict(StrEnum):
    """What `DuplicateFilter.check` made of a key press."""

    NEW = "new"  # the next event of the unit
    GAP = "gap"  # accepted, but events of the same start were lost before it
    RESTART = "restart"  # accepted: the first event seen since the unit started again
    DUPLICATE = "duplicate"  # the same (boot, seq) as the last accepted: drop it
    REPLAY = "replay"  # older than the last accepted: drop it

    @property
    def accepted(self) -> bool:
        return self in (SeqVerdict.NEW, SeqVerdict.GAP, SeqVerdict.RESTART)


class DuplicateFilter:
    """Counts each key press of a unit once, whatever MQTT redelivers.

    An event is accepted only when its (boot, seq) is greater than the last one accepted from
    the same seat. `marks()` and the constructor let the owner keep the marks across its own
    restarts (in the journal), so a press redelivered after a controller restart is still
    recognised.
    """

    def __init__(self, marks: Mapping[int, tuple[int, int]] | None = None) -> None:
        self._marks: dict[int, tuple[int, int]] = dict(marks or {})

    def check(self, event: UnitEvent) -> SeqVerdict:
        """Judge a key press, and remember it when it is accepted."""
        mark = (event.boot, event.seq)
        last = self._marks.get(event.seat)
        if last is None:
            verdict = SeqVerdict.NEW
        elif mark == last:
            return SeqVerdict.DUPLICATE
        elif mark < last:
            return SeqVerdict.REPLAY
        elif event.boot > last[0]:
            verdict = SeqVerdict.RESTART
        elif event.seq == last[1] + 1:
            verdict = SeqVerdict.NEW
        else:
            verdict = SeqVerdict.GAP
        self._marks[event.seat] = mark
        return verdict

    def observe_status(self, status: UnitStatus) -> bool:
        """Whether an online status announces a boot counter lower than the last accepted
        press's: the contract's counter never goes back, so such a status is refused and
        changes nothing here (a unit cannot reset its own replay protection, with boot 0 or
        any other lower value). The owner logs it; `forget` is for a technician's decision.
        """
        last = self._marks.get(status.seat)
        return (
            status.state is LinkState.ONLINE
            and status.boot is not None
            and last is not None
            and status.boot < last[0]
        )

    def forget(self, seat: int) -> None:
        self._marks.pop(seat, None)

    def marks(self) -> dict[int, tuple[int, int]]:
        return dict(self._marks)

    def mark(self, seat: int) -> tuple[int, int] | None:
        """The last (boot, seq) accepted from `seat`: what `marks()` says of one seat, without
        copying every seat's (a press in a 4,096-seat hall must not cost 4,096 copies)."""
        return self._marks.get(seat)


# --- access control ---------------------------------------------------------------------------


def seat_username(seat: int) -> str:
    """The broker account of a seat's unit (AsyncAPI `x-clients.seat-unit.username`)."""
    if not contract().seat_pattern.fullmatch(str(seat)):
        raise MqttUsageError(f"{seat!r} is not a seat number")
    return contract().clients[ClientRole.SEAT_UNIT].username.format(seat=seat)


_USERNAME = re.compile(r"[^\s#\x00-\x1f\x7f]{1,128}")


def render_acl(hall_id: str, seats: Iterable[int], controller_user: str, wall_user: str) -> str:
    """A mosquitto `acl_file` for one hall: one `user` block per account, nothing else granted.

    Each seat gets its own block naming its own topics. mosquitto's `pattern` lines substitute
    the whole user name (%u) or client id (%c) into the topic, so `seat-0042` could only own
    `.../seat/seat-0042/...`; and a client id is chosen by the client, so %c would let any unit
    claim any seat. Explicit blocks are correct for any naming and deny by default.
    """
    grants = contract().clients
    topics = Topics(hall_id)
    numbers = sorted(set(seats))
    accounts: list[tuple[str, ClientRole, int | None]] = [
        (controller_user, ClientRole.CONTROLLER, None),
        (wall_user, ClientRole.WALL, None),
        *((seat_username(n), ClientRole.SEAT_UNIT, n) for n in numbers),
    ]
    names = [name for name, _, _ in accounts]
    for name in names[:2]:
        if not isinstance(name, str) or not _USERNAME.fullmatch(name):
            raise MqttUsageError(f"user name {name!r} cannot go in an ACL file")
    if len(set(names)) != len(names):
        raise MqttUsageError("the controller, the wall and the seat units need distinct users")
    lines = [
        f"# mosquitto ACL for hall {hall_id}, rendered from the chamber MQTT contract.",
        "# One block per account; whatever is not granted here is denied.",
    ]
    for name, role, seat in accounts:
        lines += ["", f"user {name}"]
        for access, template in grants[role].acl:
            topic_filter = template.replace("{hall}", topics.hall_id)
            if seat is not None:
                topic_filter = topic_filter.replace("{seat}", str(seat))
            lines.append(f"topic {access} {topic_filter}")
    return "\n".join(lines) + "\n"
