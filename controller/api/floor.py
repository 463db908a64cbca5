"""The floor: the speakers' lists, the microphones, chair priority, a technician's override."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chamber.controller.api.deps import (
    CHAIR,
    CHAIR_SECRETARY,
    TECH,
    Accepted,
    Body,
    Context,
)
from chamber.controller.core import inputs as I
from chamber.controller.core.limits import (
    MAX_OPEN_MICS,
    MAX_TURN_S,
    MIN_OPEN_MICS,
)
from chamber.controller.core.model import MicMode, SpeakerList


class SeatListIn(Body):
    seat: Annotated[int, Field(ge=1)]
    list: SpeakerList = SpeakerList.SPEAK


class GrantIn(Body):
    seat: Annotated[int, Field(ge=1)]
    list: SpeakerList | None = None


class NextIn(Body):
    list: SpeakerList | None = None


class RevokeIn(Body):
    seat: Annotated[int, Field(ge=1)] | None = None


class PriorityIn(Body):
    held: bool


class ModeIn(Body):
    mode: MicMode
    max_open: Annotated[int, Field(ge=MIN_OPEN_MICS, le=MAX_OPEN_MICS)] | None = None


class TimeIn(Body):
    list: SpeakerList
    seconds: Annotated[float, Field(ge=0, le=MAX_TURN_S)]


class ExtendIn(Body):
    seat: Annotated[int, Field(ge=1)]
    seconds: Annotated[float, Field(gt=0, le=MAX_TURN_S)]


class MicIn(Body):
    on: bool


def register(ctx: Context) -> None:
    route = ctx.route
    run = ctx.run
    api = ctx.api

    @route(api, "POST", "/floor/register", CHAIR_SECRETARY, "Put a seat on a speakers' list")
    async def register(body: SeatListIn) -> Accepted:
        return await run(lambda at: I.RegisterSpeaker(at, body.seat, body.list))

    @route(api, "POST", "/floor/grant", CHAIR, "Give the floor to a seat")
    async def grant(body: GrantIn) -> Accepted:
        return await run(lambda at: I.GrantFloor(at, body.seat, body.list))

    @route(api, "POST", "/floor/next", CHAIR, "Hand the floor over to the next one waiting")
    async def grant_next(body: NextIn) -> Accepted:
        return await run(lambda at: I.GrantNext(at, body.list, handover=True))

    @route(api, "POST", "/floor/add", CHAIR, "Open the next one's microphone beside those live")
    async def grant_add(body: NextIn) -> Accepted:
        return await run(lambda at: I.GrantNext(at, body.list, add=True))

    @route(api, "POST", "/floor/revoke", CHAIR, "Take the floor or a request away")
    async def revoke(body: RevokeIn) -> Accepted:
        return await run(lambda at: I.RevokeFloor(at, body.seat))

    @route(api, "POST", "/floor/priority", CHAIR, "Chair priority: hold or release")
    async def priority(body: PriorityIn) -> Accepted:
        return await run(lambda at: I.ApiChairPriority(at, body.held))

    @route(api, "POST", "/floor/mode", CHAIR_SECRETARY, "Set the microphone mode and cap")
    async def mode(body: ModeIn) -> Accepted:
        return await run(lambda at: I.SetMicMode(at, body.mode, body.max_open))

    @route(api, "POST", "/floor/time", CHAIR_SECRETARY, "Set the speaking time of a list")
    async def speaking_time(body: TimeIn) -> Accepted:
        return await run(lambda at: I.SetSpeakingTime(at, body.list, body.seconds))

    @route(api, "POST", "/floor/extend", CHAIR, "Give a current speaker more time")
    async def extend(body: ExtendIn) -> Accepted:
        return await run(lambda at: I.ExtendSpeakingTime(at, body.seat, body.seconds))

    @route(api, "POST", "/seats/{seat}/mic", TECH, "Force a seat's microphone on or off")
    async def mic_override(seat: int, body: MicIn) -> Accepted:
        return await run(lambda at: I.MicOverride(at, seat, body.on))
