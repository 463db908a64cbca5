"""Injected time for the meeting core.

The core never reads a clock: every input carries its own timestamp, and the runtime asks
`Clock.now()` when it stamps one. Tests pass a `FakeClock` and move time by hand, so vote
and speaking timers run at their real values in no time at all.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale; only differences between readings mean anything."""

    def now(self) -> float: ...


class MonotonicClock:
    """The real clock, for the daemon."""

    def now(self) -> float:
        return time.monotonic()


class ResumingClock:
    """The daemon's clock: monotonic, and never behind what the journal already holds.

    After a restart (even after the machine rebooted and its monotonic clock began again) the
    runtime calls `resume_from(last)` with the time of the last journaled input: the clock
    carries on from there, so timers stand where they stood when the daemon stopped (a vote's
    remaining time does not run while nobody could press).
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def resume_from(self, last: float) -> None:
        self._offset = max(0.0, last - time.monotonic())


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._now += seconds
        return self._now

    def set(self, at: float) -> None:
        if at < self._now:
            raise ValueError("a clock never goes back")
        self._now = at
