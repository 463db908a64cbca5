"""A running daemon on a hall half commissioned, with the simulator's units on pty pairs.

Seats 1-4 are wired (keypads and mic units 1-4) and served by the daemon's drivers; seats
5-8 are not. On the keypad line a second unit answers at 3 (a duplicate address) and three
factory-new keypads sit at the factory address 247; on the mic line a second unit answers
at 2 and three mic units are unassigned. The API tests and the console's commissioning view
both start from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomlkit

from chamber.controller.auth import Role, TokenStore
from chamber.controller.commissioning import Commissioning
from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.model import MicClass
from chamber.controller.daemon import Daemon
from chamber.controller.hallgen import HallSpec, generate
from chamber.drivers.registry import build_drivers
from chamber.drivers.topology import Line, LineKind, UnitRef
from chamber.protocols import keypad as kp
from chamber.protocols import micunit as mic
from chamber.simulator.delegates import GroundTruth
from chamber.simulator.faults import Faults
from chamber.simulator.keypads import KeypadLineSim, KeypadUnitSim, keypad_wire_time
from chamber.simulator.miclines import MicLineSim, MicUnitSim, mic_wire_time

KEYPADS = "keypads-1"
MICS = "mics-1"
SEATS = 8
WIRED = 4
NEW_KEYPADS = [f"KP-NEW-{i:04d}" for i in range(1, 4)]
NEW_MICS = [0x4D43_0100 + i for i in range(1, 4)]
WAIT_S = 60.0


def hall_text(run: Path) -> str:
    """8 seats on one keypad and one mic line at the simulator's ptys; seats 5-8 unwired."""
    spec = HallSpec(
        hall_id="commission-hall",
        body="Hội đồng nhân dân thử nghiệm",
        short_name="HĐND thử",
        seats=SEATS,
        language="vi",
        serial_seats=SEATS,
        tcp_seats=0,
        per_line=SEATS,
        columns=4,
        seed=3,
    )
    doc = tomlkit.parse(generate(spec))
    for line in doc["lines"]:  # type: ignore[union-attr]
        line["device"] = str(run / str(line["id"]))
        if line["kind"] == "modbus-rtu":
            line["parity"] = "none"  # a pty pair carries no parity (8N2 by the contract)
    for seat in doc["seats"]:  # type: ignore[union-attr]
        if int(seat["number"]) > WIRED:
            for key in ("keypad", "mic"):
                if key in seat:
                    del seat[key]
    return "# The council's hall: wired by hand so far.\n" + tomlkit.dumps(doc)


@dataclass
class CommissionHall:
    hall_file: Path
    keypads: KeypadLineSim
    mics: MicLineSim
    daemon: Daemon
    clock: FakeClock
    journal: Path
    tokens: dict[Role, str]
    changed: asyncio.Event

    @property
    def commissioning(self) -> Commissioning:
        found: Commissioning = self.daemon.app.state.commissioning
        return found

    def client(self, role: Role = Role.TECHNICIAN, language: str = "en") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.daemon.url,
            headers={"Authorization": f"Bearer {self.tokens[role]}", "Accept-Language": language},
            timeout=WAIT_S,
        )

    async def until(self, predicate: Callable[[], bool], within: float = WAIT_S) -> None:
        """Until `predicate()` holds, woken whenever a simulated unit answers a request."""
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def _watch(host: Any, changed: asyncio.Event) -> None:
    answer = host._answer_all

    @functools.wraps(answer)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return answer(*args, **kwargs)
        finally:
            changed.set()

    host._answer_all = wrapped


@contextlib.asynccontextmanager
async def commission_hall(tmp_path: Path) -> AsyncIterator[CommissionHall]:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(hall_text(tmp_path), encoding="utf-8")
    faults, truth = Faults(random.Random(1)), GroundTruth()
    kline = Line(KEYPADS, LineKind.MODBUS_RTU, str(tmp_path / KEYPADS), 115200, None, None)
    mline = Line(MICS, LineKind.MIC_SERIAL, str(tmp_path / MICS), 115200, None, None)
    keypads = [KeypadUnitSim(n, UnitRef(KEYPADS, n), f"KP-OLD-{n:04d}") for n in range(1, 5)]
    keypads.append(KeypadUnitSim(0, UnitRef(KEYPADS, 3), "KP-DUP-000B"))
    keypads += [KeypadUnitSim(0, UnitRef(KEYPADS, kp.FACTORY_ADDRESS), s) for s in NEW_KEYPADS]
    mics = [
        MicUnitSim(n, UnitRef(MICS, n), MicClass.DELEGATE, 0x4D43_0000 + n) for n in range(1, 5)
    ]
    mics.append(MicUnitSim(0, UnitRef(MICS, 2), MicClass.DELEGATE, 0x4D43_0202))
    mics += [MicUnitSim(0, UnitRef(MICS, mic.UNASSIGNED), MicClass.DELEGATE, s) for s in NEW_MICS]
    ksim = KeypadLineSim(
        kline,
        keypads,
        daemon_link=tmp_path / KEYPADS,
        unit_link=tmp_path / f"{KEYPADS}.units",
        wire=keypad_wire_time(115200, False),
        faults=faults,
        truth=truth,
    )
    msim = MicLineSim(
        mline,
        mics,
        daemon_link=tmp_path / MICS,
        unit_link=tmp_path / f"{MICS}.units",
        wire=mic_wire_time(115200, False),
        faults=faults,
        truth=truth,
    )
    changed = asyncio.Event()
    _watch(ksim, changed)
    await ksim.start()
    await msim.start()
    store = TokenStore()
    tokens = {role: store.add(role.value, role) for role in (Role.CHAIR, Role.TECHNICIAN)}
    clock = FakeClock(10.0)
    journal = tmp_path / "hall.journal"
    config = load_config(hall_file)
    try:
        async with Daemon(
            config,
            journal,
            store,
            port=0,
            clock=clock,
            driver_factory=lambda c, k, sink, health: build_drivers(c, k, sink, health),
        ) as daemon:
            yield CommissionHall(hall_file, ksim, msim, daemon, clock, journal, tokens, changed)
    finally:
        await ksim.stop()
        await msim.stop()
