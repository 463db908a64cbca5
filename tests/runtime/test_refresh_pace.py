"""The read model's refresh is paced (controller/runtime.py, `_paced_refresh`): a burst of
unit inputs reaches the stream in fewer, larger patches, never with anything missing, and a
read of the views never answers with less than the core has made durable."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.common import sized_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import OpenSitting, PresenceChanged
from chamber.controller.core.patch import apply
from chamber.controller.core.view import Audience
from chamber.controller.hub import Patch, Snapshot
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime
from chamber.drivers.base import UnitHealth, UnitKind

SEATS = 300


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    config = sized_config(SEATS, tmp_path)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        rt = Runtime(config, journal, clock=FakeClock(10.0))
        task = asyncio.ensure_future(rt.run())
        try:
            async with asyncio.timeout(10):
                await rt.started.wait()
            await rt.command(lambda at: OpenSitting(at, "s", "Kỳ họp thứ nhất"))
            yield rt
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def present_seats(view: Any) -> list[int]:
    return list(view["attendance"]["present_seats"])


async def test_a_burst_reaches_the_stream_whole_in_one_patch(runtime: Runtime) -> None:
    sub = runtime.hub.subscribe(audience=Audience.CHAIR)
    first = await sub.get()
    assert isinstance(first, Snapshot)
    view = copy.deepcopy(first.state)
    settled = asyncio.Event()
    settle = runtime._settle

    def noted(inputs: list[Any]) -> None:
        settle(inputs)
        settled.set()

    runtime._settle = noted  # type: ignore[method-assign]
    batches = runtime.stats.batches
    # The pace holds the next refresh back as if the last had taken an hour.
    runtime._refresh_not_before = time.perf_counter() + 3600
    chunks = 10
    for chunk in range(chunks):
        settled.clear()
        for seat in range(chunk * SEATS // chunks + 1, (chunk + 1) * SEATS // chunks + 1):
            runtime.feed(PresenceChanged(at=10.0, seat=seat, present=True))
        async with asyncio.timeout(10):
            await settled.wait()
    # Every chunk was journaled as a batch of its own; the stream has carried none yet.
    assert runtime.stats.batches - batches == chunks
    assert sub.get_nowait() is None
    # A read carries out the refresh the pace put off: one patch with all of them.
    assert present_seats(runtime.hub.view(Audience.CHAIR)) == list(range(1, SEATS + 1))
    message = sub.get_nowait()
    assert isinstance(message, Patch)
    view = apply(view, message.ops)
    assert sub.get_nowait() is None
    assert view == runtime.hub.view(Audience.CHAIR)


async def test_a_read_carries_out_a_refresh_the_pace_put_off(runtime: Runtime) -> None:
    held = asyncio.Event()
    pace = runtime._refresh_soon

    def noted(*, health: bool = True) -> None:
        pace(health=health)
        held.set()

    runtime._refresh_soon = noted  # type: ignore[method-assign]
    runtime._refresh_not_before = time.perf_counter() + 3600  # an hour: only a read refreshes
    runtime.feed(PresenceChanged(at=10.0, seat=7, present=True))
    async with asyncio.timeout(10):
        await held.wait()
    assert runtime._refresh_handle is not None
    # The press is durable, and the next read shows it.
    assert 7 in present_seats(runtime.hub.view(Audience.OBSERVER))
    assert runtime._refresh_handle is None


async def test_a_health_change_goes_out_after_a_refresh_that_came_first(
    runtime: Runtime,
) -> None:
    """A refresh for presses reuses the health as last taken; a unit's new health still goes
    out, with the next refresh that is due for it."""
    sub = runtime.hub.subscribe(audience=Audience.TECHNICIAN)
    first = await sub.get()
    assert isinstance(first, Snapshot)
    view = copy.deepcopy(first.state)
    runtime._on_health(UnitHealth(line="ip", address=5, seat=5, kind=UnitKind.IP, online=False))
    runtime.feed(PresenceChanged(at=10.0, seat=3, present=True))

    def unit_five(v: Any) -> dict[str, Any] | None:
        for unit in v["health"]["units"]:
            if unit.get("address") == 5 and unit.get("line") == "ip":
                return dict(unit)
        return None

    async with asyncio.timeout(10):
        while not (3 in present_seats(view) and unit_five(view) is not None):
            message = await sub.get()
            assert isinstance(message, Patch)
            view = apply(view, message.ops)
    found = unit_five(view)
    assert found is not None
    assert found["online"] is False
