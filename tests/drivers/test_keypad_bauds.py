"""A keypad line at every baud the contract lists: the daemon's driver against the simulator.

A pty moves bytes as fast as the CPU allows, whatever baud rate its settings say. So these
runs exercise the simulator's wire-time model (simulator/wire.py), which hands each reply
to the pty at the instant a real RS-485 line at that baud would have delivered its last
byte: request, t3.5, the unit's turnaround, reply. They show that the driver's timeouts and
pacing fit the line's timing at each rate; they do not show that a given adapter or unit
keeps that timing. Real hardware is for the conformance kit.

A pty also drops the parity bit on this kernel, so the simulated lines run 8N2 (parity
"none"), the contract's other format; 8E1 is checked at the codec level instead
(tests/protocols/test_keypad_timing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import termios
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import pytest
from pymodbus.pdu import ModbusPDU

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import KeypadLock
from chamber.controller.core.inputs import Input, VoteKeyPressed
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.topology import Topology
from chamber.protocols import keypad as kp
from chamber.protocols import modbus_timing
from chamber.simulator.delegates import VoteScript
from chamber.simulator.hall import SimulatedHall
from tests.drivers.conftest import Recorder
from tests.simulator.conftest import small_hall

LINE = "keypads-1"
SEATS = 6
# A bound on a hang, not on speed: at 9600 baud a cycle of 6 keypads is about 0.3 s.
WITHIN_S = 60.0

BAUD_CONSTANTS = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    115200: termios.B115200,
}


def _hall_at(baud: int) -> Topology:
    config = small_hall(serial_seats=SEATS, per_line=SEATS)
    lines = tuple(replace(ln, baud=baud) if ln.id == LINE else ln for ln in config.lines)
    return replace(config, lines=lines)


@dataclass
class Run:
    hall: SimulatedHall
    line: KeypadLine
    inputs: Recorder[Input]
    health: Recorder[UnitHealth | LineHealth]

    def units(self) -> list[UnitHealth]:
        return [h for h in self.line.health() if isinstance(h, UnitHealth)]

    async def cycles(self, n: int) -> None:
        await asyncio.wait_for(self.line.wait_cycles(n), WITHIN_S)


@contextlib.asynccontextmanager
async def _driven(
    hall: SimulatedHall, reply_timeout: Callable[[ModbusPDU], float] | None = None
) -> AsyncIterator[Run]:
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    topology = hall.daemon_config()
    line = topology.line(LINE)
    units = {u.keypad.address: u.seat for u in topology.units if u.keypad and u.keypad.line == LINE}
    driver = KeypadLine(line, units, FakeClock(5.0), inputs, health, response_timeout=reply_timeout)
    task = asyncio.create_task(driver.run())
    try:
        await asyncio.wait_for(driver.ready(), WITHIN_S)
        yield Run(hall, driver, inputs, health)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture(params=sorted(BAUD_CONSTANTS))
async def hall(request: pytest.FixtureRequest) -> AsyncIterator[SimulatedHall]:
    baud = int(request.param)
    async with SimulatedHall(_hall_at(baud), wire_time=True, seed=baud, wall=False) as h:
        assert h.keypad_lines[LINE].wire.baud == baud
        yield h


async def test_every_unit_comes_online_and_a_vote_counts_exactly(hall: SimulatedHall) -> None:
    sim = hall.keypad_lines[LINE]
    baud = sim.wire.baud
    async with _driven(hall) as run:

        def all_online(_: object) -> bool:
            return all(u.online for u in run.units())

        await run.health.wait_for(all_online, WITHIN_S)
        assert all(u.firmware and u.contract for u in run.units())  # identities read
        # The port as the driver opened it: the line's baud, 8N2 (a pty keeps the speed and
        # the stop bits it is given, and drops parity).
        fd = os.open(hall.daemon_config().line(LINE).device or "", os.O_RDONLY | os.O_NOCTTY)
        try:
            cflag, ispeed, ospeed = (termios.tcgetattr(fd)[i] for i in (2, 4, 5))
        finally:
            os.close(fd)
        assert ispeed == ospeed == BAUD_CONSTANTS[baud]
        assert cflag & termios.CSTOPB
        assert cflag & termios.CSIZE == termios.CS8
        assert not cflag & termios.PARENB
        assert run.line.char_format == kp.line_format("none") == modbus_timing.CharFormat("none", 2)

        run.line.send(KeypadLock(None, locked=False, keys=3))
        await run.cycles(2)
        assert all(not u.registers.outputs.locked for u in sim.units.values())
        seats = sorted(u.seat for u in sim.units.values())
        plan = VoteScript(within_s=0.6, change=0.3, change_after_s=0.2).plan(
            seats, random.Random(baud)
        )
        await hall.perform(plan)
        await run.cycles(2)  # one whole cycle after the last press has read every ring
        votes = run.inputs.of_type(VoteKeyPressed)
        counted = {v.seat: v.key for v in votes}
        expected = hall.truth.expected()
        assert counted == dict(expected.choices)
        assert len(counted) == SEATS
        # Each press exactly once, in the order pressed at each seat.
        pressed = [(p.seat, p.key) for p in hall.truth.votes()]
        assert sorted((v.seat, v.key) for v in votes) == sorted(pressed)
        for seat in seats:
            assert [v.key for v in votes if v.seat == seat] == [k for s, k in pressed if s == seat]
        totals: dict[int, int] = {}
        for key in counted.values():
            totals[key] = totals.get(key, 0) + 1
        assert totals == {k: n for k, n in expected.totals.items() if n}


def _old_timeout(baud: int) -> Callable[[ModbusPDU], float]:
    """The timeout of before: one figure for every request, sized for a 37-byte reply."""
    fixed = kp.response_timeout(baud, kp.read_response_bytes(kp.poll_count(card=True)))
    return lambda _request: fixed


@pytest.mark.parametrize("baud", [9600, 19200])
async def test_one_timeout_for_every_request_never_brings_a_unit_online(baud: int) -> None:
    """The wire model holds the identity reply as long as a real line would (44 ms at 19200,
    88 ms at 9600), longer than the old single timeout (35 ms, 58 ms): under it no unit ever
    comes online, where the per-request timeouts bring every one online on the same line."""
    identity = kp.read_identity_request(1)
    async with SimulatedHall(_hall_at(baud), wire_time=True, seed=baud, wall=False) as hall:
        wire = hall.keypad_lines[LINE].wire
        reply_s = wire.exchange_s(len(kp.encode_frame(identity)), kp.longest_reply_bytes(identity))
        assert _old_timeout(baud)(identity) < reply_s < kp.request_timeout(identity, baud)
        async with _driven(hall, _old_timeout(baud)) as run:
            # Two cycles: each unit's identity asked twice (once a cycle: a unit never seen
            # gets no retries), and so it counts as offline (§6.2).
            await run.cycles(2)
            units = run.units()
            assert not any(u.online for u in units)
            # A reply that comes too late lands in the wait for the next unit's, which
            # counts it as a damaged reply: a miss either way.
            assert all(u.timeouts + u.crc_errors >= 2 and not u.firmware for u in units)
            assert not any(h.online for h in run.health.items if isinstance(h, UnitHealth))
        async with _driven(hall) as run:
            await run.health.wait_for(lambda _: all(u.online for u in run.units()), WITHIN_S)
