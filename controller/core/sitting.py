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

The pieces: this module keeps the sittings, the agenda and attendance, and routes the rest.
Votes, key presses, roll call and the keypads are `controller.core.ballots.Ballots`: only
one vote holds the keypads at a time (open or on hold); others may be prepared, and whether
a press counts is decided there, in one place. The floor (microphones) is
`controller.core.floor.Floor`; this module routes floor inputs to it while a sitting is open,
tells it the current agenda item, and merges its deadlines. The technician's MicOverride
reaches the floor even between sittings (to test a microphone). The snapshots and
participation records are built by `controller.core.snapshots`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chamber.controller.core.attendance import (
    AbsenceNote,
    Attendance,
    Period,
    PresenceMark,
    Registration,
    SeatMove,
)
from chamber.controller.core.ballots import Ballots
from chamber.controller.core.checks import input_problem
from chamber.controller.core.effects import Beep, BeepPattern, Effect, Notification
from chamber.controller.core.errors import CommandRejected, HallError
from chamber.controller.core.floor import Floor
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    AmendVote,
    AnnulVote,
    ApiChairPriority,
    CancelVote,
    ChairPriority,
    ClockAnchor,
    CloseAttendance,
    CloseSitting,
    CloseVote,
    CommissionStep,
    CreateVote,
    EnterManualResult,
    ExtendSpeakingTime,
    FaultAcknowledged,
    GrantFloor,
    GrantNext,
    HoldVote,
    Input,
    MicCancel,
    MicOverride,
    MicRequest,
    MoveDelegate,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    PublishVote,
    RecordAbsence,
    RegisterSpeaker,
    RerunVote,
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
from chamber.controller.core.limits import MAX_SEAT_REASON
from chamber.controller.core.model import Hall, Seat
from chamber.controller.core.participation import Participation, SpeechLike
from chamber.controller.core.rules import validate_threshold
from chamber.controller.core.snapshots import participation, sitting_json, snapshot
from chamber.controller.core.votes import Vote, VoteDefinition, VoteResult, VoteState

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
    # Its attendance registrations (roll calls), seats marked by hand, delegates moved.
    # The secretary's notes of why delegates were absent (with leave or without).
    absences: tuple[AbsenceNote, ...] = ()
    registrations: tuple[Registration, ...] = ()
    marks: tuple[PresenceMark, ...] = ()
    moves: tuple[SeatMove, ...] = ()
    # The command that opened it: the title in English, date, place, chair and secretary a
    # prepared sitting file gave (all empty for a sitting opened by hand).
    opening: OpenSitting | None = None


def card_number(uid: str) -> int | None:
    """A card UID as the reader's CARD_ID holds it (hex, any case, leading zeros or not);
    None: not a card UID."""
    try:
        number = int(uid, 16)
    except ValueError:
        return None
    return number if 0 < number < 1 << 64 and uid.isalnum() else None


def _check_hall(hall: Hall) -> None:
    delegate_ids = [d.id for d in hall.delegates]
    if len(set(delegate_ids)) != len(delegate_ids):
        raise HallError("two delegates share an id")
    cards = [card_number(uid) for d in hall.delegates for uid in d.cards]
    if None in cards:
        raise HallError("a delegate's card is not a hex UID")
    if len(set(cards)) != len(cards):
        raise HallError("two delegates share a card")
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
    return CommandRejected(
        "input.malformed_unit" if unit else "input.malformed", input=inp.kind, problem=problem
    )


class MeetingCore:
    """The whole meeting state of one hall. See the module docstring for the contract.

    The core routes: sittings, the agenda and attendance are its own; votes, presses and the
    keypads are `self.ballots` (`controller.core.ballots`); the microphones are `self.floor`;
    the views are `controller.core.snapshots`. Its public attributes and methods are the
    interface the runtime, the API, the exports and the tests use.
    """

    def __init__(self, hall: Hall) -> None:
        _check_hall(hall)
        self.hall = hall
        self.language = hall.language
        self._seats: dict[int, Seat] = {s.number: s for s in hall.seats}
        # Seats with a delegate now (the hall's chart, changed by moves).
        self._seated = {s.number for s in hall.seats if s.delegate is not None}
        # Card UID (as a number: the reader's CARD_ID) -> its delegate. A hall without cards
        # keeps the seat's presence key as it always was (earlier journals replay unchanged).
        self._card_owner: dict[int, str] = {
            number: d.id
            for d in hall.delegates
            for uid in d.cards
            if (number := card_number(uid)) is not None
        }

        self.attendance = Attendance(hall)
        self.floor = Floor(hall)
        self.ballots = Ballots(hall, self.attendance)
        # The time of the latest input the core accepted (refused commands do not count).
        self._now = 0.0
        self._pending: list[Effect] = []

        self.sitting_id: str | None = None
        self.sitting_title = ""
        self.sitting_opened_at: float | None = None
        self.agenda: tuple[AgendaItemSpec, ...] = ()
        self.current_item: str | None = None
        # The command that opened the open sitting (its details: `OpenSitting`).
        self.opening: OpenSitting | None = None
        self.history: list[SittingRecord] = []
        self._speech_mark = 0

        # (at, unix) at each daemon start: dates for exports, never used by a timer.
        self.clock_anchors: list[tuple[float, float]] = []

        ballots = self.ballots
        self._handlers: dict[type[Input], Callable[[Any], list[Effect]]] = {
            PresenceChanged: self._on_presence,
            SetPresence: self._on_set_presence,
            RecordAbsence: self._on_record_absence,
            MoveDelegate: self._on_move_delegate,
            OpenSitting: self._on_open_sitting,
            CloseSitting: self._on_close_sitting,
            SetCurrentItem: self._on_set_item,
            OpenAttendance: self._on_open_attendance,
            CloseAttendance: self._on_close_attendance,
            CreateVote: self._on_create_vote,
            OpenVote: ballots.open,
            HoldVote: ballots.hold,
            ResumeVote: ballots.resume,
            CloseVote: ballots.close,
            CancelVote: ballots.cancel,
            PublishVote: ballots.publish,
            SecretVoteSealed: ballots.sealed,
            AmendVote: self._on_amend_vote,
            AnnulVote: ballots.annul,
            RerunVote: self._on_rerun_vote,
            EnterManualResult: ballots.enter_manual,
            Tick: self._on_tick,
            ClockAnchor: self._on_clock_anchor,
            # A fact for the record and the drivers' cursors: nothing in the sitting changes.
            UnitRestarted: lambda inp: [],
            # The technician's log: the fault list itself is the runtime's.
            FaultAcknowledged: lambda inp: [],
            CommissionStep: lambda inp: [],
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
        vote = self.ballots.active
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
            effects += self.ballots.press(inp)
            return effects
        handler = self._handlers.get(type(inp))
        if handler is None:
            raise CommandRejected("input.unknown", input=inp.kind)
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

    def _vote_timers(self, at: float) -> list[Effect]:
        """The active vote's warning and auto-close due by `at`; the core's time moves to
        the last of them."""
        effects, fired = self.ballots.timers(at)
        if fired is not None and fired > self._now:
            self._now = fired
        return effects

    def _take_pending(self) -> list[Effect]:
        if not self._pending:
            return []
        effects, self._pending = self._pending, []
        return effects

    def _on_clock_anchor(self, inp: ClockAnchor) -> list[Effect]:
        self.clock_anchors.append((inp.at, inp.unix))
        return []

    # --- time -------------------------------------------------------------------------------

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

    def next_deadline(self) -> float | None:
        """When the core next needs a Tick: a vote's warning or end, or a floor deadline."""
        deadlines = [self.floor.next_deadline(), self.ballots.next_deadline()]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # --- the state, for the runtime, the API and the exports ----------------------------------

    @property
    def votes(self) -> dict[str, Vote]:
        """Votes of the open sitting, in creation order."""
        return self.ballots.votes

    @property
    def active_vote(self) -> Vote | None:
        """The vote holding the keypads (open or on hold), if any."""
        return self.ballots.active

    @property
    def sitting_open(self) -> bool:
        return self.sitting_id is not None

    def sitting_speeches(self) -> list[SpeechLike]:
        """The speeches of the open sitting (of the last one when none is open)."""
        return list(self.floor.speeches[self._speech_mark :])

    def snapshot(self) -> dict[str, Any]:
        """The full state, JSON-ready, built on demand (never on a press)."""
        return snapshot(self)

    def participation(self, sitting_id: str | None = None) -> dict[str, Participation]:
        """Per-delegate record of a sitting: the open one by default, or a past one by id."""
        return participation(self, sitting_id)

    def unit_state(self) -> list[Effect]:
        """What every unit should show now (keypads, then microphones), to resynchronise units
        after a restart or a replay."""
        effects = self.ballots.keypad_state()
        for seat in sorted(self._seats):
            if self._seats[seat].has_mic:
                effects.extend(self.floor.restate(seat))
        return effects

    def next_prepared_vote(self) -> Vote | None:
        """The prepared vote the chair opens next: in agenda order from the current item on,
        going round to the items before it (the chair may take the agenda out of order), each
        item's votes in the order they were prepared; votes of no agenda item come last."""
        order = [item.id for item in self.agenda]
        if self.current_item in order:
            at = order.index(self.current_item)
            order = order[at:] + order[:at]
        rank = {item_id: n for n, item_id in enumerate(order)}
        best: tuple[int, int, Vote] | None = None
        for made, vote in enumerate(self.ballots.votes.values()):
            if vote.state is not VoteState.PREPARED:
                continue
            key = (rank.get(vote.definition.item_id or "", len(rank)), made, vote)
            if best is None or key[:2] < best[:2]:
                best = key
        return best[2] if best is not None else None

    def next_vote_inputs(self, at: float) -> list[Input]:
        """The commands that open the next prepared vote (`next_prepared_vote`) at `at`: the
        current agenda item moved to the vote's when it is another, then the vote opened.
        Raises `CommandRejected` (and nothing is to be sent) when it cannot be opened now: no
        sitting, a vote holding the keypads, no prepared vote left, or no quorum."""
        self._require_sitting()
        self._require_no_active_vote()
        vote = self.next_prepared_vote()
        if vote is None:
            raise CommandRejected("vote.none_prepared")
        refusal = self.ballots.open_refusal(vote)
        if refusal is not None:
            raise refusal
        item = vote.definition.item_id
        inputs: list[Input] = []
        if item is not None and item != self.current_item:
            inputs.append(SetCurrentItem(at, item))
        inputs.append(OpenVote(at, vote.vote_id))
        return inputs

    # --- helpers ----------------------------------------------------------------------------

    def _require_sitting(self) -> None:
        if self.sitting_id is None:
            raise CommandRejected("sitting.not_open")

    def _require_no_active_vote(self) -> None:
        active = self.ballots.active
        if active is not None:
            raise CommandRejected("vote.active", vote=active.vote_id, state=active.state.value)

    def _seat(self, number: int) -> Seat:
        seat = self._seats.get(number)
        if seat is None:
            raise CommandRejected("seat.not_found", seat=number)
        return seat

    def _quorum_effects(self, was_quorate: bool, at: float) -> list[Effect]:
        if self.attendance.quorate == was_quorate:
            return []
        return [Notification("quorum.changed", {"at": at, **self.attendance.quorum_json()})]

    # --- sitting and agenda -------------------------------------------------------------------

    def _on_open_sitting(self, inp: OpenSitting) -> list[Effect]:
        if self.sitting_id is not None:
            raise CommandRejected("sitting.already_open", sitting=self.sitting_id)
        if not inp.sitting_id:
            raise CommandRejected("sitting.id_missing")
        if any(r.sitting_id == inp.sitting_id for r in self.history):
            raise CommandRejected("sitting.already_held", sitting=inp.sitting_id)
        item_ids = [item.id for item in inp.agenda]
        if len(set(item_ids)) != len(item_ids) or not all(item_ids):
            raise CommandRejected("agenda.ids_invalid")
        self.sitting_id = inp.sitting_id
        self.sitting_title = inp.title
        self.sitting_opened_at = inp.at
        self.agenda = inp.agenda
        self.opening = inp
        self.current_item = item_ids[0] if item_ids else None
        self.ballots.new_sitting()
        self.attendance.start_recording(inp.at)
        self._speech_mark = len(self.floor.speeches)
        effects = self.floor.set_item(self.current_item, inp.at)
        effects.append(Notification("sitting.changed", sitting_json(self)))
        effects.append(
            Notification("quorum.changed", {"at": inp.at, **self.attendance.quorum_json()})
        )
        return effects

    def _on_close_sitting(self, inp: CloseSitting) -> list[Effect]:
        sitting_id, opened_at = self.sitting_id, self.sitting_opened_at
        if sitting_id is None or opened_at is None:
            raise CommandRejected("sitting.not_open")
        self._require_no_active_vote()
        effects = self.floor.set_item(None, inp.at)
        roll_call = self.attendance.registration_open and self.attendance.roll_call
        periods = self.attendance.stop_recording(inp.at)
        if roll_call:
            effects += self.ballots.presence_leds()
        attendance = self.attendance
        self.history.append(
            SittingRecord(
                sitting_id=sitting_id,
                title=self.sitting_title,
                agenda=self.agenda,
                opened_at=opened_at,
                closed_at=inp.at,
                periods=periods,
                votes=self.ballots.closed_votes(),
                speeches=tuple(self.floor.speeches[self._speech_mark :]),
                absences=tuple(attendance.absences),
                registrations=tuple(attendance.registrations),
                marks=tuple(attendance.marks),
                moves=tuple(attendance.moves),
                opening=self.opening,
            )
        )
        self.opening = None
        self.sitting_id = None
        self.sitting_title = ""
        self.sitting_opened_at = None
        self.agenda = ()
        self.current_item = None
        self.ballots.new_sitting()
        effects.append(Notification("sitting.changed", sitting_json(self)))
        return effects

    def _on_set_item(self, inp: SetCurrentItem) -> list[Effect]:
        self._require_sitting()
        if all(item.id != inp.item_id for item in self.agenda):
            raise CommandRejected("agenda.item_not_found", item=inp.item_id)
        self._require_no_active_vote()
        if inp.item_id == self.current_item:
            return []
        self.current_item = inp.item_id
        effects = self.floor.set_item(inp.item_id, inp.at)
        effects.append(Notification("sitting.changed", sitting_json(self)))
        return effects

    def _on_create_vote(self, inp: CreateVote) -> list[Effect]:
        self._require_sitting()
        return self.ballots.create(
            inp, self._now, agenda=[item.id for item in self.agenda], current=self.current_item
        )

    def _on_amend_vote(self, inp: AmendVote) -> list[Effect]:
        self._require_sitting()
        return self.ballots.amend(inp, self._now, agenda=[item.id for item in self.agenda])

    def _on_rerun_vote(self, inp: RerunVote) -> list[Effect]:
        self._require_sitting()
        return self.ballots.rerun(inp, self._now)

    # --- attendance -------------------------------------------------------------------------

    def _on_presence(self, inp: PresenceChanged) -> list[Effect]:
        seat = inp.seat
        if seat not in self._seats:
            return [
                Notification(
                    "presence.rejected", {"at": inp.at, "seat": seat, "reason": "unknown-seat"}
                )
            ]
        effects: list[Effect] = []
        if self._card_owner:
            if inp.present and inp.card is not None:
                refused, effects = self._card_in(seat, inp.card, inp.at)
                if refused is not None:
                    return refused
            elif inp.present and self.attendance.is_card_seat(seat):
                # A card-reader seat is present by its card, never by its key alone.
                return self._presence_refused(seat, inp.at, "card-required")
        if seat not in self._seated:
            return [
                Notification(
                    "presence.rejected", {"at": inp.at, "seat": seat, "reason": "no-delegate"}
                ),
                Beep(seat, BeepPattern.REJECT),
            ]
        present, confirms = self.attendance.unit_presence(seat, inp.present, inp.card)
        effects += self._apply_presence(seat, present, inp.at, "unit", confirm=confirms)
        return effects

    def _presence_refused(self, seat: int, at: float, reason: str, **data: Any) -> list[Effect]:
        """A card (or a key at a card-reader seat) refused: the seat is absent, and says so."""
        effects: list[Effect] = []
        if self.attendance.is_present(seat):
            effects += self._apply_presence(seat, False, at, "unit")
        effects.append(
            Notification("presence.rejected", {"at": at, "seat": seat, "reason": reason, **data})
        )
        effects.append(Beep(seat, BeepPattern.REJECT))
        return effects

    def _card_in(self, seat: int, card: str, at: float) -> tuple[list[Effect] | None, list[Effect]]:
        """A card in the seat's reader, in a hall that names cards: (the refusal, or None and
        the effects of seating the card's delegate there when it was another's seat)."""
        self.attendance.card_seen(seat)
        number = card_number(card)
        owner = None if number is None else self._card_owner.get(number)
        card = card[:32].upper()  # as notes and the record show it
        if owner is None:
            return self._presence_refused(seat, at, "unknown-card", card=card), []
        seating = self.attendance.seating
        if owner == seating.delegate_at(seat):
            return None, []
        elsewhere = seating.seat_of(owner)
        if elsewhere is not None and self.attendance.is_present(elsewhere):
            refused = self._presence_refused(
                seat, at, "present-elsewhere", card=card, delegate=owner, elsewhere=elsewhere
            )
            return refused, []
        active = self.ballots.active
        if active is not None:
            refused = self._presence_refused(
                seat, at, "vote-active", card=card, delegate=owner, vote=active.vote_id
            )
            return refused, []
        # The card's delegate sits here now: a move, journaled by this very input.
        effects: list[Effect] = []
        if self.attendance.is_present(seat):
            effects += self._apply_presence(seat, False, at, "unit")
        held = {d.vote_id for record in self.history for d, _ in record.votes}
        held |= {v for v, vote in self.ballots.votes.items() if vote.opened_at is not None}
        move = SeatMove(
            at,
            owner,
            elsewhere,
            seat,
            "",
            held=frozenset(held),
            card=card,
            unseated=seating.delegate_at(seat),
        )
        was_quorate = self.attendance.quorate
        self.attendance.move(move)
        self.attendance.card_seen(seat)
        if elsewhere is not None:
            self._seated.discard(elsewhere)
        self._seated.add(seat)
        effects += self.ballots.seat_card(owner, elsewhere, seat)
        effects += self.floor.seat_card(seat, owner, elsewhere, at)
        effects.append(Notification("seat.moved", {**move.to_json(), "at": at}))
        effects.extend(self._quorum_effects(was_quorate, at))
        return None, effects

    def _on_set_presence(self, inp: SetPresence) -> list[Effect]:
        self._seat(inp.seat)
        if inp.seat not in self._seated:
            raise CommandRejected("seat.no_delegate", seat=inp.seat)
        reason = inp.reason.strip()
        if len(reason) > MAX_SEAT_REASON:
            raise CommandRejected("seat.reason_too_long", max=MAX_SEAT_REASON)
        # A reason is required of people (the API); a record of an earlier release has none.
        delegate = self.attendance.seating.delegate_at(inp.seat) or ""
        changes = inp.present != self.attendance.is_present(inp.seat) or (
            inp.present and self.attendance.registration_open and self.attendance.roll_call
        )
        if changes:
            self.attendance.mark(PresenceMark(inp.at, inp.seat, delegate, inp.present, reason))
        return self._apply_presence(
            inp.seat, inp.present, inp.at, "secretary", confirm=inp.present, reason=reason
        )

    def _on_record_absence(self, inp: RecordAbsence) -> list[Effect]:
        self._require_sitting()
        self._seat(inp.seat)
        delegate = self.attendance.seating.delegate_at(inp.seat)
        if delegate is None:
            raise CommandRejected("seat.no_delegate", seat=inp.seat)
        reason = inp.reason.strip()
        if not reason:
            raise CommandRejected("seat.reason_missing")
        if len(reason) > MAX_SEAT_REASON:
            raise CommandRejected("seat.reason_too_long", max=MAX_SEAT_REASON)
        note = AbsenceNote(inp.at, inp.seat, delegate, inp.excused, reason)
        self.attendance.note_absence(note)
        return [Notification("attendance.absence", note.to_json())]

    def _apply_presence(
        self,
        seat: int,
        present: bool,
        at: float,
        source: str,
        *,
        confirm: bool = False,
        reason: str = "",
    ) -> list[Effect]:
        was_quorate = self.attendance.quorate
        confirmed = confirm and self.attendance.confirm(seat)
        if not self.attendance.set_present(seat, present, at):
            if not confirmed:
                return []
            return [
                *self.ballots.presence_leds((seat,)),
                self._confirmed_note(seat, at, source),
            ]
        effects = self.ballots.presence(seat, present)
        effects.append(
            Notification(
                "attendance.changed",
                {
                    "at": at,
                    "seat": seat,
                    "delegate": self.ballots.delegate_id(seat),
                    "present": present,
                    "source": source,
                    **({"reason": reason} if source == "secretary" else {}),
                    "present_count": len(self.attendance.present_seats),
                    "members_present": self.attendance.present_members,
                },
            )
        )
        if confirmed:
            effects.append(self._confirmed_note(seat, at, source))
        effects.extend(self._quorum_effects(was_quorate, at))
        return effects

    def _confirmed_note(self, seat: int, at: float, source: str) -> Notification:
        return Notification(
            "attendance.changed",
            {
                "at": at,
                "registration": "confirmed",
                "seat": seat,
                "delegate": self.attendance.seating.delegate_at(seat),
                "source": source,
                "count": self.attendance.confirmed_count,
            },
        )

    def _on_move_delegate(self, inp: MoveDelegate) -> list[Effect]:
        self._seat(inp.from_seat)
        to = self._seat(inp.to_seat)
        if inp.from_seat not in self._seated:
            raise CommandRejected("seat.no_delegate", seat=inp.from_seat)
        if inp.to_seat == inp.from_seat:
            raise CommandRejected("seat.move_same", seat=inp.to_seat)
        if inp.to_seat in self._seated:
            raise CommandRejected("seat.occupied", seat=inp.to_seat)
        reason = inp.reason.strip()
        if not reason:
            raise CommandRejected("seat.reason_missing")
        if len(reason) > MAX_SEAT_REASON:
            raise CommandRejected("seat.reason_too_long", max=MAX_SEAT_REASON)
        # A vote's presses are the seats'; moving a seat under an open or held vote would
        # split a delegate's ballot between two seats.
        self._require_no_active_vote()
        from_seat = self._seats[inp.from_seat]
        if from_seat.has_keypad and not to.has_keypad:
            raise CommandRejected("seat.no_keypad", seat=inp.to_seat)
        if from_seat.has_mic and not to.has_mic:
            raise CommandRejected("seat.no_microphone", seat=inp.to_seat)
        delegate = self.attendance.seating.delegate_at(inp.from_seat) or ""
        held = {d.vote_id for record in self.history for d, _ in record.votes}
        held |= {v for v, vote in self.ballots.votes.items() if vote.opened_at is not None}
        move = SeatMove(inp.at, delegate, inp.from_seat, inp.to_seat, reason, held=frozenset(held))
        was_quorate = self.attendance.quorate
        self.attendance.move(move)
        self._seated.discard(inp.from_seat)
        self._seated.add(inp.to_seat)
        effects = self.ballots.move(inp.from_seat, inp.to_seat)
        effects += self.floor.move_delegate(inp.from_seat, inp.to_seat, inp.at)
        effects.append(Notification("seat.moved", {**move.to_json(), "at": inp.at}))
        effects.extend(self._quorum_effects(was_quorate, inp.at))
        return effects

    def _on_open_attendance(self, inp: OpenAttendance) -> list[Effect]:
        self._require_sitting()
        if self.attendance.registration_open:
            raise CommandRejected("attendance.registration_open")
        self.attendance.open_registration(inp.at, roll_call=inp.confirm)
        effects = self.ballots.presence_leds() if inp.confirm else []
        effects.append(
            Notification(
                "attendance.changed",
                {
                    "at": inp.at,
                    "registration": "open",
                    "roll_call": inp.confirm,
                    **self.attendance.quorum_json(),
                },
            )
        )
        return effects

    def _on_close_attendance(self, inp: CloseAttendance) -> list[Effect]:
        self._require_sitting()
        if not self.attendance.registration_open:
            raise CommandRejected("attendance.registration_not_open")
        registration = self.attendance.close_registration(inp.at)
        effects = self.ballots.presence_leds() if registration.roll_call else []
        effects.append(
            Notification(
                "attendance.changed",
                {"at": inp.at, "registration": "closed", **registration.to_json()},
            )
        )
        return effects

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
