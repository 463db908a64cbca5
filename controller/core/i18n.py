"""Words the meeting core puts in front of people, in the hall's language (Vietnamese or English).

The core builds one sentence per vote outcome that a chair can read aloud and a secretary can
paste into the minutes, and names the answers of the default answer sets. Every string here is
a template filled with numbers the caller already computed: this module never counts, decides
or rounds anything, so a translation can never change a result.

Vietnamese follows the People's Council usage: "tán thành", "không tán thành",
"không biểu quyết", "thông qua", "không thông qua", "tổng số đại biểu".
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from chamber.controller.core.model import AnswerSet, Base, Comparison, Language

# Key labels as printed on the keypads of the default answer sets (key 1 first).
ANSWER_LABELS: dict[Language, dict[AnswerSet, tuple[str, ...]]] = {
    Language.VI: {
        AnswerSet.YES_NO_ABSTAIN: ("Tán thành", "Không tán thành", "Không biểu quyết"),
        AnswerSet.YES_NO: ("Tán thành", "Không tán thành"),
    },
    Language.EN: {
        AnswerSet.YES_NO_ABSTAIN: ("Yes", "No", "Abstain"),
        AnswerSet.YES_NO: ("Yes", "No"),
    },
}

# Kept apart from "abstain" everywhere: a seat of the electorate that pressed nothing.
DID_NOT_VOTE: dict[Language, str] = {
    Language.VI: "Không tham gia biểu quyết",
    Language.EN: "Did not vote",
}


def answer_labels(language: Language, answers: AnswerSet) -> tuple[str, ...]:
    """Labels of a fixed answer set; CHOICES votes carry their own labels."""
    return ANSWER_LABELS[language][answers]


_NAMED_FRACTIONS: dict[Language, dict[Fraction, str]] = {
    Language.VI: {
        Fraction(1, 2): "một nửa",
        Fraction(2, 3): "hai phần ba",
        Fraction(3, 4): "ba phần tư",
        Fraction(1, 3): "một phần ba",
    },
    Language.EN: {
        Fraction(1, 2): "half",
        Fraction(2, 3): "two thirds",
        Fraction(3, 4): "three quarters",
        Fraction(1, 3): "one third",
    },
}


def _fraction_words(language: Language, fraction: Fraction) -> str:
    named = _NAMED_FRACTIONS[language].get(fraction)
    if named is not None:
        return named
    if fraction.denominator == 1:
        return str(fraction.numerator)
    return f"{fraction.numerator}/{fraction.denominator}"


@dataclass(frozen=True)
class OutcomeFacts:
    """The numbers one explanation sentence states; all of them computed by `rules`."""

    comparison: Comparison
    fraction: Fraction
    constant: int
    base: Base
    base_count: int
    required: int
    # Votes for "yes", or for the leading option of a CHOICES vote.
    count: int
    adopted: bool
    # The threshold was met but a tie failed the vote (a tie never passes).
    tie: bool
    weighted: bool = False
    # The leading option's label in a CHOICES vote; None for yes/no votes.
    option: str | None = None


def _base_phrase(language: Language, base: Base, n: int) -> str:
    """The base as the object of "more than half of ..."."""
    if language is Language.VI:
        return {
            Base.ALL_MEMBERS: f"tổng số {n} đại biểu",
            Base.ENTITLED: f"tổng số {n} đại biểu có quyền biểu quyết",
            Base.PRESENT: f"tổng số {n} đại biểu có mặt",
            Base.CAST: f"tổng số {n} phiếu đã biểu quyết",
            Base.CAST_WITHOUT_ABSTENTIONS: f"tổng số {n} phiếu tán thành và không tán thành",
        }[base]
    return {
        Base.ALL_MEMBERS: f"all {n} members",
        Base.ENTITLED: f"the {n} members entitled to vote",
        Base.PRESENT: f"the {n} members present",
        Base.CAST: f"the {n} votes cast",
        Base.CAST_WITHOUT_ABSTENTIONS: f"the {n} votes cast for or against",
    }[base]


def _count_phrase(language: Language, facts: OutcomeFacts) -> str:
    """The first half: who voted how, e.g. "26 of 50 members voted yes"."""
    n, c = facts.base_count, facts.count
    member_base = facts.base in (Base.ALL_MEMBERS, Base.ENTITLED, Base.PRESENT)
    if language is Language.VI:
        who = {
            Base.ALL_MEMBERS: "đại biểu",
            Base.ENTITLED: "đại biểu có quyền biểu quyết",
            Base.PRESENT: "đại biểu có mặt",
            Base.CAST: "phiếu đã biểu quyết",
            Base.CAST_WITHOUT_ABSTENTIONS: "phiếu tán thành và không tán thành",
        }[facts.base]
        if facts.option is not None and member_base:
            return f"Phương án “{facts.option}” được {c}/{n} {who} chọn"
        if facts.option is not None:
            return f"Phương án “{facts.option}” được {c} trên {n} {who}"
        if member_base:
            return f"Có {c}/{n} {who} tán thành"
        return f"Có {c} phiếu tán thành trên {n} {who}"
    who = {
        Base.ALL_MEMBERS: "members",
        Base.ENTITLED: "members entitled to vote",
        Base.PRESENT: "members present",
        Base.CAST: "votes cast",
        Base.CAST_WITHOUT_ABSTENTIONS: "votes cast for or against",
    }[facts.base]
    if facts.option is not None:
        return f"“{facts.option}” received {c} of {n} {who}"
    if member_base:
        return f"{c} of {n} {who} voted yes"
    return f"{c} of {n} {who} were yes"


def _need_phrase(language: Language, facts: OutcomeFacts) -> str:
    """The second half: what the rule asked for, with the exact head count."""
    base = _base_phrase(language, facts.base, facts.base_count)
    frac = _fraction_words(language, facts.fraction)
    if language is Language.VI:
        plus = f" cộng {facts.constant}" if facts.constant else ""
        if facts.comparison is Comparison.UNANIMITY:
            return f"cần sự nhất trí của {base} (cả {facts.required})"
        if facts.comparison is Comparison.MORE_THAN:
            head = "quá nửa" if facts.fraction == Fraction(1, 2) else f"trên {frac}"
        else:
            head = f"ít nhất {frac}"
        return f"cần {head} {base}{plus} (ít nhất {facts.required})"
    plus = f" plus {facts.constant}" if facts.constant else ""
    if facts.comparison is Comparison.UNANIMITY:
        return f"unanimity of {base} (all {facts.required}) was needed"
    head = "more than" if facts.comparison is Comparison.MORE_THAN else "at least"
    return f"{head} {frac} of {base}{plus} (at least {facts.required}) was needed"


def _verdict(language: Language, facts: OutcomeFacts) -> str:
    if language is Language.VI:
        if facts.adopted:
            return "thông qua"
        if facts.tie and facts.option is not None:
            return "không thông qua (các phương án dẫn đầu bằng phiếu nhau)"
        if facts.tie:
            return "không thông qua (số tán thành bằng số không tán thành)"
        return "không thông qua"
    if facts.adopted:
        return "adopted"
    if facts.tie and facts.option is not None:
        return "not adopted (tied for first place)"
    if facts.tie:
        return "not adopted (a tie never passes)"
    return "not adopted"


def explain_outcome(language: Language, facts: OutcomeFacts) -> str:
    """One sentence, e.g. "26 of 50 members voted yes; more than half of all 50 members
    (at least 26) was needed: adopted." """
    prefix = ""
    if facts.weighted:
        prefix = "Tính theo trọng số: " if language is Language.VI else "By weight: "
    sentence = (
        f"{_count_phrase(language, facts)}; {_need_phrase(language, facts)}: "
        f"{_verdict(language, facts)}."
    )
    if prefix:
        sentence = prefix + sentence[0].lower() + sentence[1:]
    return sentence


def explain_no_votes(language: Language) -> str:
    """A CHOICES vote nobody voted in has no leading option to speak of."""
    if language is Language.VI:
        return "Không có phiếu nào được bỏ: không thông qua."
    return "No votes were cast: not adopted."
