"""Each screen of the web wall, in headless Chromium against a real daemon, at 16:9
(1920x1080) and at 4:3 (1024x768): idle, a vote open, open with its totals hidden, a secret
ballot, a hold, the result, and a speech.

Each state is screenshotted (into the test's folder, and into CHAMBER_WALL_SHOTS when set),
checked for overflow and clipping (every element on the screen, no content wider or taller than
its box, every region inside the main area and apart from the others) and compared with what
the daemon's wall view says, string for string: the page formats no figure itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from chamber.controller.core.model import Language
from chamber.controller.core.view import Audience
from chamber.controller.core.wall_text import answer_line
from tests.wall.hall import Hall, PageErrors, running_hall
from tests.wall.test_wall_page import (
    OVERFLOW_JS,
    PRESENT,
    PRESSES,
    SITTING,
    _open_sitting,
    _press_all,
    _vote,
)

SIZES = {"16x9": {"width": 1920, "height": 1080}, "4x3": {"width": 1024, "height": 768}}
LONG_TITLE = (
    "Nghị quyết về việc phê duyệt chủ trương đầu tư, điều chỉnh kế hoạch đầu tư công trung hạn "
    "giai đoạn 2026–2030 và phân bổ vốn ngân sách địa phương cho các dự án trọng điểm về giao "
    "thông, thủy lợi, y tế, giáo dục và chuyển đổi số của tỉnh"
)
# Letters only Vietnamese writes: none may be left on the English page outside the data
# (names, titles, the body's name), which is the hall's own.
VIETNAMESE = re.compile(
    "[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]"
)

# The visible regions of the main area: inside it, and none over another.
REGIONS_JS = """
() => {
  const main = document.getElementById("main").getBoundingClientRect();
  const boxes = Array.from(document.querySelectorAll("#main > *"))
    .filter(el => !el.hidden && getComputedStyle(el).display !== "none")
    .map(el => [el.id, el.getBoundingClientRect()]);
  const problems = [];
  for (const [id, r] of boxes) {
    if (r.left < main.left - 0.5 || r.top < main.top - 0.5 || r.right > main.right + 0.5 ||
        r.bottom > main.bottom + 0.5) problems.push(`${id} outside #main`);
    if (r.width < 50 || r.height < 30) problems.push(`${id} squashed: ${r.width}x${r.height}`);
  }
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = boxes[i], [b, q] = boxes[j];
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 0.5 && h > 0.5) problems.push(`${a} overlaps ${b}`);
    }
  return {regions: boxes.map(([id]) => id), problems};
}
"""

# Glyphs cut by their own box: a Vietnamese capital carries two marks above it (Ồ, Ể), which
# reach above the font's ascent; a box that hides its overflow with a tight line height cuts
# them off, and no element overflows. For every text of the page in such a box, the ink of its
# first and last line (the canvas measures it in the element's own font, as transformed) must
# lie inside the box's padding edge, give or take a pixel or so (the "SƠ ĐỒ BIỂU QUYẾT" label
# lost its tone marks by a fifth of its height).
INK_JS = """
() => {
  const ctx = document.createElement("canvas").getContext("2d");
  const problems = [];
  for (const el of document.querySelectorAll("body *")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    if (style.overflowY === "visible" && style.overflowX === "visible") continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const top = box.top + parseFloat(style.borderTopWidth);
    const bottom = box.bottom - parseFloat(style.borderBottomWidth);
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
      // The characters of the first and of the last line, by where each one lands.
      const text = node.textContent;
      const range = document.createRange();
      const lines = new Map();
      for (let i = 0; i < text.length; i++) {
        if (!text[i].trim()) continue;
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const r = range.getBoundingClientRect();
        if (r.width === 0) continue;
        const key = Math.round(r.top);
        if (!lines.has(key)) lines.set(key, {top: r.top, chars: ""});
        lines.get(key).chars += text[i];
      }
      if (!lines.size) continue;
      const keys = Array.from(lines.keys()).sort((a, b) => a - b);
      ctx.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      const measure = line => {
        const chars = style.textTransform === "uppercase"
          ? line.chars.toLocaleUpperCase("vi") : line.chars;
        return ctx.measureText(chars);
      };
      const first = lines.get(keys[0]), last = lines.get(keys[keys.length - 1]);
      const m1 = measure(first), m2 = measure(last);
      const inkTop = first.top + m1.fontBoundingBoxAscent - m1.actualBoundingBoxAscent;
      const inkBottom = last.top + m2.fontBoundingBoxAscent + m2.actualBoundingBoxDescent;
      const shown = first.chars;
      // The canvas and the page may round a pixel apart: a mark cut by more than that is cut.
      const slack = Math.max(1.5, 0.06 * parseFloat(style.fontSize));
      if (inkTop < top - slack || inkBottom > bottom + slack)
        problems.push(`${el.id || el.className || el.tagName}: "${shown.slice(0, 40)}" ` +
                      `ink ${inkTop.toFixed(1)}..${inkBottom.toFixed(1)} ` +
                      `outside ${top.toFixed(1)}..${bottom.toFixed(1)}`);
    }
  }
  return problems;
}
"""

# The text of the page outside the hall's own data.
CHROME_TEXT_JS = """
() => {
  const data = "#body-name, #sitting-title, #item-title, #vote-title, .speaker-name, " +
               ".speaker-group, .waiting-name, .agenda-title";
  const clone = document.body.cloneNode(true);
  for (const el of clone.querySelectorAll(data + ", [hidden], script")) el.remove();
  return clone.textContent;
}
"""


def _wall_view(hall: Hall) -> dict[str, Any]:
    state: dict[str, Any] = hall.daemon.runtime.hub.snapshot(Audience.WALL).state
    return state


class Screens:
    """One page at one size: each state checked and screenshotted."""

    def __init__(self, page: Page, size: str, folder: Path) -> None:
        self.page = page
        self.size = size
        self.folder = folder
        self.shots: list[Path] = []

    async def check(self, state: str, regions: set[str]) -> None:
        page = self.page
        path = self.folder / f"wall-{state}-{self.size}.png"
        await page.screenshot(path=path)
        self.shots.append(path)
        _copy_out([path])
        problems: list[str] = await page.evaluate(OVERFLOW_JS)
        assert problems == [], (state, self.size)
        cut: list[str] = await page.evaluate(INK_JS)
        assert cut == [], (state, self.size, cut)
        found: dict[str, Any] = await page.evaluate(REGIONS_JS)
        assert found["problems"] == [], (state, self.size)
        assert set(found["regions"]) == regions, (state, self.size)
        screen = await page.evaluate("document.body.dataset.screen")
        assert screen in state or state in {"hidden", "secret", "hold"}, (state, screen)


async def _new_page(browser: Browser, size: str) -> tuple[Page, PageErrors]:
    context = await browser.new_context(viewport=SIZES[size])  # type: ignore[arg-type]
    page = await context.new_page()
    seen = PageErrors()
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: seen.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return page, seen


async def _shares_on_page(page: Page) -> list[tuple[str, str]]:
    rows: list[list[str]] = await page.eval_on_selector_all(
        "#totals .answer",
        "rows => rows.map(r => [r.querySelector('.label').textContent,"
        " r.querySelector('.share').textContent])",
    )
    return [(label, share) for label, share in rows]


async def _seat_marks(page: Page) -> dict[int, str]:
    marks: dict[str, str] = await page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('#seatmap .seat'))
             .map(el => [el.dataset.seat, el.dataset.key
               || ['did-not-vote', 'voted', 'present', 'absent']
                    .find(c => el.classList.contains(c))]))"""
    )
    return {int(seat): mark for seat, mark in marks.items()}


def _copy_out(shots: list[Path]) -> None:
    out = os.environ.get("CHAMBER_WALL_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        for shot in shots:
            (Path(out) / shot.name).write_bytes(shot.read_bytes())


@pytest.mark.parametrize("size", sorted(SIZES))
async def test_every_screen_reads_correctly(tmp_path: Path, browser: Browser, size: str) -> None:
    page, seen = await _new_page(browser, size)
    screens = Screens(page, size, tmp_path)
    async with running_hall(tmp_path / "journal") as hall:
        hall_json = (await hall.chair.get("/api/hall")).json()
        name_of = {d["id"]: d["name"] for d in hall_json["delegates"]}
        group_of = {d["id"]: d["group"] for d in hall_json["delegates"]}
        seat_of = {s["number"]: s["delegate"] for s in hall_json["seats"]}
        await page.goto(hall.wall_url)

        # Idle: the agenda with the current item, the attendance map, the date and a clock.
        await _open_sitting(hall)
        await expect(page.locator("body")).to_have_attribute("data-screen", "idle")
        await expect(page.locator("#agenda li")).to_have_count(len(SITTING["agenda"]))
        await expect(page.locator("#agenda li.current")).to_have_text(
            f"1.{SITTING['agenda'][0]['title']}"
        )
        await expect(page.locator("#big-time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
        await expect(page.locator("#big-date")).to_have_text(
            re.compile(r"^(Thứ [^,]+|Chủ nhật), ngày \d\d tháng \d\d năm \d{4}$")
        )
        marks = await _seat_marks(page)
        assert len(marks) == len(hall_json["seats"])
        assert {n for n, m in marks.items() if m == "present"} == set(PRESENT)
        await expect(page.locator("#seats-label")).to_have_text(
            f"Có mặt: {len(PRESENT)}/{hall_json['members']} đại biểu"
        )
        await screens.check("idle", {"agenda-panel", "clock-panel", "seats-panel"})

        # A vote open on the second item: its running totals as the daemon words them.
        await hall.post(f"/api/agenda/{SITTING['agenda'][1]['id']}/current")
        await hall.post("/api/votes", {"vote_id": "v1", "title": LONG_TITLE})
        await hall.post("/api/votes/v1/open")
        await _press_all(hall, "v1")
        view = _wall_view(hall)
        text = view["show"]["text"]["vi"]
        await expect(page.locator("#voted")).to_have_text(text["voted"])
        assert text["voted"] == f"Đã biểu quyết: {len(PRESSES)}/{len(PRESENT)}"
        await expect(page.locator("#totals .answer")).to_have_count(3)
        assert await _shares_on_page(page) == list(zip(text["answers"], text["lines"], strict=True))
        assert text["lines"][0] == answer_line(27, 50, Language.VI)
        await expect(page.locator("#item-title")).to_have_text(SITTING["agenda"][1]["title"])
        await expect(page.locator("#countdown")).to_have_text(re.compile(r"^(1:00|0:[0-5]\d)$"))
        await screens.check("vote", {"vote-panel", "seats-panel"})

        # On hold: a banner across the screen.
        await hall.post("/api/votes/v1/hold")
        banner = page.locator("#hold-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_have_text("Tạm dừng biểu quyết")
        box = await banner.bounding_box()
        assert box is not None
        viewport = SIZES[size]
        assert box["width"] > 0.9 * viewport["width"]
        assert box["height"] > 0.08 * viewport["height"]
        await expect(page.locator("#countdown")).to_have_class(re.compile(r"\bheld\b"))
        await screens.check("hold", {"hold-banner", "vote-panel", "seats-panel"})
        await hall.post("/api/votes/v1/resume")
        await expect(banner).to_be_hidden()

        # The result: bars over the rule's base with a mark at the count needed, each answer's
        # share of the total delegates, total, present and did-not-vote, the rule in words.
        await hall.post("/api/votes/v1/close")
        result = _vote(await hall.state(), "v1")["result"]
        await expect(page.locator("#result")).to_have_attribute("data-vote", "v1")
        view = _wall_view(hall)
        text = view["show"]["text"]["vi"]
        outcome = result["outcome"]
        assert view["show"]["bar_base"] == outcome["base_count"] == 50
        assert view["show"]["bar_mark"] == outcome["required"] == 26
        assert await _shares_on_page(page) == list(zip(text["answers"], text["lines"], strict=True))
        assert text["lines"] == [answer_line(t["count"], 50, Language.VI) for t in result["totals"]]
        bars: list[dict[str, float]] = await page.eval_on_selector_all(
            "#totals .answer",
            """rows => rows.map(r => {
                 const bar = r.querySelector('.bar').getBoundingClientRect();
                 const fill = r.querySelector('.fill').getBoundingClientRect();
                 const mark = r.querySelector('.mark').getBoundingClientRect();
                 return {fill: fill.width / bar.width,
                         mark: (mark.left + mark.width / 2 - bar.left) / bar.width};
               })""",
        )
        for bar, total in zip(bars, result["totals"], strict=True):
            assert bar["fill"] == pytest.approx(total["count"] / 50, abs=0.01)
            assert bar["mark"] == pytest.approx(26 / 50, abs=0.01)
        await expect(page.locator("#figures span")).to_have_text(text["figures"])
        assert text["figures"] == [
            "Tổng số đại biểu: 50",
            f"Có mặt: {result['present']}",
            f"Không tham gia biểu quyết: {result['did_not_vote']}",
        ]
        await expect(page.locator("#rule")).to_have_text(
            _vote(await hall.state(), "v1")["needed"]["texts"]["vi"]
        )
        marks = await _seat_marks(page)
        assert [n for n, m in marks.items() if m == "did-not-vote"] == result["did_not_vote_seats"]
        await expect(page.locator("#seat-legend")).not_to_contain_text("Chưa biểu quyết")
        # The header names the vote's own item.
        await expect(page.locator("#item-number")).to_have_text("Nội dung 2/2")
        await screens.check("result", {"vote-panel", "seats-panel"})

        # A speech: the speaker large with delegation and time, the queue; the result a line.
        # Eleven waiting: the queue shows eight and says how many more, within its region.
        waiting = [(7, "speak"), (8, "question"), (12, "speak")]
        waiting += [(seat, "speak") for seat in range(13, 21)]
        for seat, speaker_list in waiting:
            await hall.post("/api/floor/register", {"seat": seat, "list": speaker_list})
        await hall.post("/api/floor/grant", {"seat": 9})
        await expect(page.locator("body")).to_have_attribute("data-screen", "speech")
        first = page.locator(".speaker.first")
        await expect(first.locator(".speaker-name")).to_have_text(name_of[seat_of[9]])
        await expect(first.locator(".speaker-group")).to_have_text(group_of[seat_of[9]])
        await expect(first.locator(".speaker-time")).to_have_text(re.compile(r"^[67]:\d\d$"))
        await expect(page.locator("#waiting li")).to_have_count(9)
        await expect(page.locator("#waiting li.more")).to_have_text("và 3 đại biểu khác")
        last = page.locator("#last-result")
        await expect(last).to_contain_text("THÔNG QUA" if outcome["adopted"] else "KHÔNG")
        line = await last.bounding_box()
        assert line is not None
        assert line["height"] < 0.08 * viewport["height"]
        assert await page.locator("#vote-panel").is_hidden()
        name_box = await first.locator(".speaker-name").bounding_box()
        assert name_box is not None
        assert name_box["height"] > 0.04 * viewport["height"]
        await screens.check("speech", {"speech-panel", "queue-panel", "last-result"})
        await hall.post("/api/floor/revoke", {"seat": 9})
        await expect(page.locator("body")).to_have_attribute("data-screen", "result")

        # A vote that hides its running totals: only "voted N/M", and who has voted. It has no
        # time limit, and says so in full.
        await hall.post(
            "/api/votes",
            {"vote_id": "v2", "title": LONG_TITLE, "live_totals": False, "duration_s": 0},
        )
        await hall.post("/api/votes/v2/open")
        await _press_all(hall, "v2")
        await expect(page.locator("#countdown")).to_have_text("Không giới hạn thời gian")
        view = _wall_view(hall)
        assert view["show"]["counts"] is None
        assert view["show"]["choices"] == []
        assert "totals" not in view["vote"]["tally"]
        assert "choices" not in view["vote"]
        await expect(page.locator("#voted")).to_have_text(view["show"]["text"]["vi"]["voted"])
        await expect(page.locator("#totals-hidden")).to_be_visible()
        assert await page.locator("#totals").is_hidden()
        assert await page.locator("#seatmap [data-key]").count() == 0
        marks = await _seat_marks(page)
        assert {n for n, m in marks.items() if m == "voted"} == set(PRESSES)
        await screens.check("hidden", {"vote-panel", "seats-panel"})
        await hall.post("/api/votes/v2/close")
        await expect(page.locator("#result")).to_have_attribute("data-vote", "v2")

        # A secret ballot: who has voted, and the count, never a total until the close.
        await hall.post("/api/votes", {"vote_id": "s1", "title": LONG_TITLE, "mode": "secret"})
        await hall.post("/api/votes/s1/open")
        await _press_all(hall, "s1")
        view = _wall_view(hall)
        assert view["show"]["counts"] is None
        assert view["show"]["text"]["vi"]["lines"] == []
        assert sorted(view["show"]["voted_seats"]) == sorted(PRESSES)
        await expect(page.locator("#vote-mode")).to_have_text("Bỏ phiếu kín")
        await expect(page.locator("#secret-note")).to_be_visible()
        assert await page.locator("#totals").is_hidden()
        assert await page.locator("#seatmap [data-key]").count() == 0
        marks = await _seat_marks(page)
        assert {n for n, m in marks.items() if m == "voted"} == set(PRESSES)
        await screens.check("secret", {"vote-panel", "seats-panel"})

        # The English page reads English (the hall's data aside), at the secret ballot, the
        # idle screen and the result.
        await page.goto(hall.wall_url + "&lang=en")
        await expect(page.locator("#vote-mode")).to_have_text("Secret ballot")
        chrome: str = await page.evaluate(CHROME_TEXT_JS)
        assert VIETNAMESE.findall(chrome) == [], chrome
        await hall.post("/api/votes/s1/close")
        await expect(page.locator("#result")).to_have_attribute("data-vote", "s1")
        view = _wall_view(hall)
        en = view["show"]["text"]["en"]
        assert await _shares_on_page(page) == list(zip(en["answers"], en["lines"], strict=True))
        assert en["answers"] == ["Yes", "No", "Abstain"]
        chrome = await page.evaluate(CHROME_TEXT_JS)
        assert VIETNAMESE.findall(chrome) == [], chrome
        # After a secret close: who took part and who did not, never a seat's key.
        assert await page.locator("#seatmap [data-key]").count() == 0
        await screens.check("result-en", {"vote-panel", "seats-panel"})
        await hall.post(f"/api/agenda/{SITTING['agenda'][0]['id']}/current")
        await expect(page.locator("body")).to_have_attribute("data-screen", "idle")
        await expect(page.locator("#big-date")).to_have_text(
            re.compile(r"^[A-Z][a-z]+day, \d{1,2} [A-Z][a-z]+ \d{4}$")
        )
        chrome = await page.evaluate(CHROME_TEXT_JS)
        assert VIETNAMESE.findall(chrome) == [], chrome
        await screens.check("idle-en", {"agenda-panel", "clock-panel", "seats-panel"})
    assert [e for e in seen.errors if "ERR_CONNECTION_REFUSED" not in e] == []
    await page.context.close()
