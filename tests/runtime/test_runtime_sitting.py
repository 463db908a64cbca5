"""The runtime tells its drivers whether a sitting is open (the microphone units' heartbeat)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

from chamber.controller.config import HallConfig, parse_config
from chamber.controller.core.clock import Clock, FakeClock
from chamber.controller.core.effects import UnitCommand
from chamber.controller.core.inputs import CloseSitting, OpenSitting
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime
from chamber.drivers.base import HealthSink, InputSink, LineHealth, SittingAware, UnitHealth
from tests.test_config import _minimal


class SittingDriver:
    """A driver without a transport that records what it was told of the sitting."""

    def __init__(self) -> None:
        self.told: list[bool] = []

    @property
    def name(self) -> str:
        return "sitting-probe"

    @property
    def seats(self) -> frozenset[int]:
        return frozenset()

    async def run(self) -> None:
        await asyncio.Future()

    def send(self, command: UnitCommand) -> None:
        pass

    def health(self) -> list[UnitHealth | LineHealth]:
        return []

    async def ready(self) -> None:
        return None

    def sitting_changed(self, sitting_open: bool) -> None:
        self.told.append(sitting_open)


async def test_drivers_hear_the_sitting_open_and_close(tmp_path: Path) -> None:
    probe = SittingDriver()
    assert isinstance(probe, SittingAware)

    def factory(
        config: HallConfig, clock: Clock, sink: InputSink, on_health: HealthSink
    ) -> Sequence[SittingDriver]:
        return [probe]

    with Journal.open(tmp_path / "j.sqlite") as journal:
        runtime = Runtime(
            parse_config(_minimal()), journal, clock=FakeClock(10.0), driver_factory=factory
        )
        task = asyncio.ensure_future(runtime.run())
        try:
            async with asyncio.timeout(10):
                await runtime.started.wait()
            assert probe.told == [False]  # told once at start: no sitting yet
            await runtime.command(lambda at: OpenSitting(at, "s", "Kỳ họp"))
            assert probe.told == [False, True]
            await runtime.command(lambda at: CloseSitting(at))
            assert probe.told == [False, True, False]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
