"""The hall's wiring below the drivers: read alone, it is what the daemon's configuration has."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.errors import DriverConfigError
from chamber.drivers.health import LineMonitor
from chamber.drivers.mic_line import MicLine
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.registry import LINE_DRIVERS
from chamber.drivers.topology import (
    Line,
    LineKind,
    TopologyError,
    load_topology,
    parse_topology,
)

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


def _one_line(kind: str = "modbus-rtu", **keys: object) -> dict[str, object]:
    unit = "mic" if kind == "mic-serial" else "keypad"
    line = {"id": "l1", "kind": kind, "device": "/dev/ttyUSB0"} | keys
    return {
        "hall": {"id": "h1"},
        "lines": [line],
        "seats": [{"number": 1, unit: {"line": "l1", "address": 1}}],
    }


@pytest.mark.parametrize(
    ("keys", "parity", "stop_bits"),
    [
        ({}, None, None),
        ({"parity": "even"}, "even", None),
        ({"parity": "even", "stop_bits": 1}, "even", 1),
        ({"parity": "none"}, "none", None),
        ({"parity": "none", "stop_bits": 2}, "none", 2),
        ({"stop_bits": 1}, None, 1),
    ],
)
def test_a_keypad_line_takes_the_contracts_formats(
    keys: dict[str, object], parity: str | None, stop_bits: int | None
) -> None:
    line = parse_topology(_one_line("modbus-rtu", **keys)).lines[0]
    assert (line.parity, line.stop_bits) == (parity, stop_bits)


@pytest.mark.parametrize(
    ("kind", "keys", "error"),
    [
        (
            "modbus-rtu",
            {"parity": "odd"},
            r"lines\[0\]\.parity: 'odd' is not allowed here: the keypad contract lists "
            r'parity = "even" with stop_bits = 1 \(8E1\), parity = "none" with stop_bits = 2 '
            r"\(8N2\)",
        ),
        ("modbus-tcp", {"parity": "odd"}, r"lines\[0\]\.parity: 'odd' is not allowed"),
        (
            "modbus-rtu",
            {"parity": "none", "stop_bits": 1},
            r"lines\[0\]\.stop_bits: with parity 'none' this line's contract has 2 stop bits, "
            r"not 1",
        ),
        (
            "modbus-rtu",
            {"stop_bits": 2},
            r"lines\[0\]\.stop_bits: with parity 'even' this line's contract has 1 stop bit,",
        ),
        ("modbus-rtu", {"stop_bits": True}, r"lines\[0\]\.stop_bits: Input should be"),
        (
            "modbus-rtu",
            {"baud": 57600},
            r"lines\[0\]\.baud: 57600 is not a keypad line's rate: the keypad contract lists "
            r"9600, 19200, 38400, 115200",
        ),
        (
            "mic-serial",
            {"parity": "even"},
            r"lines\[0\]\.parity: 'even' is not allowed here: the microphone contract lists "
            r'parity = "none" with stop_bits = 1 \(8N1\)',
        ),
        ("mic-serial", {"stop_bits": 2}, r"lines\[0\]\.stop_bits: with parity 'none'"),
    ],
)
def test_a_format_the_contract_does_not_list_is_refused_by_its_key(
    kind: str, keys: dict[str, object], error: str
) -> None:
    data = _one_line(kind, **keys)
    if kind == "modbus-tcp":
        line = data["lines"][0]  # type: ignore[index]
        del line["device"]
        line |= {"host": "10.0.0.9", "port": 502}
    with pytest.raises(TopologyError, match=error):
        parse_topology(data, "hall.toml")


async def test_the_driver_opens_the_line_in_the_format_the_file_names() -> None:
    """What goes to pyserial: 8E1 by default, 8N2 for "none"."""
    formats = {}
    for parity in (None, "even", "none"):
        config = parse_topology(
            _one_line("modbus-rtu", **({} if parity is None else {"parity": parity}))
        )
        line = KeypadLine.from_config(config, "l1", FakeClock(0.0), lambda _: None, lambda _: None)
        formats[parity] = line.serial_settings()
    assert formats == {
        None: (115200, 8, "E", 1),
        "even": (115200, 8, "E", 1),
        "none": (115200, 8, "N", 2),
    }


@pytest.mark.parametrize(
    ("baud", "parity", "stop_bits", "error"),
    [
        (57600, None, None, "lists 9600, 19200, 38400, 115200 baud, not 57600"),
        (115200, "odd", None, "no parity 'odd'"),
        (115200, "none", 1, "no parity 'none' with 1 stop bit"),
    ],
)
def test_the_driver_refuses_a_line_outside_the_contract(
    baud: int, parity: str | None, stop_bits: int | None, error: str
) -> None:
    """A line built without a hall file (a tool, a test) is held to the contract too."""
    line = Line("l1", LineKind.MODBUS_RTU, "/dev/ttyUSB0", baud, None, None, parity, stop_bits)
    with pytest.raises(DriverConfigError, match=rf"line l1: .*{error}"):
        KeypadLine(line, {1: 1}, FakeClock(0.0), lambda _: None, lambda _: None)
