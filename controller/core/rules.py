"""Majority and quorum rules: a threshold over a base, decided with exact fractions.

Everything a hall needs to know to say "adopted" or "not adopted" is here, in one place:

* `required(threshold, base)` turns "more than half", "at least two thirds", "unanimity" or
  "p/q x base + c" into the smallest head count (or weight) that meets it.
* `decide(...)` applies a `MajorityRule` to a vote's totals and returns an `Outcome` with a
  one-sentence explanation in the hall's language.
* `PRESETS` are the rules every hall gets; `Policies.rules` adds a hall's own (the hall file may
  not reuse a preset's key, so "vn-council" means the law's rule in every hall).

Two rules hold whatever the threshold: a tie never passes (yes == no fails; for a CHOICES
vote, a tie for first place fails), and with a base that counts members (present, entitled,
all members) an abstention or a missing vote acts as "no".

Arithmetic is `Fraction` throughout; a float never decides a vote (Robert's Rules: of 1,000
votes a majority is 501, not "51 %"). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import OutcomeFacts, explain_no_votes, explain_outcome
from chamber.controller.core.model import (
    Base,
    Comparison,
    Language,
    MajorityRule,
    Policies,
    QuorumRule,
    Threshold,
)

_PRESET_RULES: tuple[MajorityRule, ...] = (
    # People's Council resolutions: more than half of ALL delegates of the council.
    MajorityRule("vn-council", Threshold(Comparison.MORE_THAN, Fraction(1, 2)), Base.ALL_MEMBERS),
    # Dismissal of a delegate: at least two thirds of all delegates.
    MajorityRule("vn-two-thirds", Threshold(Comparison.AT_LEAST, Fraction(2, 3)), Base.ALL_MEMBERS),
    # Robert's Rules (12th ed., 44:1-44:3): more than half of the votes cast, where blanks and
    # abstentions are not votes cast: of 501 yes, 499 no and 100 abstentions the motion passes.
    MajorityRule(
        "roberts-majority",
        Threshold(Comparison.MORE_THAN, Fraction(1, 2)),
        Base.CAST_WITHOUT_ABSTENTIONS,
    ),
)

# The presets by key: the one definition of their names, which the hall file's validation
# uses too (a hall's own rule may not take one of these keys).
PRESETS: Mapping[str, MajorityRule] = MappingProxyType({r.key: r for r in _PRESET_RULES})

# Bases that count members rather than votes: every member who did not say yes counts as no.
MEMBER_BASES = frozenset({Base.PRESENT, Base.ENTITLED, Base.ALL_MEMBERS})


def rule_for(key: str, policies: Policies) -> MajorityRule:
    """The rule named `key`: the hall's own rules first, then the presets."""
    for rule in policies.rules:
        if rule.key == key:
            return rule
    try:
        return PRESETS[key]
    except KeyError:
        raise CommandRejected("rule.not_found", rule=key) from None


def validate_threshold(threshold: Threshold) -> None:
    """A fraction outside 0..1 is a typing error in a hall file, not a rule."""
    if not Fraction(0) <= threshold.fraction <= Fraction(1):
        raise CommandRejected("rule.threshold_range", fraction=str(threshold.fraction))


def required(threshold: Threshold, base: int) -> int:
    """The smallest count that meets `threshold` over `base` (may exceed `base`: unreachable)."""
    if threshold.comparison is Comparison.UNANIMITY:
        return base
    value = threshold.fraction * base + threshold.constant
    if threshold.comparison is Comparison.MORE_THAN:
        return math.floor(value) + 1
    return math.ceil(value)


def quorum_required(rule: QuorumRule, members: int) -> int:
    """Members present needed for a quorum, over all members of the body."""
    return max(required(rule.threshold, members), 0)


@dataclass(frozen=True)
class Counts:
    """What a closed vote hands to `decide`: per-option totals and the member counts.

    `options` are the totals per key (key 1 first); for a weighted vote they are weights and
    the member counts are weights too. `abstain_key` is 3 for yes/no/abstain, else None.
    """

    options: tuple[int, ...]
    abstain_key: int | None
    present: int
    entitled: int
    all_members: int

    @property
    def cast(self) -> int:
        return sum(self.options)

    def base_count(self, base: Base) -> int:
        if base is Base.CAST:
            return self.cast
        if base is Base.CAST_WITHOUT_ABSTENTIONS:
            if self.abstain_key is None:
                return self.cast
            return self.cast - self.options[self.abstain_key - 1]
        if base is Base.PRESENT:
            return self.present
        if base is Base.ENTITLED:
            return self.entitled
        return self.all_members


@dataclass(frozen=True)
class Outcome:
    """A rule applied to a vote: adopted or not, the winning key, and why in one sentence."""

    rule: str
    base: Base
    base_count: int
    required: int
    adopted: bool
    tie: bool
    # The adopted key: 1 ("yes") for yes/no votes, the leading option of a CHOICES vote;
    # None when nothing was adopted.
    winner: int | None
    explanation: str


def decide(
    rule: MajorityRule,
    counts: Counts,
    language: Language,
    *,
    choices: tuple[str, ...] | None = None,
    weighted: bool = False,
) -> Outcome:
    """Apply `rule` to `counts`. `choices` (the option labels) marks a CHOICES vote."""
    threshold = rule.threshold
    n = counts.base_count(rule.base)
    need = required(threshold, n)
    option: str | None = None
    if choices is None:
        yes = counts.options[0]
        # With a member base, everyone in the base who did not say yes acts as "no".
        no = n - yes if rule.base in MEMBER_BASES else counts.options[1]
        tie = yes == no
        winner: int | None = 1
        count = yes
    else:
        count = max(counts.options, default=0)
        leaders = [k for k, c in enumerate(counts.options, start=1) if c == count]
        tie = count > 0 and len(leaders) > 1
        # The first of the leaders is named in the sentence even when tied, so it reads true.
        winner = leaders[0] if count > 0 else None
        option = choices[winner - 1] if winner is not None else None
    # Nobody saying yes never adopts anything, even under a degenerate zero threshold.
    adopted = not tie and count > 0 and count >= need
    if choices is not None and winner is None:
        explanation = explain_no_votes(language)
    else:
        explanation = explain_outcome(
            language,
            OutcomeFacts(
                comparison=threshold.comparison,
                fraction=threshold.fraction,
                constant=threshold.constant,
                base=rule.base,
                base_count=n,
                required=need,
                count=count,
                adopted=adopted,
                # Name the tie only where it, not the threshold, is what failed the vote.
                tie=tie and count >= need,
                weighted=weighted,
                option=option,
            ),
        )
    return Outcome(
        rule=rule.key,
        base=rule.base,
        base_count=n,
        required=need,
        adopted=adopted,
        tie=tie,
        winner=winner if adopted else None,
        explanation=explanation,
    )
