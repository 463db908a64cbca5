"""Commissioning a line from the technician's screen, through the running daemon.

The daemon owns its lines, so a step (scan, assign, identify) first releases the line
(`Runtime.line_released`: refused while a vote or attendance is open, the line's driver
stopped), then runs `chamber commission`'s own steps (`controller/commission.py`) on the
port, and gives the line back to a fresh driver. A scan and an assignment run in the
background (their progress is read with `state`); an identify is answered when the unit
took it. Every step is journaled as a technician action (`CommissionStep`): what was
scanned and what answered, what addresses were given, which unit blinked, that the hall
file was written.

The hall file's change is the topology of the last scan (`commission.topology_text`, its
comments kept), shown as a diff and written on request to the file the daemon was started
with. The running daemon keeps the wiring it started with: the write says a restart is
needed, and the state says so until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from chamber.controller import commission as cm
from chamber.controller.core.i18n import refusal_text
from chamber.controller.core.inputs import CommissionStep
from chamber.controller.core.model import Language
from chamber.controller.runtime import LineHeld, Runtime
from chamber.drivers.topology import Line, LineKind

log = logging.getLogger("chamber.commissioning")


class Phase(StrEnum):
    IDLE = "idle"
    SCANNING = "scanning"
    ASSIGNING = "assigning"
    DONE = "done"
    FAILED = "failed"


class Refused(Exception):
    """A commissioning step refused: a code of the refusal table and its parameters."""

    def __init__(self, code: str, **params: str | int) -> None:
        self.code = code
        self.params = params
        super().__init__(refusal_text(Language.EN, code, params))


@dataclass
class LineState:
    """Where one line's commissioning stands."""

    line: str
    kind: str
    phase: Phase = Phase.IDLE
    done: int = 0
    total: int = 0
    addresses: list[int] = field(default_factory=list)
    scan: cm.Scan | None = None
    assigned: list[cm.Assignment] = field(default_factory=list)
    error: cm.CommissionError | None = None
    task: asyncio.Task[None] | None = None

    @property
    def unit_kind(self) -> cm.Kind:
        return cm.Kind.MIC if self.kind == LineKind.MIC_SERIAL.value else cm.Kind.KEYPAD

    def to_json(self, language: Language) -> dict[str, Any]:
        scan = self.scan
        units = [] if scan is None else sorted(scan.units, key=lambda u: (u.address, u.serial))
        plan: list[cm.Assignment] = []
        if scan is not None:
            with contextlib.suppress(cm.CommissionError):
                plan = cm.plan_for(self.unit_kind, scan)
        return {
            "line": self.line,
            "kind": self.kind,
            "phase": self.phase.value,
            "done": self.done,
            "total": self.total,
            "scanned": scan is not None,
            "units": [
                {
                    "address": u.address,
                    "serial": u.serial,
                    "firmware": u.firmware,
                    "contract": u.contract,
                    "features": list(u.features),
                    "status": scan.status(u) if scan is not None else "ok",
                }
                for u in units
            ],
            "need_address": len(plan),
            "assigned": [{"serial": a.serial, "old": a.old, "new": a.new} for a in self.assigned],
            "error": None if self.error is None else self.error.text(language.value),
        }


class Commissioning:
    """The daemon's commissioning of its lines: one `LineState` per line asked about."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lines: dict[str, LineState] = {}
        # Set once the hall file was written: the running wiring is the one it started with.
        self.restart_needed = False

    # --- the line -------------------------------------------------------------------

    def _line(self, line_id: str) -> Line:
        line = next((ln for ln in self.runtime.config.lines if ln.id == line_id), None)
        if line is None:
            raise Refused("commission.line_not_found", line=line_id)
        if line.kind is LineKind.MODBUS_TCP or line.device is None:
            raise Refused("commission.not_serial", line=line_id)
        return line

    def state(self, line_id: str) -> LineState:
        line = self._line(line_id)
        found = self.lines.get(line_id)
        if found is None:
            found = self.lines[line_id] = LineState(line_id, line.kind.value)
        return found

    def _check_free(self, line_id: str) -> LineState:
        state = self.state(line_id)
        if state.task is not None and not state.task.done():
            raise Refused("commission.busy", line=line_id)
        held = self.runtime._vote_or_attendance_open()
        if held is not None:
            raise Refused(f"commission.{held}_open", line=line_id)
        return state

    @contextlib.asynccontextmanager
    async def _bus(self, line_id: str) -> AsyncIterator[cm.Bus]:
        try:
            async with self.runtime.line_released(line_id) as line:
                bus = cm.open_bus(line)
                try:
                    yield bus
                finally:
                    bus.close()
        except LineHeld as exc:
            raise Refused(f"commission.{exc.what}_open", line=line_id) from None

    async def _journal(self, line: str, action: str, units: Sequence[str] = ()) -> None:
        await self.runtime.command(lambda at: CommissionStep(at, line, action, tuple(units)))

    def _background(
        self, state: LineState, phase: Phase, work: Callable[[cm.Bus], Awaitable[None]]
    ) -> None:
        state.phase, state.error, state.done, state.total = phase, None, 0, 0

        async def job() -> None:
            try:
                async with self._bus(state.line) as bus:
                    await work(bus)
                state.phase = Phase.DONE
            except cm.CommissionError as exc:
                state.phase, state.error = Phase.FAILED, exc
                log.warning(
                    "commissioning line %s failed: %s",
                    state.line,
                    exc,
                    extra={"event": "commission-failed", "line": state.line},
                )
            except Refused as exc:
                state.phase = Phase.FAILED
                state.error = cm.CommissionError("hall", detail=exc)
            finally:
                self.runtime._refresh_soon()

        state.task = asyncio.create_task(job(), name=f"commission:{state.line}")

    def _progress(self, state: LineState) -> cm.Progress:
        def told(done: int, total: int) -> None:
            state.done, state.total = done, total

        return told

    async def finished(self, line_id: str) -> LineState:
        """The line's state once the step running on it (if any) is over."""
        state = self.state(line_id)
        if state.task is not None:
            await asyncio.shield(state.task)
        return state

    # --- the steps ------------------------------------------------------------------

    def start_scan(self, line_id: str, addresses: Iterable[int]) -> LineState:
        """Scan the line in the background: keypad identity reads over `addresses` (and the
        factory address), or a mic line's DISCOVER rounds."""
        state = self._check_free(line_id)
        state.addresses = cm.scan_addresses(addresses)
        state.assigned = []

        async def work(bus: cm.Bus) -> None:
            found = await cm.scan(bus, state.addresses, self._progress(state))
            state.scan = found
            await self._journal(
                state.line, "scan", [f"{u.address}:{u.serial}" for u in found.units]
            )

        self._background(state, Phase.SCANNING, work)
        return state

    def start_assign(self, line_id: str) -> LineState:
        """Give the factory-new and duplicate units of the last scan addresses (by serial),
        and scan again until each has one of its own (`commission.assign_and_rescan`)."""
        state = self._check_free(line_id)
        if state.scan is None:
            raise Refused("commission.no_scan", line=line_id)
        before = state.scan

        async def work(bus: cm.Bus) -> None:
            steps: list[cm.Assignment] = []

            def on_pass(done: Sequence[cm.Assignment], rescan: cm.Scan) -> None:
                steps.extend(done)
                state.assigned = list(steps)
                state.scan = rescan

            try:
                await cm.assign_and_rescan(
                    bus, before, state.addresses, on_pass=on_pass, progress=self._progress(state)
                )
            finally:
                if steps:
                    await self._journal(
                        state.line, "assign", [f"{a.serial}:{a.old}->{a.new}" for a in steps]
                    )

        self._background(state, Phase.ASSIGNING, work)
        return state

    async def identify(self, line_id: str, address: int, seconds: int) -> None:
        """Blink the unit at `address` (the line released for it, then given back)."""
        self._check_free(line_id)
        async with self._bus(line_id) as bus:
            await cm.identify(bus, address, seconds)
        await self._journal(line_id, "identify", [str(address)])

    # --- the hall file ----------------------------------------------------------------

    def _hall_file(self) -> Path:
        source = self.runtime.config.source
        if source is None:
            raise Refused("commission.no_hall_file")
        return Path(source)

    def change(self, line_id: str, *, map_seats: bool) -> tuple[Path, str, str]:
        """The hall file now, and as the last scan of `line_id` makes it: (path, before,
        after). Refused before a scan, and while units still need an address."""
        state = self.state(line_id)
        if state.task is not None and not state.task.done():
            raise Refused("commission.busy", line=line_id)
        if state.scan is None:
            raise Refused("commission.no_scan", line=line_id)
        need = cm.plan_for(state.unit_kind, state.scan)
        if need:
            raise Refused("commission.unsettled", line=line_id, units=len(need))
        path = self._hall_file()
        before = path.read_text(encoding="utf-8")
        after = cm.topology_text(before, self._line(line_id), state.scan.units, map_seats=map_seats)
        return path, before, after

    async def write(self, line_id: str, *, map_seats: bool) -> tuple[Path, str]:
        """Write the change to the hall file (journaled); returns the path and the diff."""
        path, before, after = self.change(line_id, map_seats=map_seats)
        change = cm.diff(before, after, path.name)
        if change:
            tmp = path.with_name(path.name + ".commission")
            tmp.write_text(after, encoding="utf-8")
            tmp.replace(path)
            self.restart_needed = True
            await self._journal(line_id, "write")
            log.info(
                "hall file %s written from the commissioning of line %s: restart the daemon",
                path.name,
                line_id,
                extra={"event": "commission-written", "line": line_id},
            )
        return path, change
