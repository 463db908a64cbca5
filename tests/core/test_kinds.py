"""Vote kinds and what a vote needs, in the meeting core: the law's worked examples, the figure
needed checked against `decide` for every size and rule, the warnings, and a vote's life when
the system fails (annul, rerun, a result taken by hand) and a practice vote."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.core.effects import ForgetEvents, Notification
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    AmendVote,
    AnnulVote,
    CloseSitting,
    CloseVote,
    CreateVote,
    EnterManualResult,
    OpenVote,
    PublishVote,
    RerunVote,
    SecretVoteSealed,
    VoteKeyPressed,
)
from chamber.controller.core.kinds import (
    DEFAULT_KINDS,
    MODE_NOT_KIND,
    RULE_NOT_KIND,
    VoteWarning,
    kind_policy,
    needed,
    needed_line,
    warning_text,
)
from chamber.controller.core.model import (
    AnswerSet,
    Base,
    Comparison,
    KindPolicy,
    Language,
    MajorityRule,
    ManualMethod,
    Policies,
    Threshold,
    VoteKind,
    VoteMode,
)
from chamber.controller.core.rules import PRESETS, Counts, decide
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import VoteState
from tests.core.halls import make_hall, opened

MEMBER_BASES = (Base.ALL_MEMBERS, Base.ENTITLED, Base.PRESENT)


def figure(rule: MajorityRule, n: int) -> int:
    found = needed(rule, all_members=n, entitled=n, present=n)
    assert found is not None
    assert found.of == n
    return found.needed


def vote_view(core: MeetingCore, vote_id: str) -> dict[str, Any]:
    return core.ballots.vote_json(core.votes[vote_id], core.now)


# --- the law's worked examples ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "resolution", "dismissal", "removal", "election"),
    [(50, 26, 34, 26, 26), (49, 25, 33, 25, 25), (3, 2, 2, 2, 2), (95, 48, 64, 48, 48)],
)
def test_each_kind_needs_what_the_law_says(
    n: int, resolution: int, dismissal: int, removal: int, election: int
) -> None:
    """Art. 91(3): more than half of all delegates, floor(N/2) + 1; a dismissal at least two
    thirds of all, ceil(2N/3) (art. 102(3)); removal is a resolution; an election more than half
    of all delegates (guidance 883/HD-UBTVQH14)."""
    policies = Policies()
    got = {
        kind: figure(PRESETS[kind_policy(kind, policies).rule], n)
        for kind in (VoteKind.RESOLUTION, VoteKind.DISMISSAL, VoteKind.REMOVAL, VoteKind.ELECTION)
    }
    assert got == {
        VoteKind.RESOLUTION: resolution,
        VoteKind.DISMISSAL: dismissal,
        VoteKind.REMOVAL: removal,
        VoteKind.ELECTION: election,
    }


def test_the_personnel_kinds_are_secret_ballots_and_a_resolution_takes_the_halls_mode() -> None:
    assert {k: p.mode for k, p in DEFAULT_KINDS.items()} == {
        VoteKind.RESOLUTION: None,
        VoteKind.DISMISSAL: VoteMode.SECRET,
        VoteKind.REMOVAL: VoteMode.SECRET,
        VoteKind.ELECTION: VoteMode.SECRET,
    }
    own = Policies(kinds=(KindPolicy(VoteKind.ELECTION, "vn-two-thirds", mode=VoteMode.OPEN),))
    assert kind_policy(VoteKind.ELECTION, own).rule == "vn-two-thirds"
    assert kind_policy(VoteKind.DISMISSAL, own) == DEFAULT_KINDS[VoteKind.DISMISSAL]


def test_the_line_before_opening_reads_as_the_issue_asks() -> None:
    rule = PRESETS["vn-council"]
    need = needed(rule, all_members=50, entitled=50, present=30)
    assert needed_line(rule, need, Language.VI) == (
        "Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50"
    )
    assert needed_line(rule, need, Language.EN) == (
        "Decided by: more than half of all members — at least 26 of 50 needed"
    )
    two_thirds = PRESETS["vn-two-thirds"]
    assert needed_line(
        two_thirds, needed(two_thirds, all_members=49, entitled=49, present=0), Language.VI
    ) == ("Biểu quyết theo: ít nhất hai phần ba tổng số đại biểu — cần ít nhất 33/49")
    roberts = PRESETS["roberts-majority"]
    assert needed(roberts, all_members=50, entitled=50, present=50) is None
    assert "khi kết thúc" in needed_line(roberts, None, Language.VI)


# --- needed is the smallest count that passes, for every size and rule --------------------------

rules = st.one_of(
    st.sampled_from([r for r in PRESETS.values() if r.base in MEMBER_BASES]),
    st.builds(
        lambda comparison, p, q, constant, base: MajorityRule(
            "own", Threshold(comparison, Fraction(min(p, q), q), constant), base
        ),
        st.sampled_from(list(Comparison)),
        st.integers(0, 12),
        st.integers(1, 12),
        st.integers(0, 3),
        st.sampled_from(MEMBER_BASES),
    ),
)


def passes(rule: MajorityRule, n: int, yes: int) -> bool:
    """`decide` on a yes/no/abstain vote of `n` members with `yes` yes and the rest no."""
    counts = Counts(options=(yes, n - yes, 0), abstain_key=3, present=n, entitled=n, all_members=n)
    return decide(rule, counts, Language.EN).adopted


@given(rule=rules, n=st.integers(1, 600))
def test_needed_is_the_smallest_count_that_passes(rule: MajorityRule, n: int) -> None:
    k = figure(rule, n)
    if k <= n:
        assert passes(rule, n, k)
    # One fewer never passes; nor does any count below it.
    assert not passes(rule, n, min(k - 1, n))
    if k > n:
        assert not any(passes(rule, n, yes) for yes in range(n + 1))


@given(n=st.integers(1, 5000))
def test_the_presets_follow_their_formulas(n: int) -> None:
    assert figure(PRESETS["vn-council"], n) == n // 2 + 1
    # ceil(2N/3), except that for N = 2... a tie (1 of 2) never passes.
    two_thirds = -(-2 * n // 3)
    assert figure(PRESETS["vn-two-thirds"], n) == max(two_thirds, 1)


# --- kinds on votes ---------------------------------------------------------------------------


def test_a_vote_follows_its_kind_and_warns_where_it_does_not() -> None:
    core = opened(make_hall(50))
    core.handle(CreateVote(1.0, "bn", "Bãi nhiệm", answers=None, vote_kind=VoteKind.DISMISSAL))
    d = core.votes["bn"].definition
    assert (d.kind, d.rule.key, d.mode, d.answers, d.warnings) == (
        VoteKind.DISMISSAL,
        "vn-two-thirds",
        VoteMode.SECRET,
        AnswerSet.YES_NO_ABSTAIN,
        (),
    )
    assert (vote_view(core, "bn")["needed"]["needed"], vote_view(core, "bn")["needed"]["of"]) == (
        34,
        50,
    )
    core.handle(
        CreateVote(1.0, "bn2", "Bãi nhiệm", vote_kind=VoteKind.DISMISSAL, rule="vn-council")
    )
    (warning,) = core.votes["bn2"].definition.warnings
    assert warning == VoteWarning(
        RULE_NOT_KIND,
        (("kind", "dismissal"), ("kind_rule", "vn-two-thirds"), ("rule", "vn-council")),
    )
    assert vote_view(core, "bn2")["warnings"][0]["code"] == RULE_NOT_KIND
    # An election named with its candidates is a choices vote, a secret one.
    core.handle(
        CreateVote(
            1.0,
            "b",
            "Bầu Chủ tịch",
            answers=None,
            choices=("An", "Bình"),
            vote_kind=VoteKind.ELECTION,
        )
    )
    assert core.votes["b"].definition.answers is AnswerSet.CHOICES
    assert core.votes["b"].definition.mode is VoteMode.SECRET


def test_amending_the_kind_brings_its_rule_and_mode() -> None:
    core = opened(make_hall(10))
    core.handle(CreateVote(1.0, "v", "Tờ trình"))
    core.handle(AmendVote(2.0, "v", vote_kind=VoteKind.DISMISSAL))
    d = core.votes["v"].definition
    assert (d.rule.key, d.mode, d.warnings) == ("vn-two-thirds", VoteMode.SECRET, ())
    core.handle(AmendVote(2.0, "v", mode=VoteMode.OPEN, title="Bãi nhiệm đại biểu X"))
    d = core.votes["v"].definition
    assert d.title == "Bãi nhiệm đại biểu X"
    assert [w.code for w in d.warnings] == [MODE_NOT_KIND]
    core.handle(AmendVote(2.0, "v", answers=AnswerSet.CHOICES, choices=("A", "B")))
    assert core.votes["v"].definition.options == ("A", "B")
    with pytest.raises(CommandRejected) as info:
        core.handle(AmendVote(2.0, "v", answers=AnswerSet.YES_NO, choices=("A", "B")))
    assert info.value.kind == "invalid"


def test_a_warning_renders_in_both_languages_and_an_unknown_code_as_itself() -> None:
    w = VoteWarning(
        MODE_NOT_KIND, (("kind", "election"), ("kind_mode", "secret"), ("mode", "open"))
    )
    assert warning_text(w, Language.VI) == (
        "Loại biểu quyết “Bầu” theo quy định dùng hình thức bỏ phiếu kín, "
        "nhưng biểu quyết này dùng hình thức công khai."
    )
    assert "secret ballot" in warning_text(w, Language.EN)
    assert warning_text(VoteWarning("vote.newer", ()), Language.VI) == "vote.newer"


@given(
    code=st.sampled_from([RULE_NOT_KIND, MODE_NOT_KIND, "x"]),
    params=st.dictionaries(
        st.sampled_from(["kind", "kind_rule", "rule", "mode", "kind_mode", "{x}"]), st.text()
    ),
    language=st.sampled_from(list(Language)),
)
def test_rendering_a_warning_never_fails(
    code: str, params: dict[str, str], language: Language
) -> None:
    assert warning_text(VoteWarning(code, tuple(params.items())), language)


# --- when the system fails mid-vote ---------------------------------------------------------


def present_core(n: int = 10) -> MeetingCore:
    return opened(make_hall(n), present=range(1, n + 1))


def test_annul_mid_vote_closes_on_the_count_then_marks_it() -> None:
    core = present_core(10)
    core.handle(CreateVote(1.0, "v1", "Ngân sách", mode=VoteMode.SECRET))
    core.handle(OpenVote(2.0, "v1"))
    for seat in range(1, 7):
        core.handle(VoteKeyPressed(3.0, seat, 1))
    effects = core.handle(AnnulVote(4.0, "v1", "  Mất điện  "))
    vote = core.votes["v1"]
    assert vote.state is VoteState.ANNULLED
    assert core.active_vote is None
    assert vote.result is not None
    assert vote.result.annulled is not None
    assert vote.result.annulled.reason == "Mất điện"
    # A secret vote forgets its keys on the units, as at any close; no choice is kept.
    assert ForgetEvents(None) in effects
    assert vote.result.choices == ()
    kinds = [e.topic for e in effects if isinstance(e, Notification)]
    assert kinds[-2:] == ["vote.closed", "vote.annulled"]
    # Still in the results (marked), but in nobody's participation record.
    assert [d.vote_id for d, _ in core.ballots.closed_votes()] == ["v1"]
    assert all(not p.votes and not p.votes_missed for p in core.participation().values())
    with pytest.raises(CommandRejected):
        core.handle(AnnulVote(5.0, "v1", "again"))
    with pytest.raises(CommandRejected) as info:
        core.handle(AnnulVote(5.0, "v1", " "))
    assert info.value.kind == "invalid"


def test_a_replayed_secret_annulled_vote_keeps_its_mark() -> None:
    """Live, the runtime seals a secret vote when it lets go of the keypads; on replay the
    presses are gone and the sealed record restores the totals: the annulment stays."""
    live = present_core(6)
    live.handle(CreateVote(1.0, "v1", "T", mode=VoteMode.SECRET))
    live.handle(OpenVote(2.0, "v1"))
    live.handle(VoteKeyPressed(3.0, 1, 1))
    live.handle(VoteKeyPressed(3.0, 2, 2))
    live.handle(AnnulVote(4.0, "v1", "Lỗi"))
    result = live.votes["v1"].result
    assert result is not None
    replayed = present_core(6)
    replayed.handle(CreateVote(1.0, "v1", "T", mode=VoteMode.SECRET))
    replayed.handle(OpenVote(2.0, "v1"))
    replayed.handle(AnnulVote(4.0, "v1", "Lỗi"))
    replayed.handle(SecretVoteSealed(4.0, "v1", result.totals, None, result.participants))
    again = replayed.votes["v1"].result
    assert again is not None
    assert (again.totals, again.annulled) == (result.totals, result.annulled)


def test_a_published_vote_may_be_annulled_and_run_again_once() -> None:
    core = present_core(10)
    core.handle(CreateVote(1.0, "v1", "Ngân sách", vote_kind=VoteKind.REMOVAL, answers=None))
    core.handle(OpenVote(2.0, "v1"))
    core.handle(CloseVote(3.0, "v1"))
    core.handle(PublishVote(3.5, "v1"))
    core.handle(AnnulVote(4.0, "v1", "Sai danh sách"))
    with pytest.raises(CommandRejected) as info:
        core.handle(RerunVote(5.0, "v1", "v1"))
    assert info.value.kind == "conflict"
    core.handle(RerunVote(5.0, "v2", "v1"))
    old, new = core.votes["v1"].definition, core.votes["v2"].definition
    assert new.rerun_of == "v1"
    assert core.votes["v1"].rerun_by == "v2"
    assert (new.title, new.kind, new.rule, new.mode, new.options) == (
        old.title,
        old.kind,
        old.rule,
        old.mode,
        old.options,
    )
    with pytest.raises(CommandRejected):
        core.handle(RerunVote(5.0, "v3", "v1"))
    # Only an annulled vote is run again.
    with pytest.raises(CommandRejected):
        core.handle(RerunVote(5.0, "v3", "v2"))


@given(
    yes=st.integers(0, 12),
    no=st.integers(0, 12),
    abstain=st.integers(0, 12),
    present=st.integers(0, 12) | st.none(),
)
def test_a_manual_result_is_checked_then_decided_by_the_same_rule(
    yes: int, no: int, abstain: int, present: int | None
) -> None:
    core = present_core(10)
    core.handle(CreateVote(1.0, "v1", "T", quorum_required=False))
    totals = (yes, no, abstain)
    counted = 10 if present is None else present
    inp = EnterManualResult(2.0, "v1", ManualMethod.PAPER, totals, present)
    if sum(totals) > counted or counted > 10:
        with pytest.raises(CommandRejected) as info:
            core.handle(inp)
        assert info.value.kind == "invalid"
        assert core.votes["v1"].state is VoteState.PREPARED
        return
    core.handle(inp)
    result = core.votes["v1"].result
    assert result is not None
    assert result.manual is ManualMethod.PAPER
    assert result.voted + result.did_not_vote == counted
    expected = decide(
        PRESETS["vn-council"],
        Counts(totals, 3, present=counted, entitled=10, all_members=10),
        Language.EN,
    )
    assert result.outcome == expected
    assert (result.participants, result.choices) == ((), ())


def test_a_manual_result_keeps_the_quorum_and_its_answers() -> None:
    core = present_core(10)
    core.handle(CreateVote(1.0, "v1", "T"))
    with pytest.raises(CommandRejected) as info:
        core.handle(EnterManualResult(2.0, "v1", ManualMethod.SHOW_OF_HANDS, (3, 0, 0), present=3))
    assert info.value.kind == "conflict"
    with pytest.raises(CommandRejected) as info:
        core.handle(EnterManualResult(2.0, "v1", ManualMethod.SHOW_OF_HANDS, (3, 0)))
    assert info.value.kind == "invalid"
    core.handle(EnterManualResult(2.0, "v1", ManualMethod.SHOW_OF_HANDS, (6, 3, 1)))
    view = vote_view(core, "v1")
    assert view["result"]["manual"] == "show-of-hands"
    assert view["needed"]["needed"] == 6
    assert view["result"]["outcome"]["adopted"] is True


def test_a_practice_vote_is_kept_out_of_the_record() -> None:
    core = opened(make_hall(10), present=range(1, 3))
    # Two of ten present: no quorum, but a practice vote tests the keypads all the same.
    core.handle(CreateVote(1.0, "thu", "Biểu quyết thử", practice=True))
    d = core.votes["thu"].definition
    assert d.practice
    assert not d.quorum_required
    assert d.warnings == ()
    core.handle(OpenVote(2.0, "thu"))
    core.handle(VoteKeyPressed(3.0, 1, 1))
    core.handle(CloseVote(4.0, "thu"))
    assert core.ballots.closed_votes() == ()
    assert core.snapshot()["results"] == []
    assert vote_view(core, "thu")["practice"] is True
    assert all(not p.votes and not p.votes_missed for p in core.participation().values())
    core.handle(CloseSitting(5.0))
    assert core.history[-1].votes == ()
