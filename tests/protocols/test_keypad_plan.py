"""kp.plan_writes: the fewest frames that bring a line's keypads to what they should show.

Hypothesis draws what each unit is known to show (or nothing known) and what it should show;
the plan, applied as the line would (its broadcast to every unit, then a unicast of the
whole block to each unit it names), leaves every unit showing what it should, in no more
frames than writing each differing unit on its own.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from chamber.protocols import keypad as kp

outputs = st.builds(
    kp.KeypadOutputs,
    locked=st.booleans(),
    keys=st.sampled_from([0, 2, 3, 5]),
    leds=st.sets(st.integers(min_value=1, max_value=3), max_size=1).map(frozenset),
    presence_led=st.booleans(),
)
lines = st.dictionaries(
    st.integers(min_value=1, max_value=247),
    st.tuples(st.one_of(st.none(), outputs), outputs),
    max_size=12,
)


@given(lines)
def test_the_plan_brings_every_unit_to_its_state_in_the_fewest_frames(
    units: dict[int, tuple[kp.KeypadOutputs | None, kp.KeypadOutputs]],
) -> None:
    plan = kp.plan_writes(units)
    shown = {a: have for a, (have, _) in units.items()}
    if plan.broadcast is not None:
        shown = {a: None if s is None else plan.broadcast.apply(s) for a, s in shown.items()}
    for address in plan.unicast:
        shown[address] = units[address][1]
    assert shown == {a: want for a, (_, want) in units.items()}
    differing = sum(1 for have, want in units.values() if have != want)
    frames = len(plan.unicast) + (plan.broadcast is not None)
    assert frames <= differing
    if plan.broadcast is not None:
        assert frames < differing  # a broadcast only where it saves a frame
    # What a broadcast left unlocked by mistake is locked first.
    locks = [units[a][1].locked for a in plan.unicast]
    assert locks == sorted(locks, reverse=True)


def test_opening_a_vote_on_a_line_with_one_absent_seat() -> None:
    """Keypad contract, controller behaviour: one vote broadcast, then one unicast."""
    closed = kp.KeypadOutputs(locked=True, keys=0, presence_led=True)
    units = {a: (closed, replace(closed, locked=False, keys=3)) for a in range(1, 32)}
    units[32] = (replace(closed, presence_led=False), replace(closed, keys=3, presence_led=False))
    plan = kp.plan_writes(units)
    assert plan.broadcast == kp.BroadcastPlan(
        kp.BroadcastCommand.VOTE, kp.KeypadOutputs(locked=False, keys=3)
    )
    assert plan.unicast == (32,)


def test_holding_a_vote_keeps_each_seats_leds() -> None:
    """Seats with different LEDs are locked by one lock broadcast, which leaves them lit."""
    units = {
        a: (
            kp.KeypadOutputs(locked=False, keys=3, leds=frozenset({a % 3 + 1})),
            kp.KeypadOutputs(locked=True, keys=3, leds=frozenset({a % 3 + 1})),
        )
        for a in range(1, 10)
    }
    plan = kp.plan_writes(units)
    assert plan.broadcast == kp.BroadcastPlan(kp.BroadcastCommand.LOCK, kp.KeypadOutputs())
    assert plan.unicast == ()
