"""Votes: prepare one (the daemon names it when the caller does not), and its steps."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

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
    MAX_CHOICES,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    UNTIMED,
)
from chamber.controller.core.model import AnswerSet, VoteMode
from chamber.controller.core.view import Audience


class CreateVoteIn(Body):
    # Left out, the daemon gives the vote an id and returns it.
    vote_id: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] | None
    ) = None
    title: Annotated[str, Field(min_length=1, max_length=500)]
    answers: AnswerSet = AnswerSet.YES_NO_ABSTAIN
    choices: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=MAX_CHOICES)
    ] = []  # noqa: RUF012 (a pydantic field: copied per request)
    mode: VoteMode | None = None
    rule: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # 0 (`UNTIMED`): no time limit, the chair closes the vote by hand.
    duration_s: Annotated[float, Field(ge=UNTIMED, le=MAX_VOTE_DURATION_S)] | None = None
    warning_s: Annotated[float, Field(ge=0, le=MAX_VOTE_WARNING_S)] | None = None
    change_until_close: bool | None = None
    quorum_required: bool | None = None
    weighted: bool = False
    item_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class VoteCreated(Accepted):
    vote_id: str


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
        if body.vote_id is not None:
            return await create(body, body.vote_id)
        candidates = vote_ids(runtime.hub.view(Audience.CHAIR))
        for _ in range(VOTE_ID_TRIES - 1):
            try:
                return await create(body, next(candidates))
            except CommandRejected as exc:
                # Taken in an earlier sitting: try the next; any other refusal is the answer.
                if exc.code != "conflict" or not exc.message.endswith("already exists"):
                    raise
        return await create(body, next(candidates))

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
            )
        )
        return VoteCreated(seq=accepted.seq, vote_id=vote_id)

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
