"""Majority and quorum rules: presets against the statute's arithmetic, every base and
threshold, ties, CHOICES votes, and the explanation sentences in both languages."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.model import (
    Base,
    Comparison,
    Language,
    MajorityRule,
    Policies,
    QuorumRule,
    Threshold,
)
from chamber.controller.core.rules import (
    PRESETS,
    Counts,
    decide,
    quorum_required,
    required,
    rule_for,
    validate_threshold,
)

EN, VI = Language.EN, Language.VI


def counts(
    yes: int,
    no: int,
    abstain: int | None = 0,
    *,
    present: int | None = None,
    entitled: int | None = None,
    members: int | None = None,
) -> Counts:
    options = (yes, no) if abstain is None else (yes, no, abstain)
    cast = sum(options)
    return Counts(
        options=options,
        abstain_key=None if abstain is None else 3,
        present=cast if present is None else present,
        entitled=cast if entitled is None else entitled,
        all_members=cast if members is None else members,
    )


def rule(comparison: Comparison, fraction: Fraction, base: Base, constant: int = 0) -> MajorityRule:
    return MajorityRule("test", Threshold(comparison, fraction, constant), base)


# --- presets against DOMAIN.md, N = 1..500 ----------------------------------------------------


@pytest.mark.parametrize("n", range(1, 501))
def test_vn_council_is_more_than_half_of_all_delegates(n: int) -> None:
    preset = PRESETS["vn-council"]
    need = n // 2 + 1
    assert required(preset.threshold, n) == need
    # Everyone present; the rest vote no. Exactly the statute's number passes, one fewer fails.
    passing = decide(preset, counts(need, 0, n - need, members=n), EN)
    assert passing.adopted
    assert passing.required == need
    if need - 1 >= 0:
        failing = decide(preset, counts(need - 1, n - need + 1, 0, members=n), EN)
        assert not failing.adopted


@pytest.mark.parametrize("n", range(1, 501))
def test_vn_two_thirds_is_at_least_two_thirds_of_all(n: int) -> None:
    preset = PRESETS["vn-two-thirds"]
    need = math.ceil(2 * n / 3)
    assert need == -(-2 * n // 3)  # the same number in integer arithmetic
    assert required(preset.threshold, n) == need
    assert decide(preset, counts(need, n - need, 0, members=n), EN).adopted
    assert not decide(preset, counts(need - 1, n - need + 1, 0, members=n), EN).adopted


def test_vn_council_counts_all_members_not_those_present() -> None:
    # 30 of 30 present vote yes, but the council has 61 members: 31 are needed.
    outcome = decide(PRESETS["vn-council"], counts(30, 0, 0, present=30, members=61), EN)
    assert not outcome.adopted
    assert outcome.required == 31
    assert outcome.base_count == 61


def test_roberts_majority_of_1000_votes_is_501_not_51_percent() -> None:
    preset = PRESETS["roberts-majority"]
    assert required(preset.threshold, 1000) == 501
    assert decide(preset, counts(501, 499, 0), EN).adopted
    assert not decide(preset, counts(500, 500, 0), EN).adopted


# --- every preset against worked examples from its source -------------------------------------

# (yes, no, abstentions, members of the body, adopted, votes needed) per preset.
Example = tuple[int, int, int, int, bool, int]

ROBERTS_MAJORITY: list[Example] = [
    # Of 1,000 votes cast a majority is 501, not "51 %" (510).
    (501, 499, 0, 1000, True, 501),
    (500, 500, 0, 1000, False, 501),
    # Abstentions are not votes cast: 501 for, 499 against, 100 abstaining passes.
    (501, 499, 100, 1100, True, 501),
    # However many abstain, a majority of those voting for or against decides.
    (3, 2, 40, 45, True, 3),
    (2, 2, 10, 14, False, 3),
    # Nobody voting for the motion never adopts it (the core's rule for any threshold).
    (0, 0, 9, 9, False, 1),
]

VN_COUNCIL: list[Example] = [
    # More than half of the TOTAL number of delegates: with 50 delegates, 26, whether 50 or 30
    # are in the hall and however the others vote.
    (26, 0, 0, 50, True, 26),
    (26, 24, 0, 50, True, 26),
    (25, 0, 5, 50, False, 26),
    (26, 4, 0, 50, True, 26),
    # 61 delegates: 31; 30 of 30 present voting yes is not enough.
    (30, 0, 0, 61, False, 31),
    (31, 0, 0, 61, True, 31),
    # "Không biểu quyết" is not "tán thành": 26 abstaining of 51 leaves 25, which fails.
    (25, 0, 26, 51, False, 26),
]

VN_TWO_THIRDS: list[Example] = [
    # Dismissal needs at least two thirds of the total: 34 of 50, 34 of 51, 20 of 30.
    (34, 16, 0, 50, True, 34),
    (33, 0, 0, 50, False, 34),
    (34, 0, 0, 51, True, 34),
    (20, 10, 0, 30, True, 20),
    (19, 0, 11, 30, False, 20),
]

WORKED_EXAMPLES: dict[str, list[Example]] = {
    "roberts-majority": ROBERTS_MAJORITY,
    "vn-council": VN_COUNCIL,
    "vn-two-thirds": VN_TWO_THIRDS,
}


def test_every_preset_has_worked_examples() -> None:
    assert set(WORKED_EXAMPLES) == set(PRESETS)


@pytest.mark.parametrize(("yes", "no", "abstain", "members", "adopted", "need"), ROBERTS_MAJORITY)
def test_roberts_majority_worked_examples(
    yes: int, no: int, abstain: int, members: int, adopted: bool, need: int
) -> None:
    """Robert's Rules of Order Newly Revised, 12th ed. (2020), 44:1-44:3: a majority vote is
    more than half of the votes cast by persons entitled to vote, excluding blanks and
    abstentions, at a meeting with a quorum. The base is yes + no; members do not count."""
    outcome = decide(PRESETS["roberts-majority"], counts(yes, no, abstain, members=members), EN)
    assert (outcome.adopted, outcome.required) == (adopted, need)
    assert outcome.base_count == yes + no
    # A yes/no vote without an abstain key has the same base: the votes cast.
    assert decide(PRESETS["roberts-majority"], counts(yes, no, None), EN).required == need


@pytest.mark.parametrize(("yes", "no", "abstain", "members", "adopted", "need"), VN_COUNCIL)
def test_vn_council_worked_examples(
    yes: int, no: int, abstain: int, members: int, adopted: bool, need: int
) -> None:
    """Law on the Organisation of Local Government (Luật Tổ chức chính quyền địa phương 2015),
    art. 91 and the People's Council's rules of procedure: a resolution is adopted when more
    than half of the total number of delegates of the council ("quá nửa tổng số đại biểu")
    vote yes ("tán thành"): yes >= floor(N/2) + 1, N = all delegates, not those present."""
    c = counts(yes, no, abstain, present=yes + no + abstain, members=members)
    outcome = decide(PRESETS["vn-council"], c, VI)
    assert (outcome.adopted, outcome.required) == (adopted, need)
    assert need == members // 2 + 1
    assert outcome.base_count == members


@pytest.mark.parametrize(("yes", "no", "abstain", "members", "adopted", "need"), VN_TWO_THIRDS)
def test_vn_two_thirds_worked_examples(
    yes: int, no: int, abstain: int, members: int, adopted: bool, need: int
) -> None:
    """Law on the Organisation of Local Government (Luật Tổ chức chính quyền địa phương 2015)
    and the People's Council's rules of procedure: dismissing a delegate ("bãi nhiệm") needs
    at least two thirds of the total number of delegates: yes >= ceil(2N/3)."""
    c = counts(yes, no, abstain, present=yes + no + abstain, members=members)
    outcome = decide(PRESETS["vn-two-thirds"], c, VI)
    assert (outcome.adopted, outcome.required) == (adopted, need)
    assert need == math.ceil(2 * members / 3)
    assert outcome.base_count == members


# --- thresholds and bases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparison", "fraction", "constant", "base", "need"),
    [
        (Comparison.MORE_THAN, Fraction(1, 2), 0, 10, 6),
        (Comparison.MORE_THAN, Fraction(1, 2), 0, 11, 6),
        (Comparison.AT_LEAST, Fraction(1, 2), 0, 10, 5),
        (Comparison.AT_LEAST, Fraction(1, 2), 0, 11, 6),
        (Comparison.AT_LEAST, Fraction(2, 3), 0, 9, 6),
        (Comparison.AT_LEAST, Fraction(2, 3), 0, 10, 7),
        (Comparison.MORE_THAN, Fraction(2, 3), 0, 9, 7),
        (Comparison.AT_LEAST, Fraction(3, 4), 0, 100, 75),
        (Comparison.AT_LEAST, Fraction(1, 2), 1, 10, 6),
        (Comparison.AT_LEAST, Fraction(0), 12, 50, 12),
        (Comparison.MORE_THAN, Fraction(1, 3), -1, 9, 3),
        (Comparison.UNANIMITY, Fraction(1, 2), 0, 17, 17),
        (Comparison.MORE_THAN, Fraction(1, 2), 0, 0, 1),
    ],
)
def test_required(
    comparison: Comparison, fraction: Fraction, constant: int, base: int, need: int
) -> None:
    assert required(Threshold(comparison, fraction, constant), base) == need


@given(
    st.sampled_from([Comparison.MORE_THAN, Comparison.AT_LEAST]),
    st.fractions(min_value=0, max_value=1, max_denominator=20),
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=0, max_value=5000),
)
def test_required_is_the_least_count_that_meets_the_threshold(
    comparison: Comparison, fraction: Fraction, constant: int, base: int
) -> None:
    need = required(Threshold(comparison, fraction, constant), base)
    value = fraction * base + constant

    def meets(k: int) -> bool:
        return k > value if comparison is Comparison.MORE_THAN else k >= value

    assert meets(need)
    assert not meets(need - 1)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        # yes 6, no 3, abstain 3; present 14, entitled 16, all 20.
        (Base.CAST, 12),
        (Base.CAST_WITHOUT_ABSTENTIONS, 9),
        (Base.PRESENT, 14),
        (Base.ENTITLED, 16),
        (Base.ALL_MEMBERS, 20),
    ],
)
def test_every_base(base: Base, expected: int) -> None:
    c = counts(6, 3, 3, present=14, entitled=16, members=20)
    outcome = decide(rule(Comparison.MORE_THAN, Fraction(1, 2), base), c, EN)
    assert outcome.base_count == expected
    assert outcome.required == expected // 2 + 1
    assert outcome.adopted is (expected // 2 + 1 <= 6)


def test_abstentions_do_not_count_without_abstention_base() -> None:
    # 5 yes, 4 no, 10 abstain: a majority of yes+no, not of all votes cast.
    c = counts(5, 4, 10)
    assert decide(
        rule(Comparison.MORE_THAN, Fraction(1, 2), Base.CAST_WITHOUT_ABSTENTIONS), c, EN
    ).adopted
    assert not decide(rule(Comparison.MORE_THAN, Fraction(1, 2), Base.CAST), c, EN).adopted


@pytest.mark.parametrize("base", [Base.CAST, Base.CAST_WITHOUT_ABSTENTIONS])
def test_a_tie_never_passes_even_at_least_half(base: Base) -> None:
    outcome = decide(rule(Comparison.AT_LEAST, Fraction(1, 2), base), counts(7, 7, 0), EN)
    assert outcome.tie
    assert not outcome.adopted
    assert outcome.winner is None
    assert outcome.explanation.endswith("not adopted (a tie never passes).")


@pytest.mark.parametrize("base", [Base.PRESENT, Base.ALL_MEMBERS, Base.ENTITLED])
def test_abstaining_and_not_voting_act_as_no_with_a_member_base(base: Base) -> None:
    # 10 in the base: 5 yes, 1 no, 2 abstain, 2 did not vote -> 5 against 5: a tie.
    c = counts(5, 1, 2, present=10, entitled=10, members=10)
    outcome = decide(rule(Comparison.AT_LEAST, Fraction(1, 2), base), c, EN)
    assert outcome.required == 5
    assert outcome.tie
    assert not outcome.adopted
    six = decide(
        rule(Comparison.AT_LEAST, Fraction(1, 2), base),
        counts(6, 0, 0, present=10, entitled=10, members=10),
        EN,
    )
    assert six.adopted


def test_unanimity() -> None:
    u = rule(Comparison.UNANIMITY, Fraction(1), Base.CAST)
    assert decide(u, counts(12, 0, 0), EN).adopted
    assert not decide(u, counts(12, 0, 1), EN).adopted
    assert not decide(u, counts(0, 0, 0), EN).adopted
    assert decide(u, counts(12, 0, 1), EN).explanation == (
        "12 of 13 votes cast were yes; unanimity of the 13 votes cast (all 13) was needed: "
        "not adopted."
    )


def test_nobody_voting_yes_never_adopts() -> None:
    zero = rule(Comparison.AT_LEAST, Fraction(0), Base.ALL_MEMBERS)
    assert not decide(zero, counts(0, 3, 0, members=10), EN).adopted


def test_fraction_plus_constant() -> None:
    # Half of all members plus two.
    r = rule(Comparison.AT_LEAST, Fraction(1, 2), Base.ALL_MEMBERS, constant=2)
    assert decide(r, counts(7, 0, 0, members=10), EN).adopted
    outcome = decide(r, counts(6, 0, 0, members=10), EN)
    assert not outcome.adopted
    assert "at least half of all 10 members plus 2 (at least 7)" in outcome.explanation


# --- CHOICES votes ----------------------------------------------------------------------------

OPTIONS = ("Phương án A", "Phương án B", "Phương án C")


def choice_counts(*totals: int, members: int = 0) -> Counts:
    cast = sum(totals)
    return Counts(totals, None, cast, cast, members or cast)


def test_choices_the_option_with_most_votes_wins_over_the_threshold() -> None:
    r = rule(Comparison.MORE_THAN, Fraction(1, 2), Base.CAST)
    outcome = decide(r, choice_counts(6, 3, 2), EN, choices=OPTIONS)
    assert outcome.adopted
    assert outcome.winner == 1
    assert outcome.explanation == (
        "“Phương án A” received 6 of 11 votes cast; more than half of the 11 votes cast "
        "(at least 6) was needed: adopted."
    )


def test_choices_leader_below_threshold_fails() -> None:
    r = rule(Comparison.MORE_THAN, Fraction(1, 2), Base.CAST)
    outcome = decide(r, choice_counts(5, 4, 2), EN, choices=OPTIONS)
    assert not outcome.adopted
    assert outcome.winner is None


def test_choices_tie_for_first_fails() -> None:
    r = rule(Comparison.AT_LEAST, Fraction(1, 3), Base.CAST)
    outcome = decide(r, choice_counts(4, 4, 1), EN, choices=OPTIONS)
    assert outcome.tie
    assert not outcome.adopted
    assert outcome.explanation.endswith("not adopted (tied for first place).")
    vi = decide(r, choice_counts(4, 4, 1), VI, choices=OPTIONS)
    assert vi.explanation.endswith("không thông qua (các phương án dẫn đầu bằng phiếu nhau).")


def test_choices_without_votes() -> None:
    r = rule(Comparison.MORE_THAN, Fraction(1, 2), Base.CAST)
    assert decide(r, choice_counts(0, 0, 0), EN, choices=OPTIONS).explanation == (
        "No votes were cast: not adopted."
    )
    assert decide(r, choice_counts(0, 0, 0), VI, choices=OPTIONS).explanation == (
        "Không có phiếu nào được bỏ: không thông qua."
    )


# --- explanations -------------------------------------------------------------------------------


def test_explanation_of_the_issue_example_in_english_and_vietnamese() -> None:
    c = counts(26, 10, 4, present=45, members=50)
    en = decide(PRESETS["vn-council"], c, EN)
    assert en.explanation == (
        "26 of 50 members voted yes; more than half of all 50 members (at least 26) "
        "was needed: adopted."
    )
    vi = decide(PRESETS["vn-council"], c, VI)
    assert vi.explanation == (
        "Có 26/50 đại biểu tán thành; cần quá nửa tổng số 50 đại biểu (ít nhất 26): thông qua."
    )


def test_explanations_of_each_base_read_naturally() -> None:
    c = counts(20, 10, 5, present=40, entitled=48, members=50)
    cases = {
        Base.CAST: (
            "20 of 35 votes cast were yes; at least two thirds of the 35 votes cast "
            "(at least 24) was needed: not adopted.",
            "Có 20 phiếu tán thành trên 35 phiếu đã biểu quyết; cần ít nhất hai phần ba "
            "tổng số 35 phiếu đã biểu quyết (ít nhất 24): không thông qua.",
        ),
        Base.PRESENT: (
            "20 of 40 members present voted yes; at least two thirds of the 40 members present "
            "(at least 27) was needed: not adopted.",
            "Có 20/40 đại biểu có mặt tán thành; cần ít nhất hai phần ba tổng số 40 đại biểu "
            "có mặt (ít nhất 27): không thông qua.",
        ),
        Base.ENTITLED: (
            "20 of 48 members entitled to vote voted yes; at least two thirds of the 48 members "
            "entitled to vote (at least 32) was needed: not adopted.",
            "Có 20/48 đại biểu có quyền biểu quyết tán thành; cần ít nhất hai phần ba tổng số "
            "48 đại biểu có quyền biểu quyết (ít nhất 32): không thông qua.",
        ),
    }
    for base, (en, vi) in cases.items():
        r = rule(Comparison.AT_LEAST, Fraction(2, 3), base)
        assert decide(r, c, EN).explanation == en
        assert decide(r, c, VI).explanation == vi


def test_weighted_explanation_says_so() -> None:
    r = rule(Comparison.MORE_THAN, Fraction(1, 2), Base.CAST)
    outcome = decide(r, counts(30, 10, 0), EN, weighted=True)
    assert outcome.explanation.startswith("By weight: 30 of 40 votes cast were yes;")
    vi = decide(r, counts(30, 10, 0), VI, weighted=True)
    assert vi.explanation.startswith("Tính theo trọng số: có 30 phiếu tán thành")


def test_odd_fractions_are_written_as_numbers() -> None:
    r = rule(Comparison.MORE_THAN, Fraction(3, 5), Base.CAST)
    assert (
        "more than 3/5 of the 10 votes cast (at least 7)"
        in decide(r, counts(7, 3, 0), EN).explanation
    )
    assert "cần trên 3/5 tổng số 10 phiếu" in decide(r, counts(7, 3, 0), VI).explanation


# --- lookup and validation --------------------------------------------------------------------


def test_a_hall_rule_is_found_and_may_redefine_a_preset() -> None:
    own = MajorityRule("vn-council", Threshold(Comparison.AT_LEAST, Fraction(3, 4)), Base.PRESENT)
    extra = MajorityRule("budget", Threshold(Comparison.MORE_THAN, Fraction(1, 2)), Base.PRESENT)
    policies = Policies(rules=(own, extra))
    assert rule_for("vn-council", policies) is own
    assert rule_for("budget", policies) is extra
    assert rule_for("roberts-majority", policies) is PRESETS["roberts-majority"]


def test_unknown_rule_is_not_found() -> None:
    with pytest.raises(CommandRejected) as info:
        rule_for("no-such-rule", Policies())
    assert info.value.kind == "not-found"


def test_fraction_outside_zero_to_one_is_invalid() -> None:
    with pytest.raises(CommandRejected) as info:
        validate_threshold(Threshold(Comparison.AT_LEAST, Fraction(3, 2)))
    assert info.value.kind == "invalid"


@pytest.mark.parametrize(("members", "need"), [(1, 1), (2, 2), (50, 26), (51, 26), (95, 48)])
def test_default_quorum_is_more_than_half_of_all_members(members: int, need: int) -> None:
    assert quorum_required(Policies().quorum, members) == need


def test_quorum_at_least_two_thirds() -> None:
    q = QuorumRule(Threshold(Comparison.AT_LEAST, Fraction(2, 3)))
    assert quorum_required(q, 50) == 34
