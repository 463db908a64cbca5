"""The wire-time model: how long a request and its reply take on a real RS-485 line.

A pty moves bytes as fast as the CPU allows, so without this model every poll cycle measured
against the simulator would look impossibly fast. With it, a simulated unit hands its reply
to the pty at the instant a real line would have delivered its last byte:

    first request byte seen + request on the wire + inter-frame silence + unit turnaround
    + reply on the wire

Deadlines are taken from the event loop's clock at the first byte of the request, so the
time spent in the simulator's own code is absorbed instead of added. The numbers (bits per
character, silence, turnaround) come from each line's firmware spec; this module only does
the arithmetic and never touches a port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# How long before a deadline the timer gives way to yielding (see `WireTime.wait_until`).
SPIN_S = 0.0015


@dataclass(frozen=True)
class WireTime:
    """The timing of one serial line; `enabled=False` answers at once (fast tests)."""

    baud: int
    bits_per_char: int
    silence_s: float
    turnaround_s: float
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.baud <= 0 or self.bits_per_char <= 0:
            raise ValueError("baud and bits per character must be positive")
        if self.silence_s < 0 or self.turnaround_s < 0:
            raise ValueError("silence and turnaround cannot be negative")

    @property
    def char_s(self) -> float:
        return self.bits_per_char / self.baud

    def frame_s(self, length: int) -> float:
        """The time `length` bytes occupy on the line."""
        return length * self.char_s

    def exchange_s(self, request_len: int, reply_len: int) -> float:
        """Request, the silence that ends it, the unit's turnaround, then the reply."""
        return (
            self.frame_s(request_len) + self.silence_s + self.turnaround_s + self.frame_s(reply_len)
        )

    def reply_at(self, request_started: float, request_len: int, reply_len: int) -> float:
        """The loop time at which the reply is complete on a real line."""
        return request_started + self.exchange_s(request_len, reply_len)

    async def wait_until(self, deadline: float, extra_s: float = 0.0) -> None:
        """Sleep until `deadline` (+ `extra_s` for a slow-unit fault); no-op when disabled.

        The event loop's timers wake up to a millisecond late (epoll counts whole
        milliseconds), which is a fifth of a whole poll exchange at 115,200 baud. So the
        timer is set `SPIN_S` early and the rest is spent yielding to the loop, which keeps
        other units and lines running meanwhile.
        """
        loop = asyncio.get_running_loop()
        target = (deadline if self.enabled else loop.time()) + extra_s
        delay = target - loop.time() - SPIN_S
        if delay > 0:
            await asyncio.sleep(delay)
        # A deadline, not an event: nothing else will signal that the line time is over.
        while loop.time() < target:  # noqa: ASYNC110
            await asyncio.sleep(0)
