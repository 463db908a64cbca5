"""Properties of the meeting core under random input (hypothesis).

* A seat counts at most once per vote, and the totals equal the seats that voted, after every
  input, against a simple model of what the seats pressed.
* Replaying the accepted inputs (through the journal's record format) rebuilds the same
  effects, snapshot, results and participation.
* A secret vote is non-interfering: two runs that differ only in which seat chose which key
  (same totals) produce identical notifications, snapshots, results and participation
  records; the only effects that differ are the KeypadLeds sent to a seat's own keypad.
* A sealed secret vote (presses gone, only the closing record of totals and participants)
  replays to the same result and snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.core.effects import Effect, KeypadLeds, Notification
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CancelVote,
    CloseAttendance,
    CloseVote,
    CreateVote,
    GrantNext,
    HoldVote,
    Input,
    MicRequest,
    MoveDelegate,
    OpenAttendance,
    OpenVote,
    PresenceChanged,
    PublishVote,
    ResumeVote,
    SecretVoteSealed,
    SetCurrentItem,
    SetPresence,
    Tick,
    VoteKeyPressed,
    from_record,
    to_record,
)
from chamber.controller.core.model import AnswerSet, Language, VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import ACTIVE_STATES, VoteState
from tests.core.halls import make_hall, opened

# Seats 1..6 are delegates, 7 the secretary, 8 empty, 9 does not exist.
HALL = make_hall(6, secretary=True, empty_seats=1, language=Language.VI)
SEATS = st.integers(min_value=1, max_value=9)
VOTE_IDS = st.sampled_from(["v1", "v2"])


@dataclass(frozen=True)
class Step:
    """An input without its time; the time comes from a running clock."""

    dt: float
    make: Any


def _create(vote_id: str, mode: VoteMode, answers: AnswerSet, change: bool) -> Any:
    choices = ("An", "Bình", "Cường", "Dũng") if answers is AnswerSet.CHOICES else ()
    return lambda at: CreateVote(
        at=at,
        vote_id=vote_id,
        title="Biểu quyết",
        mode=mode,
        answers=answers,
        choices=choices,
        change_until_close=change,
        quorum_required=False,
        duration_s=60.0,
        warning_s=10.0,
    )


steps = st.one_of(
    st.builds(
        lambda s, k: lambda at: VoteKeyPressed(at=at, seat=s, key=k),
        SEATS,
        st.integers(min_value=0, max_value=5),
    ),
    st.builds(
        lambda s, p: lambda at: PresenceChanged(at=at, seat=s, present=p), SEATS, st.booleans()
    ),
    st.builds(lambda s, p: lambda at: SetPresence(at=at, seat=s, present=p), SEATS, st.booleans()),
    st.builds(
        lambda s, p: lambda at: SetPresence(at=at, seat=s, present=p, reason="Thẻ hỏng"),
        SEATS,
        st.booleans(),
    ),
    st.builds(
        lambda a, b: lambda at: MoveDelegate(at=at, from_seat=a, to_seat=b, reason="Hỏng"),
        SEATS,
        SEATS,
    ),
    st.builds(
        _create,
        VOTE_IDS,
        st.sampled_from(list(VoteMode)),
        st.sampled_from(list(AnswerSet)),
        st.booleans(),
    ),
    *[
        st.builds(lambda v, c=cls: lambda at: c(at=at, vote_id=v), VOTE_IDS)
        for cls in (OpenVote, HoldVote, ResumeVote, CloseVote, CancelVote, PublishVote)
    ],
    st.just(lambda at: Tick(at=at)),
    st.just(lambda at: OpenAttendance(at=at)),
    st.just(lambda at: OpenAttendance(at=at, confirm=True)),
    st.just(lambda at: CloseAttendance(at=at)),
    st.builds(lambda i: lambda at: SetCurrentItem(at=at, item_id=i), st.sampled_from(["1", "2"])),
    st.builds(lambda s: lambda at: MicRequest(at=at, seat=s), SEATS),
    st.just(lambda at: GrantNext(at=at)),
    st.just(lambda at: GrantNext(at=at, handover=True)),
    st.just(lambda at: GrantNext(at=at, add=True)),
)
timed_steps = st.lists(
    st.builds(Step, st.sampled_from([0.0, 0.5, 3.0, 15.0, 45.0]), steps), max_size=60
)


def run(steps: list[Step]) -> tuple[MeetingCore, list[Input], list[list[Effect]]]:
    """Feed the steps like the runtime: a refused chair command is not journaled. The run
    ends with a Tick, as the runtime sends one at every deadline."""
    core = opened(HALL, present=[1, 2, 3, 4])
    accepted: list[Input] = []
    effects: list[list[Effect]] = []
    at = 0.0
    for step in [*steps, Step(0.0, lambda at: Tick(at=at))]:
        at += step.dt
        inp = step.make(at)
        try:
            effects.append(core.handle(inp))
        except CommandRejected:
            continue
        accepted.append(inp)
    return core, accepted, effects


def check_counts(core: MeetingCore) -> None:
    for vote in core.votes.values():
        assert sum(vote.heads) == len(vote.participants)
        assert all(h >= 0 for h in vote.heads)
        if vote.result is not None:
            assert vote.result.voted == sum(vote.result.totals) == len(vote.result.participants)
            assert len(set(vote.result.participants)) == len(vote.result.participants)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_steps)
def test_each_seat_counts_once_and_totals_equal_the_seats_that_voted(steps: list[Step]) -> None:
    core = opened(HALL, present=[1, 2, 3, 4])
    # The model: each seat's counted key in the active vote.
    expected: dict[str, dict[int, int]] = {}
    at = 0.0
    for step in steps:
        at += step.dt
        inp = step.make(at)
        active = core.active_vote
        before = dict(expected.get(active.vote_id, {})) if active is not None else {}
        try:
            effects = core.handle(inp)
        except CommandRejected:
            continue
        if isinstance(inp, VoteKeyPressed) and active is not None and active is core.active_vote:
            counted = any(isinstance(e, KeypadLeds) and e.seat == inp.seat for e in effects)
            rejected = any(
                isinstance(e, Notification) and e.topic == "press.rejected" for e in effects
            )
            assert counted != rejected
            if counted:
                assert active.definition.change_until_close or inp.seat not in before
                before[inp.seat] = inp.key
            expected[active.vote_id] = before
        check_counts(core)
        for vote_id, choices in expected.items():
            vote = core.votes.get(vote_id)
            if vote is None or vote.state not in ACTIVE_STATES:
                continue
            assert vote.participants == set(choices)
            for key in range(1, vote.definition.keys + 1):
                assert vote.heads[key - 1] == sum(1 for k in choices.values() if k == key)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_steps)
def test_replay_rebuilds_the_same_state(steps: list[Step]) -> None:
    core, accepted, effects = run(steps)
    replayed = opened(HALL, present=[1, 2, 3, 4])
    # Through the journal's record format, as a restart would.
    again = [replayed.handle(from_record(to_record(inp))) for inp in accepted]
    assert again == effects
    assert replayed.snapshot() == core.snapshot()
    assert replayed.next_deadline() == core.next_deadline()
    assert {k: v.to_json() for k, v in replayed.participation().items()} == {
        k: v.to_json() for k, v in core.participation().items()
    }


# --- secret ballot: non-interference ---------------------------------------------------------


@st.composite
def secret_ballots(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[tuple[int, int]], bool]:
    """Two press sequences over the same seats at the same times whose final choices are a
    permutation of each other, so the totals agree but seats chose differently."""
    voters = draw(st.lists(st.integers(1, 6), min_size=2, max_size=6, unique=True))
    change = draw(st.booleans())
    first = draw(st.lists(st.integers(1, 3), min_size=len(voters), max_size=len(voters)))
    final = draw(st.lists(st.integers(1, 3), min_size=len(voters), max_size=len(voters)))
    first_b = draw(st.permutations(first))
    final_b = draw(st.permutations(final))
    a = list(zip(voters, first, strict=True))
    b = list(zip(voters, first_b, strict=True))
    if change:
        a += list(zip(voters, final, strict=True))
        b += list(zip(voters, final_b, strict=True))
    return a, b, change


def secret_run(
    presses: list[tuple[int, int]], change: bool, noise: list[tuple[int, int]]
) -> tuple[MeetingCore, list[Effect]]:
    core = opened(HALL, present=[1, 2, 3, 4, 5, 6])
    effects: list[Effect] = []
    effects += core.handle(
        CreateVote(
            at=1, vote_id="s", title="Bỏ phiếu kín", mode=VoteMode.SECRET, change_until_close=change
        )
    )
    effects += core.handle(OpenVote(at=2, vote_id="s"))
    at = 2.0
    for i, (seat, key) in enumerate(presses):
        at += 1.0
        effects += core.handle(VoteKeyPressed(at=at, seat=seat, key=key))
        if i == 0:
            # Presses during hold are rejected; the rejection must not carry the key either.
            effects += core.handle(HoldVote(at=at, vote_id="s"))
            for n_seat, n_key in noise:
                effects += core.handle(VoteKeyPressed(at=at, seat=n_seat, key=n_key))
            effects += core.handle(ResumeVote(at=at, vote_id="s"))
    effects += core.handle(CloseVote(at=at + 1, vote_id="s"))
    effects += core.handle(PublishVote(at=at + 2, vote_id="s"))
    return core, effects


@settings(max_examples=200, deadline=None)
@given(secret_ballots(), st.lists(st.tuples(st.integers(1, 9), st.integers(1, 3)), max_size=4))
def test_a_secret_vote_never_links_a_seat_to_its_choice(
    ballots: tuple[list[tuple[int, int]], list[tuple[int, int]], bool],
    noise: list[tuple[int, int]],
) -> None:
    a, b, change = ballots
    core_a, effects_a = secret_run(a, change, noise)
    core_b, effects_b = secret_run(b, change, noise)
    assert len(effects_a) == len(effects_b)
    for ea, eb in zip(effects_a, effects_b, strict=True):
        if ea != eb:
            # Only a seat's own keypad may learn its choice.
            assert isinstance(ea, KeypadLeds)
            assert isinstance(eb, KeypadLeds)
            assert ea.seat == eb.seat
            assert ea.seat is not None
    assert core_a.snapshot() == core_b.snapshot()
    assert {k: v.to_json() for k, v in core_a.participation().items()} == {
        k: v.to_json() for k, v in core_b.participation().items()
    }
    for core in (core_a, core_b):
        vote = core.votes["s"]
        assert vote.state is VoteState.PUBLISHED
        assert vote.result is not None
        assert vote.result.choices == ()
        assert vote._choice_of_seat == {}
        for record in core.participation().values():
            assert all(v.key is None and v.label is None for v in record.votes)


@settings(max_examples=100, deadline=None)
@given(secret_ballots())
def test_a_sealed_secret_vote_replays_without_its_presses(
    ballots: tuple[list[tuple[int, int]], list[tuple[int, int]], bool],
) -> None:
    presses, _, change = ballots
    live, _ = secret_run(presses, change, [])
    result = live.votes["s"].result
    assert result is not None
    # The journal keeps the chain without the presses, plus the sealed closing record.
    replayed = opened(HALL, present=[1, 2, 3, 4, 5, 6])
    replayed.handle(
        CreateVote(
            at=1, vote_id="s", title="Bỏ phiếu kín", mode=VoteMode.SECRET, change_until_close=change
        )
    )
    replayed.handle(OpenVote(at=2, vote_id="s"))
    replayed.handle(HoldVote(at=3, vote_id="s"))
    replayed.handle(ResumeVote(at=3, vote_id="s"))
    closed_at = result.closed_at
    replayed.handle(CloseVote(at=closed_at, vote_id="s"))
    sealed = SecretVoteSealed(
        at=closed_at,
        vote_id="s",
        totals=result.totals,
        weighted_totals=result.weighted_totals,
        participants=result.participants,
    )
    replayed.handle(from_record(to_record(sealed)))
    replayed.handle(PublishVote(at=closed_at + 1, vote_id="s"))
    assert replayed.votes["s"].result == result
    assert replayed.snapshot() == live.snapshot()
