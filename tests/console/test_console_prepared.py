"""A sitting prepared in advance, from the console against a real daemon: F4 loads the sitting
file (checked first, then confirmed), and F5 opens its prepared votes one after the other in
agenda order, moving the item, refused while a vote is open; an ad-hoc vote stays possible."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from chamber.console.app import ChamberConsole, ConfirmScreen
from chamber.console.client import ApiClient
from chamber.console.sitting_dialogs import FormScreen
from chamber.console.status import CommandLine, CommandState
from tests.console.conftest import Hall, until_drawn, until_shown

ROOT = Path(__file__).resolve().parents[2]
SITTING_FILE = ROOT / "examples" / "vn-council-sitting.toml"
FROZEN = 1000.0
IN_ORDER = [
    ("ky-hop-thu-9.1.1", "1"),
    ("ky-hop-thu-9.1.2", "1"),
    ("ky-hop-thu-9.2.1", "2"),
    ("ky-hop-thu-9.3.1", "3"),
    ("ky-hop-thu-9.4.1", "4"),
    ("ky-hop-thu-9.4.2", "4"),
]


def frozen() -> float:
    return FROZEN


async def until(client: ApiClient, predicate: Callable[[ApiClient], bool]) -> None:
    async with asyncio.timeout(20):
        await client.wait_for(predicate)


async def on_screen(pilot: Pilot[None], kind: type) -> None:
    async with asyncio.timeout(20):
        while not isinstance(pilot.app.screen, kind):
            await pilot.pause()


async def test_f4_loads_the_file_and_f5_opens_its_votes_in_order(hall: Hall) -> None:
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(client, lambda c: c.mirror.ready)
        assert app.check_action("next_vote", ()) is False  # nothing prepared yet

        # F4: the path, Enter; the daemon's check is shown as the question; y loads.
        await pilot.press("f4")
        await on_screen(pilot, FormScreen)
        field = app.screen.query_one(Input)
        field.value = str(SITTING_FILE)
        field.focus()
        await pilot.press("enter")
        await on_screen(pilot, ConfirmScreen)
        question = str(app.screen.query_one("#question").render())
        assert "ky-hop-thu-9" in question
        assert "4 nội dung và 6 biểu quyết" in question
        assert not client.mirror.sitting().open  # only checked so far
        await pilot.press("y")
        await until(client, lambda c: c.mirror.sitting().open and len(c.mirror.votes()) == 6)
        sitting = client.mirror.sitting()
        assert sitting.sitting_id == "ky-hop-thu-9"
        assert sitting.next_vote == IN_ORDER[0][0]
        # The vote the chair works on is the next one, not the file's last.
        current = client.mirror.current_vote()
        assert current is not None
        assert current.vote_id == IN_ORDER[0][0]
        await until_shown(app, "#vote", "Biểu quyết thử hệ thống")

        hall.arrive(range(1, 51))
        await until(client, lambda c: c.mirror.attendance().present == 50)

        opened: list[tuple[str, str | None]] = []
        for number in range(len(IN_ORDER)):
            await pilot.press("f5")
            await on_screen(pilot, ConfirmScreen)
            await pilot.press("y")
            await until(client, lambda c: c.mirror.state.get("active_vote") is not None)
            active = str(client.mirror.state["active_vote"])
            opened.append((active, client.mirror.sitting().item_id))
            await until_shown(app, "#vote", active)
            # F5 is not offered while a vote is open; the daemon refuses it anyway.
            assert app.check_action("next_vote", ()) is False
            async with hall.http() as http:
                refused = await http.post("/api/sitting/next-vote")
                assert refused.status_code == 409
                assert refused.json()["code"] == "vote.active"
            if number == 1:
                # An ad-hoc vote stays possible: made and closed between two prepared ones.
                async with hall.http() as http:
                    closed = await http.post(f"/api/votes/{active}/close")
                    assert closed.is_success, closed.text
                    hall.clock.advance(5.0)  # made later than the file's votes
                    made = await http.post(
                        "/api/votes", json={"vote_id": "bs1", "title": "Biểu quyết bổ sung"}
                    )
                    assert made.is_success, made.text
                await until(
                    client,
                    lambda c: (
                        c.mirror.state.get("active_vote") is None
                        and any(v.vote_id == "bs1" for v in c.mirror.votes())
                    ),
                )
                current = client.mirror.current_vote()
                assert current is not None
                assert current.vote_id == "bs1"
                await pilot.press("o")
                await on_screen(pilot, ConfirmScreen)
                await pilot.press("y")
                await until(client, lambda c: c.mirror.state.get("active_vote") == "bs1")
                active = "bs1"
            # c, y: the chair closes it (the first a second later than the file's votes were made).
            if number == 0:
                hall.clock.advance(1.0)
            await pilot.press("c")
            await on_screen(pilot, ConfirmScreen)
            await pilot.press("y")
            await until(
                client,
                lambda c, v=active: (
                    c.mirror.state.get("active_vote") is None  # type: ignore[misc]
                    and any(x.vote_id == v and x.result is not None for x in c.mirror.votes())
                ),
            )
            if number == 0:
                # The closed vote's result stays up; F5's next vote is named under it.
                await until_shown(
                    app, "#vote", "Biểu quyết tiếp theo (F5): Thông qua chương trình Kỳ họp"
                )
        assert opened == IN_ORDER
        await until(client, lambda c: c.mirror.sitting().next_vote is None)
        assert app.check_action("next_vote", ()) is False
    await client.close()


async def test_f4_shows_the_daemon_s_refusal_of_a_wrong_file(hall: Hall, tmp_path: Path) -> None:
    bad = tmp_path / "ky-hop.toml"
    bad.write_text(
        SITTING_FILE.read_text(encoding="utf-8").replace('kind = "removal"', 'kind = "x"'),
        encoding="utf-8",
    )
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(client, lambda c: c.mirror.ready)
        await pilot.press("f4")
        await on_screen(pilot, FormScreen)
        field = app.screen.query_one(Input)
        field.value = str(bad)
        field.focus()
        await pilot.press("enter")
        line = app.query_one(CommandLine)
        await until_drawn(
            app,
            lambda: bool(line.history) and line.history[-1].state is CommandState.REFUSED,
            "the refusal",
        )
        assert "items[3].votes[0].kind" in line.history[-1].detail
        assert not isinstance(app.screen, ConfirmScreen)
        assert not client.mirror.sitting().open
    await client.close()
