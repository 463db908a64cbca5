"""Everything the meeting core consumes: timestamped, frozen, and serialisable for the journal.

A unit input may carry `origin`: where on its transport the event came from, "KIND:BOOT:SEQ"
(a keypad's "kp:3:41", an IP unit's "ip:7:5": the unit's boot count and event number). The core
ignores it; after a restart the runtime hands the journaled origins to the drivers, which read
the presses made while the daemon was down, and drop those already counted.

Three sources feed the core: seat units (keypads, microphones, IP units), people (the chair,
the secretary, the technician, through the API) and the clock (`Tick`). Each input carries
`at`, the injected clock's reading when the runtime accepted it. Replaying the same inputs
in the same order rebuilds the same state.

`to_record` / `from_record` turn an input into a flat JSON-ready dict and back; the journal
stores these. Every input class is registered in `INPUT_TYPES` under its `kind`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, get_type_hints

from chamber.controller.core.model import (
    AnswerSet,
    ManualMethod,
    MicMode,
    SpeakerList,
    VoteKind,
    VoteMode,
)


@dataclass(frozen=True)
class Input:
    kind: ClassVar[str] = ""
    at: float


# --- from seat units ------------------------------------------------------------------------


@dataclass(frozen=True)
class PresenceChanged(Input):
    """The seat's presence key or card: a delegate sat down (True) or left (False)."""

    kind: ClassVar[str] = "presence"
    seat: int
    present: bool
    card: str | None = None
    origin: str | None = None


@dataclass(frozen=True)
class VoteKeyPressed(Input):
    """A voting key, numbered from 1 as printed on the keypad (1 yes, 2 no, 3 abstain)."""

    kind: ClassVar[str] = "vote-key"
    seat: int
    key: int
    origin: str | None = None


@dataclass(frozen=True)
class MicRequest(Input):
    """The request (or talk) button was pressed; `list` says which speakers' list."""

    kind: ClassVar[str] = "mic-request"
    seat: int
    list: SpeakerList = SpeakerList.SPEAK
    origin: str | None = None


@dataclass(frozen=True)
class MicCancel(Input):
    """The delegate withdrew a request, or switched a live microphone off."""

    kind: ClassVar[str] = "mic-cancel"
    seat: int
    origin: str | None = None


@dataclass(frozen=True)
class TalkButton(Input):
    """Push-to-talk: held (True) or released (False)."""

    kind: ClassVar[str] = "talk"
    seat: int
    held: bool
    origin: str | None = None


@dataclass(frozen=True)
class VoiceLevel(Input):
    """A voice-level report from a unit, in dBFS, for voice-activated mode."""

    kind: ClassVar[str] = "voice"
    seat: int
    level_db: float


@dataclass(frozen=True)
class ChairPriority(Input):
    """The chair's priority key: pressed (True) or released (False)."""

    kind: ClassVar[str] = "priority"
    seat: int
    held: bool
    origin: str | None = None


@dataclass(frozen=True)
class UnitRestarted(Input):
    """A unit of a seat restarted, and its event numbering starts again at `origin`.

    Journaled as a fact for the technician, and as the place a unit's stream resumes from:
    the drivers whose units carry no restart counter on the wire (microphone units) count
    restarts themselves, and the first event of the new run follows this record. Changes
    nothing in the sitting."""

    kind: ClassVar[str] = "unit-restarted"
    seat: int
    origin: str


# --- from people, through the API -------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who made a command: the operator's account (its id, name and role) the API found for
    the request's token. Always an operator (the chair, a deputy in the chair, the secretary,
    a technician), never a delegate: a delegate's inputs come from the seat's unit."""

    id: str
    name: str
    role: str


@dataclass(frozen=True)
class Command(Input):
    """An input from a person through the API. `actor` is who made it (None: the journals
    of earlier releases, and the commands the daemon makes itself); a record without one
    is written without the field, as before."""

    actor: Actor | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class AgendaItemSpec:
    id: str
    title: str
    # The item's title in English, when the sitting file gives one ("": the Vietnamese only).
    title_en: str = ""


@dataclass(frozen=True)
class OpenSitting(Command):
    """Open a sitting with its agenda. The fields after `agenda` come from a prepared sitting
    file (journals of earlier releases have none of them): the title in English, the date
    ("YYYY-MM-DD") and place the file names, and who presides and who keeps the minutes,
    each as a name and, when they are delegates of the hall, their delegate id."""

    kind: ClassVar[str] = "open-sitting"
    sitting_id: str
    title: str
    agenda: tuple[AgendaItemSpec, ...] = ()
    title_en: str = ""
    date: str = ""
    place: str = ""
    chair: str = ""
    chair_id: str = ""
    secretary: str = ""
    secretary_id: str = ""


@dataclass(frozen=True)
class CloseSitting(Command):
    kind: ClassVar[str] = "close-sitting"


@dataclass(frozen=True)
class SetCurrentItem(Command):
    kind: ClassVar[str] = "set-item"
    item_id: str


@dataclass(frozen=True)
class OpenAttendance(Command):
    """Start an attendance registration.

    `confirm` True is a roll call (điểm danh): a delegate is registered only by confirming
    on the seat's unit while it is open (the presence key or the card), or by the secretary
    (`SetPresence`). False, as journals of earlier releases have it: everyone present at any
    moment while it is open is registered."""

    kind: ClassVar[str] = "open-attendance"
    confirm: bool = False


@dataclass(frozen=True)
class CloseAttendance(Command):
    kind: ClassVar[str] = "close-attendance"


@dataclass(frozen=True)
class SetPresence(Command):
    """The secretary marks a delegate present or absent by hand (e.g. a broken card reader)."""

    kind: ClassVar[str] = "set-presence"
    seat: int
    present: bool
    # Why, for the record. The API requires one; journals of earlier releases have none.
    reason: str = ""


@dataclass(frozen=True)
class RecordAbsence(Command):
    """The secretary records why the delegate of `seat` is absent, for the minutes: with
    leave (`excused`, "vắng có lý do") or without. It changes no presence; the latest note
    for a delegate in a sitting is the one the minutes give."""

    kind: ClassVar[str] = "record-absence"
    seat: int
    excused: bool
    reason: str


@dataclass(frozen=True)
class MoveDelegate(Command):
    """Seat the delegate of `from_seat` at `to_seat`, a spare seat with no delegate (a unit
    broke): presence, the floor and later votes follow the delegate; votes cast before stay
    theirs. Refused while a vote holds the keypads."""

    kind: ClassVar[str] = "move-delegate"
    from_seat: int
    to_seat: int
    reason: str


@dataclass(frozen=True)
class CreateVote(Command):
    """Prepare a vote on the current agenda item. Fields left None take the hall's defaults."""

    kind: ClassVar[str] = "create-vote"
    vote_id: str
    title: str
    # None: the vote kind's answer set (yes/no/abstain unless the hall file says otherwise).
    answers: AnswerSet | None = AnswerSet.YES_NO_ABSTAIN
    choices: tuple[str, ...] = ()
    mode: VoteMode | None = None
    rule: str | None = None
    duration_s: float | None = None
    warning_s: float | None = None
    change_until_close: bool | None = None
    quorum_required: bool | None = None
    weighted: bool = False
    item_id: str | None = None
    # What the vote decides (None: a resolution); its rule, answers and mode follow it.
    vote_kind: VoteKind | None = None
    # A practice vote (biểu quyết thử): run on the hall, kept out of results and participation.
    practice: bool = False
    # The wall shows the running totals while the vote runs (None: the hall's default).
    live_totals: bool | None = None


@dataclass(frozen=True)
class AmendVote(Command):
    """Change a prepared vote; fields left None stay as they are (`choices` with `answers`)."""

    kind: ClassVar[str] = "amend-vote"
    vote_id: str
    title: str | None = None
    answers: AnswerSet | None = None
    choices: tuple[str, ...] | None = None
    mode: VoteMode | None = None
    rule: str | None = None
    duration_s: float | None = None
    warning_s: float | None = None
    change_until_close: bool | None = None
    quorum_required: bool | None = None
    item_id: str | None = None
    vote_kind: VoteKind | None = None
    live_totals: bool | None = None


@dataclass(frozen=True)
class AnnulVote(Command):
    """The chair annuls a vote (hủy kết quả) with a reason: an open one is stopped, a closed
    one's result stays in the record, marked annulled, and decides nothing."""

    kind: ClassVar[str] = "annul-vote"
    vote_id: str
    reason: str


@dataclass(frozen=True)
class RerunVote(Command):
    """Run an annulled vote again (biểu quyết lại): a new prepared vote `vote_id` with the
    annulled one's title, kind, rule, answers and mode, linked to it."""

    kind: ClassVar[str] = "rerun-vote"
    vote_id: str
    of_vote_id: str


@dataclass(frozen=True)
class EnterManualResult(Command):
    """The chair enters the result of a prepared vote taken by show of hands or on paper:
    the count per answer (key 1 first) and, if counted by hand, the members present."""

    kind: ClassVar[str] = "manual-result"
    vote_id: str
    method: ManualMethod
    totals: tuple[int, ...]
    present: int | None = None


@dataclass(frozen=True)
class OpenVote(Command):
    kind: ClassVar[str] = "open-vote"
    vote_id: str


@dataclass(frozen=True)
class HoldVote(Command):
    kind: ClassVar[str] = "hold-vote"
    vote_id: str


@dataclass(frozen=True)
class ResumeVote(Command):
    kind: ClassVar[str] = "resume-vote"
    vote_id: str


@dataclass(frozen=True)
class CloseVote(Command):
    kind: ClassVar[str] = "close-vote"
    vote_id: str


@dataclass(frozen=True)
class CancelVote(Command):
    kind: ClassVar[str] = "cancel-vote"
    vote_id: str


@dataclass(frozen=True)
class PublishVote(Command):
    kind: ClassVar[str] = "publish-vote"
    vote_id: str


@dataclass(frozen=True)
class SecretVoteSealed(Input):
    """A secret vote's closing record: its totals and who took part, never who chose what.

    The runtime appends it to the journal when it seals the vote (and destroys the presses);
    on replay it restores the result of a vote whose presses no longer exist. Not a command
    anyone sends: no API route makes one.
    """

    kind: ClassVar[str] = "secret-vote-sealed"
    vote_id: str
    totals: tuple[int, ...]
    weighted_totals: tuple[int, ...] | None
    participants: tuple[int, ...]
    # Where each unit's event stream stood when the vote was sealed, as "SEAT=ORIGIN" (e.g.
    # "12=kp:3:41"), for the units whose last event was one of this vote's presses. A cursor
    # is not a choice: it says how far a unit's numbering got, never which key was pressed.
    # After a restart the drivers resume from it, so no press is read twice from a unit.
    cursors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisterSpeaker(Command):
    """The chair or secretary puts a seat on a speakers' list, as if it had pressed request."""

    kind: ClassVar[str] = "register-speaker"
    seat: int
    list: SpeakerList = SpeakerList.SPEAK


@dataclass(frozen=True)
class GrantFloor(Command):
    """Give the floor to a seat (from any list, or directly)."""

    kind: ClassVar[str] = "grant"
    seat: int
    list: SpeakerList | None = None


@dataclass(frozen=True)
class GrantNext(Command):
    """Give the floor to the first seat waiting, on `list` or on the first non-empty list.

    `handover` True (the chair's "next"): the delegate microphones the floor's rules govern
    are switched off first, so the next speaker takes over. `add` True (the chair's "add a
    microphone"): the live ones stay on, and at the cap it is refused. Neither (every record
    of earlier releases): a grant beside the live ones, at the cap in place of the one open
    longest."""

    kind: ClassVar[str] = "grant-next"
    list: SpeakerList | None = None
    handover: bool = False
    add: bool = False


@dataclass(frozen=True)
class RevokeFloor(Command):
    """Take the floor (or a waiting request) away from a seat; None takes it from every speaker."""

    kind: ClassVar[str] = "revoke"
    seat: int | None = None


@dataclass(frozen=True)
class SetMicMode(Command):
    kind: ClassVar[str] = "mic-mode"
    mode: MicMode
    max_open: int | None = None


@dataclass(frozen=True)
class SetSpeakingTime(Command):
    """Change the time per turn for a list (0: no limit); applies to the next turns."""

    kind: ClassVar[str] = "speaking-time"
    list: SpeakerList
    seconds: float


@dataclass(frozen=True)
class ExtendSpeakingTime(Command):
    """Give a current speaker more time."""

    kind: ClassVar[str] = "extend-time"
    seat: int
    seconds: float


@dataclass(frozen=True)
class MicOverride(Command):
    """The technician forces a seat's microphone on or off, outside the floor rules."""

    kind: ClassVar[str] = "mic-override"
    seat: int
    on: bool


@dataclass(frozen=True)
class FaultAcknowledged(Command):
    """The technician has seen a fault of a line or unit: `fault` is its id in the fault
    list ("LINE/ADDRESS/KIND", e.g. "keypads-1/4/offline"), `since` when it began. On record
    as the technician's log; nothing in the sitting changes."""

    kind: ClassVar[str] = "fault-ack"
    fault: str
    since: float


@dataclass(frozen=True)
class CommissionStep(Input):
    """A step of commissioning a line from the technician's screen: `action` is "scan"
    (`units` what answered, "ADDRESS:SERIAL"), "assign" ("SERIAL:OLD->NEW"), "identify"
    (the address blinked) or "write" (the hall file written, `units` empty). On record as
    the technician's log; nothing in the sitting changes."""

    kind: ClassVar[str] = "commission"
    line: str
    action: str
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiChairPriority(Command):
    """Chair priority from the console rather than the chair's unit."""

    kind: ClassVar[str] = "api-priority"
    held: bool


# --- from the clock -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockAnchor(Input):
    """The daemon started: its clock read `at` when the calendar read `unix` (UTC seconds).

    Journaled at every start, so that exports and minutes can show dates and times. The
    core's timers never use it: they run on `at` alone.
    """

    kind: ClassVar[str] = "clock"
    unix: float


@dataclass(frozen=True)
class Tick(Input):
    """Time has passed: deadlines up to `at` fire. The runtime sends one at each deadline."""

    kind: ClassVar[str] = "tick"


INPUT_TYPES: dict[str, type[Input]] = {
    cls.kind: cls
    for cls in (
        PresenceChanged,
        VoteKeyPressed,
        MicRequest,
        MicCancel,
        TalkButton,
        VoiceLevel,
        UnitRestarted,
        ChairPriority,
        OpenSitting,
        CloseSitting,
        SetCurrentItem,
        OpenAttendance,
        CloseAttendance,
        SetPresence,
        RecordAbsence,
        MoveDelegate,
        CreateVote,
        OpenVote,
        HoldVote,
        ResumeVote,
        CloseVote,
        CancelVote,
        PublishVote,
        SecretVoteSealed,
        AmendVote,
        AnnulVote,
        RerunVote,
        EnterManualResult,
        RegisterSpeaker,
        GrantFloor,
        GrantNext,
        RevokeFloor,
        SetMicMode,
        SetSpeakingTime,
        ExtendSpeakingTime,
        MicOverride,
        FaultAcknowledged,
        CommissionStep,
        ApiChairPriority,
        Tick,
        ClockAnchor,
    )
}


class InputRecordError(ValueError):
    """A stored or received input record cannot be turned back into an input."""


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def to_record(inp: Input) -> dict[str, Any]:
    """A flat JSON-ready dict: {"kind": ..., "at": ..., field: value, ...}."""
    record: dict[str, Any] = {"kind": inp.kind}
    for f in dataclasses.fields(inp):
        value = getattr(inp, f.name)
        if f.name == "actor" and value is None:
            continue  # a command without an actor is recorded as earlier releases did
        record[f.name] = _plain(value)
    return record


Reviver = Callable[[Any], Any]


def _reviver(hint: Any) -> Reviver:
    """A function that turns a JSON value back into `hint`'s type; built once per field."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _reviver(args[0])
        return lambda v: None if v is None else inner(v)
    if origin is tuple:
        item = _reviver(typing.get_args(hint)[0])

        def revive_tuple(v: Any) -> Any:
            if not isinstance(v, list | tuple):
                raise InputRecordError(f"expected a list, got {v!r}")
            return tuple(item(x) for x in v)

        return revive_tuple
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        fields = _field_revivers(hint)

        def revive_object(v: Any) -> Any:
            if not isinstance(v, dict):
                raise InputRecordError(f"expected an object, got {v!r}")
            unknown = set(v) - set(fields)
            if unknown:
                raise InputRecordError(f"unknown field(s) {sorted(unknown)}")
            return hint(**{k: fields[k](x) for k, x in v.items()})

        return revive_object
    if hint is float:

        def revive_float(v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise InputRecordError(f"expected a number, got {v!r}")
            return float(v)

        return revive_float
    if hint in (int, str, bool):

        def revive_plain(v: Any) -> Any:
            if not isinstance(v, hint) or (hint is int and isinstance(v, bool)):
                raise InputRecordError(f"expected {hint.__name__}, got {v!r}")
            return v

        return revive_plain
    return lambda v: v


_REVIVERS: dict[type[Any], dict[str, Reviver]] = {}


def _field_revivers(cls: type[Any]) -> dict[str, Reviver]:
    revivers = _REVIVERS.get(cls)
    if revivers is None:
        hints = get_type_hints(cls)
        revivers = {f.name: _reviver(hints[f.name]) for f in dataclasses.fields(cls)}
        _REVIVERS[cls] = revivers
    return revivers


def from_record(record: dict[str, Any]) -> Input:
    """Rebuild an input from `to_record`'s output; raises `InputRecordError` on anything else."""
    # Nine records in ten of a day's journal are key presses: a restart replays them here, so
    # the common well-formed shape skips the generic field-by-field revival (same checks).
    if type(record) is dict and record.get("kind") == "vote-key":
        at, seat, key = record.get("at"), record.get("seat"), record.get("key")
        origin = record.get("origin")
        if (
            len(record) == 4 + ("origin" in record)
            and type(seat) is int
            and type(key) is int
            and (type(at) is float or type(at) is int)
            and (origin is None or type(origin) is str)
        ):
            return VoteKeyPressed(float(at), seat, key, origin)
    try:
        cls = INPUT_TYPES[record["kind"]]
    except (KeyError, TypeError) as exc:
        raise InputRecordError(f"unknown input kind in {record!r}") from exc
    fields = _field_revivers(cls)
    kwargs: dict[str, Any] = {}
    for name, value in record.items():
        if name == "kind":
            continue
        revive = fields.get(name)
        if revive is None:
            raise InputRecordError(f"{cls.kind}: unknown field {name!r}")
        try:
            kwargs[name] = revive(value)
        except (TypeError, ValueError) as exc:
            raise InputRecordError(f"{cls.kind}.{name}: {exc}") from exc
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputRecordError(f"{cls.kind}: {exc}") from exc
