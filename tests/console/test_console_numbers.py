"""The numbers the chair reads, against a real daemon: one electorate figure, no overtime for
a microphone without a time limit, and "Không tham gia" on the seat map after the close.

The worked example (the vn-council hall, 50 voting delegates): seats 1-31 present when the vote
opens. Seats 1-20 vote (17 yes, 2 no, 1 abstains). Seats 32-34 arrive, seats 30 and 31 leave
without voting, seat 20 leaves after voting (its vote stands). At the close: voted 20; the
electorate at the close is seats 1-19, 21-29 and 32-34 (31 seats), of which 1-19 voted, so 12
did not (21-29, 32-34); 20 + 12 = 32 is the figure beside "voted". The figure at the open was
31, which the console used to show beside a "did not vote" counted at the close.
"""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient
from chamber.console.seatmap import DID_NOT_VOTE, Colouring, SeatMap
from chamber.controller.core.inputs import (
    MicOverride,
    MicRequest,
    PresenceChanged,
    Tick,
    VoteKeyPressed,
)
from tests.console.conftest import Hall

FROZEN = 1000.0
WAIT_S = 20.0


def frozen() -> float:
    return FROZEN


def panel(app: ChamberConsole, selector: str) -> str:
    return " ".join(str(app.query_one(selector, Static).render()).split())


async def shows(app: ChamberConsole, selector: str, *texts: str) -> str:
    """The panel once a drawing pass has put every one of `texts` in it."""
    async with asyncio.timeout(WAIT_S):
        await app.wait_drawn(lambda: all(t in panel(app, selector) for t in texts))
    return panel(app, selector)


async def test_voted_and_did_not_vote_add_up_to_the_figure_shown(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 32))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    feed = hall.daemon.runtime.feed
    async with app.run_test(size=(140, 50)) as pilot:
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(lambda c: c.mirror.attendance().present == 31)
        vote_id = await client.create_vote("Nghị quyết về ngân sách tỉnh")
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(lambda c: len(c.mirror.votes()) == 1)
        # Prepared: the voting members present, as the wall shows too.
        await shows(app, "#vote", "Đã biểu quyết: 0 / Có quyền biểu quyết 31")
        async with hall.http() as http:
            (await http.post(f"/api/votes/{vote_id}/open", json={})).raise_for_status()
        for seat in range(1, 21):
            key = 1 if seat <= 17 else 2 if seat <= 19 else 3
            feed(VoteKeyPressed(at=hall.clock.now(), seat=seat, key=key))
        for seat in (32, 33, 34):
            feed(PresenceChanged(at=hall.clock.now(), seat=seat, present=True))
        for seat in (30, 31, 20):
            feed(PresenceChanged(at=hall.clock.now(), seat=seat, present=False))
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(
                lambda c: c.mirror.votes()[0].voted == 20 and c.mirror.votes()[0].electorate == 32
            )
        await shows(app, "#vote", "Đã biểu quyết: 20 / Có quyền biểu quyết 32")

        async with hall.http() as http:
            (await http.post(f"/api/votes/{vote_id}/close", json={})).raise_for_status()
            state = (await http.get("/api/state")).json()["state"]
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(lambda c: c.mirror.votes()[0].result is not None)
        result = state["votes"][0]["result"]
        assert (result["voted"], result["did_not_vote"]) == (20, 12)
        assert state["votes"][0]["electorate"] == 32
        assert state["votes"][0]["electorate_at_open"] == 31
        await shows(app, "#vote", "Đã biểu quyết: 20 / Có quyền biểu quyết 32", "Không tham gia 12")

        # The seat map by vote: each seat's key, and "Không tham gia" on the 12 that did not.
        seat_map = app.query_one("#chair-map", SeatMap)
        while seat_map.colouring is not Colouring.VOTE:
            seat_map.cycle()
        await pilot.pause()
        hall_info = client.hall
        assert hall_info is not None
        styles = {s.number: seat_map.style_of(s) for s in hall_info.seats}
        did_not = {seat for seat, style in styles.items() if style == DID_NOT_VOTE}
        assert did_not == {*range(21, 30), 32, 33, 34}
        assert set(result["did_not_vote_seats"]) == did_not
        assert "Không tham gia" in str(seat_map.caption())


async def test_an_untimed_microphone_shows_no_overtime(hall: Hall) -> None:
    """The chair's microphone and a forced one have no time limit: however long they stay
    on, no "quá giờ"; a delegate's timed turn shows its time left."""
    await hall.open_sitting()
    hall.arrive(range(1, 32))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    feed = hall.daemon.runtime.feed
    async with app.run_test(size=(140, 50)):
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(lambda c: c.mirror.attendance().present == 31)
        feed(MicRequest(at=hall.clock.now(), seat=1))  # the chair's button opens it directly
        feed(MicOverride(at=hall.clock.now(), seat=12, on=True))  # the technician forces one
        await client.grant(20)  # a delegate's turn, timed by the hall's policy
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(lambda c: c.mirror.floor().live_seats == {1, 12, 20})
        live = {s.seat: s for s in client.mirror.floor().live}
        assert live[1].limit_s is None
        assert live[12].limit_s is None
        assert live[20].limit_s is not None
        assert live[20].limit_s > 60
        # Ten minutes on: past any turn's limit, had the untimed ones any.
        seen = client.mirror.state.get("now")
        hall.clock.advance(600.0)
        feed(Tick(at=hall.clock.now()))
        async with asyncio.timeout(WAIT_S):
            await client.wait_for(lambda c: c.mirror.state.get("now") != seen)
        await shows(app, "#floor", "quá giờ")
        lines = str(app.query_one("#floor", Static).render()).splitlines()
        by_seat = {
            seat: next(line for line in lines if line.strip().startswith(f"▶ {seat:>3}"))
            for seat in (1, 12, 20)
        }
        assert "quá giờ" not in by_seat[1]
        assert "quá giờ" not in by_seat[12]
        assert "còn" not in by_seat[1]
        assert "còn" not in by_seat[12]
        # The timed turn ran out after its limit: that one is overtime, as it should be.
        assert "quá giờ" in by_seat[20]
