"""The hall as the meeting core sees it: the body, its delegates and seats, and its rules.

These are plain frozen values. `controller.config` builds them from a hall's TOML file;
tests build them directly. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction


class Language(StrEnum):
    VI = "vi"
    EN = "en"


class Role(StrEnum):
    CHAIR = "chair"
    VICE_CHAIR = "vice-chair"
    DELEGATE = "delegate"
    SECRETARY = "secretary"


class MicClass(StrEnum):
    """Chair and VIP units do not count against the open-microphone cap."""

    DELEGATE = "delegate"
    CHAIR = "chair"
    VIP = "vip"


@dataclass(frozen=True)
class Delegate:
    id: str
    name: str
    group: str = ""
    role: Role = Role.DELEGATE
    title: str = ""
    weight: int = 1
    # A member who may vote. A secretary at a seat is usually not one.
    voting: bool = True
    # The UIDs of the delegate's cards (upper-case hex), for seats with card readers.
    cards: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seat:
    number: int
    row: int
    col: int
    delegate: str | None = None
    mic_class: MicClass = MicClass.DELEGATE
    has_keypad: bool = True
    has_mic: bool = True


@dataclass(frozen=True)
class Body:
    name: str
    members: int
    short_name: str = ""


# --- rules: a threshold over a base -----------------------------------------------------


class Comparison(StrEnum):
    MORE_THAN = "more-than"
    AT_LEAST = "at-least"
    UNANIMITY = "unanimity"


class Base(StrEnum):
    CAST = "cast"
    CAST_WITHOUT_ABSTENTIONS = "cast-without-abstentions"
    PRESENT = "present"
    ENTITLED = "entitled"
    ALL_MEMBERS = "all-members"


@dataclass(frozen=True)
class Threshold:
    """`comparison` `fraction` × base + `constant`; `UNANIMITY` ignores the fraction."""

    comparison: Comparison
    fraction: Fraction = Fraction(1, 2)
    constant: int = 0


@dataclass(frozen=True)
class MajorityRule:
    """What an option needs to be adopted. `key` names a preset or a hall's own rule."""

    key: str
    threshold: Threshold
    base: Base


@dataclass(frozen=True)
class QuorumRule:
    """Members present needed for the body to decide, over all its members."""

    threshold: Threshold


# --- votes --------------------------------------------------------------------------------


class AnswerSet(StrEnum):
    YES_NO_ABSTAIN = "yes-no-abstain"
    YES_NO = "yes-no"
    CHOICES = "choices"


class VoteMode(StrEnum):
    OPEN = "open"
    SECRET = "secret"
    ROLL_CALL = "roll-call"


class VoteKind(StrEnum):
    """What a vote decides; each kind names its default rule, answer set and mode
    (`KindPolicy`). The law behind each default is in `controller.core.kinds`."""

    # Nghị quyết: a resolution of the council.
    RESOLUTION = "resolution"
    # Bãi nhiệm đại biểu: the council dismisses one of its delegates.
    DISMISSAL = "dismissal"
    # Miễn nhiệm: the council relieves an office-holder it elected of the office.
    REMOVAL = "removal"
    # Bầu: the council elects an office-holder.
    ELECTION = "election"


@dataclass(frozen=True)
class KindPolicy:
    """A vote kind's defaults: the rule (a preset or the hall's own), the answer set and the
    mode (None: the hall's default mode, `VotePolicy.mode`)."""

    kind: VoteKind
    rule: str
    answers: AnswerSet = AnswerSet.YES_NO_ABSTAIN
    mode: VoteMode | None = None


class ManualMethod(StrEnum):
    """How a result the chair enters by hand was taken, when the system could not take it."""

    SHOW_OF_HANDS = "show-of-hands"
    PAPER = "paper"


@dataclass(frozen=True)
class VotePolicy:
    """The hall's defaults for a new vote; each vote may override them."""

    rule: str = "vn-council"
    duration_s: float = 60.0
    warning_s: float = 10.0
    change_until_close: bool = True
    quorum_required: bool = True
    mode: VoteMode = VoteMode.OPEN
    # The display wall shows an open vote's running totals and each seat's key while it runs;
    # False: only how many have voted, until the close (a secret vote never shows them).
    live_totals: bool = True


# --- the floor ------------------------------------------------------------------------------


class MicMode(StrEnum):
    OPEN = "open"
    OVERRIDE = "override"
    REQUEST = "request"
    VOICE = "voice"
    PUSH_TO_TALK = "push-to-talk"


class PriorityMode(StrEnum):
    MUTE_WHILE_HELD = "mute-while-held"
    ALL_OFF = "all-off"


class AtZero(StrEnum):
    CUT = "cut"
    CONTINUE = "continue"


class SpeakerList(StrEnum):
    SPEAK = "speak"
    QUESTION = "question"
    REPLY = "reply"


@dataclass(frozen=True)
class FloorPolicy:
    mode: MicMode = MicMode.REQUEST
    max_open: int = 1
    max_requests: int = 250
    chair_priority: PriorityMode = PriorityMode.MUTE_WHILE_HELD
    # Speaking time per turn and per list; 0 means no limit.
    speak_time_s: float = 420.0
    question_time_s: float = 180.0
    reply_time_s: float = 180.0
    warning_s: float = 30.0
    at_zero: AtZero = AtZero.CONTINUE
    # Voice-activated mode: opens above `voice_open_db`, closes after `voice_hold_s` below it.
    voice_open_db: float = -30.0
    voice_hold_s: float = 3.0


@dataclass(frozen=True)
class Policies:
    quorum: QuorumRule = field(
        default_factory=lambda: QuorumRule(Threshold(Comparison.MORE_THAN, Fraction(1, 2)))
    )
    vote: VotePolicy = field(default_factory=VotePolicy)
    floor: FloorPolicy = field(default_factory=FloorPolicy)
    # The hall's own named rules, beside the presets of `controller.core.rules`.
    rules: tuple[MajorityRule, ...] = ()
    # The hall's vote kinds that differ from `controller.core.kinds.DEFAULT_KINDS`; a kind
    # not listed takes its default there (the resolution's rule and mode: `vote`'s).
    kinds: tuple[KindPolicy, ...] = ()


@dataclass(frozen=True)
class Hall:
    """Everything the meeting core needs to know about a hall, and nothing about wires."""

    body: Body
    delegates: tuple[Delegate, ...]
    seats: tuple[Seat, ...]
    policies: Policies = field(default_factory=Policies)
    language: Language = Language.VI

    def delegate(self, delegate_id: str) -> Delegate:
        for d in self.delegates:
            if d.id == delegate_id:
                return d
        raise KeyError(delegate_id)

    def seat(self, number: int) -> Seat:
        for s in self.seats:
            if s.number == number:
                return s
        raise KeyError(number)
