"""Identify: the drivers ask a unit to blink, against the simulator's units on pty pairs.

A keypad of contract 1.2 blinks its LEDs for the seconds asked (keypad_modbus.md §3.7), a
microphone unit of 1.2 its light ring (mic_unit.md §5.10). A keypad of 1.1 is never sent
the write and the technician hears "not supported"; a microphone unit of 1.1 answers the
command as unknown, which says the same, and is not asked again before it restarts. Nothing
else on the line changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input
from chamber.drivers.base import (
    Driver,
    Identifying,
    IdentifyOutcome,
    LineHealth,
    Settling,
    UnitHealth,
)
from chamber.drivers.mic_line import MicLine
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.registry import build_drivers
from chamber.drivers.topology import LineKind
from chamber.simulator.hall import SimulatedHall
from tests.drivers.conftest import Recorder
from tests.simulator.conftest import small_hall


@dataclass
class Rig:
    hall: SimulatedHall
    drivers: list[Driver]
    health: Recorder[UnitHealth | LineHealth]

    def line(self, kind: LineKind) -> str:
        config = self.hall.daemon_config()
        return next(line.id for line in config.lines if line.kind is kind)

    def driver(self, line_id: str) -> Identifying:
        found = next(d for d in self.drivers if d.name == line_id)
        assert isinstance(found, Identifying)
        return found

    def units(self) -> list[UnitHealth]:
        return [h for d in self.drivers for h in d.health() if isinstance(h, UnitHealth)]


def _now() -> float:
    return asyncio.get_running_loop().time()


@contextlib.asynccontextmanager
async def _rig(prepare: object = None) -> AsyncIterator[Rig]:
    async with SimulatedHall(small_hall(serial_seats=4), wire_time=False, seed=3) as hall:
        if callable(prepare):
            prepare(hall)
        health: Recorder[UnitHealth | LineHealth] = Recorder()

        def settle(item: Input) -> None:
            for driver in drivers:
                if isinstance(driver, Settling):
                    driver.settled([item])

        drivers = build_drivers(hall.daemon_config(), FakeClock(5.0), settle, health)
        rig = Rig(hall, drivers, health)
        tasks = [asyncio.create_task(d.run()) for d in drivers]
        try:
            await health.wait_for(lambda _: all(u.online for u in rig.units()))
            for sim in hall.mic_lines.values():  # restored after their start, told so
                await sim.wait_until(lambda s=sim: not any(u.state.boot for u in s.units.values()))
            yield rig
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def test_a_keypad_blinks_for_the_seconds_asked_and_stops_on_zero() -> None:
    async with _rig() as rig:
        line_id = rig.line(LineKind.MODBUS_RTU)
        driver = rig.driver(line_id)
        assert isinstance(driver, KeypadLine)
        sim = rig.hall.keypad_lines[line_id]
        address = min(sim.units)
        unit = sim.units[address]
        shown = unit.registers.outputs
        result = await driver.identify(address, 30)
        assert (result.outcome, result.seconds, result.seat) == (
            IdentifyOutcome.STARTED,
            30,
            unit.seat,
        )
        assert unit.blinking(_now())
        assert unit.blink_until is not None
        assert unit.blink_until - _now() <= 30
        assert not any(u.blinking(_now()) for a, u in sim.units.items() if a != address)
        # The outputs the controller set are the unit's still: identifying changed nothing.
        assert unit.registers.outputs == shown
        stopped = await driver.identify(address, 0)
        assert stopped.outcome is IdentifyOutcome.STARTED
        assert not unit.blinking(_now())


async def test_a_keypad_of_contract_1_1_is_never_sent_it_and_says_not_supported() -> None:
    def older(hall: SimulatedHall) -> None:
        for sim in hall.keypad_lines.values():
            sim.units[min(sim.units)].install_firmware((1, 1))

    async with _rig(older) as rig:
        line_id = rig.line(LineKind.MODBUS_RTU)
        driver = rig.driver(line_id)
        sim = rig.hall.keypad_lines[line_id]
        old, current = sorted(sim.units)[:2]
        before = sim.requests
        result = await driver.identify(old, 10)
        assert result.outcome is IdentifyOutcome.NOT_SUPPORTED
        assert "1.1" in result.detail
        assert "1.2" in result.detail
        assert not sim.units[old].blinking(_now())
        # Answered from what the identity said, without a word on the line for it.
        assert sim.units[old].registers.identify_s is None
        assert sim.requests - before <= len(sim.units) * 3  # polls only
        assert (await driver.identify(current, 10)).outcome is IdentifyOutcome.STARTED
        assert sim.units[current].blinking(_now())


async def test_a_microphone_unit_blinks_and_one_of_1_1_refuses_until_it_restarts() -> None:
    def older(hall: SimulatedHall) -> None:
        for sim in hall.mic_lines.values():
            sim.units[min(sim.units)].install_firmware((1, 1))

    async with _rig(older) as rig:
        line_id = rig.line(LineKind.MIC_SERIAL)
        driver = rig.driver(line_id)
        assert isinstance(driver, MicLine)
        sim = rig.hall.mic_lines[line_id]
        old, current = sorted(sim.units)[:2]
        result = await driver.identify(current, 12)
        assert result.outcome is IdentifyOutcome.STARTED
        assert sim.units[current].blinking(_now())
        assert not sim.units[old].blinking(_now())

        refused = await driver.identify(old, 12)
        assert refused.outcome is IdentifyOutcome.NOT_SUPPORTED
        assert "1.2" in refused.detail
        heard = sim.requests
        # Known now: answered at once, nothing more sent to it.
        again = await driver.identify(old, 12)
        assert again.outcome is IdentifyOutcome.NOT_SUPPORTED
        assert not sim.units[old].blinking(_now())
        assert sim.requests - heard < 20  # polls of the line only, no IDENTIFY retried

        # New firmware comes with a restart: asked again, and it blinks.
        sim.units[old].install_firmware((1, 2))
        seat = sim.units[old].seat
        await rig.health.wait_for(
            lambda _: any(u.seat == seat and u.reboots == 1 for u in rig.units())
        )
        assert (await driver.identify(old, 5)).outcome is IdentifyOutcome.STARTED
        assert sim.units[old].blinking(_now())


async def test_an_offline_unit_is_reported_offline_and_a_bad_request_is_an_error() -> None:
    async with _rig() as rig:
        line_id = rig.line(LineKind.MODBUS_RTU)
        driver = rig.driver(line_id)
        sim = rig.hall.keypad_lines[line_id]
        address = max(sim.units)
        seat = sim.units[address].seat
        rig.hall.faults.silence(sim.units[address].ref)
        await rig.health.wait_for(
            lambda _: any(u.seat == seat and not u.online for u in rig.units()), within=10
        )
        result = await driver.identify(address, 10)
        assert result.outcome is IdentifyOutcome.OFFLINE
        rig.hall.faults.clear()
        with pytest.raises(ValueError, match=r"0\.\.255"):
            await driver.identify(address, 256)
        with pytest.raises(KeyError):
            await driver.identify(999, 1)
