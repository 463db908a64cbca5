"""The term report on a generated term of 15 sittings in three journals on two PCs, with a
rotated journal and backup copies: every delegate's attendance, sessions, time present, votes,
speeches, questions and absences equal the generator's own count, and no sitting is counted
twice."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
import unicodedata
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.cli import main
from chamber.controller.config import ConfigError, HallConfig, Term, load_config
from chamber.controller.core.inputs import ClockAnchor, CloseSitting, OpenSitting, to_record
from chamber.controller.core.model import Language
from chamber.controller.journal import Journal
from chamber.controller.report import (
    SORT_WORDS,
    TEXT,
    Format,
    ReportError,
    Sort,
    TermReport,
    collect,
    delegate_csv,
    duration,
    name_key,
    render,
    report_csv,
    select,
    vietnamese_key,
)
from tests.report.term import TERM_END, TERM_START, GeneratedTerm, backup, generate_term

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"


def hall() -> HallConfig:
    return replace(load_config(EXAMPLE), term=Term("Nhiệm kỳ 2021-2026", TERM_START, TERM_END))


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> GeneratedTerm:
    import asyncio

    root = tmp_path_factory.mktemp("term")
    return asyncio.run(generate_term(hall(), root))


@pytest.fixture(scope="module")
def report(term: GeneratedTerm) -> TermReport:
    return collect(term.paths, hall())


def test_every_sitting_of_the_term_once_in_order(term: GeneratedTerm, report: TermReport) -> None:
    assert [s.sitting_id for s in report.sittings] == list(term.sittings)
    # The earlier term's sitting is in the first journal, and left out.
    assert [sid for sid, _ in report.left_out] == [term.before]
    # Three journals read; the prefix backup of the first and the copy of the third are not.
    assert len(report.journals) == 3
    assert sorted(c.path.name for c in report.copies) == ["2022-hdnd.journal", "pc2-hdnd.journal"]
    for s in report.sittings:
        assert (s.sessions, s.votes) == term.truth.sittings[s.sitting_id]
        assert s.opened is not None
        assert s.opened.date() == term.truth.days[s.sitting_id]
        assert s.closed is not None


def test_each_delegate_matches_the_generator(term: GeneratedTerm, report: TermReport) -> None:
    assert len(report.delegates) == 50
    for d in report.delegates:
        t = term.truth.delegates[d.delegate_id]
        assert d.sittings_held == 15
        assert d.sittings_attended == t.sittings_attended, d.delegate_id
        assert d.sessions_held == sum(s for s, _ in term.truth.sittings.values())
        assert d.sessions_attended == t.sessions_attended, d.delegate_id
        assert d.present_s == pytest.approx(t.present_s, abs=1e-6), d.delegate_id
        assert d.votes_held == t.votes_held, d.delegate_id
        assert d.votes_taken == t.votes_taken, d.delegate_id
        assert d.speeches == t.speeches, d.delegate_id
        assert d.speech_s == pytest.approx(t.speech_s, abs=1e-6), d.delegate_id
        assert d.questions == t.questions, d.delegate_id
        assert d.question_s == pytest.approx(t.question_s, abs=1e-6), d.delegate_id
        got = [(a.sitting.sitting_id, a.whole, a.reason, a.excused) for a in d.absences]
        assert sorted(got) == sorted(t.absences), d.delegate_id
    # The generated term is not trivial: absences, both kinds, secret and open votes.
    truth = term.truth.delegates.values()
    whole = [(r, e) for t in truth for _, w, r, e in t.absences if w]
    assert {e for _, e in whole} == {True, False, None}  # with leave, without, not said
    assert any(not w for t in truth for _, w, _, _ in t.absences)
    assert sum(t.questions for t in truth) > 0
    assert sum(t.speeches for t in truth) > 0
    assert any(t.votes_taken < t.votes_held for t in truth)


def test_the_same_journals_given_twice_count_nothing_twice(
    term: GeneratedTerm, report: TermReport
) -> None:
    files = [
        p
        for d in term.paths
        for p in sorted(d.iterdir())
        if p.is_file() and not p.name.endswith(("-wal", "-shm", ".head"))
    ]
    assert len(files) == 5
    again = collect([*term.paths, *files, term.paths[0]], hall())
    assert [s.sitting_id for s in again.sittings] == [s.sitting_id for s in report.sittings]
    assert [d.votes_taken for d in again.delegates] == [d.votes_taken for d in report.delegates]


def test_a_damaged_journal_stops_the_report_naming_it(term: GeneratedTerm, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    copy = bad / "changed.journal"
    copy.write_bytes((term.paths[1] / "hdnd-ninh-binh.journal").read_bytes())
    con = sqlite3.connect(copy)
    con.execute("UPDATE records SET body = replace(body, 'Kỳ họp', 'Kỳ hop') WHERE seq < 200")
    con.commit()
    con.close()
    with pytest.raises(ReportError, match=r"changed\.journal: record \d+ is bad: hash-mismatch"):
        collect([*term.paths, bad], hall())


def test_delegation_filter_and_ranking(report: TermReport) -> None:
    group = report.delegates[5].group
    rows = select(report, delegation=group.upper(), sort=Sort.ATTENDANCE)
    assert rows
    assert all(d.group == group for d in rows)
    assert {d.delegate_id for d in rows} == {
        d.delegate_id for d in report.delegates if d.group == group
    }
    keys = [(d.sittings_attended, d.present_s) for d in rows]
    assert keys == sorted(keys, reverse=True)
    by_votes = select(report, sort=Sort.VOTES)
    shares = [d.votes_taken / d.votes_held for d in by_votes]
    assert shares == sorted(shares, reverse=True)
    with pytest.raises(ReportError, match="no delegation"):
        select(report, delegation="Tổ không có")


def test_csv_in_vietnamese_and_english(term: GeneratedTerm, report: TermReport) -> None:
    text = report_csv(report.delegates, Language.VI)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:4] == ["Mã đại biểu", "Họ và tên", "Tổ đại biểu", "Số kỳ họp"]
    assert len(rows) == 51
    for row in rows[1:]:
        t = term.truth.delegates[row[0]]
        assert int(row[4]) == t.sittings_attended
        assert int(row[9]) == t.votes_taken
        assert int(row[10]) == t.speeches
        assert int(row[12]) == t.questions
        assert int(row[7]) == int(t.present_s + 0.5)
    english = list(csv.reader(io.StringIO(report_csv(report.delegates, Language.EN)[1:])))
    assert english[0][:4] == ["Delegate id", "Name", "Delegation", "Sittings"]
    one = list(csv.reader(io.StringIO(delegate_csv(report.delegates[0], Language.VI)[1:])))
    assert [r[0] for r in one[1:]] == list(term.sittings)


def test_html_in_vietnamese_words(report: TermReport) -> None:
    page = render(report, Format.HTML, Language.VI, sort=Sort.SPEECHES, issued=date(2026, 7, 2))
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page
    assert "Ngày 02 tháng 7 năm 2026" in page  # the date line: the day it is made
    assert "Nhiệm kỳ 2021-2026. Từ ngày 30 tháng 8 năm 2021 đến ngày" in page
    assert "ngày 30 tháng 8 năm 2021" in page  # the first sitting's day
    assert "Phạm Mạnh Dũng" in page
    assert "vắng cả kỳ họp, có lý do: Đi học tập trung" in page
    assert "vắng cả kỳ họp, không có lý do: Không báo trước" in page
    assert "vắng cả kỳ họp: không ghi lý do" in page
    english = render(report, Format.HTML, Language.EN)
    assert "30 August 2021" in english
    assert "Sittings attended" in english


def test_durations_in_words() -> None:
    assert duration(528.4, Language.VI) == "8 phút 48 giây"
    assert duration(7500, Language.VI) == "2 giờ 05 phút"
    assert duration(40, Language.EN) == "40 s"


def _hall_file(tmp_path: Path) -> Path:
    """The example hall's file with the term in it, as a secretary would write it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text += '\n[term]\nname = "Nhiệm kỳ 2021-2026"\nstart = 2021-07-01\nend = 2026-06-30\n'
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_chamber_report_on_the_command_line(
    term: GeneratedTerm, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hall_file = _hall_file(tmp_path)
    paths = [str(p) for p in term.paths]
    out = tmp_path / "term.csv"
    code = main(["report", *paths, "--config", str(hall_file), "--format", "csv", "-o", str(out)])
    assert code == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8")[1:])))
    assert len(rows) == 51
    assert {r[0]: int(r[4]) for r in rows[1:]} == {
        d: t.sittings_attended for d, t in term.truth.delegates.items()
    }
    # One delegation, ranked by speeches, in English, to standard output.
    group = rows[1][2]
    code = main(
        [
            "report",
            *paths,
            "--config",
            str(hall_file),
            "--format",
            "html",
            "--lang",
            "en",
            "--delegation",
            group,
            "--sort",
            "speeches",
        ]
    )
    assert code == 0
    page = capsys.readouterr().out
    assert "Ranked by: speeches and questions" in page
    members = [d for d in term.truth.delegates if rows[[r[0] for r in rows].index(d)][2] == group]
    assert page.count('<tr><td class="n">') == len(members) + 15  # delegates, then sittings
    # Every sitting found without the term: the earlier term's sitting is in.
    code = main(
        [
            "report",
            *paths,
            "--config",
            str(hall_file),
            "--format",
            "csv",
            "--all-sittings",
            "--delegate",
            "d0001",
        ]
    )
    assert code == 0
    sittings = [r[0] for r in csv.reader(io.StringIO(capsys.readouterr().out[1:]))][1:]
    assert sittings == [term.before, *term.sittings]
    # A file that is not a journal: one line, exit 2.
    code = main(["report", str(hall_file), "--config", str(hall_file)])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {hall_file}: not a chamber journal"


def test_the_report_prints_to_pdf_with_chromium(term: GeneratedTerm, tmp_path: Path) -> None:
    out = tmp_path / "term.pdf"
    code = main(
        [
            "report",
            *map(str, term.paths),
            "--config",
            str(_hall_file(tmp_path)),
            "--format",
            "pdf",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Phạm Mạnh Dũng" in text
    size = subprocess.run(["pdfinfo", str(out)], capture_output=True, check=True, text=True)
    assert "841.92 x 594.96 pts (A4)" in size.stdout  # landscape


def test_two_copies_of_one_journal_that_differ_stop_the_report(
    term: GeneratedTerm, tmp_path: Path
) -> None:
    """A copy that went on on its own (a restored backup written to) is not the beginning of
    the other copy: the report names both and counts neither."""
    first = tmp_path / "a" / "hdnd.journal"
    backup(term.paths[1] / "hdnd-ninh-binh.journal", first)
    second = tmp_path / "b" / "hdnd.journal"
    backup(first, second)
    for path, unix in ((first, 1.0e9), (second, 2.0e9)):
        with Journal.open(path) as journal:
            journal.append(to_record(ClockAnchor(1.0e6, unix)))
    with pytest.raises(ReportError, match=r"copies of one journal .* that differ") as caught:
        collect([tmp_path / "a", tmp_path / "b"], hall())
    assert str(first) in str(caught.value)
    assert str(second) in str(caught.value)


def test_one_sitting_in_two_journals_is_refused(tmp_path: Path) -> None:
    for name in ("old-pc", "new-pc"):
        (tmp_path / name).mkdir()
        with Journal.open(tmp_path / name / "hdnd.journal") as journal:
            journal.append_batch(
                [
                    to_record(ClockAnchor(1.0, 1.7e9)),
                    to_record(OpenSitting(2.0, "ky-hop-07", "Kỳ họp thứ 7")),
                    to_record(CloseSitting(50.0)),
                ]
            )
    with pytest.raises(ReportError, match="sitting 'ky-hop-07' is in two different journals"):
        collect([tmp_path], replace(hall(), term=None))


def test_the_term_in_the_hall_file(tmp_path: Path) -> None:
    config = load_config(_hall_file(tmp_path))
    assert config.term == Term("Nhiệm kỳ 2021-2026", TERM_START, TERM_END)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        _hall_file(tmp_path).read_text(encoding="utf-8").replace("end = 2026", "end = 2020"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"term\.end 2020-06-30 is before term\.start 2021-07-01"):
        load_config(bad)


def test_names_sort_in_vietnamese_order() -> None:
    words = ["Đức", "Dũng", "Ánh", "Anh", "Ấn", "Ăn", "Bình", "Ưng", "Uyên", "Ơn", "Ông", "Yến"]
    assert sorted(words, key=vietnamese_key) == [
        "Anh",
        "Ánh",
        "Ăn",
        "Ấn",
        "Bình",
        "Dũng",
        "Đức",
        "Ông",
        "Ơn",
        "Uyên",
        "Ưng",
        "Yến",
    ]
    names = ["Phạm Mạnh Dũng", "Trần Thị Ánh", "Nguyễn Văn An", "Lê Văn An", "Đỗ Thị Ba"]
    assert sorted(names, key=name_key) == [
        "Lê Văn An",
        "Nguyễn Văn An",
        "Trần Thị Ánh",
        "Đỗ Thị Ba",
        "Phạm Mạnh Dũng",
    ]


@given(st.text(alphabet="aăâdđeêioôơuưyAĂÂĐOƠàáảãạầấẩẫậằắẳẵặ ", max_size=12))
def test_the_sort_key_ignores_case_and_normal_form(text: str) -> None:
    key = vietnamese_key(text)
    assert vietnamese_key(unicodedata.normalize("NFD", text)) == key
    assert vietnamese_key(text.upper()) == key
    assert vietnamese_key(unicodedata.normalize("NFC", text.lower())) == key


def test_the_report_ranks_by_given_name(report: TermReport) -> None:
    rows = select(report, sort=Sort.NAME)
    keys = [name_key(d.name) for d in rows]
    assert keys == sorted(keys)
    assert len(rows) == 50


# Inside the printed page (A4 landscape less the page's 1.5 cm margins: 267 mm at 96 px to the
# inch), no cell's content wider than its cell, and no table wider than the page.
PRINT_WIDTH = round(267 / 25.4 * 96)
FITS_JS = """
() => {
  const problems = [];
  const W = document.documentElement.clientWidth;
  for (const el of document.querySelectorAll("table, th, td, h1, p, li")) {
    const r = el.getBoundingClientRect();
    const what = `${el.tagName} "${el.textContent.slice(0, 40)}"`;
    if (r.right > W + 0.5) problems.push(`${what} ends at ${r.right} > ${W}`);
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      problems.push(`${what} ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return problems;
}
"""


async def test_the_printed_pages_fit_the_paper(report: TermReport) -> None:
    from playwright.async_api import async_playwright

    from tests.wall.hall import CHROMIUM, CHROMIUM_ARGS

    pages = [
        render(report, Format.HTML, language, delegate=delegate, issued=date(2026, 7, 2))
        for language in Language
        for delegate in (None, "d0007")
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": PRINT_WIDTH, "height": 800})
            page = await context.new_page()
            await page.emulate_media(media="print")
            for text in pages:
                await page.set_content(text)
                problems: list[str] = await page.evaluate(FITS_JS)
                assert problems == []
                # Every name as written, diacritics and all (NFC), on the page.
                shown = await page.inner_text("body")
                assert unicodedata.is_normalized("NFC", shown)
                assert "Phan Công Quân" in shown
        finally:
            await browser.close()


def test_every_word_of_the_report_in_both_languages() -> None:
    assert set(TEXT[Language.VI]) == set(TEXT[Language.EN])
    assert set(SORT_WORDS[Language.VI]) == set(SORT_WORDS[Language.EN]) == set(Sort)
    for words in TEXT.values():
        assert all(unicodedata.is_normalized("NFC", w) for w in words.values())


def test_the_council_page_sums_each_delegation(term: GeneratedTerm, report: TermReport) -> None:
    page = render(report, Format.HTML, Language.VI)
    assert "<h2>Theo tổ đại biểu</h2>" in page
    table = page.split('<table class="data by-group">', 1)[1].split("</table>", 1)[0]
    lines = table.split("<tr>")[2:]
    groups: dict[str, list[str]] = {}
    for d in report.delegates:
        groups.setdefault(d.group, []).append(d.delegate_id)
    assert len(lines) == len(groups)
    for line, (group, members) in zip(lines, groups.items(), strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", line)
        truth = [term.truth.delegates[m] for m in members]
        attended = sum(t.sittings_attended for t in truth)
        taken = sum(t.votes_taken for t in truth)
        held = sum(t.votes_held for t in truth)
        assert cells[1] == group
        assert cells[2] == str(len(members))
        assert cells[3].startswith(f"{attended}/{15 * len(members)} ")
        assert cells[6].startswith(f"{taken}/{held} ")
        assert cells[9] == str(sum(len(t.absences) for t in truth))
