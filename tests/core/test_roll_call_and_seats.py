"""The roll call (điểm danh), presence marked by hand with a reason, a delegate moved to a spare
seat, and the chair's "next" that hands the floor over, through the meeting core."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.effects import KeypadLeds, MicSwitch
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CloseAttendance,
    CloseSitting,
    CloseVote,
    CreateVote,
    GrantNext,
    Input,
    MicRequest,
    MoveDelegate,
    OpenAttendance,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    SetMicMode,
    SetPresence,
    VoteKeyPressed,
)
from chamber.controller.core.model import MicMode
from chamber.controller.core.sitting import MeetingCore
from tests.core.halls import AGENDA, make_hall, notes, opened

# --- the roll call --------------------------------------------------------------------------


def test_a_roll_call_registers_only_those_who_confirm() -> None:
    core = opened(make_hall(5), present=[1, 2, 3])
    effects = core.handle(OpenAttendance(at=10, confirm=True))
    # Every presence LED goes dark: it now says "confirmed", and nobody has yet.
    assert {e.seat for e in effects if isinstance(e, KeypadLeds) and not e.present} == {1, 2, 3}
    assert core.snapshot()["attendance"]["registration"] == {
        "open": True,
        "roll_call": True,
        "opened_at": 10,
        "registered": [],
    }
    # Seat 4 arrives and presses: present and confirmed at once.
    arrived = core.handle(PresenceChanged(at=11, seat=4, present=True))
    assert KeypadLeds(4, lit=(), present=True) in arrived
    # Its arrival, then its confirmation.
    arrived_notes = notes(arrived, "attendance.changed")
    assert [n.data.get("registration") for n in arrived_notes] == [None, "confirmed"]
    # Seat 2 was seated before the roll: its key toggles the unit off, yet one press confirms
    # and the delegate stays present.
    pressed = core.handle(PresenceChanged(at=12, seat=2, present=False))
    assert core.attendance.is_present(2)
    assert KeypadLeds(2, lit=(), present=True) in pressed
    assert notes(pressed, "attendance.changed")[0].data["registration"] == "confirmed"
    # The unit now says "absent" for a delegate who is present: its next press ("present" on
    # the unit) is the delegate leaving, and the one after that coming back.
    core.handle(PresenceChanged(at=13, seat=2, present=True))
    assert not core.attendance.is_present(2)
    closed = core.handle(CloseAttendance(at=20))
    (note,) = notes(closed, "attendance.changed")
    assert note.data["registered"] == ["d2", "d4"]
    assert note.data["roll_call"] is True
    assert note.data["quorate"] is False  # 2 of 5 confirmed, 3 needed
    # The LEDs say "present" again: 1 and 3 light up, 2 (confirmed, then left) goes dark, and
    # 4 (confirmed and present) stays lit.
    lit = {e.seat: e.present for e in closed if isinstance(e, KeypadLeds)}
    assert lit == {1: True, 2: False, 3: True}


def test_after_a_confirmation_by_toggle_the_key_is_read_the_other_way_round() -> None:
    core = opened(make_hall(3), present=[2])
    core.handle(OpenAttendance(at=1, confirm=True))
    core.handle(PresenceChanged(at=2, seat=2, present=False))  # confirms
    core.handle(CloseAttendance(at=3))
    core.handle(PresenceChanged(at=4, seat=2, present=True))  # leaves
    assert not core.attendance.is_present(2)
    core.handle(PresenceChanged(at=5, seat=2, present=False))  # back
    assert core.attendance.is_present(2)
    # The next roll call: the unit says "absent" again when the delegate presses; that press
    # confirms and puts the unit and the delegate back in step.
    core.handle(OpenAttendance(at=6, confirm=True))
    core.handle(PresenceChanged(at=7, seat=2, present=True))
    assert core.attendance.confirmed(2)
    assert core.attendance.is_present(2)
    core.handle(CloseAttendance(at=8))
    core.handle(PresenceChanged(at=9, seat=2, present=False))  # leaves, read as it is
    assert not core.attendance.is_present(2)


def test_a_card_taken_out_during_a_roll_call_never_confirms() -> None:
    core = opened(make_hall(3), present=[])
    core.handle(PresenceChanged(at=1, seat=2, present=True, card="c2"))
    core.handle(OpenAttendance(at=2, confirm=True))
    core.handle(PresenceChanged(at=3, seat=2, present=False))
    assert not core.attendance.is_present(2)
    assert not core.attendance.confirmed(2)
    core.handle(PresenceChanged(at=4, seat=2, present=True, card="c2"))
    assert core.attendance.confirmed(2)


def test_the_secretary_confirms_by_hand_with_a_reason() -> None:
    core = opened(make_hall(3), present=[2])
    core.handle(OpenAttendance(at=1, confirm=True))
    effects = core.handle(SetPresence(at=2, seat=2, present=True, reason="Thẻ hỏng"))
    assert core.attendance.confirmed(2)
    assert KeypadLeds(2, lit=(), present=True) in effects
    (mark,) = core.attendance.marks
    assert (mark.seat, mark.delegate, mark.present, mark.reason) == (2, "d2", True, "Thẻ hỏng")
    absent = core.handle(SetPresence(at=3, seat=3, present=False, reason="Vắng có phép"))
    # Already absent and no confirmation: nothing changes, nothing is recorded.
    assert absent == []
    core.handle(CloseAttendance(at=4))
    core.handle(CloseSitting(at=5))
    record = core.history[0]
    assert [r.registered for r in record.registrations] == [("d2",)]
    assert [m.reason for m in record.marks] == ["Thẻ hỏng"]


def test_a_mark_by_hand_is_announced_with_its_reason() -> None:
    core = opened(make_hall(3), present=[])
    effects = core.handle(SetPresence(at=1, seat=3, present=True, reason="Đến muộn"))
    data = notes(effects, "attendance.changed")[0].data
    assert (data["source"], data["reason"]) == ("secretary", "Đến muộn")
    with pytest.raises(CommandRejected) as info:
        core.handle(SetPresence(at=2, seat=3, present=False, reason="x" * 501))
    assert info.value.code == "seat.reason_too_long"


def test_a_registration_without_confirm_is_the_old_passive_one() -> None:
    core = opened(make_hall(3), present=[1])
    assert [e for e in core.handle(OpenAttendance(at=1)) if isinstance(e, KeypadLeds)] == []
    core.handle(PresenceChanged(at=2, seat=2, present=True))
    (note,) = notes(core.handle(CloseAttendance(at=3)), "attendance.changed")
    assert note.data["registered"] == ["d1", "d2"]
    assert note.data["roll_call"] is False


# --- a delegate moved to a spare seat ---------------------------------------------------------


def _hall_with_spares() -> MeetingCore:
    return opened(make_hall(4, empty_seats=2), present=[1, 2, 3, 4])


def test_a_move_takes_presence_and_later_votes_to_the_new_seat() -> None:
    core = _hall_with_spares()
    core.handle(CreateVote(at=1, vote_id="v1", title="Trước"))
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(VoteKeyPressed(at=3, seat=3, key=1))
    core.handle(CloseVote(at=4, vote_id="v1"))
    effects = core.handle(MoveDelegate(at=5, from_seat=3, to_seat=5, reason="Bàn phím hỏng"))
    (moved,) = notes(effects, "seat.moved")
    assert moved.data == {
        "at": 5,
        "delegate": "d3",
        "from_seat": 3,
        "to_seat": 5,
        "reason": "Bàn phím hỏng",
    }
    assert KeypadLeds(3, lit=(), present=False) in effects
    assert KeypadLeds(5, lit=(), present=True) in effects
    assert core.attendance.is_present(5)
    assert not core.attendance.is_present(3)
    assert core.attendance.present_members == 4
    # Presence now comes from the spare seat's unit; the old seat has nobody.
    rejected = core.handle(PresenceChanged(at=6, seat=3, present=True))
    assert notes(rejected, "presence.rejected")[0].data["reason"] == "no-delegate"
    core.handle(CreateVote(at=7, vote_id="v2", title="Sau"))
    core.handle(OpenVote(at=8, vote_id="v2"))
    core.handle(VoteKeyPressed(at=9, seat=5, key=2))
    core.handle(CloseVote(at=10, vote_id="v2"))
    record = core.participation()["d3"]
    assert [(v.vote_id, v.key) for v in record.votes] == [("v1", 1), ("v2", 2)]
    assert [(p.seat, p.start, p.end) for p in record.periods] == [(3, 0, 5), (5, 5, None)]
    assert core.snapshot()["attendance"]["seating"] == {"3": None, "5": "d3"}


def test_a_move_is_refused_while_a_vote_holds_the_keypads_and_for_bad_seats() -> None:
    core = _hall_with_spares()

    def refused(inp: Input) -> str:
        with pytest.raises(CommandRejected) as info:
            core.handle(inp)
        return info.value.code

    assert refused(MoveDelegate(at=1, from_seat=3, to_seat=4, reason="r")) == "seat.occupied"
    assert refused(MoveDelegate(at=1, from_seat=5, to_seat=6, reason="r")) == "seat.no_delegate"
    assert refused(MoveDelegate(at=1, from_seat=3, to_seat=9, reason="r")) == "seat.not_found"
    assert refused(MoveDelegate(at=1, from_seat=3, to_seat=5, reason=" ")) == "seat.reason_missing"
    core.handle(CreateVote(at=2, vote_id="v1", title="T"))
    core.handle(OpenVote(at=3, vote_id="v1"))
    assert refused(MoveDelegate(at=4, from_seat=3, to_seat=5, reason="r")) == "vote.active"
    assert core.attendance.seating.delegate_at(3) == "d3"


def test_a_move_takes_the_delegates_place_on_the_speakers_list() -> None:
    core = _hall_with_spares()
    core.handle(MicRequest(at=1, seat=2))
    core.handle(MicRequest(at=2, seat=3))
    core.handle(MoveDelegate(at=3, from_seat=2, to_seat=6, reason="Micrô hỏng"))
    waiting = core.floor.snapshot()["waiting"]["speak"]
    assert [(w["seat"], w["delegate"], w["position"]) for w in waiting] == [
        (6, "d2", 1),
        (3, "d3", 2),
    ]
    granted = core.handle(GrantNext(at=4, handover=True))
    assert MicSwitch(6, on=True) in granted


def test_moves_are_in_the_sittings_record() -> None:
    core = _hall_with_spares()
    core.handle(MoveDelegate(at=1, from_seat=4, to_seat=6, reason="Ghế hỏng"))
    core.handle(CloseSitting(at=2))
    (move,) = core.history[0].moves
    assert (move.delegate, move.from_seat, move.to_seat) == ("d4", 4, 6)
    # The move lasts: the next sitting starts with the delegate at the spare seat.
    core.handle(OpenSitting(at=3, sitting_id="s2", title="Kỳ họp thứ 6", agenda=AGENDA))
    assert core.attendance.is_present(6)


# --- the floor: "next" hands over, "add" keeps ------------------------------------------------


def test_next_hands_over_and_add_keeps_the_live_microphones() -> None:
    core = opened(make_hall(6))
    core.handle(SetMicMode(at=0, mode=MicMode.REQUEST, max_open=2))
    for seat in (2, 3, 4, 5):
        core.handle(MicRequest(at=1, seat=seat))
    core.handle(GrantNext(at=2, handover=True))
    added = core.handle(GrantNext(at=3, add=True))
    assert MicSwitch(3, on=True) in added
    assert MicSwitch(2, on=False) not in added
    handed = core.handle(GrantNext(at=4, handover=True))
    assert MicSwitch(2, on=False) in handed
    assert MicSwitch(3, on=False) in handed
    assert MicSwitch(4, on=True) in handed
    core.handle(GrantNext(at=4.5, add=True))
    # At the cap (2), "add" is refused rather than closing someone.
    with pytest.raises(CommandRejected) as info:
        core.handle(GrantNext(at=4.7, add=True))
    assert info.value.code == "floor.nobody_waiting"
    core.handle(MicRequest(at=4.8, seat=6))
    with pytest.raises(CommandRejected) as info:
        core.handle(GrantNext(at=4.9, add=True))
    assert info.value.code == "floor.at_cap"
    core.handle(GrantNext(at=4.95, handover=True))
    ended = notes(handed, "floor.speech-ended")
    assert {n.data["reason"] for n in ended} == {"handed-over"}
    # Nobody waiting: "next" is refused and closes nothing.
    with pytest.raises(CommandRejected):
        core.handle(GrantNext(at=5, handover=True))
    assert [t["seat"] for t in core.floor.snapshot()["live"]] == [6]


def test_next_never_closes_the_chairs_microphone() -> None:
    core = opened(make_hall(4))
    core.handle(MicRequest(at=1, seat=1))  # the chair's button switches it directly
    core.handle(MicRequest(at=2, seat=2))
    handed = core.handle(GrantNext(at=3, handover=True))
    assert MicSwitch(1, on=False) not in handed
    assert {t["seat"] for t in core.floor.snapshot()["live"]} == {1, 2}


# --- a property: the chart, presence and the LEDs stay consistent -------------------------------

SEATS = st.integers(min_value=1, max_value=8)
Step = Callable[[float], Input]
STEP: st.SearchStrategy[Step] = st.one_of(
    st.builds(
        lambda seat, present, card: (
            lambda at: PresenceChanged(
                at=at, seat=seat, present=present, card=card if present else None
            )
        ),
        SEATS,
        st.booleans(),
        st.sampled_from([None, "c1"]),
    ),
    st.builds(
        lambda seat, present: (
            lambda at: SetPresence(at=at, seat=seat, present=present, reason="lý do")
        ),
        SEATS,
        st.booleans(),
    ),
    st.builds(
        lambda a, b: lambda at: MoveDelegate(at=at, from_seat=a, to_seat=b, reason="hỏng"),
        SEATS,
        SEATS,
    ),
    st.builds(lambda confirm: lambda at: OpenAttendance(at=at, confirm=confirm), st.booleans()),
    st.just(lambda at: CloseAttendance(at=at)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_seating_presence_and_leds_stay_consistent(steps: list[Step]) -> None:
    core = opened(make_hall(5, empty_seats=3), present=[1, 2])
    for n, step in enumerate(steps, start=1):
        with contextlib.suppress(CommandRejected):
            core.handle(step(float(n)))
        attendance = core.attendance
        chart = attendance.seating.current
        # One seat per delegate, every delegate seated somewhere.
        assert sorted(chart.values()) == [f"d{i}" for i in range(1, 6)]
        # Only seats with a delegate are present; the voting ones are the electorate.
        assert attendance.present_seats <= set(chart)
        assert attendance.voting_present == attendance.present_seats
        # Every keypad shows the presence LED attendance wants.
        for seat in core.ballots.keypads.seats:
            assert core.ballots.keypads.shown(seat).present == attendance.presence_led(seat)
        # Registered delegates are delegates; in a roll call only the confirmed ones.
        registration = core.snapshot()["attendance"]["registration"]
        assert set(registration["registered"]) <= set(chart.values())
        if registration["roll_call"]:
            confirmed = {chart[s] for s in chart if attendance.confirmed(s)}
            assert set(registration["registered"]) == confirmed
