"""The term report served to the secretary: a printable page and CSV from every journal in the
daemon's data directory, the live one and one rotated aside beside it, each sitting once."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from pathlib import Path

from chamber.controller.auth import Role
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import ClockAnchor, CloseSitting, OpenSitting, PresenceChanged
from chamber.controller.journal import Journal
from chamber.controller.runtime import Runtime

from .conftest import Hall
from .helpers import OPEN_CHOICES, SECRET_CHOICES, play_sitting


async def _rotated_journal(hall: Hall, path: Path) -> None:
    """An earlier sitting in a journal of its own, as a journal rotated aside leaves it:
    seats 1 to 10 present for 100 s."""
    clock = FakeClock(10.0)
    with Journal.open(path) as journal:
        runtime = Runtime(hall.daemon.runtime.config, journal, clock=clock)
        task = asyncio.ensure_future(runtime.run())
        try:
            async with asyncio.timeout(30):
                await runtime.started.wait()
            # Opened on 2 June 2025, before the daemon's sitting of today.
            await runtime.command(lambda at: ClockAnchor(at, 1748851200.0))
            await runtime.command(lambda at: OpenSitting(at, "k11", "Kỳ họp thứ 11"))
            for seat in range(1, 11):
                runtime.feed(PresenceChanged(clock.now(), seat, True))
            clock.advance(100)
            await runtime.command(lambda at: CloseSitting(at))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_secretary_reads_the_term_report(hall: Hall) -> None:
    data_dir = hall.daemon.journal.path.parent
    await _rotated_journal(hall, data_dir / "hall.journal.2025")
    await play_sitting(hall)
    async with hall.client(Role.SECRETARY) as secretary:
        r = await secretary.get("/api/report/term.csv")
        assert r.status_code == 200, r.text
        rows = list(csv.reader(io.StringIO(r.text[1:])))
        assert rows[0][:5] == [
            "Mã đại biểu",
            "Họ và tên",
            "Tổ đại biểu",
            "Số kỳ họp",
            "Số kỳ họp có mặt",
        ]
        seat_of = {
            s.delegate: s.number for s in hall.daemon.runtime.config.hall.seats if s.delegate
        }
        for row in rows[1:]:
            seat = seat_of[row[0]]
            assert int(row[3]) == 2  # k11 and k12
            assert int(row[4]) == (seat <= 10) + (seat <= 30)
            assert int(row[8]) == 2  # v1 and v2 held against each voting member
            assert int(row[9]) == (seat in OPEN_CHOICES) + (seat in SECRET_CHOICES)
        page = await secretary.get("/api/report/term.html", params={"lang": "en", "sort": "votes"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Ranked by: share of votes taken part in" in page.text
        assert "Kỳ họp thứ 11" in page.text
        assert "Kỳ họp thứ 12" in page.text
        one = await secretary.get("/api/report/term.csv", params={"delegate": "d0001"})
        assert [r[0] for r in csv.reader(io.StringIO(one.text[1:]))][1:] == ["k11", "k12"]
        bad = await secretary.get("/api/report/term.html", params={"delegation": "Tổ không có"})
        assert bad.status_code == 404
        assert bad.json()["code"] == "export.failed"
    async with hall.client(Role.OBSERVER) as observer:
        assert (await observer.get("/api/report/term.html")).status_code == 403


async def test_a_sitting_still_open_is_in_the_report_up_to_now(hall: Hall) -> None:
    await play_sitting(hall, close_sitting=False)
    hall.clock.advance(120)
    async with hall.client(Role.SECRETARY) as secretary:
        page = await secretary.get("/api/report/term.html")
        assert page.status_code == 200
        assert "(chưa bế mạc)" in page.text
        r = await secretary.get("/api/report/term.csv", params={"delegate": "d0001"})
        rows = list(csv.reader(io.StringIO(r.text[1:])))
        assert [row[0] for row in rows[1:]] == ["k12"]
        # Seat 1 has been present since the opening: the time present runs to the last input.
        assert int(rows[1][5]) > 0
        assert int(rows[1][7]) == 2
