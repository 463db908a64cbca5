"""The keypad conformance kit against the simulator's keypad over a pty pair.

A conformant unit passes every section; each deliberately broken unit fails exactly the
section its fault belongs to. The bench is the simulator's unit itself: a press, a power
cycle or a held key happens at once when the kit asks for it. Ptys refuse even parity on
this kernel, so the line runs 8N2, the contract's other format.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from chamber.drivers.conformance import cli
from chamber.drivers.conformance.keypad import (
    SECTIONS,
    KeypadKit,
    KeypadWire,
    Step,
)
from chamber.drivers.conformance.report import Report, Status
from chamber.drivers.topology import Line, LineKind, UnitRef
from chamber.protocols import keypad as kp
from chamber.simulator.delegates import GroundTruth
from chamber.simulator.faults import Faults
from chamber.simulator.keypads import KeypadLineSim, KeypadUnitSim, keypad_wire_time

LINE = "kit-1"
ADDRESS = 5
FORMAT = kp.line_format("none")  # 8N2


class SimBench:
    """The hands on a simulated keypad."""

    def __init__(self, unit: KeypadUnitSim) -> None:
        self.unit = unit
        self.steps: list[Step] = []

    async def do(self, step: Step, *, key: int = 1, times: int = 1) -> None:
        self.steps.append(step)
        regs = self.unit.registers
        if step in (Step.PRESS, Step.EVENTS):
            for _ in range(times):
                regs.press(key)
        elif step is Step.POWER_CYCLE:
            regs.restart()
        elif step is Step.HOLD:
            regs.press(key)
            regs.key_stuck = True
        elif step is Step.RELEASE:
            regs.key_stuck = False


@dataclass
class Rig:
    line: KeypadLineSim
    unit: KeypadUnitSim
    faults: Faults
    device: str


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    faults = Faults(random.Random(7))
    line = Line(LINE, LineKind.MODBUS_RTU, str(tmp_path / LINE), 115200, "none", 2)
    unit = KeypadUnitSim(1, UnitRef(LINE, ADDRESS), "KP-KIT-0001")
    sim = KeypadLineSim(
        line,
        [unit],
        daemon_link=tmp_path / LINE,
        unit_link=tmp_path / f"{LINE}.units",
        wire=keypad_wire_time(115200, False),
        faults=faults,
        truth=GroundTruth(),
    )
    await sim.start()
    try:
        yield Rig(sim, unit, faults, sim.daemon_device)
    finally:
        await sim.stop()


async def _run(rig: Rig, *, step_timeout_s: float = 2.0) -> Report:
    wire = KeypadWire(rig.device, 115200, FORMAT)
    kit = KeypadKit(wire, ADDRESS, bench=SimBench(rig.unit), step_timeout_s=step_timeout_s)
    return await kit.run()


def _failed(report: Report) -> list[str]:
    return report.failed()


async def test_a_conformant_keypad_passes_every_section(rig: Rig) -> None:
    report = await _run(rig)
    assert [r.section for r in report.results] == list(SECTIONS)
    for result in report.results:
        assert result.status is Status.PASS, result.line()
        assert result.checks > 0, result.line()
    assert report.passed
    assert report.figures["damaged_replies"] == 0
    # The ring went across the wrap of EVENT_SEQ and the unit came back from a power cycle.
    assert rig.unit.registers.boot_count == 2
    lines = list(report.lines())
    assert lines[-1] == "PASS"
    assert "PASS  §5.1 Events and the ring" in lines
    assert "PASS  §2.4 Functions and exceptions" in lines


async def test_the_section_titles_are_the_contracts_own() -> None:
    text = (Path(kp.__file__).parents[1] / "firmware_specs" / "keypad_modbus.md").read_text(
        encoding="utf-8"
    )
    for section in SECTIONS:
        assert f"### {section.number} {section.title}\n" in text, section


class _WithoutWrap(kp.KeypadRegisters):
    """EVENT_SEQ stops at 0xFFFF: events after it are not recorded."""

    def _record(self, key: kp.Key, refused: bool = False) -> kp.KeyEvent:
        if self.seq == kp.SEQ_MODULUS - 1:
            return kp.KeyEvent(key, self.seq, refused)
        return super()._record(key, refused)


class _NotAtomic(kp.KeypadRegisters):
    """A refused output write still applies its first register."""

    def write(self, address: int, values: list[int]) -> kp.ExceptionCode | None:  # type: ignore[override]
        problem = super().write(address, values)
        if problem is not None and address == kp.OUTPUTS.start and len(values) > 1:
            self._holding[1] = values[1] & 1
            self._holding[0] = values[0]
        return problem


class _DropsFirstPress(kp.KeypadRegisters):
    """The first press after a restart is lost."""

    fresh = False

    def restart(self) -> None:
        super().restart()
        self.fresh = True

    def press(self, key: int) -> kp.KeyEvent:
        if self.fresh:
            self.fresh = False
            return kp.KeyEvent(kp.Key(key), self.seq, False)
        return super().press(key)


def _swap(rig: Rig, cls: type[kp.KeypadRegisters]) -> None:
    rig.unit.registers = cls(rig.unit.registers.identity)


class _DamagingLine(KeypadLineSim):
    """Every fifth reply goes out with a wrong CRC."""

    sent = 0

    def _schedule(
        self, write: Callable[[bytes], object], frame: bytes, deadline: float, extra_s: float
    ) -> None:
        self.sent += 1
        if self.sent % 5 == 0:
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        super()._schedule(write, frame, deadline, extra_s)


async def test_a_ring_that_does_not_wrap_fails_section_5_1(rig: Rig) -> None:
    _swap(rig, _WithoutWrap)
    report = await _run(rig)
    assert _failed(report) == ["5.1"]
    assert "wrap" in report.section(SECTIONS[11]).line()


async def test_a_non_atomic_block_write_fails_section_2_4(rig: Rig) -> None:
    _swap(rig, _NotAtomic)
    report = await _run(rig)
    assert _failed(report) == ["2.4"]
    assert "not atomic" in report.results[2].line()


async def test_a_unit_that_drops_the_first_press_after_a_restart_fails_section_5_3(
    rig: Rig,
) -> None:
    _swap(rig, _DropsFirstPress)
    report = await _run(rig, step_timeout_s=1.0)
    assert _failed(report) == ["5.3"]
    assert "first press after a start" in report.results[13].line()


async def test_replies_with_a_wrong_crc_fail_section_2_1(tmp_path: Path) -> None:
    faults = Faults(random.Random(7))
    line = Line(LINE, LineKind.MODBUS_RTU, str(tmp_path / LINE), 115200, "none", 2)
    unit = KeypadUnitSim(1, UnitRef(LINE, ADDRESS), "KP-KIT-0002")
    sim = _DamagingLine(
        line,
        [unit],
        daemon_link=tmp_path / LINE,
        unit_link=tmp_path / f"{LINE}.units",
        wire=keypad_wire_time(115200, False),
        faults=faults,
        truth=GroundTruth(),
    )
    await sim.start()
    try:
        report = await _run(Rig(sim, unit, faults, sim.daemon_device))
    finally:
        await sim.stop()
    assert _failed(report) == ["2.1"]
    assert "damaged replies" in report.results[0].line()


async def test_the_command_prints_a_json_report_without_hands(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [
            *("keypad", "--port", rig.device, "--parity", "none"),
            *("--address", str(ADDRESS), "--json", "--no-hands"),
        ]
    )
    report = await cli._keypad(args)
    assert report.passed
    skipped = {r.section.number for r in report.results if r.status is Status.SKIP}
    assert skipped == {"3.6", "4.1", "5.1", "5.3"}  # 3.6: its refusals checked, no ring
    data = json.loads(report.dumps())
    assert data["settings"] == {"baud": 115200, "format": "8N2", "address": ADDRESS}
    assert {s["section"] for s in data["sections"]} == {s.number for s in SECTIONS}
