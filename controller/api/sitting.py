"""The sitting, its agenda, the attendance registration (a roll call), presence by hand, the
reason for an absence and a delegate moved to another seat."""

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
from chamber.controller.core.limits import MAX_SEAT_REASON

# A reason for the minutes: at least one character that is not a space.
Reason = Annotated[str, Field(min_length=1, max_length=MAX_SEAT_REASON, pattern=r"\S")]


class AgendaItemIn(Body):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=500)]


class OpenSittingIn(Body):
    sitting_id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=500)]
    agenda: list[AgendaItemIn] = []  # noqa: RUF012 (a pydantic field: copied per request)


class PresenceIn(Body):
    present: bool
    reason: Reason


class AbsenceIn(Body):
    # With leave (vắng có lý do) or without.
    excused: bool
    reason: Reason


class AttendanceIn(Body):
    # A roll call (điểm danh): each delegate confirms on the seat's unit. False: everyone
    # present while the registration is open is registered.
    confirm: bool = True


class MoveIn(Body):
    to_seat: Annotated[int, Field(ge=1)]
    reason: Reason


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

    @route(api, "POST", "/attendance/open", CHAIR, "Start a roll call (điểm danh)")
    async def open_attendance(body: AttendanceIn | None = None) -> Accepted:
        confirm = True if body is None else body.confirm
        return await run(lambda at: I.OpenAttendance(at, confirm))

    @route(api, "POST", "/attendance/close", CHAIR, "Close the attendance registration")
    async def close_attendance() -> Accepted:
        return await run(lambda at: I.CloseAttendance(at))

    @route(
        api, "POST", "/seats/{seat}/presence", CHAIR_SECRETARY, "Mark a seat present/absent, why"
    )
    async def set_presence(seat: int, body: PresenceIn) -> Accepted:
        return await run(lambda at: I.SetPresence(at, seat, body.present, body.reason))

    @route(
        api,
        "POST",
        "/seats/{seat}/absence",
        CHAIR_SECRETARY,
        "Record why the seat's delegate is absent (with leave or not), for the minutes",
    )
    async def record_absence(seat: int, body: AbsenceIn) -> Accepted:
        return await run(lambda at: I.RecordAbsence(at, seat, body.excused, body.reason))

    @route(
        api, "POST", "/seats/{seat}/move", CHAIR_SECRETARY, "Move the seat's delegate to a spare"
    )
    async def move_delegate(seat: int, body: MoveIn) -> Accepted:
        return await run(lambda at: I.MoveDelegate(at, seat, body.to_seat, body.reason))
