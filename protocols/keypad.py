"""The seat keypad's Modbus register map: what the registers mean, both sides of the line.

Modbus itself (PDUs, RTU and TCP framing, CRC) is pymodbus's; this module sits above it. It
reads the map, limits and timing from firmware_specs/keypad_modbus.yaml (the contract whose
document is keypad_modbus.md; section numbers below are that document's) and gives:

- the controller side: request PDUs and frames (read identity, poll, write outputs,
  broadcasts, forget events, identify), typed decoding of replies, and `KeypadTracker`, which turns
  successive polls of one unit into new key events exactly once, counts lost ones and says
  when to resync;
- the unit side: `KeypadRegisters`, the register image of one keypad, which applies writes
  and answers reads as the contract says, so the simulator never restates the map;
- `KeypadFramer`, a sans-IO byte stream to PDU splitter that survives line noise.

Sans-IO: no sockets, no serial ports, no asyncio, no clock. Bytes from the line that do not
make sense raise `KeypadProtocolError` (with a `Reason`), never anything else; misuse of
this API by a caller raises `KeypadUsageError`.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag, StrEnum
from functools import cached_property
from typing import Any, Final, TypeAlias

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from chamber.firmware_specs import SpecError, load_spec
from chamber.protocols import micunit, modbus_timing

SPEC_FILE: Final = "keypad_modbus.yaml"
SPEC: Final[dict[str, Any]] = load_spec(SPEC_FILE)

# pymodbus raises these (and its own ModbusException) on bytes it cannot parse.
_PYMODBUS_PARSE_ERRORS = (ModbusException, ValueError, IndexError, KeyError, struct.error)


# --- codes (each checked against the spec at import; see _check_enum) -----------------------


class Function(IntEnum):
    """keypad_modbus.md §2.4: the only function codes a keypad answers."""

    READ_HOLDING_REGISTERS = 0x03
    READ_INPUT_REGISTERS = 0x04
    WRITE_SINGLE_REGISTER = 0x06
    WRITE_MULTIPLE_REGISTERS = 0x10


class ExceptionCode(IntEnum):
    """keypad_modbus.md §4.5: Modbus exception codes a keypad (or a TCP gateway) returns."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_FAILED_TO_RESPOND = 0x0B


class Key(IntEnum):
    """keypad_modbus.md §4.2: what a key event reports.

    Keys 1..10 are the voting keys as printed on the keypad (1 tán thành / yes, 2 không tán
    thành / no, 3 không biểu quyết / abstain; a choice vote uses 1..N). The presence key or
    card reports the seat's new presence state instead of a press.
    """

    YES = 1
    NO = 2
    ABSTAIN = 3
    KEY_4 = 4
    KEY_5 = 5
    KEY_6 = 6
    KEY_7 = 7
    KEY_8 = 8
    KEY_9 = 9
    KEY_10 = 10
    PRESENCE_OFF = 16
    PRESENCE_ON = 17

    @property
    def is_voting_key(self) -> bool:
        return self <= Key.KEY_10


class Beep(IntEnum):
    """keypad_modbus.md §4.3: patterns the BEEP register sounds."""

    NONE = 0
    CONFIRM = 1
    REJECT = 2
    WARNING = 3


class UnitType(IntEnum):
    """keypad_modbus.md §4.4: the UNIT_TYPE identity register."""

    KEYPAD = 1


class StatusFlag(IntFlag):
    """keypad_modbus.md §4.1: bits of STATUS_FLAGS."""

    BOOT = 1 << 0
    PRESENT = 1 << 1
    CARD = 1 << 2
    LOCKED = 1 << 3
    KEY_STUCK = 1 << 4


class Feature(IntFlag):
    """keypad_modbus.md §4.4: bits of FEATURES."""

    PRESENCE_KEY = 1 << 0
    CARD_READER = 1 << 1
    BEEPER = 1 << 2
    PRESENCE_LED = 1 << 3


# --- errors -----------------------------------------------------------------------------------


class Reason(StrEnum):
    """Why bytes or registers from the line were refused."""

    TRUNCATED = "truncated"
    BAD_CRC = "bad-crc"
    BAD_HEADER = "bad-header"  # Modbus TCP: protocol id not 0, or an impossible length
    UNDECODABLE = "undecodable"  # no PDU of a known function parses from these bytes
    WRONG_LENGTH = "wrong-length"
    WRONG_UNIT = "wrong-unit"
    WRONG_FUNCTION = "wrong-function"
    WRONG_ECHO = "wrong-echo"  # a write reply that does not repeat the request
    BAD_VALUE = "bad-value"
    BAD_RING = "bad-ring"
    BAD_TEXT = "bad-text"
    UNSUPPORTED = "unsupported"
    EXCEPTION = "exception"  # the unit answered with a Modbus exception


class KeypadError(Exception):
    """Root of this module's errors."""


class KeypadUsageError(KeypadError, ValueError):
    """The caller asked for something the contract cannot express (a bug on our side)."""


class KeypadProtocolError(KeypadError):
    """What came from the line is not what the contract allows."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class KeypadVersionError(KeypadProtocolError):
    """A unit of another major contract version (§3.2): it cannot be served."""

    def __init__(self, version: tuple[int, int]) -> None:
        super().__init__(
            Reason.UNSUPPORTED,
            f"contract version {version[0]}.{version[1]} is not {PROTOCOL_VERSION[0]}.x",
        )
        self.version = version


class KeypadExceptionResponse(KeypadProtocolError):
    """The unit (or a gateway) answered with a Modbus exception response."""

    def __init__(self, function: int, code: int) -> None:
        try:
            name = ExceptionCode(code).name
        except ValueError:
            name = f"code {code:#04x}"
        super().__init__(Reason.EXCEPTION, f"function {function:#04x}: {name}")
        self.function = function
        self.code = code


# --- the map, read from the spec ------------------------------------------------------------


class Table(StrEnum):
    INPUT = "input"
    HOLDING = "holding"


@dataclass(frozen=True)
class Register:
    name: str
    block: str
    address: int
    count: int
    type: str
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Block:
    name: str
    table: Table
    start: int
    registers: tuple[Register, ...]

    @cached_property
    def count(self) -> int:
        return sum(r.count for r in self.registers)

    @cached_property
    def end(self) -> int:
        """One past the last address."""
        return self.start + self.count

    def register(self, name: str) -> Register:
        for reg in self.registers:
            if reg.name == name:
                return reg
        raise KeyError(name)

    def offset(self, name: str) -> int:
        return self.register(name).address - self.start


def _load_blocks(spec: Mapping[str, Any]) -> dict[str, Block]:
    blocks: dict[str, Block] = {}
    for name, raw in spec["blocks"].items():
        start = int(raw["start"])
        regs: list[Register] = []
        expected_offset = 0
        for r in raw["registers"]:
            if int(r["offset"]) != expected_offset:
                raise SpecError(f"{SPEC_FILE}: block {name} has a gap before {r['name']}")
            regs.append(
                Register(
                    name=str(r["name"]),
                    block=name,
                    address=start + int(r["offset"]),
                    count=int(r["count"]),
                    type=str(r["type"]),
                    minimum=int(r["min"]) if "min" in r else None,
                    maximum=int(r["max"]) if "max" in r else None,
                )
            )
            expected_offset += int(r["count"])
        blocks[name] = Block(name, Table(raw["table"]), start, tuple(regs))
    return blocks


def _check_enum(enum_cls: type[IntEnum] | type[IntFlag], values: Mapping[str, Any]) -> None:
    members = {m.name: int(m.value) for m in enum_cls}
    wanted = {str(k).upper(): int(v) for k, v in values.items()}
    if members != wanted:
        raise SpecError(f"{SPEC_FILE}: {enum_cls.__name__} is {members}, the spec says {wanted}")


def _flag_values(section: Mapping[str, Any]) -> dict[str, int]:
    return {k: 1 << int(v) for k, v in section.items() if k != "section"}


BLOCKS: Final = _load_blocks(SPEC)
IDENTITY: Final = BLOCKS["identity"]
STATUS: Final = BLOCKS["status"]
CARD: Final = BLOCKS["card"]
OUTPUTS: Final = BLOCKS["outputs"]
FORGET: Final = BLOCKS["forget"]
IDENTIFY: Final = BLOCKS["identify"]
ADDRESS: Final = BLOCKS["address"]
SELECT: Final = BLOCKS["select"]

_LIMITS: Final = SPEC["limits"]
EVENT_RING: Final[int] = int(_LIMITS["event_ring"])
SEQ_MODULUS: Final[int] = int(_LIMITS["seq_modulus"])
TAG_MODULUS: Final[int] = int(_LIMITS["tag_modulus"])
VOTING_KEYS_MAX: Final[int] = int(_LIMITS["voting_keys_max"])
MAX_READ_COUNT: Final[int] = int(_LIMITS["max_read_count"])
MAX_WRITE_COUNT: Final[int] = int(_LIMITS["max_write_count"])
MAKER_BYTES: Final[int] = int(_LIMITS["maker_bytes"])
SERIAL_BYTES: Final[int] = int(_LIMITS["serial_bytes"])
IDENTIFY_MAX_S: Final[int] = int(_LIMITS["identify_max_s"])
SELECT_SLOTS_MAX: Final[int] = int(_LIMITS["select_slots_max"])
BROADCAST: Final[int] = int(SPEC["addressing"]["broadcast"])
FIRST_UNIT: Final[int] = int(SPEC["addressing"]["first_unit"])
LAST_UNIT: Final[int] = int(SPEC["addressing"]["last_unit"])
FACTORY_ADDRESS: Final[int] = int(SPEC["addressing"]["factory_address"])
"""Where a factory-new keypad answers (§2.3, since 1.3); a hall gives it another address."""
PROTOCOL_VERSION: Final[tuple[int, int]] = (
    int(SPEC["protocol_version"]["major"]),
    int(SPEC["protocol_version"]["minor"]),
)
FORGET_SINCE: Final[tuple[int, int]] = (
    int(SPEC["blocks"]["forget"]["since"]["major"]),
    int(SPEC["blocks"]["forget"]["since"]["minor"]),
)
"""The contract version that added the forget block (§3.6); older units do not have it."""
IDENTIFY_SINCE: Final[tuple[int, int]] = (
    int(SPEC["blocks"]["identify"]["since"]["major"]),
    int(SPEC["blocks"]["identify"]["since"]["minor"]),
)
"""The contract version that added the identify block (§3.7); older units do not have it."""
ADDRESSING_SINCE: Final[tuple[int, int]] = (
    int(SPEC["blocks"]["address"]["since"]["major"]),
    int(SPEC["blocks"]["address"]["since"]["minor"]),
)
"""The contract version that added the address and select blocks (§3.8)."""

_ENTRY: Final = SPEC["bits"]["event_entry"]
_ENTRY_REFUSED: Final[int] = 1 << int(_ENTRY["refused"])
_ENTRY_CODE_MASK: Final[int] = (1 << (int(_ENTRY["code"][1]) + 1)) - 1
_ENTRY_SEQ_SHIFT: Final[int] = int(_ENTRY["seq_low_byte"][0])
_LED_FIRST: Final[int] = int(SPEC["bits"]["key_leds"]["first_key"])
_LED_LAST: Final[int] = int(SPEC["bits"]["key_leds"]["last_key"])
_LED_MASK: Final[int] = ((1 << (_LED_LAST - _LED_FIRST + 1)) - 1) << (_LED_FIRST - 1)

_check_enum(Function, {k.upper(): v for k, v in SPEC["functions"].items()})
_check_enum(ExceptionCode, {k.upper(): v for k, v in SPEC["exception_codes"].items()})
_check_enum(Key, SPEC["enums"]["key"]["values"])
_check_enum(Beep, SPEC["enums"]["beep"]["values"])
_check_enum(UnitType, SPEC["enums"]["unit_type"]["values"])
_check_enum(StatusFlag, _flag_values(SPEC["bits"]["status_flags"]))
_check_enum(Feature, _flag_values(SPEC["bits"]["features"]))
if STATUS.register("EVENT_RING").count != EVENT_RING:
    raise SpecError(f"{SPEC_FILE}: EVENT_RING holds {EVENT_RING} entries, limits.event_ring")
if CARD.start != STATUS.end:
    raise SpecError(f"{SPEC_FILE}: the card block must follow the status block")
if FORGET.table is not Table.HOLDING or FORGET.start < OUTPUTS.end:
    raise SpecError(f"{SPEC_FILE}: the forget block is holding registers after the outputs")
if IDENTIFY.table is not Table.HOLDING or IDENTIFY.start < FORGET.end or IDENTIFY.count != 1:
    raise SpecError(f"{SPEC_FILE}: the identify block is one holding register after forget")
if ADDRESS.register("ADDRESS_SERIAL").count * 2 != SERIAL_BYTES:
    raise SpecError(f"{SPEC_FILE}: ADDRESS_SERIAL holds a whole SERIAL_NUMBER")
if SELECT.register("SELECT_SLOTS").maximum != SELECT_SLOTS_MAX:
    raise SpecError(f"{SPEC_FILE}: SELECT_SLOTS goes up to limits.select_slots_max")
if IDENTIFY.register("IDENTIFY_S").maximum != IDENTIFY_MAX_S:
    raise SpecError(f"{SPEC_FILE}: IDENTIFY_S goes up to limits.identify_max_s")

_KNOWN_FLAGS: Final = sum(int(f) for f in StatusFlag)
_BEEP_VALUES: Final = frozenset(int(b) for b in Beep)
_KNOWN_FEATURES: Final = sum(int(f) for f in Feature)

LABELS: Final[dict[Key, dict[str, str]]] = {
    Key[name]: {str(lang): str(text) for lang, text in texts.items()}
    for name, texts in SPEC["enums"]["key"]["labels"].items()
}
"""Printed labels of the keys that have one, by language ("vi", "en")."""


# --- typed values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """keypad_modbus.md §3.2: who the unit is; read once per contact."""

    key_count: int
    maker: str
    serial_number: str
    features: Feature = Feature.PRESENCE_KEY | Feature.BEEPER | Feature.PRESENCE_LED
    unit_type: UnitType = UnitType.KEYPAD
    protocol_version: tuple[int, int] = PROTOCOL_VERSION
    firmware_version: tuple[int, int] = (1, 0)
    firmware_patch: int = 0

    @property
    def has_card_reader(self) -> bool:
        return Feature.CARD_READER in self.features

    @property
    def forgets_events(self) -> bool:
        """Whether the unit has the forget block (§3.6): contract 1.1 and later."""
        return self.protocol_version >= FORGET_SINCE

    @property
    def identifies(self) -> bool:
        """Whether the unit has the identify block (§3.7): contract 1.2 and later."""
        return self.protocol_version >= IDENTIFY_SINCE

    @property
    def addressable(self) -> bool:
        """Whether the unit takes an address by its serial (§3.8): contract 1.3 and later."""
        return self.protocol_version >= ADDRESSING_SINCE

    @property
    def contract(self) -> str:
        """The contract version the unit reports, as people write it: "1.1"."""
        return f"{self.protocol_version[0]}.{self.protocol_version[1]}"


@dataclass(frozen=True)
class KeyEvent:
    """keypad_modbus.md §5.1: one press (or presence change), with its sequence number.

    `refused` means the unit did not accept the press (keys locked, or a key above
    ACTIVE_KEYS): the controller logs it as a late or stray press and never counts it.
    """

    key: Key
    seq: int
    refused: bool = False


@dataclass(frozen=True)
class KeypadStatus:
    """keypad_modbus.md §3.3: one poll's answer. `events` are oldest first."""

    flags: StatusFlag
    boot_count: int
    seq: int
    applied_tag: int
    events: tuple[KeyEvent, ...] = ()
    card: int | None = None  # the inserted card's UID; None when none (or not read)

    @property
    def present(self) -> bool:
        return StatusFlag.PRESENT in self.flags

    @property
    def booted(self) -> bool:
        """No tagged write has reached the unit since it started (§5.3)."""
        return StatusFlag.BOOT in self.flags

    @property
    def locked(self) -> bool:
        return StatusFlag.LOCKED in self.flags


@dataclass(frozen=True)
class KeypadOutputs:
    """keypad_modbus.md §3.5: what the controller sets on a unit. Defaults = power-up state."""

    locked: bool = True
    keys: int = 0
    leds: frozenset[int] = frozenset()
    presence_led: bool = False
    beep: Beep = Beep.NONE

    def __post_init__(self) -> None:
        # Exact types: a float or a bool would be shifted into the wrong register bits.
        if type(self.keys) is not int or not 0 <= self.keys <= VOTING_KEYS_MAX:
            raise KeypadUsageError(f"active keys must be 0..{VOTING_KEYS_MAX}, not {self.keys!r}")
        if type(self.locked) is not bool or type(self.presence_led) is not bool:
            raise KeypadUsageError("locked and presence_led are true or false")
        bad = [k for k in self.leds if type(k) is not int or not _LED_FIRST <= k <= _LED_LAST]
        if bad:
            raise KeypadUsageError(f"no LED for keys {sorted(bad)}: keys are 1..{_LED_LAST}")


@dataclass(frozen=True)
class WriteAck:
    """A unit's reply to a write: the registers it applied."""

    start: int
    count: int


@dataclass(frozen=True)
class IdentifyState:
    """keypad_modbus.md §3.7: the identify register read back, the seconds of blinking left."""

    seconds: int


@dataclass(frozen=True)
class EventCursor:
    """Where the controller is in a unit's event stream; persist it to resume exactly."""

    boot_count: int
    seq: int


Reply: TypeAlias = (
    Identity | KeypadStatus | WriteAck | tuple[int, KeypadOutputs] | EventCursor | IdentifyState
)


# --- register codecs --------------------------------------------------------------------------


def _version_reg(version: tuple[int, int]) -> int:
    major, minor = version
    if not (0 <= major <= 0xFF and 0 <= minor <= 0xFF):
        raise KeypadUsageError(f"a version is two bytes: {version}")
    return (major << 8) | minor


def _text_regs(text: str, n_bytes: int, what: str) -> list[int]:
    raw = text.encode("utf-8")
    if len(raw) > n_bytes or "\x00" in text:
        raise KeypadUsageError(f"{what} must be at most {n_bytes} UTF-8 bytes, without NUL")
    raw = raw.ljust(n_bytes, b"\x00")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, n_bytes, 2)]


def _regs_text(regs: Sequence[int], what: str) -> str:
    raw = b"".join(r.to_bytes(2, "big") for r in regs)
    text_part, _, padding = raw.partition(b"\x00")
    if padding.strip(b"\x00"):
        raise KeypadProtocolError(Reason.BAD_TEXT, f"{what}: bytes after the NUL padding")
    try:
        return text_part.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeypadProtocolError(Reason.BAD_TEXT, f"{what}: not UTF-8 ({exc.reason})") from None


def _check_regs(regs: Sequence[int], count: int, what: str) -> None:
    if len(regs) != count:
        raise KeypadProtocolError(
            Reason.WRONG_LENGTH, f"{what}: {len(regs)} registers, {count} expected"
        )
    if any(type(r) is not int or not 0 <= r <= 0xFFFF for r in regs):
        raise KeypadProtocolError(Reason.BAD_VALUE, f"{what}: a register outside 0..0xFFFF")


def encode_identity(identity: Identity) -> list[int]:
    """The identity block's registers, as a unit returns them (§3.2)."""
    if not 1 <= identity.key_count <= VOTING_KEYS_MAX:
        raise KeypadUsageError(f"a keypad has 1..{VOTING_KEYS_MAX} voting keys")
    if not 0 <= identity.firmware_patch <= 0xFFFF:
        raise KeypadUsageError("the firmware patch level is one register")
    return [
        _version_reg(identity.protocol_version),
        int(identity.unit_type),
        identity.key_count,
        int(identity.features),
        _version_reg(identity.firmware_version),
        identity.firmware_patch,
        *_text_regs(identity.maker, MAKER_BYTES, "maker"),
        *_text_regs(identity.serial_number, SERIAL_BYTES, "serial number"),
    ]


def decode_identity_registers(regs: Sequence[int]) -> Identity:
    """Parse the identity block (§3.2); refuses an unknown major version or unit type."""
    _check_regs(regs, IDENTITY.count, "identity block")

    def at(name: str) -> Sequence[int]:
        reg = IDENTITY.register(name)
        off = reg.address - IDENTITY.start
        return regs[off : off + reg.count]

    version = at("PROTOCOL_VERSION")[0]
    protocol = (version >> 8, version & 0xFF)
    if protocol[0] != PROTOCOL_VERSION[0]:
        raise KeypadVersionError(protocol)
    try:
        unit_type = UnitType(at("UNIT_TYPE")[0])
    except ValueError:
        raise KeypadProtocolError(
            Reason.UNSUPPORTED, f"unit type {at('UNIT_TYPE')[0]} is not a keypad"
        ) from None
    key_count = at("KEY_COUNT")[0]
    if not 1 <= key_count <= VOTING_KEYS_MAX:
        raise KeypadProtocolError(Reason.BAD_VALUE, f"KEY_COUNT {key_count} is not 1..10")
    firmware = at("FIRMWARE_VERSION")[0]
    return Identity(
        protocol_version=protocol,
        unit_type=unit_type,
        key_count=key_count,
        # Bits a later minor version adds are not ours to interpret.
        features=Feature(at("FEATURES")[0] & _KNOWN_FEATURES),
        firmware_version=(firmware >> 8, firmware & 0xFF),
        firmware_patch=at("FIRMWARE_PATCH")[0],
        maker=_regs_text(at("MAKER"), "maker"),
        serial_number=_regs_text(at("SERIAL_NUMBER"), "serial number"),
    )


def _event_entry(event: KeyEvent) -> int:
    refused = _ENTRY_REFUSED if event.refused else 0
    return ((event.seq & 0xFF) << _ENTRY_SEQ_SHIFT) | refused | int(event.key)


def encode_status(status: KeypadStatus, *, card: bool = False) -> list[int]:
    """The status block (and, with `card`, the card block after it) as a unit returns it."""
    if len(status.events) > EVENT_RING:
        raise KeypadUsageError(f"the ring holds {EVENT_RING} events")
    for back, event in enumerate(reversed(status.events)):
        if event.seq != (status.seq - back) % SEQ_MODULUS:
            raise KeypadUsageError("events must be consecutive and end at `seq`")
    ring = [_event_entry(e) for e in reversed(status.events)]
    ring += [0] * (EVENT_RING - len(ring))
    regs = [int(status.flags), status.boot_count, status.seq, status.applied_tag, *ring]
    if card:
        uid = status.card or 0
        if not 0 <= uid < 1 << 64:
            raise KeypadUsageError("a card UID is at most 64 bits")
        regs += [(uid >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]
    if any(not 0 <= r <= 0xFFFF for r in regs):
        raise KeypadUsageError("a status field does not fit its register")
    return regs


def decode_status_registers(regs: Sequence[int]) -> KeypadStatus:
    """Parse a poll's registers: the status block, optionally followed by the card block."""
    card_read = len(regs) == STATUS.count + CARD.count
    if not card_read:
        _check_regs(regs, STATUS.count, "status block")
    else:
        _check_regs(regs, STATUS.count + CARD.count, "status and card blocks")
    flags_reg = regs[STATUS.offset("STATUS_FLAGS")]
    flags = StatusFlag(flags_reg & _KNOWN_FLAGS)
    seq = regs[STATUS.offset("EVENT_SEQ")]
    ring_at = STATUS.offset("EVENT_RING")
    newest_first: list[KeyEvent] = []
    ended = False
    for back, entry in enumerate(regs[ring_at : ring_at + EVENT_RING]):
        if entry == 0:
            ended = True
            continue
        if ended:
            raise KeypadProtocolError(Reason.BAD_RING, f"entry {back} follows an empty entry")
        event_seq = (seq - back) % SEQ_MODULUS
        if entry >> _ENTRY_SEQ_SHIFT != event_seq & 0xFF:
            raise KeypadProtocolError(
                Reason.BAD_RING,
                f"entry {back} carries sequence byte {entry >> 8:#04x}, "
                f"expected {event_seq & 0xFF:#04x} (torn snapshot?)",
            )
        code = entry & _ENTRY_CODE_MASK
        refused = bool(entry & _ENTRY_REFUSED)
        try:
            key = Key(code)
        except ValueError:
            raise KeypadProtocolError(Reason.BAD_VALUE, f"unknown event code {code}") from None
        if refused and not key.is_voting_key:
            raise KeypadProtocolError(Reason.BAD_VALUE, f"{key.name} cannot be refused")
        newest_first.append(KeyEvent(key, event_seq, refused))
    uid: int | None = None
    if card_read:
        card_at = STATUS.count
        uid = 0
        for reg in regs[card_at : card_at + CARD.count]:
            uid = (uid << 16) | reg
        if bool(uid) != (StatusFlag.CARD in flags):
            raise KeypadProtocolError(
                Reason.BAD_VALUE, "CARD flag and CARD_ID disagree (one is zero, one is not)"
            )
        uid = uid or None
    return KeypadStatus(
        flags=flags,
        boot_count=regs[STATUS.offset("BOOT_COUNT")],
        seq=seq,
        applied_tag=regs[STATUS.offset("APPLIED_TAG")],
        events=tuple(reversed(newest_first)),
        card=uid,
    )


def _check_tag(tag: int) -> None:
    if type(tag) is not int or not 1 <= tag < TAG_MODULUS:
        raise KeypadUsageError(f"an output tag is 1..{TAG_MODULUS - 1}, not {tag}")


def next_tag(tag: int) -> int:
    """The tag after `tag`, skipping 0 (which means "never written", §5.2)."""
    return tag % (TAG_MODULUS - 1) + 1


def _led_bits(leds: Iterable[int]) -> int:
    bits = 0
    for key in leds:
        bits |= 1 << (key - 1)
    return bits


def encode_outputs(outputs: KeypadOutputs, tag: int) -> list[int]:
    """The whole output block, in register order (§3.5)."""
    _check_tag(tag)
    values = {
        "OUTPUT_TAG": tag,
        "LOCK": int(outputs.locked),
        "BEEP": int(outputs.beep),
        "ACTIVE_KEYS": outputs.keys,
        "KEY_LEDS": _led_bits(outputs.leds),
        "PRESENCE_LED": int(outputs.presence_led),
    }
    return [values[reg.name] for reg in OUTPUTS.registers]


def decode_outputs(regs: Sequence[int]) -> tuple[int, KeypadOutputs]:
    """The output block read back (function 0x03): (tag, outputs)."""
    _check_regs(regs, OUTPUTS.count, "output block")
    problem = _output_problem(OUTPUTS.start, regs)
    if problem:
        raise KeypadProtocolError(Reason.BAD_VALUE, problem)
    by_name = {reg.name: regs[reg.address - OUTPUTS.start] for reg in OUTPUTS.registers}
    leds = frozenset(
        k for k in range(_LED_FIRST, _LED_LAST + 1) if by_name["KEY_LEDS"] >> (k - 1) & 1
    )
    return by_name["OUTPUT_TAG"], KeypadOutputs(
        locked=bool(by_name["LOCK"]),
        keys=by_name["ACTIVE_KEYS"],
        leds=leds,
        presence_led=bool(by_name["PRESENCE_LED"]),
        beep=Beep(by_name["BEEP"]),
    )


def encode_forget(cursor: EventCursor) -> list[int]:
    """The forget block (§3.6): empty the ring up to `cursor`, if the unit is in that start."""
    values = {"FORGET_BOOT": cursor.boot_count, "FORGET_SEQ": cursor.seq}
    if any(type(v) is not int or not 0 <= v <= 0xFFFF for v in values.values()):
        raise KeypadUsageError(
            f"a boot count and a sequence number are one register each: {cursor}"
        )
    return [values[reg.name] for reg in FORGET.registers]


def decode_forget(regs: Sequence[int]) -> EventCursor:
    """The forget block read back (function 0x03): the last (boot, seq) written to it."""
    _check_regs(regs, FORGET.count, "forget block")
    return EventCursor(regs[FORGET.offset("FORGET_BOOT")], regs[FORGET.offset("FORGET_SEQ")])


def _check_identify_seconds(seconds: int) -> None:
    if type(seconds) is not int or not 0 <= seconds <= IDENTIFY_MAX_S:
        raise KeypadUsageError(
            f"a unit identifies itself for 0..{IDENTIFY_MAX_S} s, not {seconds!r}"
        )


def encode_identify(seconds: int) -> list[int]:
    """The identify block (§3.7): blink every LED for `seconds` (0 stops)."""
    _check_identify_seconds(seconds)
    return [seconds]


def decode_identify(regs: Sequence[int]) -> IdentifyState:
    """The identify block read back (function 0x03): the seconds of blinking left."""
    _check_regs(regs, IDENTIFY.count, "identify block")
    seconds = regs[IDENTIFY.offset("IDENTIFY_S")]
    if seconds > IDENTIFY_MAX_S:
        raise KeypadProtocolError(
            Reason.BAD_VALUE, f"IDENTIFY_S {seconds} is not 0..{IDENTIFY_MAX_S}"
        )
    return IdentifyState(seconds)


@dataclass(frozen=True)
class AddressAssignment:
    """The address block (§3.8): the unit with serial `serial` takes `address`."""

    serial: str
    address: int


@dataclass(frozen=True)
class Selection:
    """The select block (§3.8): with `slots` 0 every unit answers; else only those whose
    slot (`select_slot`) is `slot` answer frames addressed to them."""

    slots: int = 0
    nonce: int = 0
    slot: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.slots <= SELECT_SLOTS_MAX or not 0 <= self.nonce <= 0xFF:
            raise KeypadUsageError(f"slots 0..{SELECT_SLOTS_MAX}, nonce 0..255: {self}")
        if self.slots and not 0 <= self.slot < self.slots:
            raise KeypadUsageError(f"slot {self.slot} is not below {self.slots} slots")
        if not self.slots and self.slot:
            raise KeypadUsageError("no slot without slots")


def select_slot(serial: str, nonce: int, slots: int) -> int:
    """§3.8: the slot of the unit with `serial` in a selection round: the mic-unit contract's
    discovery formula on the CRC-32 of the 16 bytes of SERIAL_NUMBER."""
    if not 1 <= slots <= SELECT_SLOTS_MAX:
        raise KeypadUsageError(f"a round has 1..{SELECT_SLOTS_MAX} slots, not {slots}")
    raw = b"".join(reg.to_bytes(2, "big") for reg in _text_regs(serial, SERIAL_BYTES, "serial"))
    return micunit.discovery_slot(zlib.crc32(raw), nonce, slots)


def encode_address(assignment: AddressAssignment) -> list[int]:
    """The address block (§3.8)."""
    if not assignment.serial:
        raise KeypadUsageError("an address goes to a unit named by its serial number")
    if not FIRST_UNIT <= assignment.address <= LAST_UNIT:
        raise KeypadUsageError(f"a unit address is {FIRST_UNIT}..{LAST_UNIT}")
    return [*_text_regs(assignment.serial, SERIAL_BYTES, "serial"), assignment.address]


def decode_address(regs: Sequence[int]) -> AddressAssignment:
    """The address block as a unit receives it."""
    _check_regs(regs, ADDRESS.count, "address block")
    serial = _regs_text(regs[: ADDRESS.register("ADDRESS_SERIAL").count], "ADDRESS_SERIAL")
    address = regs[ADDRESS.offset("NEW_ADDRESS")]
    if not serial or not FIRST_UNIT <= address <= LAST_UNIT:
        raise KeypadProtocolError(Reason.BAD_VALUE, f"serial {serial!r}, NEW_ADDRESS {address}")
    return AddressAssignment(serial, address)


def encode_select(selection: Selection) -> list[int]:
    """The select block (§3.8)."""
    return [selection.slots, selection.nonce, selection.slot]


def decode_select(regs: Sequence[int]) -> Selection:
    """The select block as a unit receives it."""
    _check_regs(regs, SELECT.count, "select block")
    try:
        return Selection(*regs)
    except KeypadUsageError as exc:
        raise KeypadProtocolError(Reason.BAD_VALUE, str(exc)) from exc


def set_address_request(serial: str, address: int) -> WriteMultipleRegistersRequest:
    """§3.8: a broadcast; only the unit whose SERIAL_NUMBER is `serial` takes `address`."""
    regs = encode_address(AddressAssignment(serial, address))
    return WriteMultipleRegistersRequest(address=ADDRESS.start, registers=regs, dev_id=BROADCAST)


def select_request(selection: Selection) -> WriteMultipleRegistersRequest:
    """§3.8: a broadcast; from now on only the selected slot answers (Selection() ends it)."""
    regs = encode_select(selection)
    return WriteMultipleRegistersRequest(address=SELECT.start, registers=regs, dev_id=BROADCAST)


def _output_problem(start: int, values: Sequence[int]) -> str | None:
    """Why a write of `values` at `start` into the output block is refused, or None (§5.2)."""
    for address, value in enumerate(values, start):
        reg = OUTPUTS.registers[address - OUTPUTS.start]
        if reg.type == "enum":
            if value not in _BEEP_VALUES:
                return f"{reg.name}: {value} is not a pattern"
        elif reg.type == "bits":
            if value & ~_LED_MASK:
                return f"{reg.name}: bits beyond key {_LED_LAST}"
        elif (
            reg.minimum is not None
            and reg.maximum is not None
            and not reg.minimum <= value <= reg.maximum
        ):
            return f"{reg.name}: {value} is not {reg.minimum}..{reg.maximum}"
    return None


# --- requests (controller side) -------------------------------------------------------------


def _check_unit(unit: int) -> None:
    if type(unit) is not int or not FIRST_UNIT <= unit <= LAST_UNIT:
        raise KeypadUsageError(f"a keypad address is {FIRST_UNIT}..{LAST_UNIT}, not {unit}")


def read_identity_request(unit: int) -> ReadInputRegistersRequest:
    """§3.2: read the whole identity block."""
    _check_unit(unit)
    return ReadInputRegistersRequest(address=IDENTITY.start, count=IDENTITY.count, dev_id=unit)


def poll_count(*, card: bool) -> int:
    """Registers one poll reads (§6.3): the status block, plus the card block for readers."""
    return STATUS.count + (CARD.count if card else 0)


def read_status_request(unit: int, *, card: bool = False) -> ReadInputRegistersRequest:
    """The poll (§3.3): one read per unit per cycle."""
    _check_unit(unit)
    return ReadInputRegistersRequest(address=STATUS.start, count=poll_count(card=card), dev_id=unit)


def read_outputs_request(unit: int) -> ReadHoldingRegistersRequest:
    """Read the output block back (diagnostics; the poll's APPLIED_TAG usually suffices)."""
    _check_unit(unit)
    return ReadHoldingRegistersRequest(address=OUTPUTS.start, count=OUTPUTS.count, dev_id=unit)


def write_outputs_request(
    unit: int, outputs: KeypadOutputs, tag: int
) -> WriteMultipleRegistersRequest:
    """§5.2: a unicast write is always the whole output block, so one write is a resync."""
    _check_unit(unit)
    regs = encode_outputs(outputs, tag)
    return WriteMultipleRegistersRequest(address=OUTPUTS.start, registers=regs, dev_id=unit)


def forget_events_request(unit: int, cursor: EventCursor) -> WriteMultipleRegistersRequest:
    """§3.6: the unit empties its ring entries up to `cursor.seq`, if it is still in the start
    `cursor.boot_count`. Never a broadcast: each unit has its own place in its numbering."""
    _check_unit(unit)
    regs = encode_forget(cursor)
    return WriteMultipleRegistersRequest(address=FORGET.start, registers=regs, dev_id=unit)


def identify_request(unit: int, seconds: int) -> WriteSingleRegisterRequest:
    """§3.7: the unit blinks every LED for `seconds` (0 stops). Never a broadcast: it names
    one unit. Only for a unit whose contract has the block (`Identity.identifies`)."""
    _check_unit(unit)
    regs = encode_identify(seconds)
    return WriteSingleRegisterRequest(address=IDENTIFY.start, registers=regs, dev_id=unit)


def read_identify_request(unit: int) -> ReadHoldingRegistersRequest:
    """Read the identify block back: the seconds of blinking left (diagnostics, tests)."""
    _check_unit(unit)
    return ReadHoldingRegistersRequest(address=IDENTIFY.start, count=IDENTIFY.count, dev_id=unit)


def read_forget_request(unit: int) -> ReadHoldingRegistersRequest:
    """Read the forget block back (diagnostics)."""
    _check_unit(unit)
    return ReadHoldingRegistersRequest(address=FORGET.start, count=FORGET.count, dev_id=unit)


class BroadcastCommand(StrEnum):
    """§5.4: the prefixes of the output block a broadcast may write."""

    LOCK = "lock"
    BEEP = "beep"
    VOTE = "vote"


def _broadcast(command: BroadcastCommand, values: list[int]) -> WriteMultipleRegistersRequest:
    shape = SPEC["broadcast"][command.value]
    count = int(shape["count"])
    return WriteMultipleRegistersRequest(
        address=int(shape["start"]), registers=values[:count], dev_id=BROADCAST
    )


def broadcast_lock_request(tag: int, *, locked: bool) -> WriteMultipleRegistersRequest:
    """Lock or unlock every keypad of the line (vote on hold / resumed); LEDs stay."""
    return _broadcast(BroadcastCommand.LOCK, encode_outputs(KeypadOutputs(locked=locked), tag))


def broadcast_beep_request(tag: int, *, locked: bool, beep: Beep) -> WriteMultipleRegistersRequest:
    """Sound a pattern on every keypad; `locked` restates the line's lock state."""
    outputs = KeypadOutputs(locked=locked, beep=beep)
    return _broadcast(BroadcastCommand.BEEP, encode_outputs(outputs, tag))


def broadcast_vote_request(
    tag: int,
    *,
    locked: bool,
    keys: int,
    leds: frozenset[int] = frozenset(),
    beep: Beep = Beep.NONE,
) -> WriteMultipleRegistersRequest:
    """Open a vote with `keys` keys (clearing the LEDs), or close one; presence LEDs stay."""
    outputs = KeypadOutputs(locked=locked, keys=keys, leds=leds, beep=beep)
    return _broadcast(BroadcastCommand.VOTE, encode_outputs(outputs, tag))


@dataclass(frozen=True)
class BroadcastPlan:
    """One broadcast of §5.4: `command` writes its prefix of `outputs` to every unit."""

    command: BroadcastCommand
    outputs: KeypadOutputs

    def apply(self, have: KeypadOutputs) -> KeypadOutputs:
        """What a unit that had `have` shows after this broadcast (presence LED untouched)."""
        o = self.outputs
        if self.command is BroadcastCommand.LOCK:
            return replace(have, locked=o.locked, beep=Beep.NONE)
        if self.command is BroadcastCommand.VOTE:
            return replace(have, locked=o.locked, keys=o.keys, leds=o.leds, beep=Beep.NONE)
        return replace(have, locked=o.locked, beep=Beep.NONE)


@dataclass(frozen=True)
class WritePlan:
    """How to bring a line's units to what they should show: at most one broadcast, then a
    unicast of the whole block to each unit in `unicast`, in that order."""

    broadcast: BroadcastPlan | None
    unicast: tuple[int, ...]


def _quiet(outputs: KeypadOutputs) -> KeypadOutputs:
    return replace(outputs, beep=Beep.NONE)


def plan_writes(units: Mapping[int, tuple[KeypadOutputs | None, KeypadOutputs]]) -> WritePlan:
    """The fewest frames that make every unit show what it should (keypad_modbus.md §5.4).

    `units` maps an address to (what the unit is known to show, or None when unknown; what
    it should show). Without a broadcast each unit that differs gets a unicast; a lock or
    vote broadcast is chosen when it and the unicasts it still leaves (units it sets wrong,
    or could not set right) are fewer frames. The unicasts left after a broadcast come
    locked first, so that a unit the broadcast unlocked by mistake is locked again soonest.
    Beeps are not planned here: a unit with a pending beep is written by its caller anyway.
    """

    def needing(plan: BroadcastPlan | None) -> list[int]:
        out: list[int] = []
        for address, (have, want) in units.items():
            after = have if plan is None or have is None else plan.apply(have)
            if after is None or _quiet(after) != _quiet(want):
                out.append(address)
        return out

    best: tuple[int, BroadcastPlan | None, list[int]]
    plain = needing(None)
    best = (len(plain), None, plain)
    if not plain:
        return WritePlan(None, ())
    candidates: list[BroadcastPlan] = []
    for locked in (True, False):
        candidates.append(BroadcastPlan(BroadcastCommand.LOCK, KeypadOutputs(locked=locked)))
    prefixes = sorted(
        {(w.locked, w.keys, tuple(sorted(w.leds))) for _, w in units.values()},
        key=lambda p: (not p[0], p[1], p[2]),
    )
    for locked, keys, leds in prefixes:
        outputs = KeypadOutputs(locked=locked, keys=keys, leds=frozenset(leds))
        candidates.append(BroadcastPlan(BroadcastCommand.VOTE, outputs))
    for plan in candidates:
        left = needing(plan)
        if 1 + len(left) < best[0]:
            best = (1 + len(left), plan, left)
    _, chosen, left = best
    order = sorted(left, key=lambda a: (not units[a][1].locked, a))
    return WritePlan(chosen, tuple(order))


def broadcast_request(tag: int, plan: BroadcastPlan) -> WriteMultipleRegistersRequest:
    """The frame of a planned broadcast."""
    o = plan.outputs
    if plan.command is BroadcastCommand.LOCK:
        return broadcast_lock_request(tag, locked=o.locked)
    if plan.command is BroadcastCommand.BEEP:
        return broadcast_beep_request(tag, locked=o.locked, beep=o.beep)
    return broadcast_vote_request(tag, locked=o.locked, keys=o.keys, leds=o.leds)


# --- replies (controller side) --------------------------------------------------------------


def _expect(request: ModbusPDU, response: ModbusPDU) -> None:
    if response.dev_id != request.dev_id:
        raise KeypadProtocolError(
            Reason.WRONG_UNIT, f"reply from unit {response.dev_id}, asked {request.dev_id}"
        )
    if isinstance(response, ExceptionResponse) or response.function_code & 0x80:
        raise KeypadExceptionResponse(response.function_code & 0x7F, response.exception_code)
    if response.function_code != request.function_code:
        raise KeypadProtocolError(
            Reason.WRONG_FUNCTION,
            f"reply function {response.function_code:#04x} to {request.function_code:#04x}",
        )


def decode_reply(request: ModbusPDU, response: ModbusPDU) -> Reply:
    """Check `response` answers `request` and give its meaning.

    Identity for the identity read, KeypadStatus for a poll, (tag, KeypadOutputs) for the
    output block read back, WriteAck for a write.
    """
    _expect(request, response)
    # pymodbus's input-register read derives from its holding-register read: go by code.
    if isinstance(request, ReadHoldingRegistersRequest):
        regs = list(response.registers)
        if len(regs) != request.count:
            raise KeypadProtocolError(
                Reason.WRONG_LENGTH, f"{len(regs)} registers, {request.count} asked"
            )
        if request.function_code == Function.READ_HOLDING_REGISTERS:
            if (request.address, request.count) == (FORGET.start, FORGET.count):
                return decode_forget(regs)
            if (request.address, request.count) == (IDENTIFY.start, IDENTIFY.count):
                return decode_identify(regs)
            if request.address != OUTPUTS.start or request.count != OUTPUTS.count:
                raise KeypadUsageError("only a whole holding block is decoded")
            return decode_outputs(regs)
        if request.address == IDENTITY.start and request.count == IDENTITY.count:
            return decode_identity_registers(regs)
        if request.address == STATUS.start and request.count in (
            poll_count(card=False),
            poll_count(card=True),
        ):
            return decode_status_registers(regs)
        raise KeypadUsageError(f"no meaning for a read of {request.count} at {request.address}")
    if isinstance(request, WriteMultipleRegistersRequest):
        if response.address != request.address or response.count != request.count:
            raise KeypadProtocolError(
                Reason.WRONG_ECHO,
                f"wrote {request.count} at {request.address}, "
                f"unit says {response.count} at {response.address}",
            )
        return WriteAck(request.address, request.count)
    if isinstance(request, WriteSingleRegisterRequest):
        if response.address != request.address or list(response.registers) != list(
            request.registers
        ):
            raise KeypadProtocolError(Reason.WRONG_ECHO, "single write echo differs")
        return WriteAck(request.address, 1)
    raise KeypadUsageError(f"not a keypad request: {type(request).__name__}")


def decode_status(response: ModbusPDU, unit: int, *, card: bool = False) -> KeypadStatus:
    """Decode a poll reply (e.g. from a pymodbus client call)."""
    reply = decode_reply(read_status_request(unit, card=card), response)
    if not isinstance(reply, KeypadStatus):  # pragma: no cover - decode_reply's contract
        raise KeypadUsageError("a poll did not decode to a status")
    return reply


def decode_identity(response: ModbusPDU, unit: int) -> Identity:
    """Decode the identity read's reply."""
    reply = decode_reply(read_identity_request(unit), response)
    if not isinstance(reply, Identity):  # pragma: no cover - decode_reply's contract
        raise KeypadUsageError("an identity read did not decode to an identity")
    return reply


# --- frames -----------------------------------------------------------------------------------


class Transport(StrEnum):
    RTU = "rtu"
    TCP = "tcp"


class Side(StrEnum):
    """Which end decodes: the controller reads replies, a unit (or simulator) requests."""

    CONTROLLER = "controller"
    UNIT = "unit"


_DECODERS: Final = {Side.CONTROLLER: DecodePDU(False), Side.UNIT: DecodePDU(True)}
_RTU: Final = FramerRTU(_DECODERS[Side.CONTROLLER])
_TCP: Final = FramerSocket(_DECODERS[Side.CONTROLLER])
_KNOWN_FCS: Final = frozenset(DecodePDU.pdu_table)
_RTU_MIN: Final = 4  # address, function, CRC
_MBAP: Final = 7  # transaction id, protocol id, length, unit id
_PDU_MAX: Final = 253


def encode_frame(pdu: ModbusPDU, transport: Transport = Transport.RTU) -> bytes:
    """The ADU for `pdu` (pymodbus's framer): RTU with CRC, or Modbus TCP with MBAP."""
    framer = _RTU if transport is Transport.RTU else _TCP
    try:
        return framer.buildFrame(pdu)
    except _PYMODBUS_PARSE_ERRORS as exc:
        raise KeypadUsageError(f"cannot encode {type(pdu).__name__}: {exc}") from exc


def _rtu_crc_ok(frame: bytes) -> bool:
    return FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


class _AnyCountInputRead(ReadInputRegistersRequest):
    """A read request as a unit receives it, whatever its count: pymodbus refuses to decode
    a count of 0 or above 125, where a keypad must answer 0x03 (§2.4)."""

    def encode(self) -> bytes:
        return struct.pack(">HH", self.address, self.count)

    def decode(self, data: bytes) -> None:
        self.address, self.count = struct.unpack(">HH", data[:4])


class _AnyCountHoldingRead(ReadHoldingRegistersRequest):
    """The same for holding registers."""

    def encode(self) -> bytes:
        return struct.pack(">HH", self.address, self.count)

    def decode(self, data: bytes) -> None:
        self.address, self.count = struct.unpack(">HH", data[:4])


_ANY_COUNT_READS: Final[dict[int, type[ModbusPDU]]] = {
    0x04: _AnyCountInputRead,
    0x03: _AnyCountHoldingRead,
}


def _decode_pdu(side: Side, payload: bytes, unit: int, tid: int) -> ModbusPDU | None:
    if not payload:
        return None
    if side is Side.UNIT and len(payload) == 5 and payload[0] in _ANY_COUNT_READS:
        count = int.from_bytes(payload[3:5], "big")
        if not 1 <= count <= MAX_READ_COUNT:
            read = _ANY_COUNT_READS[payload[0]]()
            read.decode(payload[1:])
            read.dev_id = unit
            read.transaction_id = tid
            return read
    # pymodbus's PDU classes do the parsing; DecodePDU.decode would do the same but log a
    # warning for every bad frame, which on a noisy line floods the log.
    try:
        pdu_class = _DECODERS[side].lookupPduClass(b"\x00" + payload)
        if pdu_class is None:
            return None
        if pdu_class is ExceptionResponse:
            pdu: ModbusPDU = ExceptionResponse(payload[0] & 0x7F)
        else:
            pdu = pdu_class()
        pdu.decode(payload[1:])
    except _PYMODBUS_PARSE_ERRORS:
        return None
    try:
        # pymodbus ignores trailing bytes; a frame that does not re-encode to itself is
        # not a frame this contract sends.
        if bytes([pdu.function_code]) + pdu.encode() != payload:
            return None
    except _PYMODBUS_PARSE_ERRORS:
        return None
    pdu.dev_id = unit
    pdu.transaction_id = tid
    return pdu


def decode_frame(
    frame: bytes, transport: Transport = Transport.RTU, side: Side = Side.CONTROLLER
) -> ModbusPDU:
    """One whole ADU to its PDU; anything else raises KeypadProtocolError."""
    if transport is Transport.RTU:
        if len(frame) < _RTU_MIN:
            raise KeypadProtocolError(Reason.TRUNCATED, f"{len(frame)} bytes")
        if not _rtu_crc_ok(frame):
            raise KeypadProtocolError(Reason.BAD_CRC, frame[-2:].hex(" "))
        unit, tid, payload = frame[0], 0, frame[1:-2]
    else:
        if len(frame) < _MBAP + 1:
            raise KeypadProtocolError(Reason.TRUNCATED, f"{len(frame)} bytes")
        tid, pid, length, unit = struct.unpack(">HHHB", frame[:_MBAP])
        if pid != 0:
            raise KeypadProtocolError(Reason.BAD_HEADER, f"protocol id {pid}")
        if length != len(frame) - 6:
            raise KeypadProtocolError(
                Reason.WRONG_LENGTH, f"MBAP length {length}, {len(frame) - 6} bytes follow"
            )
        payload = frame[_MBAP:]
    pdu = _decode_pdu(side, payload, unit, tid)
    if pdu is None:
        raise KeypadProtocolError(Reason.UNDECODABLE, f"function {payload[0]:#04x}")
    return pdu


@dataclass
class KeypadFramer:
    """Sans-IO: feed bytes from the line, get whole PDUs out.

    RTU has no start byte, so after noise it hunts: it tries each byte as the start of a
    frame, using pymodbus's PDU tables for the length and its CRC routine, and keeps a
    candidate only when the CRC holds. A plausible header that would need more bytes does
    not stall a complete valid frame behind it. Over TCP the MBAP length delimits frames;
    a header that cannot be right raises KeypadProtocolError (the stream is lost; reconnect).
    The buffer is capped: beyond `cap` bytes the oldest are dropped and counted.
    """

    transport: Transport = Transport.RTU
    side: Side = Side.CONTROLLER
    cap: int = 1024
    dropped: int = field(default=0, init=False)  # bytes discarded as noise or overflow
    _buffer: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def reset(self) -> None:
        """Forget buffered bytes (a driver calls this when a response timeout expires)."""
        self.dropped += len(self._buffer)
        self._buffer.clear()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[ModbusPDU]:
        self._buffer += data
        if len(self._buffer) > self.cap:
            excess = len(self._buffer) - self.cap
            del self._buffer[:excess]
            self.dropped += excess
        out: list[ModbusPDU] = []
        while self._buffer:
            pdu = self._next_rtu() if self.transport is Transport.RTU else self._next_tcp()
            if pdu is None:
                break
            out.append(pdu)
        return out

    def _rtu_size(self, data: bytes) -> int | None:
        """Frame size if `data` starts a plausible frame, 0 if unknown yet, None if not."""
        # Replies come from units 1..247; requests also go to 0 (broadcast).
        if data[0] > LAST_UNIT or (data[0] == BROADCAST and self.side is Side.CONTROLLER):
            return None
        # pymodbus takes any byte >= 0x80 for an exception reply; only a known function's is.
        if data[1] & 0x80 and (self.side is Side.UNIT or data[1] & 0x7F not in _KNOWN_FCS):
            return None
        try:
            pdu_class = _DECODERS[self.side].lookupPduClass(data)
            if pdu_class is None:
                return None
            return int(pdu_class.calculateRtuFrameSize(data))
        except _PYMODBUS_PARSE_ERRORS:
            return None

    def _next_rtu(self) -> ModbusPDU | None:
        data = bytes(self._buffer)
        waiting_at: int | None = None
        for start in range(len(data) - _RTU_MIN + 1):
            # The header (function, sub-function, byte count) lies in the first 16 bytes.
            size = self._rtu_size(data[start : start + 16])
            if size is None or size > 256:
                continue
            if size < _RTU_MIN or start + size > len(data):
                # Maybe a frame still arriving; keep looking for a complete one behind it.
                if waiting_at is None:
                    waiting_at = start
                continue
            frame = data[start : start + size]
            if not _rtu_crc_ok(frame):
                continue
            pdu = _decode_pdu(self.side, frame[1:-2], frame[0], 0)
            if pdu is None:
                continue
            self.dropped += start
            del self._buffer[: start + size]
            return pdu
        # Nothing complete: keep from the first candidate on (or the last bytes that may
        # still become a header), drop what can never start a frame.
        keep_from = waiting_at if waiting_at is not None else max(0, len(data) - _RTU_MIN + 1)
        self.dropped += keep_from
        del self._buffer[:keep_from]
        return None

    def _next_tcp(self) -> ModbusPDU | None:
        if len(self._buffer) < _MBAP + 1:
            return None
        tid, pid, length, unit = struct.unpack(">HHHB", self._buffer[:_MBAP])
        if pid != 0 or not 2 <= length <= _PDU_MAX + 1:
            self.reset()
            raise KeypadProtocolError(Reason.BAD_HEADER, f"protocol id {pid}, length {length}")
        if len(self._buffer) < 6 + length:
            return None
        payload = bytes(self._buffer[_MBAP : 6 + length])
        del self._buffer[: 6 + length]
        pdu = _decode_pdu(self.side, payload, unit, tid)
        if pdu is None:
            raise KeypadProtocolError(Reason.UNDECODABLE, f"function {payload[0]:#04x}")
        return pdu


# --- the unit side ----------------------------------------------------------------------------


class KeypadRegisters:
    """The register image of one keypad, behaving as §5 says; the simulator's unit.

    Physical actions (`press`, `press_presence`, `insert_card`, `remove_card`, `restart`)
    change it the way the firmware would; `handle` answers one request PDU.
    """

    def __init__(self, identity: Identity, *, boot_count: int = 1) -> None:
        self.identity = identity
        self._identity_regs = encode_identity(identity)
        # The forget block exists from contract 1.1 on (§3.6); it survives no restart.
        self._forget: list[int] | None = [0] * FORGET.count if identity.forgets_events else None
        # The identify block exists from contract 1.2 on (§3.7); a start sets it to 0.
        self._identify: list[int] | None = [0] * IDENTIFY.count if identity.identifies else None
        # Every identify write applied, in order (its seconds): the unit's firmware (the
        # simulator) starts or stops its blinking on each, on a clock of its own.
        self.identified: list[int] = []
        # Address and select blocks (§3.8, since 1.3): an address the unit took (its firmware,
        # the simulator, moves it there and keeps it across restarts) and the selection.
        self.taken_address: int | None = None
        self.selection = Selection()
        self.boot_count = boot_count & 0xFFFF
        self.sounded: list[Beep] = []
        self.key_stuck = False
        self.card_id: int | None = None
        self._start()

    def _start(self) -> None:
        self.seq = 0
        self._ring: list[KeyEvent] = []  # oldest first, at most EVENT_RING
        self._holding = encode_outputs(KeypadOutputs(), 1)
        self._holding[OUTPUTS.offset("OUTPUT_TAG")] = 0  # nothing written yet
        if self._forget is not None:
            self._forget = [0] * FORGET.count
        if self._identify is not None:
            self._identify = [0] * IDENTIFY.count
        self.selection = Selection()  # a start ends a selection (§3.8)
        self.present = False
        if self.card_id is not None:
            self._record(Key.PRESENCE_ON)
            self.present = True

    # physical actions

    def restart(self) -> None:
        """Power cycle or watchdog reset: a new BOOT_COUNT, empty ring, default outputs."""
        self.boot_count = (self.boot_count + 1) & 0xFFFF
        self._start()

    def _record(self, key: Key, refused: bool = False) -> KeyEvent:
        self.seq = (self.seq + 1) % SEQ_MODULUS
        event = KeyEvent(key, self.seq, refused)
        self._ring = [*self._ring, event][-EVENT_RING:]
        return event

    def press(self, key: int) -> KeyEvent:
        """A voting key pressed; refused when locked or above ACTIVE_KEYS."""
        if not 1 <= key <= self.identity.key_count:
            raise KeypadUsageError(f"this keypad has keys 1..{self.identity.key_count}")
        outputs = self.outputs
        refused = outputs.locked or key > outputs.keys
        return self._record(Key(key), refused)

    def press_presence(self) -> KeyEvent:
        """The presence key toggles the seat's presence latch (§5.5)."""
        if Feature.PRESENCE_KEY not in self.identity.features:
            raise KeypadUsageError("this keypad has no presence key")
        self.present = not self.present
        return self._record(Key.PRESENCE_ON if self.present else Key.PRESENCE_OFF)

    def insert_card(self, card_id: int) -> KeyEvent | None:
        if not self.identity.has_card_reader:
            raise KeypadUsageError("this keypad has no card reader")
        if not 0 < card_id < 1 << 64:
            raise KeypadUsageError("a card UID is 1..2**64-1")
        self.card_id = card_id
        if self.present:
            return None
        self.present = True
        return self._record(Key.PRESENCE_ON)

    def remove_card(self) -> KeyEvent | None:
        if self.card_id is None:
            return None
        self.card_id = None
        self.present = False
        return self._record(Key.PRESENCE_OFF)

    # what the registers hold

    @property
    def applied_tag(self) -> int:
        return self._holding[OUTPUTS.offset("OUTPUT_TAG")]

    @property
    def identify_s(self) -> int | None:
        """IDENTIFY_S as a read returns it (the seconds left), or None without the block."""
        return None if self._identify is None else self._identify[0]

    def identify_left(self, seconds: int) -> None:
        """The firmware's clock counts the blinking down: IDENTIFY_S reads `seconds` now."""
        if self._identify is None:
            raise KeypadUsageError("this keypad has no identify block (contract 1.2)")
        _check_identify_seconds(seconds)
        self._identify = [seconds]

    @property
    def outputs(self) -> KeypadOutputs:
        regs = list(self._holding)
        regs[OUTPUTS.offset("OUTPUT_TAG")] = 1  # decode_outputs wants a valid tag
        return decode_outputs(regs)[1]

    def status(self) -> KeypadStatus:
        flags = StatusFlag(0)
        if self.applied_tag == 0:
            flags |= StatusFlag.BOOT
        if self.present:
            flags |= StatusFlag.PRESENT
        if self.card_id is not None:
            flags |= StatusFlag.CARD
        if self.outputs.locked:
            flags |= StatusFlag.LOCKED
        if self.key_stuck:
            flags |= StatusFlag.KEY_STUCK
        return KeypadStatus(
            flags=flags,
            boot_count=self.boot_count,
            seq=self.seq,
            applied_tag=self.applied_tag,
            events=tuple(self._ring),
            card=self.card_id,
        )

    def _input_image(self) -> tuple[int, list[int]]:
        # Only a card reader has the card block; elsewhere those addresses do not exist.
        card = self.identity.has_card_reader
        return STATUS.start, encode_status(self.status(), card=card)

    def read(self, table: Table, address: int, count: int) -> list[int] | ExceptionCode:
        """Registers a read returns, or the exception the unit answers (§2.4)."""
        if not 1 <= count <= MAX_READ_COUNT:
            return ExceptionCode.ILLEGAL_DATA_VALUE
        images: list[tuple[int, list[int]]]
        if table is Table.HOLDING:
            images = [(OUTPUTS.start, self._holding)]
            if self._forget is not None:
                images.append((FORGET.start, self._forget))
            if self._identify is not None:
                images.append((IDENTIFY.start, self._identify))
        else:
            images = [(IDENTITY.start, self._identity_regs), self._input_image()]
        for start, image in images:
            if start <= address and address + count <= start + len(image):
                return list(image[address - start : address - start + count])
        return ExceptionCode.ILLEGAL_DATA_ADDRESS

    def silenced(self) -> bool:
        """Whether a selection (§3.8) keeps the unit from answering frames addressed to it."""
        sel = self.selection
        if not sel.slots:
            return False
        return select_slot(self.identity.serial_number, sel.nonce, sel.slots) != sel.slot

    def _broadcast_addressing(self, request: WriteMultipleRegistersRequest) -> None:
        """§3.8: the address and select blocks, taken from a broadcast only, whole or not at
        all; a value out of range is ignored (a broadcast has no one to refuse it to)."""
        values = list(request.registers)
        if request.address == ADDRESS.start and len(values) == ADDRESS.count:
            try:
                assignment = decode_address(values)
            except KeypadProtocolError:
                return
            if assignment.serial == self.identity.serial_number:
                self.taken_address = assignment.address
        elif request.address == SELECT.start and len(values) == SELECT.count:
            with contextlib.suppress(KeypadProtocolError):
                self.selection = decode_select(values)

    def forget(self, cursor: EventCursor) -> None:
        """§3.6: empty the ring entries of event `cursor.seq` and older, in start
        `cursor.boot_count` only. Numbering goes on: EVENT_SEQ does not change."""
        if cursor.boot_count != self.boot_count:
            return
        back = (self.seq - cursor.seq) % SEQ_MODULUS  # entry `back` is event cursor.seq
        if back < len(self._ring):
            self._ring = self._ring[len(self._ring) - back :] if back else []

    def write(self, address: int, values: Sequence[int]) -> ExceptionCode | None:
        """Apply a write to the output block as a whole, or refuse it as a whole (§5.2); a
        write of the whole forget block empties the ring up to it (§3.6)."""
        if not 1 <= len(values) <= MAX_WRITE_COUNT:
            return ExceptionCode.ILLEGAL_DATA_VALUE
        if self._forget is not None and FORGET.start <= address < FORGET.end:
            if address != FORGET.start or len(values) != FORGET.count:
                # Within the block, but not the whole of it: written whole or not at all.
                return (
                    ExceptionCode.ILLEGAL_DATA_VALUE
                    if address + len(values) <= FORGET.end
                    else ExceptionCode.ILLEGAL_DATA_ADDRESS
                )
            self._forget = list(values)
            self.forget(decode_forget(values))
            return None
        if self._identify is not None and IDENTIFY.start <= address < IDENTIFY.end:
            if address + len(values) > IDENTIFY.end:
                return ExceptionCode.ILLEGAL_DATA_ADDRESS
            if values[0] > IDENTIFY_MAX_S:
                return ExceptionCode.ILLEGAL_DATA_VALUE
            self._identify = [values[0]]
            self.identified.append(values[0])
            return None
        if not (OUTPUTS.start <= address and address + len(values) <= OUTPUTS.end):
            return ExceptionCode.ILLEGAL_DATA_ADDRESS
        if _output_problem(address, values):
            return ExceptionCode.ILLEGAL_DATA_VALUE
        for at, value in enumerate(values, address - OUTPUTS.start):
            self._holding[at] = value
            if at == OUTPUTS.offset("BEEP") and value:
                self.sounded.append(Beep(value))
        return None

    def handle(self, request: ModbusPDU) -> ModbusPDU | None:
        """The reply to `request`, or None where Modbus wants silence (a broadcast)."""
        unit = request.dev_id
        broadcast = unit == BROADCAST
        reply: ModbusPDU
        fc = request.function_code
        if isinstance(request, ReadInputRegistersRequest | ReadHoldingRegistersRequest):
            table = Table.INPUT if fc == Function.READ_INPUT_REGISTERS else Table.HOLDING
            result = self.read(table, request.address, request.count)
            if isinstance(result, ExceptionCode):
                reply = ExceptionResponse(fc, result, device_id=unit)
            else:
                cls = (
                    ReadInputRegistersResponse
                    if table is Table.INPUT
                    else ReadHoldingRegistersResponse
                )
                reply = cls(registers=result, dev_id=unit)
            # A read sent to everyone cannot be answered by everyone: ignored.
            return None if broadcast else reply
        addressing = self.identity.addressable and (
            ADDRESS.start <= request.address < ADDRESS.end
            or SELECT.start <= request.address < SELECT.end
        )
        if addressing and fc in (Function.WRITE_MULTIPLE_REGISTERS, Function.WRITE_SINGLE_REGISTER):
            if broadcast and isinstance(request, WriteMultipleRegistersRequest):
                self._broadcast_addressing(request)
                return None
            if not broadcast:
                # Broadcast only (§3.8): addressed, it is refused and changes nothing.
                refusal = ExceptionResponse(fc, ExceptionCode.ILLEGAL_DATA_ADDRESS, device_id=unit)
                refusal.transaction_id = request.transaction_id
                return refusal
            return None
        if isinstance(request, WriteMultipleRegistersRequest):
            if broadcast and FORGET.start <= request.address < FORGET.end:
                return None  # one place in every unit's numbering does not exist (§3.6)
            if broadcast and IDENTIFY.start <= request.address < IDENTIFY.end:
                return None  # identify names one unit (§3.7)
            problem = self.write(request.address, list(request.registers))
            if problem is None and request.count != len(request.registers):
                problem = ExceptionCode.ILLEGAL_DATA_VALUE
            reply = (
                ExceptionResponse(fc, problem, device_id=unit)
                if problem
                else WriteMultipleRegistersResponse(
                    address=request.address, count=request.count, dev_id=unit
                )
            )
        elif isinstance(request, WriteSingleRegisterRequest):
            if broadcast and IDENTIFY.start <= request.address < IDENTIFY.end:
                return None  # identify names one unit (§3.7)
            problem = self.write(request.address, list(request.registers))
            reply = (
                ExceptionResponse(fc, problem, device_id=unit)
                if problem
                else WriteSingleRegisterResponse(
                    address=request.address, registers=list(request.registers), dev_id=unit
                )
            )
        else:
            reply = ExceptionResponse(fc, ExceptionCode.ILLEGAL_FUNCTION, device_id=unit)
        reply.transaction_id = request.transaction_id
        return None if broadcast else reply


# --- the controller's view of one unit --------------------------------------------------------


class ResyncReason(StrEnum):
    """Why the controller must rewrite a unit's whole output block (§5.3)."""

    UNCONFIGURED = "unconfigured"  # nothing written to it by this controller yet
    RESTART = "restart"  # BOOT_COUNT changed, or BOOT came back: a new start
    BOOT_FLAG = "boot-flag"  # the resync write has not landed yet
    TAG_MISMATCH = "tag-mismatch"  # a write (often a broadcast) did not reach it


@dataclass(frozen=True)
class TrackerUpdate:
    """What one poll means: new events oldest first, how many were lost, what to do."""

    events: tuple[KeyEvent, ...] = ()
    lost: int = 0
    restarted: bool = False
    resync: ResyncReason | None = None


class KeypadTracker:
    """Per unit, pure: successive polls in, each event exactly once out (§5.1, §5.3).

    Without a cursor, the first poll only sets the baseline: events already in the ring then
    are of unknown age and may have been reported by an earlier controller run.
    """

    def __init__(self, cursor: EventCursor | None = None) -> None:
        self._cursor = cursor
        self._expected_tag: int | None = None
        self._configured = False  # saw BOOT clear with our tag applied, in this start

    @property
    def cursor(self) -> EventCursor | None:
        return self._cursor

    @property
    def expected_tag(self) -> int | None:
        return self._expected_tag

    def wrote(self, tag: int) -> None:
        """A write carrying `tag` went to this unit (unicast, or a broadcast on its line)."""
        _check_tag(tag)
        self._expected_tag = tag

    def update(self, status: KeypadStatus) -> TrackerUpdate:
        cursor = self._cursor
        self._cursor = EventCursor(status.boot_count, status.seq)
        if cursor is None:
            return TrackerUpdate(resync=self._resync(status, restarted=False))
        restarted = status.boot_count != cursor.boot_count
        delta = (status.seq - cursor.seq) % SEQ_MODULUS
        # BOOT back after this controller configured the unit, or the count running
        # backwards: it restarted without its BOOT_COUNT moving (broken non-volatile memory).
        if not restarted and ((status.booted and self._configured) or delta > SEQ_MODULUS // 2):
            restarted = True
        if restarted:
            self._configured = False
            delta = status.seq
        fresh = status.events[max(0, len(status.events) - delta) :] if delta else ()
        # Only a full ring overflows. Events missing below the oldest entry of a ring with room
        # to spare were emptied by a forget (§3.6), which follows a controller's reading them.
        lost = delta - len(fresh) if len(status.events) == EVENT_RING else 0
        return TrackerUpdate(
            events=tuple(fresh),
            lost=lost,
            restarted=restarted,
            resync=self._resync(status, restarted=restarted),
        )

    def _resync(self, status: KeypadStatus, *, restarted: bool) -> ResyncReason | None:
        if restarted:
            return ResyncReason.RESTART
        if self._expected_tag is None:
            return ResyncReason.UNCONFIGURED
        if status.booted:
            return ResyncReason.BOOT_FLAG
        if status.applied_tag != self._expected_tag:
            return ResyncReason.TAG_MISMATCH
        self._configured = True
        return None


# --- timing (§6) ------------------------------------------------------------------------------

_TIMING: Final = SPEC["timing"]
BITS_PER_CHAR: Final[int] = int(SPEC["line"]["bits_per_char"])
TURNAROUND_TYPICAL_S: Final[float] = float(_TIMING["unit_turnaround_typical_s"])
TURNAROUND_MAX_S: Final[float] = float(_TIMING["unit_turnaround_max_s"])
BROADCAST_TURNAROUND_S: Final[float] = float(_TIMING["broadcast_turnaround_s"])
RETRIES: Final[int] = int(_TIMING["retries"])
READ_REQUEST_BYTES: Final = 8  # address, function, start, count, CRC
RESPONSE_TIMEOUT_MARGIN_S: Final[float] = float(_TIMING["response_timeout_margin_s"])
TCP_RESPONSE_TIMEOUT_S: Final[float] = float(_TIMING["tcp_response_timeout_s"])
BAUD_RATES: Final[tuple[int, ...]] = tuple(int(b) for b in SPEC["line"]["baud_rates"])
"""§2.1: the baud rates a unit MUST support, and the only ones a keypad line may use."""


def _load_formats(line: Mapping[str, Any]) -> tuple[modbus_timing.CharFormat, ...]:
    try:
        formats = tuple(
            modbus_timing.CharFormat(
                str(f["parity"]), int(f["stop_bits"]), int(line.get("data_bits", 8))
            )
            for f in line["formats"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"{SPEC_FILE}: line.formats: {exc}") from exc
    if not formats:
        raise SpecError(f"{SPEC_FILE}: line.formats lists no format")
    for f in formats:
        if f.bits_per_char != BITS_PER_CHAR:
            raise SpecError(
                f"{SPEC_FILE}: {f.name} has {f.bits_per_char} bits a character, "
                f"line.bits_per_char says {BITS_PER_CHAR}"
            )
    default = formats[0]
    if (default.parity, default.stop_bits) != (str(line["parity"]), int(line["stop_bits"])):
        raise SpecError(f"{SPEC_FILE}: line.formats must start with line.parity/stop_bits")
    return formats


LINE_FORMATS: Final[tuple[modbus_timing.CharFormat, ...]] = _load_formats(SPEC["line"])
"""§2.1: the character formats a unit MUST offer (8E1, 8N2), the default first."""
DEFAULT_FORMAT: Final[modbus_timing.CharFormat] = LINE_FORMATS[0]


def line_format(
    parity: str | None = None, stop_bits: int | None = None
) -> modbus_timing.CharFormat:
    """The contract's character format that a line's parity and stop bits name (§2.1).

    Either may be left out: no parity means the default's (even), and no stop bits the one
    the contract pairs with that parity (1 with even, 2 with none). A pair the contract does
    not list raises `KeypadUsageError` that names the formats it does.
    """
    listed = ", ".join(
        f"{f.name} (parity {f.parity!r}, stop bits {f.stop_bits})" for f in LINE_FORMATS
    )
    wanted = DEFAULT_FORMAT.parity if parity is None else parity
    for f in LINE_FORMATS:
        if f.parity == wanted and (stop_bits is None or f.stop_bits == stop_bits):
            return f
    if not any(f.parity == wanted for f in LINE_FORMATS):
        raise KeypadUsageError(f"the keypad contract has no parity {wanted!r}; it lists {listed}")
    raise KeypadUsageError(
        f"the keypad contract has no parity {wanted!r} with {stop_bits} stop bit"
        f"{'s' if stop_bits != 1 else ''}; it lists {listed}"
    )


def check_baud(baud: int) -> None:
    """§2.1: a keypad line runs at one of the contract's baud rates, else `KeypadUsageError`."""
    if baud not in BAUD_RATES:
        raise KeypadUsageError(
            f"the keypad contract lists {', '.join(map(str, BAUD_RATES))} baud, not {baud}"
        )


def read_response_bytes(count: int) -> int:
    """RTU bytes of a read reply: address, function, byte count, registers, CRC."""
    return 5 + 2 * count


def write_request_bytes(count: int) -> int:
    """RTU bytes of a write-multiple request: address, function, start, count, bytes, CRC."""
    return 9 + 2 * count


def t35(baud: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """The inter-frame silence at `baud` (§6.1)."""
    return modbus_timing.t35(
        baud,
        bits_per_char,
        fixed_above_baud=int(_TIMING["fixed_above_baud"]),
        fixed_s=float(_TIMING["t35_fixed_s"]),
    )


def poll_cycle_wire_time(
    units: int, baud: int, turnaround_s: float = TURNAROUND_TYPICAL_S, *, card: bool = False
) -> float:
    """§6.3: the wire-time floor of polling `units` keypads once each, in seconds.

    Per unit: request + t3.5 + turnaround + reply + t3.5. A line cannot poll faster; a
    driver's measured cycle over a real line should come close to it.
    """
    if units < 0 or turnaround_s < 0:
        raise KeypadUsageError("units and turnaround cannot be negative")
    per_unit = (
        modbus_timing.frame_time(READ_REQUEST_BYTES, baud, BITS_PER_CHAR)
        + t35(baud)
        + turnaround_s
        + modbus_timing.frame_time(read_response_bytes(poll_count(card=card)), baud, BITS_PER_CHAR)
        + t35(baud)
    )
    return units * per_unit


def response_timeout(baud: int, response_bytes: int) -> float:
    """§6.2: end of request -> last byte of the reply, else the attempt is a miss."""
    return (
        t35(baud)
        + TURNAROUND_MAX_S
        + modbus_timing.frame_time(response_bytes, baud, BITS_PER_CHAR)
        + float(_TIMING["response_timeout_margin_s"])
    )


def longest_reply_bytes(request: ModbusPDU) -> int:
    """RTU bytes of the longest reply a keypad can give to `request` (an exception, 5 bytes,
    is never longer): a read's registers, or the 8-byte echo of a write."""
    function = request.function_code
    if request.dev_id == BROADCAST:
        raise KeypadUsageError("a broadcast gets no reply (§5.4)")
    if function in (Function.READ_INPUT_REGISTERS, Function.READ_HOLDING_REGISTERS):
        return read_response_bytes(int(request.count))
    if function in (Function.WRITE_SINGLE_REGISTER, Function.WRITE_MULTIPLE_REGISTERS):
        return 8  # address, function, start, count or value, CRC
    raise KeypadUsageError(f"a keypad answers no function 0x{function:02X} (§2.4)")


def request_timeout(
    request: ModbusPDU, baud: int, char_format: modbus_timing.CharFormat = DEFAULT_FORMAT
) -> float:
    """§6.2 for one request, counted from the moment the request is handed to the port.

    The request's own wire time, t3.5, the longest turnaround a unit may take, the wire time
    of the longest reply to THIS request, and the contract's margin for the operating system
    and a USB-serial adapter, at `baud` and the line's character format. The identity read's
    65-byte reply needs 44 ms on the wire at 19200 baud where a poll's needs 26 ms: one
    timeout for every request would be too short for the one or too long for the other.
    """
    bits = char_format.bits_per_char
    return modbus_timing.response_timeout(
        len(encode_frame(request)),
        longest_reply_bytes(request),
        baud,
        turnaround_max_s=TURNAROUND_MAX_S,
        margin_s=RESPONSE_TIMEOUT_MARGIN_S,
        bits_per_char=bits,
        fixed_above_baud=int(_TIMING["fixed_above_baud"]),
        t35_fixed_s=float(_TIMING["t35_fixed_s"]),
    )
