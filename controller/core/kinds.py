"""Vote kinds: what a vote decides, the rule the law gives it, and what a vote needs to pass.

A vote is created with a kind (default: a resolution). Each kind names its default rule,
answer set and mode; the hall file may change them (`[policies.kinds.<kind>]`), and a vote
may still name another rule. When a vote's rule or mode is not its kind's, the vote carries
a `VoteWarning` (a stable code and its parameters) that the API returns and the console shows.

The defaults, checked against the law (Law on the Organization of Local Government 2015,
carried over by the 2025 law; see `../shared/DOMAIN.md`):

* resolution (nghị quyết): passes with more than half of ALL delegates of the council
  (art. 91(3)): yes >= floor(N/2) + 1. The council chooses an open vote or a secret ballot.
* dismissal of a delegate (bãi nhiệm đại biểu): at least two thirds of ALL delegates
  (art. 91(3) and art. 102(3)): yes >= ceil(2N/3).
* removal of an office-holder (miễn nhiệm): a resolution of the council, so more than half of
  all delegates (art. 91(3)); the council decides on office-holders by secret ballot.
* election (bầu): the person elected needs more than half of the total number of delegates
  (valid ballots counted against the total of the council; of several candidates for one post
  the one with the most votes, a tie is voted again), by secret ballot (guidance
  883/HD-UBTVQH14 on electing the posts of the People's Councils).

`needed(rule, ...)` is the one place that turns a rule and the current electorate into "at
least 26 of 50": the console and the wall show it, they never work out the law themselves.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from chamber.controller.core.i18n import fraction_words
from chamber.controller.core.model import (
    AnswerSet,
    Base,
    Comparison,
    KindPolicy,
    Language,
    MajorityRule,
    Policies,
    VoteKind,
    VoteMode,
)
from chamber.controller.core.rules import required

DEFAULT_KINDS: Mapping[VoteKind, KindPolicy] = MappingProxyType(
    {
        # The resolution's rule and mode are the hall's vote defaults (`VotePolicy`), which
        # are "vn-council" and open unless the hall file says otherwise.
        VoteKind.RESOLUTION: KindPolicy(VoteKind.RESOLUTION, "vn-council"),
        VoteKind.DISMISSAL: KindPolicy(
            VoteKind.DISMISSAL, "vn-two-thirds", AnswerSet.YES_NO_ABSTAIN, VoteMode.SECRET
        ),
        VoteKind.REMOVAL: KindPolicy(
            VoteKind.REMOVAL, "vn-council", AnswerSet.YES_NO_ABSTAIN, VoteMode.SECRET
        ),
        VoteKind.ELECTION: KindPolicy(
            VoteKind.ELECTION, "vn-council", AnswerSet.YES_NO_ABSTAIN, VoteMode.SECRET
        ),
    }
)

KIND_LABELS: Mapping[Language, Mapping[VoteKind, str]] = MappingProxyType(
    {
        Language.VI: {
            VoteKind.RESOLUTION: "Nghị quyết",
            VoteKind.DISMISSAL: "Bãi nhiệm đại biểu",
            VoteKind.REMOVAL: "Miễn nhiệm",
            VoteKind.ELECTION: "Bầu",
        },
        Language.EN: {
            VoteKind.RESOLUTION: "Resolution",
            VoteKind.DISMISSAL: "Dismissal of a delegate",
            VoteKind.REMOVAL: "Removal from office",
            VoteKind.ELECTION: "Election",
        },
    }
)


def kind_policy(kind: VoteKind, policies: Policies) -> KindPolicy:
    """The kind's defaults in this hall: the hall file's, else `DEFAULT_KINDS` (for a
    resolution, with the hall's default rule and mode)."""
    for own in policies.kinds:
        if own.kind is kind:
            return own
    if kind is VoteKind.RESOLUTION:
        # The council chooses an open vote or a secret ballot: the hall's default mode.
        return KindPolicy(kind, policies.vote.rule)
    return DEFAULT_KINDS[kind]


def kind_policies(policies: Policies) -> tuple[KindPolicy, ...]:
    """Every kind's defaults in this hall, in the order of `VoteKind`."""
    return tuple(kind_policy(k, policies) for k in VoteKind)


# --- what a rule needs ------------------------------------------------------------------


@dataclass(frozen=True)
class Needed:
    """What a rule needs over a known base: at least `needed` of `of` (heads, or weights)."""

    needed: int
    of: int


# Bases whose size is known before anyone votes.
KNOWN_BASES = frozenset({Base.ALL_MEMBERS, Base.ENTITLED, Base.PRESENT})


def needed(rule: MajorityRule, *, all_members: int, entitled: int, present: int) -> Needed | None:
    """The smallest count of yes that passes a yes/no vote under `rule`, over the base it
    names; None for a base of votes cast, whose size is known only at the close.

    It is `rules.decide`'s own arithmetic: at least the threshold's count, at least one (nobody
    saying yes adopts nothing), and, since everyone in a member base who did not say yes
    counts as no, one more when that count is exactly half (a tie never passes). More than
    `of` means the rule cannot be met by this electorate."""
    if rule.base not in KNOWN_BASES:
        return None
    of = {Base.ALL_MEMBERS: all_members, Base.ENTITLED: entitled, Base.PRESENT: present}[rule.base]
    return needed_over(rule, of)


def needed_over(rule: MajorityRule, of: int) -> Needed:
    """`needed` over a base of `of` (members, or for a closed vote its base as counted)."""
    need = max(required(rule.threshold, of), 1)
    if rule.base in KNOWN_BASES and 2 * need == of:
        need += 1
    return Needed(need, of)


_BASE_WORDS: Mapping[Language, Mapping[Base, str]] = MappingProxyType(
    {
        Language.VI: {
            Base.ALL_MEMBERS: "tổng số đại biểu",
            Base.ENTITLED: "tổng số đại biểu có quyền biểu quyết",
            Base.PRESENT: "tổng số đại biểu có mặt",
            Base.CAST: "số phiếu đã biểu quyết",
            Base.CAST_WITHOUT_ABSTENTIONS: "số phiếu tán thành và không tán thành",
        },
        Language.EN: {
            Base.ALL_MEMBERS: "all members",
            Base.ENTITLED: "the members entitled to vote",
            Base.PRESENT: "the members present",
            Base.CAST: "the votes cast",
            Base.CAST_WITHOUT_ABSTENTIONS: "the votes cast for or against",
        },
    }
)


def rule_phrase(rule: MajorityRule, language: Language) -> str:
    """The rule in words: "quá nửa tổng số đại biểu", "at least two thirds of all members"."""
    t = rule.threshold
    base = _BASE_WORDS[language][rule.base]
    frac = fraction_words(language, t.fraction)
    if language is Language.VI:
        plus = f" cộng {t.constant}" if t.constant else ""
        if t.comparison is Comparison.UNANIMITY:
            return f"nhất trí của {base}"
        if t.comparison is Comparison.MORE_THAN:
            head = "quá nửa" if t.fraction == Fraction(1, 2) else f"trên {frac}"
        else:
            head = f"ít nhất {frac}"
        return f"{head} {base}{plus}"
    plus = f" plus {t.constant}" if t.constant else ""
    if t.comparison is Comparison.UNANIMITY:
        return f"unanimity of {base}"
    head = "more than" if t.comparison is Comparison.MORE_THAN else "at least"
    return f"{head} {frac} of {base}{plus}"


def needed_line(rule: MajorityRule, need: Needed | None, language: Language) -> str:
    """The line a chair reads before opening: "Biểu quyết theo: quá nửa tổng số đại biểu —
    cần ít nhất 26/50"."""
    phrase = rule_phrase(rule, language)
    if language is Language.VI:
        line = f"Biểu quyết theo: {phrase}"
        if need is None:
            return f"{line} — số cần đạt tính khi kết thúc"
        return f"{line} — cần ít nhất {need.needed}/{need.of}"
    line = f"Decided by: {phrase}"
    if need is None:
        return f"{line} — the figure needed is known at the close"
    return f"{line} — at least {need.needed} of {need.of} needed"


def needed_json(rule: MajorityRule, need: Needed | None, language: Language) -> dict[str, Any]:
    """The rule's figure for a console: {"needed", "of", "base", "text", "texts"} (needed and
    of are None for a base of votes cast; `texts` holds `text` in each language)."""
    return {
        "needed": need.needed if need is not None else None,
        "of": need.of if need is not None else None,
        "base": rule.base.value,
        "text": needed_line(rule, need, language),
        # The same line in every language, for a wall shown in another than the hall's.
        "texts": {lang.value: needed_line(rule, need, lang) for lang in Language},
    }


# --- when a vote does not follow its kind ---------------------------------------------------


@dataclass(frozen=True)
class VoteWarning:
    """Something about a vote the chair should know before opening it, as a stable `code`
    and its parameters (all text, so that any console can render them)."""

    code: str
    params: tuple[tuple[str, str], ...]

    def to_json(self, language: Language) -> dict[str, Any]:
        return {
            "code": self.code,
            "params": dict(self.params),
            "text": warning_text(self, language),
        }


RULE_NOT_KIND = "vote.rule-not-kind"
MODE_NOT_KIND = "vote.mode-not-kind"

_WARNING_TEXTS: Mapping[Language, Mapping[str, str]] = MappingProxyType(
    {
        Language.VI: {
            RULE_NOT_KIND: (
                "Loại biểu quyết “{kind_label}” theo quy định dùng quy tắc {kind_rule}, "
                "nhưng biểu quyết này dùng quy tắc {rule}."
            ),
            MODE_NOT_KIND: (
                "Loại biểu quyết “{kind_label}” theo quy định dùng hình thức {kind_mode}, "
                "nhưng biểu quyết này dùng hình thức {mode}."
            ),
        },
        Language.EN: {
            RULE_NOT_KIND: (
                "A vote of kind “{kind_label}” takes the rule {kind_rule}, "
                "but this vote takes the rule {rule}."
            ),
            MODE_NOT_KIND: (
                "A vote of kind “{kind_label}” is held as {kind_mode}, "
                "but this vote is held as {mode}."
            ),
        },
    }
)

_MODE_WORDS: Mapping[Language, Mapping[str, str]] = MappingProxyType(
    {
        Language.VI: {
            "open": "công khai",
            "secret": "bỏ phiếu kín",
            "roll-call": "biểu quyết theo danh sách",
        },
        Language.EN: {
            "open": "an open vote",
            "secret": "a secret ballot",
            "roll-call": "a roll call",
        },
    }
)


def warning_text(warning: VoteWarning, language: Language) -> str:
    """The warning as a sentence in `language`; an unknown code gives the code itself."""
    template = _WARNING_TEXTS[language].get(warning.code)
    params = dict(warning.params)
    if template is None:
        return warning.code
    kind = params.get("kind", "")
    try:
        params["kind_label"] = KIND_LABELS[language][VoteKind(kind)]
    except ValueError:
        params["kind_label"] = kind
    for key in ("mode", "kind_mode"):
        if key in params:
            params[key] = _MODE_WORDS[language].get(params[key], params[key])
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return warning.code


def kind_warnings(
    kind: VoteKind, rule: str, mode: VoteMode, policies: Policies
) -> tuple[VoteWarning, ...]:
    """Where a vote of `kind` with `rule` and `mode` departs from its kind's defaults."""
    policy = kind_policy(kind, policies)
    found: list[VoteWarning] = []
    if rule != policy.rule:
        found.append(
            VoteWarning(
                RULE_NOT_KIND,
                (("kind", kind.value), ("kind_rule", policy.rule), ("rule", rule)),
            )
        )
    if policy.mode is VoteMode.SECRET and mode is not VoteMode.SECRET:
        found.append(
            VoteWarning(
                MODE_NOT_KIND,
                (("kind", kind.value), ("kind_mode", policy.mode.value), ("mode", mode.value)),
            )
        )
    return tuple(found)
