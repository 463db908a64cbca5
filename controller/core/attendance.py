"""Who is in the hall: presence per seat, attendance periods per delegate, registrations, quorum.

Presence comes from the seat's presence key or card reader (`PresenceChanged`) or from the
secretary's override (`SetPresence`); this module does not care which, the meeting core does.
Presence is mirrored at all times, so that a sitting opened with delegates already seated knows
who is there; attendance periods are recorded only while a sitting is open.

A registration (`OpenAttendance` .. `CloseAttendance`) is a roll the chair takes. A roll call
(điểm danh, `confirm=True`) registers a delegate who confirms while it is open: the seat's
presence key pressed (whichever way it toggles the unit: a delegate seated before the roll
presses once, not twice, and that seat's key is read the other way round from then on), a
card inserted, or the secretary marking the seat present. While a
roll call is open the seat's presence LED says "confirmed", not "present": a dark LED asks the
delegate to press. A card taken out is never a confirmation. Without `confirm` (journals of
earlier releases) a delegate is registered if present at any moment while it is open.

Who sits where is `Seating`: the hall's chart, changed by moves (`MoveDelegate`, a delegate
taken to a spare seat when a unit breaks). A vote already held when a delegate moves keeps
the chart it was held with (`Seating.chart_for`), so a vote cast stays the delegate's.
Marks by hand (`SetPresence`, with the secretary's reason), the secretary's notes of why a
delegate is absent (`RecordAbsence`: with leave or without) and moves are kept for the
sitting's record and its minutes.

The quorum counts voting members present (heads, never weights) against `Body.members`, with
the hall's `QuorumRule`. The rules are in `controller.core.rules`; this module only counts.

No I/O, no clock: `now` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chamber.controller.core.model import Hall
from chamber.controller.core.rules import quorum_required


@dataclass(frozen=True)
class Period:
    """A stretch of time a delegate was present during a sitting; `end` None: still present."""

    seat: int
    start: float
    end: float | None

    def duration(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start


@dataclass(frozen=True)
class Registration:
    """One attendance registration (a roll) and who registered during it."""

    number: int
    opened_at: float
    closed_at: float | None
    registered: tuple[str, ...]
    # Voting members registered, against the quorum at close.
    voting_registered: int
    quorum_required: int
    # A roll call: each delegate registered by confirming.
    roll_call: bool = False

    @property
    def quorate(self) -> bool:
        return self.voting_registered >= self.quorum_required

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "registered": list(self.registered),
            "count": len(self.registered),
            "voting_registered": self.voting_registered,
            "quorum_required": self.quorum_required,
            "quorate": self.quorate,
            "roll_call": self.roll_call,
        }


@dataclass(frozen=True)
class PresenceMark:
    """A seat marked present or absent by hand, with the reason given for the record."""

    at: float
    seat: int
    delegate: str
    present: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "seat": self.seat,
            "delegate": self.delegate,
            "present": self.present,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class AbsenceNote:
    """Why a delegate is absent, as the secretary recorded it: with leave or without."""

    at: float
    seat: int
    delegate: str
    excused: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "seat": self.seat,
            "delegate": self.delegate,
            "excused": self.excused,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SeatMove:
    """A delegate moved from one seat to a spare one. `held` names the votes already held
    (opened at least once) at the move: they keep the chart from before it.

    A move by a card (`card` set) may seat a delegate who had no seat (`from_seat` None) and
    may take a seat from the delegate who sat there (`unseated`), who then has no seat."""

    at: float
    delegate: str
    from_seat: int | None
    to_seat: int
    reason: str
    held: frozenset[str] = frozenset()
    card: str | None = None
    unseated: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "at": self.at,
            "delegate": self.delegate,
            "from_seat": self.from_seat,
            "to_seat": self.to_seat,
            "reason": self.reason,
        }
        if self.card is not None:
            doc["card"] = self.card
            doc["unseated"] = self.unseated
        return doc


class Seating:
    """Who sits where: the hall's seating chart, and the moves made since."""

    def __init__(self, hall: Hall) -> None:
        self._initial: dict[int, str] = {
            s.number: s.delegate for s in hall.seats if s.delegate is not None
        }
        self.current: dict[int, str] = dict(self._initial)
        self.moves: list[SeatMove] = []

        self._seat_of: dict[str, int] = {d: s for s, d in self.current.items()}

    def delegate_at(self, seat: int) -> str | None:
        return self.current.get(seat)

    def seat_of(self, delegate: str) -> int | None:
        """The seat `delegate` sits at now; None: no seat (never seated, or unseated by a card)."""
        return self._seat_of.get(delegate)

    def move(self, move: SeatMove) -> None:
        _apply(self.current, move)
        if move.unseated is not None:
            self._seat_of.pop(move.unseated, None)
        self._seat_of[move.delegate] = move.to_seat
        self.moves.append(move)

    def chart_for(self, vote_id: str) -> dict[int, str]:
        """The chart `vote_id` was held with: the hall's, with every move made before it."""
        if not self.moves:
            return self.current
        chart = dict(self._initial)
        for move in self.moves:
            if vote_id in move.held:
                break
            _apply(chart, move)
        return chart


def _apply(chart: dict[int, str], move: SeatMove) -> None:
    if move.from_seat is not None:
        del chart[move.from_seat]
    chart[move.to_seat] = move.delegate


class Attendance:
    """Presence mirror, per-sitting attendance record and the quorum, kept incrementally."""

    def __init__(self, hall: Hall) -> None:
        self.seating = Seating(hall)
        self._delegate_at = self.seating.current
        self._voting = frozenset(d.id for d in hall.delegates if d.voting)
        self._voting_seats = frozenset(s for s, d in self._delegate_at.items() if d in self._voting)
        self.quorum_required = quorum_required(hall.policies.quorum, hall.body.members)
        self.present_seats: set[int] = set()
        # The electorate of a vote: seats of voting members who are present.
        self.voting_present: set[int] = set()
        self.recording = False
        self.periods: dict[str, list[Period]] = {}
        # The periods as JSON (`to_json`), kept between snapshots: only the delegates whose
        # periods changed since are written again, and an unchanged record is the same object
        # (a refresh of the views skips it by identity; at 4,096 seats it was most of a snapshot).
        self._periods_json: dict[str, list[dict[str, Any]]] = {}
        self._periods_dirty: set[str] = set()
        self._periods_doc: dict[str, list[dict[str, Any]]] | None = None
        self.registration_open = False
        # The open registration is a roll call: only a confirmation registers.
        self.roll_call = False
        self._registration_opened_at = 0.0
        self._registered: set[str] = set()
        self.registrations: list[Registration] = []
        # Seats whose unit reported a card: their "absent" is a card taken out.
        self._card_seats: set[int] = set()
        # Seats whose presence key state is the opposite of the delegate's presence, after a
        # roll-call confirmation that toggled the unit to "absent" (`unit_presence`).
        self._inverted: set[int] = set()
        # The sitting's marks by hand and moves, for its record.
        self.marks: list[PresenceMark] = []
        self.moves: list[SeatMove] = []
        self.absences: list[AbsenceNote] = []

    # --- presence ---------------------------------------------------------------------------

    def is_present(self, seat: int) -> bool:
        return seat in self.present_seats

    @property
    def present_members(self) -> int:
        return len(self.voting_present)

    @property
    def quorate(self) -> bool:
        return len(self.voting_present) >= self.quorum_required

    def set_present(self, seat: int, present: bool, now: float) -> bool:
        """Mirror a seat's presence; returns False when nothing changed (a repeated report)."""
        if present == (seat in self.present_seats):
            return False
        delegate = self._delegate_at.get(seat)
        if present:
            self.present_seats.add(seat)
            if seat in self._voting_seats:
                self.voting_present.add(seat)
            if delegate is not None:
                if self.recording:
                    self.periods.setdefault(delegate, []).append(Period(seat, now, None))
                    self._periods_dirty.add(delegate)
                if self.registration_open and not self.roll_call:
                    self._registered.add(delegate)
        else:
            self.present_seats.discard(seat)
            self.voting_present.discard(seat)
            if delegate is not None and self.recording:
                self._end_period(delegate, now)
        return True

    def _end_period(self, delegate: str, now: float) -> None:
        periods = self.periods.get(delegate)
        if periods and periods[-1].end is None:
            last = periods[-1]
            periods[-1] = Period(last.seat, last.start, now)
            self._periods_dirty.add(delegate)

    def presence_led(self, seat: int) -> bool:
        """What the seat's presence LED shows: during a roll call, that its delegate has
        confirmed; otherwise that the seat is present."""
        if self.registration_open and self.roll_call:
            return self.confirmed(seat)
        return seat in self.present_seats

    def confirmed(self, seat: int) -> bool:
        """The seat's delegate has confirmed in the roll call that is open."""
        delegate = self._delegate_at.get(seat)
        return self.registration_open and delegate is not None and delegate in self._registered

    def is_card_seat(self, seat: int) -> bool:
        """The seat's unit has reported a card: its presence is the card's."""
        return seat in self._card_seats

    def card_seen(self, seat: int) -> None:
        """The seat's unit reported a card (even one refused): its presence key alone no
        longer makes it present."""
        self._card_seats.add(seat)
        self._inverted.discard(seat)

    def unit_presence(self, seat: int, present: bool, card: str | None) -> tuple[bool, bool]:
        """A presence event from the seat's unit, as the core should take it: (present,
        confirms). During a roll call the first press of a delegate not yet confirmed
        confirms, whichever way the presence key toggled; a card taken out never does.

        A confirmation that toggled the unit to "absent" leaves the unit's state the opposite
        of the delegate's: from then on that seat's key states are read the other way round
        (the next press, "present" on the unit, is the delegate leaving), until a card or
        another such confirmation puts the two in step again."""
        card_out = not present and seat in self._card_seats
        if present and card is not None:
            self._card_seats.add(seat)
            self._inverted.discard(seat)  # a card's state is the delegate's
        elif present:
            self._card_seats.discard(seat)
        if seat in self._inverted and not card_out:
            present = not present
        if not (self.registration_open and self.roll_call) or card_out:
            return present, False
        if self.confirmed(seat):
            return present, False
        if not present:
            # The press toggled the unit the other way: it confirms, and the delegate stays.
            self._inverted ^= {seat}
        return True, True

    def confirm(self, seat: int) -> bool:
        """Register the seat's delegate in the roll call that is open; False if there is no
        roll call, no delegate, or the delegate had confirmed already."""
        delegate = self._delegate_at.get(seat)
        if not (self.registration_open and self.roll_call) or delegate is None:
            return False
        if delegate in self._registered:
            return False
        self._registered.add(delegate)
        return True

    @property
    def confirmed_count(self) -> int:
        return len(self._registered) if self.registration_open else 0

    def mark(self, mark: PresenceMark) -> None:
        """Keep a mark by hand for the sitting's record."""
        if self.recording:
            self.marks.append(mark)

    def note_absence(self, note: AbsenceNote) -> None:
        """Keep the secretary's note of an absence for the sitting's record."""
        if self.recording:
            self.absences.append(note)

    def move(self, move: SeatMove) -> None:
        """The delegate of `move.from_seat` sits at `move.to_seat` (the core checked both):
        a present delegate is present at the new seat, their period there starting now."""
        was_present = move.from_seat is not None and move.from_seat in self.present_seats
        if move.from_seat is not None and was_present:
            self.set_present(move.from_seat, False, move.at)
        if move.to_seat in self.present_seats:
            self.set_present(move.to_seat, False, move.at)  # its former delegate leaves
        self.seating.move(move)
        voting_seats = self._voting_seats - {move.from_seat, move.to_seat}
        if move.delegate in self._voting:
            voting_seats |= {move.to_seat}
        self._voting_seats = frozenset(voting_seats)
        if move.from_seat is not None:
            self._card_seats.discard(move.from_seat)
            self._inverted.discard(move.from_seat)
        self._inverted.discard(move.to_seat)
        if was_present:
            self.set_present(move.to_seat, True, move.at)
        if self.recording:
            self.moves.append(move)

    # --- the sitting's record ---------------------------------------------------------------

    def start_recording(self, now: float) -> None:
        """A sitting opened: a fresh record, with a period for everyone already seated."""
        self.recording = True
        self.periods = {}
        self._periods_json = {}
        self._periods_dirty = set()
        self._periods_doc = None
        self.registrations = []
        self.marks = []
        self.moves = []
        self.absences = []
        for seat in sorted(self.present_seats):
            delegate = self._delegate_at.get(seat)
            if delegate is not None:
                self.periods.setdefault(delegate, []).append(Period(seat, now, None))
                self._periods_dirty.add(delegate)

    def stop_recording(self, now: float) -> dict[str, tuple[Period, ...]]:
        """A sitting closed: end every open period and hand the record over."""
        if self.registration_open:
            self.close_registration(now)
        for delegate in list(self.periods):
            self._end_period(delegate, now)
        self.recording = False
        return {d: tuple(p) for d, p in self.periods.items()}

    def open_registration(self, now: float, *, roll_call: bool = False) -> None:
        self.registration_open = True
        self.roll_call = roll_call
        self._registration_opened_at = now
        if roll_call:
            self._registered = set()
        else:
            self._registered = {
                self._delegate_at[s] for s in self.present_seats if s in self._delegate_at
            }

    def close_registration(self, now: float) -> Registration:
        self.registration_open = False
        registration = Registration(
            number=len(self.registrations) + 1,
            opened_at=self._registration_opened_at,
            closed_at=now,
            registered=tuple(sorted(self._registered)),
            voting_registered=len(self._registered & self._voting),
            quorum_required=self.quorum_required,
            roll_call=self.roll_call,
        )
        self.roll_call = False
        self.registrations.append(registration)
        self._registered = set()
        return registration

    # --- views ------------------------------------------------------------------------------

    def quorum_json(self) -> dict[str, Any]:
        return {
            "present": len(self.voting_present),
            "required": self.quorum_required,
            "quorate": self.quorate,
        }

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "present_seats": sorted(self.present_seats),
            "present": len(self.present_seats),
            "quorum": self.quorum_json(),
            "registration": {
                "open": self.registration_open,
                "roll_call": self.registration_open and self.roll_call,
                "opened_at": self._registration_opened_at if self.registration_open else None,
                "registered": sorted(self._registered) if self.registration_open else [],
            },
            "registrations": [r.to_json() for r in self.registrations],
            "marks": [m.to_json() for m in self.marks],
            "moves": [m.to_json() for m in self.moves],
            "absences": [a.to_json() for a in self.absences],
            # Seats whose delegate is not the hall file's (after a move): seat -> delegate,
            # or null for a seat left empty.
            "seating": self._seating_changes(),
            "periods": self._periods_record(),
        }

    def _periods_record(self) -> dict[str, list[dict[str, Any]]]:
        """Each delegate's attendance periods as JSON, by delegate id (read, never changed)."""
        if self._periods_doc is not None and not self._periods_dirty:
            return self._periods_doc
        for delegate in self._periods_dirty:
            self._periods_json[delegate] = [
                {"seat": p.seat, "start": p.start, "end": p.end}
                for p in self.periods.get(delegate, ())
            ]
        self._periods_dirty = set()
        self._periods_doc = {d: self._periods_json[d] for d in sorted(self.periods)}
        return self._periods_doc

    def _seating_changes(self) -> dict[str, str | None]:
        changes: dict[int, str | None] = {}
        for move in self.seating.moves:
            if move.from_seat is not None:
                changes[move.from_seat] = self._delegate_at.get(move.from_seat)
            changes[move.to_seat] = self._delegate_at.get(move.to_seat)
        return {str(seat): changes[seat] for seat in sorted(changes)}
