"""Done when: granting the floor makes the simulated camera receive the seat's preset, and
revoking it returns the camera to the chair's preset; a camera that does not answer shows in
health and never blocks the floor.

The daemon's runtime with the hall's camera service and the real camera driver, against the
simulated VISCA-over-IP camera on UDP. The seat's microphone is a recording driver (it keeps
when the runtime switched it on, by the monotonic clock the simulated camera also stamps
with), so the test checks the order (mic on, then the preset) and prints the latency. The
core's time is a fake clock: the 4 s hold runs at its real value, moved by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from chamber.controller.cameras import CameraService
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.cameras import CameraSpec
from chamber.controller.core.clock import Clock, FakeClock
from chamber.controller.core.effects import MicSwitch, UnitCommand
from chamber.controller.core.inputs import GrantFloor, OpenSitting, RevokeFloor
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime
from chamber.drivers.base import Driver, HealthSink, InputSink, LineHealth, UnitHealth
from chamber.drivers.camera import CameraDriver
from chamber.protocols import visca
from chamber.simulator.camera import SimulatedCamera, start_camera

HALL = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"
SEAT = 5
WAIT_S = 30.0  # a bound on what must happen, not a timing requirement


class Mics:
    """The seat's microphone unit as the runtime sees a driver: it records what it is sent."""

    def __init__(self) -> None:
        self.switched: list[tuple[float, MicSwitch]] = []
        self.changed = asyncio.Event()

    @property
    def name(self) -> str:
        return "mics"

    @property
    def seats(self) -> frozenset[int]:
        return frozenset({SEAT})

    async def run(self) -> None:
        await asyncio.Future()

    def send(self, command: UnitCommand) -> None:
        if isinstance(command, MicSwitch):
            self.switched.append((time.monotonic(), command))
            self.changed.set()

    def health(self) -> list[UnitHealth | LineHealth]:
        return []

    async def ready(self) -> None:
        pass


@contextlib.asynccontextmanager
async def hall(
    tmp_path: Path, camera: SimulatedCamera
) -> AsyncIterator[tuple[Runtime, CameraService, Mics, FakeClock, asyncio.Event]]:
    spec = CameraSpec(
        "cam1", "127.0.0.1", camera.port, chair_preset=1, overview_preset=2, seats={SEAT: 15}
    )
    config: HallConfig = dataclasses.replace(load_config(HALL), cameras=(spec,))
    mics = Mics()
    health_changed = asyncio.Event()

    def factory(
        cfg: HallConfig, clock: Clock, sink: InputSink, on_health: HealthSink
    ) -> Sequence[Driver]:
        def seen(item: UnitHealth | LineHealth) -> None:
            on_health(item)
            health_changed.set()

        driver = CameraDriver(spec, clock, seen, ack_timeout_s=0.2)
        return [mics, driver]

    clock = FakeClock(100.0)
    with Journal.open(tmp_path / "hall.journal") as journal:
        runtime = Runtime(config, journal, clock=clock, driver_factory=factory)
        service = CameraService(runtime)
        task = asyncio.create_task(runtime.run([service.run]))
        try:
            async with asyncio.timeout(WAIT_S):
                await runtime.started.wait()
            await runtime.command(lambda at: OpenSitting(at, "s1", "Kỳ họp thứ nhất"))
            yield runtime, service, mics, clock, health_changed
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            camera.close()


async def test_the_camera_follows_the_floor(tmp_path: Path) -> None:
    camera = await start_camera()
    async with hall(tmp_path, camera) as (runtime, service, mics, clock, _):
        async with asyncio.timeout(WAIT_S):
            await camera.wait_for(lambda: camera.shown == 1)  # nobody speaks: the chair
        clock.advance(10.0)
        await runtime.command(lambda at: GrantFloor(at, SEAT))
        async with asyncio.timeout(WAIT_S):
            await camera.wait_for(lambda: camera.shown == 15)
        on = [at for at, m in mics.switched if m.seat == SEAT and m.on]
        recall = [r for r in camera.recalls() if r.command == visca.PresetRecall(15)]
        assert len(on) == 1
        assert len(recall) == 1
        assert recall[0].at >= on[0]  # the preset follows the microphone, never precedes it
        print(f"\nseat {SEAT}: preset 15 {1000 * (recall[0].at - on[0]):.2f} ms after mic on")

        clock.advance(1.0)
        await runtime.command(lambda at: RevokeFloor(at, SEAT))
        # the 4 s hold on the speaker's shot: nothing before it runs out
        assert [r.command for r in camera.recalls()][-1] == visca.PresetRecall(15)
        clock.advance(3.0)
        service.kick()
        async with asyncio.timeout(WAIT_S):
            await camera.wait_for(lambda: camera.shown == 1)
        assert [r.command for r in camera.recalls()] == [
            visca.PresetRecall(1),
            visca.PresetRecall(15),
            visca.PresetRecall(1),
        ]


async def test_a_silent_camera_shows_in_health_and_never_blocks_the_floor(
    tmp_path: Path,
) -> None:
    camera = await start_camera()
    camera.silent = True
    async with hall(tmp_path, camera) as (runtime, service, mics, _, health_changed):
        before = len(mics.switched)  # the start's resync put every microphone off
        await runtime.command(lambda at: GrantFloor(at, SEAT))
        await runtime.command(lambda at: RevokeFloor(at, SEAT))
        assert [m.on for _, m in mics.switched[before:] if m.seat == SEAT] == [True, False]
        driver = service.drivers()["cam1"]
        async with asyncio.timeout(WAIT_S):
            while driver.online or not driver.last_error:
                health_changed.clear()
                await health_changed.wait()
        lines = {line["line"]: line for line in runtime.health_snapshot()["lines"]}
        assert lines["camera:cam1"]["connected"] is False
        assert "no answer" in lines["camera:cam1"]["detail"]
