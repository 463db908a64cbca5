"""`chamber commission` against the simulator's units over pty pairs: a factory-new hall.

The keypads are factory-new (all at the factory address 247) but for one already at 1 and
two that share address 3; the mic units are unassigned (FE) but for two that share address
2. Scan, assign by serial, rescan, write the hall file with the seats mapped in address
order, then start the daemon's drivers on that file and see every unit online.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit

from chamber.controller import commission
from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input
from chamber.controller.core.model import MicClass
from chamber.controller.hallgen import HallSpec, generate
from chamber.drivers.base import LineHealth, Settling, UnitHealth
from chamber.drivers.registry import build_drivers
from chamber.drivers.serialport import open_serial
from chamber.drivers.topology import Line, LineKind, UnitRef
from chamber.protocols import keypad as kp
from chamber.protocols import micunit as mic
from chamber.simulator.delegates import GroundTruth
from chamber.simulator.faults import Faults
from chamber.simulator.keypads import KeypadLineSim, KeypadUnitSim, keypad_wire_time
from chamber.simulator.miclines import MicLineSim, MicUnitSim, mic_wire_time
from tests.drivers.conftest import Recorder

KEYPADS = "keypads-1"
MICS = "mics-1"
SEATS = 8
NEW_KEYPADS = [f"KP-NEW-{i:04d}" for i in range(1, 6)]  # five at 247
NEW_MICS = [0x4D43_0100 + i for i in range(1, 7)]  # six unassigned


@dataclass
class Rig:
    hall: Path
    keypads: KeypadLineSim
    mics: MicLineSim


def _hall_text(run: Path) -> str:
    """A generated hall of 8 seats on one keypad and one mic line, its lines pointed at the
    simulator's pty pairs and no seat wired yet (what a technician starts from)."""
    spec = HallSpec(
        hall_id="commission-test",
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
        for key in ("keypad", "mic"):
            if key in seat:
                del seat[key]
    return tomlkit.dumps(doc)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    hall = tmp_path / "hall.toml"
    hall.write_text(_hall_text(tmp_path), encoding="utf-8")
    faults, truth = Faults(random.Random(1)), GroundTruth()
    kline = Line(KEYPADS, LineKind.MODBUS_RTU, str(tmp_path / KEYPADS), 115200, None, None)
    mline = Line(MICS, LineKind.MIC_SERIAL, str(tmp_path / MICS), 115200, None, None)
    keypads = [KeypadUnitSim(0, UnitRef(KEYPADS, kp.FACTORY_ADDRESS), s) for s in NEW_KEYPADS]
    keypads += [
        # Addressed before, and of contract 1.2: it has no address block, and needs none.
        KeypadUnitSim(0, UnitRef(KEYPADS, 1), "KP-OLD-0001", contract=(1, 2)),
        KeypadUnitSim(0, UnitRef(KEYPADS, 3), "KP-DUP-000A"),
        KeypadUnitSim(0, UnitRef(KEYPADS, 3), "KP-DUP-000B"),
    ]
    mics = [MicUnitSim(0, UnitRef(MICS, mic.UNASSIGNED), MicClass.DELEGATE, s) for s in NEW_MICS]
    mics += [
        MicUnitSim(0, UnitRef(MICS, 2), MicClass.DELEGATE, 0x4D43_0201),
        MicUnitSim(0, UnitRef(MICS, 2), MicClass.DELEGATE, 0x4D43_0202),
    ]
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
    await ksim.start()
    await msim.start()
    try:
        yield Rig(hall, ksim, msim)
    finally:
        await ksim.stop()
        await msim.stop()


def _args(hall: Path, line: str, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commission.add_arguments(parser)
    return parser.parse_args(
        ["--hall", str(hall), "--line", line, "--addresses", "1-12", "--language", "en", *extra]
    )


async def _run(args: argparse.Namespace, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = await commission.commission(args)
    return code, capsys.readouterr().out


def _addresses(units: list[KeypadUnitSim] | list[MicUnitSim]) -> list[int]:
    return sorted(u.ref.address for u in units)


async def test_a_factory_new_hall_is_commissioned_from_scan_to_a_working_hall_file(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    before = rig.hall.read_text(encoding="utf-8")

    # The scan lists every unit, the duplicates by serial, and changes nothing without --assign.
    code, out = await _run(_args(rig.hall, KEYPADS), capsys)
    assert code == 1
    for serial in [*NEW_KEYPADS, "KP-OLD-0001", "KP-DUP-000A", "KP-DUP-000B"]:
        assert serial in out
    assert "duplicate address 3: KP-DUP-000A, KP-DUP-000B" in out
    assert out.count("factory-new") == len(NEW_KEYPADS)
    assert "6 unit(s) need an address" in out
    assert "keypad   1  serial KP-OLD-0001  firmware 1.0.0  contract 1.2" in out
    assert rig.hall.read_text(encoding="utf-8") == before
    assert _addresses(rig.keypads.all_units).count(kp.FACTORY_ADDRESS) == len(NEW_KEYPADS)

    code, out = await _run(_args(rig.hall, MICS), capsys)
    assert code == 1, out
    assert "duplicate address 2: 4D430201, 4D430202" in out
    assert out.count("factory-new") == len(NEW_MICS)

    # Assign, rescan, and write the topology with the seats mapped in address order.
    code, out = await _run(_args(rig.hall, KEYPADS, "--assign", "--map-seats", "--write"), capsys)
    assert code == 0, out
    assert "KP-DUP-000B: 3 -> 2" in out  # the lowest free address; A keeps 3
    assert _addresses(rig.keypads.all_units) == list(range(1, SEATS + 1))
    assert '+keypad = {line = "keypads-1", address = 8}' in out
    code, out = await _run(_args(rig.hall, MICS, "--assign", "--map-seats", "--write"), capsys)
    assert code == 0, out
    assert _addresses(rig.mics.all_units) == list(range(1, SEATS + 1))

    # The technician walks to a seat: its mic unit blinks.
    code, out = await _run(_args(rig.hall, MICS, "--identify", "5"), capsys)
    assert code == 0, out
    now = asyncio.get_running_loop().time()
    assert [u.ref.address for u in rig.mics.all_units if u.blinking(now)] == [5]

    # A rescan finds nothing to do.
    code, out = await _run(_args(rig.hall, KEYPADS, "--map-seats"), capsys)
    assert (code, out.count("factory-new"), "duplicate" in out) == (0, 0, False)
    assert "the hall file needs no change" in out

    # The daemon's drivers on the written hall file: every unit online.
    config = load_config(rig.hall)
    wired = {(u.seat, u.keypad, u.mic) for u in config.units}
    assert wired == {(n, UnitRef(KEYPADS, n), UnitRef(MICS, n)) for n in range(1, SEATS + 1)}
    health: Recorder[UnitHealth | LineHealth] = Recorder()

    def settle(item: Input) -> None:
        for driver in drivers:
            if isinstance(driver, Settling):
                driver.settled([item])

    drivers = build_drivers(config, FakeClock(10.0), settle, health)
    tasks = [asyncio.create_task(d.run()) for d in drivers]

    def units() -> list[UnitHealth]:
        return [h for d in drivers for h in d.health() if isinstance(h, UnitHealth)]

    try:
        await health.wait_for(
            lambda _: len(units()) == 2 * SEATS and all(u.online for u in units())
        )
        # A 1.2 keypad lacks nothing the daemon uses: served as current, so no fault for it.
        keypads = {(u.address, u.contract, u.contract_state) for u in units() if u.contract}
        assert keypads == {(1, "1.2", "current")} | {(n, "1.3", "current") for n in range(2, 9)}
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_identify_blinks_the_unit_the_technician_names(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = await _run(_args(rig.hall, KEYPADS, "--identify", "1", "--seconds", "20"), capsys)
    assert code == 0, out
    unit = rig.keypads.units[1]
    now = asyncio.get_running_loop().time()
    assert unit.blinking(now)
    assert not rig.keypads.units[3].blinking(now)
    # Two keypads at 3 echo the same write: both blink, and the technician finds both seats.
    code, out = await _run(_args(rig.hall, KEYPADS, "--identify", "3"), capsys)
    assert code == 0, out
    now = asyncio.get_running_loop().time()
    assert sorted(
        u.registers.identity.serial_number for u in rig.keypads.at(3) if u.blinking(now)
    ) == [
        "KP-DUP-000A",
        "KP-DUP-000B",
    ]


async def test_a_line_the_daemon_holds_is_refused_before_anything_is_sent(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    # The daemon opens its lines with the drivers' open_serial, which locks the port.
    held = open_serial(str(rig.hall.parent / KEYPADS), 115200)
    try:
        requests = rig.keypads.requests
        with pytest.raises(commission.CommissionError, match="is the daemon running on this line"):
            await commission.commission(_args(rig.hall, KEYPADS))
        assert rig.keypads.requests == requests
    finally:
        held.close()
    code, _ = await _run(_args(rig.hall, KEYPADS, "--identify", "1"), capsys)
    assert code == 0


async def test_it_speaks_the_hall_s_language_and_english(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert all(commission.TEXTS[lang].keys() == commission.TEXTS["en"].keys() for lang in ("vi",))
    parser = argparse.ArgumentParser()
    commission.add_arguments(parser)
    args = parser.parse_args(["--hall", str(rig.hall), "--line", KEYPADS, "--identify", "1"])
    code, out = await _run(args, capsys)  # the test hall's language is Vietnamese
    assert code == 0
    assert out == "thiết bị 1 trên đường truyền keypads-1 nhấp nháy trong 30 giây\n"
    args = parser.parse_args(["--hall", str(rig.hall), "--line", "mics-9", "--language", "vi"])
    with pytest.raises(commission.CommissionError) as refused:
        await commission.commission(args)
    assert refused.value.text("vi") == f"{rig.hall} không có đường truyền mics-9"
    assert str(refused.value) == f"{rig.hall} has no line mics-9"
