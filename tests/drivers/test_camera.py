"""The camera driver against the simulated VISCA-over-IP camera, on real UDP sockets.

Waits are on the simulator's condition or on the health sink's event, never on a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import cast

import pytest

from chamber.controller.core.cameras import CameraSpec, CameraTransport
from chamber.controller.core.clock import MonotonicClock
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.camera import ATTEMPTS, CameraDriver
from chamber.protocols import visca
from chamber.simulator.camera import SimulatedCamera, start_camera

WAIT_S = 30.0  # a bound on waits for what must happen, not a timing requirement


class Health:
    def __init__(self) -> None:
        self.seen: list[LineHealth] = []
        self.changed = asyncio.Event()

    def __call__(self, item: UnitHealth | LineHealth) -> None:
        assert isinstance(item, LineHealth)
        self.seen.append(item)
        self.changed.set()

    async def until(self, connected: bool) -> LineHealth:
        async with asyncio.timeout(WAIT_S):
            while not (self.seen and self.seen[-1].connected is connected):
                self.changed.clear()
                await self.changed.wait()
        return self.seen[-1]


@contextlib.asynccontextmanager
async def running(
    camera: SimulatedCamera, transport: CameraTransport = CameraTransport.VISCA_IP
) -> AsyncIterator[tuple[CameraDriver, Health]]:
    health = Health()
    spec = CameraSpec("cam1", "127.0.0.1", camera.port, transport, chair_preset=1)
    driver = CameraDriver(spec, MonotonicClock(), health, ack_timeout_s=0.2)
    task = asyncio.create_task(driver.run())
    try:
        yield driver, health
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        camera.close()


async def test_a_recall_reaches_the_camera() -> None:
    camera = await start_camera()
    async with running(camera) as (driver, health):
        await health.until(connected=True)
        assert camera.resets == 1  # the sequence count is reset first
        await driver.ready()
        driver.recall(7)
        async with asyncio.timeout(WAIT_S):
            await camera.wait_for(lambda: camera.shown == 7)
        assert [r.command for r in camera.recalls()] == [visca.PresetRecall(7)]
        assert [r.sequence for r in camera.recalls()] == [0]
        assert driver.health() == [LineHealth("camera:cam1", True)]


async def test_only_the_newest_queued_recall_is_sent() -> None:
    camera = await start_camera()
    async with running(camera) as (driver, health):
        await health.until(connected=True)
        for preset in (3, 4, 5):
            driver.recall(preset)
        async with asyncio.timeout(WAIT_S):
            await camera.wait_for(lambda: camera.shown == 5)
        assert [r.command for r in camera.recalls()] == [visca.PresetRecall(5)]


async def test_store_and_drive() -> None:
    camera = await start_camera()
    async with running(camera) as (driver, health):
        await health.until(connected=True)
        assert (await driver.execute(visca.AbsolutePosition(120, -40))).done
        assert (await driver.execute(visca.PresetSet(9))).done
        assert camera.presets[9] == (120, -40)
        left = visca.PanTiltDrive(visca.PanDirection.LEFT, visca.TiltDirection.STOP, 5, 1)
        assert (await driver.execute(left)).done
        assert (await driver.execute(visca.PositionInquiry())).position == (115, -40)
        assert (await driver.execute(visca.pan_tilt_stop())).done


async def test_a_silent_camera_shows_in_health_and_blocks_nothing() -> None:
    camera = await start_camera()
    camera.silent = True
    async with running(camera) as (driver, health):
        down = await health.until(connected=False)
        assert "no answer" in down.detail
        driver.recall(3)  # returns at once: the floor never waits on a camera
        outcome = await driver.execute(visca.PresetRecall(3))
        assert not outcome.done
        assert f"{ATTEMPTS} attempts" in outcome.detail
        assert driver.health() == [LineHealth("camera:cam1", False, outcome.detail)]
        camera.silent = False
        assert (await driver.execute(visca.PresetRecall(4))).done
        up = await health.until(connected=True)
        assert up.connected
        assert driver.health() == [LineHealth("camera:cam1", True)]


async def test_a_sequence_error_resets_the_count() -> None:
    camera = await start_camera()
    async with running(camera) as (driver, health):
        await health.until(connected=True)
        original = camera.datagram_received
        refused: list[int] = []

        def strict(data: bytes, addr: tuple[str, int]) -> None:
            # The first command after the reset is refused as out of sequence once.
            message = visca.parse_controller_datagram(data)
            if message.command is not None and not refused:
                refused.append(message.sequence)
                assert camera.transport is not None
                error = visca.control_reply(message.sequence, visca.ControlErrorCode.SEQUENCE)
                camera.transport.sendto(error.encode(), addr)
                return
            original(data, addr)

        camera.datagram_received = strict  # type: ignore[method-assign]
        assert (await driver.execute(visca.PresetRecall(2))).done
        assert camera.resets == 2
        assert camera.recalls()[-1].sequence == 0


@pytest.mark.parametrize("transport", [CameraTransport.VISCA_UDP])
async def test_raw_visca_over_udp(transport: CameraTransport) -> None:
    """Raw VISCA in datagrams (several makers' port): a camera that reads raw messages."""
    loop = asyncio.get_running_loop()
    got: list[visca.Command] = []

    class Raw(asyncio.DatagramProtocol):
        def connection_made(self, t: asyncio.BaseTransport) -> None:
            self.t = cast(asyncio.DatagramTransport, t)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            _, command = visca.parse_command(data)
            got.append(command)
            self.t.sendto(visca.encode_reply(visca.Ack(1, 1)), addr)
            self.t.sendto(visca.encode_reply(visca.Completion(1, 1)), addr)

    sock, _ = await loop.create_datagram_endpoint(Raw, local_addr=("127.0.0.1", 0))
    health = Health()
    port = sock.get_extra_info("sockname")[1]
    spec = CameraSpec("raw", "127.0.0.1", port, transport)
    driver = CameraDriver(spec, MonotonicClock(), health, ack_timeout_s=0.2)
    task = asyncio.create_task(driver.run())
    try:
        assert (await driver.execute(visca.PresetRecall(6))).done
        assert got[-1] == visca.PresetRecall(6)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
