"""A hall's configuration: read a TOML file, validate every key, build the core's `Hall`.

The file describes the body, its delegates, the seating chart, the hardware topology (lines,
unit addresses, the MQTT broker) and the policies. Anything wrong is refused with ONE
`ConfigError` whose message names the file, the key (or the line, for TOML syntax) and what
is wrong, e.g.::

    hall.toml: seats[4].keypad.line: no line named 'rtu9' (lines: rtu1, mic1)

This module reads files; the meeting core never imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chamber.controller.core.cameras import (
    DEFAULT_HOLD_S,
    MAX_CAMERAS,
    CameraSpec,
    CameraTransport,
    check_cameras,
)
from chamber.controller.core.kinds import kind_policy
from chamber.controller.core.limits import (
    MAX_OPEN_MICS,
    MAX_REQUESTS,
    MAX_TURN_S,
    MAX_TURN_WARNING_S,
    MAX_VOICE_HOLD_S,
    MAX_VOICE_OPEN_DB,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    MIN_OPEN_MICS,
    MIN_VOICE_OPEN_DB,
    UNTIMED,
)
from chamber.controller.core.model import (
    AnswerSet,
    AtZero,
    Base,
    Body,
    Comparison,
    Delegate,
    FloorPolicy,
    Hall,
    KindPolicy,
    Language,
    MajorityRule,
    MicMode,
    Policies,
    PriorityMode,
    QuorumRule,
    Role,
    Seat,
    Threshold,
    VoteKind,
    VoteMode,
    VotePolicy,
)
from chamber.controller.core.rules import PRESETS
from chamber.controller.netbind import Listen, ListenError, parse_listen
from chamber.drivers.topology import (
    EMBEDDED_BIND,
    MAX_FILE_BYTES,
    MODBUS_MAX_ADDRESS,
    Broker,
    KeyedError,
    Line,
    LineConfig,
    LineKind,
    MqttConfig,
    SeatUnits,
    SeatWiring,
    StrictModel,
    Topology,
    TopologyError,
    UnitRef,
    UnitRefConfig,
    check_wiring,
    describe,
    read_toml,
    unique,
)

# Re-exported: the rest of the daemon's package names the wiring through this module.
__all__ = [
    "EMBEDDED_BIND",
    "MAX_FILE_BYTES",
    "MODBUS_MAX_ADDRESS",
    "Broker",
    "ConfigError",
    "HallConfig",
    "Line",
    "LineConfig",
    "LineKind",
    "MqttConfig",
    "SeatUnits",
    "Topology",
    "UnitRef",
    "UnitRefConfig",
    "hall_id_problem",
    "load_config",
    "parse_config",
]

MAX_MEMBERS = 10_000
MAX_SEATS = 10_000


class ConfigError(ValueError):
    """The hall configuration cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = StrictModel.model_config


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
    # 0 (`UNTIMED`): no time limit, the chair closes the vote by hand.
    duration_s: Annotated[float, Field(ge=UNTIMED, le=MAX_VOTE_DURATION_S)] = 60.0
    warning_s: Annotated[float, Field(ge=0, le=MAX_VOTE_WARNING_S)] = 10.0
    change_until_close: bool = True
    quorum_required: bool = True
    mode: VoteMode = VoteMode.OPEN
    # false: the display wall shows only how many have voted until a vote closes, no running
    # totals and no seat's key (a vote may say otherwise; a secret vote never shows them).
    live_totals: bool = True

    @model_validator(mode="after")
    def _warning_before_end(self) -> Self:
        # An untimed vote has no end to warn of: the core gives it no warning.
        if self.duration_s != UNTIMED and self.warning_s >= self.duration_s:
            raise ValueError("warning_s must be shorter than duration_s")
        return self


class KindConfig(_Model):
    """`[policies.kinds.<kind>]`: a vote kind's defaults in this hall; a key left out keeps
    the kind's default (`controller.core.kinds.DEFAULT_KINDS`)."""

    rule: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # Yes/no/abstain or yes/no: a choices vote names its options when it is made.
    answers: AnswerSet | None = None
    mode: VoteMode | None = None

    @field_validator("answers")
    @classmethod
    def _fixed_answers(cls, v: AnswerSet | None) -> AnswerSet | None:
        if v is AnswerSet.CHOICES:
            raise ValueError("a kind's answers are yes-no-abstain or yes-no (choices are per vote)")
        return v

    def build(self, kind: VoteKind, default: KindPolicy) -> KindPolicy:
        return KindPolicy(
            kind,
            self.rule if self.rule is not None else default.rule,
            self.answers if self.answers is not None else default.answers,
            self.mode if self.mode is not None else default.mode,
        )


class FloorPolicyConfig(_Model):
    mode: MicMode = MicMode.REQUEST
    max_open: Annotated[int, Field(ge=MIN_OPEN_MICS, le=MAX_OPEN_MICS)] = 1
    max_requests: Annotated[int, Field(ge=0, le=MAX_REQUESTS)] = MAX_REQUESTS
    chair_priority: PriorityMode = PriorityMode.MUTE_WHILE_HELD
    speak_time_s: Annotated[float, Field(ge=0, le=MAX_TURN_S)] = 420.0
    question_time_s: Annotated[float, Field(ge=0, le=MAX_TURN_S)] = 180.0
    reply_time_s: Annotated[float, Field(ge=0, le=MAX_TURN_S)] = 180.0
    warning_s: Annotated[float, Field(ge=0, le=MAX_TURN_WARNING_S)] = 30.0
    at_zero: AtZero = AtZero.CONTINUE
    voice_open_db: Annotated[float, Field(ge=MIN_VOICE_OPEN_DB, le=MAX_VOICE_OPEN_DB)] = -30.0
    voice_hold_s: Annotated[float, Field(gt=0, le=MAX_VOICE_HOLD_S)] = 3.0


class PoliciesConfig(_Model):
    quorum: ThresholdConfig = ThresholdConfig(comparison=Comparison.MORE_THAN, fraction="1/2")
    vote: VotePolicyConfig = VotePolicyConfig()
    floor: FloorPolicyConfig = FloorPolicyConfig()
    rules: Annotated[list[RuleConfig], Field(max_length=100)] = []
    kinds: dict[VoteKind, KindConfig] = {}

    @model_validator(mode="after")
    def _rules_known(self) -> Self:
        keys = [r.key for r in self.rules]
        clash = sorted({k for k in keys if keys.count(k) > 1 or k in PRESETS})
        if clash:
            raise ValueError(f"rule key(s) defined twice or shadowing a preset: {clash}")
        known = set(PRESETS) | set(keys)
        if self.vote.rule not in known:
            raise ValueError(
                f"vote.rule {self.vote.rule!r} is neither a preset nor a rule of this hall "
                f"(known: {', '.join(sorted(known))})"
            )
        for kind, own in self.kinds.items():
            if own.rule is not None and own.rule not in known:
                raise _KeyedError(
                    f"policies.kinds.{kind.value}.rule",
                    f"{own.rule!r} is neither a preset nor a rule of this hall "
                    f"(known: {', '.join(sorted(known))})",
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
    # Where the hall is, for the minutes' place and date line ("Ninh Bình, ngày 02 tháng 12
    # năm 2026", Decree 30/2020/NĐ-CP); empty: the date alone.
    place: Annotated[str, Field(max_length=100)] = ""
    # A hall for practice (`chamber training`): every view, and so the console, says so, that
    # nobody takes it for a real sitting.
    training: bool = False

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
    # The UIDs of the delegate's cards, in hex (4, 7 or 10 bytes), for seats with card readers.
    cards: Annotated[list[str], Field(max_length=8)] = []

    @field_validator("cards")
    @classmethod
    def _card_uids(cls, v: list[str]) -> list[str]:
        uids = []
        for uid in v:
            if not re.fullmatch(r"[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}", uid) or int(uid, 16) == 0:
                raise ValueError(
                    f"card {uid!r} is not a card UID: write 8 or 14 hex digits"
                    ' (a 4- or 7-byte UID, as the reader gives it), e.g. "04A1B2C3D4E5F6"'
                )
            uids.append(uid.upper())
        return uids

    def build(self) -> Delegate:
        voting = self.voting if self.voting is not None else self.role is not Role.SECRETARY
        return Delegate(
            self.id,
            self.name,
            self.group,
            self.role,
            self.title,
            self.weight,
            voting,
            tuple(self.cards),
        )


class TermConfig(_Model):
    """`[term]`: the council's term (nhiệm kỳ), for the term report (`chamber report`): a
    sitting belongs to it when it opened on a day from `start` to `end`, in the hall's zone."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    start: date
    end: date

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"term.end {self.end} is before term.start {self.start}")
        return self


class BackupConfig(_Model):
    """`[backup]`: where the daemon backs up its journal (`chamber backup`), after every vote
    close and every `every_s` seconds; retention keeps the newest `keep_last` and one a day
    for `keep_days` days. A relative `dir` is taken from the hall file's directory."""

    dir: Annotated[str, Field(min_length=1, max_length=4096)]
    every_s: Annotated[float, Field(ge=1, le=7 * 86400)] = 900.0
    keep_last: Annotated[int, Field(ge=1, le=10_000)] = 48
    keep_days: Annotated[int, Field(ge=0, le=3660)] = 30


class ApiConfig(_Model):
    """`[api]`: where the API and the display wall it serves listen (`listen`: an address or an
    interface name, with a port: `controller.netbind`), and the certificate and key that make
    it HTTPS (PEM; relative paths are taken from the hall file's directory)."""

    listen: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    tls_cert: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    tls_key: Annotated[str, Field(min_length=1, max_length=4096)] | None = None

    @field_validator("listen")
    @classmethod
    def _a_listen_address(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_listen(v)
            except ListenError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _cert_with_key(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class SeatConfig(SeatWiring):
    """A seat: its place and delegate here, its units (`SeatWiring`) from drivers.topology."""

    model_config = StrictModel.model_config
    row: Annotated[int, Field(ge=1, le=1000)]
    col: Annotated[int, Field(ge=1, le=1000)]
    delegate: Annotated[str, Field(max_length=64)] | None = None


_SeatKey = Annotated[str, Field(pattern=r"^[0-9]{1,5}$")]
_Preset = Annotated[int, Field(ge=0, le=127)]


class CameraConfig(_Model):
    """A PTZ camera (`[[cameras]]`): its address, its chair and overview presets, and per
    seat the preset that frames it (`seats = { "5" = 15 }`)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")]
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 52381
    transport: CameraTransport = CameraTransport.VISCA_IP
    chair_preset: Annotated[int, Field(ge=0, le=127)] | None = None
    overview_preset: Annotated[int, Field(ge=0, le=127)] | None = None
    hold_s: Annotated[float, Field(ge=0, le=600)] = DEFAULT_HOLD_S
    seats: dict[_SeatKey, _Preset] = {}

    def build(self) -> CameraSpec:
        return CameraSpec(
            self.id,
            self.host,
            self.port,
            self.transport,
            self.chair_preset,
            self.overview_preset,
            {int(seat): preset for seat, preset in self.seats.items()},
            self.hold_s,
        )


class HallConfigModel(_Model):
    hall: HallInfo
    body: BodyConfig
    policies: PoliciesConfig = PoliciesConfig()
    delegates: Annotated[list[DelegateConfig], Field(max_length=MAX_MEMBERS)]
    lines: Annotated[list[LineConfig], Field(max_length=1000)] = []
    mqtt: MqttConfig = MqttConfig()
    seats: Annotated[list[SeatConfig], Field(max_length=MAX_SEATS)]
    term: TermConfig | None = None
    backup: BackupConfig | None = None
    api: ApiConfig = ApiConfig()
    cameras: Annotated[list[CameraConfig], Field(max_length=MAX_CAMERAS)] = []

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
        holders: dict[int, str] = {}
        for i, delegate in enumerate(self.delegates):
            for uid in delegate.cards:
                if int(uid, 16) in holders:
                    raise _KeyedError(
                        f"delegates[{i}].cards",
                        f"card {uid} is already delegate {holders[int(uid, 16)]!r}'s",
                    )
                holders[int(uid, 16)] = delegate.id
        delegates = {d.id for d in self.delegates}
        seated: dict[str, int] = {}
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
        check_wiring(self.lines, self.seats)
        numbers = {s.number for s in self.seats}
        for i, camera in enumerate(self.cameras):
            for key in camera.seats:
                if int(key) not in numbers:
                    raise _KeyedError(f"cameras[{i}].seats", f"no seat {key}")
        try:
            check_cameras(tuple(c.build() for c in self.cameras))
        except ValueError as exc:
            raise _KeyedError("cameras", str(exc)) from None
        return self


_KeyedError = KeyedError
_unique = unique


# --- what the rest of chamber uses ---------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A council's term (nhiệm kỳ): its name and the days its sittings open on (inclusive)."""

    name: str
    start: date
    end: date


@dataclass(frozen=True)
class BackupSettings:
    """The daemon's backups (`[backup]`): the directory, the timer and the retention."""

    dir: Path
    every_s: float
    keep_last: int
    keep_days: int


@dataclass(frozen=True)
class ApiSettings:
    """The hall file's `[api]`: where the API listens (None: the command line's or the
    default, 127.0.0.1:8700) and its certificate and key (None: plain HTTP)."""

    listen: Listen | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True)
class HallConfig(Topology):
    """A validated hall: its wiring (a `Topology`, what drivers and the simulator read) and
    the core's `Hall`."""

    hall: Hall = field(kw_only=True)
    timezone: str = field(default="UTC", kw_only=True)
    place: str = field(default="", kw_only=True)
    training: bool = field(default=False, kw_only=True)
    term: Term | None = field(default=None, kw_only=True)
    backup: BackupSettings | None = field(default=None, kw_only=True)
    api: ApiSettings = field(default=ApiSettings(), kw_only=True)
    cameras: tuple[CameraSpec, ...] = field(default=(), kw_only=True)

    @property
    def topology(self) -> Topology:
        """The wiring alone."""
        return Topology(self.hall_id, self.lines, self.units, self.broker, self.source)


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
            live_totals=p.vote.live_totals,
        ),
        floor=FloorPolicy(**p.floor.model_dump()),
        rules=tuple(r.build_rule() for r in p.rules),
    )
    policies = replace(
        policies,
        kinds=tuple(
            own.build(kind, kind_policy(kind, policies)) for kind, own in sorted(p.kinds.items())
        ),
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
        lines=tuple(ln.build() for ln in model.lines),
        units=tuple(s.build() for s in model.seats),
        broker=model.mqtt.build(),
        source=source,
        timezone=model.hall.timezone,
        place=model.hall.place,
        training=model.hall.training,
        term=Term(model.term.name, model.term.start, model.term.end) if model.term else None,
        backup=_backup(model.backup, source),
        api=_api(model.api, source),
        cameras=tuple(c.build() for c in model.cameras),
    )


def _relative(text: str, source: Path | None) -> Path:
    where = Path(text).expanduser()
    if not where.is_absolute() and source is not None:
        where = source.parent / where
    return where


def _api(a: ApiConfig, source: Path | None) -> ApiSettings:
    return ApiSettings(
        parse_listen(a.listen) if a.listen is not None else None,
        _relative(a.tls_cert, source) if a.tls_cert is not None else None,
        _relative(a.tls_key, source) if a.tls_key is not None else None,
    )


def _backup(b: BackupConfig | None, source: Path | None) -> BackupSettings | None:
    if b is None:
        return None
    where = Path(b.dir).expanduser()
    if not where.is_absolute() and source is not None:
        where = source.parent / where
    return BackupSettings(where, b.every_s, b.keep_last, b.keep_days)


def parse_config(data: dict[str, Any], source: str = "<config>") -> HallConfig:
    """Validate an already-parsed TOML document."""
    try:
        model = HallConfigModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe(exc)}") from None
    return _build(model, Path(source) if source != "<config>" else None)


def load_config(path: str | Path) -> HallConfig:
    """Read and validate a hall's TOML file; raises `ConfigError` with one clear message."""
    path = Path(path)
    try:
        data = read_toml(path)
    except TopologyError as exc:
        raise ConfigError(str(exc)) from None
    return parse_config(data, str(path))
