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
