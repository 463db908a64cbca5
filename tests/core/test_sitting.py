"""The meeting core as a whole: sittings and agenda, input validation, the floor integrated,
unit resynchronisation, and the throughput a big hall needs."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import (
    ForgetEvents,
    KeypadLeds,
    KeypadLock,
    MicSwitch,
    RingShow,
    RingState,
)
from chamber.controller.core.errors import CommandRejected, HallError
from chamber.controller.core.inputs import (
    CancelVote,
    CloseSitting,
    CloseVote,
    CreateVote,
    GrantFloor,
    GrantNext,
    Input,
    MicCancel,
    MicOverride,
    MicRequest,
    OpenSitting,
    OpenVote,
    SetCurrentItem,
    SetMicMode,
    Tick,
    VoiceLevel,
    VoteKeyPressed,
)
from chamber.controller.core.model import Body, Delegate, MicMode, Seat, SpeakerList, VoteMode
from chamber.controller.core.sitting import MeetingCore
from tests.core.halls import AGENDA, make_hall, notes, opened

# --- sittings and agenda ------------------------------------------------------------------------


def test_open_sitting_sets_the_first_item_current_and_announces_quorum() -> None:
    core = MeetingCore(make_hall(5))
    effects = core.handle(OpenSitting(at=1, sitting_id="s1", title="Kỳ họp thứ 5", agenda=AGENDA))
    sitting = notes(effects, "sitting.changed")[0].data
    assert sitting["open"] is True
    assert sitting["current_item"] == "1"
    assert [i["id"] for i in sitting["agenda"]] == ["1", "2", "3"]
    assert notes(effects, "quorum.changed")[0].data["quorate"] is False


def test_sitting_commands_in_the_wrong_state() -> None:
    core = MeetingCore(make_hall(3))
    for command in (CloseSitting(at=1), SetCurrentItem(at=1, item_id="1")):
        with pytest.raises(CommandRejected) as info:
            core.handle(command)
        assert info.value.kind == "conflict"
    core.handle(OpenSitting(at=1, sitting_id="s1", title="T", agenda=AGENDA))
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenSitting(at=2, sitting_id="s2", title="T"))
    assert info.value.message == "sitting s1 is open; close it first"
    with pytest.raises(CommandRejected) as info:
        core.handle(SetCurrentItem(at=2, item_id="9"))
    assert info.value.kind == "not-found"
    core.handle(CloseSitting(at=3))
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenSitting(at=4, sitting_id="s1", title="Again"))
    assert info.value.message == "sitting s1 was already held"


def test_agenda_ids_must_be_unique() -> None:
    core = MeetingCore(make_hall(3))
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenSitting(at=1, sitting_id="s1", title="T", agenda=AGENDA + AGENDA[:1]))
    assert info.value.kind == "invalid"
    assert not core.sitting_open


def test_votes_belong_to_the_current_item() -> None:
    core = opened(make_hall(5))
    core.handle(SetCurrentItem(at=1, item_id="2"))
    core.handle(CreateVote(at=2, vote_id="v1", title="Miễn nhiệm", rule="vn-two-thirds"))
    core.handle(CreateVote(at=2, vote_id="v2", title="Ngân sách", item_id="1"))
    assert core.votes["v1"].definition.item_id == "2"
    assert core.votes["v2"].definition.item_id == "1"


def test_item_change_and_close_wait_for_the_active_vote() -> None:
    core = opened(make_hall(5))
    core.handle(CreateVote(at=1, vote_id="v1", title="T"))
    core.handle(OpenVote(at=2, vote_id="v1"))
    for command in (SetCurrentItem(at=3, item_id="2"), CloseSitting(at=3)):
        with pytest.raises(CommandRejected) as info:
            core.handle(command)
        assert info.value.message == "vote v1 is open"
    core.handle(CloseVote(at=4, vote_id="v1"))
    core.handle(SetCurrentItem(at=5, item_id="2"))
    core.handle(CloseSitting(at=6))
    assert core.history[0].votes[0][0].vote_id == "v1"


def test_vote_ids_stay_unique_across_sittings() -> None:
    core = opened(make_hall(3))
    core.handle(CreateVote(at=1, vote_id="v1", title="T"))
    core.handle(CloseSitting(at=2))
    core.handle(OpenSitting(at=3, sitting_id="s2", title="T2"))
    with pytest.raises(CommandRejected) as info:
        core.handle(CreateVote(at=4, vote_id="v1", title="T"))
    assert info.value.kind == "conflict"


def test_an_input_the_core_does_not_know_is_invalid() -> None:
    core = MeetingCore(make_hall(3))
    with pytest.raises(CommandRejected) as info:
        core.handle(Input(at=1))
    assert info.value.kind == "invalid"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("dup-seat", "two seats share a number"),
        ("dup-delegate", "two delegates share an id"),
        ("unknown-delegate", "names unknown delegate"),
        ("two-seats", "has more than one seat"),
        ("weight", "weights start at 1"),
    ],
)
def test_an_inconsistent_hall_is_refused(change: str, message: str) -> None:
    hall = make_hall(3)
    seats, delegates = list(hall.seats), list(hall.delegates)
    if change == "dup-seat":
        seats.append(Seat(number=1, row=5, col=5))
    elif change == "dup-delegate":
        delegates.append(Delegate(id="d1", name="X"))
    elif change == "unknown-delegate":
        seats.append(Seat(number=9, row=5, col=5, delegate="ghost"))
    elif change == "two-seats":
        seats.append(Seat(number=9, row=5, col=5, delegate="d1"))
    else:
        delegates[0] = replace(delegates[0], weight=0)
    with pytest.raises(HallError, match=message):
        MeetingCore(replace(hall, seats=tuple(seats), delegates=tuple(delegates)))


# --- the floor, integrated ------------------------------------------------------------------------


def test_floor_inputs_are_refused_without_a_sitting() -> None:
    core = MeetingCore(make_hall(3))
    effects = core.handle(MicRequest(at=1, seat=2))
    assert notes(effects, "floor.request-rejected")[0].data["reason"] == "no-sitting"
    assert not [e for e in effects if isinstance(e, MicSwitch)]
    with pytest.raises(CommandRejected) as info:
        core.handle(GrantNext(at=1))
    assert info.value.kind == "conflict"
    # Voice meter data is dropped quietly, as the floor does outside voice mode.
    assert core.handle(VoiceLevel(at=2, seat=2, level_db=-10.0)) == []


def test_the_technician_may_test_a_microphone_between_sittings() -> None:
    core = MeetingCore(make_hall(3))
    assert MicSwitch(2, on=True) in core.handle(MicOverride(at=1, seat=2, on=True))
    assert MicSwitch(2, on=False) in core.handle(MicOverride(at=2, seat=2, on=False))


def test_request_grant_and_the_speaking_clock_at_its_real_value() -> None:
    clock = FakeClock(0.0)
    core = opened(make_hall(5))
    queued = core.handle(MicRequest(at=clock.now(), seat=3))
    # The only seat waiting is the one "next" would take.
    assert RingShow(3, state=RingState.NEXT, position=1) in queued
    clock.advance(5)
    granted = core.handle(GrantNext(at=clock.now()))
    assert MicSwitch(3, on=True) in granted
    # 420 s per turn by default, with a 30 s warning: the core merges the floor's deadline.
    assert core.next_deadline() == 5 + 420 - 30
    assert core.snapshot()["floor"] == core.floor.snapshot()
    clock.advance(600)
    core.handle(Tick(at=clock.now()))
    clock.advance(10)
    core.handle(MicCancel(at=clock.now(), seat=3))
    speeches = core.participation()["d3"].speeches
    assert len(speeches) == 1
    assert speeches[0].duration_s == 610
    assert speeches[0].overtime_s == pytest.approx(190)


def test_changing_the_item_switches_the_speakers_lists() -> None:
    core = opened(make_hall(5))
    core.handle(MicRequest(at=1, seat=2))
    core.handle(GrantFloor(at=2, seat=2))
    core.handle(MicRequest(at=3, seat=4, list=SpeakerList.QUESTION))
    effects = core.handle(SetCurrentItem(at=10, item_id="2"))
    assert MicSwitch(2, on=False) in effects  # a new item starts quiet
    assert notes(effects, "sitting.changed")[0].data["current_item"] == "2"
    assert core.snapshot()["floor"]["waiting"]["question"] == []
    core.handle(SetCurrentItem(at=20, item_id="1"))
    # Item 1 kept its question list.
    floor = core.snapshot()["floor"]
    assert floor["item"] == "1"
    assert [w["seat"] for w in floor["waiting"]["question"]] == [4]
    assert floor["live"] == []


def test_closing_the_sitting_ends_live_turns_into_the_record() -> None:
    core = opened(make_hall(5))
    core.handle(SetMicMode(at=0, mode=MicMode.OPEN, max_open=2))
    core.handle(MicRequest(at=100, seat=2))
    core.handle(CloseSitting(at=160))
    record = core.participation("s1")
    assert [(s.seat, s.start, s.end) for s in record["d2"].speeches] == [(2, 100, 160)]
    with pytest.raises(CommandRejected) as info:
        core.participation("nope")
    assert info.value.kind == "not-found"


# --- unit resynchronisation ---------------------------------------------------------------------


def test_unit_state_restates_keypads_and_microphones() -> None:
    core = opened(make_hall(3), present=[1, 2])
    core.handle(CreateVote(at=1, vote_id="v1", title="T"))
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(VoteKeyPressed(at=3, seat=2, key=3))
    state = core.unit_state()
    assert KeypadLock(1, locked=False, keys=3) in state
    assert KeypadLock(3, locked=True, keys=3) in state
    assert KeypadLeds(2, lit=(3,), present=True) in state
    assert KeypadLeds(3, lit=(), present=False) in state
    assert MicSwitch(1, on=False) in state


# --- throughput ---------------------------------------------------------------------------------


def test_presses_at_a_4096_seat_hall_are_constant_time() -> None:
    seats = 4096
    hall = make_hall(seats)
    hall = replace(hall, body=Body(name=hall.body.name, members=seats))
    core = opened(hall)
    core.handle(CreateVote(at=1, vote_id="v1", title="T", duration_s=0.0))
    core.handle(OpenVote(at=2, vote_id="v1"))
    presses = [
        VoteKeyPressed(at=3.0, seat=1 + (i * 7919) % seats, key=1 + i % 3) for i in range(40_000)
    ]
    start = time.perf_counter()
    for p in presses:
        core.handle(p)
    elapsed = time.perf_counter() - start
    # The target is 50,000/s on one core; this shared-machine guard only catches a per-press
    # cost that grows with the hall (a rescan of 4,096 seats would take seconds).
    assert elapsed < 4.0, f"{len(presses) / elapsed:,.0f} presses/s"
    vote = core.votes["v1"]
    assert sum(vote.heads) == len(vote.participants) == seats


# --- secret votes leave nothing in the units ------------------------------------------------


@pytest.mark.parametrize("mode", [VoteMode.SECRET, VoteMode.OPEN])
def test_the_close_of_a_secret_vote_makes_units_forget_and_puts_every_led_out(
    mode: VoteMode,
) -> None:
    core = opened(make_hall(3), present=[1, 2, 3])
    core.handle(CreateVote(at=1, vote_id="v1", title="T", mode=mode))
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(VoteKeyPressed(at=3, seat=2, key=1))
    effects = core.handle(CloseVote(at=4, vote_id="v1"))
    # Every seat's whole LED state: no key lit, its presence LED as it was.
    dark = [KeypadLeds(seat, lit=(), present=True) for seat in (1, 2, 3)]
    assert (ForgetEvents(None) in effects) is (mode is VoteMode.SECRET)
    # The order units see: locked, dark, then their memory emptied.
    units = [e for e in effects if isinstance(e, KeypadLock | KeypadLeds | ForgetEvents)]
    assert units[:4] == [KeypadLock(None, locked=True, keys=3), *dark]
    # Restated after a restart: a crash between the close and the forgetting is covered.
    assert (ForgetEvents(None) in core.unit_state()) is (mode is VoteMode.SECRET)


def test_a_cancelled_secret_vote_is_forgotten_too() -> None:
    core = opened(make_hall(3), present=[1, 2, 3])
    core.handle(CreateVote(at=1, vote_id="v1", title="T", mode=VoteMode.SECRET))
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(VoteKeyPressed(at=3, seat=2, key=1))
    effects = core.handle(CancelVote(at=4, vote_id="v1"))
    assert ForgetEvents(None) in effects
    # A secret vote still open is not forgotten: its presses are still being read.
    core.handle(CreateVote(at=5, vote_id="v2", title="T", mode=VoteMode.SECRET))
    core.handle(OpenVote(at=6, vote_id="v2"))
    assert ForgetEvents(None) not in core.unit_state()
