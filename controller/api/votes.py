"""Votes: prepare one (the daemon names it when the caller does not), change it while it is
prepared, and its steps; and what the chair does when the system fails during a vote: annul
it with a reason, run it again, or enter a result taken by show of hands or on paper.

A created or changed vote is answered with its warnings (where its rule or mode is not its
kind's, as a stable code and its parameters, and a sentence in the hall's language) and the
figure it needs to pass ("cần ít nhất 26/50"), so that a console never works out the law."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from chamber.controller.api.deps import (
    CHAIR,
    CHAIR_SECRETARY,
    Accepted,
    Body,
    Context,
)
from chamber.controller.core import inputs as I
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.limits import (
    MAX_ANNUL_REASON,
    MAX_CHOICES,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    UNTIMED,
)
from chamber.controller.core.model import AnswerSet, ManualMethod, VoteKind, VoteMode
from chamber.controller.core.view import Audience
from chamber.controller.runtime import Runtime

_Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
_Choices = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=MAX_CHOICES)
]


class CreateVoteIn(Body):
    # Left out, the daemon gives the vote an id and returns it.
    vote_id: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] | None
    ) = None
    title: Annotated[str, Field(min_length=1, max_length=500)]
    # What the vote decides (default: a resolution): its rule, answers and mode follow it.
    kind: VoteKind | None = None
    # Left out: the kind's answers (choices when `choices` are given).
    answers: AnswerSet | None = None
    choices: _Choices = []  # noqa: RUF012 (a pydantic field: copied per request)
    mode: VoteMode | None = None
    rule: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # 0 (`UNTIMED`): no time limit, the chair closes the vote by hand.
    duration_s: Annotated[float, Field(ge=UNTIMED, le=MAX_VOTE_DURATION_S)] | None = None
    warning_s: Annotated[float, Field(ge=0, le=MAX_VOTE_WARNING_S)] | None = None
    change_until_close: bool | None = None
    quorum_required: bool | None = None
    weighted: bool = False
    item_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # A practice vote (biểu quyết thử): on the hall and the wall, out of the record.
    practice: bool = False
    # The wall shows the running totals while the vote runs (left out: the hall's default).
    live_totals: bool | None = None


class AmendVoteIn(Body):
    """What to change in a prepared vote; a field left out stays. A new kind brings its rule
    and mode unless they are given too."""

    title: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    kind: VoteKind | None = None
    answers: AnswerSet | None = None
    choices: _Choices | None = None
    mode: VoteMode | None = None
    rule: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    duration_s: Annotated[float, Field(ge=UNTIMED, le=MAX_VOTE_DURATION_S)] | None = None
    warning_s: Annotated[float, Field(ge=0, le=MAX_VOTE_WARNING_S)] | None = None
    change_until_close: bool | None = None
    quorum_required: bool | None = None
    item_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    live_totals: bool | None = None


class AnnulIn(Body):
    reason: Annotated[str, Field(min_length=1, max_length=MAX_ANNUL_REASON)]


class RerunIn(Body):
    # Left out, the daemon names the new vote.
    vote_id: _Id | None = None


class ManualResultIn(Body):
    method: ManualMethod
    # The count per answer, key 1 first ("tán thành", "không tán thành", "không biểu quyết").
    totals: Annotated[
        list[Annotated[int, Field(ge=0, le=1_000_000)]], Field(max_length=MAX_CHOICES)
    ]
    # The members present, counted by hand; left out: those the system has present.
    present: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class VoteWarningOut(BaseModel):
    """Where the vote departs from its kind: a stable code, its parameters, and the sentence
    in the hall's language."""

    code: str
    params: dict[str, str]
    text: str


class NeededOut(BaseModel):
    """What the vote needs to pass: at least `needed` of `of` over `base` (both None for a
    base of votes cast, known at the close), and the line to show."""

    needed: int | None
    of: int | None
    base: str
    text: str


class VoteCreated(Accepted):
    vote_id: str
    warnings: list[VoteWarningOut] = []  # noqa: RUF012 (a pydantic field: copied per answer)
    needed: NeededOut | None = None


def vote_answer(runtime: Runtime, seq: int, vote_id: str) -> VoteCreated:
    """A created or changed vote's answer: its id, its warnings and what it needs."""
    vote = runtime.core.votes.get(vote_id)
    if vote is None:  # the sitting closed in between: nothing more to say
        return VoteCreated(seq=seq, vote_id=vote_id)
    data = runtime.core.ballots.vote_json(vote, runtime.core.now)
    return VoteCreated(
        seq=seq,
        vote_id=vote_id,
        warnings=[VoteWarningOut(**w) for w in data["warnings"]],
        needed=NeededOut(**data["needed"]),
    )


# How many ids the daemon tries for a vote made without one before it gives up.
VOTE_ID_TRIES = 100


def _ascii_id(text: str) -> str:
    """ "Kỳ họp 2" -> "Ky-hop-2": what a vote id may hold, the Vietnamese letters unaccented."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9_.-]", "", re.sub(r"\s+", "-", plain.strip()))[:48]


def vote_ids(view: Any) -> Iterator[str]:
    """Ids for a new vote, in the order to try them: v1, v2, ... in the first sitting, then
    SITTING-v1, ... (the daemon keeps vote ids unique across sittings, so after the first
    sitting an id carries its sitting's), skipping those the sitting already has."""
    used = {v.get("vote_id") for v in view.get("votes", [])}
    sitting = _ascii_id(str(view.get("sitting", {}).get("sitting_id") or ""))
    prefix = f"{sitting}-v" if sitting and view.get("sittings") else "v"
    n = len(used) + 1
    while True:
        if f"{prefix}{n}" not in used:
            yield f"{prefix}{n}"
        n += 1


def register(ctx: Context) -> None:
    runtime = ctx.runtime
    route = ctx.route
    run = ctx.run
    api = ctx.api

    @route(api, "POST", "/votes", CHAIR_SECRETARY, "Prepare a vote (its id is returned)")
    async def create_vote(body: CreateVoteIn) -> VoteCreated:
        return await with_new_id(body.vote_id, lambda vote_id: create(body, vote_id))

    async def with_new_id(
        given: str | None, make: Callable[[str], Awaitable[VoteCreated]]
    ) -> VoteCreated:
        """Run `make` with the id given, or with the daemon's next free id."""
        if given is not None:
            return await make(given)
        candidates = vote_ids(runtime.hub.view(Audience.CHAIR))
        for _ in range(VOTE_ID_TRIES - 1):
            try:
                return await make(next(candidates))
            except CommandRejected as exc:
                # Taken in an earlier sitting: try the next; any other refusal is the answer.
                if exc.code != "vote.exists":
                    raise
        return await make(next(candidates))

    async def create(body: CreateVoteIn, vote_id: str) -> VoteCreated:
        accepted = await run(
            lambda at: I.CreateVote(
                at,
                vote_id,
                body.title,
                body.answers,
                tuple(body.choices),
                body.mode,
                body.rule,
                body.duration_s,
                body.warning_s,
                body.change_until_close,
                body.quorum_required,
                body.weighted,
                body.item_id,
                body.kind,
                body.practice,
                body.live_totals,
            )
        )
        return vote_answer(runtime, accepted.seq, vote_id)

    @route(api, "PATCH", "/votes/{vote_id}", CHAIR_SECRETARY, "Change a prepared vote")
    async def amend_vote(vote_id: str, body: AmendVoteIn) -> VoteCreated:
        accepted = await run(
            lambda at: I.AmendVote(
                at,
                vote_id,
                body.title,
                body.answers,
                tuple(body.choices) if body.choices is not None else None,
                body.mode,
                body.rule,
                body.duration_s,
                body.warning_s,
                body.change_until_close,
                body.quorum_required,
                body.item_id,
                body.kind,
                body.live_totals,
            )
        )
        return vote_answer(runtime, accepted.seq, vote_id)

    @route(api, "POST", "/votes/{vote_id}/annul", CHAIR, "Annul a vote with a reason (hủy kết quả)")
    async def annul_vote(vote_id: str, body: AnnulIn) -> Accepted:
        return await run(lambda at: I.AnnulVote(at, vote_id, body.reason))

    @route(
        api,
        "POST",
        "/votes/{vote_id}/rerun",
        CHAIR,
        "Run an annulled vote again (biểu quyết lại): a new prepared vote, linked to it",
    )
    async def rerun_vote(vote_id: str, body: RerunIn) -> VoteCreated:
        async def rerun(new_id: str) -> VoteCreated:
            accepted = await run(lambda at: I.RerunVote(at, new_id, vote_id))
            return vote_answer(runtime, accepted.seq, new_id)

        return await with_new_id(body.vote_id, rerun)

    @route(
        api,
        "POST",
        "/votes/{vote_id}/manual-result",
        CHAIR,
        "Enter a prepared vote's result taken by show of hands or on paper",
    )
    async def manual_result(vote_id: str, body: ManualResultIn) -> Accepted:
        return await run(
            lambda at: I.EnterManualResult(
                at, vote_id, body.method, tuple(body.totals), body.present
            )
        )

    vote_steps: dict[str, Callable[[float, str], I.Input]] = {
        "open": lambda at, v: I.OpenVote(at, v),
        "hold": lambda at, v: I.HoldVote(at, v),
        "resume": lambda at, v: I.ResumeVote(at, v),
        "close": lambda at, v: I.CloseVote(at, v),
        "cancel": lambda at, v: I.CancelVote(at, v),
        "publish": lambda at, v: I.PublishVote(at, v),
    }
    for step, make in vote_steps.items():
        _vote_step(api, route, run, step, make)


def _vote_step(
    api: APIRouter,
    route: Callable[..., Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]],
    run: Callable[[Callable[[float], I.Input]], Awaitable[Accepted]],
    step: str,
    make: Callable[[float, str], I.Input],
) -> None:
    roles = CHAIR_SECRETARY if step == "publish" else CHAIR

    async def handler(vote_id: str) -> Accepted:
        return await run(lambda at: make(at, vote_id))

    handler.__name__ = f"vote_{step}"
    route(api, "POST", f"/votes/{{vote_id}}/{step}", roles, f"{step.capitalize()} a vote")(handler)
