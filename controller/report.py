"""The term report: each delegate's record across the council's term (nhiệm kỳ).

A People's Council holds many sittings (kỳ họp) in its five-year term, and its standing
committee follows each delegate across all of them. This module gathers the term's sittings
from every journal it is given or finds, and counts, per delegate and for the whole council:
the sittings and sessions attended and the time present, the votes taken part in against the
votes held, the speeches and questions with their count and time, and the absences with their
reasons.

**Which sittings.** Every journal file named, and every chamber journal found under the
directories named (a data directory, a folder of backups, another PC's data directory), is
checked whole (its hash chain, its head and its head file, as `chamber audit verify` does)
before anything of it is used; a journal that fails stops the report with one error naming
the file. Journals are told apart by their identity (the random id each journal is created
with, `meta.journal_id`), not by their file name: a rotated journal renamed aside, a backup
copy and the journal it was copied from are one journal, read once, from its longest copy; a
shorter copy must be the start of the longer one (the same chain hash at its last record), or
the report refuses both. A sitting is named by its id, which is unique within a journal (the
core refuses a second sitting of the same id); the same sitting id in two different journals
is refused too, so that no sitting is ever counted twice. The hall file's `[term]` (name, first
and last day) keeps the sittings that opened on those days, in the hall's time zone; without
one, every sitting found is the term.

**Sessions** (phiên họp) are the roll calls (điểm danh) the chair takes during a sitting: a
delegate attended a session when they are registered in it. **Votes held** are a sitting's
votes whose result stands and was taken by the system (a practice vote, an annulled result and
a result entered by hand from a show of hands or paper ballots name no seat, and count for and
against nobody, as in the participation record); they are held against each voting member,
present or not. A secret vote counts only as taken part in: the core keeps no seat's choice of
it, and nothing here reads one. **Speeches** are turns on the speakers' and the replies' lists,
**questions** turns on the questions' list (chất vấn). An **absence** is a sitting the delegate
was never present at, or a stretch of one the secretary marked them absent for by hand; its
reason is the one the secretary recorded.

The journals are read through their one reader and replayed by `controller.exports`; nothing
here writes to a journal.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from chamber.controller.config import HallConfig, Term
from chamber.controller.core.attendance import AbsenceNote, PresenceMark, Registration
from chamber.controller.core.model import Language, SpeakerList
from chamber.controller.core.participation import Participation
from chamber.controller.exports import (
    CSV_BOM,
    WORDS,
    ExportError,
    JournalView,
    date_fields,
    participation,
    percent,
    replay_journal,
)
from chamber.controller.journal import (
    APPLICATION_ID,
    JournalError,
    JournalReader,
    head_file_of,
)

CHROMIUM = "chromium"


class ReportError(Exception):
    """The report cannot be made: a journal fails its check, two copies of one journal differ,
    a sitting is in two journals, or nothing matches. The message names the file."""


class Sort(StrEnum):
    """How the delegates are ranked."""

    ORDER = "order"  # as in the hall file
    NAME = "name"
    ATTENDANCE = "attendance"  # sittings attended, then time present
    VOTES = "votes"  # share of the votes held taken part in
    SPEECHES = "speeches"  # speeches and questions, then their time
    ABSENCES = "absences"  # most absences first


# --- finding the journals ------------------------------------------------------------------


@dataclass(frozen=True)
class JournalFile:
    """A journal file that verified: its identity, its length and its head."""

    path: Path
    journal_id: str
    records: int
    head_hash: str


@dataclass(frozen=True)
class Copy:
    """A file left out because it is a copy (or an earlier copy) of another one."""

    path: Path
    of: Path
    records: int


def _is_journal(path: Path) -> bool:
    """The file is a SQLite database whose application id is chamber's journal's.

    Read through SQLite (a read-only connection), never through a plain file descriptor: the
    daemon serves this report from the process that writes the live journal, and closing any
    descriptor of a file drops every POSIX lock the process holds on it (fcntl semantics).
    Without the writer's locks, another process that opened and closed the journal (a report
    or an audit run beside the daemon) took it for unused, checkpointed it and deleted its
    write-ahead log under the writer: what was committed after that was lost at the next
    power cut (tests/report/test_live_journal.py). SQLite itself keeps a process's
    descriptors of one file together and closes them only when the last lock is gone. It
    also reads the header as the write-ahead log has it, where the file's own first page can
    be older."""
    try:
        if path.stat().st_size < 512:  # smaller than any SQLite database with a table
            return False
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return False
    try:
        row = conn.execute("PRAGMA application_id").fetchone()
    except sqlite3.Error:  # not a database, or not readable
        return False
    finally:
        conn.close()
    return row is not None and int(row[0]) == APPLICATION_ID


def find_journals(paths: Sequence[Path]) -> list[Path]:
    """The journal files named, and those found under the directories named (any depth, in
    name order; symbolic links to directories are not followed). A file named that is not a
    journal is an error; a file found that is not one is passed over."""
    found: list[Path] = []
    for given in paths:
        if given.is_dir():
            for root, dirs, files in os.walk(given):
                dirs.sort()
                for name in sorted(files):
                    p = Path(root) / name
                    if name.endswith(("-wal", "-shm", ".head")) or not p.is_file():
                        continue
                    if _is_journal(p):
                        found.append(p)
        elif given.is_file():
            if not _is_journal(given):
                raise ReportError(f"{given}: not a chamber journal")
            found.append(given)
        else:
            raise ReportError(f"{given}: no such file or directory")
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    if not unique:
        shown = ", ".join(str(p) for p in paths)
        raise ReportError(f"no chamber journal found in {shown}")
    return list(unique.values())


def _check(path: Path) -> JournalFile:
    """The whole chain, the head and the head file, before anything of the file is used."""
    try:
        report = JournalReader(path).verify(decode=False)
    except JournalError as exc:
        raise ReportError(f"{path}: {exc}") from exc
    if not report.ok:
        where = f"record {report.seq}" if report.seq is not None else "the journal"
        raise ReportError(
            f"{path}: {where} is bad: {report.problem}: {report.detail}; "
            f"run `chamber audit verify {path}`"
        )
    return JournalFile(path, report.journal_id, report.records, report.head_hash)


def distinct_journals(paths: Sequence[Path]) -> tuple[list[JournalFile], list[Copy]]:
    """Each journal once, from its longest copy, and the copies left out. Every file is
    checked first. A shorter copy must be the beginning of the longer one: the longer one's
    chain hash at the shorter one's last record is the shorter one's head."""
    checked = [_check(p) for p in paths]
    by_id: dict[str, list[JournalFile]] = {}
    for j in checked:
        by_id.setdefault(j.journal_id, []).append(j)
    keep: list[JournalFile] = []
    copies: list[Copy] = []
    for group in by_id.values():
        # The longest first; of copies as long, one with its head file (the live journal).
        group.sort(key=lambda j: (-j.records, not head_file_of(j.path).is_file(), str(j.path)))
        longest, rest = group[0], group[1:]
        if rest:
            seqs = {j.records for j in rest if j.records > 0}
            try:
                hashes = JournalReader(longest.path).verify(decode=False, keep=seqs).hashes
            except JournalError as exc:
                raise ReportError(f"{longest.path}: {exc}") from exc
            for j in rest:
                if j.records > 0 and hashes.get(j.records) != j.head_hash:
                    raise ReportError(
                        f"{j.path} and {longest.path} are copies of one journal "
                        f"({j.journal_id}) that differ at or before record {j.records}: "
                        "keep only the copy that is the hall's record"
                    )
                copies.append(Copy(j.path, longest.path, j.records))
        keep.append(longest)
    keep.sort(key=lambda j: str(j.path))
    return keep, copies


# --- the record ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SittingInfo:
    """A sitting of the term, and where it was read from."""

    sitting_id: str
    title: str
    opened: datetime | None
    closed: datetime | None  # None: still open at the end of its journal
    journal: JournalFile
    # Roll calls taken, and votes held (standing results taken by the system).
    sessions: int
    votes: int


@dataclass(frozen=True)
class Absence:
    """A sitting missed (`whole`), or a stretch of one the secretary marked by hand."""

    sitting: SittingInfo
    whole: bool
    reason: str
    since: datetime | None = None
    # With leave (True) or without (False), as the secretary recorded it; None: not said.
    excused: bool | None = None


@dataclass(frozen=True)
class Attended:
    """One delegate at one sitting."""

    sitting: SittingInfo
    present_s: float
    sessions: int
    votes_held: int
    votes_taken: int
    speeches: int
    speech_s: float
    questions: int
    question_s: float
    absences: tuple[Absence, ...]

    @property
    def attended(self) -> bool:
        return self.present_s > 0


@dataclass
class DelegateRecord:
    """A delegate's record across the sittings of the report."""

    delegate_id: str
    name: str
    group: str
    voting: bool
    sittings: list[Attended] = field(default_factory=list)

    @property
    def sittings_held(self) -> int:
        return len(self.sittings)

    @property
    def sittings_attended(self) -> int:
        return sum(1 for s in self.sittings if s.attended)

    @property
    def sessions_held(self) -> int:
        return sum(s.sitting.sessions for s in self.sittings)

    @property
    def sessions_attended(self) -> int:
        return sum(s.sessions for s in self.sittings)

    @property
    def present_s(self) -> float:
        return sum(s.present_s for s in self.sittings)

    @property
    def votes_held(self) -> int:
        return sum(s.votes_held for s in self.sittings)

    @property
    def votes_taken(self) -> int:
        return sum(s.votes_taken for s in self.sittings)

    @property
    def speeches(self) -> int:
        return sum(s.speeches for s in self.sittings)

    @property
    def speech_s(self) -> float:
        return sum(s.speech_s for s in self.sittings)

    @property
    def questions(self) -> int:
        return sum(s.questions for s in self.sittings)

    @property
    def question_s(self) -> float:
        return sum(s.question_s for s in self.sittings)

    @property
    def absences(self) -> list[Absence]:
        return [a for s in self.sittings for a in s.absences]

    @property
    def sittings_missed(self) -> int:
        return self.sittings_held - self.sittings_attended


@dataclass
class TermReport:
    """The sittings found, each delegate's record across them, and what was read."""

    config: HallConfig
    term: Term | None
    sittings: list[SittingInfo]
    delegates: list[DelegateRecord]
    journals: list[JournalFile]
    copies: list[Copy]
    # Sittings left out: outside the term or the range asked for, or with no date.
    left_out: list[tuple[str, str]] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for d in self.delegates:
            seen.setdefault(d.group, None)
        return list(seen)


def _moment(view: JournalView, at: float | None) -> datetime | None:
    unix = view.core.unix_time(at) if at is not None else None
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, ZoneInfo(view.config.timezone))


@dataclass(frozen=True)
class _Parts:
    opened_at: float | None
    closed_at: float | None
    registrations: tuple[Registration, ...]
    marks: tuple[PresenceMark, ...]
    notes: tuple[AbsenceNote, ...]


def _sitting_parts(view: JournalView, sitting_id: str) -> _Parts:
    core = view.core
    for r in core.history:
        if r.sitting_id == sitting_id:
            return _Parts(r.opened_at, r.closed_at, r.registrations, r.marks, r.absences)
    if core.sitting_id == sitting_id:
        a = core.attendance
        return _Parts(
            core.sitting_opened_at,
            None,
            tuple(a.registrations),
            tuple(a.marks),
            tuple(a.absences),
        )
    return _Parts(None, None, (), (), ())


def _counted(view: JournalView, sitting_id: str) -> int:
    """Votes held at a sitting: standing results taken by the system."""
    return sum(
        1
        for v in view.sitting_votes(sitting_id)
        if v.result.stands and v.result.manual is None and not v.definition.practice
    )


def _speeches(p: Participation) -> tuple[int, float, int, float]:
    speak = [s for s in p.speeches if s.list is not SpeakerList.QUESTION]
    asked = [s for s in p.speeches if s.list is SpeakerList.QUESTION]
    return (
        len(speak),
        sum(s.duration_s for s in speak),
        len(asked),
        sum(s.duration_s for s in asked),
    )


def _in_range(
    opened: datetime | None, term: Term | None, since: date | None, until: date | None
) -> bool:
    if term is None and since is None and until is None:
        return True
    if opened is None:
        return False
    day = opened.date()
    if term is not None and not term.start <= day <= term.end:
        return False
    if since is not None and day < since:
        return False
    return until is None or day <= until


def collect(
    paths: Sequence[Path],
    config: HallConfig,
    *,
    term: Term | None = None,
    since: date | None = None,
    until: date | None = None,
    sittings: Iterable[str] = (),
) -> TermReport:
    """The term report from the journals at `paths` (files or directories). `term` defaults
    to the hall file's; `since`/`until` narrow it to a range of days; `sittings` to the
    sittings of those ids."""
    term = term if term is not None else config.term
    chosen = set(sittings)
    journals, copies = distinct_journals(find_journals(paths))
    delegates = {
        d.id: DelegateRecord(d.id, d.name, d.group, d.voting) for d in config.hall.delegates
    }
    found: list[SittingInfo] = []
    where: dict[str, Path] = {}
    left_out: list[tuple[str, str]] = []
    for journal in journals:
        try:
            view = replay_journal(journal.path, config)
        except ExportError as exc:
            raise ReportError(f"{journal.path}: {exc}") from exc
        for sid, title in view.sittings:
            if sid in where:
                raise ReportError(
                    f"sitting {sid!r} is in two different journals, {where[sid]} and "
                    f"{journal.path}: the report would count it twice"
                )
            where[sid] = journal.path
            parts = _sitting_parts(view, sid)
            opened = _moment(view, parts.opened_at)
            if chosen and sid not in chosen:
                continue
            if not _in_range(opened, term, since, until):
                left_out.append((sid, title))
                continue
            info = SittingInfo(
                sid,
                title,
                opened,
                _moment(view, parts.closed_at),
                journal,
                len(parts.registrations),
                _counted(view, sid),
            )
            try:
                records = {p.delegate_id: p for p in participation(view, sid)}
            except ExportError as exc:
                raise ReportError(f"{journal.path}: {exc}") from exc
            registered = [set(r.registered) for r in parts.registrations]
            found.append(info)
            for d in delegates.values():
                p = records[d.delegate_id]
                speeches, speech_s, questions, question_s = _speeches(p)
                absences = _absences(view, info, d.delegate_id, p, parts)
                d.sittings.append(
                    Attended(
                        info,
                        p.present_s,
                        sum(1 for r in registered if d.delegate_id in r),
                        info.votes if d.voting else 0,
                        len(p.votes),
                        speeches,
                        speech_s,
                        questions,
                        question_s,
                        absences,
                    )
                )
    missing = chosen - set(where)
    if missing:
        raise ReportError(f"no sitting {', '.join(sorted(missing))} in the journals given")
    order = sorted(
        range(len(found)),
        key=lambda i: (found[i].opened or datetime.min.replace(tzinfo=ZoneInfo("UTC")), i),
    )
    rank = {found[i].sitting_id: n for n, i in enumerate(order)}
    for d in delegates.values():
        d.sittings.sort(key=lambda a: rank[a.sitting.sitting_id])
    return TermReport(
        config,
        term,
        [found[i] for i in order],
        list(delegates.values()),
        journals,
        copies,
        left_out,
    )


def _absences(
    view: JournalView,
    info: SittingInfo,
    delegate_id: str,
    p: Participation,
    parts: _Parts,
) -> tuple[Absence, ...]:
    """A sitting missed, with the secretary's latest note for the delegate (`RecordAbsence`:
    with leave or without, and why), else the reason of a mark by hand; or, at a sitting
    attended, each mark by hand absent and the secretary's note."""
    own = [m for m in parts.marks if m.delegate == delegate_id and not m.present]
    note = next((n for n in reversed(parts.notes) if n.delegate == delegate_id), None)
    if p.present_s <= 0:
        if note is not None:
            return (Absence(info, True, note.reason, excused=note.excused),)
        return (Absence(info, True, own[-1].reason if own else ""),)
    found = [Absence(info, False, m.reason, _moment(view, m.at)) for m in own]
    if note is not None:
        found.append(Absence(info, False, note.reason, _moment(view, note.at), note.excused))
    return tuple(found)


def select(
    report: TermReport, *, delegation: str | None = None, sort: Sort = Sort.ORDER
) -> list[DelegateRecord]:
    """The delegates of one delegation (tổ đại biểu; matched whole, ignoring case), ranked."""
    rows = list(report.delegates)
    if delegation is not None:
        want = _fold(delegation)
        rows = [d for d in rows if _fold(d.group) == want]
        if not rows:
            known = "; ".join(g for g in report.groups if g)
            raise ReportError(f"no delegation {delegation!r} (delegations: {known})")
    position = {d.delegate_id: i for i, d in enumerate(report.delegates)}
    if sort is Sort.NAME:
        # As Vietnamese lists are ordered: by the given name (the last word), then the rest.
        rows.sort(key=lambda d: (*name_key(d.name), position[d.delegate_id]))
    elif sort is Sort.ATTENDANCE:
        rows.sort(key=lambda d: (-d.sittings_attended, -d.present_s, position[d.delegate_id]))
    elif sort is Sort.VOTES:
        rows.sort(
            key=lambda d: (
                -(d.votes_taken / d.votes_held if d.votes_held else -1.0),
                -d.votes_taken,
                position[d.delegate_id],
            )
        )
    elif sort is Sort.SPEECHES:
        rows.sort(
            key=lambda d: (
                -(d.speeches + d.questions),
                -(d.speech_s + d.question_s),
                position[d.delegate_id],
            )
        )
    elif sort is Sort.ABSENCES:
        rows.sort(key=lambda d: (-len(d.absences), position[d.delegate_id]))
    return rows


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold().strip()


# The Vietnamese alphabet (with f, j, w, z of foreign names in their Latin places), and the
# tones in the order dictionaries use: none, huyền, hỏi, ngã, sắc, nặng.
_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_RANK = {ch: i for i, ch in enumerate(_ALPHABET)}
_LETTER_MARKS = {
    ("a", "\u0306"): "ă",
    ("a", "\u0302"): "â",
    ("e", "\u0302"): "ê",
    ("o", "\u0302"): "ô",
    ("o", "\u031b"): "ơ",
    ("u", "\u031b"): "ư",
}
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def vietnamese_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A sort key in Vietnamese alphabetical order: letters first (a < ă < â < b ... d < đ),
    then tones (a < à < ả < ã < á < ạ), case ignored."""
    letters: list[int] = []
    tones: list[int] = []
    for ch in unicodedata.normalize("NFD", text.casefold()):
        if unicodedata.combining(ch):
            if ch in _TONES and tones:
                tones[-1] = _TONES[ch]
            elif letters:
                base = _ALPHABET[letters[-1]] if letters[-1] < len(_ALPHABET) else ""
                marked = _LETTER_MARKS.get((base, ch))
                if marked is not None:
                    letters[-1] = _RANK[marked]
            continue
        letters.append(_RANK.get(ch, len(_ALPHABET) + ord(ch)))
        tones.append(0)
    return tuple(letters), tuple(tones)


def name_key(name: str) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """A Vietnamese name's place in a list: by the given name (the last word), then the
    family and middle names, each in Vietnamese alphabetical order."""
    words = name.split()
    return (vietnamese_key(words[-1] if words else ""), vietnamese_key(" ".join(words)))


# --- words ---------------------------------------------------------------------------------

TEXT: dict[Language, dict[str, str]] = {
    Language.VI: {
        "title": "BÁO CÁO",
        "subtitle": "Kết quả tham gia hoạt động của đại biểu",
        "one": "Kết quả tham gia hoạt động của đại biểu {name}",
        "term": "Nhiệm kỳ",
        "all": "Tất cả các kỳ họp có trong nhật ký",
        "range": "Từ {first} đến {last}",
        "delegation": "Tổ đại biểu",
        "sort": "Xếp theo",
        "council": "Toàn Hội đồng",
        "sittings": "Các kỳ họp",
        "no": "STT",
        "delegate_id": "Mã đại biểu",
        "name": "Họ và tên",
        "group": "Tổ đại biểu",
        "sittings_held": "Số kỳ họp",
        "sittings_attended": "Số kỳ họp có mặt",
        "sessions_held": "Số phiên họp",
        "sessions_attended": "Số phiên họp có mặt",
        "present_s": "Thời gian có mặt (giây)",
        "present": "Thời gian có mặt",
        "votes_held": "Số lần biểu quyết",
        "votes_taken": "Số lần tham gia biểu quyết",
        "votes": "Tham gia biểu quyết",
        "speeches": "Số lần phát biểu",
        "speech_s": "Thời gian phát biểu (giây)",
        "speech": "Phát biểu",
        "questions": "Số lần chất vấn",
        "question_s": "Thời gian chất vấn (giây)",
        "question": "Chất vấn",
        "absences": "Số lần vắng mặt",
        "reasons": "Lý do vắng mặt",
        "absence_list": "Vắng mặt",
        "whole": "vắng cả kỳ họp",
        "excused": "có lý do",
        "unexcused": "không có lý do",
        "part": "vắng một phần kỳ họp, từ {since}",
        "no_reason": "không ghi lý do",
        "sitting_id": "Mã kỳ họp",
        "sitting": "Kỳ họp",
        "date": "Ngày khai mạc",
        "opened": "ngày {day} tháng {month} năm {year}",
        "still_open": "chưa bế mạc",
        "sessions": "Số phiên họp",
        "vote_count": "Số lần biểu quyết",
        "journals": "Nhật ký hệ thống đã đọc",
        "journal": "{path}: mã {id}, {records} bản ghi, mã băm cuối {hash}",
        "copy": "{path}: bản sao của {of} ({records} bản ghi), không tính lại",
        "left_out": "Kỳ họp ngoài phạm vi báo cáo",
        "verify": "Mỗi nhật ký đã được kiểm tra toàn bộ chuỗi mã băm (chamber audit verify).",
        "secret": (
            "Bỏ phiếu kín chỉ được tính là có tham gia; hệ thống không lưu lựa chọn của đại biểu."
        ),
        "none": "Không có",
        "hours": "{h} giờ {m:02d} phút",
        "minutes": "{m} phút {s:02d} giây",
        "seconds": "{s} giây",
        "times": "{n} lần",
        "of": "{n}/{of}",
        "total": "Tổng cộng",
        "by_group": "Theo tổ đại biểu",
        "members": "Số đại biểu",
    },
    Language.EN: {
        "title": "REPORT",
        "subtitle": "Delegates' participation",
        "one": "Participation of {name}",
        "term": "Term",
        "all": "Every sitting in the journals",
        "range": "From {first} to {last}",
        "delegation": "Delegation",
        "sort": "Ranked by",
        "council": "The whole council",
        "sittings": "Sittings",
        "no": "No.",
        "delegate_id": "Delegate id",
        "name": "Name",
        "group": "Delegation",
        "sittings_held": "Sittings",
        "sittings_attended": "Sittings attended",
        "sessions_held": "Sessions",
        "sessions_attended": "Sessions attended",
        "present_s": "Time present (s)",
        "present": "Time present",
        "votes_held": "Votes held",
        "votes_taken": "Votes taken part in",
        "votes": "Votes taken part in",
        "speeches": "Speeches",
        "speech_s": "Speaking time (s)",
        "speech": "Speeches",
        "questions": "Questions",
        "question_s": "Questioning time (s)",
        "question": "Questions",
        "absences": "Absences",
        "reasons": "Reasons for absence",
        "absence_list": "Absences",
        "whole": "absent from the whole sitting",
        "excused": "with leave",
        "unexcused": "without leave",
        "part": "absent from part of the sitting, from {since}",
        "no_reason": "no reason recorded",
        "sitting_id": "Sitting id",
        "sitting": "Sitting",
        "date": "Opened",
        "opened": "{day} {month_name} {year}",
        "still_open": "not closed",
        "sessions": "Sessions",
        "vote_count": "Votes held",
        "journals": "System journals read",
        "journal": "{path}: id {id}, {records} records, last hash {hash}",
        "copy": "{path}: a copy of {of} ({records} records), not counted again",
        "left_out": "Sittings outside the report",
        "verify": "Each journal's whole hash chain was checked (chamber audit verify).",
        "secret": "A secret ballot counts only as taken part in; no delegate's choice is kept.",
        "none": "None",
        "hours": "{h} h {m:02d} min",
        "minutes": "{m} min {s:02d} s",
        "seconds": "{s} s",
        "times": "{n}",
        "of": "{n}/{of}",
        "total": "Total",
        "by_group": "By delegation",
        "members": "Delegates",
    },
}

SORT_WORDS: dict[Language, dict[Sort, str]] = {
    Language.VI: {
        Sort.ORDER: "thứ tự trong danh sách đại biểu",
        Sort.NAME: "tên (theo vần chữ cái)",
        Sort.ATTENDANCE: "số kỳ họp có mặt",
        Sort.VOTES: "tỷ lệ tham gia biểu quyết",
        Sort.SPEECHES: "số lần phát biểu và chất vấn",
        Sort.ABSENCES: "số lần vắng mặt",
    },
    Language.EN: {
        Sort.ORDER: "the order of the delegate list",
        Sort.NAME: "given name",
        Sort.ATTENDANCE: "sittings attended",
        Sort.VOTES: "share of votes taken part in",
        Sort.SPEECHES: "speeches and questions",
        Sort.ABSENCES: "absences",
    },
}


def duration(seconds: float, language: Language) -> str:
    """Whole seconds, rounded half up: "2 giờ 05 phút", "8 phút 48 giây", "40 giây"."""
    t = TEXT[language]
    total = int(seconds + 0.5) if seconds > 0 else 0
    if total >= 3600:
        return t["hours"].format(h=total // 3600, m=(total % 3600) // 60)
    if total >= 60:
        return t["minutes"].format(m=total // 60, s=total % 60)
    return t["seconds"].format(s=total)


def day_text(moment: datetime | None, language: Language) -> str:
    if moment is None:
        return ""
    return TEXT[language]["opened"].format(**date_fields(moment))


def _share(n: int, of: int, language: Language) -> str:
    """ "12/15 (80,0 %)": a count, of how many, and the share with one decimal."""
    text = TEXT[language]["of"].format(n=n, of=of)
    if of <= 0:
        return text
    sep = "\u00a0%" if language is Language.VI else "%"
    return f"{text} ({percent(n, of, language)}{sep})"


def _reason(a: Absence, language: Language) -> str:
    t = TEXT[language]
    what = t["whole"] if a.whole else t["part"].format(since=_clock(a.since, language))
    if a.excused is not None:
        what += f", {t['excused'] if a.excused else t['unexcused']}"
    return f"{what}: {a.reason or t['no_reason']}"


def _clock(moment: datetime | None, language: Language) -> str:
    if moment is None:
        return ""
    f = date_fields(moment)
    if language is Language.VI:
        return f"{f['hour']} giờ {f['minute']}, " + TEXT[language]["opened"].format(**f)
    return f"{f['hour']}:{f['minute']}, " + TEXT[language]["opened"].format(**f)


# --- CSV -----------------------------------------------------------------------------------

COLUMNS = (
    "delegate_id",
    "name",
    "group",
    "sittings_held",
    "sittings_attended",
    "sessions_held",
    "sessions_attended",
    "present_s",
    "votes_held",
    "votes_taken",
    "speeches",
    "speech_s",
    "questions",
    "question_s",
    "absences",
    "reasons",
)

SITTING_COLUMNS = (
    "sitting_id",
    "sitting",
    "date",
    "sessions_held",
    "sessions_attended",
    "present_s",
    "votes_held",
    "votes_taken",
    "speeches",
    "speech_s",
    "questions",
    "question_s",
    "reasons",
)


def _whole(seconds: float) -> int:
    return int(seconds + 0.5) if seconds > 0 else 0


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return CSV_BOM + out.getvalue()


def report_csv(rows: Sequence[DelegateRecord], language: Language = Language.VI) -> str:
    """One row per delegate, headers in `language`; times in whole seconds (Excel-ready)."""
    t = TEXT[language]
    return _csv(
        [t[c] for c in COLUMNS],
        (
            (
                d.delegate_id,
                d.name,
                d.group,
                d.sittings_held,
                d.sittings_attended,
                d.sessions_held,
                d.sessions_attended,
                _whole(d.present_s),
                d.votes_held,
                d.votes_taken,
                d.speeches,
                _whole(d.speech_s),
                d.questions,
                _whole(d.question_s),
                len(d.absences),
                "; ".join(f"{a.sitting.sitting_id}: {_reason(a, language)}" for a in d.absences),
            )
            for d in rows
        ),
    )


def delegate_csv(record: DelegateRecord, language: Language = Language.VI) -> str:
    """One delegate, one row per sitting."""
    t = TEXT[language]
    return _csv(
        [t[c] for c in SITTING_COLUMNS],
        (
            (
                a.sitting.sitting_id,
                a.sitting.title,
                a.sitting.opened.date().isoformat() if a.sitting.opened else "",
                a.sitting.sessions,
                a.sessions,
                _whole(a.present_s),
                a.votes_held,
                a.votes_taken,
                a.speeches,
                _whole(a.speech_s),
                a.questions,
                _whole(a.question_s),
                "; ".join(_reason(x, language) for x in a.absences),
            )
            for a in record.sittings
        ),
    )


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font-family: "Times New Roman", "Noto Serif", "DejaVu Serif", serif; margin: 2em auto;
  max-width: 60em; color: #000; line-height: 1.3; }
table.form, table.form td { border: none; }
table.form td { width: 50%; text-align: center; vertical-align: top; padding: 0; }
.org, .nation { font-weight: bold; }
.motto { font-weight: bold; display: inline-block; border-bottom: 1px solid #000; }
.place-date { font-style: italic; margin-top: 0.6em; }
h1 { font-size: 1.4em; text-align: center; margin: 1em 0 0.2em; }
p.sub { text-align: center; margin: 0 0 1em; }
h2 { font-size: 1.1em; margin-top: 1.4em; border-bottom: 1px solid #000; }
table.data { border-collapse: collapse; width: 100%; margin: 0.4em 0 0.8em; font-size: 0.9em; }
table.data th, table.data td { border: 1px solid #444; padding: 0.15em 0.3em; text-align: left;
  vertical-align: top; }
table.data td:first-child, table.data th:first-child { white-space: nowrap; }
table.data td.n, table.data th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
.note { font-size: 0.9em; }
.hash { font-family: monospace; font-size: 0.8em; word-break: break-all; }
@page { size: A4 landscape; margin: 1.5cm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _head(report: TermReport, language: Language, title: str, issued: date | None) -> list[str]:
    w = WORDS[language]
    body = report.config.hall.body.name.upper()
    place_date = ""
    if issued is not None:
        when = w["date"].format(**date_fields(datetime.combine(issued, datetime.min.time())))
        place = report.config.place
        place_date = f"{place}, {when}" if place else when[0].upper() + when[1:]
    return [
        "<!DOCTYPE html>",
        f'<html lang="{language.value}"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        '<table class="form"><tr>',
        f'<td><div class="org">{_e(body)}</div></td>',
        f'<td><div class="nation">{_e(w["nation"])}</div>'
        f'<div class="motto">{_e(w["motto"])}</div>'
        + (f'<div class="place-date">{_e(place_date)}</div>' if place_date else "")
        + "</td>",
        "</tr></table>",
    ]


def _scope(report: TermReport, language: Language) -> str:
    t = TEXT[language]
    parts = []
    if report.term is not None:
        name = report.term.name
        # "Nhiệm kỳ 2021-2026" says it already; "2021-2026" alone is said to be the term.
        parts.append(name if _fold(name).startswith(_fold(t["term"])) else f"{t['term']} {name}")
    else:
        parts.append(t["all"])
    dated = [s.opened for s in report.sittings if s.opened is not None]
    if dated:
        first, last = day_text(dated[0], language), day_text(dated[-1], language)
        parts.append(t["range"].format(first=first, last=last))
    return ". ".join(parts)


def _sittings_table(report: TermReport, language: Language) -> list[str]:
    t = TEXT[language]
    out = [
        f"<h2>{_e(t['sittings'])}</h2>",
        f'<table class="data"><thead><tr><th class="n">{_e(t["no"])}</th>'
        f"<th>{_e(t['sitting'])}</th><th>{_e(t['date'])}</th>"
        f'<th class="n">{_e(t["sessions"])}</th><th class="n">{_e(t["vote_count"])}</th>'
        "</tr></thead><tbody>",
    ]
    for n, s in enumerate(report.sittings, start=1):
        when = day_text(s.opened, language)
        if s.closed is None:
            when += f" ({t['still_open']})"
        out.append(
            f'<tr><td class="n">{n}</td><td>{_e(s.title)}</td><td>{_e(when)}</td>'
            f'<td class="n">{s.sessions}</td><td class="n">{s.votes}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _appendix(report: TermReport, language: Language) -> list[str]:
    t = TEXT[language]
    out = [f"<h2>{_e(t['journals'])}</h2>", '<ul class="hash">']
    for j in report.journals:
        line = t["journal"].format(
            path=j.path.name, id=j.journal_id, records=j.records, hash=j.head_hash
        )
        out.append(f"<li>{_e(line)}</li>")
    for c in report.copies:
        line = t["copy"].format(path=c.path.name, of=c.of.name, records=c.records)
        out.append(f"<li>{_e(line)}</li>")
    out.append("</ul>")
    if report.left_out:
        out.append(f'<p class="note">{_e(t["left_out"])}: ')
        out.append(_e("; ".join(f"{title} ({sid})" for sid, title in report.left_out)))
        out.append("</p>")
    out.append(f'<p class="note">{_e(t["verify"])} {_e(t["secret"])}</p>')
    return out


def report_html(
    report: TermReport,
    rows: Sequence[DelegateRecord],
    language: Language = Language.VI,
    *,
    delegation: str | None = None,
    sort: Sort = Sort.ORDER,
    issued: date | None = None,
) -> str:
    """The council's report: one row per delegate of `rows`, the total, the absences with
    their reasons, the sittings and the journals read. Self-contained and printable (A4)."""
    t = TEXT[language]
    out = _head(report, language, t["subtitle"], issued)
    out.append(f"<h1>{_e(t['title'])}</h1>")
    out.append(f'<p class="sub">{_e(t["subtitle"])}<br>{_e(_scope(report, language))}</p>')
    lines = []
    if delegation is not None:
        group = rows[0].group if rows else delegation
        lines.append(f"{t['delegation']}: {group}")
    lines.append(f"{t['sort']}: {SORT_WORDS[language][sort]}")
    out.append(f'<p class="note">{"<br>".join(_e(x) for x in lines)}</p>')
    out.append(
        '<table class="data"><thead><tr>'
        f'<th class="n">{_e(t["no"])}</th><th>{_e(t["name"])}</th><th>{_e(t["group"])}</th>'
        f'<th class="n">{_e(t["sittings_attended"])}</th>'
        f'<th class="n">{_e(t["sessions_attended"])}</th>'
        f'<th class="n">{_e(t["present"])}</th><th class="n">{_e(t["votes"])}</th>'
        f'<th class="n">{_e(t["speech"])}</th><th class="n">{_e(t["question"])}</th>'
        f'<th class="n">{_e(t["absences"])}</th></tr></thead><tbody>'
    )
    for n, d in enumerate(rows, start=1):
        out.append(_row(str(n), d.name, d.group, d, language))
    total = _Total(rows)
    out.append(_row("", t["total"], "", total, language, css="total"))
    out.append("</tbody></table>")
    groups = by_delegation(rows)
    if len(groups) > 1:
        out.append(f"<h2>{_e(t['by_group'])}</h2>")
        out.append(
            '<table class="data by-group"><thead><tr>'
            f'<th class="n">{_e(t["no"])}</th><th>{_e(t["group"])}</th>'
            f'<th class="n">{_e(t["members"])}</th>'
            f'<th class="n">{_e(t["sittings_attended"])}</th>'
            f'<th class="n">{_e(t["sessions_attended"])}</th>'
            f'<th class="n">{_e(t["present"])}</th><th class="n">{_e(t["votes"])}</th>'
            f'<th class="n">{_e(t["speech"])}</th><th class="n">{_e(t["question"])}</th>'
            f'<th class="n">{_e(t["absences"])}</th></tr></thead><tbody>'
        )
        for n, (group, members) in enumerate(groups.items(), start=1):
            out.append(
                _row(str(n), group, str(len(members)), _Total(members), language, numeric=True)
            )
        out.append("</tbody></table>")
    out.append(f"<h2>{_e(t['absence_list'])}</h2>")
    absent = [(d, a) for d in rows for a in d.absences]
    if not absent:
        out.append(f"<p>{_e(t['none'])}</p>")
    else:
        out.append("<ul>")
        for d, a in absent:
            out.append(
                f"<li>{_e(d.name)}, {_e(a.sitting.title)} "
                f"({_e(day_text(a.sitting.opened, language))}): {_e(_reason(a, language))}</li>"
            )
        out.append("</ul>")
    out.extend(_sittings_table(report, language))
    out.extend(_appendix(report, language))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def by_delegation(rows: Sequence[DelegateRecord]) -> dict[str, list[DelegateRecord]]:
    """The delegates of `rows` by delegation, in the order the delegations first appear."""
    groups: dict[str, list[DelegateRecord]] = {}
    for d in rows:
        groups.setdefault(d.group, []).append(d)
    return groups


class _Total:
    """The council's sums over `rows`, shaped like a delegate's record for `_row`."""

    def __init__(self, rows: Sequence[DelegateRecord]) -> None:
        self.sittings_held = sum(d.sittings_held for d in rows)
        self.sittings_attended = sum(d.sittings_attended for d in rows)
        self.sessions_held = sum(d.sessions_held for d in rows)
        self.sessions_attended = sum(d.sessions_attended for d in rows)
        self.present_s = sum(d.present_s for d in rows)
        self.votes_held = sum(d.votes_held for d in rows)
        self.votes_taken = sum(d.votes_taken for d in rows)
        self.speeches = sum(d.speeches for d in rows)
        self.speech_s = sum(d.speech_s for d in rows)
        self.questions = sum(d.questions for d in rows)
        self.question_s = sum(d.question_s for d in rows)
        self.absences = [a for d in rows for a in d.absences]


def _row(
    no: str,
    name: str,
    group: str,
    d: DelegateRecord | _Total,
    language: Language,
    css: str = "",
    *,
    numeric: bool = False,
) -> str:
    """A row of figures; `numeric`: the third cell is a number (a delegation's members)."""
    t = TEXT[language]

    def said(count: int, seconds: float) -> str:
        if count == 0:
            return "0"
        return f"{t['times'].format(n=count)}, {duration(seconds, language)}"

    cls = f' class="{css}"' if css else ""
    third = ' class="n"' if numeric else ""
    return (
        f'<tr{cls}><td class="n">{_e(no)}</td><td>{_e(name)}</td>'
        f"<td{third}>{_e(group)}</td>"
        f'<td class="n">{_e(_share(d.sittings_attended, d.sittings_held, language))}</td>'
        f'<td class="n">{_e(_share(d.sessions_attended, d.sessions_held, language))}</td>'
        f'<td class="n">{_e(duration(d.present_s, language))}</td>'
        f'<td class="n">{_e(_share(d.votes_taken, d.votes_held, language))}</td>'
        f'<td class="n">{_e(said(d.speeches, d.speech_s))}</td>'
        f'<td class="n">{_e(said(d.questions, d.question_s))}</td>'
        f'<td class="n">{len(d.absences)}</td></tr>'
    )


def delegate_html(
    report: TermReport,
    record: DelegateRecord,
    language: Language = Language.VI,
    *,
    issued: date | None = None,
) -> str:
    """One delegate's record, sitting by sitting, with the term's totals."""
    t = TEXT[language]
    title = t["one"].format(name=record.name)
    out = _head(report, language, title, issued)
    out.append(f"<h1>{_e(t['title'])}</h1>")
    out.append(f'<p class="sub">{_e(title)}<br>{_e(_scope(report, language))}</p>')
    out.append(
        f'<p class="note">{_e(t["group"])}: {_e(record.group)}<br>'
        f"{_e(t['delegate_id'])}: {_e(record.delegate_id)}</p>"
    )
    out.append(
        '<table class="data"><thead><tr>'
        f'<th class="n">{_e(t["no"])}</th><th>{_e(t["sitting"])}</th><th>{_e(t["date"])}</th>'
        f'<th class="n">{_e(t["sessions_attended"])}</th>'
        f'<th class="n">{_e(t["present"])}</th><th class="n">{_e(t["votes"])}</th>'
        f'<th class="n">{_e(t["speech"])}</th><th class="n">{_e(t["question"])}</th>'
        f"<th>{_e(t['reasons'])}</th></tr></thead><tbody>"
    )

    def said(count: int, seconds: float) -> str:
        if count == 0:
            return "0"
        return f"{t['times'].format(n=count)}, {duration(seconds, language)}"

    for n, a in enumerate(record.sittings, start=1):
        out.append(
            f'<tr><td class="n">{n}</td><td>{_e(a.sitting.title)}</td>'
            f"<td>{_e(day_text(a.sitting.opened, language))}</td>"
            f'<td class="n">{_e(_share(a.sessions, a.sitting.sessions, language))}</td>'
            f'<td class="n">{_e(duration(a.present_s, language))}</td>'
            f'<td class="n">{_e(_share(a.votes_taken, a.votes_held, language))}</td>'
            f'<td class="n">{_e(said(a.speeches, a.speech_s))}</td>'
            f'<td class="n">{_e(said(a.questions, a.question_s))}</td>'
            f"<td>{_e('; '.join(_reason(x, language) for x in a.absences))}</td></tr>"
        )
    out.append(
        f'<tr class="total"><td></td><td>{_e(t["total"])}</td>'
        f"<td>{_e(_share(record.sittings_attended, record.sittings_held, language))}</td>"
        f'<td class="n">'
        f"{_e(_share(record.sessions_attended, record.sessions_held, language))}</td>"
        f'<td class="n">{_e(duration(record.present_s, language))}</td>'
        f'<td class="n">{_e(_share(record.votes_taken, record.votes_held, language))}</td>'
        f'<td class="n">{_e(said(record.speeches, record.speech_s))}</td>'
        f'<td class="n">{_e(said(record.questions, record.question_s))}</td>'
        f"<td>{len(record.absences)}</td></tr>"
    )
    out.append("</tbody></table>")
    out.extend(_appendix(report, language))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --- PDF -----------------------------------------------------------------------------------


def html_to_pdf(page: str, out: Path, *, chromium: str | None = None) -> None:
    """Print `page` to a PDF file with headless Chromium (A4, as its CSS asks)."""
    exe = chromium or shutil.which(CHROMIUM) or shutil.which("chromium-browser")
    if exe is None:
        raise ReportError("PDF needs Chromium (the Debian package `chromium`); none found")
    with tempfile.TemporaryDirectory(prefix="chamber-report-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(page, encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            source.as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"Chromium could not print the report: {exc}") from exc
        if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise ReportError(
                f"Chromium could not print the report (exit {done.returncode}"
                + (f": {tail[0][:200]}" if tail else "")
                + ")"
            )
        shutil.copyfile(target, out)


# --- the command line ----------------------------------------------------------------------


class Format(StrEnum):
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (write YYYY-MM-DD)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "journals",
        nargs="+",
        type=Path,
        help="journal files, or directories to search for journals (data directories, backups)",
    )
    parser.add_argument("--config", type=Path, required=True, help="the hall's TOML file")
    parser.add_argument("--format", choices=[f.value for f in Format], default="html")
    parser.add_argument(
        "--lang",
        choices=[lang.value for lang in Language],
        default=Language.VI.value,
        help="language of the report (default: vi)",
    )
    parser.add_argument("--delegation", help="only this delegation (tổ đại biểu)")
    parser.add_argument("--delegate", help="one delegate's record, sitting by sitting (an id)")
    parser.add_argument(
        "--sort", choices=[s.value for s in Sort], default=Sort.ORDER.value, help="rank by"
    )
    parser.add_argument("--since", type=_day, help="first day of the range (YYYY-MM-DD)")
    parser.add_argument("--until", type=_day, help="last day of the range (YYYY-MM-DD)")
    parser.add_argument(
        "--sitting", action="append", default=[], help="only this sitting (repeatable)"
    )
    parser.add_argument(
        "--all-sittings",
        action="store_true",
        help="ignore the hall file's [term]: every sitting found",
    )
    parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")


def render(
    report: TermReport,
    fmt: Format,
    language: Language,
    *,
    delegation: str | None = None,
    delegate: str | None = None,
    sort: Sort = Sort.ORDER,
    issued: date | None = None,
) -> str:
    """The report as CSV or HTML text (a PDF is printed from the HTML). `issued`: the day
    the report is made, for the place and date line (None: no date line)."""
    if delegate is not None:
        record = next((d for d in report.delegates if d.delegate_id == delegate), None)
        if record is None:
            raise ReportError(f"no delegate {delegate!r} in the hall file")
        if fmt is Format.CSV:
            return delegate_csv(record, language)
        return delegate_html(report, record, language, issued=issued)
    rows = select(report, delegation=delegation, sort=sort)
    if fmt is Format.CSV:
        return report_csv(rows, language)
    return report_html(report, rows, language, delegation=delegation, sort=sort, issued=issued)


def run(args: argparse.Namespace) -> int:
    """Exit 0 on success, 2 if a journal, the hall file or an option cannot be used."""
    from chamber.controller.config import ConfigError, load_config

    fmt = Format(args.format)
    language = Language(args.lang)
    if fmt is Format.PDF and args.output is None:
        print("error: a PDF needs --output FILE", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        if args.all_sittings:
            config = _without_term(config)
        report = collect(
            args.journals,
            config,
            since=args.since,
            until=args.until,
            sittings=args.sitting,
        )
        text = render(
            report,
            Format.HTML if fmt is Format.PDF else fmt,
            language,
            delegation=args.delegation,
            delegate=args.delegate,
            sort=Sort(args.sort),
            issued=today(config),
        )
        if fmt is Format.PDF:
            html_to_pdf(text, args.output)
            return 0
    except (ConfigError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text)
    return 0


def today(config: HallConfig) -> date:
    """The day it is in the hall's time zone: the report's date line."""
    return datetime.now(ZoneInfo(config.timezone)).date()


def _without_term(config: HallConfig) -> HallConfig:
    from dataclasses import replace

    return replace(config, term=None)
