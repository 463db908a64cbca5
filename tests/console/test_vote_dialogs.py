"""The console's vote dialogs against a running daemon: a new vote with its kind, rule and the
figure it needs ("cần ít nhất 26/50"), the kind's warning, and the chair's keys when the system
fails during a vote: annul with a reason (z), run again (l), a result taken by hand (t)."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.screen import Screen
from textual.widgets import Input, Label, Select

from chamber.console.app import ChamberConsole, ConfirmScreen
from chamber.console.client import ApiClient
from chamber.console.mirror import VoteState
from chamber.console.vote_dialogs import AnnulScreen, ManualResultScreen, NewVoteScreen
from chamber.controller.core.inputs import VoteKeyPressed
from tests.console.conftest import Hall, until_shown

FROZEN = 1000.0


def frozen() -> float:
    return FROZEN


async def until_screen(app: ChamberConsole, kind: type[Screen[Any]]) -> Any:
    """Until the app shows a screen of `kind` (each screen change wakes the check)."""
    changed = asyncio.Event()
    app.screen_change_signal.subscribe(app, lambda _screen: changed.set())
    async with asyncio.timeout(20):
        while not isinstance(app.screen, kind):
            changed.clear()
            await changed.wait()
    return app.screen


def text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Label).render())


async def daemon_vote(hall: Hall, vote_id: str) -> dict[str, Any]:
    async with hall.http() as http:
        state = (await http.get("/api/state")).json()["state"]
    found: dict[str, Any] = next(v for v in state["votes"] if v["vote_id"] == vote_id)
    return found


async def test_the_new_vote_dialog_follows_the_kind_and_says_what_is_needed(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 41))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(120, 50)) as pilot:
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.attendance().present == 40)
        await pilot.press("n")
        dialog = await until_screen(app, NewVoteScreen)
        await pilot.pause()
        # The title comes from the current agenda item (until the chair types one); the line
        # from the daemon.
        assert dialog.query_one("#title", Input).placeholder == "Nghị quyết về ngân sách tỉnh"
        assert text(dialog, "#needed") == (
            "Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50"
        )
        assert text(dialog, "#warning") == ""

        # A dismissal brings two thirds and a secret ballot.
        dialog.query_one("#kind", Select).value = "dismissal"
        await pilot.pause()
        assert dialog.query_one("#rule", Select).value == "vn-two-thirds"
        assert dialog.query_one("#mode", Select).value == "secret"
        assert text(dialog, "#needed") == (
            "Biểu quyết theo: ít nhất hai phần ba tổng số đại biểu — cần ít nhất 34/50"
        )
        # A weaker rule is warned before the vote is made.
        dialog.query_one("#rule", Select).value = "vn-council"
        await pilot.pause()
        assert "vn-two-thirds" in text(dialog, "#warning")

        title = dialog.query_one("#title", Input)
        title.value = "Bãi nhiệm đại biểu Nguyễn Văn A"
        title.focus()
        await pilot.press("enter")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: len(c.mirror.votes()) == 1)
        vote = await daemon_vote(hall, client.mirror.votes()[0].vote_id)
        assert (vote["title"], vote["kind"], vote["rule"], vote["mode"]) == (
            "Bãi nhiệm đại biểu Nguyễn Văn A",
            "dismissal",
            "vn-council",
            "secret",
        )
        assert [w["code"] for w in vote["warnings"]] == ["vote.rule-not-kind"]
        # The console shows the daemon's warning in the hall's words.
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert any("Bãi nhiệm đại biểu" in m and "vn-two-thirds" in m for m in shown), shown


async def test_annul_rerun_and_a_show_of_hands_from_the_keys(hall: Hall) -> None:
    await hall.open_sitting()
    hall.arrive(range(1, 41))
    async with hall.http() as http:
        made = await http.post("/api/votes", json={"vote_id": "v1", "title": "Ngân sách"})
        assert made.is_success, made.text
        assert (await http.post("/api/votes/v1/open")).is_success
    for seat in range(1, 6):
        hall.daemon.runtime.feed(VoteKeyPressed(at=hall.clock.now(), seat=seat, key=1))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(120, 50)) as pilot:
        async with asyncio.timeout(20):
            await client.wait_for(
                lambda c: bool(c.mirror.votes()) and c.mirror.votes()[0].voted == 5
            )
        # z: annul, with a reason; an empty reason is asked again.
        await pilot.press("z")
        dialog = await until_screen(app, AnnulScreen)
        await pilot.pause()
        assert "Không thể hoàn tác" in text(dialog, "#undo")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AnnulScreen)
        reason = dialog.query_one("#reason", Input)
        reason.value = "Mất điện giữa chừng"
        reason.focus()
        await pilot.press("enter")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[0].state is VoteState.ANNULLED)
        assert (await daemon_vote(hall, "v1"))["result"]["annulled"]["reason"] == (
            "Mất điện giữa chừng"
        )
        await until_shown(
            app, "#vote", "Đã hủy kết quả", "ĐÃ HỦY KẾT QUẢ — Lý do: Mất điện giữa chừng"
        )

        # l: run it again, after a confirmation.
        await pilot.press("l")
        await until_screen(app, ConfirmScreen)
        await pilot.press("y")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: len(c.mirror.votes()) == 2)
        rerun = client.mirror.votes()[1]
        assert rerun.state is VoteState.PREPARED
        assert (await daemon_vote(hall, rerun.vote_id))["rerun_of"] == "v1"
        # The pane shows the new vote, what it needs, and whose place it takes.
        await until_shown(
            app,
            "#vote",
            "Biểu quyết lại, thay cho v1",
            "Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50",
        )

        # t: the result taken by show of hands.
        await pilot.press("t")
        dialog = await until_screen(app, ManualResultScreen)
        await pilot.pause()
        for field, count in (("#count-1", "30"), ("#count-2", "6"), ("#count-3", "4")):
            dialog.query_one(field, Input).value = count
        dialog.query_one("#count-3", Input).focus()
        await pilot.press("enter")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.votes()[1].state is VoteState.CLOSED)
        result = (await daemon_vote(hall, rerun.vote_id))["result"]
        await until_shown(app, "#vote", "Kết quả biểu quyết giơ tay, do chủ tọa nhập")
        assert result["manual"] == "show-of-hands"
        assert [t["count"] for t in result["totals"]] == [30, 6, 4]
        assert result["outcome"]["adopted"] is True


async def test_a_dismissal_is_made_and_decided_under_two_thirds_from_the_console(
    hall: Hall,
) -> None:
    """Issue 12's test of done: a bãi nhiệm vote made from the console under its own rule,
    opened, voted and closed: 33 of 50 yes does not dismiss, as ⌈2 x 50 / 3⌉ = 34."""
    await hall.open_sitting()
    hall.arrive(range(1, 41))
    client = ApiClient(hall.url, hall.chair, clock=frozen)
    app = ChamberConsole(client, clock=frozen)
    async with app.run_test(size=(120, 50)) as pilot:
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: c.mirror.attendance().present == 40)
        await pilot.press("n")
        dialog = await until_screen(app, NewVoteScreen)
        await pilot.pause()
        dialog.query_one("#kind", Select).value = "dismissal"
        await pilot.pause()
        assert text(dialog, "#warning") == ""
        title = dialog.query_one("#title", Input)
        title.value = "Bãi nhiệm đại biểu Nguyễn Văn A"
        title.focus()
        await pilot.press("enter")
        async with asyncio.timeout(20):
            await client.wait_for(lambda c: len(c.mirror.votes()) == 1)
        vote_id = client.mirror.votes()[0].vote_id
        vote = await daemon_vote(hall, vote_id)
        assert (vote["kind"], vote["rule"], vote["mode"], vote["warnings"]) == (
            "dismissal",
            "vn-two-thirds",
            "secret",
            [],
        )
    async with hall.http() as http:
        assert (await http.post(f"/api/votes/{vote_id}/open")).is_success
        for seat in range(1, 41):
            key = 1 if seat <= 33 else 2
            hall.daemon.runtime.feed(VoteKeyPressed(at=hall.clock.now(), seat=seat, key=key))
        assert (await http.post(f"/api/votes/{vote_id}/close")).is_success
    vote = await daemon_vote(hall, vote_id)
    assert vote["result"]["outcome"]["required"] == 34
    assert vote["result"]["outcome"]["adopted"] is False
