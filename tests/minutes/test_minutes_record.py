"""The minutes of a sitting say what the journal recorded, in the form of a biên bản: attendance
AT THE OPENING (11 present then, 29 more later), the absent by name with the secretary's
reason, the agenda with each item's votes, the verdict once with its rule, for the open vote
the names per answer and of those present who did not vote, the speeches in order, Vietnamese
dates and numbers, the audit details in an appendix; and the same record in English."""

from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

import pytest

from chamber.controller.config import parse_config
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    ClockAnchor,
    CloseSitting,
    OpenSitting,
    PresenceChanged,
    RecordAbsence,
)
from chamber.controller.core.model import Language
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.exports import (
    COLUMN_HEADERS,
    WORDS,
    ExportError,
    JournalView,
    Seal,
    duration,
    minutes_html,
    share,
)
from chamber.controller.signing import HallKey, minutes_seal, verify_seal
from tests.minutes.sitting import (
    AT_OPENING,
    EXCUSED_REASON,
    EXCUSED_SEAT,
    LATER,
    OPEN_CHOICES,
    OPENED,
    QUESTION_SEAT,
    SITTING_TITLE,
    SPEECH_SEAT,
    UNEXCUSED_REASON,
    UNEXCUSED_SEAT,
    SittingTruth,
)


def text_of(page: str) -> str:
    """The page's words as a reader sees them: tags gone, entities decoded, spaces collapsed."""
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))
    return re.sub(r" ([.,;:)])", r"\1", text)


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


async def test_attendance_is_the_attendance_at_the_opening(
    sitting: tuple[SittingTruth, JournalView],
) -> None:
    truth, view = sitting
    vi = text_of(minutes_html(view, Language.VI))
    # 11 of the 50 were present when the sitting opened at 08:00, not the 40 there by the end.
    assert "Có mặt khi khai mạc (lúc 08 giờ 00): 11/50 đại biểu (22,0 %)" in vi
    assert "Vắng mặt khi khai mạc: 39 đại biểu" in vi
    later = section(vi, "Đến sau khi khai mạc (29)", "Vắng mặt cả kỳ họp")
    for seat in LATER:
        assert truth.name_at[seat] in later
    for seat in AT_OPENING:
        assert truth.name_at[seat] not in later
    # Seat 12 came 25 s after the opening, seat 40 at 12 min 05 s: by the minute they came.
    assert "Có mặt từ 08 giờ 00 (2):" in later
    assert "Có mặt từ 08 giờ 12 (1): " + truth.name_at[40] + "." in later
    # The ten who never came, by name, each with the reason the secretary recorded, or none.
    absent = section(vi, "Vắng mặt cả kỳ họp", "Số đại biểu có mặt đông nhất")
    assert "Vắng mặt cả kỳ họp: 10 đại biểu (1 có lý do, 1 không có lý do, 8 chưa" in absent
    assert f"{truth.name_at[UNEXCUSED_SEAT]} {truth.group_at[UNEXCUSED_SEAT]} " in absent
    for seat in range(41, 51):
        assert truth.name_at[seat] in absent
    assert f"{truth.name_at[EXCUSED_SEAT]} {truth.group_at[EXCUSED_SEAT]} " in absent
    assert f"Vắng có lý do: {EXCUSED_REASON}" in absent
    assert f"Vắng không có lý do: {UNEXCUSED_REASON}" in absent
    assert absent.count("Chưa ghi nhận lý do") == 8
    assert "Số đại biểu có mặt đông nhất trong kỳ họp: 40/50" in vi

    en = text_of(minutes_html(view, Language.EN))
    assert "Present at the opening (at 08:00): 11 of 50 members (22.0%)" in en
    assert f"Absent with leave: {EXCUSED_REASON}" in en
    assert "Absent for the whole sitting: 10 members (1 with leave, 1 without leave" in en


async def test_the_minutes_are_a_biên_bản_with_its_parts(
    sitting: tuple[SittingTruth, JournalView],
) -> None:
    truth, view = sitting
    page = minutes_html(view, Language.VI)
    vi = text_of(page)
    # The heading of Decree 30/2020/NĐ-CP, the place and date line, the title with no id.
    assert vi.index("HỘI ĐỒNG NHÂN DÂN TỈNH NINH BÌNH KHÓA XV") < vi.index("CỘNG HÒA XÃ HỘI")
    assert "Độc lập - Tự do - Hạnh phúc" in vi
    assert '<div class="place-date">Ninh Bình, ngày 02 tháng 12 năm 2026</div>' in page
    assert f"BIÊN BẢN {SITTING_TITLE} I. THỜI GIAN" in vi
    assert "ky-hop-12" not in vi
    assert not re.search(r"\bv[12]\b", vi)
    # Times in words, never ISO strings.
    assert not re.search(r"\d{4}-\d\d-\d\d", vi)
    assert "Khai mạc: 08 giờ 00, ngày 02 tháng 12 năm 2026" in vi
    assert re.search(r"Bế mạc: 08 giờ \d\d, ngày 02 tháng 12 năm 2026", vi)
    chair = next(d.name for d in truth.config.hall.delegates if d.role.value == "chair")
    assert f"Chủ tọa: {chair}" in vi
    assert "THƯ KÝ (Ký, ghi rõ họ tên)" in vi
    assert f"CHỦ TỌA (Ký, ghi rõ họ tên) {chair}" in vi
    # The agenda, then each item with its own vote.
    votes = section(vi, "III. NỘI DUNG VÀ KẾT QUẢ BIỂU QUYẾT", "IV. PHÁT BIỂU")
    item1 = section(votes, "1. Nghị quyết về kế hoạch", "2. Miễn nhiệm")
    item2 = votes[votes.index("2. Miễn nhiệm") :]
    assert "Biểu quyết 1: Nghị quyết về kế hoạch" in item1
    assert "Biểu quyết 2: Miễn nhiệm Phó Chủ tịch" in item2
    # Counts and shares of the total of 50, a decimal comma; the verdict once, with its rule.
    assert "Tán thành 27/50 54,0 %" in item1
    assert "Không tán thành 10/50 20,0 %" in item1
    assert "Không biểu quyết 2/50 4,0 %" in item1
    assert "Có mặt, không tham gia biểu quyết 1/50 2,0 %" in item1
    assert "Số đại biểu tham gia biểu quyết 39/50 78,0 %" in item1
    assert (
        "Kết quả: Thông qua. Có 27/50 đại biểu tán thành; cần quá nửa tổng số 50 đại biểu "
        "(ít nhất 26)." in item1
    )
    assert item1.count("Thông qua") == 1
    # The open vote names who answered what, and who was present and did not vote.
    yes = [truth.name_at[s] for s, k in OPEN_CHOICES.items() if k == 1]
    assert f"Tán thành (27): {', '.join(yes)}." in item1
    assert f"Có mặt, không tham gia biểu quyết (1): {truth.name_at[40]}." in item1
    # The secret ballot: totals only, no name anywhere in its section.
    assert "Tán thành 30/50 60,0 %" in item2
    assert "Bỏ phiếu kín: hệ thống không lưu lựa chọn của từng đại biểu." in item2
    for name in truth.name_at.values():
        assert name not in item2
    # The speeches in order, with delegation, list and duration.
    speeches = section(vi, "IV. PHÁT BIỂU, CHẤT VẤN", "Tổng hợp theo đại biểu")
    speech = (
        f"1 08 giờ 13 {truth.name_at[SPEECH_SEAT]} {truth.group_at[SPEECH_SEAT]} Phát biểu "
        "8 phút 48 giây"
    )
    assert speech in speeches
    question = f"{truth.name_at[QUESTION_SEAT]} {truth.group_at[QUESTION_SEAT]} Chất vấn 1 phút"
    assert f"2 08 giờ 22 {question} 35 giây" in speeches
    # Only those who spoke, not 50 rows of "0 phút".
    totals = section(vi, "Tổng hợp theo đại biểu", "Các đại biểu khác")
    assert totals.count("Tổ đại biểu") == 2
    # The audit details: the journal's head, each vote's record, on a page of their own.
    appendix = vi[vi.index("PHỤ LỤC: THÔNG TIN KIỂM TRA") :]
    assert view.head_hash in appendix
    assert view.votes["v1"].head_hash in appendix
    assert '<section class="appendix">' in page
    assert "Bản in này không kèm chữ ký số của phòng họp." in appendix


async def test_the_english_minutes_are_english(sitting: tuple[SittingTruth, JournalView]) -> None:
    _, view = sitting
    en = text_of(minutes_html(view, Language.EN))
    for words in (
        "SOCIALIST REPUBLIC OF VIET NAM",
        "MINUTES",
        "I. TIME, PLACE AND THOSE TAKING PART",
        "Opened: 08:00, 02 December 2026",
        "II. AGENDA",
        "Vote 1: Nghị quyết về kế hoạch",
        "Yes 27/50 54.0%",
        "Present, did not vote 1/50 2.0%",
        "Result: Adopted. 27 of 50 members voted yes; more than half of all 50 members",
        "IV. SPEECHES AND QUESTIONS",
        "Speech 8 min 48 s",
        "Question 1 min 35 s",
        "APPENDIX: AUDIT DETAILS",
        "(Signature and full name)",
    ):
        assert words in en
    # No Vietnamese word of the minutes' own (names and titles stay as they are).
    for word in ("Tán thành", "Biểu quyết", "giờ", "phút", "Có mặt", "Vắng", "Thông qua", "Kết"):
        assert word not in en.replace("Nghị quyết", "").replace("Biểu quyết 1", "")


async def test_the_seal_in_the_appendix_is_the_hall_keys_signature_over_the_head(
    sitting: tuple[SittingTruth, JournalView], tmp_path: Path
) -> None:
    _, view = sitting
    key = HallKey.load_or_create(tmp_path / "key")
    seal = minutes_seal(view, key)
    page = text_of(minutes_html(view, Language.VI, seal=seal))
    assert f"Khóa của phòng họp (dấu vân tay): {key.fingerprint}" in page
    assert seal.signature in page
    assert verify_seal(view, seal, key.public_raw)
    other = HallKey.load_or_create(tmp_path / "other")
    assert not verify_seal(view, seal, other.public_raw)
    assert not verify_seal(view, Seal(seal.fingerprint, "A" + seal.signature[1:]), key.public_raw)


def test_durations_and_shares_in_words() -> None:
    assert duration(528.0, Language.VI) == "8 phút 48 giây"
    assert duration(528.4, Language.EN) == "8 min 48 s"
    assert duration(59.5, Language.VI) == "1 phút 00 giây"
    assert duration(0.2, Language.VI) == "0 giây"
    assert duration(3725.0, Language.VI) == "1 giờ 02 phút 05 giây"
    assert share(27, 50, Language.VI) == "54,0 %"
    assert share(27, 50, Language.EN) == "54.0%"


async def test_an_unknown_sitting_is_a_typed_error(
    sitting: tuple[SittingTruth, JournalView],
) -> None:
    _, view = sitting
    with pytest.raises(ExportError) as exc:
        minutes_html(view, Language.VI, "ky-hop-99")
    assert exc.value.code == "export.sitting_not_found"


def test_the_minutes_words_exist_in_both_languages() -> None:
    assert set(WORDS[Language.VI]) == set(WORDS[Language.EN])
    assert set(COLUMN_HEADERS[Language.VI]) == set(COLUMN_HEADERS[Language.EN])
    for language in Language:
        assert all(unicodedata.is_normalized("NFC", w) for w in WORDS[language].values())


def test_a_reason_typed_decomposed_prints_composed() -> None:
    """A reason typed as NFD (macOS keyboards send it) prints as NFC, like the names."""
    doc = {
        "hall": {"id": "h1"},
        "body": {"name": "Hội đồng", "members": 2},
        "delegates": [{"id": "a", "name": "Nguyễn Văn An"}, {"id": "b", "name": "Lê Thị Hà"}],
        "seats": [
            {"number": 1, "row": 1, "col": 1, "delegate": "a", "ip": True},
            {"number": 2, "row": 1, "col": 2, "delegate": "b", "ip": True},
        ],
    }
    config = parse_config(doc)
    core = MeetingCore(config.hall)
    core.handle(PresenceChanged(at=0, seat=1, present=True))
    core.handle(OpenSitting(at=1, sitting_id="s1", title="Kỳ họp"))
    reason = unicodedata.normalize("NFD", "Đi công tác ở Điện Biên")
    core.handle(RecordAbsence(at=2, seat=2, excused=True, reason=reason))
    view = JournalView(config, core, "j", 0, "", sittings=[("s1", "Kỳ họp")])
    page = minutes_html(view, Language.VI, "s1")
    assert "Vắng có lý do: Đi công tác ở Điện Biên" in page
    assert unicodedata.is_normalized("NFC", page)
    assert "Có mặt khi khai mạc: 1/2 đại biểu (50,0 %)" in text_of(page)


def test_the_sitting_files_chair_secretary_place_and_english_titles() -> None:
    """A sitting opened with what a prepared sitting file names: its chair and secretary sign,
    its place heads the date line, its English titles are the English minutes'."""
    doc = {
        "hall": {"id": "h1", "place": "Ninh Bình", "timezone": "Asia/Ho_Chi_Minh"},
        "body": {"name": "Hội đồng nhân dân tỉnh", "members": 2},
        "delegates": [
            {"id": "a", "name": "Nguyễn Văn An", "role": "chair"},
            {"id": "b", "name": "Lê Thị Hà"},
        ],
        "seats": [
            {"number": 1, "row": 1, "col": 1, "delegate": "a", "ip": True},
            {"number": 2, "row": 1, "col": 2, "delegate": "b", "ip": True},
        ],
    }
    config = parse_config(doc)
    core = MeetingCore(config.hall)
    core.handle(ClockAnchor(at=0, unix=OPENED.timestamp()))
    item = AgendaItemSpec("1", "Nghị quyết về ngân sách", title_en="Resolution on the budget")
    opening = OpenSitting(
        at=0,
        sitting_id="s1",
        title="Kỳ họp thứ chín",
        agenda=(item,),
        title_en="Ninth sitting",
        place="Hội trường Hội đồng nhân dân tỉnh",
        chair_id="b",
        secretary="Trần Văn Thư",
    )
    core.handle(opening)
    core.handle(CloseSitting(at=3600))
    view = JournalView(config, core, "j", 0, "", sittings=[("s1", "Kỳ họp thứ chín")])
    vi = text_of(minutes_html(view, Language.VI, "s1"))
    assert "Hội trường Hội đồng nhân dân tỉnh, ngày 02 tháng 12 năm 2026" in vi
    assert "Chủ tọa: Lê Thị Hà" in vi
    assert "Thư ký: Trần Văn Thư" in vi
    assert "THƯ KÝ (Ký, ghi rõ họ tên) Trần Văn Thư CHỦ TỌA (Ký, ghi rõ họ tên) Lê Thị Hà" in vi
    assert "Bế mạc: 09 giờ 00, ngày 02 tháng 12 năm 2026" in vi
    en = text_of(minutes_html(view, Language.EN, "s1"))
    assert "MINUTES Ninth sitting I. TIME" in en
    assert "1. Resolution on the budget" in en
    assert "Place: Hội trường Hội đồng nhân dân tỉnh" in en
