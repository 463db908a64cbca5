"""Who is in the hall: presence per seat, attendance periods per delegate, registrations, quorum.

Presence comes from the seat's presence key or card reader (`PresenceChanged`) or from the
secretary's override (`SetPresence`); this module does not care which, the meeting core does.
Presence is mirrored at all times, so that a sitting opened with delegates already seated knows
who is there; attendance periods are recorded only while a sitting is open.

A registration (`OpenAttendance` .. `CloseAttendance`) is a roll the chair takes: a delegate is
registered if present at any moment while it is open (seated when it opens, or arriving later).

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
        }


class Attendance:
    """Presence mirror, per-sitting attendance record and the quorum, kept incrementally."""

    def __init__(self, hall: Hall) -> None:
        self._delegate_at: dict[int, str] = {
            s.number: s.delegate for s in hall.seats if s.delegate is not None
        }
        voting = {d.id for d in hall.delegates if d.voting}
        self._voting_seats = frozenset(s for s, d in self._delegate_at.items() if d in voting)
        self.quorum_required = quorum_required(hall.policies.quorum, hall.body.members)
        self.present_seats: set[int] = set()
        # The electorate of a vote: seats of voting members who are present.
        self.voting_present: set[int] = set()
        self.recording = False
        self.periods: dict[str, list[Period]] = {}
        self.registration_open = False
        self._registration_opened_at = 0.0
        self._registered: set[str] = set()
        self.registrations: list[Registration] = []

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
                if self.registration_open:
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

    # --- the sitting's record ---------------------------------------------------------------

    def start_recording(self, now: float) -> None:
        """A sitting opened: a fresh record, with a period for everyone already seated."""
        self.recording = True
        self.periods = {}
        self.registrations = []
        for seat in sorted(self.present_seats):
            delegate = self._delegate_at.get(seat)
            if delegate is not None:
                self.periods.setdefault(delegate, []).append(Period(seat, now, None))

    def stop_recording(self, now: float) -> dict[str, tuple[Period, ...]]:
        """A sitting closed: end every open period and hand the record over."""
        if self.registration_open:
            self.close_registration(now)
        for delegate in list(self.periods):
            self._end_period(delegate, now)
        self.recording = False
        return {d: tuple(p) for d, p in self.periods.items()}

    def open_registration(self, now: float) -> None:
        self.registration_open = True
        self._registration_opened_at = now
        self._registered = {
            self._delegate_at[s] for s in self.present_seats if s in self._delegate_at
        }

    def close_registration(self, now: float) -> Registration:
        self.registration_open = False
        voting_ids = {self._delegate_at[s] for s in self._voting_seats}
        registration = Registration(
            number=len(self.registrations) + 1,
            opened_at=self._registration_opened_at,
            closed_at=now,
            registered=tuple(sorted(self._registered)),
            voting_registered=len(self._registered & voting_ids),
            quorum_required=self.quorum_required,
        )
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
                "opened_at": self._registration_opened_at if self.registration_open else None,
                "registered": sorted(self._registered) if self.registration_open else [],
            },
            "registrations": [r.to_json() for r in self.registrations],
            "periods": {
                d: [{"seat": p.seat, "start": p.start, "end": p.end} for p in periods]
                for d, periods in sorted(self.periods.items())
            },
        }
