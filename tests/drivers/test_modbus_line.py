"""The keypad line driver against pymodbus servers serving the codec's keypad model.

RTU runs over a real socat pty pair, TCP over loopback; both the same tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from chamber.controller.config import Line, LineKind
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import Beep, BeepPattern, KeypadLeds, KeypadLock
from chamber.controller.core.inputs import Input, PresenceChanged, VoteKeyPressed
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.modbus_line import OFFLINE_AFTER_MISSES, KeypadLine, Reconnect
from chamber.drivers.mosquitto import free_port
from chamber.protocols import keypad as kp
from tests.drivers.conftest import PtyPair, Recorder, losses
from tests.drivers.keypad_units import Keypads

# address -> seat
UNITS = {1: 11, 2: 12, 3: 13}


@dataclass
class Rig:
    line: KeypadLine
    keypads: Keypads
    inputs: Recorder[Input]
    health: Recorder[UnitHealth | LineHealth]

    def unit(self, seat: int) -> UnitHealth:
        return next(h for h in self.line.health() if isinstance(h, UnitHealth) and h.seat == seat)

    async def cycles(self, n: int) -> None:
        """Wait until the line has completed `n` more poll cycles."""
        await asyncio.wait_for(self.line.wait_cycles(n), 10)


def online(items: list[UnitHealth | LineHealth], seat: int) -> bool:
    last = [h for h in items if isinstance(h, UnitHealth) and h.seat == seat]
    return bool(last) and last[-1].online


@pytest.fixture(params=["rtu", "tcp"])
async def rig(request: pytest.FixtureRequest, pty_pair: PtyPair) -> AsyncIterator[Rig]:
    keypads = Keypads(list(UNITS))
    server: ModbusSerialServer | ModbusTcpServer
    if request.param == "rtu":
        server = keypads.rtu_server(pty_pair.unit)
        # 8N2: a pty carries no parity bit (keypad_modbus.md §2.1 allows both formats).
        line = Line("kp1", LineKind.MODBUS_RTU, pty_pair.master, 115200, None, None, "none")
    else:
        port = free_port()
        server = keypads.tcp_server(port)
        line = Line("kp1", LineKind.MODBUS_TCP, None, 115200, "127.0.0.1", port)
    await server.serve_forever(background=True)
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    driver = KeypadLine(line, UNITS, FakeClock(7.0), inputs, health, min_cycle_s=0.002)
    task = asyncio.create_task(driver.run())
    try:
        await health.wait_for(lambda items: all(online(items, s) for s in UNITS.values()))
        rig = Rig(driver, keypads, inputs, health)
        await rig.cycles(2)  # the first writes (resync of unconfigured units) have landed
        yield rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.shutdown()  # type: ignore[no-untyped-call]


async def test_units_are_configured_from_the_mirror(rig: Rig) -> None:
    for unit in rig.keypads.units.values():
        assert unit.applied_tag != 0  # BOOT cleared: the controller's write landed
        assert unit.outputs.locked  # the power-up mirror: locked, no keys
    assert rig.unit(11).firmware == "1.0.0"
    line = rig.line.health()[0]
    assert isinstance(line, LineHealth)
    assert line.cycle_ms is not None


async def test_a_press_becomes_exactly_one_input(rig: Rig) -> None:
    rig.line.send(KeypadLock(None, locked=False, keys=3))
    await rig.cycles(2)
    assert all(not u.outputs.locked and u.outputs.keys == 3 for u in rig.keypads.units.values())
    rig.keypads.units[2].press(1)
    rig.keypads.units[3].press_presence()
    await rig.inputs.wait_for(lambda items: len(items) >= 2)
    await rig.cycles(3)  # later polls see the same ring: nothing is reported twice
    votes = rig.inputs.of_type(VoteKeyPressed)
    assert [(v.seat, v.key, v.at) for v in votes] == [(12, 1, 7.0)]
    assert [(p.seat, p.present) for p in rig.inputs.of_type(PresenceChanged)] == [(13, True)]


async def test_a_refused_press_is_not_an_input(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chamber.drivers")
    rig.keypads.units[1].press(2)  # keys locked: the unit refuses it
    rig.keypads.units[1].press_presence()
    await rig.inputs.wait_for(lambda items: len(items) >= 1)
    assert rig.inputs.of_type(VoteKeyPressed) == []
    assert any(getattr(r, "event", "") == "press-refused" for r in caplog.records)


async def test_commands_reach_one_unit_and_broadcasts_reach_all(rig: Rig) -> None:
    rig.line.send(KeypadLeds(12, lit=(2,), present=True))
    rig.line.send(Beep(12, BeepPattern.CONFIRM))
    await rig.cycles(2)
    shown = rig.keypads.units[2].outputs
    assert shown.leds == frozenset({2})
    assert shown.presence_led
    assert rig.keypads.units[2].sounded == [kp.Beep.CONFIRM]
    assert rig.keypads.units[1].outputs.leds == frozenset()
    rig.line.send(Beep(None, BeepPattern.WARNING))
    await rig.cycles(2)
    assert all(kp.Beep.WARNING in u.sounded for u in rig.keypads.units.values())
    # A broadcast left the unicast state alone.
    assert rig.keypads.units[2].outputs.presence_led


async def test_a_restarted_unit_is_detected_and_rewritten(rig: Rig) -> None:
    rig.line.send(KeypadLock(13, locked=False, keys=3))
    rig.line.send(KeypadLeds(13, lit=(3,), present=True))
    await rig.cycles(2)
    rig.keypads.units[3].restart()
    assert rig.keypads.units[3].outputs.locked  # power-up state
    await rig.health.wait_for(
        lambda items: any(isinstance(h, UnitHealth) and h.reboots for h in items)
    )
    await rig.cycles(2)
    shown = rig.keypads.units[3].outputs
    assert (shown.locked, shown.keys, shown.leds, shown.presence_led) == (
        False,
        3,
        frozenset({3}),
        True,
    )
    assert rig.unit(13).reboots == 1


async def test_a_silent_unit_goes_offline_without_stalling_the_line(rig: Rig) -> None:
    rig.keypads.silent.add(2)
    start = rig.line.cycles
    await rig.health.wait_for(lambda items: not online(items, 12))
    # Offline after the contract's number of missed polls: one cycle each.
    assert rig.line.cycles - start <= OFFLINE_AFTER_MISSES + 1
    assert rig.unit(12).timeouts >= OFFLINE_AFTER_MISSES
    rig.line.send(KeypadLock(None, locked=False, keys=3))
    await rig.cycles(2)  # the cycle under way may end before the broadcast reached the units
    rig.keypads.units[1].press(3)
    await rig.inputs.wait_for(lambda items: len(items) == 1, within=2.0)
    rig.keypads.silent.discard(2)
    await rig.health.wait_for(lambda items: online(items, 12))
    reports = [h.online for h in rig.health.items if isinstance(h, UnitHealth) and h.seat == 12]
    # Reported lost once (not per poll), then back once.
    assert losses(reports) == 1


async def test_a_damaged_reply_counts_a_crc_error(rig: Rig) -> None:
    rig.keypads.damage_once.add(1)
    await rig.health.wait_for(
        lambda items: any(isinstance(h, UnitHealth) and h.crc_errors for h in items)
    )
    assert rig.unit(11).crc_errors == 1
    assert rig.unit(11).online  # one bad reply is retried, not a lost unit


async def test_a_tcp_line_reconnects_after_the_gateway_restarts() -> None:
    keypads = Keypads([1])
    port = free_port()
    server = keypads.tcp_server(port)
    await server.serve_forever(background=True)
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    inputs: Recorder[Input] = Recorder()
    line = KeypadLine(
        Line("gw1", LineKind.MODBUS_TCP, None, 115200, "127.0.0.1", port),
        {1: 5},
        FakeClock(),
        inputs,
        health,
        reconnect=Reconnect(0.05, 0.2),
        min_cycle_s=0.005,
    )
    task = asyncio.create_task(line.run())
    try:
        await health.wait_for(lambda items: online(items, 5))
        await server.shutdown()  # type: ignore[no-untyped-call]
        await health.wait_for(
            lambda items: any(isinstance(h, LineHealth) and not h.connected for h in items)
        )
        server = keypads.tcp_server(port)
        await server.serve_forever(background=True)
        # Connected twice in all: at the start, and again once the gateway is back.
        await health.wait_for(
            lambda items: sum(isinstance(h, LineHealth) and h.connected for h in items) == 2
        )
        line.send(KeypadLock(5, locked=False, keys=3))
        await line.wait_cycles(2)
        keypads.units[1].press(2)
        await inputs.wait_for(lambda items: len(items) == 1)
        assert [(i.seat, i.key) for i in inputs.items if isinstance(i, VoteKeyPressed)] == [(5, 2)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.shutdown()  # type: ignore[no-untyped-call]
