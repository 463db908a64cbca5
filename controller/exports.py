"""Exports for the council's secretariat: results, the participation record and the minutes.

Everything here is derived from the journal alone: the journal is replayed into a fresh
`MeetingCore`, so an export can never disagree with what the hall recorded, and it can be
made again later, on another machine, from a copy of the journal and the hall's file.

Formats: CSV and JSON (UTF-8; Vietnamese names as they are), and printable HTML minutes in
Vietnamese or English. Results carry the journal's hash at the record that closed each vote,
so a printed result can be tied to the chain (`chamber audit verify`). The journal is read
through its one reader, `controller.journal.JournalReader`, and nothing here touches its
SQLite file directly: a damaged or changed journal gives an `ExportError` naming the
first bad record, never an export.

A practice vote (biểu quyết thử) is in no export: it is not part of the record. An annulled
vote (hủy kết quả) stays, marked with the chair's reason, and decides nothing; a vote run again
(biểu quyết lại) names the one it replaces; a result the chair entered says how it was taken
(show of hands or paper). The minutes say each of these in words.

A secret vote appears only with its totals and as "took part" in the participation record:
the core never keeps its seats' choices, so no export can contain them. This module reads
the journal file and writes export files; it never writes to the journal.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import html
import io
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chamber.controller.config import HallConfig
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import DID_NOT_VOTE, answer_labels
from chamber.controller.core.inputs import (
    AnnulVote,
    CloseVote,
    EnterManualResult,
    InputRecordError,
    PublishVote,
    SecretVoteSealed,
    from_record,
)
from chamber.controller.core.kinds import KIND_LABELS
from chamber.controller.core.model import AnswerSet, Language, Role, SpeakerList
from chamber.controller.core.participation import Participation
from chamber.controller.core.rules import Counts, decide
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.votes import VoteDefinition, VoteResult, VoteState
from chamber.controller.journal import (
    JournalError,
    JournalReader,
    JournalRecord,
    JournalVersionError,
    NotAJournalError,
)

# Excel opens a CSV file as UTF-8 only when it starts with a byte order mark; without it,
# Windows Excel reads the file in the machine's legacy code page (e.g. cp1258 or cp1252) and
# "Phạm Mạnh Dũng" comes out as mojibake. Other tools (Python, LibreOffice) skip the BOM.
CSV_BOM = "\ufeff"


class ExportError(Exception):
    """An export cannot be made: the journal cannot be read, or the sitting does not exist.

    `code` and `params` name it as a refusal of the API (`core.refusals`); without a code of
    its own it is "export.failed", with the message as its reason."""

    def __init__(
        self, message: str, code: str = "export.failed", **params: str | int | float
    ) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, str | int | float] = (
            {"reason": message} if code == "export.failed" else params
        )


class What(StrEnum):
    RESULTS = "results"
    PARTICIPATION = "participation"
    MINUTES = "minutes"


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    HTML = "html"


# --- reading the journal ------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedVote:
    """A vote's final result, with where it stands in the journal's chain."""

    sitting_id: str
    sitting_title: str
    definition: VoteDefinition
    result: VoteResult
    # The record after which the result was final (for a secret vote, its sealed record),
    # and that record's chain hash.
    seq: int
    head_hash: str
    published: bool = False
    # When it closed, in the hall's time zone (ISO 8601); "" if the journal has no clock anchor.
    closed_local: str = ""


@dataclass
class JournalView:
    """A replayed journal: the core as it stands at the end, and every vote's final result."""

    config: HallConfig
    core: MeetingCore
    journal_id: str
    head_seq: int
    head_hash: str
    votes: dict[str, ClosedVote] = field(default_factory=dict)
    # Sittings in the order they were opened: (id, title).
    sittings: list[tuple[str, str]] = field(default_factory=list)

    def sitting_votes(self, sitting_id: str | None) -> list[ClosedVote]:
        return [v for v in self.votes.values() if sitting_id is None or v.sitting_id == sitting_id]

    def last_sitting(self) -> str:
        if not self.sittings:
            raise ExportError("the journal holds no sitting", "export.no_sitting")
        return self.sittings[-1][0]

    def sitting_title(self, sitting_id: str) -> str:
        for sid, title in self.sittings:
            if sid == sitting_id:
                return title
        raise ExportError(
            f"no sitting {sitting_id!r} in the journal",
            "export.sitting_not_found",
            sitting=sitting_id,
        )


def _records(reader: JournalReader) -> Iterator[JournalRecord]:
    """The journal's records through its one reader (`controller.journal.JournalReader`):
    read-only, so an export never writes to the journal and works on a copy of it, and every
    record checked against the chain before it is used, and the end against the journal's head
    and head file, so an export is never built from a damaged or changed journal."""
    path = reader.path
    if not path.is_file():
        raise ExportError(f"{path}: no such journal")
    try:
        yield from reader.records()
    except (NotAJournalError, JournalVersionError) as exc:
        raise ExportError(str(exc)) from exc
    except JournalError as exc:
        raise ExportError(f"{exc}; run `chamber audit verify {path}`") from exc


def _note_vote(view: JournalView, vote_id: str, seq: int, digest: str, *, sealed: bool) -> None:
    core = view.core
    vote = core.votes.get(vote_id)
    if vote is None or vote.result is None:
        return  # cancelled, or a refused command
    if vote.definition.practice:
        return  # a practice vote is not part of the record
    known = view.votes.get(vote_id)
    if known is not None and known.result.annulled is None and vote.result.annulled is not None:
        # Annulled after its close: the same result, marked, final at the annulment.
        view.votes[vote_id] = replace(known, result=vote.result, seq=seq, head_hash=digest)
        return
    if known is None or sealed:
        # For a secret vote the sealed record, not the close, makes the result final.
        view.votes[vote_id] = ClosedVote(
            core.sitting_id or "",
            core.sitting_title,
            vote.definition,
            vote.result,
            seq,
            digest,
            closed_local=local_time(core, view.config.timezone, vote.result.closed_at),
        )
    elif vote.state is VoteState.PUBLISHED:
        view.votes[vote_id] = replace(known, published=True)


def local_time(core: MeetingCore, timezone: str, at: float | None) -> str:
    """The core time `at` as an ISO 8601 date and time in the hall's zone ("" if unknown)."""
    unix = core.unix_time(at) if at is not None else None
    if unix is None:
        return ""
    moment = datetime.fromtimestamp(unix, ZoneInfo(timezone))
    return moment.isoformat(timespec="seconds")


def replay_journal(path: str | Path, config: HallConfig) -> JournalView:
    """Replay a journal file into a fresh core and note where each vote's result became final."""
    reader = JournalReader(path)
    core = MeetingCore(config.hall)
    view = JournalView(config, core, "", 0, "")
    for seq, record, digest in _records(reader):
        try:
            inp = from_record(record)
        except InputRecordError as exc:
            raise ExportError(f"record {seq}: {exc}") from exc
        active = core.active_vote
        # Journaled inputs were accepted once; a refusal here changes nothing, as it did not.
        with contextlib.suppress(CommandRejected):
            core.handle(inp)
        view.head_seq, view.head_hash = seq, digest
        if core.sitting_id is not None and (
            not view.sittings or view.sittings[-1][0] != core.sitting_id
        ):
            view.sittings.append((core.sitting_id, core.sitting_title))
        # Only the votes this record could have closed, published or sealed: a vote closes
        # by a command, or by its deadline on whatever input comes next.
        touched: set[str] = set()
        if active is not None and core.active_vote is not active:
            touched.add(active.vote_id)
        if isinstance(
            inp, CloseVote | PublishVote | SecretVoteSealed | AnnulVote | EnterManualResult
        ):
            touched.add(inp.vote_id)
        for vote_id in touched:
            _note_vote(view, vote_id, seq, digest, sealed=isinstance(inp, SecretVoteSealed))
    view.journal_id = reader.journal_id or ""
    return view


# --- results --------------------------------------------------------------------------------


def _labels(definition: VoteDefinition, language: Language) -> tuple[str, ...]:
    if definition.answers is AnswerSet.CHOICES:
        return definition.options
    return answer_labels(language, definition.answers)


def explanation(vote: ClosedVote, language: Language) -> str:
    """The outcome sentence in `language`: decided again from the stored counts, so the
    English minutes of a Vietnamese hall say the same thing in English."""
    d, r = vote.definition, vote.result
    if d.weighted:
        return r.outcome.explanation  # weighted counts are not all kept in the result
    counts = Counts(
        options=r.totals,
        abstain_key=d.abstain_key,
        present=r.present,
        entitled=r.entitled,
        all_members=r.all_members,
    )
    choices = _labels(d, language) if d.answers is AnswerSet.CHOICES else None
    return decide(d.rule, counts, language, choices=choices).explanation


def result_json(vote: ClosedVote, language: Language | None = None) -> dict[str, Any]:
    d, r = vote.definition, vote.result
    labels = _labels(d, language) if language is not None else d.options
    return {
        "sitting_id": vote.sitting_id,
        "sitting_title": vote.sitting_title,
        "vote_id": d.vote_id,
        "title": d.title,
        "item_id": d.item_id,
        "mode": d.mode.value,
        "kind": d.kind.value,
        "answers": d.answers.value,
        "weighted": d.weighted,
        "rerun_of": d.rerun_of,
        "manual": r.manual.value if r.manual is not None else None,
        "annulled": r.annulled is not None,
        "annulled_reason": r.annulled.reason if r.annulled is not None else None,
        "totals": [
            {"key": k, "label": label, "count": c}
            for k, (label, c) in enumerate(zip(labels, r.totals, strict=True), start=1)
        ],
        "weighted_totals": list(r.weighted_totals) if r.weighted_totals is not None else None,
        "voted": r.voted,
        "did_not_vote": r.did_not_vote,
        "present": r.present,
        "entitled": r.entitled,
        "all_members": r.all_members,
        "rule": r.outcome.rule,
        "base": r.outcome.base.value,
        "base_count": r.outcome.base_count,
        "required": r.outcome.required,
        "adopted": r.outcome.adopted,
        "tie": r.outcome.tie,
        "explanation": (
            explanation(vote, language) if language is not None else r.outcome.explanation
        ),
        "closed_at": r.closed_at,
        "closed_local": vote.closed_local,
        "auto_closed": r.auto_closed,
        "published": vote.published,
        "journal_seq": vote.seq,
        "journal_hash": vote.head_hash,
    }


RESULT_COLUMNS = (
    "sitting_id",
    "vote_id",
    "title",
    "item_id",
    "kind",
    "mode",
    "rerun_of",
    "manual",
    "annulled",
    "annulled_reason",
    "key",
    "option",
    "count",
    "voted",
    "did_not_vote",
    "present",
    "entitled",
    "all_members",
    "rule",
    "required",
    "adopted",
    "explanation",
    "closed_local",
    "journal_seq",
    "journal_hash",
)


def _csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    # Excel's own dialect: CRLF line ends, quoted where needed.
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return CSV_BOM + out.getvalue()


def results_csv(view: JournalView, sitting_id: str | None = None) -> str:
    """One row per vote and option (a long table: pivot it in a spreadsheet)."""
    rows: list[dict[str, Any]] = []
    for vote in view.sitting_votes(sitting_id):
        data = result_json(vote)
        for total in data["totals"]:
            rows.append(
                {c: data[c] for c in RESULT_COLUMNS if c in data}
                | {"key": total["key"], "option": total["label"], "count": total["count"]}
            )
    return _csv(RESULT_COLUMNS, rows)


def results_json(view: JournalView, sitting_id: str | None = None) -> str:
    body = {
        "hall": {"id": view.config.hall_id, "name": view.config.hall.body.name},
        "journal": {"id": view.journal_id, "seq": view.head_seq, "head_hash": view.head_hash},
        "results": [result_json(v) for v in view.sitting_votes(sitting_id)],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


# --- participation -------------------------------------------------------------------------


def participation(view: JournalView, sitting_id: str | None = None) -> list[Participation]:
    sid = sitting_id or view.last_sitting()
    view.sitting_title(sid)  # raises for an unknown sitting
    try:
        return list(view.core.participation(sid).values())
    except CommandRejected as exc:
        raise ExportError(exc.message, exc.code, **exc.params) from exc


PARTICIPATION_COLUMNS = (
    "sitting_id",
    "delegate_id",
    "name",
    "group",
    "present_s",
    "votes_taken",
    "votes_missed",
    "votes",
    "speeches",
    "speaking_s",
    "speak_s",
    "question_s",
    "reply_s",
)


def participation_csv(view: JournalView, sitting_id: str | None = None) -> str:
    rows = []
    for p in participation(view, sitting_id):
        rows.append(
            {
                "sitting_id": p.sitting_id,
                "delegate_id": p.delegate_id,
                "name": p.name,
                "group": p.group,
                "present_s": round(p.present_s, 1),
                "votes_taken": len(p.votes),
                "votes_missed": " ".join(p.votes_missed),
                # A secret vote shows only that the delegate took part.
                "votes": "; ".join(
                    f"{v.vote_id}={v.label}" if v.label is not None else v.vote_id for v in p.votes
                ),
                "speeches": len(p.speeches),
                "speaking_s": round(p.speaking_s(), 1),
                "speak_s": round(p.speaking_s(SpeakerList.SPEAK), 1),
                "question_s": round(p.speaking_s(SpeakerList.QUESTION), 1),
                "reply_s": round(p.speaking_s(SpeakerList.REPLY), 1),
            }
        )
    return _csv(PARTICIPATION_COLUMNS, rows)


def participation_json(view: JournalView, sitting_id: str | None = None) -> str:
    sid = sitting_id or view.last_sitting()
    body = {
        "hall": {"id": view.config.hall_id, "name": view.config.hall.body.name},
        "sitting": {"id": sid, "title": view.sitting_title(sid)},
        "delegates": [p.to_json() for p in participation(view, sid)],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


# --- minutes --------------------------------------------------------------------------------

WORDS: dict[Language, dict[str, str]] = {
    Language.VI: {
        "minutes": "Biên bản kỳ họp",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số: ……/BB-HĐND",
        "title": "BIÊN BẢN",
        "date": "ngày {day} tháng {month} năm {year}",
        "start": "Thời gian bắt đầu",
        "end": "Thời gian kết thúc",
        "clock": "{hour} giờ {minute}, ngày {day} tháng {month} năm {year}",
        "chair": "Chủ tọa",
        "secretary": "Thư ký",
        "sign": "(Ký, ghi rõ họ tên)",
        "opened": "Khai mạc",
        "sitting": "Kỳ họp",
        "agenda": "Chương trình",
        "attendance": "Điểm danh",
        "present": "Có mặt",
        "members": "Tổng số đại biểu",
        "votes": "Kết quả biểu quyết",
        "secret": "Bỏ phiếu kín",
        "open": "Biểu quyết công khai",
        "roll-call": "Biểu quyết theo danh sách",
        "voted": "Số đại biểu tham gia biểu quyết",
        "adopted": "Thông qua",
        "rejected": "Không thông qua",
        "delegate": "Đại biểu",
        "group": "Tổ",
        "presence": "Thời gian có mặt",
        "speeches": "Phát biểu",
        "speaking": "Thời gian phát biểu",
        "record": "Tham gia biểu quyết",
        "by_choice": "Kết quả theo đại biểu",
        "journal": "Nhật ký hệ thống: bản ghi {seq}, mã băm {hash}",
        "verify": "Kiểm tra bằng lệnh: chamber audit verify",
        "none": "Không có",
        "minute": "phút",
        "decimal": ",",
        "share": "{pct}% tổng số đại biểu",
        "annulled": "Kết quả đã bị hủy",
        "reason": "Lý do",
        "rerun": "Biểu quyết lại, thay cho lần biểu quyết {vote_id} đã bị hủy kết quả",
        "show-of-hands": "Kết quả biểu quyết bằng hình thức giơ tay, do chủ tọa nhập vào hệ thống",
        "paper": "Kết quả bỏ phiếu bằng phiếu giấy, do chủ tọa nhập vào hệ thống",
        "roll_call": (
            "Điểm danh lần {number}{when}: {count} đại biểu xác nhận có mặt, trong đó {voting} "
            "đại biểu có quyền biểu quyết (cần ít nhất {required})"
        ),
        "quorate": "đủ số đại biểu",
        "not_quorate": "không đủ số đại biểu",
        "marks": "Có mặt, vắng mặt do chủ tọa hoặc thư ký ghi nhận",
        "marked_present": "có mặt",
        "marked_absent": "vắng mặt",
        "seat": "Ghế số {seat}",
        "moves": "Đại biểu chuyển chỗ ngồi",
        "move": "{name}: từ ghế số {from_seat} sang ghế số {to_seat}",
        "move_card": "{name}: ngồi ghế số {to_seat} bằng thẻ của mình",
        "move_card_from": "{name}: ngồi ghế số {to_seat} (trước đó là ghế của {other}) bằng thẻ"
        " của mình",
    },
    Language.EN: {
        "minutes": "Minutes of the sitting",
        "nation": "SOCIALIST REPUBLIC OF VIET NAM",
        "motto": "Independence - Freedom - Happiness",
        "number": "No.: ……/BB-HĐND",
        "title": "MINUTES",
        "date": "{day} {month_name} {year}",
        "start": "Opened at",
        "end": "Closed at",
        "clock": "{hour}:{minute}, {day} {month_name} {year}",
        "chair": "Chair",
        "secretary": "Secretary",
        "sign": "(Signature and full name)",
        "opened": "Opened",
        "sitting": "Sitting",
        "agenda": "Agenda",
        "attendance": "Attendance",
        "present": "Present",
        "members": "Total members",
        "votes": "Votes",
        "secret": "Secret ballot",
        "open": "Open vote",
        "roll-call": "Roll-call vote",
        "voted": "Members who voted",
        "adopted": "Adopted",
        "rejected": "Not adopted",
        "delegate": "Delegate",
        "group": "Group",
        "presence": "Time present",
        "speeches": "Speeches",
        "speaking": "Speaking time",
        "record": "Votes taken part in",
        "by_choice": "Individual results",
        "journal": "System journal: record {seq}, hash {hash}",
        "verify": "Check with: chamber audit verify",
        "none": "None",
        "minute": "min",
        "decimal": ".",
        "share": "{pct}% of all members",
        "annulled": "Result annulled",
        "reason": "Reason",
        "rerun": "Vote run again, in place of vote {vote_id}, whose result was annulled",
        "show-of-hands": "Result taken by show of hands, entered by the chair",
        "paper": "Result taken on paper ballots, entered by the chair",
        "roll_call": (
            "Roll call {number}{when}: {count} delegates confirmed their presence, {voting} of "
            "them members who may vote (at least {required} needed)"
        ),
        "quorate": "quorate",
        "not_quorate": "not quorate",
        "marks": "Presence marked by hand (the chair or the secretary)",
        "marked_present": "present",
        "marked_absent": "absent",
        "seat": "Seat {seat}",
        "moves": "Delegates moved to another seat",
        "move": "{name}: from seat {from_seat} to seat {to_seat}",
        "move_card": "{name}: took seat {to_seat} with their own card",
        "move_card_from": "{name}: took seat {to_seat} (until then {other}'s) with their own card",
    },
}

_PRINT_CSS = """
body { font-family: "Times New Roman", "Noto Serif", serif; margin: 2em auto; max-width: 52em;
  color: #000; line-height: 1.35; }
h1 { font-size: 1.5em; text-align: center; margin-bottom: 0.2em; }
table.form, table.form td, table.signatures, table.signatures td { border: none; }
table.form td { width: 50%; text-align: center; vertical-align: top; padding: 0; }
.org { font-weight: bold; text-transform: none; }
.nation { font-weight: bold; }
.motto { font-weight: bold; display: inline-block; border-bottom: 1px solid #000;
  padding-bottom: 0.1em; }
.place-date { font-style: italic; margin-top: 0.6em; }
.rule-short { display: inline-block; width: 30%; border-bottom: 1px solid #000; }
table.signatures td { width: 50%; text-align: center; vertical-align: top; padding-top: 1em; }
.signer { font-weight: bold; }
.signer-name { margin-top: 5em; font-weight: bold; }
h2 { font-size: 1.2em; border-bottom: 1px solid #000; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
p.sub { text-align: center; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0 0.8em; }
th, td { border: 1px solid #444; padding: 0.15em 0.4em; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.outcome { font-weight: bold; }
.mark { font-style: italic; }
.annulled { text-decoration: none; border: 1px solid #000; padding: 0.2em 0.4em; }
.hash { font-family: monospace; font-size: 0.85em; word-break: break-all; }
section.vote { break-inside: avoid; page-break-inside: avoid; }
@page { size: A4; margin: 2cm; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
}
"""


def percent(count: int, of: int, language: Language) -> str:
    """`count` of `of` as a percentage with one decimal, rounded half up, exactly; Vietnamese
    writes the decimal separator as a comma ("68,0")."""
    if of <= 0:
        return "0,0" if language is Language.VI else "0.0"
    tenths = Fraction(count * 1000, of)
    rounded = math.floor(tenths + Fraction(1, 2))
    text = f"{rounded // 10}.{rounded % 10}"
    return text.replace(".", ",") if language is Language.VI else text


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _minutes(seconds: float, words: dict[str, str]) -> str:
    """Minutes with one decimal, in the language's decimal separator ("1,5 phút")."""
    return f"{seconds / 60:.1f}".replace(".", words["decimal"]) + f" {words['minute']}"


def minutes_html(
    view: JournalView, language: Language | None = None, sitting_id: str | None = None
) -> str:
    """A self-contained, printable HTML page (inline CSS, no scripts, no outside resources)."""
    lang = language or view.config.hall.language
    w = WORDS[lang]
    sid = sitting_id or view.last_sitting()
    title = view.sitting_title(sid)
    hall = view.config.hall
    names = {d.id: d.name for d in hall.delegates}
    records = participation(view, sid)
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang.value}"><head><meta charset="utf-8">',
        f"<title>{_e(w['minutes'])}: {_e(title)}</title>",
        f"<style>{_PRINT_CSS}</style></head><body>",
        *_form_header(view, sid, w),
        f"<h1>{_e(w['title'])}</h1>",
        f'<p class="sub">{_e(w["minutes"])}: {_e(title)} ({_e(sid)})</p>',
    ]
    # When it began and ended, who chaired it and kept the minutes (Decree 30's minutes).
    out.extend(_sitting_lines(view, sid, w))
    agenda = next((r.agenda for r in view.core.history if r.sitting_id == sid), None)
    if agenda is None and view.core.sitting_id == sid:
        agenda = view.core.agenda
    if agenda:
        out.append(f"<h2>{_e(w['agenda'])}</h2><ol>")
        out.extend(f"<li>{_e(item.title)}</li>" for item in agenda)
        out.append("</ol>")
    present = [p for p in records if p.periods]
    out.append(f"<h2>{_e(w['attendance'])}</h2>")
    out.append(
        f"<p>{_e(w['present'])}: {len(present)} / {_e(w['members'])}: {hall.body.members}</p>"
    )
    out.extend(_attendance_html(view, sid, w, names))
    out.append(f"<h2>{_e(w['votes'])}</h2>")
    votes = view.sitting_votes(sid)
    if not votes:
        out.append(f"<p>{_e(w['none'])}</p>")
    for vote in votes:
        d, r = vote.definition, vote.result
        labels = _labels(d, lang)
        out.append('<section class="vote">')
        when = f", {_e(vote.closed_local.replace('T', ' '))}" if vote.closed_local else ""
        kind = KIND_LABELS[lang][d.kind]
        out.append(
            f"<h3>{_e(d.title)} <small>({_e(d.vote_id)}, {_e(kind)}, "
            f"{_e(w[d.mode.value])}{when})</small></h3>"
        )
        if d.rerun_of is not None:
            out.append(f'<p class="mark">{_e(w["rerun"].format(vote_id=d.rerun_of))}.</p>')
        if r.manual is not None:
            out.append(f'<p class="mark">{_e(w[r.manual.value])}.</p>')
        out.append("<table><tbody>")
        for label, count in zip(labels, r.totals, strict=True):
            share = w["share"].format(pct=percent(count, r.all_members, lang))
            out.append(
                f'<tr><th>{_e(label)}</th><td class="n">{count}/{r.all_members}</td>'
                f'<td class="n">{_e(share)}</td></tr>'
            )
        out.append(
            f"<tr><th>{_e(DID_NOT_VOTE[lang])}</th>"
            f'<td class="n">{r.did_not_vote}</td><td></td></tr>'
            f'<tr><th>{_e(w["voted"])}</th><td class="n">{r.voted}</td><td></td></tr>'
            "</tbody></table>"
        )
        if r.annulled is not None:
            out.append(
                f'<p class="outcome annulled">{_e(w["annulled"])}. '
                f"{_e(w['reason'])}: {_e(r.annulled.reason)}</p>"
            )
        else:
            verdict = w["adopted"] if r.outcome.adopted else w["rejected"]
            out.append(f'<p class="outcome">{_e(verdict)}. {_e(explanation(vote, lang))}</p>')
        if r.choices:  # open and roll-call votes only: a secret vote has none, by construction
            out.append(f"<p>{_e(w['by_choice'])}:</p><ul>")
            for key, label in enumerate(labels, start=1):
                # Who sat at each seat when the vote was held (a delegate may have moved).
                chart = view.core.attendance.seating.chart_for(d.vote_id)
                who = [
                    names.get(chart.get(seat, ""), f"#{seat}") for seat, k in r.choices if k == key
                ]
                out.append(f"<li>{_e(label)}: {_e(', '.join(who) or w['none'])}</li>")
            out.append("</ul>")
        out.append(
            f'<p class="hash">{_e(w["journal"].format(seq=vote.seq, hash=vote.head_hash))}</p>'
        )
        out.append("</section>")
    out.append(f"<h2>{_e(w['delegate'])}</h2>")
    out.append(
        f"<table><thead><tr><th>{_e(w['delegate'])}</th><th>{_e(w['group'])}</th>"
        f'<th class="n">{_e(w["presence"])}</th><th class="n">{_e(w["record"])}</th>'
        f'<th class="n">{_e(w["speeches"])}</th><th class="n">{_e(w["speaking"])}</th>'
        "</tr></thead><tbody>"
    )
    for p in records:
        out.append(
            f"<tr><td>{_e(p.name)}</td><td>{_e(p.group)}</td>"
            f'<td class="n">{_e(_minutes(p.present_s, w))}</td>'
            f'<td class="n">{len(p.votes)}</td><td class="n">{len(p.speeches)}</td>'
            f'<td class="n">{_e(_minutes(p.speaking_s(), w))}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(
        f'<p class="hash">{_e(w["journal"].format(seq=view.head_seq, hash=view.head_hash))}<br>'
        f"{_e(w['verify'])}</p>"
    )
    out.extend(_signatures(view, w))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _attendance_html(
    view: JournalView, sitting_id: str, w: dict[str, str], names: dict[str, str]
) -> list[str]:
    """The sitting's roll calls, the seats the secretary marked by hand (with the reason) and
    the delegates moved to another seat (with the reason), in the minutes' words."""
    core = view.core
    record = next((r for r in core.history if r.sitting_id == sitting_id), None)
    if record is not None:
        registrations, marks, moves = record.registrations, record.marks, record.moves
    elif core.sitting_id == sitting_id:
        attendance = core.attendance
        registrations = tuple(attendance.registrations)
        marks, moves = tuple(attendance.marks), tuple(attendance.moves)
    else:
        return []

    def when(at: float | None) -> str:
        local = local_time(core, view.config.timezone, at)
        return local.replace("T", " ")

    out: list[str] = []
    if registrations:
        out.append("<ul>")
        for reg in registrations:
            closed = when(reg.closed_at)
            line = w["roll_call"].format(
                number=reg.number,
                when=f" ({closed})" if closed else "",
                count=len(reg.registered),
                voting=reg.voting_registered,
                required=reg.quorum_required,
            )
            verdict = w["quorate"] if reg.quorate else w["not_quorate"]
            out.append(f"<li>{_e(line)}: {_e(verdict)}.</li>")
        out.append("</ul>")
    if marks:
        out.append(f"<p>{_e(w['marks'])}:</p><ul>")
        for mark in marks:
            state = w["marked_present"] if mark.present else w["marked_absent"]
            at = when(mark.at)
            reason = f". {w['reason']}: {mark.reason}" if mark.reason else ""
            out.append(
                f"<li>{_e(names.get(mark.delegate, mark.delegate))} "
                f"({_e(w['seat'].format(seat=mark.seat))}): {_e(state)}"
                f"{_e(f', {at}' if at else '')}{_e(reason)}.</li>"
            )
        out.append("</ul>")
    if moves:
        out.append(f"<p>{_e(w['moves'])}:</p><ul>")
        for move in moves:
            template = "move" if move.card is None else "move_card"
            if move.unseated is not None:
                template = "move_card_from"
            line = w[template].format(
                other=names.get(move.unseated or "", move.unseated),
                name=names.get(move.delegate, move.delegate),
                from_seat=move.from_seat,
                to_seat=move.to_seat,
            )
            at = when(move.at)
            because = f" {_e(w['reason'])}: {_e(move.reason)}." if move.reason else ""
            out.append(f"<li>{_e(line)}{_e(f', {at}' if at else '')}.{because}</li>")
        out.append("</ul>")
    return out


_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _moment(view: JournalView, at: float | None) -> datetime | None:
    """The core time `at` in the hall's time zone, or None without a clock anchor."""
    unix = view.core.unix_time(at) if at is not None else None
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, ZoneInfo(view.config.timezone))


def date_fields(moment: datetime) -> dict[str, str]:
    """Decree 30/2020/NĐ-CP: a day below 10, and the months 1 and 2, are written with a 0."""
    return {
        "day": f"{moment.day:02d}",
        "month": f"{moment.month:02d}" if moment.month <= 2 else str(moment.month),
        "month_name": _MONTHS_EN[moment.month - 1],
        "year": str(moment.year),
        "hour": f"{moment.hour:02d}",
        "minute": f"{moment.minute:02d}",
    }


def _sitting_times(view: JournalView, sitting_id: str) -> tuple[float | None, float | None]:
    core = view.core
    for record in core.history:
        if record.sitting_id == sitting_id:
            return record.opened_at, record.closed_at
    if core.sitting_id == sitting_id:
        return core.sitting_opened_at, None
    return None, None


def _form_header(view: JournalView, sitting_id: str, w: dict[str, str]) -> list[str]:
    """The heading of an administrative document (Decree 30/2020/NĐ-CP, Appendix I): the
    issuing body top left, in bold capitals, a short rule and the number; the national name
    in bold capitals and the motto in bold, underlined, top right, then the place and date in
    italics."""
    body = view.config.hall.body.name.upper()
    opened, _ = _sitting_times(view, sitting_id)
    moment = _moment(view, opened)
    place_date = ""
    if moment is not None:
        date = w["date"].format(**date_fields(moment))
        place = view.config.place
        place_date = f"{place}, {date}" if place else date[0].upper() + date[1:]
    return [
        '<table class="form"><tr>',
        f'<td><div class="org">{_e(body)}</div><div class="rule-short"></div>'
        f"<div>{_e(w['number'])}</div></td>",
        f'<td><div class="nation">{_e(w["nation"])}</div>'
        f'<div class="motto">{_e(w["motto"])}</div>'
        + (f'<div class="place-date">{_e(place_date)}</div>' if place_date else "")
        + "</td>",
        "</tr></table>",
    ]


def _officers(view: JournalView) -> tuple[str, str]:
    """The chair's and the secretary's names, from the hall's delegates ("" if none)."""
    hall = view.config.hall
    chair = next((d.name for d in hall.delegates if d.role is Role.CHAIR), "")
    secretary = next((d.name for d in hall.delegates if d.role is Role.SECRETARY), "")
    return chair, secretary


def _sitting_lines(view: JournalView, sitting_id: str, w: dict[str, str]) -> list[str]:
    """When the sitting began and ended, who chaired it and who kept the minutes."""
    opened, closed = _sitting_times(view, sitting_id)
    chair, secretary = _officers(view)
    lines: list[str] = []
    for key, at in (("start", opened), ("end", closed)):
        moment = _moment(view, at)
        if moment is not None:
            lines.append(f"{_e(w[key])}: {_e(w['clock'].format(**date_fields(moment)))}")
    if chair:
        lines.append(f"{_e(w['chair'])}: {_e(chair)}")
    if secretary:
        lines.append(f"{_e(w['secretary'])}: {_e(secretary)}")
    return [f'<p class="times">{"<br>".join(lines)}</p>'] if lines else []


def _signatures(view: JournalView, w: dict[str, str]) -> list[str]:
    """The signers' titles and names at the end: the secretary left, the chair right."""
    chair, secretary = _officers(view)
    cells = []
    for title, name in ((w["secretary"], secretary), (w["chair"], chair)):
        cells.append(
            f'<td><div class="signer">{_e(title.upper())}</div><div>{_e(w["sign"])}</div>'
            f'<div class="signer-name">{_e(name)}</div></td>'
        )
    return ['<table class="signatures"><tr>', *cells, "</tr></table>"]


# --- one entry point for the API and the command line ---------------------------------------

MEDIA_TYPES: dict[Format, str] = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.JSON: "application/json",
    Format.HTML: "text/html; charset=utf-8",
}


def render(
    view: JournalView,
    what: What,
    fmt: Format,
    *,
    sitting_id: str | None = None,
    language: Language | None = None,
) -> str:
    """The export as text; `ExportError` for an unknown sitting or a format `what` lacks."""
    if what is What.MINUTES:
        if fmt is not Format.HTML:
            raise ExportError("minutes are HTML")
        return minutes_html(view, language, sitting_id)
    if fmt is Format.HTML:
        raise ExportError(f"{what.value} are CSV or JSON")
    if what is What.RESULTS:
        if sitting_id is not None:
            view.sitting_title(sitting_id)
        if fmt is Format.CSV:
            return results_csv(view, sitting_id)
        return results_json(view, sitting_id)
    if fmt is Format.CSV:
        return participation_csv(view, sitting_id)
    return participation_json(view, sitting_id)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", type=Path, required=True, help="the journal file")
    parser.add_argument("--config", type=Path, required=True, help="the hall's TOML file")
    parser.add_argument("--format", choices=[f.value for f in Format], default="csv")
    parser.add_argument("--what", choices=[w.value for w in What], default="results")
    parser.add_argument(
        "--sitting",
        help="a sitting's id (default: all; the last one for participation and minutes)",
    )
    parser.add_argument(
        "--lang",
        choices=[lang.value for lang in Language],
        help="language of the minutes (default: the hall's)",
    )
    parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    """Exit 0 on success, 2 if the journal, the hall file or the sitting cannot be used."""
    from chamber.controller.config import ConfigError, load_config

    try:
        config = load_config(args.config)
        view = replay_journal(args.journal, config)
        text = render(
            view,
            What(args.what),
            Format(args.format),
            sitting_id=args.sitting,
            language=Language(args.lang) if args.lang else None,
        )
    except (ConfigError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        # newline="": the CSV's CRLF line ends are written as they are.
        args.output.write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text)
    return 0
