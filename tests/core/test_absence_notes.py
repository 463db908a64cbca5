"""The secretary's note of why a delegate is absent (with leave or without), kept for the
sitting's record and its minutes, through the meeting core."""

from __future__ import annotations

import pytest

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CloseSitting,
    RecordAbsence,
    from_record,
    to_record,
)
from chamber.controller.core.limits import MAX_SEAT_REASON
from chamber.controller.core.sitting import MeetingCore
from tests.core.halls import make_hall, notes, opened


def test_an_absence_is_noted_with_its_reason_and_kept_in_the_record() -> None:
    core = opened(make_hall(5), present=[1, 2])
    effects = core.handle(RecordAbsence(at=10.0, seat=4, excused=True, reason=" Đi công tác "))
    (note,) = notes(effects, "attendance.absence")
    delegate = core.attendance.seating.delegate_at(4)
    assert note.data == {
        "at": 10.0,
        "seat": 4,
        "delegate": delegate,
        "excused": True,
        "reason": "Đi công tác",
    }
    core.handle(RecordAbsence(at=11.0, seat=5, excused=False, reason="Không báo trước"))
    assert [a.delegate for a in core.attendance.absences] == ["d4", "d5"]
    assert delegate == "d4"
    # The note changes nobody's presence.
    assert core.attendance.present_seats == {1, 2}
    assert core.snapshot()["attendance"]["absences"][1]["excused"] is False
    core.handle(CloseSitting(at=20.0))
    (record,) = core.history
    assert [(a.seat, a.excused) for a in record.absences] == [(4, True), (5, False)]


def test_an_absence_note_is_refused_without_a_sitting_a_delegate_or_a_reason() -> None:
    core = MeetingCore(make_hall(5))
    with pytest.raises(CommandRejected) as exc:
        core.handle(RecordAbsence(at=1.0, seat=1, excused=True, reason="Ốm"))
    assert exc.value.code == "sitting.not_open"
    core = opened(make_hall(5, empty_seats=1), present=[])
    for seat, reason, code in (
        (99, "Ốm", "seat.not_found"),
        (6, "Ốm", "seat.no_delegate"),
        (1, "   ", "seat.reason_missing"),
        (1, "x" * (MAX_SEAT_REASON + 1), "seat.reason_too_long"),
    ):
        with pytest.raises(CommandRejected) as exc:
            core.handle(RecordAbsence(at=2.0, seat=seat, excused=False, reason=reason))
        assert exc.value.code == code
    assert core.attendance.absences == []


def test_an_absence_note_round_trips_through_the_journal_record() -> None:
    note = RecordAbsence(at=3.5, seat=2, excused=True, reason="Nghỉ phép")
    assert from_record(to_record(note)) == note
