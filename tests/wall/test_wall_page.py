"""The web wall in headless Chromium against a real daemon: votes, secret ballots, the floor,
the 1920x1080 screen, languages and reconnection.

Every assertion compares the page with what the daemon itself says (GET /api/state), never
with numbers written into the test.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from chamber.controller.config import load_config
from chamber.controller.core.model import Language
from tests.wall.hall import EXAMPLE, Hall, PageErrors, running_hall

SITTING = {
    "sitting_id": "k12",
    "title": "Kỳ họp thứ 12, Hội đồng nhân dân tỉnh khóa XV",
    "agenda": [
        {
            "id": "nd-03",
            "title": "Nghị quyết về kế hoạch đầu tư công trung hạn giai đoạn 2026–2030",
        },
        {"id": "nd-04", "title": "Miễn nhiệm đại biểu Hội đồng nhân dân tỉnh"},
    ],
}
VOTE_TITLE = "Thông qua Nghị quyết về kế hoạch đầu tư công trung hạn giai đoạn 2026–2030"
PRESENT = range(1, 32)  # 31 of 50: quorum under vn-council needs 26
# 27 yes, 2 no, 1 abstention; seats 31 does not vote.
PRESSES = {seat: 1 for seat in range(1, 28)} | {28: 2, 29: 2, 30: 3}

# Every element inside the viewport, and no element whose content is wider or taller than its
# box (what a wall would show cut off). Inline boxes have no client size: only their place
# on the screen is checked.
OVERFLOW_JS = """
() => {
  const problems = [];
  const W = window.innerWidth, H = window.innerHeight;
  const root = document.documentElement;
  if (root.scrollWidth > W || root.scrollHeight > H)
    problems.push(`page ${root.scrollWidth}x${root.scrollHeight}`);
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("[hidden]") || el.tagName === "SCRIPT") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const name = el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${el.className}`;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      problems.push(`${name} scrollWidth ${el.scrollWidth} > ${el.clientWidth}`);
    if (el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 1)
      problems.push(`${name} scrollHeight ${el.scrollHeight} > ${el.clientHeight}`);
    if (r.left < -0.5 || r.top < -0.5 || r.right > W + 0.5 || r.bottom > H + 0.5)
      problems.push(`${name} outside the screen: ${r.left},${r.top},${r.right},${r.bottom}`);
  }
  return problems;
}
"""


def _vote(state: dict[str, Any], vote_id: str) -> dict[str, Any]:
    for vote in state["votes"]:
        if vote["vote_id"] == vote_id:
            found: dict[str, Any] = vote
            return found
    raise AssertionError(f"no vote {vote_id} in the daemon's state")


async def _open_sitting(hall: Hall) -> None:
    await hall.post("/api/sitting/open", SITTING)
    hall.feed_presence(PRESENT)
    await hall.until(lambda s: s["quorum"]["present"] == len(PRESENT))


async def _open_vote(hall: Hall, vote_id: str, **extra: Any) -> None:
    await hall.post("/api/votes", {"vote_id": vote_id, "title": VOTE_TITLE, **extra})
    await hall.post(f"/api/votes/{vote_id}/open")


async def _press_all(hall: Hall, vote_id: str) -> None:
    hall.feed_presses(PRESSES)
    await hall.until(lambda s: _vote(s, vote_id)["tally"]["voted"] == len(PRESSES))


async def _totals_on_page(page: Page) -> list[tuple[str, int]]:
    rows: list[list[str]] = await page.eval_on_selector_all(
        "#totals .answer",
        "rows => rows.map(r => [r.querySelector('.label').textContent, r.dataset.count])",
    )
    return [(label, int(count)) for label, count in rows]


async def _seat_keys(page: Page) -> dict[int, str]:
    """Each seat on the map: its key, or its presence mark."""
    marks: dict[str, str] = await page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('#seatmap .seat'))
             .map(el => [el.textContent, el.dataset.key
                         || (el.classList.contains('did-not-vote') ? 'did-not-vote'
                             : el.classList.contains('voted') ? 'voted'
                             : el.classList.contains('present') ? 'present' : 'absent')]))"""
    )
    return {int(seat): mark for seat, mark in marks.items()}


async def _no_overflow(page: Page) -> None:
    problems: list[str] = await page.evaluate(OVERFLOW_JS)
    assert problems == []


async def test_page_follows_a_vote_from_open_to_the_daemons_result(
    tmp_path: Path, wall_page: tuple[Page, PageErrors]
) -> None:
    page, seen = wall_page
    async with running_hall(tmp_path / "journal") as hall:
        await page.goto(hall.wall_url)
        await _open_sitting(hall)
        await _open_vote(hall, "v1")
        panel = page.locator("#vote-panel")
        await expect(panel).to_have_attribute("data-state", "open")
        await expect(page.locator("#vote-title")).to_have_text(VOTE_TITLE)
        await expect(page.locator("#vote-status")).to_have_text("Đang biểu quyết")
        countdown = await page.locator("#countdown").text_content()
        assert countdown is not None
        assert re.fullmatch(r"(1:00|0:[0-5]\d)", countdown)

        await _press_all(hall, "v1")
        live = _vote(await hall.state(), "v1")
        expected_live = list(zip(live["options"], live["tally"]["totals"], strict=True))
        await expect(page.locator("#voted")).to_have_text(
            f"Đã biểu quyết: {live['tally']['voted']}/{live['electorate']}"
        )
        assert await _totals_on_page(page) == expected_live
        seats = await _seat_keys(page)
        for choice in live["choices"]:
            assert seats[choice["seat"]] == str(choice["key"])
        assert seats[31] == "present"
        assert all(seats[n] == "absent" for n in range(32, 51))

        # On hold the countdown stops at what the daemon froze; it runs again on resume.
        await hall.post("/api/votes/v1/hold")
        await expect(page.locator("#vote-status")).to_have_text("Tạm dừng biểu quyết")
        await expect(page.locator("#countdown")).to_have_class(re.compile(r"\bheld\b"))
        frozen = _vote(await hall.state(), "v1")["countdown_s"]
        minutes, seconds = divmod(math.ceil(frozen), 60)
        await expect(page.locator("#countdown")).to_have_text(f"{minutes}:{seconds:02d}")
        await hall.post("/api/votes/v1/resume")
        await expect(page.locator("#vote-status")).to_have_text("Đang biểu quyết")
        await expect(page.locator("#countdown")).not_to_have_class(re.compile(r"\bheld\b"))

        await hall.post("/api/votes/v1/close")
        result = _vote(await hall.state(), "v1")["result"]
        await expect(page.locator("#result")).to_have_attribute("data-vote", "v1")
        adopted = result["outcome"]["adopted"]
        await expect(page.locator("#verdict")).to_have_text(
            "THÔNG QUA" if adopted else "KHÔNG THÔNG QUA"
        )
        assert await page.locator("#result").get_attribute("data-adopted") == str(adopted).lower()
        assert await _totals_on_page(page) == [(t["label"], t["count"]) for t in result["totals"]]
        needed = _vote(await hall.state(), "v1")["needed"]
        await expect(page.locator("#rule")).to_have_text(needed["text"])
        await expect(page.locator("#figures")).to_contain_text(
            f"Không tham gia biểu quyết: {result['did_not_vote']}"
        )
        assert await page.locator("#vote-live").is_hidden()
        seats = await _seat_keys(page)
        marks = ("present", "absent", "did-not-vote", "voted")
        assert {c["seat"]: str(c["key"]) for c in result["choices"]} == {
            seat: mark for seat, mark in seats.items() if mark not in marks
        }
        # Seat 31 came and did not press: after the close it did not take part.
        assert result["did_not_vote_seats"] == [31]
        assert [n for n, mark in seats.items() if mark == "did-not-vote"] == [31]
        await expect(page.locator("#seat-legend")).to_contain_text("Không tham gia biểu quyết")
        await expect(page.locator("#seat-legend")).not_to_contain_text("Chưa biểu quyết")
    assert seen.while_daemon_ran() == []


async def test_secret_vote_shows_no_seat_colours(
    tmp_path: Path, wall_page: tuple[Page, PageErrors]
) -> None:
    page, seen = wall_page
    async with running_hall(tmp_path / "journal") as hall:
        await page.goto(hall.wall_url)
        await _open_sitting(hall)
        await _open_vote(hall, "s1", mode="secret")
        await expect(page.locator("#vote-mode")).to_have_text("Bỏ phiếu kín")
        await _press_all(hall, "s1")
        await expect(page.locator("#voted")).to_have_text(f"Đã biểu quyết: {len(PRESSES)}/31")
        # While open: no totals, and a map of who has voted with no seat that carries a key
        # or a choice colour.
        assert await page.locator("#totals").is_hidden()
        await expect(page.locator("#totals-hidden")).to_be_visible()
        await expect(page.locator("#secret-note")).to_be_visible()
        await expect(page.locator("#seatmap")).to_be_visible()
        assert await page.locator("[data-key]").count() == 0
        assert await page.locator(".seat[class*='key-']").count() == 0
        seats = await _seat_keys(page)
        assert {n for n, mark in seats.items() if mark == "voted"} == set(PRESSES)

        await hall.post("/api/votes/s1/close")
        result = _vote(await hall.state(), "s1")["result"]
        await expect(page.locator("#result")).to_have_attribute("data-vote", "s1")
        # Closed: the totals appear, the seats still show who took part and never how.
        assert await _totals_on_page(page) == [(t["label"], t["count"]) for t in result["totals"]]
        assert result["choices"] == []
        assert await page.locator("#seatmap [data-key], .seat[class*='key-']").count() == 0
        seats = await _seat_keys(page)
        assert {n for n, mark in seats.items() if mark == "voted"} == set(result["participants"])
        await expect(page.locator("#secret-note")).to_be_visible()
    assert seen.while_daemon_ran() == []


async def test_wall_screenshots_fit_1920x1080_with_exact_vietnamese(
    tmp_path: Path, wall_page: tuple[Page, PageErrors]
) -> None:
    page, seen = wall_page
    long_title = (
        "Nghị quyết về việc phê duyệt chủ trương đầu tư, điều chỉnh kế hoạch đầu tư công "
        "trung hạn giai đoạn 2026–2030 và phân bổ vốn ngân sách địa phương cho các dự án "
        "trọng điểm về giao thông, thủy lợi, y tế, giáo dục và chuyển đổi số của tỉnh, "
        "bao gồm cả các dự án khởi công mới và chuyển tiếp đã được Ủy ban nhân dân tỉnh trình"
    )
    async with running_hall(tmp_path / "journal") as hall:
        await page.goto(hall.wall_url)
        await _open_sitting(hall)
        # The floor: one speaker, three waiting.
        for seat, speaker_list in ((7, "speak"), (8, "question"), (12, "speak")):
            await hall.post("/api/floor/register", {"seat": seat, "list": speaker_list})
        await hall.post("/api/floor/grant", {"seat": 9})
        hall_json = (await hall.chair.get("/api/hall")).json()
        name_of = {d["id"]: d["name"] for d in hall_json["delegates"]}
        seat_of = {s["number"]: s["delegate"] for s in hall_json["seats"]}
        await expect(page.locator(".speaker-name")).to_have_text(name_of[seat_of[9]])
        await expect(page.locator(".speaker-time")).to_have_text(re.compile(r"^[67]:\d\d$"))
        await expect(page.locator("#waiting li")).to_have_count(3)
        await page.screenshot(path=tmp_path / "floor.png")
        await _no_overflow(page)

        await hall.post("/api/votes", {"vote_id": "v1", "title": long_title})
        await hall.post("/api/votes/v1/open")
        await _press_all(hall, "v1")
        await expect(page.locator("#voted")).to_have_text(f"Đã biểu quyết: {len(PRESSES)}/31")
        await page.screenshot(path=tmp_path / "vote.png")
        await _no_overflow(page)

        await hall.post("/api/votes/v1/close")
        # Someone still speaks: the result is one line under the speech until the floor is free.
        await expect(page.locator("#last-result")).to_have_attribute("data-vote", "v1")
        await page.screenshot(path=tmp_path / "speech-after-vote.png")
        await _no_overflow(page)
        await hall.post("/api/floor/revoke", {"seat": 9})
        await expect(page.locator("#result")).to_have_attribute("data-vote", "v1")
        shot = await page.screenshot(path=tmp_path / "result.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        await _no_overflow(page)

        # The text in the page is the daemon's, code point for code point (no normalisation).
        state = await hall.state()
        vote = _vote(state, "v1")
        text: str = await page.evaluate("document.body.innerText")
        expected = [
            state["hall"]["name"],
            SITTING["title"],
            SITTING["agenda"][0]["title"],
            long_title,
            *vote["options"],
            vote["needed"]["text"],
        ]
        for phrase in expected:
            assert phrase in text, phrase
        assert await page.locator("#body-name").text_content() == state["hall"]["name"]
        assert await page.locator("#vote-title").text_content() == long_title
        # Decomposed forms would look the same on screen but are not the daemon's text.
        assert unicodedata.normalize("NFD", long_title) not in text
        for letter in ("ử", "ệ", "Đ", "ỳ"):
            assert letter in text
    assert seen.while_daemon_ran() == []


async def test_english_by_the_halls_configuration(
    tmp_path: Path, wall_page: tuple[Page, PageErrors]
) -> None:
    page, seen = wall_page
    config = load_config(EXAMPLE)
    config = dataclasses.replace(
        config, hall=dataclasses.replace(config.hall, language=Language.EN)
    )
    async with running_hall(tmp_path / "journal", config=config) as hall:
        await page.goto(hall.wall_url)
        await _open_sitting(hall)
        await _open_vote(hall, "v1")
        await expect(page.locator("#vote-status")).to_have_text("Voting")
        await _press_all(hall, "v1")
        await hall.post("/api/votes/v1/close")
        result = _vote(await hall.state(), "v1")["result"]
        await expect(page.locator("#verdict")).to_have_text(
            "ADOPTED" if result["outcome"]["adopted"] else "NOT ADOPTED"
        )
        assert [label for label, _ in await _totals_on_page(page)] == ["Yes", "No", "Abstain"]
        needed = _vote(await hall.state(), "v1")["needed"]
        await expect(page.locator("#rule")).to_have_text(needed["text"])
        assert await page.evaluate("document.documentElement.lang") == "en"
        await _no_overflow(page)
    assert seen.while_daemon_ran() == []


async def test_a_reconnect_shows_the_right_state_at_once(
    tmp_path: Path, browser: Browser, wall_page: tuple[Page, PageErrors]
) -> None:
    page, seen = wall_page
    journal = tmp_path / "journal"
    async with running_hall(journal) as first:
        port = first.daemon.port
        tokens = first.tokens
        await page.goto(first.wall_url)
        await _open_sitting(first)
        await _open_vote(first, "v1")
        await _press_all(first, "v1")
        await expect(page.locator("#voted")).to_have_text(f"Đã biểu quyết: {len(PRESSES)}/31")
    # The daemon is gone: the wall says so and keeps what it showed.
    await expect(page.locator("#link")).to_be_visible()
    assert await page.locator("#voted").text_content() == f"Đã biểu quyết: {len(PRESSES)}/31"

    # The same hall comes back (the journal replays) and the vote is closed at once.
    async with running_hall(journal, port=port, tokens=tokens) as second:
        await second.post("/api/votes/v1/close")
        result = _vote(await second.state(), "v1")["result"]
        await expect(page.locator("#link")).to_be_hidden(timeout=10_000)
        await expect(page.locator("#result")).to_have_attribute("data-vote", "v1")
        assert await _totals_on_page(page) == [(t["label"], t["count"]) for t in result["totals"]]
        needed = _vote(await second.state(), "v1")["needed"]
        await expect(page.locator("#rule")).to_have_text(needed["text"])
    # While the daemon was down, the page's requests failed; its script never did.
    assert [e for e in seen.errors if e.startswith("page error")] == []


async def test_a_training_hall_says_so_in_both_languages(
    tmp_path: Path, wall_page: tuple[Page, PageErrors]
) -> None:
    """`[hall] training`: the wall shows the training mark where the council's name stands,
    so that nobody in the room takes a practice run for a sitting."""
    page, seen = wall_page
    config = dataclasses.replace(load_config(EXAMPLE), training=True)
    async with running_hall(tmp_path / "journal", config=config) as hall:
        await page.goto(hall.wall_url)
        mark = page.locator("#body-name")
        # The first drawing waits for the stream's snapshot: a bound for a loaded machine.
        await expect(mark).to_have_text(
            "ĐÀO TẠO — hội trường mô phỏng, không phải kỳ họp thật", timeout=30_000
        )
        await expect(mark).to_have_class("training")
        await _no_overflow(page)
        await page.goto(hall.wall_url + ("&" if "?" in hall.wall_url else "?") + "lang=en")
        await expect(mark).to_have_text(
            "TRAINING — a simulated hall, not a real sitting", timeout=30_000
        )
    async with running_hall(tmp_path / "journal-real") as hall:
        await page.goto(hall.wall_url)
        await expect(page.locator("#body-name")).not_to_have_text("", timeout=30_000)
        await expect(page.locator("#body-name")).not_to_have_class("training")
        await expect(page.locator("#body-name")).not_to_have_text("ĐÀO TẠO", use_inner_text=True)
    assert seen.while_daemon_ran() == []
