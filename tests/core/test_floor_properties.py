"""Random sequences of floor inputs, in every mode and hall setting, against the floor's laws.

After every input: no more delegate microphones open than the cap, no more seats waiting than
the list allows, the rings the units show number each list 1..n without gaps, the units'
microphones match the live speakers, and effects only ever say what changed. A rejected
command changes nothing, and replaying the same inputs gives the same effects and snapshot.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.effects import Effect, RingState
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.floor import Floor
from chamber.controller.core.inputs import (
    ApiChairPriority,
    ChairPriority,
    ExtendSpeakingTime,
    GrantFloor,
    GrantNext,
    Input,
    MicCancel,
    MicOverride,
    MicRequest,
    RegisterSpeaker,
    RevokeFloor,
    SetMicMode,
    SetSpeakingTime,
    TalkButton,
    Tick,
    VoiceLevel,
)
from chamber.controller.core.model import AtZero, MicClass, MicMode, PriorityMode, SpeakerList
from tests.core.test_floor import CHAIR, NO_MIC, UNKNOWN, VIP, Units, make_hall

DELEGATE_SEATS = 8
SEATS = [*range(1, DELEGATE_SEATS + 1), CHAIR, VIP]
ANY_SEAT = st.sampled_from([*SEATS, NO_MIC, UNKNOWN])
SEAT = st.sampled_from(SEATS)
LIST = st.sampled_from(list(SpeakerList))
OPTIONAL_LIST = st.none() | LIST
HALL_SEATS = {s.number: s for s in make_hall(DELEGATE_SEATS).seats}


@dataclass(frozen=True)
class SetItem:
    """The meeting core switching agenda item, which it does through `Floor.set_item`."""

    at: float
    item: str | None


def _step(cls: type[Any], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(st.just(cls), st.fixed_dictionaries(fields))


# One thing that happens to the floor: an input class and its fields, all but the time.
STEP = st.one_of(
    _step(MicRequest, seat=ANY_SEAT, list=LIST),
    _step(MicCancel, seat=ANY_SEAT),
    _step(TalkButton, seat=ANY_SEAT, held=st.booleans()),
    _step(VoiceLevel, seat=SEAT, level_db=st.sampled_from([-60.0, -31.0, -30.0, -10.0])),
    _step(ChairPriority, seat=ANY_SEAT, held=st.booleans()),
    _step(ApiChairPriority, held=st.booleans()),
    _step(RegisterSpeaker, seat=ANY_SEAT, list=LIST),
    _step(GrantFloor, seat=ANY_SEAT, list=OPTIONAL_LIST),
    _step(GrantNext, list=OPTIONAL_LIST),
    _step(RevokeFloor, seat=st.none() | ANY_SEAT),
    _step(
        SetMicMode,
        mode=st.sampled_from(list(MicMode)),
        max_open=st.none() | st.integers(0, 5),
    ),
    _step(SetSpeakingTime, list=LIST, seconds=st.sampled_from([0.0, 20.0, 60.0, -1.0])),
    _step(ExtendSpeakingTime, seat=ANY_SEAT, seconds=st.sampled_from([0.0, 15.0, 60.0])),
    _step(MicOverride, seat=ANY_SEAT, on=st.booleans()),
    _step(Tick),
    _step(SetItem, item=st.sampled_from([None, "a", "b"])),
)
POLICY = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(list(MicMode)),
        "max_open": st.integers(1, 4),
        "max_requests": st.integers(0, 6),
        "chair_priority": st.sampled_from(list(PriorityMode)),
        "at_zero": st.sampled_from(list(AtZero)),
        "speak_time_s": st.sampled_from([0.0, 30.0, 90.0]),
        "question_time_s": st.sampled_from([0.0, 20.0]),
        "reply_time_s": st.just(15.0),
        "warning_s": st.sampled_from([0.0, 10.0, 30.0]),
        "voice_hold_s": st.just(3.0),
    }
)
DELTA = st.sampled_from([0.0, 0.5, 2.0, 7.0, 25.0])


@st.composite
def scenarios(draw: Any) -> tuple[dict[str, Any], list[Any]]:
    policy = draw(POLICY)
    steps = []
    at = 0.0
    for delta, (cls, fields) in draw(st.lists(st.tuples(DELTA, STEP), min_size=20, max_size=80)):
        at += delta
        steps.append(cls(at=at, **fields))
    return policy, steps


def _apply(floor: Floor, step: Input | SetItem) -> list[Effect]:
    if isinstance(step, SetItem):
        return floor.set_item(step.item, step.at)
    return floor.handle(step)


def _run(policy: dict[str, Any], steps: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    floor = Floor(make_hall(DELEGATE_SEATS, **policy))
    out: list[Any] = []
    for step in steps:
        try:
            out.append(_apply(floor, step))
        except CommandRejected as err:
            out.append((err.code, err.message))
    return out, floor.snapshot()


def _check_laws(floor: Floor, units: Units) -> None:
    snap = floor.snapshot()
    hall_seats = HALL_SEATS
    live = {t["seat"]: t for t in snap["live"]}

    counted = [t for t in live.values() if t["counted"]]
    assert len(counted) <= snap["caps"]["max_open"] == floor.snapshot()["caps"]["max_open"]
    # The units themselves: delegate microphones the rules opened never exceed the cap.
    rule_mics = [
        s
        for s in units.open_mics()
        if hall_seats[s].mic_class is MicClass.DELEGATE and not live[s]["forced"]
    ]
    assert len(rule_mics) <= snap["caps"]["max_open"]
    assert snap["caps"]["waiting"] <= snap["caps"]["max_requests"]
    assert units.open_mics() == {s for s, t in live.items() if not t["muted"]}

    waiting_seats: set[int] = set()
    for lst in SpeakerList:
        entries = snap["waiting"][lst.value]
        seats = [w["seat"] for w in entries]
        waiting_seats.update(seats)
        shown = []
        for seat in seats:
            state, position = units.ring_of(seat)
            assert state in (RingState.QUEUED, RingState.NEXT)
            assert (state is RingState.NEXT) == (seat == snap["next"])
            shown.append(position)
        assert shown == list(range(1, len(seats) + 1))
    assert not waiting_seats & set(live)
    assert snap["caps"]["waiting"] == len(waiting_seats)
    for seat in hall_seats:
        state, _ = units.ring_of(seat)
        if seat in live:
            assert state in (RingState.LIVE, RingState.WARNING, RingState.PRIORITY)
        elif seat not in waiting_seats:
            assert state is RingState.OFF

    if snap["mode"] == MicMode.OPEN and snap["caps"]["waiting"]:
        assert snap["caps"]["open"] == snap["caps"]["max_open"]
    for speech in floor.speeches:
        assert speech.end >= speech.start
        assert speech.overtime_s >= 0


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_random_inputs_keep_the_floors_laws(scenario: tuple[dict[str, Any], list[Any]]) -> None:
    policy, steps = scenario
    floor = Floor(make_hall(DELEGATE_SEATS, **policy))
    units = Units()  # fails on any effect that repeats what a unit already shows
    for step in steps:
        before = floor.snapshot()
        try:
            units.apply(_apply(floor, step))
        except CommandRejected:
            assert floor.snapshot() == before
        _check_laws(floor, units)


@settings(max_examples=50, deadline=None)
@given(scenarios())
def test_replaying_the_same_inputs_gives_the_same_floor(
    scenario: tuple[dict[str, Any], list[Any]],
) -> None:
    policy, steps = scenario
    assert _run(policy, steps) == _run(policy, steps)


@settings(max_examples=50, deadline=None)
@given(scenarios())
def test_ticking_at_every_deadline_fires_each_timer_once(
    scenario: tuple[dict[str, Any], list[Any]],
) -> None:
    policy, steps = scenario
    floor = Floor(make_hall(DELEGATE_SEATS, **policy))
    units = Units()
    at = 0.0
    for step in steps:
        target = step.at
        for _ in range(100):
            deadline = floor.next_deadline()
            if deadline is None or deadline > target:
                break
            # The runtime's tick at the deadline: it fires what is due and nothing twice.
            at = max(at, deadline)
            fired = floor.handle(Tick(at))
            assert fired, "a deadline passed without anything happening"
            units.apply(fired)
            later = floor.next_deadline()
            assert later is None or later >= at
        else:
            raise AssertionError("the deadlines never settle")
        at = target
        with contextlib.suppress(CommandRejected):
            units.apply(_apply(floor, step))
        _check_laws(floor, units)
