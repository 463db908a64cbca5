"""Votes through the meeting core: the life-cycle table, timers at their real values on a
FakeClock, presses, keypad effects, roll-call, weights, and results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chamber.controller.core.ballots import press_refusal
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import (
    Beep,
    BeepPattern,
    Effect,
    KeypadLeds,
    KeypadLock,
    Notification,
)
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    AnnulVote,
    CancelVote,
    CloseVote,
    CreateVote,
    EnterManualResult,
    HoldVote,
    Input,
    OpenVote,
    PresenceChanged,
    PublishVote,
    ResumeVote,
    Tick,
    VoteKeyPressed,
)
from chamber.controller.core.limits import MAX_VOTE_DURATION_S, UNTIMED
from chamber.controller.core.model import AnswerSet, Language, ManualMethod, VoteMode, VotePolicy
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import TRANSITIONS, PressRejected, VoteCommand, VoteState
from tests.core.halls import make_hall, notes, opened

COMMANDS: dict[VoteCommand, Callable[[float, str], Input]] = {
    VoteCommand.OPEN: lambda at, v: OpenVote(at=at, vote_id=v),
    VoteCommand.HOLD: lambda at, v: HoldVote(at=at, vote_id=v),
    VoteCommand.RESUME: lambda at, v: ResumeVote(at=at, vote_id=v),
    VoteCommand.CLOSE: lambda at, v: CloseVote(at=at, vote_id=v),
    VoteCommand.CANCEL: lambda at, v: CancelVote(at=at, vote_id=v),
    VoteCommand.PUBLISH: lambda at, v: PublishVote(at=at, vote_id=v),
    VoteCommand.ANNUL: lambda at, v: AnnulVote(at=at, vote_id=v, reason="Hệ thống hỏng"),
    VoteCommand.MANUAL: lambda at, v: EnterManualResult(
        at=at, vote_id=v, method=ManualMethod.SHOW_OF_HANDS, totals=(0, 0, 0)
    ),
}

# How to bring a fresh vote into each state through the core.
PATHS: dict[VoteState, tuple[VoteCommand, ...]] = {
    VoteState.PREPARED: (),
    VoteState.OPEN: (VoteCommand.OPEN,),
    VoteState.HOLD: (VoteCommand.OPEN, VoteCommand.HOLD),
    VoteState.CLOSED: (VoteCommand.OPEN, VoteCommand.CLOSE),
    VoteState.PUBLISHED: (VoteCommand.OPEN, VoteCommand.CLOSE, VoteCommand.PUBLISH),
    VoteState.CANCELLED: (VoteCommand.CANCEL,),
    VoteState.ANNULLED: (VoteCommand.OPEN, VoteCommand.CLOSE, VoteCommand.ANNUL),
}


def press(core: MeetingCore, at: float, seat: int, key: int) -> list[Effect]:
    return core.handle(VoteKeyPressed(at=at, seat=seat, key=key))


def vote_state(core: MeetingCore, vote_id: str = "v1") -> VoteState:
    return core.votes[vote_id].state


def created(core: MeetingCore, at: float = 1.0, **kwargs: Any) -> None:
    core.handle(CreateVote(at=at, vote_id="v1", title="Nghị quyết ngân sách", **kwargs))


# --- the transition table ---------------------------------------------------------------------


@pytest.mark.parametrize("state", list(VoteState))
@pytest.mark.parametrize("command", list(VoteCommand))
def test_every_state_and_command(state: VoteState, command: VoteCommand) -> None:
    core = opened(make_hall(5))
    # Without a quorum to keep: every command is refused for its state alone.
    created(core, quorum_required=False)
    for step in PATHS[state]:
        core.handle(COMMANDS[step](2.0, "v1"))
    assert vote_state(core) is state
    target = TRANSITIONS.get((state, command))
    if target is None:
        with pytest.raises(CommandRejected) as info:
            core.handle(COMMANDS[command](3.0, "v1"))
        assert info.value.kind == "conflict"
        assert f"vote v1 is {state.value}" in info.value.message
        assert vote_state(core) is state
    else:
        core.handle(COMMANDS[command](3.0, "v1"))
        assert vote_state(core) is target


def test_the_table_is_the_documented_life_cycle() -> None:
    assert {(s.value, c.value, t.value) for (s, c), t in TRANSITIONS.items()} == {
        ("prepared", "open", "open"),
        ("prepared", "cancel", "cancelled"),
        ("open", "hold", "hold"),
        ("open", "close", "closed"),
        ("open", "cancel", "cancelled"),
        ("hold", "resume", "open"),
        ("hold", "close", "closed"),
        ("hold", "cancel", "cancelled"),
        ("closed", "publish", "published"),
        ("prepared", "manual", "closed"),
        ("open", "annul", "annulled"),
        ("hold", "annul", "annulled"),
        ("closed", "annul", "annulled"),
        ("published", "annul", "annulled"),
    }


@pytest.mark.parametrize("command", list(VoteCommand))
def test_unknown_vote_is_not_found(command: VoteCommand) -> None:
    core = opened(make_hall(3))
    with pytest.raises(CommandRejected) as info:
        core.handle(COMMANDS[command](1.0, "nope"))
    assert info.value.kind == "not-found"


def test_only_one_vote_holds_the_keypads() -> None:
    core = opened(make_hall(5))
    created(core)
    core.handle(CreateVote(at=1, vote_id="v2", title="Second"))
    core.handle(OpenVote(at=2, vote_id="v1"))
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenVote(at=3, vote_id="v2"))
    assert info.value.kind == "conflict"
    assert info.value.message == "vote v1 is open; close it first"
    core.handle(CloseVote(at=4, vote_id="v1"))
    core.handle(OpenVote(at=5, vote_id="v2"))
    assert vote_state(core, "v2") is VoteState.OPEN


# --- creating a vote ----------------------------------------------------------------------------


def test_create_takes_the_hall_defaults() -> None:
    core = opened(
        make_hall(5, vote=VotePolicy(rule="roberts-majority", duration_s=90, warning_s=15))
    )
    created(core)
    d = core.votes["v1"].definition
    assert (d.rule.key, d.duration_s, d.warning_s) == ("roberts-majority", 90.0, 15.0)
    assert d.options == ("Yes", "No", "Abstain")
    assert d.item_id == "1"


def test_vietnamese_labels() -> None:
    core = opened(make_hall(5, language=Language.VI))
    created(core)
    assert core.votes["v1"].definition.options == (
        "Tán thành",
        "Không tán thành",
        "Không biểu quyết",
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"answers": AnswerSet.CHOICES, "choices": ("Only one",)}, "invalid"),
        ({"answers": AnswerSet.CHOICES, "choices": tuple(str(i) for i in range(11))}, "invalid"),
        ({"answers": AnswerSet.CHOICES, "choices": ("A", "A")}, "invalid"),
        ({"answers": AnswerSet.CHOICES, "choices": ("A", " ")}, "invalid"),
        ({"choices": ("A", "B")}, "invalid"),
        ({"rule": "no-such-rule"}, "not-found"),
        ({"duration_s": -1.0}, "invalid"),
        ({"duration_s": 30.0, "warning_s": 30.0}, "invalid"),
        ({"item_id": "99"}, "not-found"),
    ],
)
def test_create_rejects_bad_definitions(kwargs: dict[str, Any], code: str) -> None:
    core = opened(make_hall(5))
    with pytest.raises(CommandRejected) as info:
        created(core, **kwargs)
    assert info.value.kind == code
    assert "v1" not in core.votes


def test_duplicate_vote_id_is_a_conflict() -> None:
    core = opened(make_hall(3))
    created(core)
    with pytest.raises(CommandRejected) as info:
        created(core)
    assert info.value.kind == "conflict"


def test_no_vote_outside_a_sitting() -> None:
    core = MeetingCore(make_hall(3))
    with pytest.raises(CommandRejected) as info:
        created(core)
    assert info.value.kind == "conflict"


def test_opening_needs_quorum_unless_waived() -> None:
    core = opened(make_hall(10), present=[1, 2, 3, 4, 5])  # 5 of 10: more than half needs 6
    created(core)
    with pytest.raises(CommandRejected) as info:
        core.handle(OpenVote(at=2, vote_id="v1"))
    assert info.value.kind == "conflict"
    assert info.value.message == "no quorum: 5 members present, 6 needed"
    core.handle(CreateVote(at=3, vote_id="v2", title="Thủ tục", quorum_required=False))
    core.handle(OpenVote(at=4, vote_id="v2"))
    assert vote_state(core, "v2") is VoteState.OPEN


# --- keypads ----------------------------------------------------------------------------------


def test_open_unlocks_the_electorate_and_locks_the_others() -> None:
    hall = make_hall(4, secretary=True, empty_seats=1)  # seat 5 secretary, seat 6 empty
    core = opened(hall, present=[1, 2, 3, 5])
    created(core)
    effects = core.handle(OpenVote(at=2, vote_id="v1"))
    locks = {e.seat: e for e in effects if isinstance(e, KeypadLock)}
    assert {s for s, e in locks.items() if not e.locked} == {1, 2, 3}
    assert {s for s, e in locks.items() if e.locked} == {4, 5, 6}
    assert all(e.keys == 3 for e in locks.values())
    dark = {e.seat: e for e in effects if isinstance(e, KeypadLeds)}
    assert set(dark) == {1, 2, 3, 4, 5, 6}
    assert all(e.lit == () and e.present is not None for e in dark.values())
    assert notes(effects, "vote.opened")[0].data["electorate"] == 3


def test_a_valid_press_lights_that_key_on_that_keypad_only() -> None:
    core = opened(make_hall(5))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    effects = press(core, 3, 2, 1)
    leds = [e for e in effects if isinstance(e, KeypadLeds)]
    assert leds == [KeypadLeds(2, lit=(1,), present=True)]
    tally = notes(effects, "vote.tally")[0].data
    assert tally["totals"] == [1, 0, 0]
    assert (tally["seat"], tally["key"], tally["delegate"]) == (2, 1, "d2")


def test_hold_locks_all_and_close_locks_all_and_clears() -> None:
    core = opened(make_hall(5))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    held = core.handle(HoldVote(at=3, vote_id="v1"))
    assert KeypadLock(None, locked=True, keys=3) in held
    resumed = core.handle(ResumeVote(at=4, vote_id="v1"))
    assert {e.seat for e in resumed if isinstance(e, KeypadLock) and not e.locked} == {
        1,
        2,
        3,
        4,
        5,
    }
    closed = core.handle(CloseVote(at=5, vote_id="v1"))
    assert KeypadLock(None, locked=True, keys=3) in closed
    dark = [e for e in closed if isinstance(e, KeypadLeds)]
    assert [(e.seat, e.lit) for e in dark] == [(s, ()) for s in (1, 2, 3, 4, 5)]
    assert all(e.present is not None for e in dark)


def test_cancel_of_an_open_vote_locks_and_clears() -> None:
    core = opened(make_hall(5))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    press(core, 3, 1, 1)
    effects = core.handle(CancelVote(at=4, vote_id="v1"))
    assert KeypadLock(None, locked=True, keys=3) in effects
    dark = [e for e in effects if isinstance(e, KeypadLeds)]
    assert [(e.seat, e.lit) for e in dark] == [(s, ()) for s in (1, 2, 3, 4, 5)]
    assert core.votes["v1"].result is None
    # The keypads are free for the next vote.
    core.handle(CreateVote(at=5, vote_id="v2", title="Again"))
    core.handle(OpenVote(at=6, vote_id="v2"))


# --- presses ----------------------------------------------------------------------------------


def rejected(effects: list[Effect]) -> str:
    (note,) = notes(effects, "press.rejected")
    reason: str = note.data["reason"]
    return reason


def test_press_without_an_open_vote_is_rejected_with_a_beep() -> None:
    core = opened(make_hall(3))
    effects = press(core, 2, 1, 1)
    assert rejected(effects) == "no-open-vote"
    assert Beep(1, BeepPattern.REJECT) in effects
    created(core)
    assert rejected(press(core, 2, 1, 1)) == "no-open-vote"


def test_press_during_hold_is_rejected_and_does_not_count() -> None:
    core = opened(make_hall(3))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(HoldVote(at=3, vote_id="v1"))
    effects = press(core, 4, 1, 1)
    assert rejected(effects) == "vote-on-hold"
    assert Beep(1, BeepPattern.REJECT) in effects
    assert core.votes["v1"].heads == [0, 0, 0]


def test_press_after_close_is_rejected() -> None:
    core = opened(make_hall(3))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(CloseVote(at=3, vote_id="v1"))
    assert rejected(press(core, 4, 1, 1)) == "no-open-vote"


def test_press_from_unknown_seat_absent_member_or_non_voter() -> None:
    core = opened(make_hall(4, secretary=True, empty_seats=1), present=[1, 2, 3, 5])
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    unknown = press(core, 3, 99, 1)
    assert rejected(unknown) == "unknown-seat"
    assert not [e for e in unknown if isinstance(e, Beep)]
    assert rejected(press(core, 3, 4, 1)) == "not-present"
    assert rejected(press(core, 3, 5, 1)) == "not-entitled"  # the secretary
    assert rejected(press(core, 3, 6, 1)) == "not-entitled"  # an empty seat
    assert rejected(press(core, 3, 1, 4)) == "invalid-key"
    assert rejected(press(core, 3, 1, 0)) == "invalid-key"
    assert core.votes["v1"].participants == set()


def test_change_until_close_counts_each_seat_once() -> None:
    core = opened(make_hall(3))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    press(core, 3, 1, 1)
    press(core, 4, 1, 2)
    effects = press(core, 5, 1, 3)
    assert KeypadLeds(1, lit=(3,), present=True) in effects
    assert core.votes["v1"].heads == [0, 0, 1]
    assert len(core.votes["v1"].participants) == 1


def test_first_press_locks() -> None:
    core = opened(make_hall(3))
    created(core, change_until_close=False)
    core.handle(OpenVote(at=2, vote_id="v1"))
    effects = press(core, 3, 1, 2)
    assert KeypadLock(1, locked=True, keys=3) in effects
    assert rejected(press(core, 4, 1, 1)) == "already-voted"
    assert core.votes["v1"].heads == [0, 1, 0]
    # After a hold, the keypad that already voted stays locked.
    core.handle(HoldVote(at=5, vote_id="v1"))
    resumed = core.handle(ResumeVote(at=6, vote_id="v1"))
    unlocked = {e.seat for e in resumed if isinstance(e, KeypadLock) and not e.locked}
    assert unlocked == {2, 3}


def test_yes_no_has_two_keys() -> None:
    core = opened(make_hall(3))
    created(core, answers=AnswerSet.YES_NO)
    effects = core.handle(OpenVote(at=2, vote_id="v1"))
    assert {e.keys for e in effects if isinstance(e, KeypadLock)} == {2}
    assert rejected(press(core, 3, 1, 3)) == "invalid-key"


def test_choices_vote() -> None:
    core = opened(make_hall(7))
    created(
        core, answers=AnswerSet.CHOICES, choices=("An", "Bình", "Cường"), rule="roberts-majority"
    )
    core.handle(OpenVote(at=2, vote_id="v1"))
    for seat, key in [(1, 2), (2, 2), (3, 2), (4, 2), (5, 1), (6, 3)]:
        press(core, 3, seat, key)
    closed = core.handle(CloseVote(at=4, vote_id="v1"))
    result = notes(closed, "vote.closed")[0].data["result"]
    assert result["totals"] == [
        {"key": 1, "label": "An", "count": 1},
        {"key": 2, "label": "Bình", "count": 4},
        {"key": 3, "label": "Cường", "count": 1},
    ]
    assert result["outcome"]["winner"] == 2
    assert result["outcome"]["adopted"]
    assert result["did_not_vote"] == 1


# --- timers at their real values ----------------------------------------------------------------


def test_sixty_seconds_with_a_ten_second_warning_then_auto_close() -> None:
    clock = FakeClock(1000.0)
    core = opened(make_hall(5), at=clock.now())
    created(core, at=clock.now(), duration_s=60.0, warning_s=10.0)
    core.handle(OpenVote(at=clock.now(), vote_id="v1"))
    assert core.next_deadline() == 1050.0
    clock.advance(49.999)
    assert core.handle(Tick(at=clock.now())) == []
    clock.set(1050.0)
    warned = core.handle(Tick(at=clock.now()))
    (warning,) = notes(warned, "vote.warning")
    assert warning.data == {"at": 1050.0, "vote_id": "v1", "remaining_s": 10.0, "deadline": 1060.0}
    assert core.next_deadline() == 1060.0
    press(core, 1055.0, 1, 1)
    clock.set(1060.0)
    closed = core.handle(Tick(at=clock.now()))
    (note,) = notes(closed, "vote.closed")
    assert note.data["auto"] is True
    assert note.data["result"]["closed_at"] == 1060.0
    assert vote_state(core) is VoteState.CLOSED
    assert core.next_deadline() is None


def test_hold_pauses_the_countdown() -> None:
    clock = FakeClock()
    core = opened(make_hall(5))
    created(core, duration_s=60.0, warning_s=10.0)
    core.handle(OpenVote(at=clock.now(), vote_id="v1"))
    clock.advance(20)
    core.handle(HoldVote(at=clock.now(), vote_id="v1"))
    assert core.next_deadline() is None
    assert core.snapshot()["votes"][0]["countdown_s"] == 40.0
    clock.advance(300)  # a long hold: nothing fires
    assert core.handle(Tick(at=clock.now())) == []
    core.handle(ResumeVote(at=clock.now(), vote_id="v1"))
    assert core.next_deadline() == 320 + 30
    clock.advance(40)
    effects = core.handle(Tick(at=clock.now()))
    assert notes(effects, "vote.warning")
    assert notes(effects, "vote.closed")
    assert vote_state(core) is VoteState.CLOSED


def test_a_late_press_is_rejected_even_before_the_tick_arrives() -> None:
    core = opened(make_hall(5))
    created(core, duration_s=60.0, warning_s=10.0)
    core.handle(OpenVote(at=0.0, vote_id="v1"))
    effects = press(core, 60.5, 1, 1)
    topics = [e.topic for e in effects if isinstance(e, Notification)]
    assert topics == ["vote.warning", "vote.closed", "press.rejected"]
    assert notes(effects, "vote.closed")[0].data["result"]["closed_at"] == 60.0
    assert rejected(effects) == "no-open-vote"
    assert core.votes["v1"].heads == [0, 0, 0]


def test_no_time_limit() -> None:
    core = opened(make_hall(3))
    created(core, duration_s=0.0, warning_s=10.0)
    core.handle(OpenVote(at=0.0, vote_id="v1"))
    assert core.next_deadline() is None
    assert core.handle(Tick(at=1e6)) == []
    assert vote_state(core) is VoteState.OPEN


def test_an_untimed_vote_waits_for_the_chair() -> None:
    core = opened(make_hall(3))
    created(core, duration_s=UNTIMED)
    core.handle(OpenVote(at=0.0, vote_id="v1"))
    core.handle(VoteKeyPressed(at=MAX_VOTE_DURATION_S * 2, seat=1, key=1))
    assert core.votes["v1"].heads == [1, 0, 0]
    core.handle(CloseVote(at=MAX_VOTE_DURATION_S * 2 + 1, vote_id="v1"))
    assert vote_state(core) is VoteState.CLOSED


@pytest.mark.parametrize(
    ("duration", "warning"),
    [(MAX_VOTE_DURATION_S + 1, 10.0), (MAX_VOTE_DURATION_S, MAX_VOTE_DURATION_S + 1)],
)
def test_a_vote_longer_than_the_limit_is_refused(duration: float, warning: float) -> None:
    core = opened(make_hall(3))
    with pytest.raises(CommandRejected) as exc:
        created(core, duration_s=duration, warning_s=warning)
    assert exc.value.kind == "invalid"
    created(core, duration_s=MAX_VOTE_DURATION_S, warning_s=MAX_VOTE_DURATION_S - 1)


def test_snapshot_countdown() -> None:
    core = opened(make_hall(3))
    created(core, duration_s=60.0)
    core.handle(OpenVote(at=100.0, vote_id="v1"))
    press(core, 125.0, 1, 1)
    vote = core.snapshot()["votes"][0]
    assert (vote["deadline"], vote["countdown_s"], vote["state"]) == (160.0, 35.0, "open")


# --- results ----------------------------------------------------------------------------------


def test_did_not_vote_is_kept_apart_from_abstain() -> None:
    core = opened(make_hall(10))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    for seat, key in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 2), (8, 3)]:
        press(core, 3, seat, key)
    result = core.handle(CloseVote(at=4, vote_id="v1"))
    data = notes(result, "vote.closed")[0].data["result"]
    assert [t["count"] for t in data["totals"]] == [6, 1, 1]
    assert data["voted"] == 8
    assert data["did_not_vote"] == 2
    assert data["present"] == 10
    assert data["outcome"]["adopted"]  # 6 of 10 members: more than half
    assert data["choices"] == [
        {"seat": s, "key": k}
        for s, k in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 2), (8, 3)]
    ]


def test_electorate_is_snapshotted_at_open_and_close() -> None:
    core = opened(make_hall(6), present=[1, 2, 3, 4])
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    press(core, 3, 4, 1)
    core.handle(PresenceChanged(at=4, seat=4, present=False))  # voted, then left
    core.handle(PresenceChanged(at=5, seat=5, present=True))  # arrived during the vote
    press(core, 6, 5, 2)
    core.handle(CloseVote(at=7, vote_id="v1"))
    result = core.votes["v1"].result
    assert result is not None
    assert result.electorate_at_open == (1, 2, 3, 4)
    assert result.electorate_at_close == (1, 2, 3, 5)
    assert result.participants == (4, 5)
    assert result.present == 5  # seat 4 voted, so it was there for this vote
    assert result.did_not_vote == 3


def test_arrival_during_the_vote_unlocks_and_departure_locks() -> None:
    core = opened(make_hall(6), present=[1, 2, 3, 4])
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    arrived = core.handle(PresenceChanged(at=3, seat=5, present=True))
    assert KeypadLock(5, locked=False, keys=3) in arrived
    left = core.handle(PresenceChanged(at=4, seat=2, present=False))
    assert KeypadLock(2, locked=True, keys=3) in left


def test_roberts_majority_leaves_abstentions_out_of_the_votes_cast() -> None:
    """Robert's Rules of Order Newly Revised, 12th ed., 44:1-44:3: abstentions are not votes
    cast. 3 for, 2 against and 4 abstaining of 9 present adopts the motion (3 of 5)."""
    core = opened(make_hall(9))
    created(core, rule="roberts-majority")
    core.handle(OpenVote(at=2, vote_id="v1"))
    for seat, key in [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (7, 3), (8, 3), (9, 3)]:
        press(core, 3, seat, key)
    closed = core.handle(CloseVote(at=4, vote_id="v1"))
    outcome = notes(closed, "vote.closed")[0].data["result"]["outcome"]
    assert outcome["adopted"]
    assert (outcome["base_count"], outcome["required"]) == (5, 3)


def test_weighted_vote() -> None:
    # Seat 1 carries 5, others 1; all members weigh 5 + 4 = 9.
    core = opened(make_hall(5, weights=(5, 1, 1, 1, 1)))
    created(core, weighted=True, rule="vn-council")
    core.handle(OpenVote(at=2, vote_id="v1"))
    press(core, 3, 1, 1)
    press(core, 3, 2, 2)
    press(core, 3, 3, 2)
    press(core, 3, 2, 1)  # a change moves the weight too
    core.handle(CloseVote(at=4, vote_id="v1"))
    result = core.votes["v1"].result
    assert result is not None
    assert result.totals == (2, 1, 0)
    assert result.weighted_totals == (6, 1, 0)
    assert result.all_members == 9
    assert result.outcome.required == 5
    assert result.outcome.adopted
    assert result.outcome.explanation.startswith("By weight: 6 of 9 members voted yes;")


def test_publish_sends_the_result() -> None:
    core = opened(make_hall(3, language=Language.VI))
    created(core)
    core.handle(OpenVote(at=2, vote_id="v1"))
    press(core, 3, 1, 1)
    press(core, 3, 2, 1)
    core.handle(CloseVote(at=4, vote_id="v1"))
    (note,) = notes(core.handle(PublishVote(at=5, vote_id="v1")), "vote.result")
    assert note.data["result"]["outcome"]["explanation"] == (
        "Có 2/3 đại biểu tán thành; cần quá nửa tổng số 3 đại biểu (ít nhất 2): thông qua."
    )
    assert vote_state(core) is VoteState.PUBLISHED


# --- roll-call --------------------------------------------------------------------------------


def test_roll_call_calls_in_seat_order_and_allows_corrections() -> None:
    core = opened(make_hall(4))
    created(core, mode=VoteMode.ROLL_CALL)
    opened_effects = core.handle(OpenVote(at=2, vote_id="v1"))
    assert notes(opened_effects, "vote.call")[0].data == {
        "vote_id": "v1",
        "seat": 1,
        "delegate": "d1",
        "position": 1,
        "of": 4,
    }
    assert rejected(press(core, 3, 2, 1)) == "not-called-yet"
    effects = press(core, 4, 1, 1)
    assert notes(effects, "vote.call")[0].data["seat"] == 2
    press(core, 5, 2, 2)
    press(core, 6, 1, 2)  # seat 1, already called, corrects within the time
    snap = core.snapshot()["votes"][0]
    assert snap["call_order"] == [1, 2, 3, 4]
    assert snap["calling"] == 3
    assert snap["calling_delegate"] == "d3"
    assert core.votes["v1"].heads == [0, 2, 0]


def test_roll_call_skips_a_member_who_left_and_calls_late_arrivals_last() -> None:
    core = opened(make_hall(5), present=[1, 2, 3, 4])
    created(core, mode=VoteMode.ROLL_CALL)
    core.handle(OpenVote(at=2, vote_id="v1"))
    press(core, 3, 1, 1)  # now calling seat 2
    core.handle(PresenceChanged(at=4, seat=3, present=False))
    left = core.handle(PresenceChanged(at=5, seat=2, present=False))
    assert notes(left, "vote.call")[0].data["seat"] == 4  # 3 left earlier: skipped too
    core.handle(PresenceChanged(at=6, seat=5, present=True))
    press(core, 7, 4, 1)
    assert core.votes["v1"].calling == 5
    last = press(core, 8, 5, 1)
    assert notes(last, "vote.call")[0].data["seat"] is None


def test_whether_a_press_counts_is_decided_in_one_order() -> None:
    """`press_refusal` reports the first reason that applies: seat, vote, hold, right to vote,
    presence, key, roll call, a first press that may not change."""
    core = opened(make_hall(4), present=[1, 2, 3])
    created(core, mode=VoteMode.ROLL_CALL, change_until_close=False)
    vote = core.votes["v1"]

    def refusal(seat: int, key: int, **kw: Any) -> PressRejected | None:
        args: dict[str, Any] = {"known": True, "weight": 1, "present": True, **kw}
        return press_refusal(core.active_vote, seat, key, **args)

    assert refusal(1, 9, known=False, weight=None, present=False) is PressRejected.UNKNOWN_SEAT
    assert refusal(1, 9, weight=None) is PressRejected.NO_OPEN_VOTE
    core.handle(OpenVote(at=2, vote_id="v1"))
    core.handle(HoldVote(at=3, vote_id="v1"))
    assert refusal(1, 9, weight=None) is PressRejected.VOTE_ON_HOLD
    core.handle(ResumeVote(at=4, vote_id="v1"))
    assert refusal(1, 9, weight=None, present=False) is PressRejected.NOT_ENTITLED
    assert refusal(1, 9, present=False) is PressRejected.NOT_PRESENT
    assert refusal(2, 9) is PressRejected.INVALID_KEY
    assert refusal(2, 1) is PressRejected.NOT_CALLED_YET
    assert refusal(1, 1) is None
    press(core, 5, 1, 1)
    assert vote.heads == [1, 0, 0]
    assert refusal(1, 2) is PressRejected.ALREADY_VOTED
    assert refusal(2, 2) is None


# --- a decided result's JSON --------------------------------------------------------------------


def test_a_decided_result_is_rendered_once_and_an_annulment_renders_anew() -> None:
    """Every refresh puts each decided result in several views: it is made once, its lists
    the same objects each time (the differ passes over them by identity), and a result that
    changes (an annulment makes a new one) is made again."""
    core = opened(make_hall(10))
    created(core)
    core.handle(OpenVote(at=2.0, vote_id="v1"))
    for seat in (1, 2, 3):
        press(core, 3.0, seat, 1)
    press(core, 3.0, 4, 2)
    core.handle(CloseVote(at=4.0, vote_id="v1"))
    result = core.votes["v1"].result
    assert result is not None
    options = core.votes["v1"].definition.options
    first, second = result.to_json(options), result.to_json(options)
    assert first == second
    assert first is not second
    assert first["choices"] is second["choices"]
    assert first["choices"] == [
        {"seat": 1, "key": 1},
        {"seat": 2, "key": 1},
        {"seat": 3, "key": 1},
        {"seat": 4, "key": 2},
    ]
    first["did_not_vote_seats"] = [5]
    assert "did_not_vote_seats" not in result.to_json(options)
    # Other labels (another language) are not served from the first rendering.
    other = tuple(label.upper() for label in options)
    assert [t["label"] for t in result.to_json(other)["totals"]] == list(other)
    core.handle(AnnulVote(at=5.0, vote_id="v1", reason="Hệ thống hỏng"))
    annulled = core.votes["v1"].result
    assert annulled is not None
    assert annulled is not result
    assert annulled.to_json(options)["annulled"] == {"reason": "Hệ thống hỏng", "at": 5.0}
    assert result.to_json(options)["annulled"] is None
