"""The hall's wiring: its lines, the units on them, the MQTT broker.

This is the part of a hall file that the drivers and the simulator need, and nothing more: both
import it from here, below the daemon's package. `controller.config` reads the whole hall file
(body, delegates, policies) and builds a `HallConfig`, which is a `Topology` with the meeting
core's `Hall` added; it validates these sections with the models defined here.

`load_topology` reads only these sections of a hall file, for a process that has no use for
the rest (the simulator): the sections are checked as strictly as the daemon checks them, and
the other sections are left to the daemon.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chamber.controller.core.model import MicClass
from chamber.protocols import keypad as kp
from chamber.protocols.modbus_timing import CharFormat

MODBUS_MAX_ADDRESS = 247
# The largest hall file read: the 4,096-seat example is under 1 MiB.
MAX_FILE_BYTES = 16 * 1024 * 1024
# The embedded broker listens on every IPv4 interface unless the hall file names one: IP
# seat units and walls reach it over the hall's network.
EMBEDDED_BIND = "0.0.0.0"


class TopologyError(ValueError):
    """A hall file cannot be used; the message says where and why."""


class LineKind(StrEnum):
    MODBUS_RTU = "modbus-rtu"
    MODBUS_TCP = "modbus-tcp"
    MIC_SERIAL = "mic-serial"


# --- what drivers and the simulator use --------------------------------------------------------


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
    # What the seat's microphone button does (a chair's unit also has the priority key).
    mic_class: MicClass = MicClass.DELEGATE


@dataclass(frozen=True)
class Line:
    id: str
    kind: LineKind
    device: str | None
    baud: int
    host: str | None
    port: int | None
    parity: str | None = None
    stop_bits: int | None = None


@dataclass(frozen=True)
class Broker:
    host: str | None
    port: int
    username: str | None
    password: str | None
    tls: bool
    ca_file: str | None
    # The interface the embedded broker listens on (unused with an external broker).
    bind: str = EMBEDDED_BIND
    # The embedded broker's TLS listener: (port, certificate file, key file), or None.
    tls_listener: tuple[int, str, str] | None = None

    @property
    def embedded(self) -> bool:
        return self.host is None


@dataclass(frozen=True)
class Topology:
    """A hall's lines, its seats' units and its broker, under the hall's id."""

    hall_id: str
    lines: tuple[Line, ...]
    units: tuple[SeatUnits, ...]
    broker: Broker
    source: Path | None = None

    def line(self, line_id: str) -> Line:
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(line_id)


# --- the hall file's sections ------------------------------------------------------------------


class KeyedError(ValueError):
    """A cross-reference error that knows which key it is about."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class StrictModel(BaseModel):
    # TOML has inf and nan; no number of a hall file may be either.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, allow_inf_nan=False
    )


class LineConfig(StrictModel):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    kind: LineKind
    device: Annotated[str, Field(max_length=4096)] | None = None
    # A keypad line: one of the keypad contract's rates (keypad_modbus.md §2.1).
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] = 115200
    # The character format, only as the line's contract lists it. None: the contract's
    # default (8E1 for keypads, 8N1 for microphone units). A keypad line with parity "none"
    # is 8N2, as its contract says; stop_bits may be written out, and must then agree. A
    # virtual line (a pty pair) cannot carry parity at all and says "none".
    parity: str | None = None
    stop_bits: Annotated[int, Field(strict=True)] | None = None
    host: Annotated[str, Field(max_length=253)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @field_validator("baud")
    @classmethod
    def _contract_baud(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("kind") in _KEYPAD_KINDS and value not in kp.BAUD_RATES:
            raise ValueError(
                f"{value} is not a keypad line's rate: the keypad contract lists "
                f"{', '.join(map(str, kp.BAUD_RATES))}"
            )
        return value

    @field_validator("parity")
    @classmethod
    def _contract_parity(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        kind = info.data.get("kind")
        allowed = _allowed_formats(kind)
        if not any(f.parity == value for f in allowed):
            raise ValueError(f"{value!r} is not allowed here: {_listed(kind)}")
        return value

    @field_validator("stop_bits")
    @classmethod
    def _contract_stop_bits(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None:
            return None
        kind = info.data.get("kind")
        if "parity" not in info.data:
            return value  # the parity was wrong, and is what the error names
        allowed = _allowed_formats(kind)
        # No parity key: the contract's default parity, whose stop bits these must be.
        parity = info.data["parity"] or allowed[0].parity
        matching = [f for f in allowed if f.parity == parity]
        if not any(f.stop_bits == value for f in matching):
            wanted = " or ".join(str(f.stop_bits) for f in matching)
            raise ValueError(
                f"with parity {parity!r} this line's contract has {wanted} stop bit"
                f"{'' if wanted == '1' else 's'}, not {value}: {_listed(kind)}"
            )
        return value

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

    def build(self) -> Line:
        return Line(
            self.id,
            self.kind,
            self.device,
            self.baud,
            self.host,
            self.port,
            self.parity,
            self.stop_bits,
        )


_KEYPAD_KINDS = (LineKind.MODBUS_RTU, LineKind.MODBUS_TCP)
# The microphone unit's contract (mic_unit.md §2) has one format: 8N1.
_MIC_FORMATS = (CharFormat("none", 1),)


def _allowed_formats(kind: object) -> tuple[CharFormat, ...]:
    """The character formats a line of `kind` may use: its contract's (`kind` may be
    missing when the kind itself was wrong; then the keypad contract's)."""
    return _MIC_FORMATS if kind is LineKind.MIC_SERIAL else kp.LINE_FORMATS


def _listed(kind: object) -> str:
    contract = "the microphone contract" if kind is LineKind.MIC_SERIAL else "the keypad contract"
    formats = _allowed_formats(kind)
    return f"{contract} lists " + ", ".join(
        f'parity = "{f.parity}" with stop_bits = {f.stop_bits} ({f.name})' for f in formats
    )


class UnitRefConfig(StrictModel):
    line: Annotated[str, Field(max_length=64)]
    address: Annotated[int, Field(ge=1, le=MODBUS_MAX_ADDRESS)]

    def build(self) -> UnitRef:
        return UnitRef(self.line, self.address)


class MqttConfig(StrictModel):
    """No host: the daemon runs its own Mosquitto, listening on `bind`:`port`, with generated
    credentials. `bind` is for that embedded broker only."""

    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    bind: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    # The embedded broker's TLS listener (MQTT over TLS, beside the plain one on `port`).
    tls_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    tls_cert: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    tls_key: Annotated[str, Field(min_length=1, max_length=4096)] | None = None

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
            raise KeyedError(
                "mqtt.bind", "is for the embedded broker; an external broker (host) binds itself"
            )
        return self

    @model_validator(mode="after")
    def _tls_listener(self) -> Self:
        given = [v is not None for v in (self.tls_port, self.tls_cert, self.tls_key)]
        if any(given) and not all(given):
            raise KeyedError("mqtt.tls_port", "tls_port, tls_cert and tls_key go together")
        if any(given) and self.host is not None:
            raise KeyedError(
                "mqtt.tls_port", "is for the embedded broker; an external broker has its own"
            )
        if self.tls_port is not None and self.tls_port == self.port:
            raise KeyedError("mqtt.tls_port", f"{self.tls_port} is already the plain port")
        return self

    def build(self) -> Broker:
        tls_listener = (
            (self.tls_port, self.tls_cert, self.tls_key)
            if self.tls_port is not None and self.tls_cert is not None and self.tls_key is not None
            else None
        )
        return Broker(
            self.host,
            self.port,
            self.username,
            self.password,
            self.tls,
            self.ca_file,
            self.bind or EMBEDDED_BIND,
            tls_listener,
        )


class SeatWiring(BaseModel):
    """What a seat of the hall file says about its units (its other keys are the hall's)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    number: Annotated[int, Field(ge=1, le=65535)]
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

    def build(self) -> SeatUnits:
        return SeatUnits(
            self.number,
            self.keypad.build() if self.keypad else None,
            self.mic.build() if self.mic else None,
            self.ip,
            self.mic_class,
        )


def check_wiring(lines: Sequence[LineConfig], seats: Sequence[SeatWiring]) -> None:
    """Every seat's units on a line that exists, of the right kind, at an address of their own.

    Raises `KeyedError` naming the first seat key that is wrong."""
    unique("lines", [ln.id for ln in lines], "id")
    unique("seats", [s.number for s in seats], "number")
    by_id = {ln.id: ln for ln in lines}
    used: dict[tuple[str, int], int] = {}
    for i, seat in enumerate(seats):
        for unit_name, ref, kinds in (
            ("keypad", seat.keypad, (LineKind.MODBUS_RTU, LineKind.MODBUS_TCP)),
            ("mic", seat.mic, (LineKind.MIC_SERIAL,)),
        ):
            if ref is None:
                continue
            where = f"seats[{i}].{unit_name}"
            line = by_id.get(ref.line)
            if line is None:
                raise KeyedError(
                    f"{where}.line",
                    f"no line named {ref.line!r} (lines: {', '.join(by_id) or 'none'})",
                )
            if line.kind not in kinds:
                raise KeyedError(
                    f"{where}.line",
                    f"line {ref.line!r} is {line.kind.value}; a {unit_name} needs "
                    + " or ".join(k.value for k in kinds),
                )
            key = (ref.line, ref.address)
            if key in used:
                raise KeyedError(
                    f"{where}.address",
                    f"address {ref.address} on line {ref.line!r} already serves seat {used[key]}",
                )
            used[key] = seat.number


def unique(section: str, values: list[Any], what: str) -> None:
    seen: dict[Any, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            raise KeyedError(f"{section}[{i}]", f"{what} {v!r} repeats {section}[{seen[v]}]")
        seen[v] = i


class _HallId(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=64)]


class _TopologyFile(BaseModel):
    """The wiring sections of a hall file; the daemon checks the other sections."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    hall: _HallId
    lines: Annotated[list[LineConfig], Field(max_length=1000)] = []
    mqtt: MqttConfig = MqttConfig()
    seats: Annotated[list[SeatWiring], Field(max_length=10_000)]

    @model_validator(mode="after")
    def _references(self) -> Self:
        check_wiring(self.lines, self.seats)
        return self


# --- reading a hall file -----------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """A hall file's TOML document; raises `TopologyError` with one clear message."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise TopologyError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TopologyError(f"{path}: line {line}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: TOML syntax: {exc}") from None
    except RecursionError:
        raise TopologyError(f"{path}: TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise TopologyError(f"{path}: TOML: {str(exc)[:120]}") from None


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


def describe(exc: ValidationError) -> str:
    """A validation error as one line: the key, and what is wrong with it."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    ctx_error = first.get("ctx", {}).get("error")
    if isinstance(ctx_error, KeyedError):
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


def parse_topology(data: dict[str, Any], source: str = "<config>") -> Topology:
    """The wiring of an already-parsed hall file."""
    try:
        model = _TopologyFile.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(f"{source}: {describe(exc)}") from None
    return Topology(
        hall_id=model.hall.id,
        lines=tuple(ln.build() for ln in model.lines),
        units=tuple(s.build() for s in model.seats),
        broker=model.mqtt.build(),
        source=Path(source) if source != "<config>" else None,
    )


def load_topology(path: str | Path) -> Topology:
    """Read a hall file's wiring; raises `TopologyError` with one clear message."""
    path = Path(path)
    return parse_topology(read_toml(path), str(path))
