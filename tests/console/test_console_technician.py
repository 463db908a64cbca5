"""The technician's tab against a real daemon: the line summary worst first, every unit by
trouble in a table that scrolls and cuts no column, the fault list with its times and the
acknowledge key, the forced microphones, the access panel; and identify on the simulator's
units (the unit blinks)."""

from __future__ import annotations

import asyncio
import datetime
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient
from chamber.console.technician import Access
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import Daemon
from chamber.drivers.base import LineHealth, UnitHealth, UnitKind
from tests.console.conftest import HealthTap, panel_text, until_drawn, until_shown
from tests.rig import HallRig
from tests.simulator.conftest import small_hall

NOON = datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.UTC)


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def noon() -> datetime.datetime:
    return NOON


def row_keys(table: DataTable[object]) -> list[str]:
    from textual.coordinate import Coordinate

    return [
        str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
        for i in range(table.row_count)
    ]


def cut_columns(table: DataTable[object]) -> list[str]:
    """Columns narrower than their title or a cell: none may be."""
    cut = []
    for column in table.columns.values():
        widest = cell_len(str(column.label))
        for row in table.rows:
            widest = max(widest, cell_len(str(table.get_cell(row, column.key))))
        if column.get_render_width(table) - 2 * table.cell_padding < widest:
            cut.append(str(column.label))
    return cut


async def until(client: ApiClient, predicate: Callable[[ApiClient], bool]) -> None:
    async with asyncio.timeout(20):
        await client.wait_for(predicate)


async def test_lines_worst_first_units_by_trouble_and_the_fault_list_acknowledged(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    tokens = TokenStore()
    token = tokens.add("technician", Role.TECHNICIAN)
    tap = HealthTap()
    clock = FakeClock(1000.0)
    async with Daemon(
        vn_config, tmp_path / "j", tokens, port=0, clock=clock, driver_factory=tap
    ) as daemon:
        sink = tap.sink
        assert sink is not None
        for line in ("keypads-1", "keypads-2", "mics-1"):
            sink(LineHealth(line, connected=True, cycle_ms=40.0))
        # A hundred units: more than a screen holds.
        for address in range(1, 35):
            for line, kind in (("keypads-1", UnitKind.KEYPAD), ("mics-1", UnitKind.MIC)):
                sink(UnitHealth(line, address, address, kind, True, 1.0, 1.5))
            sink(UnitHealth("keypads-2", address, 34 + address, UnitKind.KEYPAD, True, 1.0, 1.5))
        local = ManualClock()
        client = ApiClient(daemon.url, token, clock=local)
        app = ChamberConsole(client, clock=local, wall=noon)
        async with app.run_test(size=(160, 50)) as pilot:
            await until(client, lambda c: len(c.mirror.units()) == 102)
            await pilot.press("f2")
            units = app.query_one("#units", DataTable)
            await until_drawn(app, lambda: units.row_count == 102, "every unit")
            # The table scrolls: it holds every row, more than it shows at once.
            assert units.virtual_size.height > units.size.height

            # keypads-2/7 is lost at 1005 s; mics-1/3 keeps failing.
            clock.advance(5.0)
            sink(UnitHealth("keypads-2", 7, 41, UnitKind.KEYPAD, False, 1.0, None, timeouts=3))
            sink(UnitHealth("mics-1", 3, 3, UnitKind.MIC, True, 1.0, 1.5, timeouts=2))
            await until_drawn(
                app, lambda: row_keys(units)[:2] == ["keypads-2/7", "mics-1/3"], "by trouble"
            )
            lines = app.query_one("#lines", DataTable)
            await until_drawn(app, lambda: row_keys(lines)[0] == "keypads-2", "worst line first")
            summary = [str(c) for c in lines.get_row("keypads-2")]
            assert summary[2] == "33/34"
            assert cut_columns(units) == []
            assert cut_columns(lines) == []

            faults = app.query_one("#fault-list", DataTable)
            await until_drawn(
                app, lambda: "keypads-2/7/offline" in row_keys(faults), "the offline fault"
            )
            row = [str(c) for c in faults.get_row("keypads-2/7/offline")]
            daemon_now = client.mirror.daemon_now(local())
            assert daemon_now is not None
            began = NOON - datetime.timedelta(seconds=daemon_now - 1005.0)
            assert row[0] == began.strftime("%H:%M:%S")
            assert row[1:5] == ["keypads-2/7", "41", "mất kết nối", "đang xảy ra"]
            assert "chưa xem" in str(app.query_one("#faults-title").render())
            assert cut_columns(faults) == []

            # The technician acknowledges it: still listed, dimmed, until it clears.
            faults.focus()
            faults.move_cursor(row=row_keys(faults).index("keypads-2/7/offline"))
            await pilot.press("a")
            await until_drawn(
                app,
                lambda: [str(c) for c in faults.get_row("keypads-2/7/offline")][4] == "đã xem",
                "acknowledged",
            )
            cells = faults.get_row("keypads-2/7/offline")
            assert all(isinstance(c, Text) and {s.style for s in c.spans} <= {"dim"} for c in cells)
            await until_shown(app, "#command", "Đánh dấu đã xem sự cố keypads-2/7 mất kết nối")
            sink(UnitHealth("keypads-2", 7, 41, UnitKind.KEYPAD, True, 1.0, 1.5, timeouts=3))
            await until_drawn(
                app, lambda: "keypads-2/7/offline" not in row_keys(faults), "cleared and seen"
            )


async def test_forced_microphones_and_the_access_panel(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    tokens = TokenStore()
    token = tokens.add("technician", Role.TECHNICIAN)
    observer = tokens.add("observer", Role.OBSERVER)
    async with Daemon(vn_config, tmp_path / "j", tokens, port=0, clock=FakeClock()) as daemon:
        wall = f"{daemon.url}/wall/?token={observer}"
        access = Access(daemon.url, wall, {"console": token, "observer": observer})
        client = ApiClient(daemon.url, token)
        app = ChamberConsole(client, access=access)
        async with app.run_test(size=(140, 50)) as pilot:
            await until(client, lambda c: c.mirror.ready)
            await pilot.press("f2")
            shown = await until_shown(app, "#access", wall, token)
            # Each address and token on a line of its own, whole.
            assert any(line.endswith(wall) for line in shown.splitlines())
            assert any(line.endswith(token) for line in shown.splitlines())
            assert "Màn hình hội trường" in shown
            assert "Mã kỹ thuật viên" not in shown  # not given: not shown
            await until_shown(app, "#forced", "không có")
            await pilot.press("m")
            await pilot.pause()
            await pilot.press("9", "enter")
            await until_shown(app, "#forced", "ghế 9")
            # Still there on the chair's tab and back: the panel never goes away.
            await pilot.press("f1", "f2")
            assert wall in panel_text(app, "#access")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="chamber-console-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_identify_blinks_the_unit_under_the_cursor(private_dir: Path) -> None:
    """On the simulator's hall: `i` on a keypad's row makes that keypad blink; on the row of
    an IP unit of an older contract the daemon says it cannot, in the command line."""
    # A small hall (two keypad and two microphone lines, two IP seats): the console, the
    # daemon and the simulator share this process.
    rig = HallRig(small_hall(serial_seats=8, seats=10), private_dir / "data", seed=2)
    async with rig:
        client = ApiClient(rig.url, rig.tokens.technician)
        app = ChamberConsole(client)
        async with app.run_test(size=(160, 50)) as pilot:
            await until(client, lambda c: len(c.mirror.units()) >= 18)
            await pilot.press("f2")
            units = app.query_one("#units", DataTable)
            await until_drawn(app, lambda: units.row_count >= 18, "the hall's units")
            ref = rig.sim.unit_ref(6)
            key = f"{ref.line}/{ref.address}"
            await until(client, lambda c: any(u.key == key and u.online for u in c.mirror.units()))
            await until_drawn(app, lambda: key in row_keys(units), "the unit's row")
            units.focus()
            units.move_cursor(row=row_keys(units).index(key))
            await pilot.press("i")
            keypad = rig.sim.keypad_lines[ref.line].units[ref.address]
            now = asyncio.get_running_loop().time
            # Done once the daemon says the unit took it: it blinks from then on.
            await until_shown(app, "#command", "Đã thực hiện", f"Nhấp nháy thiết bị {key}, ghế 6")
            assert keypad.blinking(now())
            # An IP unit of contract 1.2 cannot (its unit/features name no identify): the
            # daemon says so, in the hall's language.
            ip_seat = min(rig.sim.ip_units)
            ip = rig.sim.ip_units[ip_seat]
            ip.install_firmware((1, 2))
            await until(
                client,
                lambda c: any(u.key == f"mqtt/{ip_seat}" and u.reboots for u in c.mirror.units()),
            )
            await until(
                client,
                lambda c: any(u.key == f"mqtt/{ip_seat}" and u.online for u in c.mirror.units()),
            )
            units.move_cursor(row=row_keys(units).index(f"mqtt/{ip_seat}"))
            await pilot.press("i")
            await until_shown(app, "#command", "Bị từ chối", "không có lệnh nhận diện")
            assert not ip.blinking(now())
