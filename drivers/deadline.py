"""Run a callback at an exact moment of the event loop's clock, without busy-waiting.

asyncio's own timers wake through the selector's timeout, which epoll takes in whole
milliseconds rounded up: a frame due 1.75 ms from now would go up to a millisecond late.
On Linux a timerfd armed at the absolute deadline (CLOCK_MONOTONIC, the clock
`loop.time()` reads) becomes readable at that moment to the microsecond, and the loop's
reader callback runs it. Elsewhere, or where the timerfd cannot be made, `loop.call_at`.
This module knows nothing of any protocol.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
import sys
import time
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    # asyncio's clock must be the timerfd's for the deadline to mean the same moment.
    if time.get_clock_info("monotonic").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class DeadlineTimer:
    """One pending callback at a time (a new `call_at` replaces it), on the running loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._callback: Callable[[], None] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fd = -1
        if _LIBC is not None:
            fd = int(_LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
            if fd >= 0:
                self._fd = fd
                self._loop.add_reader(fd, self._fired)

    @property
    def precise(self) -> bool:
        """True when a timerfd keeps the deadline (else the loop's millisecond timers)."""
        return self._fd >= 0

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run `callback` at `when` (the loop's clock); at once, soon, if that has passed."""
        self.cancel()
        self._callback = callback
        if self._fd < 0 or _LIBC is None:
            self._handle = self._loop.call_at(when, self._run)
            return
        sec = int(when)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, max(1, int((when - sec) * 1e9))))
        if _LIBC.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            self._handle = self._loop.call_at(when, self._run)

    def cancel(self) -> None:
        self._callback = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._fd >= 0 and _LIBC is not None:
            off = _Itimerspec(_Timespec(0, 0), _Timespec(0, 0))
            _LIBC.timerfd_settime(self._fd, 0, ctypes.byref(off), None)
            self._drain()

    def _drain(self) -> None:
        try:
            data = os.read(self._fd, 8)
        except (BlockingIOError, OSError):
            return
        struct.unpack("=Q", data)  # the expirations count: one, or none left to read

    def _fired(self) -> None:
        self._drain()
        self._run()

    def _run(self) -> None:
        self._handle = None
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()

    def close(self) -> None:
        self.cancel()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
