"""The delegate list from a spreadsheet: `chamber config import-delegates` and `export-delegates`.

A council's secretariat keeps its delegates in a spreadsheet. `read_sheet` reads one (CSV in
UTF-8, with or without a byte order mark, separated by ',' or by the ';' that Excel writes in
Vietnamese locales, or tabs; or an XLSX workbook through openpyxl), finds the header row by its
column names (Vietnamese or English, matched without case or diacritics) and keeps the cells.
`plan_import` checks every row against the hall file, collects every problem at once (each
names its row and column), and builds the hall's new delegates and seating with a diff against
the current file; `apply_plan` writes them into the hall file's text with tomlkit, which keeps
the file's comments, order and everything else as it was.

Names are normalised to Unicode NFC with their whitespace collapsed, so that what the hall
file, the wall, the minutes and the exports print is the same string, byte for byte. Text
typed in a legacy Vietnamese encoding (TCVN3, VNI) is refused: see `legacy_text`.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.items

from chamber.controller.config import (
    MAX_FILE_BYTES,
    MAX_MEMBERS,
    ConfigError,
    parse_config,
)
from chamber.controller.core.model import Hall, Language, Role
from chamber.controller.legacy_text import decode, legacy_encoding, syllable

VI, EN = Language.VI, Language.EN

# A title row or two ("DANH SÁCH ĐẠI BIỂU ...") may stand above the header.
HEADER_SEARCH_ROWS = 20
MAX_COLUMNS = 64
MAX_TEXT = 200  # the hall file's limit for a name, a delegation and a title
MAX_CARDS = 8


class Column(StrEnum):
    """What a column of the sheet holds: a key of a `[[delegates]]` table, or the seat."""

    ID = "id"
    NAME = "name"
    GROUP = "group"
    ROLE = "role"
    TITLE = "title"
    SEAT = "seat"
    CARDS = "cards"
    VOTING = "voting"


def fold(text: str) -> str:
    """`text` without case, diacritics or punctuation: "Họ và tên" and "HO VA TEN" fold alike."""
    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


# Each column's header, in both languages: the first of each language is what the export writes.
HEADERS: dict[Column, dict[Language, tuple[str, ...]]] = {
    Column.ID: {VI: ("Mã đại biểu", "Mã", "Mã số"), EN: ("ID", "Delegate ID")},
    Column.NAME: {
        VI: ("Họ và tên", "Họ tên", "Tên đại biểu", "Tên"),
        EN: ("Name", "Full name"),
    },
    Column.GROUP: {
        VI: ("Tổ đại biểu", "Đơn vị", "Đoàn đại biểu", "Đoàn", "Tổ"),
        EN: ("Delegation", "Group"),
    },
    Column.ROLE: {VI: ("Chức vụ", "Vai trò"), EN: ("Role",)},
    Column.TITLE: {VI: ("Chức danh",), EN: ("Title",)},
    Column.SEAT: {VI: ("Ghế", "Số ghế", "Chỗ ngồi"), EN: ("Seat", "Seat number")},
    Column.CARDS: {VI: ("Thẻ", "Mã thẻ", "Số thẻ"), EN: ("Card", "Cards", "Card UID")},
    Column.VOTING: {VI: ("Biểu quyết", "Quyền biểu quyết"), EN: ("Voting",)},
}
_HEADER_OF: dict[str, Column] = {
    fold(alias): column
    for column, names in HEADERS.items()
    for aliases in names.values()
    for alias in aliases
}

ROLE_WORDS: dict[Role, dict[Language, tuple[str, ...]]] = {
    Role.CHAIR: {
        VI: ("Chủ tọa", "Chủ tịch", "Chủ toạ"),
        EN: ("chair", "chairman", "chairwoman", "chairperson"),
    },
    Role.VICE_CHAIR: {
        VI: ("Phó chủ tọa", "Phó chủ tịch", "Phó chủ toạ"),
        EN: ("vice-chair", "vice chairman", "vice chairwoman", "vice chairperson"),
    },
    Role.DELEGATE: {VI: ("Đại biểu", "Thành viên"), EN: ("delegate", "member")},
    Role.SECRETARY: {VI: ("Thư ký",), EN: ("secretary",)},
}
_ROLE_OF: dict[str, Role] = {
    fold(word): role
    for role, words in ROLE_WORDS.items()
    for some in words.values()
    for word in some
}
_YES = {fold(w) for w in ("Có", "x", "yes", "y", "1", "true", "đúng")}
_NO = {fold(w) for w in ("Không", "no", "n", "0", "false", "sai")}
_CARD_UID = re.compile(r"[0-9A-F]{8}|[0-9A-F]{14}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


# --- problems ----------------------------------------------------------------------------


class ProblemKind(StrEnum):
    UNREADABLE = "unreadable"
    NOT_UTF8 = "not-utf8"
    NO_HEADER = "no-header"
    DUPLICATE_COLUMN = "duplicate-column"
    EMPTY_NAME = "empty-name"
    DUPLICATE_DELEGATE = "duplicate-delegate"
    DUPLICATE_SEAT = "duplicate-seat"
    DUPLICATE_CARD = "duplicate-card"
    UNKNOWN_SEAT = "unknown-seat"
    BAD_CARD = "bad-card"
    BAD_VALUE = "bad-value"
    LEGACY_ENCODING = "legacy-encoding"
    AMBIGUOUS_NAME = "ambiguous-name"
    HALL = "hall"


_UNIKEY = {
    VI: "chuyển bảng tính sang Unicode bằng công cụ chuyển mã của Unikey (Unikey Toolkit: "
    "nguồn {encoding}, đích Unicode) rồi nhập lại",
    EN: "convert the sheet to Unicode with Unikey's converter (Unikey Toolkit: source "
    "{encoding}, destination Unicode) and import it again",
}
_SAVE_UTF8 = {
    VI: "lưu lại bằng Excel với kiểu “CSV UTF-8 (Comma delimited)”",
    EN: "save it from Excel as 'CSV UTF-8 (Comma delimited)'",
}

# Every reason, in both languages: {placeholders} are filled by `_problem`.
_REASONS: dict[str, dict[Language, str]] = {
    "unreadable": {VI: "không đọc được tệp: {detail}", EN: "cannot be read: {detail}"},
    "too-large": {
        VI: "tệp lớn hơn {mib} MiB",
        EN: "larger than {mib} MiB",
    },
    "too-many-rows": {
        VI: "nhiều hơn {limit} dòng đại biểu",
        EN: "more than {limit} delegate rows",
    },
    "no-sheet": {
        VI: "không có trang tính “{sheet}” (các trang: {sheets})",
        EN: "no sheet named '{sheet}' (sheets: {sheets})",
    },
    "not-utf8": {
        VI: "không phải văn bản UTF-8{hint}: " + _SAVE_UTF8[VI],
        EN: "not UTF-8 text{hint}: " + _SAVE_UTF8[EN],
    },
    "cp1258": {VI: " (có vẻ là bảng mã Windows-1258)", EN: " (it looks like Windows-1258)"},
    "no-header": {
        VI: "không thấy dòng tiêu đề có cột họ và tên (ví dụ “{example}”) trong {rows} dòng đầu",
        EN: "no header row with a name column (e.g. '{example}') in the first {rows} rows",
    },
    "duplicate-column": {
        VI: "cột này cũng là {what} như cột “{other}”",
        EN: "this column is the {what} too, as column '{other}' is",
    },
    "empty-name": {VI: "thiếu họ và tên", EN: "the name is empty"},
    "too-long": {
        VI: "dài hơn {limit} ký tự",
        EN: "longer than {limit} characters",
    },
    "control": {
        VI: "có ký tự điều khiển hoặc ký tự ẩn (U+{code:04X})",
        EN: "holds a control or invisible character (U+{code:04X})",
    },
    "legacy": {
        VI: "“{text}” có vẻ được gõ bằng bảng mã {encoding} (đọc là “{reads}”): " + _UNIKEY[VI],
        EN: "'{text}' looks typed in {encoding} (it reads '{reads}'): " + _UNIKEY[EN],
    },
    "bad-id": {
        VI: "mã “{value}” không hợp lệ: 1-64 ký tự A-Z a-z 0-9 _ . -, bắt đầu bằng chữ hoặc số",
        EN: "id '{value}' is not allowed: 1-64 characters A-Z a-z 0-9 _ . -, "
        "starting with a letter or digit",
    },
    "duplicate-id": {
        VI: "mã “{value}” trùng với dòng {other}",
        EN: "id '{value}' repeats row {other}",
    },
    "duplicate-delegate": {
        VI: "“{value}” trùng với dòng {other} (cùng họ tên và đơn vị); nếu là hai người "
        "khác nhau, thêm cột “Mã đại biểu”",
        EN: "'{value}' repeats row {other} (same name and delegation); if they are two "
        "people, add an 'ID' column",
    },
    "ambiguous-name": {
        VI: "tệp hội trường có {count} đại biểu tên “{value}” ({ids}): thêm cột “Mã đại biểu”",
        EN: "the hall file has {count} delegates named '{value}' ({ids}): add an 'ID' column",
    },
    "bad-role": {
        VI: "“{value}” không phải là chức vụ; viết một trong: {known}",
        EN: "'{value}' is not a role; write one of: {known}",
    },
    "bad-voting": {
        VI: "“{value}” không phải Có hoặc Không",
        EN: "'{value}' is neither yes nor no",
    },
    "bad-seat": {
        VI: "“{value}” không phải số ghế",
        EN: "'{value}' is not a seat number",
    },
    "unknown-seat": {
        VI: "không có ghế {value} trong sơ đồ chỗ ngồi của hội trường (ghế {seats})",
        EN: "no seat {value} in the hall's seating (seats {seats})",
    },
    "duplicate-seat": {
        VI: "ghế {value} đã dành cho dòng {other}",
        EN: "seat {value} is already row {other}'s",
    },
    "bad-card": {
        VI: "“{value}” không phải mã thẻ: viết 8 hoặc 14 chữ số hex (UID 4 hoặc 7 byte, như "
        "đầu đọc trả về), ví dụ “04A1B2C3D4E5F6”",
        EN: "'{value}' is not a card UID: write 8 or 14 hex digits (a 4- or 7-byte UID, as "
        "the reader gives it), e.g. '04A1B2C3D4E5F6'",
    },
    "card-number": {
        VI: "mã thẻ {value} được lưu dạng số (có thể đã mất các số 0 ở đầu): định dạng cột "
        "là Văn bản (Text) và gõ lại",
        EN: "card {value} is stored as a number (leading zeros may be lost): format the "
        "column as Text and type it again",
    },
    "too-many-cards": {
        VI: "nhiều hơn {limit} thẻ",
        EN: "more than {limit} cards",
    },
    "duplicate-card": {
        VI: "thẻ {value} đã là của dòng {other}",
        EN: "card {value} is already row {other}'s",
    },
    "card-held": {
        VI: "thẻ {value} đã là của đại biểu {other} trong tệp hội trường",
        EN: "card {value} is already delegate {other}'s in the hall file",
    },
    "hall": {
        VI: "tệp hội trường sau khi nhập không hợp lệ: {detail}",
        EN: "the hall file would not be valid: {detail}",
    },
}
_WHERE = {
    VI: ("dòng {row}", "cột “{column}”"),
    EN: ("row {row}", "column '{column}'"),
}


@dataclass(frozen=True)
class SheetProblem:
    """One thing wrong with the sheet: its kind, where (row as the sheet numbers it, 1 being
    its first row; column as its header is written) and why, in both languages."""

    kind: ProblemKind
    row: int | None
    column: str | None
    reasons: Mapping[Language, str]

    def text(self, language: Language = EN) -> str:
        row_word, column_word = _WHERE[language]
        where = []
        if self.row is not None:
            where.append(row_word.format(row=self.row))
        if self.column is not None:
            where.append(column_word.format(column=self.column))
        reason = self.reasons[language]
        return f"{', '.join(where)}: {reason}" if where else reason

    def __str__(self) -> str:
        return self.text(EN)


def _problem(
    kind: ProblemKind, row: int | None, column: str | None, reason: str, **params: Any
) -> SheetProblem:
    texts = _REASONS[reason]
    return SheetProblem(kind, row, column, {lang: texts[lang].format(**params) for lang in texts})


class RosterError(ValueError):
    """The sheet cannot be imported: every problem found, each with its row and column."""

    def __init__(self, source: str, problems: Sequence[SheetProblem]) -> None:
        self.source = source
        self.problems = tuple(sorted(problems, key=lambda p: (p.row or 0, p.column or "")))
        super().__init__(self.text(EN))

    def text(self, language: Language = EN) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0].text(language)}"
        count = len(self.problems)
        head = f"{count} vấn đề" if language is VI else f"{count} problems"
        return "\n".join(
            [f"{self.source}: {head}", *(f"  {p.text(language)}" for p in self.problems)]
        )


# --- reading a sheet ---------------------------------------------------------------------


@dataclass(frozen=True)
class SheetRow:
    number: int
    # Raw cells by column: a string from CSV; str, int, float, bool or a date from XLSX.
    cells: Mapping[Column, object]


@dataclass(frozen=True)
class Sheet:
    source: str
    header_row: int
    columns: Mapping[Column, str]  # each column's header as written
    ignored: tuple[str, ...]  # headers of columns that are not read (e.g. "STT")
    rows: tuple[SheetRow, ...]


Records = list[tuple[int, list[object]]]


def read_sheet(path: Path, sheet: str | None = None) -> Sheet:
    """A delegate list's rows by column; raises `RosterError` when the file cannot be read."""
    source = path.name
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        records = _read_xlsx(path, sheet)
        return _table(source, records, [])
    if sheet is not None:
        raise RosterError(
            source, [_problem(ProblemKind.UNREADABLE, None, None, "no-sheet", sheet=sheet,
                              sheets="(CSV)")]
        )  # fmt: skip
    records, problems = _read_csv(path)
    return _table(source, records, problems)


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise RosterError(
            path.name, [_problem(ProblemKind.UNREADABLE, None, None, "unreadable", detail=detail)]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        mib = MAX_FILE_BYTES // (1024 * 1024)
        raise RosterError(
            path.name, [_problem(ProblemKind.UNREADABLE, None, None, "too-large", mib=mib)]
        )
    return raw


def _read_csv(path: Path) -> tuple[Records, list[SheetProblem]]:
    raw = _read_bytes(path).removeprefix(b"\xef\xbb\xbf")
    problems: list[SheetProblem] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Read on as Latin-1 only to say which rows hold TCVN3 or VNI text (bytes of those
        # encodings are Latin-1 characters); the file is refused either way.
        line = raw[: exc.start].count(b"\n") + 1
        cp1258 = _looks_cp1258(raw)
        hint = _REASONS["cp1258"] if cp1258 else {VI: "", EN: ""}
        problems.append(
            SheetProblem(
                ProblemKind.NOT_UTF8,
                line,
                None,
                {lang: _REASONS["not-utf8"][lang].format(hint=hint[lang]) for lang in (VI, EN)},
            )
        )
        if cp1258:  # Unicode text in another form: nothing to say of single rows
            raise RosterError(path.name, problems) from None
        text = raw.decode("latin-1")
    if "\x00" in text:
        detail = "NUL"
        raise RosterError(
            path.name, [_problem(ProblemKind.UNREADABLE, None, None, "unreadable", detail=detail)]
        )
    best: tuple[int, int, Records] | None = None
    for delimiter in (",", ";", "\t"):
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            records: Records = [(i, list(r)) for i, r in enumerate(reader, start=1)]
        except csv.Error as exc:
            detail = str(exc)
            raise RosterError(
                path.name,
                [_problem(ProblemKind.UNREADABLE, None, None, "unreadable", detail=detail)],
            ) from None
        found = max((_recognised(cells) for _, cells in records[:HEADER_SEARCH_ROWS]), default=0)
        width = max((len(cells) for _, cells in records[:HEADER_SEARCH_ROWS]), default=0)
        if best is None or (found, width) > best[:2]:
            best = (found, width, records)
    assert best is not None
    return best[2], problems


def _looks_cp1258(raw: bytes) -> bool:
    try:
        text = unicodedata.normalize("NFC", raw.decode("cp1258"))
    except UnicodeDecodeError:
        return False
    words = [w for w in re.split(r"[\W\d_]+", text) if w and not w.isascii()]
    return bool(words) and all(syllable(w) for w in words)


def _read_xlsx(path: Path, sheet: str | None) -> Records:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _read_bytes(path)  # the size bound, and a clear error for a file that cannot be opened
    try:
        with warnings.catch_warnings():
            # Workbooks from other programs draw warnings of features openpyxl does not read
            # (data validation, conditional formats); none of them matter to the cells.
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise RosterError(
            path.name, [_problem(ProblemKind.UNREADABLE, None, None, "unreadable", detail=detail)]
        ) from None
    try:
        if sheet is not None:
            named = next((w for w in book.worksheets if w.title == sheet), None)
            if named is None:
                cells = ", ".join(w.title for w in book.worksheets)
                raise RosterError(
                    path.name,
                    [_problem(ProblemKind.UNREADABLE, None, None, "no-sheet", sheet=sheet,
                              sheets=cells)],
                )  # fmt: skip
            ws = named
        elif book.worksheets:
            ws = book.worksheets[0]
        else:
            raise RosterError(
                path.name,
                [_problem(ProblemKind.UNREADABLE, None, None, "unreadable",
                          detail="no sheet of cells")],
            )  # fmt: skip
        records: Records = []
        limit = MAX_MEMBERS + HEADER_SEARCH_ROWS
        rows = ws.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True)
        for number, values in enumerate(rows, start=1):
            if number > limit:
                raise RosterError(
                    path.name,
                    [_problem(ProblemKind.UNREADABLE, None, None, "too-many-rows",
                              limit=MAX_MEMBERS)],
                )  # fmt: skip
            records.append((number, list(values)))
        return records
    finally:
        book.close()


def _text(value: object) -> str:
    """A cell as text: numbers as a person reads them (12.0 is "12")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _recognised(cells: Sequence[object]) -> int:
    found = {_HEADER_OF.get(fold(_text(c))) for c in cells} - {None}
    return len(found) if Column.NAME in found else 0


def _table(source: str, records: Records, problems: list[SheetProblem]) -> Sheet:
    header = next(
        ((n, cells) for n, cells in records[:HEADER_SEARCH_ROWS] if _recognised(cells)), None
    )
    if header is None:
        for n, cells in records[:HEADER_SEARCH_ROWS]:
            for cell in cells:
                problems.extend(_legacy(n, None, _text(cell)))
        example = HEADERS[Column.NAME][VI][0]
        problems.append(
            _problem(ProblemKind.NO_HEADER, None, None, "no-header", example=example,
                     rows=HEADER_SEARCH_ROWS)
        )  # fmt: skip
        raise RosterError(source, problems)
    header_row, header_cells = header
    columns: dict[Column, str] = {}
    where: dict[Column, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header_cells):
        title = unicodedata.normalize("NFC", " ".join(_text(cell).split()))
        column = _HEADER_OF.get(fold(title))
        if column is None:
            if title:
                ignored.append(title)
            continue
        if column in columns:
            problems.append(
                _problem(ProblemKind.DUPLICATE_COLUMN, header_row, title, "duplicate-column",
                         what=HEADERS[column][EN][0].lower(), other=columns[column])
            )  # fmt: skip
            continue
        columns[column] = title
        where[column] = index
    rows: list[SheetRow] = []
    for number, cells in records:
        if number <= header_row:
            continue
        values = {c: cells[i] for c, i in where.items() if i < len(cells)}
        if all(_text(v).strip() == "" for v in values.values()):
            continue  # an empty row, or one with only a running number ("STT")
        rows.append(SheetRow(number, values))
        if len(rows) > MAX_MEMBERS:
            problems.append(
                _problem(ProblemKind.UNREADABLE, None, None, "too-many-rows", limit=MAX_MEMBERS)
            )
            raise RosterError(source, problems)
    if problems and any(p.kind is not ProblemKind.NOT_UTF8 for p in problems):
        raise RosterError(source, problems)
    sheet = Sheet(source, header_row, columns, tuple(ignored), tuple(rows))
    if problems:  # not UTF-8: name the rows in a legacy encoding too, then refuse the file
        for row in sheet.rows:
            for column, value in row.cells.items():
                problems.extend(_legacy(row.number, columns[column], _text(value)))
        raise RosterError(source, problems)
    return sheet


def _legacy(row: int | None, column: str | None, text: str) -> list[SheetProblem]:
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    encoding = legacy_encoding(text)
    if encoding is None:
        return []
    return [
        _problem(ProblemKind.LEGACY_ENCODING, row, column, "legacy", text=text,
                 encoding=encoding.value, reads=decode(text, encoding))
    ]  # fmt: skip


# --- the rows as delegates ---------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One row as a delegate; None: the sheet has no such column (the hall file's value stays)."""

    row: int
    id: str | None
    name: str
    group: str | None = None
    role: Role | None = None
    title: str | None = None
    seat: int | None = None
    cards: tuple[str, ...] | None = None
    voting: bool | None = None


@dataclass
class _RowReader:
    sheet: Sheet
    seats: Sequence[int]
    problems: list[SheetProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.known_seats = frozenset(self.seats)
        self.seat_ranges = _ranges(self.known_seats)

    def header(self, column: Column) -> str:
        return self.sheet.columns[column]

    def text(self, row: SheetRow, column: Column) -> str | None:
        """The cell as NFC text with its whitespace collapsed; None if it cannot be used."""
        if column not in self.sheet.columns:
            return None
        raw = _text(row.cells.get(column))
        text = unicodedata.normalize("NFC", " ".join(raw.split()))
        legacy = _legacy(row.number, self.header(column), text)
        if legacy:
            self.problems.extend(legacy)
            return None
        bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf")), None)
        if bad is not None:
            self.add(row, column, "control", code=ord(bad))
            return None
        if len(text) > MAX_TEXT:
            self.add(row, column, "too-long", limit=MAX_TEXT)
            return None
        return text

    def add(self, row: SheetRow, column: Column, reason: str, **params: Any) -> None:
        kinds = {
            "empty-name": ProblemKind.EMPTY_NAME,
            "unknown-seat": ProblemKind.UNKNOWN_SEAT,
            "bad-card": ProblemKind.BAD_CARD,
            "card-number": ProblemKind.BAD_CARD,
        }
        kind = kinds.get(reason, ProblemKind.BAD_VALUE)
        self.problems.append(_problem(kind, row.number, self.header(column), reason, **params))

    def entry(self, row: SheetRow) -> Entry | None:
        ok = True
        name = self.text(row, Column.NAME)
        if name == "":
            self.add(row, Column.NAME, "empty-name")
        ident = self.text(row, Column.ID) or None
        if ident is not None and not _ID.fullmatch(ident):
            self.add(row, Column.ID, "bad-id", value=ident)
            ok = False
        group = self.text(row, Column.GROUP)
        title = self.text(row, Column.TITLE)
        role = self._role(row)
        seat = self._seat(row)
        cards = self._cards(row)
        voting = self._voting(row)
        columns = self.sheet.columns
        if not name or not ok:
            return None
        if any(
            c in columns and v is None
            for c, v in ((Column.GROUP, group), (Column.TITLE, title), (Column.CARDS, cards))
        ):
            return None
        if Column.ROLE in columns and role is None:
            return None
        return Entry(row.number, ident, name, group, role, title, seat, cards, voting)

    def _role(self, row: SheetRow) -> Role | None:
        text = self.text(row, Column.ROLE)
        if text is None:
            return None
        role = _ROLE_OF.get(fold(text)) if text else Role.DELEGATE
        if role is None:
            known = ", ".join(w[VI][0] for w in ROLE_WORDS.values())
            known += " / " + ", ".join(w[EN][0] for w in ROLE_WORDS.values())
            self.add(row, Column.ROLE, "bad-role", value=text, known=known)
        return role

    def _seat(self, row: SheetRow) -> int | None:
        if Column.SEAT not in self.sheet.columns:
            return None
        raw = row.cells.get(Column.SEAT)
        text = self.text(row, Column.SEAT)
        if not text:
            return None
        if isinstance(raw, float) and not raw.is_integer():
            number = None
        else:
            number = int(text) if re.fullmatch(r"[0-9]{1,5}", text) else None
        if number is None:
            self.add(row, Column.SEAT, "bad-seat", value=text)
            return None
        if number not in self.known_seats:
            self.add(row, Column.SEAT, "unknown-seat", value=number, seats=self.seat_ranges)
            return None
        return number

    def _cards(self, row: SheetRow) -> tuple[str, ...] | None:
        if Column.CARDS not in self.sheet.columns:
            return None
        raw = row.cells.get(Column.CARDS)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            self.add(row, Column.CARDS, "card-number", value=_text(raw))
            return None
        text = self.text(row, Column.CARDS)
        if text is None:
            return None
        uids = [u.upper() for u in re.split(r"[\s,;/]+", text) if u]
        bad = [u for u in uids if not _CARD_UID.fullmatch(u) or int(u, 16) == 0]
        for uid in bad:
            self.add(row, Column.CARDS, "bad-card", value=uid)
        if len(uids) > MAX_CARDS:
            self.add(row, Column.CARDS, "too-many-cards", limit=MAX_CARDS)
            return None
        return None if bad else tuple(uids)

    def _voting(self, row: SheetRow) -> bool | None:
        text = self.text(row, Column.VOTING)
        if not text:
            return None
        if fold(text) in _YES:
            return True
        if fold(text) in _NO:
            return False
        self.add(row, Column.VOTING, "bad-voting", value=text)
        return None


def _ranges(numbers: Iterable[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    out: list[str] = []
    run: list[int] = []
    for n in sorted(numbers):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [n]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def read_entries(sheet: Sheet, seats: Sequence[int]) -> tuple[list[Entry], list[SheetProblem]]:
    """The sheet's rows as delegates, and the problems of single rows and between rows."""
    reader = _RowReader(sheet, seats)
    entries = [e for row in sheet.rows if (e := reader.entry(row)) is not None]
    problems = reader.problems
    columns = sheet.columns
    by_id: dict[str, int] = {}
    by_person: dict[tuple[str, str], Entry] = {}  # (name, delegation) -> its first row
    by_seat: dict[int, int] = {}
    by_card: dict[int, int] = {}
    for e in entries:
        if e.id is not None:
            if e.id in by_id:
                problems.append(
                    _problem(ProblemKind.DUPLICATE_DELEGATE, e.row, columns[Column.ID],
                             "duplicate-id", value=e.id, other=by_id[e.id])
                )  # fmt: skip
            by_id.setdefault(e.id, e.row)
        person = (e.name, e.group or "")
        first = by_person.get(person)
        if first is not None and (e.id is None or first.id is None):
            problems.append(
                _problem(ProblemKind.DUPLICATE_DELEGATE, e.row, columns[Column.NAME],
                         "duplicate-delegate", value=e.name, other=first.row)
            )  # fmt: skip
        by_person.setdefault(person, e)
        if e.seat is not None:
            if e.seat in by_seat:
                problems.append(
                    _problem(ProblemKind.DUPLICATE_SEAT, e.row, columns[Column.SEAT],
                             "duplicate-seat", value=e.seat, other=by_seat[e.seat])
                )  # fmt: skip
            by_seat.setdefault(e.seat, e.row)
        for uid in e.cards or ():
            if int(uid, 16) in by_card:
                problems.append(
                    _problem(ProblemKind.DUPLICATE_CARD, e.row, columns[Column.CARDS],
                             "duplicate-card", value=uid, other=by_card[int(uid, 16)])
                )  # fmt: skip
            by_card.setdefault(int(uid, 16), e.row)
    return entries, problems


# --- the plan: the hall's new delegates and seating, and what changes -------------------

# The keys of a `[[delegates]]` table that an import sets, with their defaults.
_DEFAULTS: dict[str, Any] = {"group": "", "role": "delegate", "title": "", "cards": []}


@dataclass(frozen=True)
class FieldChange:
    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class DelegateLine:
    id: str
    name: str
    group: str = ""
    seat: int | None = None


@dataclass(frozen=True)
class Changed:
    delegate: DelegateLine
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class SeatChange:
    seat: int
    old: DelegateLine | None
    new: DelegateLine | None


@dataclass(frozen=True)
class RosterDiff:
    added: tuple[DelegateLine, ...]
    removed: tuple[DelegateLine, ...]
    changed: tuple[Changed, ...]
    seats: tuple[SeatChange, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.seats)


@dataclass(frozen=True)
class Plan:
    """What the import makes of the hall file: its delegates (file order, then new ones in the
    sheet's order) and each seat's delegate, with the diff against the file."""

    delegates: tuple[dict[str, Any], ...]
    seating: Mapping[int, str | None]
    diff: RosterDiff
    entries: int


def _effective(table: Mapping[str, Any], key: str) -> Any:
    if key == "voting":
        if table.get("voting") is not None:
            return table["voting"]
        return table.get("role", "delegate") != Role.SECRETARY.value
    return table.get(key, _DEFAULTS.get(key))


def plan_import(hall_text: str, sheet: Sheet, hall_source: str = "hall.toml") -> Plan:
    """The hall file's new delegates and seating from `sheet`; raises `RosterError` with every
    problem of the sheet (and `ConfigError` if the hall file itself is not valid)."""
    data = tomllib.loads(hall_text)
    parse_config(data, hall_source)  # the file as it stands must be valid
    old_delegates: list[dict[str, Any]] = list(data.get("delegates", []))
    old_seating: dict[int, str | None] = {s["number"]: s.get("delegate") for s in data["seats"]}
    entries, problems = read_entries(sheet, list(old_seating))

    by_id = {d["id"]: d for d in old_delegates}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for d in old_delegates:
        by_name.setdefault(unicodedata.normalize("NFC", d["name"]), []).append(d)
    matched: dict[int, dict[str, Any] | None] = {}  # entry row -> the hall file's delegate
    taken: set[str] = set()
    for e in entries:
        old: dict[str, Any] | None
        if e.id is not None:
            old = by_id.get(e.id)
        else:
            namesakes = [d for d in by_name.get(e.name, []) if d["id"] not in taken]
            if len(namesakes) > 1 and e.group is not None:
                namesakes = [d for d in namesakes if d.get("group", "") == e.group]
            if len(namesakes) > 1:
                ids = ", ".join(d["id"] for d in namesakes)
                problems.append(
                    _problem(ProblemKind.AMBIGUOUS_NAME, e.row, sheet.columns[Column.NAME],
                             "ambiguous-name", value=e.name, count=len(namesakes), ids=ids)
                )  # fmt: skip
                continue
            old = namesakes[0] if namesakes else None
        if old is not None:
            taken.add(old["id"])
        matched[e.row] = old
    if problems:
        raise RosterError(sheet.source, problems)

    used = set(by_id) | {e.id for e in entries if e.id is not None}
    new_tables: dict[int, dict[str, Any]] = {}
    for e in entries:
        old = matched[e.row]
        table: dict[str, Any] = dict(old) if old is not None else {"id": e.id or _new_id(used)}
        used.add(table["id"])
        table["name"] = e.name
        given: dict[str, Any] = {
            "group": e.group,
            "role": e.role.value if e.role is not None else None,
            "title": e.title,
            "cards": list(e.cards) if e.cards is not None else None,
        }
        for key, value in given.items():
            # A key is written only when its value changes: the file's own spelling stays.
            if value is not None and value != _effective(table, key):
                table[key] = value
        if Column.VOTING in sheet.columns:
            voting = (
                e.voting if e.voting is not None else _effective(table | {"voting": None}, "voting")
            )
            if voting != _effective(table, "voting"):
                table["voting"] = voting
        if old is None:  # a new delegate's table: only what differs from the defaults
            for key in [k for k in table if k in _DEFAULTS and table[k] == _DEFAULTS[k]]:
                del table[key]
            if "voting" in table and table["voting"] == _effective(
                {k: v for k, v in table.items() if k != "voting"}, "voting"
            ):
                del table["voting"]
        new_tables[e.row] = table

    if Column.CARDS not in sheet.columns:
        _check_kept_cards(sheet, entries, new_tables, problems)
    if problems:
        raise RosterError(sheet.source, problems)

    # File order for the delegates the file had, then the new ones in the sheet's order.
    kept = {old["id"]: new_tables[e.row] for e in entries if (old := matched[e.row]) is not None}
    delegates = [kept[d["id"]] for d in old_delegates if d["id"] in kept]
    delegates += [new_tables[e.row] for e in entries if matched[e.row] is None]
    present = {d["id"] for d in delegates}
    if Column.SEAT in sheet.columns:
        seat_of = {new_tables[e.row]["id"]: e.seat for e in entries}
        seating: dict[int, str | None] = dict.fromkeys(old_seating)
        for ident, seat in seat_of.items():
            if seat is not None:
                seating[seat] = ident
    else:
        seating = {n: (d if d in present else None) for n, d in old_seating.items()}
    diff = _diff(old_delegates, old_seating, delegates, seating)
    # The hall file it makes must be valid (e.g. no more voting delegates than members): checked
    # here on the parsed file, so that the diff is shown only for a list that can be written.
    data["delegates"] = delegates
    for seat in data["seats"]:
        seat.pop("delegate", None)
        if seating[seat["number"]] is not None:
            seat["delegate"] = seating[seat["number"]]
    _check_hall(data, hall_source)
    return Plan(tuple(delegates), seating, diff, len(entries))


def _check_hall(data: dict[str, Any], hall_source: str) -> None:
    try:
        parse_config(data, hall_source)
    except ConfigError as exc:
        detail = str(exc).removeprefix(f"{hall_source}: ")
        raise RosterError(
            hall_source, [_problem(ProblemKind.HALL, None, None, "hall", detail=detail)]
        ) from None


def _check_kept_cards(
    sheet: Sheet,
    entries: Sequence[Entry],
    tables: Mapping[int, Mapping[str, Any]],
    problems: list[SheetProblem],
) -> None:
    """Without a cards column each delegate keeps the hall file's cards: two rows matched to
    two delegates cannot clash, so nothing to do but for a delegate whose id changed hands."""
    holders: dict[int, str] = {}
    for e in entries:
        for uid in tables[e.row].get("cards", []):
            if int(uid, 16) in holders:
                problems.append(
                    _problem(ProblemKind.DUPLICATE_CARD, e.row, sheet.columns[Column.NAME],
                             "card-held", value=uid, other=holders[int(uid, 16)])
                )  # fmt: skip
            holders.setdefault(int(uid, 16), tables[e.row]["id"])


def _new_id(used: set[str]) -> str:
    n = 1
    while f"d{n:04d}" in used:
        n += 1
    return f"d{n:04d}"


def _diff(
    old: Sequence[Mapping[str, Any]],
    old_seating: Mapping[int, str | None],
    new: Sequence[Mapping[str, Any]],
    seating: Mapping[int, str | None],
) -> RosterDiff:
    old_by_id = {d["id"]: d for d in old}
    new_by_id = {d["id"]: d for d in new}
    old_seat = {d: n for n, d in old_seating.items() if d is not None}
    new_seat = {d: n for n, d in seating.items() if d is not None}

    def line(table: Mapping[str, Any], seat_of: Mapping[str, int]) -> DelegateLine:
        ident = table["id"]
        return DelegateLine(ident, table["name"], table.get("group", ""), seat_of.get(ident))

    added = tuple(line(d, new_seat) for d in new if d["id"] not in old_by_id)
    removed = tuple(line(d, old_seat) for d in old if d["id"] not in new_by_id)
    changed: list[Changed] = []
    for d in new:
        before = old_by_id.get(d["id"])
        if before is None:
            continue
        changes = tuple(
            FieldChange(key, _effective(before, key), _effective(d, key))
            for key in ("name", "group", "role", "title", "cards", "voting")
            if _effective(before, key) != _effective(d, key)
        )
        if changes:
            changed.append(Changed(line(d, new_seat), changes))
    names = {**old_by_id, **new_by_id}
    seats = tuple(
        SeatChange(
            n,
            line(names[old_seating[n]], old_seat) if old_seating[n] else None,
            line(names[seating[n]], new_seat) if seating[n] else None,
        )
        for n in sorted(old_seating)
        if old_seating[n] != seating[n]
    )
    return RosterDiff(added, removed, tuple(changed), seats)


# --- showing the diff --------------------------------------------------------------------

_DIFF_WORDS: dict[Language, dict[str, str]] = {
    VI: {
        "name": "họ và tên",
        "group": "đơn vị",
        "role": "chức vụ",
        "title": "chức danh",
        "cards": "thẻ",
        "voting": "biểu quyết",
        "seat": "ghế",
        "no-seat": "chưa có ghế",
        "empty": "trống",
        "yes": "có",
        "no": "không",
        "none": "(không)",
        "summary": "{added} thêm, {removed} bỏ, {changed} sửa, {seats} ghế đổi người",
        "no-change": "không có gì thay đổi",
    },
    EN: {
        "name": "name",
        "group": "delegation",
        "role": "role",
        "title": "title",
        "cards": "cards",
        "voting": "voting",
        "seat": "seat",
        "no-seat": "no seat",
        "empty": "empty",
        "yes": "yes",
        "no": "no",
        "none": "(none)",
        "summary": "{added} added, {removed} removed, {changed} changed, {seats} seats reassigned",
        "no-change": "no change",
    },
}


def _value(key: str, value: Any, language: Language) -> str:
    words = _DIFF_WORDS[language]
    if key == "role":
        return ROLE_WORDS[Role(value)][language][0]
    if key == "voting":
        return words["yes"] if value else words["no"]
    if key == "cards":
        return " ".join(value) if value else words["none"]
    return f"“{value}”" if language is VI else f"'{value}'"


def _who(d: DelegateLine) -> str:
    return f"{d.id} {d.name}" + (f" ({d.group})" if d.group else "")


def render_diff(diff: RosterDiff, language: Language = EN) -> str:
    """The diff as lines: '+' added, '-' removed, '~' changed, then the seats."""
    words = _DIFF_WORDS[language]
    lines: list[str] = []

    def seat(d: DelegateLine) -> str:
        return f"{words['seat']} {d.seat}" if d.seat is not None else words["no-seat"]

    lines += [f"+ {_who(d)}, {seat(d)}" for d in diff.added]
    lines += [f"- {_who(d)}" for d in diff.removed]
    for c in diff.changed:
        parts = [
            f"{words[f.key]} {_value(f.key, f.old, language)} -> {_value(f.key, f.new, language)}"
            for f in c.changes
        ]
        lines.append(f"~ {c.delegate.id} {c.delegate.name}: " + "; ".join(parts))
    for s in diff.seats:
        old = _who(s.old) if s.old else words["empty"]
        new = _who(s.new) if s.new else words["empty"]
        lines.append(f"  {words['seat']} {s.seat}: {old} -> {new}")
    counts = {
        "added": len(diff.added),
        "removed": len(diff.removed),
        "changed": len(diff.changed),
        "seats": len(diff.seats),
    }
    lines.append(words["summary"].format(**counts) if not diff.empty else words["no-change"])
    return "\n".join(lines)


# --- writing the hall file ---------------------------------------------------------------


def apply_plan(hall_text: str, plan: Plan, hall_source: str = "hall.toml") -> str:
    """The hall file's text with the plan's delegates and seating; its comments, the order of
    its tables and everything else kept. Raises `RosterError` if the result is not valid."""
    if plan.diff.empty:
        return hall_text
    doc = tomlkit.parse(hall_text)
    tables = doc["delegates"]
    assert isinstance(tables, tomlkit.items.AoT | tomlkit.items.Array)
    wanted = {d["id"]: d for d in plan.delegates}
    for i in reversed(range(len(tables))):
        if tables[i]["id"] not in wanted:
            del tables[i]
    present = set()
    for table in tables:
        ident = table["id"]
        present.add(ident)
        _update(table, wanted[ident])
    for d in plan.delegates:
        if d["id"] not in present:
            table = (
                tomlkit.table() if isinstance(tables, tomlkit.items.AoT) else tomlkit.inline_table()
            )
            _update(table, d)
            if isinstance(table, tomlkit.items.Table):
                table.add(tomlkit.nl())
            tables.append(table)
    for seat in doc["seats"]:
        ident = plan.seating.get(int(seat["number"]))
        if ident is None:
            if "delegate" in seat:
                del seat["delegate"]
        elif seat.get("delegate") != ident:
            seat["delegate"] = ident
    text = tomlkit.dumps(doc)
    _check_hall(tomllib.loads(text), hall_source)  # what is written, read back
    return text


_KEY_ORDER = ("id", "name", "group", "role", "title", "weight", "voting", "cards")


def _update(table: Any, wanted: Mapping[str, Any]) -> None:
    for key in [k for k in table if k not in wanted]:
        del table[key]
    for key in sorted(wanted, key=lambda k: _KEY_ORDER.index(k) if k in _KEY_ORDER else 99):
        if key not in table or table[key] != wanted[key]:
            table[key] = wanted[key]


# --- exporting the delegate list ---------------------------------------------------------


def export_rows(hall: Hall, language: Language = VI) -> list[list[str]]:
    """The hall's delegates as a sheet (a header row, then one row each) that `read_sheet` and
    `plan_import` take back unchanged."""
    seat_of = {s.delegate: s.number for s in hall.seats if s.delegate is not None}
    order = (
        Column.ID,
        Column.NAME,
        Column.GROUP,
        Column.ROLE,
        Column.TITLE,
        Column.SEAT,
        Column.CARDS,
        Column.VOTING,
    )
    yes_no = {VI: ("Có", "Không"), EN: ("yes", "no")}[language]
    rows = [[HEADERS[c][language][0] for c in order]]
    for d in hall.delegates:
        seat = seat_of.get(d.id)
        rows.append(
            [
                d.id,
                d.name,
                d.group,
                ROLE_WORDS[d.role][language][0],
                d.title,
                str(seat) if seat is not None else "",
                " ".join(d.cards),
                yes_no[0] if d.voting else yes_no[1],
            ]
        )
    return rows


def write_rows(rows: Sequence[Sequence[str]], path: Path) -> None:
    """Write a sheet as XLSX (by its suffix, every cell as text) or as CSV in UTF-8 with a byte
    order mark, which Excel opens as UTF-8."""
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        ws = book.active
        assert ws is not None
        ws.title = "Đại biểu"
        for row in rows:
            ws.append(list(row))
        for cells in ws.iter_rows():
            for cell in cells:
                cell.number_format = "@"  # text: card UIDs keep their leading zeros
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
