"""The minutes printed: Chromium's print-to-PDF gives A4 pages whose text (read back by
poppler's pdftotext) holds the Vietnamese diacritics, the appendix on a page of its own; at the
A4 print width, in Chromium, no element overflows; `chamber export --format pdf` writes it."""

from __future__ import annotations

import argparse
import re
import subprocess
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from chamber.controller import exports
from chamber.controller.core.model import Language
from chamber.controller.exports import (
    Format,
    JournalView,
    What,
    html_pdf,
    minutes_html,
    render_bytes,
)
from tests.minutes.sitting import EXAMPLE, QUESTION_SEAT, SPEECH_SEAT, SittingTruth
from tests.torture import ledger
from tests.torture.harness import pdf_text
from tests.wall.hall import CHROMIUM, CHROMIUM_ARGS

# A4 in PostScript points (210 x 297 mm); Chromium rounds to its own units.
A4_PT = (595.28, 841.89)
# The printable width at 96 CSS px an inch: A4 less the @page side margins (30 + 15 mm).
PRINT_WIDTH_PX = round((210 - 45) / 25.4 * 96)

OVERFLOW_JS = """
() => {
  const problems = [];
  const W = document.documentElement.clientWidth;
  const root = document.documentElement;
  if (root.scrollWidth > W) problems.push(`page ${root.scrollWidth} > ${W}`);
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const name = `${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.slice(0, 40)}`;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      problems.push(`${name} scrollWidth ${el.scrollWidth} > ${el.clientWidth}`);
    if (r.left < -0.5 || r.right > W + 0.5)
      problems.push(`${name} outside the page: ${r.left}..${r.right} of ${W}`);
  }
  return problems;
}
"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def page_sizes(pdf: Path) -> list[tuple[float, float]]:
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "9999", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return [
        (float(w), float(h))
        for w, h in re.findall(r"^Page +\d+ size: +([\d.]+) x ([\d.]+) pts", info, re.M)
    ]


def pdf_pages(pdf: Path) -> list[str]:
    """The PDF's text, page by page, as poppler extracts it (NFC: what a reader copies)."""
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [unicodedata.normalize("NFC", re.sub(r"\s+", " ", p)) for p in text.split("\f")]


@pytest.mark.parametrize("language", [Language.VI, Language.EN])
async def test_the_pdf_has_a4_pages_and_its_text_keeps_the_diacritics(
    sitting: tuple[SittingTruth, JournalView], tmp_path: Path, language: Language
) -> None:
    truth, view = sitting
    pdf = tmp_path / f"minutes-{language.value}.pdf"
    pdf.write_bytes(render_bytes(view, What.MINUTES, Format.PDF, language=language))
    assert pdf.read_bytes().startswith(b"%PDF-")
    sizes = page_sizes(pdf)
    assert len(sizes) >= 3
    for width, height in sizes:
        assert abs(width - A4_PT[0]) < 1.5
        assert abs(height - A4_PT[1]) < 1.5
    pages = [p for p in pdf_pages(pdf) if p.strip()]
    assert len(pages) == len(sizes)
    text = " ".join(pages)
    names = [truth.name_at[SPEECH_SEAT], truth.name_at[QUESTION_SEAT], truth.name_at[41]]
    for words in (
        "HỘI ĐỒNG NHÂN DÂN TỈNH NINH BÌNH KHÓA XV",
        "Kỳ họp thứ mười hai (kỳ họp thường lệ cuối năm 2026)",
        "Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2027",
        *names,
    ):
        assert words in text
    if language is Language.VI:
        for words in (
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "Ninh Bình, ngày 02 tháng 12 năm 2026",
            "Có mặt khi khai mạc (lúc 08 giờ 00): 11/50 đại biểu (22,0 %)",
            "8 phút 48 giây",
            "54,0 %",
            "(Ký, ghi rõ họ tên)",
        ):
            assert words in text
        heading = "PHỤ LỤC: THÔNG TIN KIỂM TRA"
    else:
        for words in ("SOCIALIST REPUBLIC OF VIET NAM", "8 min 48 s", "54.0%"):
            assert words in text
        heading = "APPENDIX: AUDIT DETAILS"
    # The appendix begins a page of its own, after the signatures.
    appendix = next(n for n, p in enumerate(pages) if heading in p)
    assert pages[appendix].lstrip().startswith(heading)
    assert view.head_hash[:16] in pages[appendix].replace(" ", "")


@pytest.mark.parametrize("language", [Language.VI, Language.EN])
@pytest.mark.parametrize(("media", "width"), [("print", PRINT_WIDTH_PX), ("screen", 794)])
async def test_nothing_overflows_at_the_a4_width(
    sitting: tuple[SittingTruth, JournalView],
    browser: Browser,
    language: Language,
    media: str,
    width: int,
) -> None:
    _, view = sitting
    context = await browser.new_context(viewport={"width": width, "height": 1123})
    try:
        page = await context.new_page()
        await page.emulate_media(media="print" if media == "print" else "screen")
        await page.set_content(minutes_html(view, language))
        problems: list[str] = await page.evaluate(OVERFLOW_JS)
        assert problems == []
        # The national name and the motto stay on one line each, as the decree lays them out.
        for cls in ("nation", "motto"):
            box = await page.locator(f".{cls}").bounding_box()
            assert box is not None
            line = await page.locator(f".{cls}").evaluate(
                "el => parseFloat(getComputedStyle(el).lineHeight)"
            )
            assert box["height"] < 1.6 * line
    finally:
        await context.close()


async def test_chamber_export_writes_the_pdf(
    sitting: tuple[SittingTruth, JournalView], tmp_path: Path
) -> None:
    truth, _ = sitting
    parser = argparse.ArgumentParser(prog="chamber export")
    exports.add_arguments(parser)
    out = tmp_path / "bien-ban.pdf"
    argv = ["--journal", str(truth.journal), "--config", str(EXAMPLE)]
    args = parser.parse_args([*argv, "--what", "minutes", "--format", "pdf", "-o", str(out)])
    assert exports.run(args) == 0
    assert out.read_bytes().startswith(b"%PDF-")
    assert "Có mặt khi khai mạc (lúc 08 giờ 00): 11/50" in " ".join(pdf_pages(out))
    # As the secretary types it: `chamber export minutes --format pdf`.
    out.unlink()
    args = parser.parse_args(["minutes", *argv, "--format", "pdf", "--lang", "en", "-o", str(out)])
    assert exports.run(args) == 0
    assert "Present at the opening (at 08:00): 11 of 50" in " ".join(pdf_pages(out))
    # The minutes' default format is HTML; two different WHATs are refused.
    page = tmp_path / "bien-ban.html"
    assert exports.run(parser.parse_args(["minutes", *argv, "-o", str(page)])) == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert exports.run(parser.parse_args(["minutes", *argv, "--what", "results"])) == 2
    # A PDF of results is refused with one line, not a traceback.
    args = parser.parse_args([*argv, "--what", "results", "--format", "pdf"])
    assert exports.run(args) == 2


async def test_the_torture_secrecy_check_reads_the_minutes_and_their_print(
    sitting: tuple[SittingTruth, JournalView],
) -> None:
    """The torture run's search of the minutes (HTML and PDF) finds the secret ballot's part
    and nothing in it; pointed at the open vote, which lists names, it finds them."""
    _, view = sitting
    page = minutes_html(view, Language.VI)
    printed = pdf_text(html_pdf(page))

    def secret(vote_id: str) -> ledger.Secret:
        return ledger.Secret(vote_id, {}, frozenset(), None, None)

    assert ledger.export_links("minutes", page.encode("utf-8"), secret("v2")) == []
    assert ledger.minutes_pdf_links("print", printed, page, secret("v2")) == []
    html_found = ledger.export_links("minutes", page.encode("utf-8"), secret("v1"))
    assert "minutes: a list of names under v1" in html_found
    pdf_found = ledger.minutes_pdf_links("print", printed, page, secret("v1"))
    assert "print: who chose what under v1 (Đại biểu theo từng nội dung biểu quyết)" in pdf_found
    assert ledger.export_links("minutes", page.encode("utf-8"), secret("v9")) == [
        "minutes: v9 not in the minutes, not searched"
    ]
