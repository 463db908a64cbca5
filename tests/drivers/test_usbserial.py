"""The USB serial adapter's latency timer: found through sysfs, warned about, shown in health.

sysfs is the one part here without a real stand-in: this machine has no USB serial adapter,
and the kernel's own tree cannot be written. Each test builds the part of sysfs an FTDI
adapter makes (the USB device with idVendor/idProduct, its interface, the usb-serial port
ttyUSB0 with `latency_timer` and its `driver` link, `class/tty/ttyUSB0/device` and
`bus/usb-serial/devices/ttyUSB0` pointing to it), laid out as the kernel lays it out, in a
temporary directory, and passes that directory as the sysfs root. The lines themselves run
over real pty pairs against the keypad test units.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.config import HallConfig, parse_config
from chamber.controller.core.clock import Clock, FakeClock
from chamber.controller.faults import FaultBook, FaultKind
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime
from chamber.drivers.base import HealthSink, InputSink, LineHealth, UnitHealth
from chamber.drivers.mic_line import MicLine
from chamber.drivers.modbus_line import KeypadLine
from chamber.drivers.topology import Line, LineKind
from chamber.drivers.usbserial import (
    LATENCY_OK_MS,
    UDEV_RULE,
    PollCost,
    check_latency,
    find_adapter,
)
from chamber.protocols import keypad as kp
from chamber.protocols import micunit as mic
from chamber.protocols.modbus_timing import frame_time
from tests.drivers.conftest import PtyPair, Recorder
from tests.drivers.keypad_units import Keypads
from tests.test_config import _minimal

PORT = "devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0"


def fake_sysfs(root: Path, latency: str | None = "16", *, tty: str = "ttyUSB0") -> Path:
    """An FTDI FT232R's part of sysfs under `root`, its port known to class/tty as `tty`;
    `latency` the content of latency_timer (None: no such file, as for other drivers)."""
    usb = root / "devices/pci0000:00/0000:00:14.0/usb1/1-2"
    port = root / PORT
    port.mkdir(parents=True)
    (usb / "idVendor").write_text("0403\n")
    (usb / "idProduct").write_text("6001\n")
    (usb / "product").write_text("FT232R USB UART\n")
    drivers = root / "bus/usb-serial/drivers/ftdi_sio"
    drivers.mkdir(parents=True)
    (port / "driver").symlink_to(os.path.relpath(drivers, port))
    if latency is not None:
        (port / "latency_timer").write_text(latency + "\n")
    cls = root / "class/tty" / tty
    cls.mkdir(parents=True)
    (cls / "device").symlink_to(os.path.relpath(port, cls))
    bus = root / "bus/usb-serial/devices"
    bus.mkdir(parents=True)
    (bus / "ttyUSB0").symlink_to(os.path.relpath(port, bus))
    return root


@pytest.fixture
def dev(tmp_path: Path) -> str:
    """/dev/ttyUSB0 and the /dev/serial/by-id link a hall file names, in a temp dir."""
    node = tmp_path / "dev/ttyUSB0"
    by_id = tmp_path / "dev/serial/by-id"
    by_id.mkdir(parents=True)
    node.write_text("")
    link = by_id / "usb-FTDI_FT232R_USB_UART_A10KXYZ-if00-port0"
    link.symlink_to("../../ttyUSB0")
    return str(link)


def keypad_line(device: str, baud: int = 115200, units: int = 32) -> KeypadLine:
    line = Line("kp1", LineKind.MODBUS_RTU, device, baud, None, None, "none")
    return KeypadLine(line, {a: a for a in range(1, units + 1)}, FakeClock(0.0), _drop, _drop)


def _drop(_item: object) -> None:
    pass


def test_an_ftdi_adapter_at_16_ms_is_warned_about_with_its_cost(tmp_path: Path, dev: str) -> None:
    sysfs = fake_sysfs(tmp_path / "sys")
    adapter = find_adapter(dev, sysfs)
    assert adapter is not None
    assert (adapter.tty, adapter.driver, adapter.latency_ms) == ("ttyUSB0", "ftdi_sio", 16)
    assert adapter.usb == "0403:6001 FT232R USB UART"
    line = keypad_line(dev)
    warning = check_latency("kp1", dev, line.poll_cost(), sysfs)
    assert warning is not None
    # The cycle from the contract's own arithmetic: 32 polls, each reply up to 16 ms late.
    wire = kp.poll_cycle_wire_time(32, 115200)
    assert warning.cycle_wire_ms == pytest.approx(wire * 1000)
    assert warning.cycle_ms == pytest.approx((wire + 32 * 0.016) * 1000)
    assert warning.cycle_ok_ms == pytest.approx((wire + 32 * 0.001) * 1000)
    assert (round(warning.cycle_wire_ms, 1), round(warning.cycle_ms, 1)) == (241.1, 753.1)
    # A poll's reply takes 5.0 ms after the request; the line waits 16.5 ms for it.
    assert warning.late_replies
    text = warning.message()
    for part in (
        dev,
        "ttyUSB0 (ftdi_sio, 0403:6001 FT232R USB UART)",
        "latency timer at 16 ms",
        "32 unit(s) at 115200 baud",
        "up to 753.1 ms a cycle instead of 241.1 ms on the wire (273.1 ms at 1 ms)",
        "after the 16.5 ms the line waits for it",
        f"echo 1 > {sysfs / PORT / 'latency_timer'}",
        UDEV_RULE,
    ):
        assert part in text
    assert warning.detail() == "ttyUSB0 latency_timer 16 ms: 241.1 → 753.1 ms/cycle"


def test_a_mic_line_counts_its_minimum_cycle(tmp_path: Path, dev: str) -> None:
    sysfs = fake_sysfs(tmp_path / "sys")
    line = Line("mic1", LineKind.MIC_SERIAL, dev, 115200, None, None)
    driver = MicLine(line, {a: a for a in range(1, 9)}, FakeClock(0.0), _drop, _drop)
    cost = driver.poll_cost()
    poll = frame_time(len(mic.encode(mic.Poll(address=1))), 115200, 10)
    status = frame_time(len(mic.encode(mic.Status(address=1))), 115200, 10)
    assert cost.transaction_s == pytest.approx(poll + 100e-6 + status + 200e-6)
    warning = check_latency("mic1", dev, cost, sysfs)
    assert warning is not None
    # Eight units fit in the contract's 50 ms round on the wire; not with 16 ms per reply.
    assert warning.cycle_wire_ms == pytest.approx(50.0)
    assert warning.cycle_ms == pytest.approx(8 * (cost.transaction_s + 0.016) * 1000)
    # The reply is due within 10 ms of the request: one held 16 ms always comes too late.
    assert warning.late_replies


@pytest.mark.parametrize("value", ["1", "0"])
def test_a_timer_at_1_ms_or_less_says_nothing(tmp_path: Path, dev: str, value: str) -> None:
    sysfs = fake_sysfs(tmp_path / "sys", value)
    assert find_adapter(dev, sysfs) is not None
    assert check_latency("kp1", dev, keypad_line(dev).poll_cost(), sysfs) is None


def test_no_sysfs_entry_says_nothing(tmp_path: Path, dev: str) -> None:
    cost = keypad_line(dev).poll_cost()
    empty = tmp_path / "empty"
    empty.mkdir()
    # No tree at all, a tree without this tty, a URL, and an adapter without the timer
    # (another driver: cp210x, ch341, cdc_acm have no latency_timer).
    assert check_latency("kp1", dev, cost, tmp_path / "missing") is None
    assert check_latency("kp1", dev, cost, empty) is None
    assert check_latency("kp1", "socket://127.0.0.1:4001", cost, empty) is None
    sysfs = fake_sysfs(tmp_path / "sys", None)
    adapter = find_adapter(dev, sysfs)
    assert adapter is not None
    assert adapter.latency_ms is None
    assert check_latency("kp1", dev, cost, sysfs) is None


@pytest.mark.parametrize("kind", ["eio", "garbage", "binary", "directory", "dangling"])
def test_an_unreadable_timer_says_nothing(tmp_path: Path, dev: str, kind: str) -> None:
    sysfs = fake_sysfs(tmp_path / "sys", None)
    timer = sysfs / PORT / "latency_timer"
    if kind == "eio":
        # Reading /proc/self/mem at offset 0 fails with EIO, for root too.
        timer.symlink_to("/proc/self/mem")
        with pytest.raises(OSError, match="Input/output error"):
            timer.read_bytes()
    elif kind == "garbage":
        timer.write_text("sixteen\n")
    elif kind == "binary":
        timer.write_bytes(b"\xff\xfe1\n")
    elif kind == "directory":
        timer.mkdir()
    else:
        timer.symlink_to(tmp_path / "nowhere")
    adapter = find_adapter(dev, sysfs)
    assert adapter is not None
    assert adapter.latency_ms is None
    assert check_latency("kp1", dev, keypad_line(dev).poll_cost(), sysfs) is None


@given(
    units=st.integers(1, 247),
    transaction=st.floats(1e-4, 0.5),
    min_cycle=st.floats(0, 0.2),
    latency=st.integers(LATENCY_OK_MS + 1, 255),
)
def test_a_longer_timer_never_makes_a_cycle_shorter(
    units: int, transaction: float, min_cycle: float, latency: int
) -> None:
    cost = PollCost(units, 115200, transaction, transaction / 2, transaction, min_cycle)
    wire, ok, held = (
        cost.cycle_s(),
        cost.cycle_s(LATENCY_OK_MS / 1000),
        cost.cycle_s(latency / 1000),
    )
    assert wire <= ok <= held
    assert held >= units * latency / 1000
    assert wire >= min_cycle


def test_the_fault_list_shows_the_adapter_until_it_is_right() -> None:
    book = FaultBook()
    detail = "ttyUSB0 latency_timer 16 ms: 241.1 → 753.1 ms/cycle"
    assert book.observe(LineHealth("kp1", connected=True, adapter=detail), 1.0)
    (fault,) = book.faults()
    assert (fault.kind, fault.line, fault.address, fault.detail) == (
        FaultKind.ADAPTER,
        "kp1",
        None,
        detail,
    )
    # The same report again, or the line going down with it: still one occurrence.
    assert not book.observe(LineHealth("kp1", connected=True, adapter=detail), 2.0)
    book.observe(LineHealth("kp1", connected=False, detail="unplugged", adapter=detail), 3.0)
    adapter = next(f for f in book.faults() if f.kind is FaultKind.ADAPTER)
    assert adapter.count == 1
    assert adapter.active
    # Replugged and set to 1 ms: over.
    book.observe(LineHealth("kp1", connected=True), 4.0)
    adapter = next(f for f in book.faults() if f.kind is FaultKind.ADAPTER)
    assert not adapter.active


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", "") == "adapter-latency":
            self.records.append(record)


@contextlib.contextmanager
def _capture(name: str) -> Iterator[_Warnings]:
    handler = _Warnings()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_the_daemon_shows_the_fault_of_a_line_on_a_slow_adapter(
    tmp_path: Path, pty_pair: PtyPair
) -> None:
    # The line's device is a pty: its kernel name (the pts number) is what the fake tree's
    # class/tty knows, with the FTDI port behind it.
    pts = Path(os.readlink(pty_pair.master)).name
    sysfs = fake_sysfs(tmp_path / "sys", tty=pts)
    doc = _minimal(
        lines=[
            {"id": "rtu1", "kind": "modbus-rtu", "device": pty_pair.master, "parity": "none"},
            {"id": "mic1", "kind": "mic-serial", "device": "/dev/ttyUSB1"},
        ]
    )
    keypads = Keypads([1])
    server = keypads.rtu_server(pty_pair.unit)
    await server.serve_forever(background=True)
    lines: list[KeypadLine] = []

    def factory(
        config: HallConfig, clock: Clock, sink: InputSink, on_health: HealthSink
    ) -> Sequence[KeypadLine]:
        lines.append(KeypadLine(config.line("rtu1"), {1: 1}, clock, sink, on_health, sysfs=sysfs))
        return lines

    with (
        _capture("chamber.drivers.modbus_line") as logged,
        Journal.open(tmp_path / "j.sqlite") as journal,
    ):
        runtime = Runtime(parse_config(doc), journal, clock=FakeClock(10.0), driver_factory=factory)
        task = asyncio.ensure_future(runtime.run())
        try:
            async with asyncio.timeout(20):
                await runtime.started.wait()
                await lines[0].ready()
                await lines[0].wait_cycles(1)
            health = runtime.health_snapshot()
            (line,) = [ln for ln in health["lines"] if ln["line"] == "rtu1"]
            assert line["connected"]
            expected = (
                f"{pts} latency_timer 16 ms: "
                f"{kp.poll_cycle_wire_time(1, 115200) * 1000:.1f} → "
                f"{(kp.poll_cycle_wire_time(1, 115200) + 0.016) * 1000:.1f} ms/cycle"
            )
            assert line["adapter"] == expected
            faults = [f for f in runtime.faults.snapshot() if f["kind"] == "adapter"]
            assert [(f["line"], f["detail"], f["active"]) for f in faults] == [
                ("rtu1", expected, True)
            ]
            # The unit is served all the same, and the warning was written once.
            assert [u["online"] for u in health["units"] if u["line"] == "rtu1"] == [True]
            assert len(logged.records) == 1
            assert pty_pair.master in logged.records[0].getMessage()
            assert "echo 1 >" in logged.records[0].getMessage()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await server.shutdown()  # type: ignore[no-untyped-call]


async def test_a_line_on_a_pty_logs_nothing(pty_pair: PtyPair, tmp_path: Path) -> None:
    """The real sysfs knows no pty: a line on one has no adapter to speak of."""
    keypads = Keypads([1])
    server = keypads.rtu_server(pty_pair.unit)
    await server.serve_forever(background=True)
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    line = Line("kp1", LineKind.MODBUS_RTU, pty_pair.master, 115200, None, None, "none")
    driver = KeypadLine(line, {1: 1}, FakeClock(0.0), _drop, health)
    with _capture("chamber.drivers.modbus_line") as logged:
        task = asyncio.create_task(driver.run())
        try:
            async with asyncio.timeout(20):
                await driver.ready()
                await driver.wait_cycles(1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await server.shutdown()  # type: ignore[no-untyped-call]
    assert logged.records == []
    assert all(h.adapter == "" for h in health.items if isinstance(h, LineHealth))


async def test_a_mic_line_on_a_slow_adapter_reports_it(pty_pair: PtyPair, tmp_path: Path) -> None:
    """The mic line's own serial transport checks too: the fault comes with the connection,
    before any unit answers (none does here)."""
    pts = Path(os.readlink(pty_pair.master)).name
    sysfs = fake_sysfs(tmp_path / "sys", tty=pts)
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    line = Line("mic1", LineKind.MIC_SERIAL, pty_pair.master, 115200, None, None)
    driver = MicLine(line, {1: 1, 2: 2}, FakeClock(0.0), _drop, health, sysfs=sysfs)
    with _capture("chamber.drivers.mic_line") as logged:
        task = asyncio.create_task(driver.run())
        try:
            await health.wait_for(
                lambda items: any(isinstance(h, LineHealth) and h.adapter for h in items), 20
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    (reported,) = [h for h in health.items if isinstance(h, LineHealth) and h.adapter]
    assert reported.connected
    assert reported.adapter.startswith(f"{pts} latency_timer 16 ms: 50.0 → ")
    assert len(logged.records) == 1
    assert "a reply can come after the 10.0 ms the line waits for it" in (
        logged.records[0].getMessage()
    )
