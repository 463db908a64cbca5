"""Unit and line health follow each fault within a bounded number of poll cycles.

Cycles are counted by the keypad line's own driver in the daemon (`KeypadLine.cycles`), so the
bound holds whatever the machine's speed. The contract (keypad_modbus.yaml, timing) declares a
unit offline after `offline_after_misses` (two) consecutive missed polls, one poll a cycle: a
dead unit shows offline within two poll cycles. A failed exchange is counted in the unit's
health at once, so a silent unit's timeouts and a damaged reply's CRC error show sooner.
"""

from __future__ import annotations

from typing import Any

from chamber.drivers.modbus_line import OFFLINE_AFTER_MISSES
from tests.e2e.conftest import Council

LINE = "keypads-1"
# One cycle may be under way when the fault starts; it does not count as a whole one.
PARTIAL = 1


async def test_crc_errors_show_within_two_cycles(hall: Council) -> None:
    sim, driver = hall.rig.sim, hall.driver(LINE)
    ref = sim.unit_ref(7)
    start = driver.cycles
    sim.faults.corrupt(ref)
    st = await hall.wait(lambda st: hall.health_units(st, LINE)[ref.address]["crc_errors"] > 0)
    assert driver.cycles - start <= 2 + PARTIAL
    assert hall.health_units(st, LINE)[ref.address]["online"]
    sim.faults.corrupt(ref, False)


async def test_silent_unit_shows_timeouts_then_offline(hall: Council) -> None:
    sim, driver = hall.rig.sim, hall.driver(LINE)
    ref = sim.unit_ref(8)

    def unit(st: dict[str, Any]) -> dict[str, Any]:
        return hall.health_units(st, LINE)[ref.address]

    start = driver.cycles
    sim.faults.silence(ref)
    await hall.wait(lambda st: unit(st)["timeouts"] > 0)
    assert driver.cycles - start <= 2 + PARTIAL
    await hall.wait(lambda st: not unit(st)["online"])
    # Offline within two poll cycles: the contract's two misses, one poll a cycle (the second
    # miss falls in a cycle still under way when the unit is declared offline).
    assert OFFLINE_AFTER_MISSES == 2
    assert driver.cycles - start <= OFFLINE_AFTER_MISSES - 1 + PARTIAL
    sim.faults.silence(ref, False)
    await hall.wait(lambda st: unit(st)["online"])


async def test_unplugged_line_shows_down_within_two_cycles(hall: Council) -> None:
    sim, driver = hall.rig.sim, hall.driver("keypads-2")
    start = driver.cycles
    await sim.unplug("keypads-2")
    st = await hall.wait(lambda st: not (hall.health_line(st, "keypads-2") or {})["connected"])
    assert driver.cycles - start <= 2 + PARTIAL
    assert (hall.health_line(st, LINE) or {})["connected"], "the other line stays up"
    await sim.replug("keypads-2")
    await hall.wait(lambda st: bool((hall.health_line(st, "keypads-2") or {})["connected"]))
