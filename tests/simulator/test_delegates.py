"""Delegate scripts are seeded and bounded; the ground truth counts what a controller must."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.simulator.delegates import (
    ActionKind,
    GroundTruth,
    MicScript,
    PresenceScript,
    Press,
    PressKind,
    VoteScript,
)

SEATS = list(range(1, 101))


def _press(seat: int, key: int, at: float, seq: int = 1, refused: bool = False) -> Press:
    return Press(seat, PressKind.VOTE, key, at, seq, f"mqtt/{seat}", refused)


@given(seed=st.integers(0, 2**32), within=st.floats(0.01, 5.0))
def test_vote_plan_is_seeded_and_within_the_window(seed: int, within: float) -> None:
    script = VoteScript(within_s=within, no_press=0.1)
    plan = script.plan(SEATS, random.Random(seed))
    assert plan == script.plan(SEATS, random.Random(seed))
    assert all(0.0 <= a.after_s <= within for a in plan)
    assert all(a.kind is ActionKind.VOTE and a.key in (1, 2, 3) for a in plan)
    assert len({a.seat for a in plan}) == len(plan)  # one press per seat without changes


def test_exact_choices_are_followed() -> None:
    choices = {1: 1, 2: 2, 3: 3, 7: 1}
    plan = VoteScript(choices=choices).plan(SEATS, random.Random(0))
    assert {a.seat: a.key for a in plan} == choices


def test_distribution_is_respected_roughly() -> None:
    plan = VoteScript(distribution={1: 0.5, 2: 0.5}).plan(range(1, 4097), random.Random(2))
    yes = sum(1 for a in plan if a.key == 1)
    assert 1800 < yes < 2300
    assert {a.key for a in plan} == {1, 2}


def test_changes_put_the_final_choice_last() -> None:
    plan = VoteScript(change=1.0, change_after_s=0.5).plan([1, 2, 3], random.Random(4))
    per_seat: dict[int, list[tuple[float, int]]] = {}
    for a in plan:
        per_seat.setdefault(a.seat, []).append((a.after_s, a.key))
    for presses in per_seat.values():
        assert len(presses) == 2
        (t1, k1), (t2, k2) = sorted(presses)
        assert t2 == pytest.approx(t1 + 0.5)
        assert k1 != k2


def test_bad_scripts_are_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        VoteScript(no_press=1.5).plan(SEATS, random.Random(0))
    with pytest.raises(ValueError, match="distribution"):
        VoteScript(distribution={0: 1.0}).plan(SEATS, random.Random(0))
    with pytest.raises(ValueError, match="numbered from 1"):
        VoteScript(choices={1: 0}).plan(SEATS, random.Random(0))


def test_presence_and_mic_plans() -> None:
    presence = PresenceScript(arrive_within_s=1.0, absent=0.2, depart=0.5)
    plan = presence.plan(SEATS, random.Random(5))
    arrived = {a.seat for a in plan if a.kind is ActionKind.ARRIVE}
    departed = {a.seat for a in plan if a.kind is ActionKind.DEPART}
    assert departed <= arrived
    assert 60 < len(arrived) < 95
    for a in plan:
        if a.kind is ActionKind.DEPART:
            assert a.after_s >= 1.0
    mic = MicScript(request=0.3, cancel=1.0, cancel_after_s=0.25).plan(SEATS, random.Random(5))
    requests = [a for a in mic if a.kind is ActionKind.MIC_REQUEST]
    cancels = [a for a in mic if a.kind is ActionKind.MIC_CANCEL]
    assert len(requests) == len(cancels) > 0


def test_expected_totals_under_both_policies() -> None:
    truth = GroundTruth()
    truth.record(_press(1, 1, 10.0))
    truth.record(_press(1, 2, 10.5, seq=2))
    truth.record(_press(2, 3, 10.2))
    truth.record(_press(3, 1, 10.3, refused=True))  # locked keypad: not a vote
    truth.record(_press(4, 1, 9.0))  # before the vote opened
    truth.record(_press(5, 2, 12.0))  # after it closed
    window = {"since": 10.0, "until": 11.0}
    change = truth.expected(**window, change_until_close=True)
    assert change.choices == {1: 2, 2: 3}
    assert change.totals == {2: 1, 3: 1}
    first = truth.expected(**window, change_until_close=False)
    assert first.choices == {1: 1, 2: 3}
    assert truth.expected_totals(**window, keys=2) == {2: 1}
    assert truth.expected(seats=[2]).choices == {2: 3}


@given(
    st.lists(
        st.tuples(st.integers(1, 50), st.integers(1, 10), st.floats(0, 100), st.booleans()),
        max_size=60,
    )
)
def test_truth_json_round_trips_and_last_press_wins(
    presses: list[tuple[int, int, float, bool]],
) -> None:
    truth = GroundTruth()
    for i, (seat, key, at, refused) in enumerate(presses):
        truth.record(_press(seat, key, at, seq=i + 1, refused=refused))
    again = GroundTruth.from_json(truth.to_json())
    assert again.presses == truth.presses
    expected: dict[int, int] = {}
    for seat, key, _, refused in presses:
        if not refused:
            expected[seat] = key
    assert dict(truth.expected().choices) == expected
    assert sum(truth.expected().totals.values()) == len(expected)
