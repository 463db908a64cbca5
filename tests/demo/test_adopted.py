"""The headless demo's own arithmetic for "adopted", on worked examples of each rule's source."""

from __future__ import annotations

from fractions import Fraction

import pytest

from chamber.simulator.demo import LAW_PRESETS, Rule, adopted_by_law


@pytest.mark.parametrize(
    ("totals", "adopted"),
    [
        # Robert's Rules 44:3: of 501 yes, 499 no and 100 abstentions the motion passes.
        ((501, 499, 100), True),
        ((500, 500, 100), False),  # a tie never passes
        ((1, 0, 999), True),  # abstentions are not votes cast
        ((0, 0, 10), False),  # nobody said yes
    ],
)
def test_roberts_majority_counts_only_yes_and_no(totals: tuple[int, ...], adopted: bool) -> None:
    rule = LAW_PRESETS["roberts-majority"]
    got = adopted_by_law(rule, totals, abstain_key=3, present=1100, members=1200)
    assert got is adopted


@pytest.mark.parametrize(
    ("yes", "adopted"),
    # Of a council of 50: more than half of ALL delegates is 26, whoever is present.
    [(26, True), (25, False)],
)
def test_vn_council_counts_all_members(yes: int, adopted: bool) -> None:
    rule = LAW_PRESETS["vn-council"]
    assert adopted_by_law(rule, (yes, 0, 0), abstain_key=3, present=30, members=50) is adopted


@pytest.mark.parametrize(("yes", "adopted"), [(34, True), (33, False)])
def test_vn_two_thirds_of_all_members(yes: int, adopted: bool) -> None:
    # At least two thirds of 50 is 33.33..., so 34.
    rule = LAW_PRESETS["vn-two-thirds"]
    assert adopted_by_law(rule, (yes, 1, 0), abstain_key=3, present=48, members=50) is adopted


def test_a_hall_rule_over_the_present() -> None:
    # "two-thirds-present" of the example hall: at least 2/3 of the 45 present is 30.
    rule = Rule("at-least", Fraction(2, 3), "present")
    assert adopted_by_law(rule, (30, 10, 5), abstain_key=3, present=45, members=50)
    assert not adopted_by_law(rule, (29, 10, 6), abstain_key=3, present=45, members=50)


def test_choices_need_a_lone_leader_over_the_threshold() -> None:
    rule = LAW_PRESETS["vn-council"]
    assert adopted_by_law(rule, (26, 10, 5), abstain_key=None, choices=True, present=45, members=50)
    assert not adopted_by_law(
        rule, (20, 20, 5), abstain_key=None, choices=True, present=45, members=50
    )
    assert not adopted_by_law(
        rule, (25, 10, 5), abstain_key=None, choices=True, present=45, members=50
    )
