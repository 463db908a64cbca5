"""The technician screen shows a line's slow USB adapter: the `adapter` fault a line reports
(drivers.usbserial), through a real daemon's API, in the fault list with its label in the
hall's language and the figures as the line gave them."""

from __future__ import annotations

import datetime
from pathlib import Path

from textual.widgets import DataTable

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient
from chamber.console.i18n import Lang, label
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import Daemon
from chamber.drivers.base import LineHealth
from tests.console.conftest import HealthTap, until_drawn

DETAIL = "ttyUSB0 latency_timer 16 ms: 241.1 → 753.1 ms/cycle"


def _noon() -> datetime.datetime:
    return datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.UTC)


async def test_the_fault_list_shows_a_slow_adapter(tmp_path: Path, vn_config: HallConfig) -> None:
    tokens = TokenStore()
    token = tokens.add("technician", Role.TECHNICIAN)
    tap = HealthTap()
    async with Daemon(
        vn_config, tmp_path / "j", tokens, port=0, clock=FakeClock(1000.0), driver_factory=tap
    ) as daemon:
        assert tap.sink is not None
        tap.sink(LineHealth("keypads-1", connected=True, cycle_ms=753.1, adapter=DETAIL))
        client = ApiClient(daemon.url, token)
        app = ChamberConsole(client, wall=_noon)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("f2")
            faults = app.query_one("#fault-list", DataTable)
            fid = "keypads-1/-/adapter"
            await until_drawn(app, lambda: fid in faults.rows, "the adapter fault")
            row = [str(c) for c in faults.get_row(fid)]
            assert row[1] == "keypads-1"
            assert row[3] == label("fault.adapter", Lang.VI)
            assert row[5] == DETAIL
            # Set right and reconnected: the fault is over (kept until acknowledged).
            tap.sink(LineHealth("keypads-1", connected=True, cycle_ms=273.1))
            await until_drawn(
                app,
                lambda: (
                    [str(c) for c in faults.get_row(fid)][4] == label("fault.state.over", Lang.VI)
                ),
                "the adapter fault over",
            )
