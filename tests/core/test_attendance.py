"""Presence, attendance periods, registrations and quorum through the meeting core."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.core.attendance import Attendance, Period
from chamber.controller.core.effects import Beep, BeepPattern, KeypadLeds
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CloseAttendance,
    CloseSitting,
    CreateVote,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    SetPresence,
    VoteKeyPressed,
)
from chamber.controller.core.model import Comparison, Policies, QuorumRule, Threshold
from chamber.controller.core.sitting import MeetingCore
from tests.core.halls import AGENDA, make_hall, notes, opened


def test_presence_lights_the_presence_led_and_is_announced() -> None:
    core = opened(make_hall(5), present=[])
    effects = core.handle(PresenceChanged(at=10, seat=3, present=True, card="d3"))
    assert KeypadLeds(3, lit=(), present=True) in effects
    (note,) = notes(effects, "attendance.changed")
    assert note.data == {
        "at": 10,
        "seat": 3,
        "delegate": "d3",
        "present": True,
        "source": "unit",
        "present_count": 1,
        "members_present": 1,
    }
    gone = core.handle(PresenceChanged(at=20, seat=3, present=False))
    assert KeypadLeds(3, lit=(), present=False) in gone


def test_the_presence_led_keeps_the_vote_key_lit() -> None:
    core = opened(make_hall(5))
    core.handle(CreateVote(at=1, vote_id="v1", title="T", quorum_required=False))
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(VoteKeyPressed(at=3, seat=2, key=2))
    core.handle(PresenceChanged(at=4, seat=2, present=False))
    back = core.handle(PresenceChanged(at=5, seat=2, present=True))
    assert KeypadLeds(2, lit=(2,), present=True) in back


def test_a_repeated_report_changes_nothing() -> None:
    core = opened(make_hall(3), present=[1])
    assert core.handle(PresenceChanged(at=5, seat=1, present=True)) == []


def test_presence_from_unknown_or_empty_seats_is_rejected_not_raised() -> None:
    core = opened(make_hall(3, empty_seats=1), present=[])
    unknown = core.handle(PresenceChanged(at=1, seat=42, present=True))
    assert notes(unknown, "presence.rejected")[0].data["reason"] == "unknown-seat"
    empty = core.handle(PresenceChanged(at=1, seat=4, present=True))
    assert notes(empty, "presence.rejected")[0].data["reason"] == "no-delegate"
    assert Beep(4, BeepPattern.REJECT) in empty
    assert core.attendance.present_seats == set()


def test_secretary_override() -> None:
    core = opened(make_hall(3, empty_seats=1), present=[])
    effects = core.handle(SetPresence(at=1, seat=2, present=True))
    assert notes(effects, "attendance.changed")[0].data["source"] == "secretary"
    assert core.attendance.is_present(2)
    with pytest.raises(CommandRejected) as info:
        core.handle(SetPresence(at=1, seat=42, present=True))
    assert info.value.kind == "not-found"
    with pytest.raises(CommandRejected) as info:
        core.handle(SetPresence(at=1, seat=4, present=True))
    assert info.value.kind == "invalid"


def test_periods_are_recorded_per_delegate_while_the_sitting_is_open() -> None:
    core = MeetingCore(make_hall(3))
    core.handle(PresenceChanged(at=0, seat=1, present=True))
    core.handle(OpenSitting(at=100, sitting_id="s1", title="Kỳ họp", agenda=AGENDA))
    core.handle(PresenceChanged(at=150, seat=2, present=True))
    core.handle(PresenceChanged(at=200, seat=1, present=False))
    core.handle(PresenceChanged(at=300, seat=1, present=True))
    core.handle(CloseSitting(at=400))
    # Leaving after the sitting closed is not part of its record.
    core.handle(PresenceChanged(at=500, seat=2, present=False))
    record = core.history[0].periods
    assert record["d1"] == (Period(1, 100, 200), Period(1, 300, 400))
    assert record["d2"] == (Period(2, 150, 400),)
    assert "d3" not in record


def test_quorum_changes_are_notified_only_when_they_flip() -> None:
    core = opened(make_hall(10), present=[1, 2, 3, 4, 5])
    assert not core.attendance.quorate
    assert notes(core.handle(PresenceChanged(at=1, seat=6, present=True)), "quorum.changed")[
        0
    ].data == {"at": 1, "present": 6, "required": 6, "quorate": True}
    assert notes(core.handle(PresenceChanged(at=2, seat=7, present=True)), "quorum.changed") == []
    core.handle(PresenceChanged(at=3, seat=7, present=False))
    lost = notes(core.handle(PresenceChanged(at=4, seat=6, present=False)), "quorum.changed")
    assert lost[0].data["quorate"] is False


def test_quorum_counts_voting_members_only() -> None:
    core = opened(make_hall(4, secretary=True), present=[1, 2, 5])  # 5 is the secretary
    assert core.attendance.present_members == 2
    assert not core.attendance.quorate  # 3 of 4 needed


def test_quorum_rule_from_the_hall() -> None:
    hall = make_hall(9)
    two_thirds = QuorumRule(Threshold(Comparison.AT_LEAST, Fraction(2, 3)))
    hall = type(hall)(
        body=hall.body,
        delegates=hall.delegates,
        seats=hall.seats,
        policies=Policies(quorum=two_thirds),
        language=hall.language,
    )
    core = opened(hall, present=[1, 2, 3, 4, 5])
    assert core.attendance.quorum_required == 6
    assert not core.attendance.quorate


def test_registration_records_who_was_there_during_it() -> None:
    core = opened(make_hall(6), present=[1, 2])
    core.handle(OpenAttendance(at=10))
    core.handle(PresenceChanged(at=11, seat=3, present=True))
    core.handle(PresenceChanged(at=12, seat=3, present=False))  # registered, then left
    core.handle(PresenceChanged(at=13, seat=4, present=True))
    closed = core.handle(CloseAttendance(at=20))
    data = notes(closed, "attendance.changed")[0].data
    assert data["registered"] == ["d1", "d2", "d3", "d4"]
    assert data["count"] == 4
    assert data["quorate"] is True  # 4 of 6: more than half
    core.handle(PresenceChanged(at=21, seat=5, present=True))  # after the roll: not registered
    assert core.attendance.registrations[0].registered == ("d1", "d2", "d3", "d4")


def test_registration_commands_need_a_sitting_and_the_right_state() -> None:
    core = MeetingCore(make_hall(3))
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenAttendance(at=1))
    assert info.value.kind == "conflict"
    core = opened(make_hall(3))
    with pytest.raises(CommandRejected):
        core.handle(CloseAttendance(at=1))
    core.handle(OpenAttendance(at=2))
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenAttendance(at=3))
    assert info.value.kind == "conflict"


def test_closing_the_sitting_closes_an_open_registration() -> None:
    core = opened(make_hall(3))
    core.handle(OpenAttendance(at=2))
    core.handle(CloseSitting(at=3))
    assert not core.attendance.registration_open
    assert len(core.attendance.registrations) == 1


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=6), st.booleans()),
        max_size=60,
    )
)
def test_present_counts_and_periods_stay_consistent(changes: list[tuple[int, bool]]) -> None:
    hall = make_hall(6)
    attendance = Attendance(hall)
    attendance.start_recording(0.0)
    for t, (seat, present) in enumerate(changes, start=1):
        attendance.set_present(seat, present, float(t))
    assert attendance.present_members == len(attendance.present_seats)
    assert attendance.quorate == (len(attendance.present_seats) >= 4)
    for delegate, periods in attendance.periods.items():
        # Periods never overlap and only the last may be open, matching current presence.
        for earlier, later in itertools.pairwise(periods):
            assert earlier.end is not None
            assert earlier.end <= later.start
        seat = int(delegate[1:])
        assert (periods[-1].end is None) == attendance.is_present(seat)
