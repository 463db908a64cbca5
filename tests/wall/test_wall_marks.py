"""The web wall in headless Chromium against a real daemon: a practice vote says so, and an
annulled vote says that its result was annulled and shows no totals."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from chamber.controller.core.inputs import AnnulVote, CloseVote, CreateVote, OpenVote
from chamber.controller.core.model import VoteMode
from chamber.protocols.mqtt import MessageKind, WallResult, WallVote
from chamber.protocols.mqtt import VoteState as WallVoteState
from tests.wall.hall import PageErrors, running_hall
from tests.wall.test_wall_mqtt import PRESSES, _check_wire, _messages, _sitting, _vote
from tests.wall.test_wall_page import _open_sitting, _open_vote, _press_all


async def test_a_practice_vote_and_an_annulled_vote_say_so(
    tmp_path: Path, wall_page: tuple[Page, PageErrors]
) -> None:
    page, seen = wall_page
    async with running_hall(tmp_path / "journal") as hall:
        await page.goto(hall.wall_url)
        await _open_sitting(hall)
        await _open_vote(hall, "thu", practice=True)
        await expect(page.locator("#vote-status")).to_have_text("Biểu quyết thử: Đang biểu quyết")
        await _press_all(hall, "thu")
        await hall.post("/api/votes/thu/close")
        await expect(page.locator("#vote-status")).to_have_text(
            "Biểu quyết thử: Kết quả biểu quyết"
        )

        await _open_vote(hall, "v1")
        await expect(page.locator("#vote-status")).to_have_text("Đang biểu quyết")
        await _press_all(hall, "v1")
        await hall.post("/api/votes/v1/annul", {"reason": "Mất điện giữa chừng"})
        await expect(page.locator("#vote-status")).to_have_text("Đã hủy kết quả biểu quyết")
        assert await page.locator("#totals").is_hidden()
        assert await page.locator("#result").is_hidden()
    assert seen.while_daemon_ran() == []


def test_the_led_wall_shows_an_annulled_vote_as_ended_without_a_result() -> None:
    """The MQTT twin's contract has no annulled state: the vote goes out as cancelled, with
    no result and no totals, each message valid against its schema."""
    core = _sitting()
    _vote(core, 101.0, VoteMode.OPEN, PRESSES)
    core.handle(AnnulVote(105.0, "bq-07", "Mất điện giữa chừng"))
    messages = _messages(core, 106.0)
    _check_wire(messages)
    vote = messages[MessageKind.WALL_VOTE]
    assert isinstance(vote, WallVote)
    assert vote.state is WallVoteState.CANCELLED
    assert messages[MessageKind.WALL_RESULT] is None


def test_the_led_wall_titles_a_practice_vote_as_such() -> None:
    core = _sitting()
    core.handle(CreateVote(101.0, "thu", "Kiểm tra bàn phím", practice=True))
    core.handle(OpenVote(101.0, "thu"))
    messages = _messages(core, 102.0)
    _check_wire(messages)
    vote = messages[MessageKind.WALL_VOTE]
    assert isinstance(vote, WallVote)
    assert vote.title == "Biểu quyết thử: Kiểm tra bàn phím"
    core.handle(CloseVote(103.0, "thu"))
    result = _messages(core, 104.0)[MessageKind.WALL_RESULT]
    assert isinstance(result, WallResult)
    assert result.title == "Biểu quyết thử: Kiểm tra bàn phím"
