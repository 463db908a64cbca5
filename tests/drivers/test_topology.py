"""The hall's wiring below the drivers: read alone, it is what the daemon's configuration has."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chamber.controller.config import load_config
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.health import LineMonitor
from chamber.drivers.mic_line import MicLine
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.registry import LINE_DRIVERS
from chamber.drivers.topology import LineKind, TopologyError, load_topology, parse_topology

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["vn-council.toml", "assembly-500.toml"])
def test_the_wiring_read_alone_is_the_configurations(name: str) -> None:
    config = load_config(EXAMPLES / name)
    topology = load_topology(EXAMPLES / name)
    assert topology == config.topology
    assert topology.hall_id == config.hall_id
    mic_classes = {s.number: s.mic_class for s in config.hall.seats}
    assert {u.seat: u.mic_class for u in topology.units} == mic_classes


def test_a_unit_on_a_missing_line_is_refused_with_its_key() -> None:
    data = {
        "hall": {"id": "h1"},
        "lines": [{"id": "rtu1", "kind": "modbus-rtu", "device": "/dev/ttyUSB0"}],
        "seats": [{"number": 1, "row": 1, "col": 1, "keypad": {"line": "rtu9", "address": 1}}],
    }
    with pytest.raises(TopologyError, match=r"seats\[0\]\.keypad\.line: no line named 'rtu9'"):
        parse_topology(data, "hall.toml")


def test_every_line_kind_has_one_driver_class() -> None:
    assert set(LINE_DRIVERS) == set(LineKind)
    assert LINE_DRIVERS[LineKind.MODBUS_RTU] is KeypadLine
    assert LINE_DRIVERS[LineKind.MODBUS_TCP] is KeypadLine
    assert LINE_DRIVERS[LineKind.MIC_SERIAL] is MicLine


async def test_ready_follows_the_line_connection() -> None:
    reports: list[UnitHealth | LineHealth] = []
    monitor = LineMonitor("rtu1", reports.append)
    waiting = asyncio.ensure_future(monitor.up.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    monitor.connected("/dev/pts/9")
    await asyncio.wait_for(waiting, 5.0)
    monitor.disconnected("gone")
    assert not monitor.up.is_set()
