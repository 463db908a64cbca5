"""The cameras follow the floor: the daemon's job between the hub and the camera drivers.

It follows the chair's view on the hub, which the runtime projects only after a batch is
journaled, so every recall follows the durable change that caused it. Each view becomes a
`Scene`; the core's `CameraDirector` decides the recalls (controller/core/cameras.py holds
every rule); the camera drivers send them. The job wakes at the director's next deadline
(a hold running out) by the daemon's clock, and when `kick()` is called (a test that moved
a fake clock). It never waits on a camera: `CameraDriver.recall` only queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from chamber.controller.core.cameras import CameraDirector, PresetRecall, scene_from_state
from chamber.controller.core.view import Audience
from chamber.controller.runtime import Runtime
from chamber.drivers.camera import CameraDriver

log = logging.getLogger("chamber.cameras")


class CameraService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.director = CameraDirector(runtime.config.cameras)
        self.sent: list[PresetRecall] = []
        self._kick = asyncio.Event()

    def drivers(self) -> Mapping[str, CameraDriver]:
        return {d.spec.id: d for d in self.runtime.drivers if isinstance(d, CameraDriver)}

    def kick(self) -> None:
        self._kick.set()

    def set_manual(self, camera: str, manual: bool) -> None:
        """A technician holds `camera` in manual (no automatic recalls) or gives it back."""
        self._send(self.director.set_manual(camera, manual, self.runtime.clock.now()))

    def _send(self, recalls: list[PresetRecall]) -> None:
        drivers = self.drivers()
        for recall in recalls:
            self.sent.append(recall)
            driver = drivers.get(recall.camera)
            if driver is not None:
                driver.recall(recall.preset)
            log.info(
                "camera %s: preset %d (%s)",
                recall.camera,
                recall.preset,
                recall.shot.value,
                extra={"event": "camera-recall", "camera": recall.camera, "shot": recall.shot},
            )

    async def run(self) -> None:
        runtime = self.runtime
        await runtime.started.wait()
        if not self.director.cameras:
            return
        sub = runtime.hub.subscribe(audience=Audience.CHAIR)
        try:
            while True:
                state = runtime.hub.snapshot(Audience.CHAIR).state
                now = runtime.clock.now()
                self._send(self.director.update(scene_from_state(state), now))
                deadline = self.director.next_deadline(now)
                wait = None if deadline is None else max(0.0, deadline - now)
                getter = asyncio.ensure_future(sub.get())
                kicked = asyncio.ensure_future(self._kick.wait())
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await asyncio.wait(
                                {getter, kicked}, return_when=asyncio.FIRST_COMPLETED
                            )
                finally:
                    getter.cancel()
                    kicked.cancel()
                self._kick.clear()
                while sub.get_nowait() is not None:
                    pass
        finally:
            sub.close()
