"""The meeting core under malformed input (hypothesis): nothing half-applied, no seat stuck.

A buggy driver may hand the core a float key (an IP unit's `{"key": 2.0}` once did), a boolean
seat, a seat or key out of range, a NaN time. Random sequences of such inputs, mixed with the
chair's commands, are fed to a core; then:

* nothing raises but `CommandRejected`; a well-formed unit input never raises, a malformed
  input (unit or command) is refused whole as "invalid" and changes nothing;
* every input the core takes reads back from its journal record (`to_record`/`from_record`):
  a malformed one, which could not, is never taken, so a restart can always replay;
* after every input the tallies add up, and the state still serialises to JSON and builds the
  wall's MQTT messages (what the wall publisher does with it);
* at the end every delegate can still vote in a fresh vote, and each vote counts once.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.core.checks import input_problem
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CancelVote,
    ChairPriority,
    CloseVote,
    CreateVote,
    Input,
    MicCancel,
    MicRequest,
    OpenVote,
    PresenceChanged,
    ResumeVote,
    TalkButton,
    Tick,
    VoiceLevel,
    VoteKeyPressed,
    from_record,
    to_record,
)
from chamber.controller.core.model import AnswerSet, Language, SpeakerList, VoteMode
from chamber.controller.core.sitting import UNIT_INPUTS, MeetingCore
from chamber.controller.core.votes import ACTIVE_STATES
from chamber.controller.wall import wall_messages
from tests.core.halls import make_hall, notes, opened

HALL = make_hall(6, secretary=True, empty_seats=1, language=Language.VI)
DELEGATE_SEATS = tuple(range(1, 7))

# What a buggy driver might put where an integer, a flag or a number goes.
wrong_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(2.0),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just({"key": 2}),
    st.just([2]),
)
seats = st.one_of(st.integers(min_value=-2, max_value=12), wrong_values)
keys = st.one_of(st.integers(min_value=-1, max_value=12), wrong_values)
flags = st.one_of(st.booleans(), wrong_values)
levels = st.one_of(st.floats(min_value=-120, max_value=0), wrong_values)
times = st.one_of(st.just(None), st.sampled_from([math.nan, math.inf, -math.inf, True]))

unit_inputs = st.one_of(
    st.builds(lambda s, k: lambda at: VoteKeyPressed(at=at, seat=s, key=k), seats, keys),
    st.builds(lambda s, p: lambda at: PresenceChanged(at=at, seat=s, present=p), seats, flags),
    st.builds(
        lambda s, lst: lambda at: MicRequest(at=at, seat=s, list=lst),
        seats,
        st.one_of(st.sampled_from(list(SpeakerList)), st.just("speak")),
    ),
    st.builds(lambda s: lambda at: MicCancel(at=at, seat=s), seats),
    st.builds(lambda s, h: lambda at: TalkButton(at=at, seat=s, held=h), seats, flags),
    st.builds(lambda s, h: lambda at: ChairPriority(at=at, seat=s, held=h), seats, flags),
    st.builds(lambda s, v: lambda at: VoiceLevel(at=at, seat=s, level_db=v), seats, levels),
)


def _create(vote_id: Any, mode: Any, change: Any, duration: Any) -> Any:
    return lambda at: CreateVote(
        at=at,
        vote_id=vote_id,
        title="Biểu quyết",
        mode=mode,
        change_until_close=change,
        quorum_required=False,
        duration_s=duration,
    )


vote_ids = st.one_of(st.sampled_from(["v1", "v2"]), wrong_values)
commands = st.one_of(
    st.builds(
        _create,
        vote_ids,
        st.one_of(st.sampled_from(list(VoteMode)), st.just("secret"), wrong_values),
        flags,
        st.one_of(st.just(60.0), st.just(None), wrong_values),
    ),
    *[
        st.builds(lambda v, c=cls: lambda at: c(at=at, vote_id=v), vote_ids)
        for cls in (OpenVote, CloseVote, CancelVote, ResumeVote)
    ],
    st.just(lambda at: Tick(at=at)),
)


@st.composite
def step(draw: st.DrawFn) -> tuple[Any, Any]:
    """(time override or None, a maker of one input at a time)."""
    make = draw(st.one_of(unit_inputs, commands))
    bad_time = draw(st.one_of(st.just(None), st.just(None), st.just(None), times))
    return bad_time, make


def _check_state(core: MeetingCore) -> None:
    for vote in core.votes.values():
        assert sum(vote.heads) == len(vote.participants)
        assert all(type(h) is int and h >= 0 for h in vote.heads)
        assert all(type(s) is int for s in vote.participants)
    state = json.loads(json.dumps(core.snapshot(), allow_nan=False))
    wall_messages(state, HALL, now=core.now, unix_offset=0.0)


def _fresh_vote_counts_everyone(core: MeetingCore, at: float) -> None:
    active = core.active_vote
    if active is not None:
        core.handle(CancelVote(at=at, vote_id=active.vote_id))
    for seat in DELEGATE_SEATS:
        core.handle(PresenceChanged(at=at, seat=seat, present=True))
    core.handle(
        CreateVote(
            at=at,
            vote_id="fresh",
            title="Biểu quyết lại",
            answers=AnswerSet.YES_NO_ABSTAIN,
            mode=VoteMode.OPEN,
            quorum_required=False,
            change_until_close=False,
        )
    )
    core.handle(OpenVote(at=at, vote_id="fresh"))
    for seat in DELEGATE_SEATS:
        effects = core.handle(VoteKeyPressed(at=at + 1, seat=seat, key=1 + seat % 3))
        assert not notes(effects, "press.rejected"), (seat, effects)
    core.handle(CloseVote(at=at + 2, vote_id="fresh"))
    result = core.votes["fresh"].result
    assert result is not None
    assert result.totals == (2, 2, 2)
    assert sorted(result.participants) == list(DELEGATE_SEATS)


@settings(max_examples=400, deadline=None)
@given(st.lists(step(), max_size=40))
def test_malformed_inputs_leave_no_seat_stuck(steps: list[tuple[Any, Any]]) -> None:
    core = opened(HALL, present=[1, 2, 3, 4])
    at = 1.0
    for bad_time, make in steps:
        at += 0.5
        inp: Input = make(at if bad_time is None else bad_time)
        before = json.dumps(core.snapshot(), sort_keys=True, default=str)
        malformed = input_problem(inp) is not None
        refused: CommandRejected | None = None
        try:
            core.handle(inp)
        except CommandRejected as exc:
            refused = exc
        if refused is None:
            assert not malformed, inp
            assert from_record(json.loads(json.dumps(to_record(inp)))) == inp
        elif malformed:
            assert refused.kind == "invalid"
            assert json.dumps(core.snapshot(), sort_keys=True, default=str) == before
        else:
            assert type(inp) not in UNIT_INPUTS, inp
        _check_state(core)
    assert core.active_vote is None or core.active_vote.state in ACTIVE_STATES
    _fresh_vote_counts_everyone(core, at + 1)


def test_a_float_key_is_refused_and_the_seat_votes_again() -> None:
    """The known case: `{"key": 2.0}` used to raise half-way and jam the seat."""
    core = opened(HALL)
    core.handle(CreateVote(at=1.0, vote_id="v1", title="Biểu quyết", quorum_required=False))
    core.handle(OpenVote(at=1.0, vote_id="v1"))
    with pytest.raises(CommandRejected) as err:
        core.handle(VoteKeyPressed(at=2.0, seat=2, key=2.0))  # type: ignore[arg-type]
    assert err.value.kind == "invalid"
    assert err.value.message == "malformed vote-key from a unit: key: expected an integer"
    assert core.votes["v1"].participants == set()
    effects = core.handle(VoteKeyPressed(at=3.0, seat=2, key=2))
    assert notes(effects, "vote.tally")[0].data["totals"] == [0, 1, 0]


def test_a_malformed_secret_press_does_not_show_its_key() -> None:
    core = opened(HALL)
    core.handle(
        CreateVote(
            at=1.0, vote_id="v1", title="Bỏ phiếu kín", mode=VoteMode.SECRET, quorum_required=False
        )
    )
    core.handle(OpenVote(at=1.0, vote_id="v1"))
    with pytest.raises(CommandRejected) as err:
        core.handle(VoteKeyPressed(at=2.0, seat=2, key=3.0))  # type: ignore[arg-type]
    assert "3" not in err.value.message


def test_a_boolean_seat_is_not_seat_one() -> None:
    core = opened(HALL, present=[2])
    with pytest.raises(CommandRejected, match="seat: expected an integer"):
        core.handle(PresenceChanged(at=1.0, seat=True, present=True))
    assert not core.attendance.is_present(1)


def test_a_malformed_command_is_refused_as_invalid() -> None:
    core = opened(HALL)
    with pytest.raises(CommandRejected) as err:
        core.handle(CreateVote(at=1.0, vote_id="v1", title="x", duration_s=math.nan))
    assert err.value.kind == "invalid"
    assert "duration_s" in err.value.message
    assert "v1" not in core.votes
