"""The wall's figures: shares rounded down to two decimals, never above their exact value."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.core.model import Language
from chamber.controller.core.wall_text import answer_line, percent_down

_VI = re.compile(r"^(0|[1-9]\d*),\d\d$")
_EN = re.compile(r"^(0|[1-9]\d*)\.\d\d$")

counts_and_bases = st.integers(min_value=1, max_value=100_000).flatmap(
    lambda base: st.tuples(st.integers(min_value=0, max_value=base * 3), st.just(base))
)


@given(counts_and_bases, st.sampled_from(list(Language)))
def test_a_share_never_reads_above_its_exact_value(pair: tuple[int, int], lang: Language) -> None:
    count, base = pair
    text = percent_down(count, base, lang)
    assert (_VI if lang is Language.VI else _EN).fullmatch(text), text
    shown = Fraction(Decimal(text.replace(",", ".")))
    exact = Fraction(100 * count, base)
    # Rounded down: at most the exact value, and less than a hundredth below it.
    assert shown <= exact < shown + Fraction(1, 100)


@given(counts_and_bases)
def test_both_languages_state_the_same_figure(pair: tuple[int, int]) -> None:
    count, base = pair
    vi = percent_down(count, base, Language.VI)
    en = percent_down(count, base, Language.EN)
    assert vi.replace(",", ".") == en
    assert "." not in vi
    assert "," not in en


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=6))
def test_decimals(count: int, decimals: int) -> None:
    text = percent_down(count, 7, Language.EN, decimals)
    if decimals == 0:
        assert text.isdigit()
    else:
        assert len(text.split(".")[1]) == decimals


def test_the_figures_of_a_council_of_fifty() -> None:
    assert percent_down(27, 50, Language.VI) == "54,00"
    assert percent_down(26, 50, Language.VI) == "52,00"
    assert percent_down(50, 50, Language.VI) == "100,00"
    assert percent_down(0, 50, Language.VI) == "0,00"
    # 2/3 is 66.666…: 66,66, not 66,67.
    assert percent_down(2, 3, Language.VI) == "66,66"
    assert percent_down(1, 3, Language.EN) == "33.33"
    assert percent_down(1, 7, Language.EN) == "14.28"


def test_the_line_a_wall_reads_out() -> None:
    assert answer_line(27, 50, Language.VI) == "27 đại biểu (54,00 % tổng số)"
    assert answer_line(27, 50, Language.EN) == "27 members (54.00 % of all members)"
    assert answer_line(1, 50, Language.EN) == "1 member (2.00 % of all members)"
    assert answer_line(3, 0, Language.VI) == "3 đại biểu"


@pytest.mark.parametrize(("count", "base", "decimals"), [(-1, 5, 2), (1, 0, 2), (1, 5, -1)])
def test_no_share_of_nothing(count: int, base: int, decimals: int) -> None:
    with pytest.raises(ValueError, match="no percentage"):
        percent_down(count, base, Language.VI, decimals)
