"""The technician's resources: the triage (lines worst first, units by trouble, the fault
list, the forced microphones), acknowledging a fault, and identifying a unit.

A fault is acknowledged by its id in the list (`controller/faults.py`); the acknowledgement
is journaled (`fault-ack`) before the answer. Identify asks the unit's driver to blink the
unit's LEDs or ring (keypad and microphone contracts 1.2); the answer says what came of it:
200 once the unit took it, otherwise a refusal with its stable code
(`controller/core/refusals.py`): `identify.not_supported` (its contract version has no
identify), `identify.line_not_supported` (its line's units have none: the MQTT units),
`identify.offline`, `identify.no_reply`, `identify.refused`, `unit.not_found`.

Commissioning a line (`controller/commissioning.py`, under /api/commission/{line}): start a
scan, read its progress and result, assign addresses, blink a unit, see the hall file's
change as a diff and write it. Refusals: `commission.vote_open` and
`commission.attendance_open` (the line's units are in use), `commission.busy` (a step is
running), `commission.no_scan`, `commission.unsettled` (units still without an address of
their own), `commission.line_not_found`, `commission.not_serial`,
`commission.no_hall_file`, `commission.failed` (the units did not do what was asked).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Request
from pydantic import Field

from chamber.controller import commission as cm
from chamber.controller.api.deps import STAFF, TECH, Body, Context, Problem, request_language
from chamber.controller.commissioning import Refused
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


KEYPAD_LAST = 247


class ScanIn(Body):
    """The keypad addresses to read (the factory address is always read too); a mic line
    is scanned by DISCOVER rounds and takes no addresses."""

    first: Annotated[int, Field(ge=1, le=KEYPAD_LAST)] = 1
    last: Annotated[int, Field(ge=1, le=KEYPAD_LAST)] = KEYPAD_LAST


class CommissionIdentifyIn(Body):
    address: Annotated[int, Field(ge=1, le=KEYPAD_LAST)]
    seconds: Annotated[int, Field(ge=1, le=IDENTIFY_MAX_S)] = IDENTIFY_DEFAULT_S


class WriteIn(Body):
    map_seats: bool = True


def _problem(exc: Refused) -> Problem:
    return Problem(exc.code, **exc.params)


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

    commissioning = ctx.commissioning

    def answer(line: str, request: Request) -> dict[str, Any]:
        try:
            state = commissioning.state(line)
        except Refused as exc:
            raise _problem(exc) from None
        return state.to_json(request_language(request)) | {
            "restart_needed": commissioning.restart_needed
        }

    @route(api, "GET", "/commission/{line}", TECH, "A line's commissioning: progress and units")
    async def commission_state(line: str, request: Request) -> dict[str, Any]:
        return answer(line, request)

    @route(api, "POST", "/commission/{line}/scan", TECH, "Scan a line for its units")
    async def commission_scan(line: str, body: ScanIn, request: Request) -> dict[str, Any]:
        try:
            commissioning.start_scan(line, range(body.first, max(body.first, body.last) + 1))
        except Refused as exc:
            raise _problem(exc) from None
        return answer(line, request)

    @route(api, "POST", "/commission/{line}/assign", TECH, "Give units that need one an address")
    async def commission_assign(line: str, request: Request) -> dict[str, Any]:
        try:
            commissioning.start_assign(line)
        except Refused as exc:
            raise _problem(exc) from None
        return answer(line, request)

    @route(api, "POST", "/commission/{line}/identify", TECH, "Blink a unit while commissioning")
    async def commission_identify(
        line: str, body: CommissionIdentifyIn, request: Request
    ) -> dict[str, Any]:
        try:
            await commissioning.identify(line, body.address, body.seconds)
        except Refused as exc:
            raise _problem(exc) from None
        except cm.CommissionError as exc:
            reason = exc.text(request_language(request).value)
            raise Problem("commission.failed", line=line, reason=reason) from None
        return {"ok": True, "line": line, "address": body.address, "seconds": body.seconds}

    @route(api, "GET", "/commission/{line}/diff", TECH, "The hall file's change, as a diff")
    async def commission_diff(
        line: str, request: Request, map_seats: bool = True
    ) -> dict[str, Any]:
        try:
            path, before, after = commissioning.change(line, map_seats=map_seats)
        except Refused as exc:
            raise _problem(exc) from None
        except cm.CommissionError as exc:
            reason = exc.text(request_language(request).value)
            raise Problem("commission.failed", line=line, reason=reason) from None
        change = cm.diff(before, after, path.name)
        return {"line": line, "file": path.name, "diff": change, "changed": bool(change)}

    @route(api, "POST", "/commission/{line}/write", TECH, "Write the change to the hall file")
    async def commission_write(line: str, body: WriteIn, request: Request) -> dict[str, Any]:
        try:
            path, change = await commissioning.write(line, map_seats=body.map_seats)
        except Refused as exc:
            raise _problem(exc) from None
        except cm.CommissionError as exc:
            reason = exc.text(request_language(request).value)
            raise Problem("commission.failed", line=line, reason=reason) from None
        return {
            "ok": True,
            "line": line,
            "file": path.name,
            "diff": change,
            "written": bool(change),
            "restart_needed": commissioning.restart_needed,
        }
