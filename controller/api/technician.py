"""The technician's resources: the triage (lines worst first, units by trouble, the fault
list, the forced microphones), acknowledging a fault, and identifying a unit.

A fault is acknowledged by its id in the list (`controller/faults.py`); the acknowledgement
is journaled (`fault-ack`) before the answer. Identify asks the unit's driver to blink the
unit's LEDs or ring (keypad and microphone contracts 1.2); the answer says what came of it:
200 once the unit took it, otherwise a refusal with its stable code
(`controller/core/refusals.py`): `identify.not_supported` (its contract version has no
identify), `identify.line_not_supported` (its line's units have none: the MQTT units),
`identify.offline`, `identify.no_reply`, `identify.refused`, `unit.not_found`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field

from chamber.controller.api.deps import STAFF, TECH, Body, Context, Problem
from chamber.controller.core.view import Audience
from chamber.controller.faults import UnknownFault
from chamber.drivers.base import IdentifyOutcome

# The longest identify the contracts carry (a byte of seconds), and the default.
IDENTIFY_MAX_S = 255
IDENTIFY_DEFAULT_S = 10
# How long the API waits for a unit's answer: a few of its line's cycles.
IDENTIFY_WAIT_S = 5.0


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
            raise Problem("fault.not_found", fault=body.id) from None
        return {"ok": True, "seq": runtime.hub.seq, "fault": fault.to_json()}

    @route(api, "POST", "/units/{line}/{address}/identify", TECH, "Blink a unit's LEDs or ring")
    async def identify(line: str, address: int, body: IdentifyIn) -> dict[str, Any]:
        try:
            async with asyncio.timeout(IDENTIFY_WAIT_S):
                result = await runtime.identify(line, address, body.seconds)
        except KeyError:
            raise Problem("unit.not_found", line=line, address=address) from None
        except NotImplementedError:
            raise Problem("identify.line_not_supported", line=line) from None
        except TimeoutError:
            raise Problem("identify.no_reply", line=line, address=address) from None
        where: dict[str, str | int] = {"line": line, "address": address, "seat": result.seat}
        match result.outcome:
            case IdentifyOutcome.STARTED:
                return {
                    "ok": True,
                    "outcome": result.outcome.value,
                    "line": result.line,
                    "address": result.address,
                    "seat": result.seat,
                    "kind": result.kind.value,
                    "seconds": result.seconds,
                }
            case IdentifyOutcome.NOT_SUPPORTED:
                raise Problem(
                    "identify.not_supported",
                    **where,
                    contract=result.contract or "?",
                    needed=result.needed or "?",
                )
            case IdentifyOutcome.OFFLINE:
                raise Problem("identify.offline", **where)
            case IdentifyOutcome.NO_REPLY:
                raise Problem("identify.no_reply", line=line, address=address)
            case _:
                raise Problem("identify.refused", **where, reason=result.detail)
