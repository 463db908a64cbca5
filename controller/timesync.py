"""Whether this machine's clock is synchronised, as the kernel says, and a warning when not.

Signed minutes and exports carry dates and times: a hall PC whose clock drifts, offline for
months, dates a sitting wrongly. The kernel knows whether an NTP client (chrony, ntpd,
systemd-timesyncd) keeps the clock disciplined: `adjtimex(2)` returns `TIME_ERROR` and sets
`STA_UNSYNC` in its status while it does not. That is what `timedatectl` reports as
"System clock synchronized" (NTPSynchronized); reading it here needs neither timedatectl nor
chrony, only the system call (with `modes` 0, which changes nothing and needs no privilege).

`ClockWatch` logs one line at start (a warning when unsynchronised) and one on each change,
and keeps a `clock` fault in the technician's fault list while the clock is unsynchronised;
`/metrics` shows `chamber_clock_synchronised`. The reading is injected (`reader`), so tests
give it the answers they need.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from dataclasses import dataclass

from chamber.controller.faults import FaultBook

log = logging.getLogger(__name__)

TIME_ERROR = 5
STA_UNSYNC = 0x0040
# How often the clock's state is read again.
CHECK_EVERY_S = 60.0


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """`struct timex` of <sys/timex.h> (Linux, glibc)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class ClockReading:
    """What the kernel says of the clock: synchronised or not, and its estimated maximum
    error (microseconds; the kernel's `maxerror`, which grows while nothing disciplines it).
    `error` is set when the clock could not be read at all."""

    synchronised: bool
    max_error_us: int = 0
    error: str = ""


def read_clock() -> ClockReading:
    """adjtimex(2) with nothing to change: TIME_ERROR or STA_UNSYNC means unsynchronised."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError as exc:
        return ClockReading(False, error=f"no C library: {exc}")
    tx = _Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    if state < 0:
        errno = ctypes.get_errno()
        return ClockReading(False, error=f"adjtimex failed: errno {errno}")
    synchronised = state != TIME_ERROR and not tx.status & STA_UNSYNC
    return ClockReading(synchronised, int(tx.maxerror))


class ClockWatch:
    """Reads the clock's state at start and every `every_s` seconds; logs one line at start
    and one on each change; holds the `clock` fault while it is unsynchronised."""

    def __init__(
        self,
        faults: FaultBook,
        now: Callable[[], float],
        *,
        reader: Callable[[], ClockReading] = read_clock,
        on_change: Callable[[], None] = lambda: None,
        every_s: float = CHECK_EVERY_S,
    ) -> None:
        self.faults = faults
        self._now = now
        self._reader = reader
        self._on_change = on_change
        self.every_s = every_s
        self.reading: ClockReading | None = None

    def check(self) -> ClockReading:
        """Read the clock once; log and update the fault list if its state changed."""
        reading = self._reader()
        before = self.reading
        self.reading = reading
        if before is not None and before.synchronised == reading.synchronised:
            return reading
        now = self._now()
        if reading.synchronised:
            log.info(
                "the system clock is synchronised",
                extra={"event": "clock-synchronised", "max_error_us": reading.max_error_us},
            )
            changed = self.faults.clock_synchronised(now)
        else:
            why = reading.error or "the kernel reports it unsynchronised (STA_UNSYNC)"
            log.warning(
                "the system clock is not synchronised: %s; dates in minutes and signed "
                "results may be wrong (keep it right with chrony: docs/technician.md)",
                why,
                extra={
                    "event": "clock-unsynchronised",
                    "max_error_us": reading.max_error_us,
                    "detail": why,
                },
            )
            self.faults.clock_unsynchronised(reading.error, now)
            changed = True
        if changed:
            self._on_change()
        return reading

    async def run(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(self.every_s)
