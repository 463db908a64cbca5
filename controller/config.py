"""A hall's configuration: read a TOML file, validate every key, build the core's `Hall`.

The file describes the body, its delegates, the seating chart, the hardware topology (lines,
unit addresses, the MQTT broker) and the policies. Anything wrong is refused with ONE
`ConfigError` whose message names the file, the key (or the line, for TOML syntax) and what
is wrong, e.g.::

    hall.toml: seats[4].keypad.line: no line named 'rtu9' (lines: rtu1, mic1)

This module reads files; the meeting core never imports it.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from controller.core.model import (
    AtZero,
    Base,
    Body,
    Comparison,
    Delegate,
    FloorPolicy,
    Hall,
    Language,
    MajorityRule,
    MicClass,
    MicMode,
    Policies,
    PriorityMode,
    QuorumRule,
    Role,
    Seat,
    Threshold,
    VoteMode,
    VotePolicy,
)

MODBUS_MAX_ADDRESS = 247
MAX_MEMBERS = 10_000
MAX_SEATS = 10_000
# The largest hall file read: the 4,096-seat example is under 1 MiB.
MAX_FILE_BYTES = 16 * 1024 * 1024
PRESET_RULES = ("vn-council", "vn-two-thirds", "roberts-majority")


class ConfigError(ValueError):
    """The hall configuration cannot be used; the message says where and why."""


class _Model(BaseModel):
    # TOML has inf and nan; no number of a hall file may be either.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, allow_inf_nan=False
    )


# "2/3", "0.5", "1": digits only, a few of them. Fraction() alone would also take "1e-999999999"
# and spend minutes building 10**999999999.
_FRACTION = re.compile(r"(?:[0-9]{1,9}/[0-9]{1,9}|[0-9]{1,9}(?:\.[0-9]{1,9})?)")


def _fraction(text: str) -> Fraction:
    if not _FRACTION.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValueError(
            f'not a fraction: {shown!r} (write e.g. "1/2", "2/3" or "0.5"; '
            "at most 9 digits in each part)"
        )
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f'not a fraction: {text!r} (write e.g. "1/2" or "2/3")') from exc
    if not 0 <= value <= 1:
        raise ValueError(f"a fraction between 0 and 1 is needed, got {text!r}")
    return value


class ThresholdConfig(_Model):
    comparison: Comparison
    fraction: Annotated[str, Field(max_length=40)] = "1/2"
    # At most the body's members (checked with the whole file: `HallConfigModel`).
    constant: Annotated[int, Field(ge=0, le=MAX_MEMBERS)] = 0

    @field_validator("fraction")
    @classmethod
    def _check_fraction(cls, v: str) -> str:
        _fraction(v)
        return v

    def build(self) -> Threshold:
        return Threshold(self.comparison, _fraction(self.fraction), self.constant)


class RuleConfig(ThresholdConfig):
    key: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    base: Base

    def build_rule(self) -> MajorityRule:
        return MajorityRule(self.key, self.build(), self.base)


class VotePolicyConfig(_Model):
    rule: Annotated[str, Field(max_length=64)] = "vn-council"
    duration_s: Annotated[float, Field(gt=0, le=24 * 3600)] = 60.0
    warning_s: Annotated[float, Field(ge=0, le=24 * 3600)] = 10.0
    change_until_close: bool = True
    quorum_required: bool = True
    mode: VoteMode = VoteMode.OPEN

    @model_validator(mode="after")
    def _warning_before_end(self) -> Self:
        if self.warning_s >= self.duration_s:
            raise ValueError("warning_s must be shorter than duration_s")
        return self


class FloorPolicyConfig(_Model):
    mode: MicMode = MicMode.REQUEST
    max_open: Annotated[int, Field(ge=1, le=25)] = 1
    max_requests: Annotated[int, Field(ge=0, le=250)] = 250
    chair_priority: PriorityMode = PriorityMode.MUTE_WHILE_HELD
    speak_time_s: Annotated[float, Field(ge=0, le=3600)] = 420.0
    question_time_s: Annotated[float, Field(ge=0, le=3600)] = 180.0
    reply_time_s: Annotated[float, Field(ge=0, le=3600)] = 180.0
    warning_s: Annotated[float, Field(ge=0, le=600)] = 30.0
    at_zero: AtZero = AtZero.CONTINUE
    voice_open_db: Annotated[float, Field(ge=-96, le=0)] = -30.0
    voice_hold_s: Annotated[float, Field(gt=0, le=60)] = 3.0


class PoliciesConfig(_Model):
    quorum: ThresholdConfig = ThresholdConfig(comparison=Comparison.MORE_THAN, fraction="1/2")
    vote: VotePolicyConfig = VotePolicyConfig()
    floor: FloorPolicyConfig = FloorPolicyConfig()
    rules: Annotated[list[RuleConfig], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _rules_known(self) -> Self:
        keys = [r.key for r in self.rules]
        clash = sorted({k for k in keys if keys.count(k) > 1 or k in PRESET_RULES})
        if clash:
            raise ValueError(f"rule key(s) defined twice or shadowing a preset: {clash}")
        known = set(PRESET_RULES) | set(keys)
        if self.vote.rule not in known:
            raise ValueError(
                f"vote.rule {self.vote.rule!r} is neither a preset nor a rule of this hall "
                f"(known: {', '.join(sorted(known))})"
            )
        return self


class BodyConfig(_Model):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    short_name: Annotated[str, Field(max_length=100)] = ""
    members: Annotated[int, Field(ge=1, le=MAX_MEMBERS)]


def hall_id_problem(hall_id: str) -> str | None:
    """Why `hall_id` cannot be a hall's id, or None. The one rule for `config check` and
    `chamber run`: the MQTT contract's (a topic level), which also makes a safe file name."""
    if HALL_ID.fullmatch(hall_id):
        return None
    return (
        f"hall id {hall_id[:80]!r} is not allowed: 1 to 32 characters a-z, 0-9 and '-', "
        "starting and ending with a letter or digit"
    )


# The MQTT contract's rule (`components.parameters.hall.x-pattern`); a test checks they agree.
HALL_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")


class HallInfo(_Model):
    # Used in MQTT topics, client ids and file names: `hall_id_problem`.
    id: Annotated[str, Field(max_length=64)]
    language: Language = Language.VI
    # An IANA time zone, for the dates and times in minutes and exports.
    timezone: str = "UTC"

    @field_validator("id")
    @classmethod
    def _usable_id(cls, v: str) -> str:
        problem = hall_id_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'unknown time zone {v!r} (write e.g. "Asia/Ho_Chi_Minh")') from None
        return v


class DelegateConfig(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    group: Annotated[str, Field(max_length=200)] = ""
    role: Role = Role.DELEGATE
    title: Annotated[str, Field(max_length=200)] = ""
    weight: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    voting: bool | None = None  # default: everyone but a secretary votes

    def build(self) -> Delegate:
        voting = self.voting if self.voting is not None else self.role is not Role.SECRETARY
        return Delegate(self.id, self.name, self.group, self.role, self.title, self.weight, voting)


class LineKind(StrEnum):
    MODBUS_RTU = "modbus-rtu"
    MODBUS_TCP = "modbus-tcp"
    MIC_SERIAL = "mic-serial"


class LineConfig(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    kind: LineKind
    device: Annotated[str, Field(max_length=4096)] | None = None
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] = 115200
    # None: what the line's contract says (8E1 for keypads, 8N1 for microphone units). A
    # virtual line (a pty pair) cannot carry parity at all and says "none".
    parity: Literal["even", "odd", "none"] | None = None
    host: Annotated[str, Field(max_length=253)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @model_validator(mode="after")
    def _endpoint(self) -> Self:
        if self.kind is LineKind.MODBUS_TCP:
            if not self.host or self.port is None:
                raise ValueError("a modbus-tcp line needs host and port")
            if self.device is not None:
                raise ValueError("a modbus-tcp line has no device (it has host and port)")
        else:
            if not self.device:
                raise ValueError(f"a {self.kind.value} line needs device (a serial port path)")
            if self.host is not None or self.port is not None:
                raise ValueError(f"a {self.kind.value} line has no host/port (it has device)")
        return self


class UnitRefConfig(_Model):
    line: Annotated[str, Field(max_length=64)]
    address: Annotated[int, Field(ge=1, le=MODBUS_MAX_ADDRESS)]


class SeatConfig(_Model):
    number: Annotated[int, Field(ge=1, le=65535)]
    row: Annotated[int, Field(ge=1, le=1000)]
    col: Annotated[int, Field(ge=1, le=1000)]
    delegate: Annotated[str, Field(max_length=64)] | None = None
    mic_class: MicClass = MicClass.DELEGATE
    keypad: UnitRefConfig | None = None
    mic: UnitRefConfig | None = None
    # An IP seat unit (keypad and microphone in one) on MQTT, with its own credentials.
    ip: bool = False

    @model_validator(mode="after")
    def _one_kind_of_unit(self) -> Self:
        if self.ip and (self.keypad or self.mic):
            raise ValueError("a seat has either an IP unit or serial units, not both")
        return self


# The embedded broker listens on every IPv4 interface unless the hall file names one: IP
# seat units and walls reach it over the hall's network.
EMBEDDED_BIND = "0.0.0.0"


class MqttConfig(_Model):
    """No host: the daemon runs its own Mosquitto, listening on `bind`:`port`, with generated
    credentials. `bind` is for that embedded broker only."""

    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    bind: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None

    @field_validator("bind")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address (the embedded broker's interface: e.g. "
                f'"{EMBEDDED_BIND}" for every interface, or the hall network\'s address)'
            ) from None

    @model_validator(mode="after")
    def _bind_is_embedded(self) -> Self:
        if self.bind is not None and self.host is not None:
            raise _KeyedError(
                "mqtt.bind", "is for the embedded broker; an external broker (host) binds itself"
            )
        return self


class HallConfigModel(_Model):
    hall: HallInfo
    body: BodyConfig
    policies: PoliciesConfig = PoliciesConfig()
    delegates: Annotated[list[DelegateConfig], Field(max_length=MAX_MEMBERS)]
    lines: Annotated[list[LineConfig], Field(max_length=1000)] = []
    mqtt: MqttConfig = MqttConfig()
    seats: Annotated[list[SeatConfig], Field(max_length=MAX_SEATS)]

    @model_validator(mode="after")
    def _references(self) -> Self:
        members = self.body.members
        for where, threshold in (
            ("policies.quorum", self.policies.quorum),
            *((f"policies.rules[{i}]", r) for i, r in enumerate(self.policies.rules)),
        ):
            if threshold.constant > members:
                raise _KeyedError(
                    f"{where}.constant",
                    f"{threshold.constant} is more than the body's {members} members",
                )
        _unique("delegates", [d.id for d in self.delegates], "id")
        _unique("lines", [ln.id for ln in self.lines], "id")
        _unique("seats", [s.number for s in self.seats], "number")
        _unique("seats", [(s.row, s.col) for s in self.seats], "(row, col)")
        voting = sum(1 for d in self.delegates if d.build().voting)
        if voting > self.body.members:
            raise _KeyedError(
                "body.members",
                f"{self.body.members} members, but {voting} delegates are voting members",
            )
        delegates = {d.id for d in self.delegates}
        lines = {ln.id: ln for ln in self.lines}
        seated: dict[str, int] = {}
        used: dict[tuple[str, int], int] = {}
        for i, seat in enumerate(self.seats):
            if seat.delegate is not None:
                if seat.delegate not in delegates:
                    raise _KeyedError(f"seats[{i}].delegate", f"no delegate {seat.delegate!r}")
                if seat.delegate in seated:
                    raise _KeyedError(
                        f"seats[{i}].delegate",
                        f"delegate {seat.delegate!r} already sits at seat {seated[seat.delegate]}",
                    )
                seated[seat.delegate] = seat.number
            for unit_name, ref, kinds in (
                ("keypad", seat.keypad, (LineKind.MODBUS_RTU, LineKind.MODBUS_TCP)),
                ("mic", seat.mic, (LineKind.MIC_SERIAL,)),
            ):
                if ref is None:
                    continue
                where = f"seats[{i}].{unit_name}"
                line = lines.get(ref.line)
                if line is None:
                    raise _KeyedError(
                        f"{where}.line",
                        f"no line named {ref.line!r} (lines: {', '.join(lines) or 'none'})",
                    )
                if line.kind not in kinds:
                    raise _KeyedError(
                        f"{where}.line",
                        f"line {ref.line!r} is {line.kind.value}; a {unit_name} needs "
                        + " or ".join(k.value for k in kinds),
                    )
                key = (ref.line, ref.address)
                if key in used:
                    raise _KeyedError(
                        f"{where}.address",
                        f"address {ref.address} on line {ref.line!r} already serves seat "
                        f"{used[key]}",
                    )
                used[key] = seat.number
        return self


class _KeyedError(ValueError):
    """A cross-reference error that knows which key it is about."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _unique(section: str, values: list[Any], what: str) -> None:
    seen: dict[Any, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            raise _KeyedError(f"{section}[{i}]", f"{what} {v!r} repeats {section}[{seen[v]}]")
        seen[v] = i


# --- what the rest of chamber uses ---------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    line: str
    address: int


@dataclass(frozen=True)
class SeatUnits:
    seat: int
    keypad: UnitRef | None
    mic: UnitRef | None
    ip: bool


@dataclass(frozen=True)
class Line:
    id: str
    kind: LineKind
    device: str | None
    baud: int
    host: str | None
    port: int | None
    parity: str | None = None


@dataclass(frozen=True)
class Broker:
    host: str | None
    port: int
    username: str | None
    password: str | None
    tls: bool
    ca_file: str | None
    # The interface the embedded broker listens on (unused with an external broker).
    bind: str = "0.0.0.0"

    @property
    def embedded(self) -> bool:
        return self.host is None


@dataclass(frozen=True)
class HallConfig:
    """A validated hall: the core's `Hall`, plus the wiring that only the runtime needs."""

    hall_id: str
    hall: Hall
    lines: tuple[Line, ...]
    units: tuple[SeatUnits, ...]
    broker: Broker
    source: Path | None = None
    timezone: str = "UTC"

    def line(self, line_id: str) -> Line:
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(line_id)


def _build(model: HallConfigModel, source: Path | None) -> HallConfig:
    p = model.policies
    policies = Policies(
        quorum=QuorumRule(p.quorum.build()),
        vote=VotePolicy(
            rule=p.vote.rule,
            duration_s=p.vote.duration_s,
            warning_s=p.vote.warning_s,
            change_until_close=p.vote.change_until_close,
            quorum_required=p.vote.quorum_required,
            mode=p.vote.mode,
        ),
        floor=FloorPolicy(**p.floor.model_dump()),
        rules=tuple(r.build_rule() for r in p.rules),
    )
    hall = Hall(
        body=Body(model.body.name, model.body.members, model.body.short_name),
        delegates=tuple(d.build() for d in model.delegates),
        seats=tuple(
            Seat(
                number=s.number,
                row=s.row,
                col=s.col,
                delegate=s.delegate,
                mic_class=s.mic_class,
                has_keypad=s.keypad is not None or s.ip,
                has_mic=s.mic is not None or s.ip,
            )
            for s in model.seats
        ),
        policies=policies,
        language=model.hall.language,
    )
    return HallConfig(
        hall_id=model.hall.id,
        hall=hall,
        lines=tuple(
            Line(ln.id, ln.kind, ln.device, ln.baud, ln.host, ln.port, ln.parity)
            for ln in model.lines
        ),
        units=tuple(
            SeatUnits(
                s.number,
                UnitRef(s.keypad.line, s.keypad.address) if s.keypad else None,
                UnitRef(s.mic.line, s.mic.address) if s.mic else None,
                s.ip,
            )
            for s in model.seats
        ),
        broker=Broker(
            model.mqtt.host,
            model.mqtt.port,
            model.mqtt.username,
            model.mqtt.password,
            model.mqtt.tls,
            model.mqtt.ca_file,
            model.mqtt.bind or EMBEDDED_BIND,
        ),
        source=source,
        timezone=model.hall.timezone,
    )


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after", "function-before", "function-wrap")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    ctx_error = first.get("ctx", {}).get("error")
    if isinstance(ctx_error, _KeyedError):
        text = f"{ctx_error.key}: {ctx_error.message}"
    else:
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling)"
        elif first["type"] == "missing":
            msg = "missing (this key is required)"
        text = f"{_key_path(tuple(first['loc']))}: {msg}"
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def parse_config(data: dict[str, Any], source: str = "<config>") -> HallConfig:
    """Validate an already-parsed TOML document."""
    try:
        model = HallConfigModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None
    return _build(model, Path(source) if source != "<config>" else None)


def load_config(path: str | Path) -> HallConfig:
    """Read and validate a hall's TOML file; raises `ConfigError` with one clear message."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ConfigError(f"{path}: TOML: {str(exc)[:120]}") from None
    return parse_config(data, str(path))
