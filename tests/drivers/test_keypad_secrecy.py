"""A secret vote leaves no choice in the keypads, and a keypad of an older contract is served.

The keypad line driver runs against the simulator's keypads on a real pty pair, with the
meeting core between its inputs and its commands as the runtime puts it (journal aside:
each input is settled as soon as the core has it). After the close an independent Modbus
master, mbpoll on libmodbus, reads every keypad's status block and outputs: the expected
register layout is taken from the contract's YAML by hand, not through the keypad codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import Effect, ForgetEvents, UnitCommand
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    CloseVote,
    CreateVote,
    Input,
    OpenSitting,
    OpenVote,
)
from chamber.controller.core.model import VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.modbus_line import KeypadLine
from chamber.firmware_specs import load_spec
from chamber.protocols import keypad as kp
from chamber.simulator.hall import SimulatedHall
from tests.simulator.conftest import small_hall

SPEC = load_spec("keypad_modbus.yaml")
LINE = "keypads-1"
_VALUE = re.compile(r"^\[(\d+)\]:\s+(-?\d+)$", re.MULTILINE)


def _block(name: str) -> tuple[int, int]:
    block = SPEC["blocks"][name]
    return int(block["start"]), sum(int(r["count"]) for r in block["registers"])


def _offset(block: str, register: str) -> int:
    for reg in SPEC["blocks"][block]["registers"]:
        if reg["name"] == register:
            return int(reg["offset"])
    raise KeyError(register)


async def _mbpoll(device: str, unit: int, table: str, start: int, count: int) -> list[int]:
    """Read `count` registers of `table` ("input" or "holding") from PDU address `start`."""
    if shutil.which("mbpoll") is None:
        pytest.fail("mbpoll is not installed (Debian package: mbpoll)")
    kind = {"input": "3", "holding": "4"}[table]
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "rtu", "-b", "115200", "-P", "none", "-a", str(unit),
        "-t", kind, "-0", "-r", str(start), "-c", str(count), "-1", device,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    values = {int(a): int(v) & 0xFFFF for a, v in _VALUE.findall(text)}
    assert sorted(values) == list(range(start, start + count)), text
    return [values[a] for a in range(start, start + count)]


@dataclass
class Hall:
    """The core and one keypad line, wired the way the runtime wires them."""

    core: MeetingCore
    line: KeypadLine | None = None
    health: list[UnitHealth | LineHealth] = field(default_factory=list)
    _inbox: asyncio.Queue[Input] = field(default_factory=asyncio.Queue)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def sink(self, inp: Input) -> None:
        self._inbox.put_nowait(inp)

    def command(self, inp: Input) -> list[Effect]:
        effects = self.core.handle(inp)
        self._dispatch(effects)
        return effects

    def _dispatch(self, effects: list[Effect]) -> None:
        assert self.line is not None
        for effect in effects:
            if isinstance(effect, UnitCommand):
                self.line.send(effect)

    async def serve(self) -> None:
        assert self.line is not None
        while True:
            inp = await self._inbox.get()
            self._dispatch(self.core.handle(inp))
            self.line.settled([inp])
            self._changed.set()

    async def until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until `predicate` holds, checked after each input and each poll cycle."""
        assert self.line is not None
        line = self.line

        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                cycle = asyncio.ensure_future(line.wait_cycles(1))
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait([cycle, changed], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    cycle.cancel()
                    changed.cancel()

        await asyncio.wait_for(wait(), within)


def _health(line: KeypadLine, address: int) -> UnitHealth:
    return next(h for h in line.health() if isinstance(h, UnitHealth) and h.address == address)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedHall]:
    async with SimulatedHall(small_hall(), wire_time=False, seed=13) as hall:
        yield hall


async def test_after_a_secret_vote_no_bus_master_reads_a_choice_and_no_press_is_lost(
    sim: SimulatedHall, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chamber.drivers")
    config = sim.daemon_config()
    units = sim.keypad_lines[LINE].units
    seats = {u.seat: a for a, u in units.items()}
    # One keypad still runs firmware of contract 1.0, which has no forget block.
    old_address = max(units)
    units[old_address].install_firmware((1, 0))
    hall = Hall(MeetingCore(config.hall))
    hall.line = KeypadLine.from_config(
        config, LINE, FakeClock(100.0), hall.sink, hall.health.append
    )
    line = hall.line
    tasks = [asyncio.create_task(line.run()), asyncio.create_task(hall.serve())]
    try:
        hall.command(
            OpenSitting(at=100.0, sitting_id="s1", title="Kỳ họp thứ 5",
                        agenda=(AgendaItemSpec("1", "Nghị quyết về ngân sách"),))
        )  # fmt: skip
        for seat in seats:
            sim.set_presence(seat, True)
        await hall.until(lambda: all(hall.core.attendance.is_present(s) for s in seats))
        hall.command(CreateVote(at=101.0, vote_id="v1", title="Bầu", mode=VoteMode.SECRET))
        hall.command(OpenVote(at=102.0, vote_id="v1"))
        await hall.until(lambda: all(not u.registers.outputs.locked for u in units.values()))
        rng = random.Random(13)
        chosen = {seat: rng.randint(1, 3) for seat in seats}
        for seat, key in chosen.items():
            assert not sim.press(seat, key).refused
        vote = hall.core.votes["v1"]
        # Every press read by the last poll before the close is counted.
        await hall.until(lambda: len(vote.participants) == len(seats))
        hall.command(CloseVote(at=103.0, vote_id="v1"))
        # A delegate leaves at once, before the driver has polled after the close: whatever
        # the forget covers, this event must still reach the core.
        leaver = min(seats)
        assert sim.set_presence(leaver, False) is not None

        def forgotten(address: int) -> bool:
            return not any(e.key.is_voting_key for e in units[address].registers.status().events)

        await hall.until(
            lambda: (
                not hall.core.attendance.is_present(leaver)
                and all(forgotten(a) for a in units if a != old_address)
            )
        )
        assert vote.result is not None
        totals = [sum(1 for k in chosen.values() if k == key) for key in (1, 2, 3)]
        assert list(vote.result.totals) == totals
        # A 1.0 keypad keeps its events until newer ones push them out (§5.6) ...
        assert any(e.key.is_voting_key for e in units[old_address].registers.status().events)
        # ... until it restarts: its identity is read again, and its version is not news.
        reboots = _health(line, old_address).reboots
        sim.reboot(units[old_address].seat)
        await hall.until(
            lambda: (
                _health(line, old_address).reboots == reboots + 1
                and all(u.registers.applied_tag for u in units.values())
            )
        )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # The driver is gone; a technician's master reads the line.
    device = config.line(LINE).device or ""
    status_at, status_count = _block("status")
    outputs_at, outputs_count = _block("outputs")
    ring_at = _offset("status", "EVENT_RING")
    leds_at = _offset("outputs", "KEY_LEDS")
    code_mask = (1 << (SPEC["bits"]["event_entry"]["code"][1] + 1)) - 1
    voting = set(range(1, SPEC["limits"]["voting_keys_max"] + 1))
    for address in sorted(units):
        status = await _mbpoll(device, address, "input", status_at, status_count)
        outputs = await _mbpoll(device, address, "holding", outputs_at, outputs_count)
        codes = [entry & code_mask for entry in status[ring_at:]]
        assert outputs[leds_at] == 0, address  # no LED shows a choice after the close
        assert not voting & set(codes), (address, codes)

    old = _health(line, old_address)
    assert (old.contract, old.contract_state) == ("1.0", "older")
    current = [h for h in line.health() if isinstance(h, UnitHealth) and h.address != old_address]
    ours = "{}.{}".format(*kp.PROTOCOL_VERSION)
    assert {(h.contract, h.contract_state) for h in current} == {(ours, "current")}
    noted = [r for r in caplog.records if getattr(r, "event", "") == "unit-contract-older"]
    assert len(noted) == 1
    assert not [r for r in caplog.records if getattr(r, "event", "") == "unit-refused-forget"]


async def test_a_keypad_of_another_major_version_is_not_served_and_the_line_goes_on(
    sim: SimulatedHall, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chamber.drivers")
    config = sim.daemon_config()
    units = sim.keypad_lines[LINE].units
    alien = min(units)
    units[alien].install_firmware((2, 0))
    hall = Hall(MeetingCore(config.hall))
    hall.line = KeypadLine.from_config(
        config, LINE, FakeClock(100.0), hall.sink, hall.health.append
    )
    line = hall.line
    tasks = [asyncio.create_task(line.run()), asyncio.create_task(hall.serve())]
    try:
        others = [a for a in units if a != alien]
        await hall.until(
            lambda: (
                _health(line, alien).contract_state == "incompatible"
                and all(_health(line, a).online for a in others)
            )
        )
        # Nothing of it is read: its presence key changes nothing; the others' do.
        sim.set_presence(units[alien].seat, True)
        for address in others:
            sim.set_presence(units[address].seat, True)
        await hall.until(
            lambda: all(hall.core.attendance.is_present(units[a].seat) for a in others)
        )
        await line.wait_cycles(2)
        assert not hall.core.attendance.is_present(units[alien].seat)
        assert units[alien].registers.applied_tag == 0  # never written either
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    health = _health(line, alien)
    assert (health.contract, health.contract_state, health.online) == ("2.0", "incompatible", False)
    refused = [r for r in caplog.records if getattr(r, "event", "") == "unit-contract-incompatible"]
    assert len(refused) == 1


async def test_a_keypad_forgets_only_what_the_journal_already_has(sim: SimulatedHall) -> None:
    """Until the runtime settles an input (it is durable), the unit's ring is its only copy."""
    config = sim.daemon_config()
    units = sim.keypad_lines[LINE].units
    address = min(units)
    inputs: list[Input] = []
    line = KeypadLine.from_config(config, LINE, FakeClock(100.0), inputs.append, lambda h: None)
    task = asyncio.create_task(line.run())
    try:
        await asyncio.wait_for(line.wait_cycles(2), 10)
        sim.set_presence(units[address].seat, True)
        while not inputs:
            await asyncio.wait_for(line.wait_cycles(1), 10)
        line.send(ForgetEvents(None))
        await asyncio.wait_for(line.wait_cycles(3), 10)
        assert [e.key for e in units[address].registers.status().events] == [kp.Key.PRESENCE_ON]
        line.settled(inputs)
        while units[address].registers.status().events:
            await asyncio.wait_for(line.wait_cycles(1), 10)
        assert units[address].registers.status().seq == 1  # the numbering goes on
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
