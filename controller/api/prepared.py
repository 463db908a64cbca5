"""A sitting prepared in advance: load a sitting file, and open the next prepared vote.

`POST /api/sitting/load` takes a sitting file's text (TOML or JSON, `controller.sitting_file`),
checks it against the hall, and opens the sitting with its agenda and prepares its votes: one
`OpenSitting` and one `CreateVote` per vote, journaled in one commit (`Runtime.commands`), so a
restart replays the loaded sitting. Loaded again while that sitting is open with the same
agenda, it prepares only the votes not there yet (a load cut short is finished, nothing is
doubled); another sitting open, or the same one with another agenda, is refused. `check: true`
answers what a load would do and does nothing.

`POST /api/sitting/next-vote` opens the next prepared vote in agenda order, moving the current
item to the vote's first (`MeetingCore.next_vote_inputs`): refused, with nothing moved, while a
vote holds the keypads, when none is left, or without a quorum.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Request
from pydantic import Field

from chamber.controller.api.deps import (
    CHAIR,
    CHAIR_SECRETARY,
    Accepted,
    Body,
    Context,
    Problem,
    stamp,
)
from chamber.controller.api.deps import request_language as _language
from chamber.controller.core import inputs as I
from chamber.controller.core.errors import CommandRejected
from chamber.controller.sitting_file import (
    MAX_SITTING_FILE_BYTES,
    SittingFileError,
    SittingPlan,
    parse_sitting,
    read_sitting_text,
)


class SittingFileIn(Body):
    # The file's text as it is (UTF-8 is the request's own encoding).
    text: Annotated[str, Field(min_length=1, max_length=MAX_SITTING_FILE_BYTES)]
    format: Literal["toml", "json"] = "toml"
    # The file's name, for the messages ("ky-hop-9.toml: items[1].title: ...").
    name: Annotated[str, Field(min_length=1, max_length=200)] = "sitting"
    # True: say what a load would do, and do nothing.
    check: bool = False


class SittingLoaded(Accepted):
    sitting_id: str
    # The file's agenda items.
    items: int
    # Whether the load opens the sitting (False: it was open already, with this agenda).
    opens: bool
    # The votes it prepares, in the file's order, and those the sitting had already.
    prepared: list[str]
    kept: list[str]
    # Where a vote's rule or mode is not its kind's: "KEY: sentence".
    warnings: list[str]
    # True: a check; nothing was done.
    checked: bool = False


class NextVoteOpened(Accepted):
    vote_id: str
    item_id: str | None
    # Whether the current agenda item moved to the vote's.
    moved: bool


def register(ctx: Context) -> None:
    runtime = ctx.runtime
    route = ctx.route
    api = ctx.api

    @route(
        api, "POST", "/sitting/load", CHAIR_SECRETARY, "Open a sitting and its votes from a file"
    )
    async def load_sitting(body: SittingFileIn, request: Request) -> SittingLoaded:
        language = _language(request)
        try:
            data = read_sitting_text(body.text, body.format, body.name)
            plan = parse_sitting(data, runtime.config, body.name, check=False)
            warnings = plan.check(runtime.config.hall, language)
        except SittingFileError as exc:
            raise Problem("sitting.file_invalid", problem=str(exc).rstrip(".")) from None
        inputs, kept = _what_to_run(plan)
        opens = bool(inputs) and isinstance(inputs[0], I.OpenSitting)
        prepared = [i.vote_id for i in inputs if isinstance(i, I.CreateVote)]
        answer = SittingLoaded(
            seq=runtime.hub.seq,
            sitting_id=plan.sitting_id,
            items=len(plan.opening.agenda),
            opens=opens,
            prepared=prepared,
            kept=kept,
            warnings=warnings,
            checked=body.check,
        )
        if body.check or not inputs:
            return answer
        await runtime.commands([stamp(i) for i in inputs])
        return answer.model_copy(update={"seq": runtime.hub.seq})

    def _what_to_run(plan: SittingPlan) -> tuple[list[I.Input], list[str]]:
        """The commands a load runs now, and the votes the open sitting already has; raises
        `CommandRejected` when the hall's state refuses the file."""
        core = runtime.core
        votes = [v.command for v in plan.votes]
        if core.sitting_id == plan.sitting_id:
            if core.agenda != plan.opening.agenda:
                raise CommandRejected("sitting.file_mismatch", sitting=plan.sitting_id)
            kept = [v.vote_id for v in votes if v.vote_id in core.votes]
            return [v for v in votes if v.vote_id not in core.votes], kept
        if core.sitting_id is not None:
            raise CommandRejected("sitting.already_open", sitting=core.sitting_id)
        if any(r.sitting_id == plan.sitting_id for r in core.history):
            raise CommandRejected("sitting.already_held", sitting=plan.sitting_id)
        for vote in votes:
            if core.ballots.vote_id_taken(vote.vote_id):
                raise CommandRejected("vote.exists", vote=vote.vote_id)
        return [plan.opening, *votes], []

    @route(api, "POST", "/sitting/next-vote", CHAIR, "Open the next prepared vote")
    async def next_vote() -> NextVoteOpened:
        inputs = runtime.core.next_vote_inputs(runtime.core.now)
        opening = inputs[-1]
        assert isinstance(opening, I.OpenVote)
        vote = runtime.core.votes[opening.vote_id]
        await runtime.commands([stamp(i) for i in inputs])
        return NextVoteOpened(
            seq=runtime.hub.seq,
            vote_id=opening.vote_id,
            item_id=vote.definition.item_id,
            moved=len(inputs) > 1,
        )
