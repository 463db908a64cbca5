"""The keypad line does what the keypad contract's "controller behaviour" section says.

The meeting core and the keypad line driver, wired as the runtime wires them
(tests/drivers/test_keypad_secrecy.py's `Hall`), drive the simulator's keypads on a real pty
pair. The frames the line carries are read at the simulated units' end: which are
broadcasts, which unicasts, and what each unit shows and sounds after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    CloseVote,
    CreateVote,
    HoldVote,
    OpenSitting,
    OpenVote,
    ResumeVote,
    Tick,
)
from chamber.controller.core.model import VoteMode
from chamber.controller.core.sitting import MeetingCore
from chamber.drivers.base import UnitHealth
from chamber.drivers.modbus_line import KeypadLine
from chamber.protocols import keypad as kp
from chamber.simulator.hall import SimulatedHall
from chamber.simulator.keypads import KeypadUnitSim
from tests.drivers.test_keypad_secrecy import LINE, Hall
from tests.simulator.conftest import small_hall

WRITES = (kp.Function.WRITE_MULTIPLE_REGISTERS, kp.Function.WRITE_SINGLE_REGISTER)


@dataclass
class Frames:
    """Every write request the simulated line received, in order."""

    seen: list[ModbusPDU]
    # Writes to refuse, per unit address: how many more to answer with exception 0x04.
    refuse: dict[int, int] = field(default_factory=dict)

    def mark(self) -> int:
        return len(self.seen)

    def writes(self, since: int) -> list[ModbusPDU]:
        return [r for r in self.seen[since:] if r.function_code in WRITES]

    def broadcasts(self, since: int) -> list[ModbusPDU]:
        return [r for r in self.writes(since) if r.dev_id == kp.BROADCAST]

    def unicasts(self, since: int) -> list[int]:
        return [r.dev_id for r in self.writes(since) if r.dev_id != kp.BROADCAST]


@dataclass
class Rig:
    sim: SimulatedHall
    hall: Hall
    line: KeypadLine
    frames: Frames
    units: dict[int, KeypadUnitSim]

    def outputs(self, address: int) -> kp.KeypadOutputs:
        return self.units[address].registers.outputs

    async def settle(self) -> None:
        """Two more poll cycles: what the last command queued is on the wire and read back."""
        await asyncio.wait_for(self.line.wait_cycles(2), 10)


def _record(sim: SimulatedHall) -> Iterator[Frames]:
    """Every request the line's simulated keypads take, seen where each unit's registers
    handle it (a broadcast reaches every unit with the same request: recorded once)."""
    units = sim.keypad_lines[LINE].units
    frames = Frames([])
    handle = kp.KeypadRegisters.handle

    def recording(registers: kp.KeypadRegisters, request: ModbusPDU) -> ModbusPDU | None:
        if not any(u.registers is registers for u in units.values()):
            return handle(registers, request)
        if not frames.seen or frames.seen[-1] is not request:
            frames.seen.append(request)
        if request.function_code in WRITES and frames.refuse.get(request.dev_id, 0) > 0:
            frames.refuse[request.dev_id] -= 1
            return ExceptionResponse(
                request.function_code,
                kp.ExceptionCode.SERVER_DEVICE_FAILURE,
                device_id=request.dev_id,
            )
        return handle(registers, request)

    kp.KeypadRegisters.handle = recording  # type: ignore[method-assign]
    try:
        yield frames
    finally:
        kp.KeypadRegisters.handle = handle  # type: ignore[method-assign]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with SimulatedHall(small_hall(), wire_time=False, seed=21) as sim:
        recorder = _record(sim)
        frames = next(recorder)
        config = sim.daemon_config()
        hall = Hall(MeetingCore(config.hall))
        hall.line = KeypadLine.from_config(
            config, LINE, FakeClock(100.0), hall.sink, hall.health.append
        )
        tasks = [asyncio.create_task(hall.line.run()), asyncio.create_task(hall.serve())]
        try:
            hall.command(
                OpenSitting(at=100.0, sitting_id="s1", title="Kỳ họp thứ 5",
                            agenda=(AgendaItemSpec("1", "Nghị quyết về ngân sách"),))
            )  # fmt: skip
            units = sim.keypad_lines[LINE].units
            yield Rig(sim, hall, hall.line, frames, units)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(StopIteration):
                next(recorder)


async def _seat_all_but_one(rig: Rig) -> tuple[list[int], int]:
    """Every unit's delegate present but the last one's: (present addresses, absent one)."""
    addresses = sorted(rig.units)
    absent = addresses[-1]
    present = addresses[:-1]
    for address in present:
        rig.sim.set_presence(rig.units[address].seat, True)
    core = rig.hall.core
    await rig.hall.until(
        lambda: all(core.attendance.is_present(rig.units[a].seat) for a in present)
    )
    await rig.settle()
    return present, absent


async def test_a_vote_opens_holds_resumes_and_closes_by_broadcast(rig: Rig) -> None:
    present, absent = await _seat_all_but_one(rig)
    hall = rig.hall
    hall.command(CreateVote(at=101.0, vote_id="v1", title="Thông qua", change_until_close=True))

    # Open: one vote broadcast unlocks the line with 3 keys, then the one absent unit is
    # locked again by a unicast, nothing else.
    mark = rig.frames.mark()
    hall.command(OpenVote(at=102.0, vote_id="v1"))
    await hall.until(lambda: all(not rig.outputs(a).locked for a in present))
    await rig.settle()
    (opening,) = rig.frames.broadcasts(mark)
    assert opening.address == 0
    assert len(opening.registers) == 5  # OUTPUT_TAG..KEY_LEDS
    assert rig.frames.unicasts(mark) == [absent]
    assert rig.outputs(absent).locked
    assert all(rig.outputs(a).keys == 3 and not rig.outputs(a).leds for a in present)

    voter = present[0]
    rig.sim.press(rig.units[voter].seat, 2)
    await hall.until(lambda: rig.outputs(voter).leds == frozenset({2}))
    await rig.settle()

    # Hold: one lock broadcast; the voter's LED keeps the choice.
    mark = rig.frames.mark()
    hall.command(HoldVote(at=103.0, vote_id="v1"))
    await hall.until(lambda: all(rig.outputs(a).locked for a in present))
    await rig.settle()
    (held,) = rig.frames.broadcasts(mark)
    assert len(held.registers) == 2  # OUTPUT_TAG, LOCK
    assert rig.frames.unicasts(mark) == []
    assert rig.outputs(voter).leds == frozenset({2})

    # Resume: one lock broadcast unlocks, and the absent unit is locked again at once.
    mark = rig.frames.mark()
    hall.command(ResumeVote(at=104.0, vote_id="v1"))
    await hall.until(lambda: all(not rig.outputs(a).locked for a in present))
    await rig.settle()
    (resumed,) = rig.frames.broadcasts(mark)
    assert len(resumed.registers) == 2
    assert rig.frames.unicasts(mark) == [absent]
    assert rig.outputs(absent).locked
    assert rig.outputs(voter).leds == frozenset({2})

    # Close: one vote broadcast locks every unit and puts every key LED out.
    mark = rig.frames.mark()
    hall.command(CloseVote(at=105.0, vote_id="v1"))
    await hall.until(lambda: all(rig.outputs(a).locked for a in rig.units))
    await rig.settle()
    (closing,) = rig.frames.broadcasts(mark)
    assert len(closing.registers) == 5
    assert rig.frames.unicasts(mark) == []
    assert all(not rig.outputs(a).leds for a in rig.units)
    # The presence LEDs are each seat's own and stay as they were.
    assert [rig.outputs(a).presence_led for a in sorted(rig.units)] == [
        a != absent for a in sorted(rig.units)
    ]


@pytest.mark.parametrize("mode", [VoteMode.OPEN, VoteMode.SECRET])
async def test_a_counted_press_beeps_confirm_and_the_warning_beeps_every_seat(
    rig: Rig, mode: VoteMode
) -> None:
    present, absent = await _seat_all_but_one(rig)
    hall = rig.hall
    hall.command(
        CreateVote(at=101.0, vote_id="v1", title="Bầu", mode=mode, duration_s=60, warning_s=10)
    )
    hall.command(OpenVote(at=102.0, vote_id="v1"))
    await hall.until(lambda: all(not rig.outputs(a).locked for a in present))
    for unit in rig.units.values():
        unit.registers.sounded.clear()
    voter = present[0]
    rig.sim.press(rig.units[voter].seat, 1)
    await hall.until(lambda: rig.units[voter].registers.sounded == [kp.Beep.CONFIRM])
    await rig.settle()
    # The press that counted, the same for every key; nobody else heard anything.
    assert all(not rig.units[a].registers.sounded for a in rig.units if a != voter)

    mark = rig.frames.mark()
    hall.command(Tick(at=102.0 + 50.0))  # 10 s before the end
    await hall.until(
        lambda: all(kp.Beep.WARNING in u.registers.sounded for u in rig.units.values())
    )
    await rig.settle()
    # One broadcast reached every unit; the beep left each unit's lock as it was.
    assert len(rig.frames.broadcasts(mark)) == 1
    assert rig.frames.unicasts(mark) == [absent]
    assert rig.outputs(absent).locked
    assert all(not rig.outputs(a).locked for a in present)


async def test_a_unit_back_with_another_major_version_is_read_before_it_is_written(
    rig: Rig,
) -> None:
    present, _ = await _seat_all_but_one(rig)
    rig.hall.command(CreateVote(at=101.0, vote_id="v1", title="Thông qua"))
    rig.hall.command(OpenVote(at=102.0, vote_id="v1"))
    await rig.hall.until(lambda: all(not rig.outputs(a).locked for a in present))
    alien = present[0]
    mark = rig.frames.mark()
    rig.units[alien].install_firmware((2, 0))  # a restart, with a contract of 2.0

    def health() -> UnitHealth:
        return next(
            h for h in rig.line.health() if isinstance(h, UnitHealth) and h.address == alien
        )

    await rig.hall.until(lambda: health().contract_state == "incompatible")
    await rig.settle()
    asked = [r for r in rig.frames.seen[mark:] if r.dev_id == alien]
    # Its status showed the restart, its identity said 2.0: nothing was written to it.
    assert [r.function_code for r in asked][-1] == kp.Function.READ_INPUT_REGISTERS
    assert alien not in rig.frames.unicasts(mark)
    assert rig.outputs(alien).locked  # as it started: locked, dark


async def test_a_write_refused_with_a_device_failure_is_written_again_until_it_lands(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chamber.drivers")
    present, _ = await _seat_all_but_one(rig)
    rig.hall.command(CreateVote(at=101.0, vote_id="v1", title="Thông qua"))
    rig.hall.command(OpenVote(at=102.0, vote_id="v1"))
    await rig.hall.until(lambda: all(not rig.outputs(a).locked for a in present))
    voter = present[0]
    rig.frames.refuse[voter] = 3  # the unit's next three writes fail inside it (0x04)
    rig.sim.press(rig.units[voter].seat, 3)
    # The confirmation lands once the unit takes writes again: its LED shows the key.
    await rig.hall.until(lambda: rig.outputs(voter).leds == frozenset({3}))
    await rig.settle()
    assert rig.frames.refuse[voter] == 0
    health = next(h for h in rig.line.health() if isinstance(h, UnitHealth) and h.address == voter)
    # Refusals, counted as such: the wire was fine.
    assert (health.exceptions, health.crc_errors, health.online) == (3, 0, True)
    refused = [r for r in caplog.records if getattr(r, "event", "") == "unit-refused-write"]
    assert len(refused) == 1


async def test_a_power_blip_leaves_the_delegate_present_and_in_the_vote(rig: Rig) -> None:
    present, _ = await _seat_all_but_one(rig)
    hall = rig.hall
    hall.command(CreateVote(at=101.0, vote_id="v1", title="Thông qua"))
    hall.command(OpenVote(at=102.0, vote_id="v1"))
    await hall.until(lambda: all(not rig.outputs(a).locked for a in present))
    blipped = present[0]
    seat = rig.units[blipped].seat

    def reboots() -> int:
        return next(
            h.reboots
            for h in rig.line.health()
            if isinstance(h, UnitHealth) and h.address == blipped
        )

    mark = rig.frames.mark()
    rig.sim.reboot(seat)  # power-up: locked, dark, its presence flag absent
    await hall.until(lambda: reboots() == 1 and not rig.outputs(blipped).locked)
    await rig.settle()
    # The delegate is still present and still in the electorate; the unit was written its
    # whole block (unlocked, presence LED on) and never locked as absent.
    assert hall.core.attendance.is_present(seat)
    shown = rig.outputs(blipped)
    assert (shown.locked, shown.keys, shown.presence_led) == (False, 3, True)
    lock = kp.OUTPUTS.offset("LOCK")
    writes = [r for r in rig.frames.writes(mark) if r.dev_id == blipped]
    assert writes
    assert all(r.registers[lock] == 0 for r in writes)
    rig.sim.press(seat, 1)
    vote = hall.core.votes["v1"]
    await hall.until(lambda: vote.choice_of(seat) == 1)
    await hall.until(lambda: rig.outputs(blipped).leds == frozenset({1}))


async def test_a_card_reader_back_without_its_card_is_never_unlocked() -> None:
    async with SimulatedHall(small_hall(), wire_time=False, seed=21, card_readers={2}) as sim:
        recorder = _record(sim)
        frames = next(recorder)
        config = sim.daemon_config()
        hall = Hall(MeetingCore(config.hall))
        line = KeypadLine.from_config(config, LINE, FakeClock(100.0), hall.sink, hall.health.append)
        hall.line = line
        tasks = [asyncio.create_task(line.run()), asyncio.create_task(hall.serve())]
        units = sim.keypad_lines[LINE].units
        address = next(a for a, u in units.items() if u.seat == 2)
        try:
            hall.command(
                OpenSitting(at=100.0, sitting_id="s1", title="Kỳ họp",
                            agenda=(AgendaItemSpec("1", "Nghị quyết"),))
            )  # fmt: skip
            sim.insert_card(2, "04A1B2C3D4E5F6")
            for unit in units.values():
                if unit.seat != 2:
                    sim.set_presence(unit.seat, True)
            await hall.until(
                lambda: all(hall.core.attendance.is_present(u.seat) for u in units.values())
            )
            hall.command(CreateVote(at=101.0, vote_id="v1", title="Thông qua"))
            hall.command(OpenVote(at=102.0, vote_id="v1"))
            await hall.until(lambda: not units[address].registers.outputs.locked)
            mark = frames.mark()
            # The card taken out and the unit power-cycled before the next poll: it starts
            # locked, without a card, its ring empty.
            sim.remove_card(2)
            sim.reboot(2)
            await hall.until(lambda: not hall.core.attendance.is_present(2))
            await asyncio.wait_for(line.wait_cycles(2), 10)
            lock = kp.OUTPUTS.offset("LOCK")
            writes = [r for r in frames.writes(mark) if r.dev_id == address]
            assert writes
            assert all(r.registers[lock] == 1 for r in writes)
            assert units[address].registers.outputs.locked
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(StopIteration):
                next(recorder)
