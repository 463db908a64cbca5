"""A cold start: the first contact with a unit that reports its start is not a restart.

Every microphone unit answers its first POLL with `boot` set (it has just been powered, or
the controller has just started), and every keypad's first poll sets the tracker's baseline.
Neither is a restart: no warning, no restart counted. A unit that restarts later is one.
Against the simulator's units, on its real transports (pty pairs), as the daemon builds the
drivers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input
from chamber.drivers.base import Driver, LineHealth, Settling, UnitHealth
from chamber.drivers.registry import build_drivers
from chamber.drivers.topology import LineKind
from chamber.simulator.hall import SimulatedHall
from tests.drivers.conftest import Recorder
from tests.simulator.conftest import small_hall


def _units(drivers: list[Driver]) -> list[UnitHealth]:
    return [h for d in drivers for h in d.health() if isinstance(h, UnitHealth)]


async def test_a_cold_start_logs_no_restart_and_a_later_restart_counts_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="chamber.drivers")
    async with SimulatedHall(small_hall(serial_seats=8), wire_time=False, seed=5) as hall:
        config = hall.daemon_config()
        health: Recorder[UnitHealth | LineHealth] = Recorder()

        def settle(item: Input) -> None:
            # Durable at once, as the runtime says after its journal commit.
            for driver in drivers:
                if isinstance(driver, Settling):
                    driver.settled([item])

        drivers = build_drivers(config, FakeClock(10.0), settle, health)
        serial = list(drivers)  # no broker given: the keypad and microphone lines
        tasks = [asyncio.create_task(d.run()) for d in serial]
        try:
            await health.wait_for(
                lambda _: bool(_units(serial)) and all(u.online for u in _units(serial))
            )
            mic_line = next(line.id for line in config.lines if line.kind is LineKind.MIC_SERIAL)
            sim = hall.mic_lines[mic_line]
            # Every mic unit restored and told so: out of its boot state.
            await sim.wait_until(lambda: not any(u.state.boot for u in sim.units.values()))
            units = _units(serial)
            assert {u.kind.value for u in units} == {"keypad", "mic"}
            assert [u for u in units if u.reboots] == []
            events = [getattr(r, "event", "") for r in caplog.records]
            assert "unit-rebooted" not in events
            assert events.count("unit-first-contact") == sum(u.kind.value == "mic" for u in units)

            address, unit = next(iter(sorted(sim.units.items())))
            sim.reboot(address)
            await health.wait_for(
                lambda _: any(u.seat == unit.seat and u.reboots == 1 for u in _units(serial))
            )
            events = [getattr(r, "event", "") for r in caplog.records]
            assert events.count("unit-rebooted") == 1
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
