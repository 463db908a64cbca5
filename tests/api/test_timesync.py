"""The daemon warns when the system clock is not synchronised (`controller.timesync`).

* adjtimex(2) is read on this machine without an error (whatever the clock's state here).
* With the reading injected: one warning at start, nothing while the state stays, one line on
  each change; the `clock` fault is in the technician's fault list while unsynchronised and
  gone once synchronised; `/metrics` shows `chamber_clock_synchronised` 0, then 1.
* A daemon assembled as `chamber run` assembles it reads the clock at start and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chamber.controller.auth import Role
from chamber.controller.config import HallConfig
from chamber.controller.daemon import assemble
from chamber.controller.faults import FaultBook, FaultKind
from chamber.controller.timesync import ClockReading, ClockWatch, read_clock

from .conftest import Hall, make_tokens

__all__ = ["Hall"]

UNSYNCED = ClockReading(False, 16_000_000)
SYNCED = ClockReading(True, 12_000)


def test_the_kernel_answers() -> None:
    reading = read_clock()
    assert reading.error == ""
    assert reading.max_error_us >= 0


def readings(*values: ClockReading) -> Iterator[ClockReading]:
    yield from values


def test_one_line_at_start_and_one_per_change(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultBook()
    given = readings(UNSYNCED, UNSYNCED, SYNCED, SYNCED, UNSYNCED)
    changes: list[bool | None] = []
    watch = ClockWatch(
        faults,
        lambda: 5.0,
        reader=lambda: next(given),
        on_change=lambda: changes.append(faults.clock_synced),
    )
    caplog.set_level(logging.INFO, logger="chamber.controller.timesync")
    for _ in range(5):
        watch.check()
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events == ["clock-unsynchronised", "clock-synchronised", "clock-unsynchronised"]
    assert caplog.records[0].levelno == logging.WARNING
    assert "not synchronised" in caplog.records[0].getMessage()
    assert changes == [False, True, False]
    [fault] = [f for f in faults.faults() if f.kind is FaultKind.CLOCK]
    assert fault.active
    assert fault.line == "clock"


def test_a_clock_that_cannot_be_read_is_unsynchronised() -> None:
    faults = FaultBook()
    watch = ClockWatch(faults, lambda: 1.0, reader=lambda: ClockReading(False, error="no libc"))
    watch.check()
    [fault] = faults.faults()
    assert (fault.kind, fault.detail) == (FaultKind.CLOCK, "no libc")


async def test_the_fault_list_and_metrics_show_it(hall: Hall) -> None:
    runtime = hall.daemon.runtime
    given = readings(UNSYNCED, SYNCED)
    watch = ClockWatch(runtime.faults, runtime.clock.now, reader=lambda: next(given))

    async def scrape() -> str:
        async with hall.client(Role.METRICS) as c:
            r = await c.get("/metrics")
        assert r.status_code == 200
        return r.text

    assert "chamber_clock_synchronised" not in await scrape()
    watch.check()
    async with hall.client(Role.TECHNICIAN) as c:
        faults = (await c.get("/api/faults")).json()
    assert [f["kind"] for f in faults if f["line"] == "clock"] == ["clock"]
    assert "\nchamber_clock_synchronised 0.0\n" in await scrape()
    watch.check()
    async with hall.client(Role.TECHNICIAN) as c:
        faults = (await c.get("/api/faults")).json()
    assert [f["active"] for f in faults if f["kind"] == "clock"] == [False]
    assert "\nchamber_clock_synchronised 1.0\n" in await scrape()


async def test_the_assembled_daemon_reads_the_clock_at_start(
    tmp_path: Path, hall_config: HallConfig, caplog: pytest.LogCaptureFixture
) -> None:
    store, tokens = make_tokens()
    read = asyncio.Event()

    def reader() -> ClockReading:
        read.set()
        return UNSYNCED

    caplog.set_level(logging.INFO, logger="chamber.controller.timesync")
    async with assemble(
        hall_config, tmp_path, store, clock_reader=reader, embedded_broker=False, wall_mqtt=False
    ) as daemon:
        await asyncio.wait_for(read.wait(), 30)
        headers = {"Authorization": f"Bearer {tokens[Role.TECHNICIAN]}"}
        async with httpx.AsyncClient(base_url=daemon.url, headers=headers) as c:
            faults = (await c.get("/api/faults")).json()
        assert [f["kind"] for f in faults if f["line"] == "clock"] == ["clock"]
    assert [getattr(r, "event", None) for r in caplog.records].count("clock-unsynchronised") == 1
