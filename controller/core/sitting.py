"""The meeting core: sittings and agenda, attendance and quorum, votes, and the floor, as one
pure, deterministic state machine.

`MeetingCore(hall).handle(inp)` consumes every input of `controller.core.inputs` and returns
the effects (unit commands and notifications) it causes. The runtime sends a `Tick` at
`next_deadline()`; `snapshot()` is the full JSON-ready state for the API and the wall, built on
demand only. Replaying the same inputs into a fresh core rebuilds the same state: nothing here
reads a clock (time is each input's `at`), draws a random number or iterates an unordered set
into an output.

Bad input is handled in two ways, and which is which is fixed by the input's source:

* Chair, secretary and technician commands (OpenSitting, CreateVote, OpenVote, SetPresence,
  GrantFloor ...) raise `CommandRejected(code, message)` when they cannot be carried out:
  "not-found" (unknown seat, vote, agenda item, rule), "conflict" (wrong state, e.g.
  "vote 12 is closed: cannot open it") or "invalid" (malformed arguments). A rejected command
  changes nothing.
* Well-formed unit inputs (VoteKeyPressed, PresenceChanged, MicRequest, MicCancel,
  TalkButton, VoiceLevel, ChairPriority) never raise: a press outside an open vote, or during
  hold, is answered with a "press.rejected" notification carrying the reason and a REJECT beep
  to that seat; other unit inputs that cannot apply get a "*.rejected" notification. Both are
  log-worthy.
* Any input with a field of the wrong type (a float key, a boolean seat, a NaN time: a bug
  upstream) raises CommandRejected "invalid" before it changes anything
  (`controller.core.checks`), a unit input too: the runtime then neither journals it (its
  record could not be read back) nor sends anything for it.

Deadlines (a vote's warning and auto-close) are applied before any input whose `at` is at or
past them, at the deadline's own time, so a press that arrives after the end is late whether
or not the runtime's Tick got there first.

Only one vote holds the keypads at a time (open or on hold); others may be prepared.
The floor (microphones) is `controller.core.floor.Floor`; this module routes floor inputs to
it while a sitting is open, tells it the current agenda item, and merges its deadlines.
The technician's MicOverride reaches the floor even between sittings (to test a microphone).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.core.attendance import Attendance, Period
from controller.core.checks import input_problem
from controller.core.effects import (
    Beep,
    BeepPattern,
    Effect,
    ForgetEvents,
    KeypadLeds,
    KeypadLock,
    Notification,
)
from controller.core.errors import CommandRejected, HallError
from controller.core.floor import Floor
from controller.core.i18n import answer_labels
from controller.core.inputs import (
    AgendaItemSpec,
    ApiChairPriority,
    CancelVote,
    ChairPriority,
    ClockAnchor,
    CloseAttendance,
    CloseSitting,
    CloseVote,
    CreateVote,
    ExtendSpeakingTime,
    GrantFloor,
    GrantNext,
    HoldVote,
    Input,
    MicCancel,
    MicOverride,
    MicRequest,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    PublishVote,
    RegisterSpeaker,
    ResumeVote,
    RevokeFloor,
    SecretVoteSealed,
    SetCurrentItem,
    SetMicMode,
    SetPresence,
    SetSpeakingTime,
    TalkButton,
    Tick,
    UnitRestarted,
    VoiceLevel,
    VoteKeyPressed,
)
from controller.core.keypads import Keypads, KeypadState, wanted
from controller.core.limits import (
    MAX_CHOICES,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    MIN_CHOICES,
    UNTIMED,
)
from controller.core.model import AnswerSet, Delegate, Hall, Seat, VoteMode
from controller.core.participation import Participation, SpeechLike, build_participation
from controller.core.rules import rule_for, validate_threshold
from controller.core.votes import (
    ACTIVE_STATES,
    PressRejected,
    Vote,
    VoteCommand,
    VoteDefinition,
    VoteResult,
    VoteState,
)

# Unit inputs for the floor: rejected with a notification when no sitting is open.
FLOOR_UNIT_INPUTS: tuple[type[Input], ...] = (
    MicRequest,
    MicCancel,
    TalkButton,
    VoiceLevel,
    ChairPriority,
)
# Every input from a seat unit: never raises, even when malformed.
UNIT_INPUTS: tuple[type[Input], ...] = (PresenceChanged, VoteKeyPressed, *FLOOR_UNIT_INPUTS)
# Chair commands for the floor: CommandRejected when no sitting is open.
FLOOR_COMMANDS: tuple[type[Input], ...] = (
    RegisterSpeaker,
    GrantFloor,
    GrantNext,
    RevokeFloor,
    SetMicMode,
    SetSpeakingTime,
    ExtendSpeakingTime,
    ApiChairPriority,
)


@dataclass(frozen=True)
class SittingRecord:
    """A closed sitting, kept for its participation record."""

    sitting_id: str
    title: str
    agenda: tuple[AgendaItemSpec, ...]
    opened_at: float
    closed_at: float
    periods: dict[str, tuple[Period, ...]]
    votes: tuple[tuple[VoteDefinition, VoteResult], ...]
    speeches: tuple[SpeechLike, ...]


def _check_hall(hall: Hall) -> None:
    delegate_ids = [d.id for d in hall.delegates]
    if len(set(delegate_ids)) != len(delegate_ids):
        raise HallError("two delegates share an id")
    numbers = [s.number for s in hall.seats]
    if len(set(numbers)) != len(numbers):
        raise HallError("two seats share a number")
    known = set(delegate_ids)
    placed: set[str] = set()
    for seat in hall.seats:
        if seat.delegate is None:
            continue
        if seat.delegate not in known:
            raise HallError(f"seat {seat.number} names unknown delegate {seat.delegate!r}")
        if seat.delegate in placed:
            raise HallError(f"delegate {seat.delegate!r} has more than one seat")
        placed.add(seat.delegate)
    for d in hall.delegates:
        if d.weight < 1:
            raise HallError(f"delegate {d.id!r} has weight {d.weight}; weights start at 1")
    if hall.body.members < 1:
        raise HallError("the body has no members")
    for rule in hall.policies.rules:
        validate_threshold(rule.threshold)
    validate_threshold(hall.policies.quorum.threshold)


def _malformed(inp: Input) -> CommandRejected:
    """The refusal of an input with a field of the wrong type. A unit's value is not shown:
    it may be a key pressed in a secret ballot."""
    unit = type(inp) in UNIT_INPUTS
    problem = input_problem(inp, show_value=not unit) or "malformed"
    source = " from a unit" if unit else ""
    return CommandRejected("invalid", f"malformed {inp.kind}{source}: {problem}")


class MeetingCore:
    """The whole meeting state of one hall. See the module docstring for the contract."""

    def __init__(self, hall: Hall) -> None:
        _check_hall(hall)
        self.hall = hall
        self.language = hall.language
        self._seats: dict[int, Seat] = {s.number: s for s in hall.seats}
        self._delegates: dict[str, Delegate] = {d.id: d for d in hall.delegates}
        self._delegate_at: dict[int, Delegate] = {
            s.number: self._delegates[s.delegate] for s in hall.seats if s.delegate is not None
        }
        # Seats of voting members and the weight each carries in a weighted vote.
        self._weight_of: dict[int, int] = {
            seat: d.weight for seat, d in self._delegate_at.items() if d.voting
        }
        self._keypads = Keypads(s.number for s in hall.seats if s.has_keypad)
        voting = [d for d in hall.delegates if d.voting]
        self._entitled_heads = len(voting)
        self._entitled_weight = sum(d.weight for d in voting)
        # Vacant places of the body (members not listed in the hall) weigh 1 each.
        vacant = max(hall.body.members - len(voting), 0)
        self._all_weight = self._entitled_weight + vacant

        self.attendance = Attendance(hall)
        self.floor = Floor(hall)
        # The time of the latest input the core accepted (refused commands do not count).
        self._now = 0.0
        self._pending: list[Effect] = []

        self.sitting_id: str | None = None
        self.sitting_title = ""
        self.sitting_opened_at: float | None = None
        self.agenda: tuple[AgendaItemSpec, ...] = ()
        self.current_item: str | None = None
        self.history: list[SittingRecord] = []
        self._speech_mark = 0

        # Votes of the open sitting, in creation order; ids are unique for the core's life.
        self.votes: dict[str, Vote] = {}
        self._vote_ids: set[str] = set()
        self._active: Vote | None = None

        # (at, unix) at each daemon start: dates for exports, never used by a timer.
        self.clock_anchors: list[tuple[float, float]] = []

        self._handlers: dict[type[Input], Callable[[Any], list[Effect]]] = {
            PresenceChanged: self._on_presence,
            SetPresence: self._on_set_presence,
            OpenSitting: self._on_open_sitting,
            CloseSitting: self._on_close_sitting,
            SetCurrentItem: self._on_set_item,
            OpenAttendance: self._on_open_attendance,
            CloseAttendance: self._on_close_attendance,
            CreateVote: self._on_create_vote,
            OpenVote: self._on_open_vote,
            HoldVote: self._on_hold_vote,
            ResumeVote: self._on_resume_vote,
            CloseVote: self._on_close_vote,
            CancelVote: self._on_cancel_vote,
            PublishVote: self._on_publish_vote,
            SecretVoteSealed: self._on_secret_sealed,
            Tick: self._on_tick,
            ClockAnchor: self._on_clock_anchor,
            # A fact for the record and the drivers' cursors: nothing in the sitting changes.
            UnitRestarted: lambda inp: [],
            MicOverride: self.floor.handle,
        }
        for cls in FLOOR_UNIT_INPUTS:
            self._handlers[cls] = self._on_floor_unit
        for cls in FLOOR_COMMANDS:
            self._handlers[cls] = self._on_floor_command

    # --- the one entry point --------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        """Apply one input; returns its effects, or raises `CommandRejected` for a chair command."""
        at = inp.at
        vote = self._active
        if type(inp) is VoteKeyPressed:
            # The hot path: thousands of presses a second at a big hall. Never raises.
            if not (
                type(inp.seat) is int
                and type(inp.key) is int
                and type(at) in (float, int)
                and math.isfinite(at)
            ):
                raise _malformed(inp)
            if at > self._now:
                self._now = at
            effects = self._take_pending()
            if vote is not None:
                due = vote.next_deadline()
                if due is not None and at >= due:
                    effects += self._vote_timers(at)
            effects += self._on_press(inp)
            return effects
        handler = self._handlers.get(type(inp))
        if handler is None:
            raise CommandRejected("invalid", f"the meeting core does not take {inp.kind!r}")
        if input_problem(inp) is not None:
            # Refused before anything changes: no half-applied input, no seat left stuck.
            raise _malformed(inp)
        effects = self._take_pending()
        if vote is not None:
            due = vote.next_deadline()
            if due is not None and at >= due:
                effects += self._vote_timers(at)
        try:
            effects += handler(inp)
        except CommandRejected:
            # The refused command changed nothing, but the deadlines that passed before it
            # did fire: their effects go out with the next input rather than being lost.
            self._pending = effects
            raise
        if at > self._now:
            self._now = at
        return effects

    def _on_clock_anchor(self, inp: ClockAnchor) -> list[Effect]:
        self.clock_anchors.append((inp.at, inp.unix))
        return []

    @property
    def now(self) -> float:
        """The time of the latest input the core has taken."""
        return self._now

    def unix_time(self, at: float) -> float | None:
        """The calendar time (UTC seconds) of the core time `at`, from the anchor before it."""
        best: tuple[float, float] | None = None
        for anchor in self.clock_anchors:
            if anchor[0] <= at:
                best = anchor
        if best is None:
            return None
        return best[1] + (at - best[0])

    def _take_pending(self) -> list[Effect]:
        if not self._pending:
            return []
        effects, self._pending = self._pending, []
        return effects

    def next_deadline(self) -> float | None:
        """When the core next needs a Tick: a vote's warning or end, or a floor deadline."""
        deadlines = [self.floor.next_deadline()]
        if self._active is not None:
            deadlines.append(self._active.next_deadline())
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # --- helpers ----------------------------------------------------------------------------

    @property
    def active_vote(self) -> Vote | None:
        """The vote holding the keypads (open or on hold), if any."""
        return self._active

    @property
    def sitting_open(self) -> bool:
        return self.sitting_id is not None

    def _require_sitting(self) -> None:
        if self.sitting_id is None:
            raise CommandRejected("conflict", "no sitting is open")

    def _vote(self, vote_id: str) -> Vote:
        vote = self.votes.get(vote_id)
        if vote is None:
            raise CommandRejected("not-found", f"no vote {vote_id!r} in this sitting")
        return vote

    def _seat(self, number: int) -> Seat:
        seat = self._seats.get(number)
        if seat is None:
            raise CommandRejected("not-found", f"no seat {number}")
        return seat

    def _delegate_id(self, seat: int) -> str | None:
        d = self._delegate_at.get(seat)
        return d.id if d is not None else None

    def _wanted(self, seat: int, vote: Vote | None) -> KeypadState:
        """What the keypad at `seat` should show with `vote` on the keypads."""
        return wanted(
            vote,
            seat,
            present=self.attendance.is_present(seat),
            voting=seat in self._weight_of,
        )

    def _quorum_effects(self, was_quorate: bool, at: float) -> list[Effect]:
        if self.attendance.quorate == was_quorate:
            return []
        return [Notification("quorum.changed", {"at": at, **self.attendance.quorum_json()})]

    # --- sitting and agenda -------------------------------------------------------------------

    def _on_open_sitting(self, inp: OpenSitting) -> list[Effect]:
        if self.sitting_id is not None:
            raise CommandRejected("conflict", f"sitting {self.sitting_id} is open; close it first")
        if not inp.sitting_id:
            raise CommandRejected("invalid", "a sitting needs an id")
        if any(r.sitting_id == inp.sitting_id for r in self.history):
            raise CommandRejected("conflict", f"sitting {inp.sitting_id} was already held")
        item_ids = [item.id for item in inp.agenda]
        if len(set(item_ids)) != len(item_ids) or not all(item_ids):
            raise CommandRejected("invalid", "agenda item ids must be unique and not empty")
        self.sitting_id = inp.sitting_id
        self.sitting_title = inp.title
        self.sitting_opened_at = inp.at
        self.agenda = inp.agenda
        self.current_item = item_ids[0] if item_ids else None
        self.votes = {}
        self.attendance.start_recording(inp.at)
        self._speech_mark = len(self.floor.speeches)
        effects = self.floor.set_item(self.current_item, inp.at)
        effects.append(Notification("sitting.changed", self._sitting_json()))
        effects.append(
            Notification("quorum.changed", {"at": inp.at, **self.attendance.quorum_json()})
        )
        return effects

    def _on_close_sitting(self, inp: CloseSitting) -> list[Effect]:
        sitting_id, opened_at = self.sitting_id, self.sitting_opened_at
        if sitting_id is None or opened_at is None:
            raise CommandRejected("conflict", "no sitting is open")
        if self._active is not None:
            raise CommandRejected(
                "conflict", f"vote {self._active.vote_id} is {self._active.state.value}"
            )
        effects = self.floor.set_item(None, inp.at)
        periods = self.attendance.stop_recording(inp.at)
        self.history.append(
            SittingRecord(
                sitting_id=sitting_id,
                title=self.sitting_title,
                agenda=self.agenda,
                opened_at=opened_at,
                closed_at=inp.at,
                periods=periods,
                votes=self._closed_votes(),
                speeches=tuple(self.floor.speeches[self._speech_mark :]),
            )
        )
        self.sitting_id = None
        self.sitting_title = ""
        self.sitting_opened_at = None
        self.agenda = ()
        self.current_item = None
        self.votes = {}
        effects.append(Notification("sitting.changed", self._sitting_json()))
        return effects

    def _on_set_item(self, inp: SetCurrentItem) -> list[Effect]:
        self._require_sitting()
        if all(item.id != inp.item_id for item in self.agenda):
            raise CommandRejected("not-found", f"no agenda item {inp.item_id!r}")
        if self._active is not None:
            raise CommandRejected(
                "conflict", f"vote {self._active.vote_id} is {self._active.state.value}"
            )
        if inp.item_id == self.current_item:
            return []
        self.current_item = inp.item_id
        effects = self.floor.set_item(inp.item_id, inp.at)
        effects.append(Notification("sitting.changed", self._sitting_json()))
        return effects

    # --- attendance -------------------------------------------------------------------------

    def _on_presence(self, inp: PresenceChanged) -> list[Effect]:
        seat = inp.seat
        if seat not in self._seats:
            return [
                Notification(
                    "presence.rejected", {"at": inp.at, "seat": seat, "reason": "unknown-seat"}
                )
            ]
        if seat not in self._delegate_at:
            return [
                Notification(
                    "presence.rejected", {"at": inp.at, "seat": seat, "reason": "no-delegate"}
                ),
                Beep(seat, BeepPattern.REJECT),
            ]
        return self._apply_presence(seat, inp.present, inp.at, "unit")

    def _on_set_presence(self, inp: SetPresence) -> list[Effect]:
        self._seat(inp.seat)
        if inp.seat not in self._delegate_at:
            raise CommandRejected("invalid", f"seat {inp.seat} has no delegate")
        return self._apply_presence(inp.seat, inp.present, inp.at, "secretary")

    def _apply_presence(self, seat: int, present: bool, at: float, source: str) -> list[Effect]:
        was_quorate = self.attendance.quorate
        if not self.attendance.set_present(seat, present, at):
            return []
        effects: list[Effect] = []
        vote = self._active
        voting = seat in self._weight_of
        if vote is not None and voting and present:
            vote.admit(seat)
        if seat in self._keypads:
            effects += self._keypads.update(
                seat,
                self._wanted(seat, vote),
                relock=vote is not None and voting and not present,
            )
        if vote is not None and voting and not present and vote.calling == seat:
            effects.extend(self._advance_call(vote))
        effects.append(
            Notification(
                "attendance.changed",
                {
                    "at": at,
                    "seat": seat,
                    "delegate": self._delegate_id(seat),
                    "present": present,
                    "source": source,
                    "present_count": len(self.attendance.present_seats),
                    "members_present": self.attendance.present_members,
                },
            )
        )
        effects.extend(self._quorum_effects(was_quorate, at))
        return effects

    def _on_open_attendance(self, inp: OpenAttendance) -> list[Effect]:
        self._require_sitting()
        if self.attendance.registration_open:
            raise CommandRejected("conflict", "an attendance registration is already open")
        self.attendance.open_registration(inp.at)
        return [
            Notification(
                "attendance.changed",
                {"at": inp.at, "registration": "open", **self.attendance.quorum_json()},
            )
        ]

    def _on_close_attendance(self, inp: CloseAttendance) -> list[Effect]:
        self._require_sitting()
        if not self.attendance.registration_open:
            raise CommandRejected("conflict", "no attendance registration is open")
        registration = self.attendance.close_registration(inp.at)
        return [
            Notification(
                "attendance.changed",
                {"at": inp.at, "registration": "closed", **registration.to_json()},
            )
        ]

    # --- votes ------------------------------------------------------------------------------

    def _on_create_vote(self, inp: CreateVote) -> list[Effect]:
        self._require_sitting()
        if not inp.vote_id:
            raise CommandRejected("invalid", "a vote needs an id")
        if inp.vote_id in self._vote_ids:
            raise CommandRejected("conflict", f"vote {inp.vote_id} already exists")
        if not inp.title.strip():
            raise CommandRejected("invalid", "a vote needs a title")
        item_id = inp.item_id if inp.item_id is not None else self.current_item
        if inp.item_id is not None and all(item.id != inp.item_id for item in self.agenda):
            raise CommandRejected("not-found", f"no agenda item {inp.item_id!r}")
        if inp.answers is AnswerSet.CHOICES:
            if not MIN_CHOICES <= len(inp.choices) <= MAX_CHOICES:
                raise CommandRejected(
                    "invalid",
                    f"a choices vote needs {MIN_CHOICES}..{MAX_CHOICES} options, "
                    f"not {len(inp.choices)}",
                )
            if not all(c.strip() for c in inp.choices) or len(set(inp.choices)) != len(inp.choices):
                raise CommandRejected("invalid", "options must be distinct and not empty")
            options = inp.choices
        else:
            if inp.choices:
                raise CommandRejected("invalid", f"a {inp.answers.value} vote takes no options")
            options = answer_labels(self.language, inp.answers)
        policy = self.hall.policies.vote
        duration = policy.duration_s if inp.duration_s is None else inp.duration_s
        warning = policy.warning_s if inp.warning_s is None else inp.warning_s
        if duration < 0 or warning < 0:
            raise CommandRejected("invalid", "times cannot be negative")
        if duration > MAX_VOTE_DURATION_S or warning > MAX_VOTE_WARNING_S:
            raise CommandRejected(
                "invalid", f"a vote lasts at most {MAX_VOTE_DURATION_S:g} s (0: no time limit)"
            )
        if duration == UNTIMED:
            warning = 0.0
        elif warning >= duration:
            raise CommandRejected(
                "invalid", f"the warning ({warning} s) must come before the end ({duration} s)"
            )
        definition = VoteDefinition(
            vote_id=inp.vote_id,
            title=inp.title,
            item_id=item_id,
            answers=inp.answers,
            options=options,
            mode=inp.mode if inp.mode is not None else policy.mode,
            rule=rule_for(inp.rule if inp.rule is not None else policy.rule, self.hall.policies),
            duration_s=float(duration),
            warning_s=float(warning),
            change_until_close=(
                policy.change_until_close
                if inp.change_until_close is None
                else inp.change_until_close
            ),
            quorum_required=(
                policy.quorum_required if inp.quorum_required is None else inp.quorum_required
            ),
            weighted=inp.weighted,
        )
        vote = Vote(definition, inp.at)
        self.votes[inp.vote_id] = vote
        self._vote_ids.add(inp.vote_id)
        return [Notification("vote.created", self._vote_json(vote))]

    def _on_open_vote(self, inp: OpenVote) -> list[Effect]:
        vote = self._vote(inp.vote_id)
        vote.check(VoteCommand.OPEN)
        if self._active is not None:
            raise CommandRejected(
                "conflict",
                f"vote {self._active.vote_id} is {self._active.state.value}; close it first",
            )
        if vote.definition.quorum_required and not self.attendance.quorate:
            q = self.attendance.quorum_json()
            raise CommandRejected(
                "conflict",
                f"no quorum: {q['present']} members present, {q['required']} needed",
            )
        electorate = frozenset(self.attendance.voting_present)
        vote.open(inp.at, electorate)
        self._active = vote
        # Clear what the last vote left lit, then restate every lock: the electorate unlocks.
        keypads = self._keypads
        effects: list[Effect] = [keypads.leds_off_all()]
        for seat in keypads.seats:
            effects.append(keypads.restate_lock(seat, self._wanted(seat, vote)))
        effects.append(
            Notification(
                "vote.opened",
                {
                    "at": inp.at,
                    "vote_id": vote.vote_id,
                    "electorate": len(electorate),
                    "deadline": vote.deadline,
                    "duration_s": vote.definition.duration_s,
                },
            )
        )
        if vote.definition.mode is VoteMode.ROLL_CALL:
            effects.append(self._call_notification(vote))
        return effects

    def _on_hold_vote(self, inp: HoldVote) -> list[Effect]:
        vote = self._vote(inp.vote_id)
        vote.hold(inp.at)
        return [
            self._keypads.lock_all(vote.definition.keys),
            Notification(
                "vote.held",
                {"at": inp.at, "vote_id": vote.vote_id, "remaining_s": vote.remaining_s},
            ),
        ]

    def _on_resume_vote(self, inp: ResumeVote) -> list[Effect]:
        vote = self._vote(inp.vote_id)
        vote.resume(inp.at)
        effects: list[Effect] = []
        for seat in self._keypads.seats:
            effects += self._keypads.update(seat, self._wanted(seat, vote))
        effects.append(
            Notification(
                "vote.resumed", {"at": inp.at, "vote_id": vote.vote_id, "deadline": vote.deadline}
            )
        )
        return effects

    def _on_close_vote(self, inp: CloseVote) -> list[Effect]:
        return self._close(self._vote(inp.vote_id), inp.at, auto=False)

    def _close(self, vote: Vote, at: float, *, auto: bool) -> list[Effect]:
        weighted = vote.definition.weighted
        result = vote.close(
            at,
            electorate=frozenset(self.attendance.voting_present),
            weight_of=self._weight_of,
            entitled=self._entitled_weight if weighted else self._entitled_heads,
            all_members=self._all_weight if weighted else self.hall.body.members,
            language=self.language,
            auto=auto,
        )
        self._active = None
        return [
            self._keypads.lock_all(vote.definition.keys),
            self._keypads.leds_off_all(),
            *_forget_secret(vote),
            Notification(
                "vote.closed",
                {
                    "at": at,
                    "vote_id": vote.vote_id,
                    "auto": auto,
                    "result": result.to_json(vote.definition.options),
                },
            ),
        ]

    def _on_cancel_vote(self, inp: CancelVote) -> list[Effect]:
        vote = self._vote(inp.vote_id)
        was_active = vote.state in ACTIVE_STATES
        vote.cancel(inp.at)
        effects: list[Effect] = []
        if was_active:
            self._active = None
            effects += [
                self._keypads.lock_all(vote.definition.keys),
                self._keypads.leds_off_all(),
                *_forget_secret(vote),
            ]
        effects.append(Notification("vote.cancelled", {"at": inp.at, "vote_id": vote.vote_id}))
        return effects

    def _on_publish_vote(self, inp: PublishVote) -> list[Effect]:
        vote = self._vote(inp.vote_id)
        vote.publish()
        assert vote.result is not None  # a closed vote always has one
        return [
            Notification(
                "vote.result",
                {
                    "at": inp.at,
                    "vote_id": vote.vote_id,
                    "title": vote.definition.title,
                    "item_id": vote.definition.item_id,
                    "result": vote.result.to_json(vote.definition.options),
                },
            )
        ]

    def _on_secret_sealed(self, inp: SecretVoteSealed) -> list[Effect]:
        # Live, the core already holds this result and the record changes nothing; on replay
        # the presses are gone and the record is what restores the totals.
        vote = self._vote(inp.vote_id)
        weighted = vote.definition.weighted
        vote.restore_sealed(
            inp.totals,
            inp.weighted_totals,
            inp.participants,
            weight_of=self._weight_of,
            entitled=self._entitled_weight if weighted else self._entitled_heads,
            all_members=self._all_weight if weighted else self.hall.body.members,
            language=self.language,
        )
        return []

    def _vote_timers(self, at: float) -> list[Effect]:
        """Fire the active vote's warning and auto-close due by `at`, each at its own time."""
        vote = self._active
        effects: list[Effect] = []
        if vote is None or vote.state is not VoteState.OPEN or vote.deadline is None:
            return effects
        warn_at = vote.warn_at
        if warn_at is not None and at >= warn_at:
            vote.warned = True
            self._now = max(self._now, warn_at)
            effects.append(
                Notification(
                    "vote.warning",
                    {
                        "at": warn_at,
                        "vote_id": vote.vote_id,
                        "remaining_s": vote.deadline - warn_at,
                        "deadline": vote.deadline,
                    },
                )
            )
        if at >= vote.deadline:
            self._now = max(self._now, vote.deadline)
            effects.extend(self._close(vote, vote.deadline, auto=True))
        return effects

    # --- key presses (unit input: never raises) -----------------------------------------------

    def _reject_press(
        self, inp: VoteKeyPressed, reason: PressRejected, vote: Vote | None
    ) -> list[Effect]:
        data: dict[str, Any] = {"at": inp.at, "seat": inp.seat, "reason": reason.value}
        if vote is not None:
            data["vote_id"] = vote.vote_id
        # Even a refused key could hint at a secret choice: say only that a key was pressed.
        if vote is None or not vote.definition.secret:
            data["key"] = inp.key
        notification = Notification("press.rejected", data)
        if reason is PressRejected.UNKNOWN_SEAT:
            return [notification]
        return [notification, Beep(inp.seat, BeepPattern.REJECT)]

    def _on_press(self, inp: VoteKeyPressed) -> list[Effect]:
        seat = inp.seat
        vote = self._active
        if seat not in self._seats:
            return self._reject_press(inp, PressRejected.UNKNOWN_SEAT, vote)
        if vote is None:
            return self._reject_press(inp, PressRejected.NO_OPEN_VOTE, None)
        if vote.state is not VoteState.OPEN:
            return self._reject_press(inp, PressRejected.VOTE_ON_HOLD, vote)
        weight = self._weight_of.get(seat)
        if weight is None:
            return self._reject_press(inp, PressRejected.NOT_ENTITLED, vote)
        if seat not in self.attendance.present_seats:
            return self._reject_press(inp, PressRejected.NOT_PRESENT, vote)
        outcome = vote.press(seat, inp.key, weight)
        if isinstance(outcome, PressRejected):
            return self._reject_press(inp, outcome, vote)
        d = vote.definition
        # The only effect allowed to carry a secret choice: the seat's own keypad LEDs, which
        # confirm every counted press; a vote that keeps the first press then locks the seat.
        effects: list[Effect] = []
        if seat in self._keypads:
            effects += self._keypads.update(seat, self._wanted(seat, vote), confirm=True)
        else:
            # A seat the hall lists without a keypad pressed all the same: it is confirmed,
            # and locked after its press, outside the mirror of the keypads.
            effects.append(KeypadLeds(seat, lit=(inp.key,), present=True))
            if not d.change_until_close:
                effects.append(KeypadLock(seat, locked=True, keys=d.keys))
        if d.secret:
            effects.append(
                Notification(
                    "vote.tally",
                    {"at": inp.at, "vote_id": d.vote_id, "voted": len(vote.participants)},
                )
            )
        else:
            effects.append(
                Notification(
                    "vote.tally",
                    {
                        "at": inp.at,
                        "vote_id": d.vote_id,
                        "seat": seat,
                        "delegate": self._delegate_at[seat].id,
                        "key": inp.key,
                        "voted": len(vote.participants),
                        "totals": list(vote.heads),
                    },
                )
            )
        if vote.calling == seat:
            effects.extend(self._advance_call(vote))
        return effects

    def _advance_call(self, vote: Vote) -> list[Effect]:
        vote.advance_call(self.attendance.is_present)
        return [self._call_notification(vote)]

    def _call_notification(self, vote: Vote) -> Notification:
        seat = vote.calling
        return Notification(
            "vote.call",
            {
                "vote_id": vote.vote_id,
                "seat": seat,
                "delegate": self._delegate_id(seat) if seat is not None else None,
                "position": vote.call_index + 1 if seat is not None else None,
                "of": len(vote.call_order),
            },
        )

    # --- the floor --------------------------------------------------------------------------

    def _on_floor_unit(self, inp: Input) -> list[Effect]:
        if self.sitting_id is None:
            if isinstance(inp, VoiceLevel):
                # Meter data streams many times a second: dropping it is not news.
                return []
            return [
                Notification(
                    "floor.request-rejected",
                    {
                        "at": inp.at,
                        "seat": getattr(inp, "seat", None),
                        "input": inp.kind,
                        "reason": "no-sitting",
                    },
                )
            ]
        return self.floor.handle(inp)

    def _on_floor_command(self, inp: Input) -> list[Effect]:
        self._require_sitting()
        return self.floor.handle(inp)

    def _on_tick(self, inp: Tick) -> list[Effect]:
        # The vote timers already ran in `handle`; the floor keeps its own.
        return self.floor.handle(inp)

    # --- views ------------------------------------------------------------------------------

    def _closed_votes(self) -> tuple[tuple[VoteDefinition, VoteResult], ...]:
        return tuple((v.definition, v.result) for v in self.votes.values() if v.result is not None)

    def _sitting_json(self) -> dict[str, Any]:
        return {
            "open": self.sitting_id is not None,
            "sitting_id": self.sitting_id,
            "title": self.sitting_title,
            "opened_at": self.sitting_opened_at,
            "agenda": [
                {"id": item.id, "title": item.title, "current": item.id == self.current_item}
                for item in self.agenda
            ],
            "current_item": self.current_item,
        }

    def _vote_json(self, vote: Vote) -> dict[str, Any]:
        data = vote.to_json(self._now)
        if "calling" in data:
            seat = data["calling"]
            data["calling_delegate"] = self._delegate_id(seat) if seat is not None else None
            data["call_order_delegates"] = [self._delegate_id(s) for s in vote.call_order]
        return data

    def snapshot(self) -> dict[str, Any]:
        """The full state, JSON-ready, built on demand (never on a press)."""
        return {
            "now": self._now,
            "language": self.language.value,
            "sitting": self._sitting_json(),
            "attendance": self.attendance.to_json(self._now),
            "quorum": self.attendance.quorum_json(),
            "active_vote": self._active.vote_id if self._active is not None else None,
            "votes": [self._vote_json(v) for v in self.votes.values()],
            "results": [
                {
                    "vote_id": d.vote_id,
                    "title": d.title,
                    "item_id": d.item_id,
                    **r.to_json(d.options),
                }
                for d, r in self._closed_votes()
            ],
            "sittings": [
                {
                    "sitting_id": r.sitting_id,
                    "title": r.title,
                    "opened_at": r.opened_at,
                    "closed_at": r.closed_at,
                    "votes": len(r.votes),
                }
                for r in self.history
            ],
            "floor": self.floor.snapshot(),
        }

    def participation(self, sitting_id: str | None = None) -> dict[str, Participation]:
        """Per-delegate record of a sitting: the open one by default, or a past one by id."""
        if sitting_id is None or sitting_id == self.sitting_id:
            if self.sitting_id is None:
                if not self.history:
                    raise CommandRejected("not-found", "no sitting has been held")
                return self._past_participation(self.history[-1])
            return build_participation(
                self.hall,
                self.sitting_id,
                self._now,
                self.attendance.periods,
                self._closed_votes(),
                self.floor.speeches[self._speech_mark :],
            )
        for record in self.history:
            if record.sitting_id == sitting_id:
                return self._past_participation(record)
        raise CommandRejected("not-found", f"no sitting {sitting_id!r}")

    def _past_participation(self, record: SittingRecord) -> dict[str, Participation]:
        return build_participation(
            self.hall,
            record.sitting_id,
            record.closed_at,
            record.periods,
            record.votes,
            record.speeches,
        )

    def unit_state(self) -> list[Effect]:
        """What every unit should show now (keypads, then microphones), to resynchronise units
        after a restart or a replay."""
        vote = self._active
        effects: list[Effect] = []
        for seat in self._keypads.seats:
            effects += self._keypads.restate(seat, self._wanted(seat, vote))
        if vote is None and any(v.definition.secret for v in self.votes.values()):
            # A restart may have come between a secret vote's close and the units' forgetting.
            effects.append(ForgetEvents(None))
        for seat in sorted(self._seats):
            if self._seats[seat].has_mic:
                effects.extend(self.floor.restate(seat))
        return effects


def _forget_secret(vote: Vote) -> list[Effect]:
    """After a secret vote no unit may keep its choices where a bus master can read them."""
    return [ForgetEvents(None)] if vote.definition.secret else []
