"""The console's live behaviour against a running daemon: a secret ballot shows no seat colours
and no interim totals, the floor and the technician's screen, and a daemon restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from textual.widgets import DataTable, Static

from chamber.console.app import ChamberConsole, SeatScreen
from chamber.console.client import ApiClient, Link
from chamber.console.seatmap import ABSENT, NEUTRAL, PRESENT, UNIT_BAD, Colouring, SeatMap
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import MicRequest, VoteKeyPressed
from chamber.controller.daemon import Daemon
from chamber.drivers.base import LineHealth, UnitHealth, UnitKind
from tests.console.conftest import Hall, HealthTap, until_drawn, until_shown

FROZEN = 500.0


def frozen() -> float:
    return FROZEN


def panel(app: ChamberConsole, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def until(client: ApiClient, predicate: Callable[[ApiClient], bool]) -> None:
    async with asyncio.timeout(20):
        await client.wait_for(predicate)


async def test_secret_ballot_shows_no_seat_colours(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 41))
    async with hall.http() as http:
        created = await http.post(
            "/api/votes", json={"vote_id": "s1", "title": "Bãi nhiệm", "mode": "secret"}
        )
        assert created.status_code == 200
        assert (await http.post("/api/votes/s1/open")).status_code == 200
    keys = {seat: 1 if seat % 3 else 2 for seat in range(1, 35)}
    for seat, key in keys.items():
        hall.daemon.runtime.feed(VoteKeyPressed(at=hall.clock.now(), seat=seat, key=key))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(client, lambda c: c.mirror.ready and c.mirror.votes()[0].voted == 34)
        await pilot.press("v")  # colour the map by vote
        seatmap = app.query_one("#chair-map", SeatMap)
        await until_drawn(app, lambda: seatmap.data.vote is not None, "the vote on the map")
        assert seatmap.colouring is Colouring.VOTE
        vote = client.mirror.votes()[0]
        assert vote.secret
        assert vote.totals is None
        assert vote.choices == {}
        styles = {seatmap.style_of(s) for s in seatmap.data.hall.seats}  # type: ignore[union-attr]
        assert styles == {NEUTRAL, ABSENT}
        await until_shown(
            app,
            "#vote",
            "Bỏ phiếu kín",
            "Kết quả kín đến khi kết thúc",
            "Đã biểu quyết: 34 / Có quyền biểu quyết 40",
        )

        await pilot.press("c", "y")
        await until(client, lambda c: c.mirror.votes()[0].result is not None)
        result = client.mirror.votes()[0].result
        assert result is not None
        yes = sum(1 for k in keys.values() if k == 1)
        assert dict(result.totals) == {
            "Tán thành": yes,
            "Không tán thành": len(keys) - yes,
            "Không biểu quyết": 0,
        }
        await until_shown(app, "#vote", f"Tán thành          {yes:>4}")


async def test_floor_grant_next_and_revoke(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 31))
    for seat in (7, 12, 15):
        hall.daemon.runtime.feed(MicRequest(at=hall.clock.now(), seat=seat))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(client, lambda c: len(c.mirror.floor().waiting.get("speak", ())) == 3)
        await until_shown(app, "#floor", "Đăng ký phát biểu (3)", "1.   7 Phan Công Quân")

        await pilot.press("k")  # next: the first one waiting gets the floor
        await until(client, lambda c: c.mirror.floor().live_seats == {7})
        await until_shown(app, "#floor", "▶   7 Phan Công Quân  còn 7:00")

        await pilot.press("g")  # grant, seat prefilled with the first waiting (12)
        await pilot.pause()
        assert isinstance(app.screen, SeatScreen)
        await pilot.press("enter")
        await until(client, lambda c: c.mirror.floor().live_seats == {7, 12})

        await pilot.press("r")  # revoke, prefilled with the first speaker, then confirm
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await until(client, lambda c: c.mirror.floor().live_seats == {12})

        await pilot.press("f9")  # chair priority on
        await until(client, lambda c: c.mirror.floor().priority)
        await until_shown(app, "#floor", "Ưu tiên chủ tọa")


async def test_technician_sees_units_faults_and_forces_a_mic(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    tokens = TokenStore()
    token = tokens.add("technician", Role.TECHNICIAN)
    tap = HealthTap()
    async with Daemon(
        vn_config, tmp_path / "j", tokens, port=0, clock=FakeClock(), driver_factory=tap
    ) as daemon:
        assert tap.sink is not None
        tap.sink(LineHealth("keypads-1", connected=True, cycle_ms=12.5))
        for seat in (1, 2, 3):
            tap.sink(UnitHealth("keypads-1", seat, seat, UnitKind.KEYPAD, True, 0.0, 1.5))
        client = ApiClient(daemon.url, token, clock=frozen)
        app = ChamberConsole(client, clock=frozen)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(client, lambda c: len(c.mirror.units()) == 3)
            await pilot.press("f2")
            await pilot.pause()
            tap.sink(UnitHealth("keypads-1", 2, 2, UnitKind.KEYPAD, False, 0.0, None, timeouts=3))
            await until(client, lambda c: any(not u.online for u in c.mirror.units()))
            faults = app.query_one("#fault-list", DataTable)
            await until_drawn(
                app,
                lambda: "keypads-1/2/offline" in [str(k.value) for k in faults.rows],
                "the offline fault",
            )
            fault = [str(c) for c in faults.get_row("keypads-1/2/offline")]
            assert fault[1:4] == ["keypads-1/2", "2", "mất kết nối"]
            units = app.query_one("#units", DataTable)
            assert units.row_count == 3
            # The lost unit comes first: the table sorts by trouble.
            assert [str(c) for c in units.get_row_at(0)][:5] == [
                "keypads-1",
                "2",
                "2",
                "bàn phím",
                "MẤT",
            ]
            seatmap = app.query_one("#tech-map", SeatMap)
            assert seatmap.colouring is Colouring.HEALTH
            by_seat = {s.number: seatmap.style_of(s) for s in seatmap.data.hall.seats}  # type: ignore[union-attr]
            assert by_seat[1] == PRESENT
            assert by_seat[2] == UNIT_BAD

            await pilot.press("m")  # force seat 9's microphone on
            await pilot.pause()
            await pilot.press("9", "enter")
            await until(client, lambda c: 9 in c.mirror.floor().live_seats)
            await pilot.press("u")
            await pilot.pause()
            await pilot.press("9", "enter")
            await until(client, lambda c: 9 not in c.mirror.floor().live_seats)


async def _post(url: str, token: str, path: str, body: dict[str, object]) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        (await http.post(path, json=body)).raise_for_status()


async def test_console_says_when_the_daemon_is_gone_and_reconnects(
    tmp_path: Path, vn_config: HallConfig
) -> None:
    tokens = TokenStore()
    token = tokens.add("chair", Role.CHAIR)
    journal = tmp_path / "hall.journal"
    clock = FakeClock()
    daemon = Daemon(vn_config, journal, tokens, port=0, clock=clock)
    await daemon.__aenter__()
    client = ApiClient(daemon.url, token, clock=frozen, retry_s=(0.05, 0.2))
    app = ChamberConsole(client, clock=frozen)
    try:
        async with app.run_test(size=(120, 40)):
            await until(client, lambda c: c.link is Link.CONNECTED)
            sitting: dict[str, object] = {
                "sitting_id": "k1",
                "title": "Kỳ họp thứ nhất",
                "agenda": [],
            }
            await _post(daemon.url, token, "/api/sitting/open", sitting)
            await until(client, lambda c: c.mirror.sitting().open)

            port = daemon.port
            await daemon.stop()
            await until(client, lambda c: c.link is Link.DISCONNECTED)
            await until_shown(app, "#link", "MẤT KẾT NỐI")
            assert app.query_one("#link", Static).has_class("down")

            daemon = Daemon(vn_config, journal, tokens, port=port, clock=clock)
            await daemon.__aenter__()
            await until(client, lambda c: c.link is Link.CONNECTED and c.connections == 2)
            await until_shown(app, "#link", "Đã kết nối")
            assert not app.query_one("#link", Static).has_class("down")
            # The restarted daemon replayed its journal: the sitting is still open.
            assert client.mirror.sitting().title == "Kỳ họp thứ nhất"
            # And the stream is live again.
            await _post(daemon.url, token, "/api/votes", {"vote_id": "v1", "title": "Tờ trình"})
            await until(client, lambda c: [v.vote_id for v in c.mirror.votes()] == ["v1"])
    finally:
        await daemon.stop()
