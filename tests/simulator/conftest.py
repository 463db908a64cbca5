"""Shared pieces of the simulator tests: small halls, and a test-side master on a serial line.

The master is deliberately built on the codecs only (protocols.keypad, protocols.micunit),
not on the daemon's drivers: the simulator is checked against the contracts, not against
another part of chamber that could share its mistakes.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
import tty
from collections.abc import Callable
from typing import TypeVar

from chamber.controller.config import HallConfig, parse_config
from chamber.controller.hallgen import HallSpec, generate

T = TypeVar("T")


def small_hall(
    *, serial_seats: int = 4, tcp_seats: int = 0, seats: int | None = None, per_line: int = 4
) -> HallConfig:
    """A hall with keypad + mic lines for the first seats, gateways next, IP units after."""
    total = seats if seats is not None else serial_seats + tcp_seats
    spec = HallSpec(
        hall_id="sim-test",
        body="Hội đồng nhân dân thử nghiệm",
        short_name="HĐND thử",
        seats=total,
        language="vi",
        serial_seats=serial_seats,
        tcp_seats=tcp_seats,
        per_line=per_line,
        columns=8,
        seed=7,
    )
    return parse_config(tomllib.loads(generate(spec)))


class SerialMaster:
    """The controller's end of a simulated line: write a frame, collect what comes back.

    `decode` turns the bytes received so far into complete replies (a codec's framer or
    stream decoder); `exchange` waits, with a timeout, for the first one.
    """

    def __init__(self, path: str, decode: Callable[[bytes], list[T]]) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._fd)
        self._decode = decode
        self._replies: asyncio.Queue[object] = asyncio.Queue()
        self.received = bytearray()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except OSError:
            self._loop.remove_reader(self._fd)
            return
        self.received += data
        for reply in self._decode(data):
            self._replies.put_nowait(reply)

    def send(self, frame: bytes) -> None:
        os.write(self._fd, frame)

    async def exchange(self, frame: bytes, within: float = 1.0) -> object:
        self.send(frame)
        return await asyncio.wait_for(self._replies.get(), within)

    async def next_reply(self, within: float = 1.0) -> object:
        return await asyncio.wait_for(self._replies.get(), within)

    async def expect_silence(self, frame: bytes, window: float = 0.05) -> bool:
        """Send, and report True if nothing complete came back within `window` seconds."""
        self.send(frame)
        try:
            await asyncio.wait_for(self._replies.get(), window)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
