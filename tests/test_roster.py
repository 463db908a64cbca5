"""The delegate list from a spreadsheet: CSV and XLSX, every problem at once with its row,
NFC names that round-trip, legacy Vietnamese encodings refused, the diff, the write."""

from __future__ import annotations

import csv
import random
import subprocess
import tomllib
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller.cli import main as chamber
from chamber.controller.config import load_config
from chamber.controller.core.model import Language, Role
from chamber.controller.hallgen import (
    VN_FAMILY,
    VN_GIVEN_F,
    VN_GIVEN_M,
    VN_GROUPS,
    VN_MIDDLE_F,
    VN_MIDDLE_M,
    generate,
    sized,
)
from chamber.controller.legacy_text import LegacyEncoding, decode, legacy_encoding, syllable
from chamber.controller.roster import (
    Column,
    ProblemKind,
    RosterError,
    apply_plan,
    export_rows,
    plan_import,
    read_sheet,
    render_diff,
    write_rows,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vn-council.toml"
HEAD = ["STT", "Họ và tên", "Tổ đại biểu", "Chức vụ", "Ghế", "Thẻ"]


def _csv(
    path: Path, rows: Sequence[Sequence[object]], delimiter: str = ",", bom: bool = False
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def _xlsx(path: Path, rows: Sequence[Sequence[object]], title: str = "Danh sách") -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(list(row))
    book.save(path)
    return path


def _hall(tmp_path: Path, seats: int = 12) -> Path:
    """A small Vietnamese hall with a comment, so that the write can be seen to keep it."""
    path = tmp_path / "hall.toml"
    text = generate(sized(seats, "vi"))
    path.write_text("# Hội trường tầng 2: giữ dòng này\n" + text, encoding="utf-8")
    return path


def _problems(exc: pytest.ExceptionInfo[RosterError]) -> set[tuple[ProblemKind, int | None]]:
    return {(p.kind, p.row) for p in exc.value.problems}


# --- reading ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "bom"), [(",", True), (",", False), (";", False), ("\t", True)]
)
def test_csv_in_any_excel_flavour(tmp_path: Path, delimiter: str, bom: bool) -> None:
    rows: list[Sequence[object]] = [
        ["DANH SÁCH ĐẠI BIỂU HĐND TỈNH"],  # a title row above the header
        HEAD,
        [1, "Nguyễn Văn An", "Tổ đại biểu huyện Gia Viễn", "Chủ tịch", 1, "04A1B2C3"],
        [2, "Trần Thị Bích", "Tổ đại biểu huyện Kim Sơn", "", 2, ""],
        [3, "", "", "", "", ""],  # a numbered empty row of a template
    ]
    sheet = read_sheet(_csv(tmp_path / "ds.csv", rows, delimiter, bom))
    assert sheet.header_row == 2
    assert sheet.ignored == ("STT",)
    assert set(sheet.columns) == {Column.NAME, Column.GROUP, Column.ROLE, Column.SEAT, Column.CARDS}
    assert [r.number for r in sheet.rows] == [3, 4]
    plan = plan_import(_hall(tmp_path).read_text(encoding="utf-8"), sheet)
    first, second = plan.delegates[:2]
    assert first["name"] == "Nguyễn Văn An"
    assert first["role"] == "chair"
    assert first["cards"] == ["04A1B2C3"]
    assert second["name"] == "Trần Thị Bích"
    assert "role" not in second or second["role"] == "delegate"


def test_headers_match_without_case_or_diacritics_in_both_languages(tmp_path: Path) -> None:
    rows = [
        ["HO VA TEN", "don vi", "CHỨC VỤ", "so ghe", "Mã thẻ", "bieu quyet"],
        ["Lê Đức Tuấn", "Tổ đại biểu huyện Kim Sơn", "thư ký", "3", "", "không"],
    ]
    sheet = read_sheet(_csv(tmp_path / "a.csv", rows))
    assert set(sheet.columns) == {
        Column.NAME,
        Column.GROUP,
        Column.ROLE,
        Column.SEAT,
        Column.CARDS,
        Column.VOTING,
    }
    english = [["Name", "DELEGATION", "role", "Seat", "Cards", "Voting", "Title", "id"]]
    english.append(["Ada Brown", "Green Union", "Vice-chair", "4", "", "yes", "", "a1"])
    sheet = read_sheet(_csv(tmp_path / "b.csv", english))
    assert len(sheet.columns) == 8
    plan = plan_import(_hall(tmp_path).read_text(encoding="utf-8"), sheet)
    assert plan.delegates[0]["role"] == Role.VICE_CHAIR.value
    assert plan.delegates[0]["id"] == "a1"


def test_xlsx_with_numbers_in_cells_and_a_chosen_sheet(tmp_path: Path) -> None:
    path = tmp_path / "ds.xlsx"
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Ghi chú"
    first.append(["Bảng này không phải danh sách"])
    ws = book.create_sheet("Đại biểu")
    ws.append(["Danh sách đại biểu kỳ họp thứ 12"])
    ws.append([])
    ws.append(HEAD)
    ws.append([1, "Phạm Mạnh Dũng", "Tổ đại biểu thành phố Hoa Lư", "Chủ tọa", 1, "04A1B2C3"])
    ws.append([2, "Vũ Diệu Trang", "Tổ đại biểu huyện Gia Viễn", "Phó chủ tịch", 2.0, None])
    book.save(path)
    with pytest.raises(RosterError) as exc:
        read_sheet(path)  # the first sheet has no header row
    assert _problems(exc) == {(ProblemKind.NO_HEADER, None)}
    with pytest.raises(RosterError, match=r"no sheet named 'Sheet9'.*Ghi chú, Đại biểu"):
        read_sheet(path, "Sheet9")
    sheet = read_sheet(path, "Đại biểu")
    assert sheet.header_row == 3
    assert [r.number for r in sheet.rows] == [4, 5]
    plan = plan_import(_hall(tmp_path).read_text(encoding="utf-8"), sheet)
    assert plan.seating[1] == plan.delegates[0]["id"]
    assert plan.seating[2] == plan.delegates[1]["id"]
    assert plan.delegates[1]["role"] == "vice-chair"


def test_a_card_stored_as_a_number_and_garbage_files_are_refused(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "c.xlsx", [HEAD, [1, "Ngô Mỹ Quyên", "", "", 3, 4123456]])
    hall = _hall(tmp_path).read_text(encoding="utf-8")
    with pytest.raises(RosterError, match="stored as a number") as exc:
        plan_import(hall, read_sheet(path))
    assert _problems(exc) == {(ProblemKind.BAD_CARD, 2)}
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(RosterError) as exc:
        read_sheet(junk)
    assert _problems(exc) == {(ProblemKind.UNREADABLE, None)}
    with pytest.raises(RosterError, match="cannot be read"):
        read_sheet(tmp_path / "absent.csv")


# --- every problem at once ---------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_row_and_column(tmp_path: Path) -> None:
    rows: list[Sequence[object]] = [
        HEAD,
        [1, "Nguyễn Văn An", "Tổ đại biểu huyện Gia Viễn", "", 1, "04A1B2C3"],  # row 2
        [2, "", "Tổ đại biểu huyện Kim Sơn", "", 2, ""],  # empty name
        [3, "Nguyễn Văn An", "Tổ đại biểu huyện Gia Viễn", "", 3, ""],  # duplicate of row 2
        [4, "Lê Thị Hà", "", "", 1, ""],  # seat 1 is row 2's
        [5, "Hồ Văn Long", "", "", 99, ""],  # no seat 99 in a 12-seat hall
        [6, "Đinh Thị Lan", "", "", 6, "04a1b2c3"],  # row 2's card (case does not matter)
        [7, "Bùi Minh Huy", "", "", 7, "12345"],  # not a card UID
        [8, "Lý Thu Giang", "", "Chủ nhiệm", 8, ""],  # not a role
        [9, "Dương Thanh Sơn", "", "", "bảy", ""],  # not a seat number
        [10, "Đỗ Ngọc Yến", "", "", 10, "04A1B2C3D4E5F6 00000000"],  # a zero UID
    ]
    hall = _hall(tmp_path).read_text(encoding="utf-8")
    with pytest.raises(RosterError) as exc:
        plan_import(hall, read_sheet(_csv(tmp_path / "bad.csv", rows)))
    assert [(p.kind, p.row, p.column) for p in exc.value.problems] == [
        (ProblemKind.EMPTY_NAME, 3, "Họ và tên"),
        (ProblemKind.DUPLICATE_DELEGATE, 4, "Họ và tên"),
        (ProblemKind.DUPLICATE_SEAT, 5, "Ghế"),
        (ProblemKind.UNKNOWN_SEAT, 6, "Ghế"),
        (ProblemKind.DUPLICATE_CARD, 7, "Thẻ"),
        (ProblemKind.BAD_CARD, 8, "Thẻ"),
        (ProblemKind.BAD_VALUE, 9, "Chức vụ"),
        (ProblemKind.BAD_VALUE, 10, "Ghế"),
        (ProblemKind.BAD_CARD, 11, "Thẻ"),
    ]
    english = exc.value.text(Language.EN).splitlines()
    assert english[0] == "bad.csv: 9 problems"
    assert "  row 5, column 'Ghế': seat 1 is already row 2's" in english
    assert "  row 6, column 'Ghế': no seat 99 in the hall's seating (seats 1-12)" in english
    assert "  row 7, column 'Thẻ': card 04A1B2C3 is already row 2's" in english
    vietnamese = exc.value.text(Language.VI).splitlines()
    assert vietnamese[0] == "bad.csv: 9 vấn đề"
    assert "  dòng 3, cột “Họ và tên”: thiếu họ và tên" in vietnamese


def test_duplicate_ids_and_namesakes(tmp_path: Path) -> None:
    hall = _hall(tmp_path).read_text(encoding="utf-8")
    rows = [
        ["Mã", "Họ và tên", "Đơn vị"],
        ["x1", "Nguyễn Văn An", "Tổ 1"],
        ["x1", "Trần Văn Bình", "Tổ 2"],
        ["x2", "Nguyễn Văn An", "Tổ 1"],  # a namesake with an id of their own: allowed
    ]
    with pytest.raises(RosterError) as exc:
        plan_import(hall, read_sheet(_csv(tmp_path / "ids.csv", rows)))
    assert _problems(exc) == {(ProblemKind.DUPLICATE_DELEGATE, 3)}
    # Two namesakes of two delegations without ids: two people.
    rows = [["Họ và tên", "Đơn vị"], ["Nguyễn Văn An", "Tổ 1"], ["Nguyễn Văn An", "Tổ 2"]]
    plan = plan_import(hall, read_sheet(_csv(tmp_path / "n.csv", rows)))
    assert [d["group"] for d in plan.delegates] == ["Tổ 1", "Tổ 2"]


def test_a_hall_with_two_delegates_of_one_name_needs_ids(tmp_path: Path) -> None:
    path = _hall(tmp_path)
    text = path.read_text(encoding="utf-8")
    names = [d["name"] for d in tomllib.loads(text)["delegates"]]
    text = text.replace(f'name = "{names[1]}"', f'name = "{names[0]}"')
    rows = [["Họ và tên"], [names[0]]]
    with pytest.raises(RosterError, match="has 2 delegates named") as exc:
        plan_import(text, read_sheet(_csv(tmp_path / "a.csv", rows)))
    assert _problems(exc) == {(ProblemKind.AMBIGUOUS_NAME, 2)}


def test_a_list_the_hall_cannot_hold_is_refused(tmp_path: Path) -> None:
    hall = _hall(tmp_path, seats=3).read_text(encoding="utf-8")  # 3 members
    rows = [["Họ và tên"], *([f"Đại biểu số {i}"] for i in range(1, 5))]
    with pytest.raises(RosterError, match=r"body\.members: 3 members, but 4") as exc:
        plan_import(hall, read_sheet(_csv(tmp_path / "four.csv", rows)))
    assert _problems(exc) == {(ProblemKind.HALL, None)}


# --- names: NFC, exactly -------------------------------------------------------------------

_VN_LETTERS = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
_word = st.text(alphabet=_VN_LETTERS, min_size=1, max_size=7).map(str.capitalize)
_vn_name = st.lists(_word, min_size=2, max_size=4).map(" ".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(_vn_name, min_size=1, max_size=8, unique=True), xlsx=st.booleans())
def test_nfd_names_come_back_nfc_byte_for_byte(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], xlsx: bool
) -> None:
    """import (NFD cells, stray spaces) -> hall file -> load -> export -> import: the same
    NFC strings throughout, and the second import changes nothing."""
    tmp = tmp_path_factory.mktemp("nfc")
    hall_path = _hall(tmp)
    group = unicodedata.normalize("NFD", "Tổ đại biểu huyện Yên Khánh")
    rows: list[list[object]] = [["Họ và tên", "Tổ đại biểu"]]
    rows += [[f"  {unicodedata.normalize('NFD', n)}\u00a0", group] for n in names]
    sheet_path = _xlsx(tmp / "ds.xlsx", rows) if xlsx else _csv(tmp / "ds.csv", rows)
    hall = hall_path.read_text(encoding="utf-8")
    plan = plan_import(hall, read_sheet(sheet_path))
    hall_path.write_text(apply_plan(hall, plan), encoding="utf-8")
    cfg = load_config(hall_path)
    expected = [unicodedata.normalize("NFC", n) for n in names]
    assert [d.name for d in cfg.hall.delegates] == expected
    assert {d.group for d in cfg.hall.delegates} == {"Tổ đại biểu huyện Yên Khánh"}
    out = tmp / ("out.xlsx" if xlsx else "out.csv")
    write_rows(export_rows(cfg.hall), out)
    again = read_sheet(out)
    assert [r.cells[Column.NAME] for r in again.rows] == expected
    second = plan_import(hall_path.read_text(encoding="utf-8"), again)
    assert second.diff.empty, render_diff(second.diff)


def test_export_then_import_of_the_example_changes_nothing(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    for name, language in (("ds.csv", Language.VI), ("ds.xlsx", Language.EN)):
        write_rows(export_rows(cfg.hall, language), tmp_path / name)
        plan = plan_import(EXAMPLE.read_text(encoding="utf-8"), read_sheet(tmp_path / name))
        assert plan.diff.empty
        assert apply_plan(EXAMPLE.read_text(encoding="utf-8"), plan) == EXAMPLE.read_text(
            encoding="utf-8"
        )


# --- legacy encodings ----------------------------------------------------------------------

# The VNI Windows code of each letter, from a published table other than the one the module
# composes (github.com/duydev/vietnamese-conversion, src/charsets.ts: its UNICODE and VNI lists,
# lower case), to make the test data independently of the code under test.
_VNI_PUBLISHED = dict(
    zip(
        "àáâãèéêìíòóôõùúýăđĩũơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",
        [
            "aø",
            "aù",
            "aâ",
            "aõ",
            "eø",
            "eù",
            "eâ",
            "ì",
            "í",
            "oø",
            "où",
            "oâ",
            "oõ",
            "uø",
            "uù",
            "yù",
            "aê",
            "ñ",
            "ó",
            "uõ",
            "ô",
            "ö",
            "aï",
            "aû",
            "aá",
            "aà",
            "aå",
            "aã",
            "aä",
            "aé",
            "aè",
            "aú",
            "aü",
            "aë",
            "eï",
            "eû",
            "eõ",
            "eá",
            "eà",
            "eå",
            "eã",
            "eä",
            "æ",
            "ò",
            "oï",
            "oû",
            "oá",
            "oà",
            "oå",
            "oã",
            "oä",
            "ôù",
            "ôø",
            "ôû",
            "ôõ",
            "ôï",
            "uï",
            "uû",
            "öù",
            "öø",
            "öû",
            "öõ",
            "öï",
            "yø",
            "î",
            "yû",
            "yõ",
        ],
        strict=True,
    )
)


def vni(text: str) -> str:
    return "".join(
        _VNI_PUBLISHED[c.lower()].upper() if c.isupper() and c.lower() in _VNI_PUBLISHED
        else _VNI_PUBLISHED.get(c, c)
        for c in text
    )  # fmt: skip


def tcvn3(text: str) -> str:
    """`text` in TCVN3 by GNU libc's iconv (TCVN 5712:1993), read as Latin-1 as a program
    that does not know the ABC fonts shows it."""
    raw = subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", "TCVN5712-1"],
        input=text.encode(),
        capture_output=True,
        check=True,
    ).stdout
    # A capital with a tone is outside VN3 (the ABC capital fonts draw it from a small
    # letter's code); the test's names have none.
    assert all(b >= 0xA0 or b < 0x80 for b in raw), text
    return raw.decode("latin-1")


def _example_texts() -> list[str]:
    cfg = load_config(EXAMPLE)
    return sorted({d.name for d in cfg.hall.delegates} | {d.group for d in cfg.hall.delegates})


def test_the_brief_s_examples() -> None:
    assert legacy_encoding("NguyÔn V¨n A") is LegacyEncoding.TCVN3
    assert legacy_encoding("Nguyeãn Vaên A") is LegacyEncoding.VNI
    assert tcvn3("Nguyễn Văn A") == "NguyÔn V¨n A"
    assert vni("Nguyễn Văn A") == "Nguyeãn Vaên A"
    assert vni("Xin chào các bạn") == "Xin chaøo caùc baïn"  # the converter's README
    # Capitals: the ABC capital fonts draw small letters' codes as capitals; VNI has its own.
    assert legacy_encoding("NGUYÔN V¡N A") is LegacyEncoding.TCVN3
    assert legacy_encoding(vni("NGUYỄN VĂN ĐỨC")) is LegacyEncoding.VNI


@pytest.mark.parametrize(
    "name",
    [
        "H'Hen Niê",
        "Y Moan Ênuôl",
        "Ksor H'Bơ Khăp",
        "Điểu K'ré",
        "Y Thanh Hà Niê Kđăm",
        "Chamaléa Thị Thủy",
        "Giàng A Chu",
        "Thào Xuân Sùng",
        "Zoë O'Brien",
    ],
)
def test_names_that_are_not_all_vietnamese_syllables_are_taken(name: str) -> None:
    """Names of the Ê Đê, Gia Rai, Raglai ... peoples, and foreign ones: not legacy text."""
    assert legacy_encoding(name) is None


@pytest.mark.parametrize("text", _example_texts())
def test_every_name_and_delegation_of_the_example_in_tcvn3_and_vni_is_recognised(
    text: str,
) -> None:
    assert legacy_encoding(text) is None
    for encode, encoding in ((tcvn3, LegacyEncoding.TCVN3), (vni, LegacyEncoding.VNI)):
        legacy = encode(text)
        if legacy == text:  # no letter with a diacritic
            continue
        if all(syllable(w) for w in legacy.split()):
            # VNI's "Hồ" is "Hoà", itself a Vietnamese word (an older tone placement of
            # "Hòa"): a text that is correct Vietnamese either way is never refused.
            assert legacy_encoding(legacy) is None
            continue
        assert legacy_encoding(legacy) is encoding, legacy
        assert decode(legacy, encoding) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32))
def test_correct_vietnamese_names_are_never_taken_for_legacy_text(seed: int) -> None:
    rng = random.Random(seed)
    family, middle, given_ = (
        (VN_FAMILY, VN_MIDDLE_M, VN_GIVEN_M) if rng.random() < 0.5
        else (VN_FAMILY, VN_MIDDLE_F, VN_GIVEN_F)
    )  # fmt: skip
    name = f"{rng.choice(family)} {rng.choice(middle)} {rng.choice(given_)}"
    assert legacy_encoding(name) is None
    assert legacy_encoding(rng.choice(VN_GROUPS)) is None
    for foreign in ("José García", "Müller", "Zoë O'Brien", "Łukasz Nowak", "HĐND tỉnh"):
        assert legacy_encoding(foreign) is None


def test_legacy_rows_are_refused_in_utf8_csv_and_in_an_8bit_csv(tmp_path: Path) -> None:
    rows = [
        ["Họ và tên", "Tổ đại biểu", "Ghế"],
        ["Trịnh Quang Hùng", "Tổ đại biểu huyện Gia Viễn", "1"],
        [tcvn3("Đặng Thị Phượng"), "Tổ đại biểu huyện Gia Viễn", "2"],
        ["Hoàng Văn Thắng", vni("Tổ đại biểu huyện Kim Sơn"), "3"],
    ]
    hall = _hall(tmp_path).read_text(encoding="utf-8")
    with pytest.raises(RosterError) as exc:
        plan_import(hall, read_sheet(_csv(tmp_path / "u.csv", rows)))
    assert [(p.kind, p.row, p.column) for p in exc.value.problems] == [
        (ProblemKind.LEGACY_ENCODING, 3, "Họ và tên"),
        (ProblemKind.LEGACY_ENCODING, 4, "Tổ đại biểu"),
    ]
    text = str(exc.value)
    assert "looks typed in TCVN3 (ABC) (it reads 'Đặng Thị Phượng')" in text
    assert "looks typed in VNI (it reads 'Tổ đại biểu huyện Kim Sơn')" in text
    assert "Unikey's converter" in text
    # A workbook typed with the fonts holds the same characters in its cells.
    with pytest.raises(RosterError) as exc:
        plan_import(hall, read_sheet(_xlsx(tmp_path / "u.xlsx", rows)))
    assert _problems(exc) == {
        (ProblemKind.LEGACY_ENCODING, 3),
        (ProblemKind.LEGACY_ENCODING, 4),
    }
    # The same rows saved as "CSV" by an ABC/VNI machine: the bytes of the fonts, not UTF-8.
    legacy_rows = [["Ho va ten", "Ghe"], [tcvn3("Đặng Thị Phượng"), "2"], [vni("Bùi Văn Đức"), "3"]]
    raw = "\r\n".join(",".join(r) for r in legacy_rows).encode("latin-1")
    path = tmp_path / "ansi.csv"
    path.write_bytes(raw)
    with pytest.raises(RosterError) as exc:
        read_sheet(path)
    assert _problems(exc) == {
        (ProblemKind.NOT_UTF8, 2),
        (ProblemKind.LEGACY_ENCODING, 2),
        (ProblemKind.LEGACY_ENCODING, 3),
    }
    assert "CSV UTF-8" in str(exc.value)


def test_windows_1258_csv_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cp.csv"
    text = "Họ và tên\r\nNguyễn Văn Đức\r\n"  # as Excel saves "CSV" on a Vietnamese Windows
    raw = subprocess.run(
        ["iconv", "-f", "UTF-8", "-t", "CP1258"],
        input=text.encode(),
        capture_output=True,
        check=True,
    ).stdout
    path.write_bytes(raw)
    with pytest.raises(RosterError, match="looks like Windows-1258") as exc:
        read_sheet(path)
    assert _problems(exc) == {(ProblemKind.NOT_UTF8, 1)}


# --- the diff and the write ----------------------------------------------------------------


def test_the_diff_names_added_removed_changed_and_seats(tmp_path: Path) -> None:
    path = _hall(tmp_path, seats=4)
    hall = path.read_text(encoding="utf-8")
    cfg = load_config(path)
    d = cfg.hall.delegates
    rows: list[Sequence[object]] = [
        ["Mã", "Họ và tên", "Tổ đại biểu", "Ghế", "Thẻ"],
        [d[0].id, d[0].name, d[0].group, 1, ""],
        [d[1].id, d[1].name + " Anh", d[1].group, 3, "04A1B2C3"],  # renamed, moved, a card
        [d[2].id, d[2].name, d[2].group, "", ""],  # unseated
        ["", "Nguyễn Thị Mới", "Tổ đại biểu huyện Kim Sơn", 2, ""],  # new, at seat 2
    ]  # d[3] is not in the list: removed
    plan = plan_import(hall, read_sheet(_csv(tmp_path / "ds.csv", rows)))
    new_id = next(x["id"] for x in plan.delegates if x["name"] == "Nguyễn Thị Mới")
    assert new_id not in {x.id for x in d}
    assert [x.id for x in plan.diff.added] == [new_id]
    assert [x.id for x in plan.diff.removed] == [d[3].id]
    assert [(c.delegate.id, [f.key for f in c.changes]) for c in plan.diff.changed] == [
        (d[1].id, ["name", "cards"])
    ]
    assert [(s.seat, s.old and s.old.id, s.new and s.new.id) for s in plan.diff.seats] == [
        (2, d[1].id, new_id),
        (3, d[2].id, d[1].id),
        (4, d[3].id, None),
    ]
    english = render_diff(plan.diff, Language.EN).splitlines()
    assert english[0] == f"+ {new_id} Nguyễn Thị Mới (Tổ đại biểu huyện Kim Sơn), seat 2"
    assert english[1] == f"- {d[3].id} {d[3].name} ({d[3].group})"
    assert english[2] == (
        f"~ {d[1].id} {d[1].name} Anh: name '{d[1].name}' -> '{d[1].name} Anh'; "
        "cards (none) -> 04A1B2C3"
    )
    assert english[-1] == "1 added, 1 removed, 1 changed, 3 seats reassigned"
    vietnamese = render_diff(plan.diff, Language.VI).splitlines()
    assert vietnamese[-1] == "1 thêm, 1 bỏ, 1 sửa, 3 ghế đổi người"
    assert f"  ghế 4: {d[3].id} {d[3].name} ({d[3].group}) -> trống" in vietnamese


def test_without_a_seat_column_the_seating_stays(tmp_path: Path) -> None:
    path = _hall(tmp_path, seats=4)
    cfg = load_config(path)
    names = [d.name for d in cfg.hall.delegates]
    rows = [["Họ và tên", "Chức danh"], *([n, "Đại biểu"] for n in names[:3])]
    plan = plan_import(path.read_text(encoding="utf-8"), read_sheet(_csv(tmp_path / "t.csv", rows)))
    assert [(s.seat, s.new) for s in plan.diff.seats] == [(4, None)]  # the removed one's seat
    assert {c.changes[0].key for c in plan.diff.changed} <= {"title"}


def test_cli_shows_the_diff_then_writes_a_file_that_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _hall(tmp_path)
    before = path.read_text(encoding="utf-8")
    cfg = load_config(path)
    rows = [["Mã đại biểu", "Họ và tên", "Ghế"]]
    rows += [[d.id, d.name, str(i + 1)] for i, d in enumerate(cfg.hall.delegates)]
    rows[1][1] = unicodedata.normalize("NFD", "Phạm Thị Thu Hương")
    sheet = _csv(tmp_path / "ds.csv", rows, delimiter=";", bom=True)
    args = ["config", "import-delegates", str(sheet), "--hall", str(path)]
    assert chamber([*args, "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert f"ds.csv: {len(cfg.hall.delegates)} delegates (header row 1;" in out
    assert "-> 'Phạm Thị Thu Hương'" in out
    assert "not written: run again with --write" in out
    assert path.read_text(encoding="utf-8") == before
    assert chamber([*args, "--write"]) == 0  # the hall's language: Vietnamese
    assert f"đã ghi {path}" in capsys.readouterr().out
    after = path.read_text(encoding="utf-8")
    assert after.startswith("# Hội trường tầng 2: giữ dòng này\n")
    assert chamber(["config", "check", str(path)]) == 0
    assert load_config(path).hall.delegates[0].name == "Phạm Thị Thu Hương"
    old, new = tomllib.loads(before), tomllib.loads(after)
    assert {k: v for k, v in old.items() if k != "delegates"} == {
        k: v for k, v in new.items() if k != "delegates"
    }
    # One line changed: the name.
    changed = [a for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1
    # Problems: exit 2, every row named, nothing written.
    rows[2][1] = ""
    rows[3][2] = "77"
    _csv(sheet, rows)
    assert chamber([*args, "--write", "--language", "en"]) == 2
    err = capsys.readouterr().err
    assert "row 3, column 'Họ và tên': the name is empty" in err
    assert "row 4, column 'Ghế': no seat 77" in err
    assert path.read_text(encoding="utf-8") == after


def test_cli_export_delegates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds.xlsx"
    assert chamber(["config", "export-delegates", str(EXAMPLE), "--out", str(out)]) == 0
    assert "50 delegates" in capsys.readouterr().out
    ws = openpyxl.load_workbook(out).worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["Mã đại biểu", "Họ và tên", "Tổ đại biểu", "Chức vụ"]
    assert ws["B2"].value == "Phạm Mạnh Dũng"


def test_bad_cells_of_every_other_kind(tmp_path: Path) -> None:
    hall = _hall(tmp_path).read_text(encoding="utf-8")
    cards = " ".join(f"04A1B2C{i}" for i in range(9))
    rows: list[Sequence[object]] = [
        ["Họ và tên", "Thẻ", "Biểu quyết", "Chức danh"],
        ["Nguyễn\u200bVăn An", "", "", ""],  # a zero-width space
        ["Trần Văn Bình", cards, "", ""],  # nine cards
        ["Lê Văn Cường", "", "có lẽ", ""],  # neither yes nor no
        ["Phạm Văn Dũng", "", "", "x" * 201],  # too long
        ["Hồ Thị Hà", "", "Không", ""],
    ]
    with pytest.raises(RosterError) as exc:
        plan_import(hall, read_sheet(_csv(tmp_path / "odd.csv", rows)))
    assert [(p.kind, p.row, p.column) for p in exc.value.problems] == [
        (ProblemKind.BAD_VALUE, 2, "Họ và tên"),
        (ProblemKind.BAD_VALUE, 3, "Thẻ"),
        (ProblemKind.BAD_VALUE, 4, "Biểu quyết"),
        (ProblemKind.BAD_VALUE, 5, "Chức danh"),
    ]
    assert "U+200B" in str(exc.value)
    # A column given twice ("Họ tên" is the name too).
    with pytest.raises(RosterError) as exc:
        read_sheet(_csv(tmp_path / "twice.csv", [["Họ và tên", "Họ tên"], ["A", "B"]]))
    assert [(p.kind, p.row, p.column) for p in exc.value.problems] == [
        (ProblemKind.DUPLICATE_COLUMN, 1, "Họ tên")
    ]


def test_quotes_and_backslashes_are_written_as_toml_strings(tmp_path: Path) -> None:
    path = _hall(tmp_path, seats=4)
    title = 'Ủy viên "chuyên trách" \\ Ban Pháp chế'
    rows = [["Họ và tên", "Chức danh", "Ghế"], ["Nguyễn Văn O'Neil", title, "1"]]
    hall = path.read_text(encoding="utf-8")
    plan = plan_import(hall, read_sheet(_csv(tmp_path / "q.csv", rows)))
    path.write_text(apply_plan(hall, plan), encoding="utf-8")
    (delegate,) = load_config(path).hall.delegates  # the list's one delegate, at seat 1
    assert (delegate.name, delegate.title) == ("Nguyễn Văn O'Neil", title)
