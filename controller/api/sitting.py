"""The sitting, its agenda, the attendance registration and presence by hand."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chamber.controller.api.deps import (
    CHAIR,
    CHAIR_SECRETARY,
    Accepted,
    Body,
    Context,
)
from chamber.controller.core import inputs as I


class AgendaItemIn(Body):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=500)]


class OpenSittingIn(Body):
    sitting_id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=500)]
    agenda: list[AgendaItemIn] = []  # noqa: RUF012 (a pydantic field: copied per request)


class PresenceIn(Body):
    present: bool


def register(ctx: Context) -> None:
    route = ctx.route
    run = ctx.run
    api = ctx.api

    @route(api, "POST", "/sitting/open", CHAIR_SECRETARY, "Open a sitting with its agenda")
    async def open_sitting(body: OpenSittingIn) -> Accepted:
        agenda = tuple(I.AgendaItemSpec(a.id, a.title) for a in body.agenda)
        return await run(lambda at: I.OpenSitting(at, body.sitting_id, body.title, agenda))

    @route(api, "POST", "/sitting/close", CHAIR, "Close the sitting")
    async def close_sitting() -> Accepted:
        return await run(lambda at: I.CloseSitting(at))

    @route(api, "POST", "/agenda/{item_id}/current", CHAIR_SECRETARY, "Make an item current")
    async def set_item(item_id: str) -> Accepted:
        return await run(lambda at: I.SetCurrentItem(at, item_id))

    @route(api, "POST", "/attendance/open", CHAIR, "Open an attendance registration")
    async def open_attendance() -> Accepted:
        return await run(lambda at: I.OpenAttendance(at))

    @route(api, "POST", "/attendance/close", CHAIR, "Close the attendance registration")
    async def close_attendance() -> Accepted:
        return await run(lambda at: I.CloseAttendance(at))

    @route(api, "POST", "/seats/{seat}/presence", CHAIR_SECRETARY, "Mark a seat present/absent")
    async def set_presence(seat: int, body: PresenceIn) -> Accepted:
        return await run(lambda at: I.SetPresence(at, seat, body.present))
