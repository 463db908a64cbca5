"""Snapshot of the chair's screen at 120x40 with a frozen clock, against a running daemon.

The expected SVG is in snapshots/; after an intended change of the layout, regenerate it with
CHAMBER_UPDATE_SNAPSHOTS=1 and review the new picture before committing it.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from pathlib import Path

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient
from chamber.controller.core.inputs import MicRequest, VoteKeyPressed
from tests.console.conftest import Hall, until_shown

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
FROZEN = 12_345.0


def frozen() -> float:
    return FROZEN


def wall() -> datetime.datetime:
    return datetime.datetime(2027, 3, 15, 8, 30, 5)


def check_snapshot(name: str, svg: str, tmp_path: Path) -> None:
    expected = SNAPSHOTS / name
    if os.environ.get("CHAMBER_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        expected.write_text(svg, encoding="utf-8")
    actual = tmp_path / name
    actual.write_text(svg, encoding="utf-8")
    assert expected.exists(), f"no stored snapshot {name}; run with CHAMBER_UPDATE_SNAPSHOTS=1"
    assert svg == expected.read_text(encoding="utf-8"), f"the screen differs: see {actual}"


async def test_chair_screen_snapshot(hall: Hall, tmp_path: Path) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 37))
    for seat in (21, 8, 33):
        hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=seat))
    async with hall.http() as http:
        created = await http.post(
            "/api/votes", json={"vote_id": "v1", "title": "Nghị quyết về ngân sách tỉnh năm 2027"}
        )
        created.raise_for_status()
        (await http.post("/api/votes/v1/open")).raise_for_status()
        (await http.post("/api/floor/next", json={})).raise_for_status()
    for seat in range(1, 30):
        key = 1 if seat % 5 else 2 if seat % 10 else 3
        hall.daemon.runtime.feed(VoteKeyPressed(at=hall.clock.now(), seat=seat, key=key))

    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen, wall=wall)
    async with app.run_test(size=(120, 40)) as pilot:
        async with asyncio.timeout(20):
            await client.wait_for(
                lambda c: bool(c.mirror.votes()) and c.mirror.votes()[0].voted == 29
            )
        await pilot.press("v")  # colour the seats by vote
        await until_shown(app, "#vote", "Đã biểu quyết: 29")
        await pilot.pause()
        svg = app.export_screenshot()
    check_snapshot("chair_120x40.svg", svg, tmp_path)
