"""The figures a display wall reads out, as text in both languages.

A result is read out in Vietnam as each answer's head count and its share of the total
delegates: "27 đại biểu (54,00 % tổng số)". A share is rounded down to two decimals, so that
no figure on the wall reads above its exact value (26 of 50 is 52,00 %, 2 of 3 is 66,66 %, never
66,67 %). The arithmetic is on integers: no float ever rounds a share up.

The wall view (`controller.core.view`) puts these strings in `show.text`, one set per language,
so that a wall shown in English on a Vietnamese hall (`?lang=en`) reads English throughout and
the page itself formats no number.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from chamber.controller.core.i18n import ANSWER_LABELS, DID_NOT_VOTE
from chamber.controller.core.model import AnswerSet, Language

_DECIMAL_MARK = {Language.VI: ",", Language.EN: "."}


def percent_down(count: int, base: int, language: Language, decimals: int = 2) -> str:
    """`count` as a percentage of `base`, rounded down to `decimals` places, with the
    language's decimal mark: percent_down(27, 50, VI) == "54,00", (2, 3, EN) == "66.66".

    Raises ValueError for a negative count, a base that is not positive, or negative decimals.
    """
    if count < 0 or base <= 0 or decimals < 0:
        raise ValueError(f"no percentage of {count} over {base} to {decimals} places")
    scale = 10**decimals
    units = count * 100 * scale // base
    whole, part = divmod(units, scale)
    if decimals == 0:
        return str(whole)
    return f"{whole}{_DECIMAL_MARK[language]}{part:0{decimals}d}"


def answer_line(count: int, members: int, language: Language) -> str:
    """One answer's figure as the wall reads it: "27 đại biểu (54,00 % tổng số)",
    "27 members (54.00 % of all members)"; without a share when the body has no members."""
    if language is Language.VI:
        head = f"{count} đại biểu"
        return f"{head} ({percent_down(count, members, language)} % tổng số)" if members else head
    head = f"{count} member" if count == 1 else f"{count} members"
    if not members:
        return head
    return f"{head} ({percent_down(count, members, language)} % of all members)"


class WallText(TypedDict):
    """A vote's words and figures on the wall, in one language."""

    # The answers' labels, key 1 first (a fixed answer set's in this language; a vote's own
    # options as the chair typed them).
    answers: list[str]
    # Per answer, its count and share of the total delegates; empty while the totals are not
    # shown.
    lines: list[str]
    # "Đã biểu quyết: 30/31" while the vote runs; "" before it opens.
    voted: str
    # Once decided: "Tổng số đại biểu: 50", "Có mặt: 31", "Không tham gia biểu quyết: 1";
    # before that, none.
    figures: list[str]
    # The rule in words and what it needs: "Biểu quyết theo: quá nửa tổng số đại biểu — cần
    # ít nhất 26/50".
    rule: str


_WORDS: Mapping[Language, Mapping[str, str]] = {
    Language.VI: {
        "voted": "Đã biểu quyết: {voted}/{of}",
        "total": "Tổng số đại biểu: {n}",
        "present": "Có mặt: {n}",
    },
    Language.EN: {
        "voted": "Voted: {voted} of {of}",
        "total": "All members: {n}",
        "present": "Present: {n}",
    },
}


def vote_text(
    vote: Mapping[str, Any],
    counts: Sequence[int] | None,
    electorate: int,
    members: int,
    language: Language,
) -> WallText:
    """The wall's words for `vote` (a vote of the core's snapshot) in `language`: `counts` are
    the totals the wall shows (None: hidden), `electorate` the vote's one electorate figure,
    `members` the body's total delegates (the base of every share)."""
    words = _WORDS[language]
    try:
        answer_set: AnswerSet | None = AnswerSet(str(vote.get("answers")))
    except ValueError:
        answer_set = None
    fixed = ANSWER_LABELS[language].get(answer_set) if answer_set is not None else None
    options = [str(o) for o in vote.get("options") or []]
    answers = list(fixed) if fixed is not None and len(fixed) == len(options) else options
    result = vote.get("result")
    decided = isinstance(result, Mapping) and vote.get("state") in ("closed", "published")
    total = int(result.get("all_members", members)) if decided and result else members
    lines = [answer_line(c, total, language) for c in counts] if counts is not None else []
    tally = vote.get("tally") or {}
    voted = ""
    if vote.get("state") != "prepared":
        voted = words["voted"].format(voted=int(tally.get("voted", 0)), of=electorate)
    figures: list[str] = []
    if decided and result:
        figures = [
            words["total"].format(n=total),
            words["present"].format(n=int(result.get("present", 0))),
            f"{DID_NOT_VOTE[language]}: {int(result.get('did_not_vote', 0))}",
        ]
    needed = vote.get("needed") or {}
    texts = needed.get("texts") or {}
    rule = texts.get(language.value) or ""
    return {"answers": answers, "lines": lines, "voted": voted, "figures": figures, "rule": rule}
