"""Properties of votes when the chair annuls, runs again, enters a result by hand, changes a
prepared vote or holds a practice vote, under random commands and presses (hypothesis).

After every input:

* at most one vote holds the keypads;
* an annulled vote keeps a result marked with its reason, and a vote run again names the
  annulled one it replaces, which names it back (one rerun each);
* a result taken by hand names no seat and adds up: voted + did not vote = present;
* the record (the results) never holds a practice vote, and nobody's participation counts a
  practice vote, an annulled one or one taken by hand;
* a secret vote's result never holds a seat's choice.

And replaying the accepted inputs through the journal's record format rebuilds the same
snapshot and participation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    AmendVote,
    AnnulVote,
    CloseVote,
    CreateVote,
    EnterManualResult,
    Input,
    OpenVote,
    PresenceChanged,
    PublishVote,
    RerunVote,
    VoteKeyPressed,
    from_record,
    to_record,
)
from chamber.controller.core.model import Language, ManualMethod, VoteKind, VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import ACTIVE_STATES, VoteState
from tests.core.halls import make_hall, opened

HALL = make_hall(7, language=Language.VI)
VOTES = ("v1", "v2", "v3", "v4", "v5")
vote_ids = st.sampled_from(VOTES)


@dataclass(frozen=True)
class Step:
    """An input without its time; the time comes from a running clock."""

    kind: str
    args: tuple[Any, ...]

    def at(self, t: float) -> Input:
        k, a = self.kind, self.args
        if k == "create":
            vote_id, mode, vote_kind, practice = a
            return CreateVote(
                t, vote_id, f"Tờ trình {vote_id}", mode=mode, vote_kind=vote_kind, practice=practice
            )
        if k == "amend":
            return AmendVote(t, a[0], vote_kind=a[1], mode=a[2])
        if k == "open":
            return OpenVote(t, a[0])
        if k == "close":
            return CloseVote(t, a[0])
        if k == "publish":
            return PublishVote(t, a[0])
        if k == "annul":
            return AnnulVote(t, a[0], a[1])
        if k == "rerun":
            return RerunVote(t, a[0], a[1])
        if k == "manual":
            return EnterManualResult(t, a[0], a[1], a[2], a[3])
        if k == "press":
            return VoteKeyPressed(t, a[0], a[1])
        return PresenceChanged(t, a[0], a[1])


steps = st.one_of(
    st.tuples(
        vote_ids,
        st.sampled_from(list(VoteMode)),
        st.sampled_from(list(VoteKind)) | st.none(),
        st.booleans(),
    ).map(lambda a: Step("create", a)),
    st.tuples(
        vote_ids, st.sampled_from(list(VoteKind)) | st.none(), st.sampled_from(list(VoteMode))
    ).map(lambda a: Step("amend", a)),
    vote_ids.map(lambda v: Step("open", (v,))),
    vote_ids.map(lambda v: Step("close", (v,))),
    vote_ids.map(lambda v: Step("publish", (v,))),
    st.tuples(vote_ids, st.sampled_from(["Mất điện", " ", "Lỗi bàn phím"])).map(
        lambda a: Step("annul", a)
    ),
    st.tuples(vote_ids, vote_ids).map(lambda a: Step("rerun", a)),
    st.tuples(
        vote_ids,
        st.sampled_from(list(ManualMethod)),
        st.lists(st.integers(0, 4), min_size=2, max_size=3).map(tuple),
        st.integers(0, 8) | st.none(),
    ).map(lambda a: Step("manual", a)),
    st.tuples(st.integers(1, 7), st.integers(1, 3)).map(lambda a: Step("press", a)),
    st.tuples(st.integers(1, 7), st.booleans()).map(lambda a: Step("presence", a)),
)


@st.composite
def episode(draw: st.DrawFn) -> list[Step]:
    """One vote's life as a chair would drive it, with steps left out or out of place at
    random: create, maybe change, open with presses then close or annul (or a result by
    hand), maybe publish, annul, run again, and the rerun taken by hand."""
    vote_id = draw(vote_ids)
    rerun_id = draw(vote_ids)
    mode = draw(st.sampled_from(list(VoteMode)))
    plan = [
        Step(
            "create",
            (vote_id, mode, draw(st.sampled_from(list(VoteKind)) | st.none()), draw(st.booleans())),
        )
    ]
    if draw(st.booleans()):
        plan.append(Step("amend", (vote_id, draw(st.sampled_from(list(VoteKind))), mode)))
    method = draw(st.sampled_from(list(ManualMethod)))
    counts = st.lists(st.integers(0, 3), min_size=3, max_size=3).map(tuple)
    if draw(st.booleans()):
        plan.append(Step("open", (vote_id,)))
        for seat, key in draw(
            st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3)), max_size=8)
        ):
            plan.append(Step("press", (seat, key)))
        if draw(st.booleans()):
            plan.append(Step("close", (vote_id,)))
        else:
            plan.append(Step("annul", (vote_id, "Mất điện")))
    else:
        plan.append(
            Step("manual", (vote_id, method, draw(counts), draw(st.integers(0, 8) | st.none())))
        )
    if draw(st.booleans()):
        plan.append(Step("publish", (vote_id,)))
    plan.append(Step("annul", (vote_id, draw(st.sampled_from(["Lỗi bàn phím", " "])))))
    plan.append(Step("rerun", (rerun_id, vote_id)))
    plan.append(Step("manual", (rerun_id, method, draw(counts), None)))
    return plan


plans = st.lists(st.one_of(episode(), st.lists(steps, max_size=3)), max_size=6).map(
    lambda parts: [step for part in parts for step in part]
)


def check(core: MeetingCore) -> None:
    votes = core.votes
    assert sum(v.state in ACTIVE_STATES for v in votes.values()) <= 1
    for vote in votes.values():
        d, r = vote.definition, vote.result
        if vote.state is VoteState.ANNULLED:
            assert r is not None
            assert r.annulled is not None
            assert r.annulled.reason.strip()
        elif r is not None:
            assert r.annulled is None
        if d.rerun_of is not None:
            assert votes[d.rerun_of].rerun_by == d.vote_id
            assert votes[d.rerun_of].state is VoteState.ANNULLED
        if vote.rerun_by is not None:
            assert votes[vote.rerun_by].definition.rerun_of == d.vote_id
        if r is not None and r.manual is not None:
            assert (r.participants, r.choices) == ((), ())
            assert r.voted + r.did_not_vote == r.present
            assert sum(r.totals) == r.voted
        if r is not None and d.secret:
            assert r.choices == ()
    recorded = {d.vote_id for d, _ in core.ballots.closed_votes()}
    assert not any(votes[v].definition.practice for v in recorded)
    counted = {
        taken.vote_id for record in core.participation().values() for taken in record.votes
    } | {v for record in core.participation().values() for v in record.votes_missed}
    for vote_id in counted:
        vote = votes[vote_id]
        assert not vote.definition.practice
        assert vote.result is not None
        assert vote.result.annulled is None
        assert vote.result.manual is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans)
def test_recovery_commands_keep_the_books_straight_and_replay(plan: list[Step]) -> None:
    core = opened(HALL, present=range(1, 6))
    accepted: list[Input] = []
    t = 1.0
    for step in plan:
        t += 1.0
        inp = step.at(t)
        try:
            core.handle(inp)
        except CommandRejected:
            continue
        accepted.append(inp)
        check(core)
    again = opened(HALL, present=range(1, 6))
    for inp in accepted:
        again.handle(from_record(to_record(inp)))
    assert again.snapshot() == core.snapshot()
    assert {k: p.to_json() for k, p in again.participation().items()} == {
        k: p.to_json() for k, p in core.participation().items()
    }
