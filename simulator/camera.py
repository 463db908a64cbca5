"""A simulated PTZ camera speaking Sony's VISCA over IP on UDP (asyncio datagrams).

It answers as a Sony camera does: an ACK (socket 1), then the completion, for every command
of the subset chamber uses (protocols/visca.py), the sequence reset with its control reply,
and the position inquiry with its pan and tilt. It records every preset it was sent, with
the time it read the datagram (`clock`, `time.monotonic` unless given), so a test can measure
how long after a microphone opened the camera got its preset. `silent = True` makes it a
dead camera: it reads and records nothing and answers nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from chamber.protocols import visca

log = logging.getLogger("chamber.simulator.camera")


@dataclass(frozen=True)
class Received:
    """One command the camera read, and when (the camera's clock)."""

    at: float
    command: visca.Command
    sequence: int


class SimulatedCamera(asyncio.DatagramProtocol):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.received: list[Received] = []
        self.presets: dict[int, tuple[int, int]] = {}  # preset -> stored (pan, tilt)
        self.pan = 0
        self.tilt = 0
        self.shown: int | None = None  # the preset last recalled
        self.silent = False
        self.resets = 0
        self.garbage = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._changed = asyncio.Condition()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def recalls(self) -> list[Received]:
        return [r for r in self.received if isinstance(r.command, visca.PresetRecall)]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.silent or self.transport is None:
            return
        try:
            message = visca.parse_controller_datagram(data)
        except visca.ViscaRemoteError:
            self.garbage += 1
            error = visca.control_reply(0, visca.ControlErrorCode.MESSAGE).encode()
            self.transport.sendto(error, addr)
            return
        if message.command is None:
            self.resets += 1
            self.transport.sendto(visca.control_reply(message.sequence).encode(), addr)
            return
        command = message.command
        self.received.append(Received(self.clock(), command, message.sequence))
        seq = message.sequence
        if isinstance(command, visca.PositionInquiry):
            reply = visca.Position(1, self.pan, self.tilt)
            self.transport.sendto(visca.reply_datagram(seq, reply), addr)
        else:
            self.transport.sendto(visca.reply_datagram(seq, visca.Ack(1, 1)), addr)
            self._execute(command)
            self.transport.sendto(visca.reply_datagram(seq, visca.Completion(1, 1)), addr)
        asyncio.get_running_loop().create_task(self._notify())

    def _execute(self, command: visca.Command) -> None:
        match command:
            case visca.PresetRecall(preset):
                self.shown = preset
                self.pan, self.tilt = self.presets.get(preset, (0, 0))
            case visca.PresetSet(preset):
                self.presets[preset] = (self.pan, self.tilt)
            case visca.Home():
                self.pan = self.tilt = 0
                self.shown = None
            case visca.AbsolutePosition(pan, tilt, _, _):
                self.pan, self.tilt = pan, tilt
                self.shown = None
            case visca.PanTiltDrive(pan, tilt, vv, ww):
                # One step per command: the simulator has no motor to run.
                step = {visca.PanDirection.LEFT: -vv, visca.PanDirection.RIGHT: vv}
                self.pan = max(-0x8000, min(0x7FFF, self.pan + step.get(pan, 0)))
                tstep = {visca.TiltDirection.DOWN: -ww, visca.TiltDirection.UP: ww}
                self.tilt = max(-0x8000, min(0x7FFF, self.tilt + tstep.get(tilt, 0)))
                self.shown = None
            case _:
                pass

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until `predicate()` holds (checked after each command); callers bound the wait."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def start_camera(
    host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.monotonic
) -> SimulatedCamera:
    loop = asyncio.get_running_loop()
    _, camera = await loop.create_datagram_endpoint(
        lambda: SimulatedCamera(clock), local_addr=(host, port)
    )
    return camera
