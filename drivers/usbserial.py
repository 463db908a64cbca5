"""The USB serial adapter behind a line's device, as sysfs shows it, and its latency timer.

An FTDI chip (Linux driver `ftdi_sio`) holds what it receives until its buffer fills or its
latency timer runs out: 16 ms by default. A unit's reply is a few dozen bytes, so each one
reaches the controller up to that long after its last byte left the unit, and a poll cycle
of 32 keypads at 115200 baud takes several times its wire time. The driver exposes the timer
as `latency_timer` on the usb-serial port (`/sys/bus/usb-serial/devices/ttyUSB0/`).

`find_adapter` follows a line's device (a `/dev/serial/by-id/...` link is resolved first)
to `<sysfs>/class/tty/<name>/device`, the usb-serial port, and up to the USB device above
it; `check_latency` turns a timer above 1 ms into a `LatencyWarning` with what it costs the
line's poll cycle, from the wire-time figures the driver passes in (`PollCost`), and the
commands that fix it. The sysfs root is a parameter, so both run on any directory tree.
Where sysfs shows no timer (a pty, a CDC-ACM or CH340 adapter, a TCP gateway, a file that
cannot be read) there is nothing to say: both return None and nothing is logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chamber.drivers.health import LineMonitor

SYSFS: Final = Path("/sys")
# The timer a poll loop wants: the smallest an FTDI chip takes.
LATENCY_OK_MS: Final = 1
UDEV_RULE: Final = (
    'ACTION=="add", SUBSYSTEM=="usb-serial", DRIVER=="ftdi_sio", ATTR{latency_timer}="1"'
)
UDEV_FILE: Final = "/etc/udev/rules.d/99-usb-serial-latency.rules"


@dataclass(frozen=True)
class UsbSerialAdapter:
    """A USB serial port as sysfs shows it."""

    tty: str  # the kernel's name of the port: ttyUSB0
    driver: str  # its kernel driver: ftdi_sio, cp210x, ch341 ("" if sysfs names none)
    usb: str  # "VID:PID product" of the USB device above it ("" if none was found)
    latency_ms: int | None  # its latency timer; None where sysfs has none or it is unreadable
    latency_file: Path | None


@dataclass(frozen=True)
class PollCost:
    """What polling a line's units costs on the wire, from its contract's arithmetic.

    `transaction_s` is one unit's poll: request, silences, turnaround and reply;
    `reply_s` from the end of the request to the reply's last byte; `timeout_s` how long the
    driver waits for that reply, counted from the end of the request; `min_cycle_s` the
    shortest cycle the line's contract allows whatever the wire time.
    """

    units: int
    baud: int
    transaction_s: float
    reply_s: float
    timeout_s: float
    min_cycle_s: float = 0.0

    def cycle_s(self, latency_s: float = 0.0) -> float:
        """One cycle of polls when each reply reaches the controller `latency_s` late."""
        return max(self.min_cycle_s, self.units * (self.transaction_s + latency_s))


@dataclass(frozen=True)
class LatencyWarning:
    """An adapter's latency timer above `LATENCY_OK_MS`, with what it costs its line."""

    line: str
    device: str
    adapter: UsbSerialAdapter
    latency_ms: int
    cost: PollCost

    @property
    def cycle_wire_ms(self) -> float:
        return self.cost.cycle_s() * 1000

    @property
    def cycle_ms(self) -> float:
        return self.cost.cycle_s(self.latency_ms / 1000) * 1000

    @property
    def cycle_ok_ms(self) -> float:
        return self.cost.cycle_s(LATENCY_OK_MS / 1000) * 1000

    @property
    def late_replies(self) -> bool:
        """Whether a reply held by the timer can come after the driver stopped waiting."""
        return self.cost.reply_s + self.latency_ms / 1000 > self.cost.timeout_s

    @property
    def echo(self) -> str:
        assert self.adapter.latency_file is not None
        return f"echo {LATENCY_OK_MS} > {self.adapter.latency_file}"

    def detail(self) -> str:
        """The line's fault, in figures and names only (both languages read it as it is)."""
        return (
            f"{self.adapter.tty} latency_timer {self.latency_ms} ms: "
            f"{self.cycle_wire_ms:.1f} → {self.cycle_ms:.1f} ms/cycle"
        )

    def message(self) -> str:
        """The log line: the device, the value, its cost and the fix."""
        where = self.adapter.tty
        if self.adapter.driver or self.adapter.usb:
            about = ", ".join(p for p in (self.adapter.driver, self.adapter.usb) if p)
            where = f"{where} ({about})"
        late = (
            f"; a reply can come after the {self.cost.timeout_s * 1000:.1f} ms the line "
            "waits for it, and count as a miss"
            if self.late_replies
            else ""
        )
        return (
            f"line {self.line}: the USB serial adapter {where} behind {self.device} has its "
            f"latency timer at {self.latency_ms} ms: each reply can reach the controller up "
            f"to {self.latency_ms} ms after its last byte, so polling {self.cost.units} "
            f"unit(s) at {self.cost.baud} baud takes up to {self.cycle_ms:.1f} ms a cycle "
            f"instead of {self.cycle_wire_ms:.1f} ms on the wire ({self.cycle_ok_ms:.1f} ms "
            f"at {LATENCY_OK_MS} ms){late}. Set it to {LATENCY_OK_MS} ms: as root, "
            f"{self.echo} (until the adapter is plugged in again), and for good the udev "
            f"rule {UDEV_RULE} in {UDEV_FILE}"
        )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _usb_device(port: Path, root: Path) -> str:
    """'VID:PID product' of the first directory above `port` (inside `root`) that is a USB
    device, i.e. has an idVendor."""
    for parent in port.parents:
        if parent == root or root not in parent.parents:
            return ""
        vendor = _read(parent / "idVendor")
        if vendor is not None:
            product = _read(parent / "idProduct") or "?"
            name = _read(parent / "product")
            return f"{vendor}:{product}" + (f" {name}" if name else "")
    return ""


def find_adapter(device: str, sysfs: Path = SYSFS) -> UsbSerialAdapter | None:
    """The USB serial port behind `device` as `sysfs` shows it, or None where it shows none
    (a URL, a pty, a device sysfs does not know). Never raises for what it finds."""
    if "://" in device:
        return None
    name = Path(os.path.realpath(device)).name
    if not name:
        return None
    link = sysfs / "class" / "tty" / name / "device"
    try:
        root = sysfs.resolve()
        port = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    driver = ""
    with contextlib.suppress(OSError, RuntimeError):
        driver = (port / "driver").resolve(strict=True).name
    latency_file: Path | None = None
    for candidate in (
        port / "latency_timer",
        sysfs / "bus" / "usb-serial" / "devices" / name / "latency_timer",
    ):
        if candidate.is_file():
            latency_file = candidate
            break
    latency_ms: int | None = None
    if latency_file is not None:
        text = _read(latency_file)
        if text is not None and text.isdigit():
            latency_ms = int(text)
    return UsbSerialAdapter(name, driver, _usb_device(port, root), latency_ms, latency_file)


def check_latency(
    line: str, device: str, cost: PollCost, sysfs: Path = SYSFS
) -> LatencyWarning | None:
    """A warning when the adapter behind `device` holds replies longer than 1 ms; None when
    its timer is 1 ms or less, or sysfs shows no timer for it."""
    adapter = find_adapter(device, sysfs)
    if adapter is None or adapter.latency_ms is None or adapter.latency_ms <= LATENCY_OK_MS:
        return None
    return LatencyWarning(line, device, adapter, adapter.latency_ms, cost)


def report_latency(
    monitor: LineMonitor,
    device: str,
    cost: PollCost,
    sysfs: Path,
    log: logging.Logger,
) -> None:
    """Log once, and show in the line's health, an adapter latency timer above 1 ms (the
    keypad and mic lines alike, at each opening of the port)."""
    line = monitor.health.line
    warning = check_latency(line, device, cost, sysfs)
    problem = "" if warning is None else warning.detail()
    if warning is not None and problem != monitor.health.adapter:
        log.warning(
            "%s",
            warning.message(),
            extra={
                "event": "adapter-latency",
                "line": line,
                "device": device,
                "latency_ms": warning.latency_ms,
            },
        )
    monitor.adapter(problem)
