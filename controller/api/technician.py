"""The technician's resources: the triage (lines worst first, units by trouble, the fault
list, the forced microphones), acknowledging a fault, and identifying a unit.

A fault is acknowledged by its id in the list (`controller/faults.py`); the acknowledgement
is journaled (`fault-ack`) before the answer. Identify asks the unit's driver to blink the
unit's LEDs or ring (keypad and microphone contracts 1.2); the answer says what came of it:
200 once the unit took it, otherwise a problem with a stable `code`:
`identify-not-supported` (its contract has no identify, or its line's units have none),
`identify-offline`, `identify-no-reply`, `identify-refused`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import Field

from chamber.controller.api.deps import STAFF, TECH, Body, Context, Problem, problem_response
from chamber.controller.core.view import Audience
from chamber.controller.faults import UnknownFault
from chamber.drivers.base import IdentifyOutcome

# The longest identify the contracts carry (a byte of seconds), and the default.
IDENTIFY_MAX_S = 255
IDENTIFY_DEFAULT_S = 10
# How long the API waits for a unit's answer: a few of its line's cycles.
IDENTIFY_WAIT_S = 5.0

_STATUS = {
    IdentifyOutcome.NOT_SUPPORTED: 409,
    IdentifyOutcome.OFFLINE: 409,
    IdentifyOutcome.NO_REPLY: 504,
    IdentifyOutcome.REFUSED: 409,
}


class AckIn(Body):
    id: Annotated[str, Field(min_length=1, max_length=200)]


class IdentifyIn(Body):
    seconds: Annotated[int, Field(ge=0, le=IDENTIFY_MAX_S)] = IDENTIFY_DEFAULT_S


def register(ctx: Context) -> None:
    runtime = ctx.runtime
    route = ctx.route
    api = ctx.api

    @route(api, "GET", "/triage", STAFF, "Lines worst first, units by trouble, faults, forced mics")
    async def get_triage() -> dict[str, Any]:
        view: Any = runtime.views()[Audience.TECHNICIAN]
        return dict(view["triage"])

    @route(api, "GET", "/faults", STAFF, "The fault list, per line or unit and kind")
    async def get_faults() -> list[dict[str, Any]]:
        runtime.faults.expire(runtime.clock.now())
        return runtime.faults.snapshot()

    @route(api, "POST", "/faults/ack", TECH, "Acknowledge a fault: marked until it clears")
    async def ack_fault(body: AckIn) -> dict[str, Any]:
        try:
            fault = await runtime.acknowledge_fault(body.id)
        except UnknownFault:
            raise Problem(404, "Not found", f"no fault {body.id!r} in the list") from None
        return {"ok": True, "seq": runtime.hub.seq, "fault": fault.to_json()}

    @route(api, "POST", "/units/{line}/{address}/identify", TECH, "Blink a unit's LEDs or ring")
    async def identify(line: str, address: int, body: IdentifyIn) -> Any:
        try:
            async with asyncio.timeout(IDENTIFY_WAIT_S):
                result = await runtime.identify(line, address, body.seconds)
        except KeyError:
            raise Problem(404, "Not found", f"no unit {address} on line {line}") from None
        except NotImplementedError as exc:
            return _refused("not-supported", str(exc), line, address, body.seconds, 409)
        except TimeoutError:
            return _refused(
                "no-reply",
                f"unit {address} on line {line} did not answer within {IDENTIFY_WAIT_S:g} s",
                line,
                address,
                body.seconds,
                504,
            )
        if result.outcome is IdentifyOutcome.STARTED:
            return {
                "ok": True,
                "outcome": result.outcome.value,
                "line": result.line,
                "address": result.address,
                "seat": result.seat,
                "kind": result.kind.value,
                "seconds": result.seconds,
            }
        detail = f"unit {address} on line {line} (seat {result.seat}): {result.outcome.value}"
        if result.detail:
            detail += f": {result.detail}"
        return _refused(
            result.outcome.value, detail, line, address, body.seconds, _STATUS[result.outcome]
        )


def _refused(
    outcome: str, detail: str, line: str, address: int, seconds: int, status: int
) -> JSONResponse:
    return problem_response(
        status,
        "Identify " + outcome.replace("-", " "),
        detail,
        code=f"identify-{outcome}",
        params={"line": line, "address": address, "seconds": seconds},
    )
