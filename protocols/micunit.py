"""Microphone units on an RS-485 line: frame codec, stream decoder, unit and poller logic.

The wire contract is firmware_specs/mic_unit.yaml (human form: mic_unit.md; "§" below cites
its sections). This module reads the framing constants, every payload layout, field range
and timing figure from that file; the IntEnums here are the typed view of its tables and are
checked against it at import, so the code and the contract cannot drift apart silently.

Sans-IO, in the manner of h11 and wsproto: bytes in, typed events out (`MicStreamDecoder`);
messages in, bytes out (`encode`). The daemon's mic driver and the simulator's unit both use
it. Nothing here does I/O, starts a task or reads a clock: time is a `now` argument.

Errors come in two kinds. A peer that sends garbage produces `FrameError` events with a
typed reason; the decoder never raises on input bytes. A caller who asks for something the
contract forbids (a value out of range, a broadcast-only command to one unit) gets
`MicProtocolError`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Final

from chamber.firmware_specs import load_spec
from chamber.protocols.crc import crc16_modbus

SPEC_FILE: Final = "mic_unit.yaml"
SPEC: Final[dict[str, Any]] = load_spec(SPEC_FILE)


class MicProtocolError(Exception):
    """The caller asked for something the mic-unit contract does not allow."""


class MicSpecError(Exception):
    """mic_unit.yaml and this module disagree; raised at import, never at run time."""


# --- the contract's constants (§3, §4) ------------------------------------------------------

_FRAMING: Final = SPEC["framing"]
SOF: Final[int] = int(_FRAMING["sof"])
ESCAPE: Final[int] = int(_FRAMING["escape"])
ESCAPE_XOR: Final[int] = int(_FRAMING["escape_xor"])
HEADER_BYTES: Final[int] = int(_FRAMING["header_bytes"])
MAX_PAYLOAD: Final[int] = int(_FRAMING["max_payload"])
BUFFER_CAP: Final[int] = int(_FRAMING["buffer_cap"])
CRC_BYTES: Final = 2
MAX_FRAME: Final[int] = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
"""Largest frame before stuffing; on the wire at most 1 + 2 * MAX_FRAME bytes."""

_ADDRESSES: Final = SPEC["addresses"]
BROADCAST: Final[int] = int(_ADDRESSES["broadcast"])
FIRST_UNIT: Final[int] = int(_ADDRESSES["first_unit"])
LAST_UNIT: Final[int] = int(_ADDRESSES["last_unit"])
UNASSIGNED: Final[int] = int(_ADDRESSES["unassigned"])

EVENT_QUEUE: Final[int] = int(SPEC["limits"]["event_queue"])
CONTRACT_VERSION: Final[tuple[int, int]] = (
    int(SPEC["contract_version"]["major"]),
    int(SPEC["contract_version"]["minor"]),
)
"""This contract's version (firmware_specs/VERSIONING.md). A unit does not report it on the
wire: every 1.x minor version works with a master of any other 1.x."""
LEVEL_NOT_MEASURED: Final = -128


# --- codes (§5) -----------------------------------------------------------------------------


class Command(IntEnum):
    """Command byte. 0x01..0x7F go master -> unit, 0x80..0xFF unit -> master (§5)."""

    POLL = 0x01  # §5.1
    SET_MIC = 0x02  # §5.2
    SET_RING = 0x03  # §5.3
    CHIME = 0x04  # §5.4
    SET_ADDRESS = 0x05  # §5.5
    DISCOVER = 0x06  # §5.6
    HEARTBEAT = 0x07  # §5.7
    BROADCAST = 0x08  # §5.8
    IDENTIFY = 0x09  # §5.10, since 1.2
    STATUS = 0x81  # §5.1, the reply to POLL
    DISCOVER_REPLY = 0x86  # §5.6
    ACK = 0xF0  # §5.9
    NAK = 0xFF  # §5.9


class RingState(IntEnum):
    """Light ring (§5.3). Names match controller.core.effects.RingState."""

    OFF = 0
    LIVE = 1
    QUEUED = 2
    NEXT = 3
    PRIORITY = 4
    WARNING = 5


class UnitEvent(IntEnum):
    """A key event a unit queues for the master (§5.1)."""

    REQUEST_PRESSED = 1
    CANCEL_PRESSED = 2
    TALK_PRESSED = 3
    TALK_RELEASED = 4
    PRIORITY_PRESSED = 5
    PRIORITY_RELEASED = 6


class UnitType(IntEnum):
    """What a unit is built as (§5.6). Names match controller.core.model.MicClass."""

    CHAIR = 1
    DELEGATE = 2
    VIP = 3


class ChimePattern(IntEnum):
    """§5.4."""

    PRIORITY = 1
    TIME_WARNING = 2
    ATTENTION = 3


class BroadcastOp(IntEnum):
    """§5.8. Every op leaves chair units alone."""

    ALL_MICS_OFF = 1
    ALL_RINGS_OFF = 2
    PRIORITY_MUTE_ON = 3
    PRIORITY_MUTE_OFF = 4


class NakReason(IntEnum):
    """§5.9."""

    UNKNOWN_COMMAND = 1
    BAD_PAYLOAD = 2
    NOT_SUPPORTED = 3


_ENUMS: Final[dict[str, type[IntEnum]]] = {
    "ring_state": RingState,
    "unit_event": UnitEvent,
    "unit_type": UnitType,
    "chime_pattern": ChimePattern,
    "broadcast_op": BroadcastOp,
    "nak_reason": NakReason,
}


class FrameErrorReason(StrEnum):
    """Why bytes on the line did not make a message (§3.4)."""

    GARBAGE = "garbage"  # bytes outside any frame, skipped while hunting for SOF
    TRUNCATED = "truncated"  # a new SOF arrived before the frame was complete
    BAD_ESCAPE = "bad-escape"  # ESCAPE followed by a byte that is not 5E or 5D
    BAD_LENGTH = "bad-length"  # length byte above the maximum payload
    BAD_CRC = "bad-crc"
    UNKNOWN_COMMAND = "unknown-command"
    BAD_PAYLOAD = "bad-payload"  # the payload does not fit the command's layout or ranges
    BAD_ADDRESS = "bad-address"  # the command may not be sent to or from this address
    BUFFER_OVERFLOW = "buffer-overflow"  # the reader fell behind; input was dropped


@dataclass(frozen=True)
class FrameError:
    """The decoder's report on bytes that did not make a message.

    `raw` holds the frame's unstuffed bytes as far as they came (address first), `count` the
    number of bytes skipped (GARBAGE) or dropped (BUFFER_OVERFLOW).
    """

    reason: FrameErrorReason
    detail: str
    address: int | None = None
    command: int | None = None
    raw: bytes = b""
    count: int = 0


# --- messages (§5) --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MicMessage:
    """A frame's meaning. `address` is the unit it goes to, or the unit it comes from."""

    COMMAND: ClassVar[Command]
    address: int


@dataclass(frozen=True, kw_only=True)
class Poll(MicMessage):
    """§5.1. `ack_seq` acknowledges the unit's events up to and including that sequence
    number (0: none); `boot_seen` tells a restarted unit that its state has been restored
    (and that `ack_seq` is about its new run); `lost_seen` that the master has noted its
    `events_lost` flag."""

    COMMAND: ClassVar[Command] = Command.POLL
    ack_seq: int = 0
    boot_seen: bool = False
    lost_seen: bool = False


@dataclass(frozen=True, kw_only=True)
class SetMic(MicMessage):
    COMMAND: ClassVar[Command] = Command.SET_MIC
    on: bool


@dataclass(frozen=True, kw_only=True)
class SetRing(MicMessage):
    """§5.3. `position` is the place in the waiting list (1 = first) for QUEUED, else 0."""

    COMMAND: ClassVar[Command] = Command.SET_RING
    state: RingState
    position: int = 0


@dataclass(frozen=True, kw_only=True)
class Chime(MicMessage):
    COMMAND: ClassVar[Command] = Command.CHIME
    pattern: ChimePattern


@dataclass(frozen=True, kw_only=True)
class SetAddress(MicMessage):
    """§5.5. Broadcast; only the unit with `serial` takes `new_address` and answers."""

    COMMAND: ClassVar[Command] = Command.SET_ADDRESS
    address: int = BROADCAST
    serial: int
    new_address: int


@dataclass(frozen=True, kw_only=True)
class Discover(MicMessage):
    """§5.6. Units answer in slot `discovery_slot(serial, nonce, slots)`."""

    COMMAND: ClassVar[Command] = Command.DISCOVER
    address: int = BROADCAST
    slots: int = int(SPEC["discovery"]["slots_default"])
    nonce: int = 0
    unseen_only: bool = True


@dataclass(frozen=True, kw_only=True)
class Heartbeat(MicMessage):
    COMMAND: ClassVar[Command] = Command.HEARTBEAT
    address: int = BROADCAST
    counter: int = 0
    sitting_open: bool = False


@dataclass(frozen=True, kw_only=True)
class Broadcast(MicMessage):
    COMMAND: ClassVar[Command] = Command.BROADCAST
    address: int = BROADCAST
    op: BroadcastOp


@dataclass(frozen=True, kw_only=True)
class Identify(MicMessage):
    """§5.10, since 1.2: the unit blinks its ring for `seconds` (0 stops). A 1.0 or 1.1 unit
    answers NAK UNKNOWN_COMMAND."""

    COMMAND: ClassVar[Command] = Command.IDENTIFY
    seconds: int


@dataclass(frozen=True)
class StatusEvent:
    """One queued key event: `seq` runs 1..255 and wraps to 1 (§5.1)."""

    seq: int
    kind: UnitEvent


@dataclass(frozen=True, kw_only=True)
class Status(MicMessage):
    """§5.1, a unit's answer to POLL: what it shows and every event not yet acknowledged."""

    COMMAND: ClassVar[Command] = Command.STATUS
    boot: bool = False
    mic_on: bool = False
    talk_held: bool = False
    priority_held: bool = False
    muted: bool = False
    events_lost: bool = False
    ring: RingState = RingState.OFF
    position: int = 0
    level_db: int = LEVEL_NOT_MEASURED
    events: tuple[StatusEvent, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DiscoverReply(MicMessage):
    COMMAND: ClassVar[Command] = Command.DISCOVER_REPLY
    serial: int
    unit_type: UnitType
    fw_major: int = 0
    fw_minor: int = 0
    fw_patch: int = 0


@dataclass(frozen=True, kw_only=True)
class Ack(MicMessage):
    COMMAND: ClassVar[Command] = Command.ACK
    command: int


@dataclass(frozen=True, kw_only=True)
class Nak(MicMessage):
    """`command` is the raw command byte refused, which may be one this module does not know."""

    COMMAND: ClassVar[Command] = Command.NAK
    command: int
    reason: NakReason


MESSAGE_TYPES: Final[dict[Command, type[MicMessage]]] = {
    cls.COMMAND: cls
    for cls in (
        Poll,
        SetMic,
        SetRing,
        Chime,
        SetAddress,
        Discover,
        Heartbeat,
        Broadcast,
        Identify,
        Status,
        DiscoverReply,
        Ack,
        Nak,
    )
}
_LIST_ITEMS: Final[dict[tuple[Command, str], type[StatusEvent]]] = {
    (Command.STATUS, "events"): StatusEvent
}


# --- payload layouts, compiled from the spec ------------------------------------------------

_SCALARS: Final[dict[str, tuple[str, int, int]]] = {
    # type -> (struct code, min, max); multi-byte fields are big-endian (§3.3)
    "u8": ("B", 0, 0xFF),
    "i8": ("b", -128, 127),
    "u32": (">I", 0, 0xFFFF_FFFF),
    "bool": ("B", 0, 1),
}


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str
    lo: int = 0
    hi: int = 0
    enum: type[IntEnum] | None = None
    bits: tuple[tuple[str, int], ...] = ()
    items: tuple[_Field, ...] = ()
    item_cls: type[StatusEvent] | None = None


@dataclass(frozen=True)
class _Layout:
    command: Command
    section: str
    addressing: str
    fields: tuple[_Field, ...]


def _compile_field(command: Command, raw: dict[str, Any]) -> _Field:
    name, kind = str(raw["name"]), str(raw["type"])
    if kind == "bits":
        bits = tuple((str(k), int(v)) for k, v in raw["bits"].items())
        return _Field(name, kind, bits=bits)
    if kind == "list":
        items = tuple(_compile_field(command, f) for f in raw["fields"])
        return _Field(
            name, kind, 0, int(raw["max"]), items=items, item_cls=_LIST_ITEMS[(command, name)]
        )
    if kind not in _SCALARS:
        raise MicSpecError(f"{command.name}.{name}: unknown field type {kind!r}")
    _, lo, hi = _SCALARS[kind]
    enum = _ENUMS[str(raw["enum"])] if "enum" in raw else None
    return _Field(name, kind, int(raw.get("min", lo)), int(raw.get("max", hi)), enum)


def _compile() -> dict[int, _Layout]:
    for yaml_name, enum in _ENUMS.items():
        in_spec = {str(k): int(v) for k, v in SPEC["enums"][yaml_name].items()}
        in_code = {m.name: int(m) for m in enum}
        if in_spec != in_code:
            raise MicSpecError(f"enum {yaml_name}: spec {in_spec} != code {in_code}")
    layouts: dict[int, _Layout] = {}
    for raw in SPEC["commands"]:
        try:
            command = Command[str(raw["name"])]
        except KeyError:
            raise MicSpecError(f"command {raw['name']} is in the spec, not in the code") from None
        if int(raw["code"]) != command:
            raise MicSpecError(f"{command.name}: spec code {raw['code']:#04x} != {command:#04x}")
        compiled = tuple(_compile_field(command, f) for f in raw["fields"])
        layouts[int(command)] = _Layout(
            command, str(raw["section"]), str(raw["addressing"]), compiled
        )
    missing = set(Command) - {Command(c) for c in layouts}
    if missing:
        raise MicSpecError(f"commands not in the spec: {sorted(c.name for c in missing)}")
    return layouts


_LAYOUTS: Final = _compile()


def _since(command: Command) -> tuple[int, int]:
    for raw in SPEC["commands"]:
        if raw["name"] == command.name and "since" in raw:
            return int(raw["since"]["major"]), int(raw["since"]["minor"])
    return (CONTRACT_VERSION[0], 0)


IDENTIFY_SINCE: Final[tuple[int, int]] = _since(Command.IDENTIFY)
"""The contract version that added IDENTIFY (§5.10): an older unit answers NAK
UNKNOWN_COMMAND, which is how the master learns it lacks it."""


def spec_section(command: Command) -> str:
    """The mic_unit.md section that defines `command`."""
    return _LAYOUTS[int(command)].section


class _PayloadError(Exception):
    def __init__(self, reason: FrameErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _address_rule(addressing: str) -> tuple[str, frozenset[int]]:
    units = frozenset(range(FIRST_UNIT, LAST_UNIT + 1))
    rules = {
        "unit": ("a unit address 1..247", units),
        "reply": ("a unit address 1..247", units),
        "broadcast": ("the broadcast address 0x00", frozenset({BROADCAST})),
        "any": ("a unit address or broadcast", units | {BROADCAST}),
        "discovery_reply": ("a unit address or 0xFE", units | {UNASSIGNED}),
    }
    return rules[addressing]


def _cross_field_problem(values: dict[str, Any], command: Command) -> str | None:
    # §5.3: a queue position means something only while the ring shows QUEUED.
    if command in (Command.SET_RING, Command.STATUS):
        state = values["state" if command is Command.SET_RING else "ring"]
        position = values["position"]
        if state == RingState.QUEUED and not 1 <= position <= 250:
            return f"QUEUED needs a position 1..250, got {position}"
        if state != RingState.QUEUED and position != 0:
            return f"{RingState(state).name} takes position 0, got {position}"
    if command is Command.ACK and values["command"] not in {int(c) for c in Command}:
        return f"ACK of unknown command {values['command']:#04x}"
    return None


def _decode_fields(
    layout: _Layout, specs: tuple[_Field, ...], data: bytes, pos: int
) -> tuple[dict[str, Any], int]:
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.kind == "bits":
            if pos >= len(data):
                raise _PayloadError(FrameErrorReason.BAD_PAYLOAD, f"payload ends at {spec.name}")
            for name, bit in spec.bits:
                values[name] = bool(data[pos] >> bit & 1)
            pos += 1
        elif spec.kind == "list":
            if pos >= len(data):
                raise _PayloadError(FrameErrorReason.BAD_PAYLOAD, f"payload ends at {spec.name}")
            count = data[pos]
            pos += 1
            if count > spec.hi:
                raise _PayloadError(
                    FrameErrorReason.BAD_PAYLOAD, f"{spec.name}: {count} items, at most {spec.hi}"
                )
            assert spec.item_cls is not None
            items = []
            for _ in range(count):
                item, pos = _decode_fields(layout, spec.items, data, pos)
                items.append(spec.item_cls(**item))
            values[spec.name] = tuple(items)
        else:
            code = _SCALARS[spec.kind][0]
            size = struct.calcsize(code)
            if pos + size > len(data):
                raise _PayloadError(FrameErrorReason.BAD_PAYLOAD, f"payload ends at {spec.name}")
            (value,) = struct.unpack_from(code, data, pos)
            pos += size
            if not spec.lo <= value <= spec.hi:
                raise _PayloadError(
                    FrameErrorReason.BAD_PAYLOAD,
                    f"{spec.name}={value} outside {spec.lo}..{spec.hi}",
                )
            if spec.enum is not None:
                try:
                    value = spec.enum(value)
                except ValueError:
                    raise _PayloadError(
                        FrameErrorReason.BAD_PAYLOAD,
                        f"{spec.name}={value} is no {spec.enum.__name__}",
                    ) from None
            elif spec.kind == "bool":
                value = bool(value)
            values[spec.name] = value
    return values, pos


def _message_from_frame(address: int, command: int, payload: bytes) -> MicMessage:
    layout = _LAYOUTS.get(command)
    if layout is None:
        raise _PayloadError(FrameErrorReason.UNKNOWN_COMMAND, f"unknown command {command:#04x}")
    values, end = _decode_fields(layout, layout.fields, payload, 0)
    if end != len(payload):
        raise _PayloadError(
            FrameErrorReason.BAD_PAYLOAD,
            f"{layout.command.name} payload is {len(payload)} bytes, layout uses {end}",
        )
    problem = _cross_field_problem(values, layout.command)
    if problem:
        raise _PayloadError(FrameErrorReason.BAD_PAYLOAD, problem)
    what, allowed = _address_rule(layout.addressing)
    if address not in allowed:
        raise _PayloadError(
            FrameErrorReason.BAD_ADDRESS,
            f"{layout.command.name} at address {address:#04x}; it needs {what}",
        )
    return MESSAGE_TYPES[layout.command](address=address, **values)


def _encode_fields(owner: str, specs: tuple[_Field, ...], source: object) -> bytes:
    out = bytearray()
    for spec in specs:
        if spec.kind == "bits":
            byte = 0
            for name, bit in spec.bits:
                if getattr(source, name):
                    byte |= 1 << bit
            out.append(byte)
        elif spec.kind == "list":
            items = getattr(source, spec.name)
            if len(items) > spec.hi:
                raise MicProtocolError(
                    f"{owner}.{spec.name}: {len(items)} items, at most {spec.hi}"
                )
            out.append(len(items))
            for item in items:
                out += _encode_fields(f"{owner}.{spec.name}", spec.items, item)
        else:
            value = getattr(source, spec.name)
            if spec.enum is not None and not isinstance(value, spec.enum):
                try:
                    value = spec.enum(value)
                except ValueError:
                    raise MicProtocolError(
                        f"{owner}.{spec.name}={value!r} is no {spec.enum.__name__}"
                    ) from None
            if isinstance(value, bool) != (spec.kind == "bool") or not isinstance(value, int):
                raise MicProtocolError(f"{owner}.{spec.name}={value!r}: wrong type")
            if not spec.lo <= value <= spec.hi:
                raise MicProtocolError(f"{owner}.{spec.name}={value} outside {spec.lo}..{spec.hi}")
            out += struct.pack(_SCALARS[spec.kind][0], int(value))
    return bytes(out)


def _stuff(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in (SOF, ESCAPE):
            out += bytes((ESCAPE, byte ^ ESCAPE_XOR))
        else:
            out.append(byte)
    return bytes(out)


def encode_frame(address: int, command: int, payload: bytes = b"") -> bytes:
    """One frame on the wire (§3): SOF, then address, command, length, payload and CRC,
    stuffed. No check of what the command means: `encode` is the checked way in."""
    if not 0 <= address <= 0xFF or not 0 <= command <= 0xFF:
        raise MicProtocolError(f"address {address} and command {command} must be bytes")
    if len(payload) > MAX_PAYLOAD:
        raise MicProtocolError(f"payload of {len(payload)} bytes; at most {MAX_PAYLOAD}")
    body = bytes((address, command, len(payload))) + payload
    return bytes((SOF,)) + _stuff(body + crc16_modbus(body).to_bytes(CRC_BYTES, "little"))


def encode(message: MicMessage) -> bytes:
    """The wire bytes of `message`; MicProtocolError if the contract forbids it."""
    command = type(message).COMMAND
    layout = _LAYOUTS[int(command)]
    what, allowed = _address_rule(layout.addressing)
    if message.address not in allowed:
        raise MicProtocolError(f"{command.name} to address {message.address}; it needs {what}")
    values = {f.name: getattr(message, f.name) for f in fields(message)}
    problem = _cross_field_problem(values, command)
    if problem:
        raise MicProtocolError(f"{command.name}: {problem}")
    payload = _encode_fields(command.name, layout.fields, message)
    return encode_frame(message.address, int(command), payload)


# --- the stream decoder (§3.4) --------------------------------------------------------------


class _State(IntEnum):
    HUNT = 0  # between frames: skipped bytes are reported as garbage
    DISCARD = 1  # after a bad frame: skip quietly to the next SOF
    FRAME = 2


class MicStreamDecoder:
    """Bytes from the line in, `MicMessage` and `FrameError` events out.

    Feed whatever the port delivered to `receive_data`; call `next_event` until it returns
    None ("need more data"). Each input byte is examined once, so the work per byte is
    bounded whatever arrives. Since SOF never occurs inside a frame, any SOF starts a new
    frame: the decoder resynchronises on the next SOF after any error.
    """

    def __init__(self, buffer_cap: int = BUFFER_CAP) -> None:
        if buffer_cap < 1:
            raise MicProtocolError("buffer_cap must be at least 1")
        self._cap = buffer_cap
        self._buf = bytearray()
        self._pos = 0
        # (offset into _buf, bytes dropped there): input lost when the reader fell behind.
        self._drops: deque[tuple[int, int]] = deque()
        self._state = _State.HUNT
        self._skipped = 0
        self._frame = bytearray()
        self._escaped = False
        self._need = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet examined; never more than the buffer cap."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes) -> None:
        """Queue bytes from the line. Beyond the cap they are dropped, and `next_event`
        reports a BUFFER_OVERFLOW at the point where they went missing."""
        room = self._cap - self.buffered
        if len(data) > room:
            dropped = len(data) - room
            data = data[:room]
            end = len(self._buf) + len(data)
            if self._drops and self._drops[-1][0] == end:
                dropped += self._drops.pop()[1]
            self._drops.append((end, dropped))
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._drops = deque((at - self._pos, n) for at, n in self._drops)
            self._pos = 0
        self._buf += data

    def line_idle(self) -> FrameError | None:
        """The caller saw the line fall silent (e.g. a response timeout) after reading every
        event: a frame still in progress will never finish, so report it now as TRUNCATED
        rather than when the next SOF arrives."""
        if self.buffered:
            raise MicProtocolError("read every event before declaring the line idle")
        if self._state is not _State.FRAME:
            return None
        error = self._error(
            FrameErrorReason.TRUNCATED, f"line idle after {len(self._frame)} bytes of a frame"
        )
        self._state, self._skipped = _State.HUNT, 0
        return error

    def events(self) -> Iterator[MicMessage | FrameError]:
        """Every event the bytes received so far make."""
        while (event := self.next_event()) is not None:
            yield event

    def next_event(self) -> MicMessage | FrameError | None:
        """The next message or frame error, or None when more bytes are needed."""
        while True:
            if self._drops and self._drops[0][0] <= self._pos:
                _, dropped = self._drops.popleft()
                return self._overflow(dropped)
            limit = self._drops[0][0] if self._drops else len(self._buf)
            if self._pos >= limit:
                self._compact()
                return None
            in_frame = self._state is _State.FRAME
            event = self._frame_bytes(limit) if in_frame else self._hunt(limit)
            if event is not None:
                return event

    def _compact(self) -> None:
        if self._pos > self._cap:
            del self._buf[: self._pos]
            self._drops = deque((at - self._pos, n) for at, n in self._drops)
            self._pos = 0

    def _overflow(self, dropped: int) -> FrameError:
        raw = bytes(self._frame) if self._state is _State.FRAME else b""
        self._state, self._skipped = _State.DISCARD, 0
        return FrameError(
            FrameErrorReason.BUFFER_OVERFLOW,
            f"reader fell behind: {dropped} bytes dropped at the {self._cap}-byte cap",
            raw=raw,
            count=dropped,
        )

    def _start_frame(self) -> None:
        self._state = _State.FRAME
        self._frame.clear()
        self._escaped = False
        self._need = 0

    def _hunt(self, limit: int) -> FrameError | None:
        at = self._buf.find(SOF, self._pos, limit)
        end = limit if at < 0 else at
        if self._state is _State.HUNT:
            self._skipped += end - self._pos
        self._pos = end
        if at < 0:
            return None
        self._pos += 1
        skipped, self._skipped = self._skipped, 0
        was_hunting = self._state is _State.HUNT
        self._start_frame()
        if was_hunting and skipped:
            return FrameError(
                FrameErrorReason.GARBAGE, f"{skipped} bytes outside any frame", count=skipped
            )
        return None

    def _error(self, reason: FrameErrorReason, detail: str) -> FrameError:
        frame = bytes(self._frame)
        self._state = _State.DISCARD
        return FrameError(
            reason,
            detail,
            address=frame[0] if len(frame) > 0 else None,
            command=frame[1] if len(frame) > 1 else None,
            raw=frame,
        )

    def _frame_bytes(self, limit: int) -> MicMessage | FrameError | None:
        buf, frame = self._buf, self._frame
        while self._pos < limit:
            byte = buf[self._pos]
            self._pos += 1
            if byte == SOF:
                error = self._error(
                    FrameErrorReason.TRUNCATED, f"new SOF after {len(frame)} bytes of a frame"
                )
                self._start_frame()
                return error
            if self._escaped:
                self._escaped = False
                if byte ^ ESCAPE_XOR not in (SOF, ESCAPE):
                    return self._error(
                        FrameErrorReason.BAD_ESCAPE, f"escape followed by {byte:#04x}"
                    )
                byte ^= ESCAPE_XOR
            elif byte == ESCAPE:
                self._escaped = True
                continue
            frame.append(byte)
            if len(frame) == HEADER_BYTES:
                if frame[2] > MAX_PAYLOAD:
                    return self._error(
                        FrameErrorReason.BAD_LENGTH,
                        f"length {frame[2]} above the maximum payload {MAX_PAYLOAD}",
                    )
                self._need = HEADER_BYTES + frame[2] + CRC_BYTES
            elif len(frame) == self._need:
                return self._complete()
        return None

    def _complete(self) -> MicMessage | FrameError:
        frame = bytes(self._frame)
        body, received = frame[:-CRC_BYTES], int.from_bytes(frame[-CRC_BYTES:], "little")
        computed = crc16_modbus(body)
        if computed != received:
            return self._error(
                FrameErrorReason.BAD_CRC, f"CRC {received:#06x}, computed {computed:#06x}"
            )
        try:
            message = _message_from_frame(frame[0], frame[1], body[HEADER_BYTES:])
        except _PayloadError as e:
            return self._error(e.reason, e.detail)
        self._state, self._skipped = _State.HUNT, 0
        return message


# --- a unit, as the simulator runs it (§5, §6) ----------------------------------------------


_NONCE_MULTIPLIER: Final[int] = int(SPEC["discovery"]["nonce_multiplier"])
_FMIX_MULTIPLIERS: Final[tuple[int, ...]] = tuple(
    int(m) for m in SPEC["discovery"]["fmix32_multipliers"]
)
DISCOVERY_SLOTS: Final[int] = int(SPEC["discovery"]["slots_default"])


def _fmix32(x: int) -> int:
    # MurmurHash3's finaliser: a bijection on 32 bits with good avalanche.
    x ^= x >> 16
    x = (x * _FMIX_MULTIPLIERS[0]) & 0xFFFF_FFFF
    x ^= x >> 13
    x = (x * _FMIX_MULTIPLIERS[1]) & 0xFFFF_FFFF
    return x ^ (x >> 16)


def discovery_slot(serial: int, nonce: int, slots: int) -> int:
    """The slot a unit answers DISCOVER in (§5.6): fmix32(serial XOR nonce * 0x9E3779B9)
    modulo the slot count. Deterministic, so a unit needs no random source, yet two units
    that collide under one nonce part under most others. (A CRC would not do: it is linear,
    so two serials that collide under one nonce would collide under every nonce.)"""
    if not 1 <= slots <= 0xFF or not 0 <= nonce <= 0xFF or not 0 <= serial <= 0xFFFF_FFFF:
        raise MicProtocolError("serial, nonce or slots out of range")
    return _fmix32(serial ^ (nonce * _NONCE_MULTIPLIER) & 0xFFFF_FFFF) % slots


def next_seq(seq: int) -> int:
    """The event sequence number after `seq`: 1..255, wrapping to 1; 0 means none (§5.1)."""
    return seq % 255 + 1


def seq_is_newer(seq: int, last: int) -> bool:
    """Whether event `seq` comes after `last` (0 = none yet), within half the cycle."""
    if last == 0:
        return True
    return 1 <= (seq - last) % 255 <= 127


@dataclass(frozen=True, kw_only=True)
class MicUnitState:
    """What one microphone unit holds, and how it answers the master (§5, §6.3).

    Pure: `handle` returns the new state and the reply (None: stay silent). The simulator
    wraps it in I/O and timing; the DISCOVER reply goes out in `discovery_slot(...)`.
    """

    serial: int
    unit_type: UnitType = UnitType.DELEGATE
    address: int = UNASSIGNED
    firmware: tuple[int, int, int] = (1, 0, 0)
    boot: bool = True
    seen: bool = False
    mic_on: bool = False
    muted: bool = False
    ring: RingState = RingState.OFF
    position: int = 0
    level_db: int = LEVEL_NOT_MEASURED
    talk_held: bool = False
    priority_held: bool = False
    events: tuple[StatusEvent, ...] = ()
    last_seq: int = 0
    events_lost: bool = False
    # The contract version the unit's firmware implements (it is not on the wire): a unit
    # older than IDENTIFY_SINCE refuses IDENTIFY as an unknown command (§5.10).
    contract: tuple[int, int] = CONTRACT_VERSION
    # The seconds of the last IDENTIFY taken, and how many were taken since the start: the
    # firmware (the simulator) blinks the ring for that long, on a clock of its own.
    identify_s: int = 0
    identified: int = 0

    @property
    def live(self) -> bool:
        """Whether the hall hears this unit: switched on and not muted by priority."""
        return self.mic_on and not self.muted

    def press(self, kind: UnitEvent) -> MicUnitState:
        """A key event: queue it (§5.1). A full queue keeps the older events and raises
        `events_lost` until a POLL says `lost_seen`."""
        # The held flags follow the keys even when the queue is full.
        talk_held = {UnitEvent.TALK_PRESSED: True, UnitEvent.TALK_RELEASED: False}
        priority_held = {UnitEvent.PRIORITY_PRESSED: True, UnitEvent.PRIORITY_RELEASED: False}
        state = replace(
            self,
            talk_held=talk_held.get(kind, self.talk_held),
            priority_held=priority_held.get(kind, self.priority_held),
        )
        if len(self.events) >= EVENT_QUEUE:
            return replace(state, events_lost=True)
        seq = next_seq(self.last_seq)
        return replace(state, events=(*self.events, StatusEvent(seq, kind)), last_seq=seq)

    def with_level(self, level_db: int) -> MicUnitState:
        return replace(self, level_db=max(LEVEL_NOT_MEASURED, min(0, level_db)))

    def status(self) -> Status:
        return Status(
            address=self.address,
            boot=self.boot,
            mic_on=self.mic_on,
            talk_held=self.talk_held,
            priority_held=self.priority_held,
            muted=self.muted,
            events_lost=self.events_lost,
            ring=self.ring,
            position=self.position,
            level_db=self.level_db,
            events=self.events,
        )

    def handle(self, message: MicMessage) -> tuple[MicUnitState, MicMessage | None]:
        """Apply a message heard on the line; return the new state and the reply."""
        if message.address == BROADCAST:
            return self._handle_broadcast(message)
        if message.address != self.address or self.address == UNASSIGNED:
            return self, None
        state = replace(self, seen=True)
        match message:
            case Poll(ack_seq=ack, boot_seen=boot_seen, lost_seen=lost_seen):
                seqs = [e.seq for e in state.events]
                # While `boot` is up, an ack without `boot_seen` was built before the master
                # knew of the restart: it numbers the previous run's events, not these.
                if ack in seqs and (boot_seen or not state.boot):
                    state = replace(state, events=state.events[seqs.index(ack) + 1 :])
                # Both flags stay up until the master says it has seen them: a cleared flag
                # in a lost STATUS would otherwise never reach it.
                if boot_seen:
                    state = replace(state, boot=False)
                if lost_seen:
                    state = replace(state, events_lost=False)
                return state, state.status()
            case SetMic(on=on):
                return replace(state, mic_on=on), Ack(address=self.address, command=Command.SET_MIC)
            case SetRing(state=ring, position=position):
                reply = Ack(address=self.address, command=Command.SET_RING)
                return replace(state, ring=ring, position=position), reply
            case Chime():
                return state, Ack(address=self.address, command=Command.CHIME)
            case Identify(seconds=seconds):
                if self.contract < IDENTIFY_SINCE:
                    nak = Nak(
                        address=self.address,
                        command=Command.IDENTIFY,
                        reason=NakReason.UNKNOWN_COMMAND,
                    )
                    return state, nak
                state = replace(state, identify_s=seconds, identified=state.identified + 1)
                return state, Ack(address=self.address, command=Command.IDENTIFY)
        return self, None  # replies from other units, or broadcast-only commands

    def _handle_broadcast(self, message: MicMessage) -> tuple[MicUnitState, MicMessage | None]:
        exempt = self.unit_type is UnitType.CHAIR
        match message:
            case SetAddress(serial=serial, new_address=new) if serial == self.serial:
                state = replace(self, address=new, seen=True)
                return state, Ack(address=new, command=Command.SET_ADDRESS)
            case Discover(unseen_only=unseen_only) if not (unseen_only and self.seen):
                return self, DiscoverReply(
                    address=self.address,
                    serial=self.serial,
                    unit_type=self.unit_type,
                    fw_major=self.firmware[0],
                    fw_minor=self.firmware[1],
                    fw_patch=self.firmware[2],
                )
            case Broadcast(op=op) if not exempt:
                match op:
                    case BroadcastOp.ALL_MICS_OFF:
                        return replace(self, mic_on=False), None
                    case BroadcastOp.ALL_RINGS_OFF:
                        return replace(self, ring=RingState.OFF, position=0), None
                    case BroadcastOp.PRIORITY_MUTE_ON:
                        return replace(self, muted=True), None
                    case BroadcastOp.PRIORITY_MUTE_OFF:
                        return replace(self, muted=False), None
        return self, None

    def handle_error(self, error: FrameError) -> Nak | None:
        """A unit NAKs a frame addressed to it that arrived intact but made no sense (§5.9);
        a frame with a bad CRC gets silence, as its address cannot be trusted."""
        if (
            error.address != self.address
            or self.address == UNASSIGNED
            or error.command is None
            or error.command >= 0x80
        ):
            return None
        if error.reason is FrameErrorReason.UNKNOWN_COMMAND:
            return Nak(
                address=self.address, command=error.command, reason=NakReason.UNKNOWN_COMMAND
            )
        if error.reason is FrameErrorReason.BAD_PAYLOAD:
            return Nak(address=self.address, command=error.command, reason=NakReason.BAD_PAYLOAD)
        return None


# --- the master's polling (§6) --------------------------------------------------------------


@dataclass(frozen=True)
class LineTiming:
    """Master-side timing of one line, in seconds and counts (§6)."""

    response_timeout_s: float
    retries: int
    offline_after_misses: int
    poll_cycle_min_s: float
    offline_poll_interval_s: float
    heartbeat_interval_s: float

    @classmethod
    def from_spec(cls) -> LineTiming:
        t = SPEC["timing"]
        return cls(
            response_timeout_s=t["response_timeout_ms"] / 1000,
            retries=int(t["retries"]),
            offline_after_misses=int(t["offline_after_misses"]),
            poll_cycle_min_s=t["poll_cycle_min_ms"] / 1000,
            offline_poll_interval_s=t["offline_poll_interval_ms"] / 1000,
            heartbeat_interval_s=t["heartbeat_interval_ms"] / 1000,
        )


TIMING: Final = LineTiming.from_spec()


@dataclass(frozen=True)
class LineEvent:
    address: int


@dataclass(frozen=True)
class UnitOnline(LineEvent):
    """The unit answered, for the first time or after being offline."""


@dataclass(frozen=True)
class UnitOffline(LineEvent):
    """The unit missed `offline_after_misses` polls in a row, retries included."""


@dataclass(frozen=True)
class UnitBooted(LineEvent):
    """The unit restarted: send it its mic and ring state, then call `state_restored`."""


@dataclass(frozen=True)
class UnitEventsLost(LineEvent):
    """The unit's event queue overflowed: some key events never reached the master."""


@dataclass(frozen=True)
class UnitKeyEvent(LineEvent):
    """A key event, delivered once even when replies were lost and the unit repeated it."""

    seq: int
    kind: UnitEvent
    # Which run of the unit (counted by the poller from 0, one more at each restart it sees)
    # the event belongs to: `MicLinePoller.settle` takes it back with the seq. Bookkeeping,
    # not part of what the unit said: two deliveries of the same press compare equal.
    run: int = field(default=0, compare=False)


@dataclass
class _Track:
    address: int
    online: bool | None = None  # None: not heard from yet
    misses: int = 0
    tries: int = 0
    last_seq: int = 0
    # What the next POLL acknowledges: the newest event of the unit's last STATUS (all of
    # them processed by then), 0 when that STATUS listed none. Never repeated once a STATUS
    # shows the unit dropped it, so an old number cannot reach a unit that restarted since.
    ack: int = 0
    booting: bool = False
    restored: bool = False
    lost: bool = False
    last_try: float = field(default=float("-inf"))
    # With `hold_acks`: the seqs of the unit's last STATUS, and the newest event of this run
    # that the caller has settled (0: none). Only settled events are acknowledged.
    listed: tuple[int, ...] = ()
    settled: int = 0
    run: int = 0


class MicLinePoller:
    """Which unit the master polls next, and what the replies mean (§6.1, §6.2).

    Round robin over the line's units; a missed POLL is retried at once up to `retries`
    times, then counts as one miss; an offline unit is tried only every
    `offline_poll_interval_s` so that it does not slow the line. The caller sends what
    `next_poll` returns and then reports the STATUS (`on_reply`) or its absence by
    `reply_deadline` (`on_no_reply`).
    """

    def __init__(
        self, addresses: Sequence[int], timing: LineTiming = TIMING, *, hold_acks: bool = False
    ) -> None:
        """`hold_acks`: acknowledge an event only once the caller has `settle`d it (made it
        durable), so a master that dies before then is sent the event again by the unit."""
        if not addresses or len(set(addresses)) != len(addresses):
            raise MicProtocolError("a line needs distinct unit addresses")
        for a in addresses:
            if not FIRST_UNIT <= a <= LAST_UNIT:
                raise MicProtocolError(f"address {a} is not a unit address")
        self._timing = timing
        self._hold_acks = hold_acks
        self._tracks = [_Track(a) for a in addresses]
        self._by_address = {t.address: t for t in self._tracks}
        self._index = 0
        self._cycle_start = float("-inf")
        self._awaiting: _Track | None = None
        self._deadline: float | None = None
        self._retry: _Track | None = None

    @property
    def awaiting(self) -> int | None:
        """The unit whose reply is awaited, if any."""
        return None if self._awaiting is None else self._awaiting.address

    @property
    def reply_deadline(self) -> float | None:
        return self._deadline

    def is_online(self, address: int) -> bool:
        return self._by_address[address].online is True

    def state_restored(self, address: int) -> None:
        """The caller has re-sent a booted unit's state; the next POLL tells the unit so."""
        track = self._by_address[address]
        if track.booting:
            track.restored = True

    def settle(self, address: int, run: int, seq: int) -> None:
        """The event `seq` of the unit's run `run` (`UnitKeyEvent.run`) is durable: the next
        POLL may acknowledge it. Events of an earlier run are ignored."""
        track = self._by_address.get(address)
        if track is None or run != track.run:
            return
        if track.settled == 0 or seq_is_newer(seq, track.settled):
            track.settled = seq

    def _ack_of(self, track: _Track) -> int:
        if not self._hold_acks:
            return track.ack
        # The newest listed event at or before the newest settled one: events are settled in
        # the order they were delivered, so everything before it in the list is settled too.
        ack = 0
        if track.settled:
            for seq in track.listed:
                if seq == track.settled or seq_is_newer(track.settled, seq):
                    ack = seq
        return ack

    def _due_at(self, track: _Track) -> float:
        if track.online is False:
            return track.last_try + self._timing.offline_poll_interval_s
        return float("-inf")

    def _due(self, track: _Track, now: float) -> bool:
        return now >= self._due_at(track)

    def next_poll(self, now: float) -> Poll | None:
        """The POLL to send now, or None while the line should idle (see `next_due`)."""
        if self._awaiting is not None:
            raise MicProtocolError(f"unit {self._awaiting.address} still owes a reply")
        track = self._retry
        if track is None:
            track = self._pick(now)
            if track is None:
                return None
            track.tries = 0
        self._retry = None
        track.tries += 1
        track.last_try = now
        self._awaiting, self._deadline = track, now + self._timing.response_timeout_s
        return Poll(
            address=track.address,
            ack_seq=self._ack_of(track),
            boot_seen=track.booting and track.restored,
            lost_seen=track.lost,
        )

    def _pick(self, now: float) -> _Track | None:
        for _ in range(len(self._tracks) + 1):
            if self._index == 0:
                if now < self._cycle_start + self._timing.poll_cycle_min_s:
                    return None
                self._cycle_start = now
            track = self._tracks[self._index]
            self._index = (self._index + 1) % len(self._tracks)
            if self._due(track, now):
                return track
        return None

    def next_due(self, now: float) -> float:
        """When `next_poll` will next return a POLL (`now` if it would already); while a
        reply is awaited, its deadline."""
        if self._awaiting is not None and self._deadline is not None:
            return self._deadline
        if self._retry is not None:
            return now
        if self._index and any(self._due(t, now) for t in self._tracks[self._index :]):
            return now
        earliest = min(self._due_at(t) for t in self._tracks)
        return max(now, self._cycle_start + self._timing.poll_cycle_min_s, earliest)

    def on_reply(self, message: MicMessage, now: float) -> list[LineEvent]:
        """A message heard while a reply was awaited. Anything but the awaited unit's STATUS
        is ignored: the poll stays open until its deadline."""
        track = self._awaiting
        if track is None or not isinstance(message, Status) or message.address != track.address:
            return []
        self._awaiting = self._deadline = None
        events: list[LineEvent] = []
        if track.online is not True:
            events.append(UnitOnline(track.address))
        track.online, track.misses = True, 0
        if message.boot and not track.booting:
            # A new run: its numbering starts again, and nothing of the old one is acked.
            track.booting, track.restored, track.last_seq, track.ack = True, False, 0, 0
            track.settled, track.run = 0, track.run + 1
            events.append(UnitBooted(track.address))
        elif not message.boot:
            track.booting = track.restored = False
        if message.events_lost and not track.lost:
            events.append(UnitEventsLost(track.address))
        track.lost = message.events_lost
        for event in message.events:
            if seq_is_newer(event.seq, track.last_seq):
                track.last_seq = event.seq
                events.append(UnitKeyEvent(track.address, event.seq, event.kind, track.run))
        track.ack = message.events[-1].seq if message.events else 0
        track.listed = tuple(event.seq for event in message.events)
        return events

    def on_no_reply(self, now: float) -> list[LineEvent]:
        """The awaited STATUS did not come (or came damaged) by the deadline."""
        track = self._awaiting
        if track is None:
            raise MicProtocolError("no poll is awaiting a reply")
        self._awaiting = self._deadline = None
        if track.online is not False and track.tries <= self._timing.retries:
            self._retry = track
            return []
        track.misses += 1
        if track.misses >= self._timing.offline_after_misses and track.online is not False:
            track.online = False
            return [UnitOffline(track.address)]
        return []
