"""The keypads' wanted-state diff under random input (hypothesis).

A model of the hall's keypads takes every keypad command the core emits (a broadcast reaches
every keypad). After every accepted input the model shows exactly what each keypad should
show, computed here from the core's public state: keys unlocked only while a vote is open for
a present member who may still press, the seat's own choice lit while the vote holds the
keypads, the presence LED as attendance says. `unit_state()` brings a keypad that restarted
with nothing to the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.core.effects import Effect, KeypadLeds, KeypadLock
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CancelVote,
    CloseVote,
    HoldVote,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    ResumeVote,
    SetPresence,
    Tick,
    VoteKeyPressed,
)
from chamber.controller.core.model import AnswerSet, VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import ACTIVE_STATES, VoteState
from tests.core.halls import AGENDA
from tests.core.test_core_properties import HALL, SEATS, Step, _create, timed_steps

# The property tests' hall, with seat 5's member at a seat without a keypad.
KEYPAD_HALL = replace(
    HALL,
    seats=tuple(replace(s, has_keypad=False) if s.number == 5 else s for s in HALL.seats),
)
KEYPADS = tuple(s.number for s in KEYPAD_HALL.seats if s.has_keypad)


DT = st.sampled_from([0.0, 0.5, 3.0, 15.0])


def _during(vote_id: str) -> st.SearchStrategy[Step]:
    """What happens while a vote runs: presses, arrivals and departures, hold and resume."""
    return st.builds(
        Step,
        DT,
        st.one_of(
            st.builds(
                lambda s, k: lambda at: VoteKeyPressed(at=at, seat=s, key=k),
                SEATS,
                st.integers(min_value=1, max_value=4),
            ),
            st.builds(
                lambda s, p: lambda at: PresenceChanged(at=at, seat=s, present=p),
                SEATS,
                st.booleans(),
            ),
            st.builds(
                lambda s, p: lambda at: SetPresence(at=at, seat=s, present=p),
                SEATS,
                st.booleans(),
            ),
            st.just(lambda at: HoldVote(at=at, vote_id=vote_id)),
            st.just(lambda at: ResumeVote(at=at, vote_id=vote_id)),
            st.just(lambda at: Tick(at=at)),
        ),
    )


@st.composite
def vote_rounds(draw: st.DrawFn) -> list[Step]:
    """One to three votes, each created, opened, lived through and closed or cancelled."""
    steps: list[Step] = []
    for n in range(draw(st.integers(min_value=1, max_value=3))):
        vote_id = f"r{n}"
        mode = draw(st.sampled_from(list(VoteMode)))
        answers = draw(st.sampled_from(list(AnswerSet)))
        steps.append(Step(0.0, _create(vote_id, mode, answers, draw(st.booleans()))))
        steps.append(Step(0.5, lambda at, v=vote_id: OpenVote(at=at, vote_id=v)))
        steps += draw(st.lists(_during(vote_id), min_size=1, max_size=30))
        end = draw(st.sampled_from([CloseVote, CancelVote]))
        steps.append(Step(draw(DT), lambda at, v=vote_id, e=end: e(at=at, vote_id=v)))
    return steps


keypad_runs = st.one_of(timed_steps, vote_rounds())


@dataclass
class Shown:
    """What one keypad shows, as the unit would after the commands it received."""

    locked: bool = True
    keys: int = 0
    lit: tuple[int, ...] = ()
    present: bool = False


def apply(model: dict[int, Shown], effects: list[Effect]) -> None:
    for e in effects:
        if isinstance(e, KeypadLock | KeypadLeds):
            targets = list(model) if e.seat is None else [e.seat] if e.seat in model else []
            for seat in targets:
                shown = model[seat]
                if isinstance(e, KeypadLock):
                    shown.locked, shown.keys = e.locked, e.keys
                else:
                    shown.lit = e.lit
                    if e.present is not None:
                        shown.present = e.present


def expected(core: MeetingCore, seat: int) -> Shown:
    present = core.attendance.is_present(seat)
    # The presence LED: present, or during a roll call, confirmed.
    led = core.attendance.confirmed(seat) if core.attendance.roll_call else present
    vote = core.active_vote
    if vote is None:
        return Shown(locked=True, keys=0, lit=(), present=led)
    choice = vote.choice_of(seat) if vote.state in ACTIVE_STATES else None
    may_press = vote.definition.change_until_close or choice is None
    # Who sits here now (a delegate may have moved to a spare seat), and whether they vote.
    delegate = core.attendance.seating.delegate_at(seat)
    voting = delegate is not None and delegate != "sec"
    unlocked = vote.state is VoteState.OPEN and voting and present and may_press
    return Shown(
        locked=not unlocked,
        keys=vote.definition.keys,
        lit=(choice,) if choice is not None else (),
        present=led,
    )


def check(core: MeetingCore, model: dict[int, Shown]) -> None:
    for seat in KEYPADS:
        want, shown = expected(core, seat), model[seat]
        assert (shown.locked, shown.lit, shown.present) == (want.locked, want.lit, want.present)
        if not want.locked:
            # An unlocked keypad offers exactly the open vote's keys.
            assert shown.keys == want.keys


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keypad_runs)
def test_the_keypads_always_show_the_wanted_state(steps: list[Step]) -> None:
    core = MeetingCore(KEYPAD_HALL)
    model = {seat: Shown() for seat in KEYPADS}
    check(core, model)
    for seat in (1, 2, 3, 4, 5):
        apply(model, core.handle(PresenceChanged(at=0.0, seat=seat, present=True)))
    apply(model, core.handle(OpenSitting(at=0.0, sitting_id="s1", title="Kỳ họp", agenda=AGENDA)))
    check(core, model)
    at = 0.0
    for step in [*steps, Step(0.0, lambda at: Tick(at=at))]:
        at += step.dt
        try:
            effects = core.handle(step.make(at))
        except CommandRejected:
            # Deadlines that passed before a refused command go out with the next input.
            continue
        apply(model, effects)
        check(core, model)
        # A keypad that restarted knowing nothing is brought to the same state.
        restarted = {
            seat: Shown(locked=False, keys=99, lit=(9,), present=False) for seat in KEYPADS
        }
        apply(restarted, core.unit_state())
        check(core, restarted)
