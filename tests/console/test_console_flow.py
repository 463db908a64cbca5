"""The console against a running daemon: the chair runs a vote with keys, seats vote, and the
console shows the daemon's exact totals and explanation."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from chamber.console.app import ChamberConsole, ConfirmScreen
from chamber.console.client import ApiClient, Link
from chamber.console.mirror import VoteState
from chamber.controller.core.inputs import VoteKeyPressed
from tests.console.conftest import Hall, until_shown

FROZEN = 1000.0


def frozen() -> float:
    return FROZEN


def panel(app: ChamberConsole, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_chair_runs_an_open_vote(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 32))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(120, 40)) as pilot:
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.attendance().present == 31)
        await until_shown(app, "#attendance", "31/50", "Đủ số lượng đại biểu")

        # n: a new vote, typed in Vietnamese.
        await pilot.press("n")
        await pilot.pause()
        await pilot.click("#title")
        await pilot.press(*("space" if ch == " " else ch for ch in "Thông qua nghị quyết"))
        await pilot.press("enter")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: len(c.mirror.votes()) == 1)
        vote = client.mirror.votes()[0]
        assert vote.title == "Thông qua nghị quyết"
        assert vote.state is VoteState.PREPARED

        # o asks first; n declines and nothing happens.
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert client.mirror.votes()[0].state is VoteState.PREPARED
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("y")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[0].state is VoteState.OPEN)

        for seat in range(1, 31):
            key = 1 if seat <= 27 else 2 if seat <= 29 else 3
            hall.daemon.runtime.feed(VoteKeyPressed(at=hall.clock.now(), seat=seat, key=key))
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[0].voted == 30)
        # The daemon's 60 s deadline, our frozen clock.
        await until_shown(app, "#vote", "Đang biểu quyết", "Còn lại 1:00")
        assert client.mirror.votes()[0].totals == (27, 2, 1)
        assert client.mirror.votes()[0].choices[28] == 2

        # h holds (keys locked) and h again resumes: reversible, so no question asked.
        await pilot.press("h")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[0].state is VoteState.HOLD)
        await until_shown(app, "#vote", "Tạm dừng")
        await pilot.press("h")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[0].state is VoteState.OPEN)

        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[0].result is not None)
        shown = await until_shown(app, "#vote", "THÔNG QUA")
        async with hall.http() as http:
            state = (await http.get("/api/state")).json()["state"]
        result = state["votes"][0]["result"]
        for total in result["totals"]:
            assert f"{total['label']:<18} {total['count']:>4}" in shown
        assert result["outcome"]["adopted"] is True
        assert "THÔNG QUA" in shown
        # The explanation is the daemon's sentence, word for word (the panel may wrap it).
        assert " ".join(shown.split()).endswith(result["outcome"]["explanation"])
        assert client.link is Link.CONNECTED
