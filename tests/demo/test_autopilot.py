"""The delegates' autopilot: its temperament's bounds, its draws, and a vote it takes part in
through the real transports, checked against the simulator's ground truth."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.auth import Role
from chamber.controller.config import load_config
from chamber.simulator.autopilot import Autopilot, AutopilotError, Temperament, choose_key
from chamber.simulator.demo import EXAMPLE, VOTE_PLANS, CheckedSitting, DemoHall, open_sitting
from tests.rig import HallRig

FAST = Temperament(
    reaction_s=(0.05, 0.5),
    no_press=0.1,
    change=0.2,
    change_after_s=(0.1, 0.2),
    absent=0.1,
    arrive_within_s=0.3,
    floor_every_s=None,
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"no_press": 1.5},
        {"change": -0.1},
        {"absent": 2.0},
        {"reaction_s": (2.0, 1.0)},
        {"change_after_s": (-1.0, 1.0)},
        {"leaning": {0: 1.0}},
        {"leaning": {1: -1.0}},
        {"arrive_within_s": -1.0},
        {"floor_every_s": 0.0},
        {"max_waiting": -1},
        {"check_every_s": 0.0},
    ],
)
def test_impossible_temperaments_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(AutopilotError):
        Temperament(**kwargs)  # type: ignore[arg-type]


@given(
    leaning=st.dictionaries(st.integers(1, 12), st.floats(0, 10), max_size=6),
    keys=st.integers(1, 10),
    seed=st.integers(0, 2**32),
)
def test_a_choice_is_always_a_key_the_vote_offers(
    leaning: dict[int, float], keys: int, seed: int
) -> None:
    key = choose_key(random.Random(seed), leaning, keys)
    assert 1 <= key <= keys
    weighted = [k for k in range(1, keys + 1) if leaning.get(k, 0.0) > 0]
    if weighted:
        assert key in weighted


def test_choices_follow_the_leaning() -> None:
    rng = random.Random(7)
    draws = [choose_key(rng, {1: 0.7, 2: 0.2, 3: 0.1}, 3) for _ in range(5000)]
    share_yes = draws.count(1) / len(draws)
    assert 0.66 < share_yes < 0.74
    # A yes/no vote never gets an abstention, whatever the leaning says about key 3.
    assert {choose_key(rng, {1: 0.0, 2: 0.0, 3: 1.0}, 2) for _ in range(200)} == {1, 2}


@pytest.fixture
async def rig() -> AsyncIterator[HallRig]:
    # Not under pytest's 0700 tree: the simulator's broker drops to its own account.
    data = Path(tempfile.mkdtemp(prefix="chamber-demo-test-"))
    try:
        async with HallRig(load_config(EXAMPLE), data, wire_time=False, seed=3) as rig:
            yield rig
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def test_the_autopilot_seats_delegates_and_votes_when_the_keys_unlock(rig: HallRig) -> None:
    async with rig.client(Role.CHAIR) as chair:
        await open_sitting(chair)
        async with Autopilot(rig.sim, seed=3, temperament=FAST) as pilot:
            sitting = CheckedSitting(rig.sim, chair, pilot, DemoHall.load(EXAMPLE))
            attendance = await sitting.attendance()
            assert attendance["match"], attendance
            assert 0 < len(attendance["truth_present"]) < 50  # some stayed away
            # Nobody pressed a voting key before a vote opened.
            assert not rig.sim.truth.votes()

            entry = await sitting.vote("v1", VOTE_PLANS[0])
            assert entry["match"], entry
            truth = entry["truth"]
            assert truth["voted"] > 0
            assert truth["did_not_vote"] > 0  # the few who never press
            assert sum(truth["totals"]) == truth["voted"] == entry["daemon"]["voted"]
            assert entry["daemon"]["totals"] == truth["totals"]
            # Every autopilot press is in the ground truth, in the order it was made.
            recorded = set(rig.sim.truth.presses)
            assert all(p in recorded for p in pilot.presses)
            assert pilot.errors == 0
