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
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chamber.controller.config import HallConfig
from chamber.controller.core.attendance import (
    AbsenceNote,
    PresenceMark,
    Registration,
    SeatMove,
)
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import answer_labels
from chamber.controller.core.inputs import (
    Actor,
    AgendaItemSpec,
    AnnulVote,
    CloseVote,
    Command,
    EnterManualResult,
    GrantFloor,
    GrantNext,
    Input,
    InputRecordError,
    OpenSitting,
    OpenVote,
    PublishVote,
    SecretVoteSealed,
    from_record,
)
from chamber.controller.core.kinds import KIND_LABELS
from chamber.controller.core.model import AnswerSet, Language, Role, SpeakerList, VoteMode
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
    PDF = "pdf"


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
    # Who opened, closed and annulled it ("opened", "closed", "annulled"): the operators'
    # accounts the commands carry (none for a journal of an earlier release, a close at the
    # deadline, or a command the daemon made itself).
    actors: Mapping[str, Actor] = field(default_factory=dict)


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
    # Who opened, closed and annulled each vote, by its id (see `ClosedVote.actors`).
    vote_actors: dict[str, dict[str, Actor]] = field(default_factory=dict)
    # Who gave the floor, by the core time of the grant (a speech starts at its grant).
    floor_actors: dict[float, Actor] = field(default_factory=dict)

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
        view.votes[vote_id] = replace(
            known,
            result=vote.result,
            seq=seq,
            head_hash=digest,
            actors=dict(view.vote_actors.get(vote_id, {})),
        )
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
            actors=dict(view.vote_actors.get(vote_id, {})),
        )
    elif vote.state is VoteState.PUBLISHED:
        view.votes[vote_id] = replace(known, published=True)


# The vote commands whose actor the exports name, and under which word.
_VOTE_ACTIONS: tuple[tuple[type[Command], str], ...] = (
    (OpenVote, "opened"),
    (CloseVote, "closed"),
    (AnnulVote, "annulled"),
)


def _note_actor(view: JournalView, inp: Input) -> None:
    """Note who made `inp` when it opened, closed or annulled a vote or gave the floor."""
    if not isinstance(inp, Command) or inp.actor is None:
        return
    for cls, action in _VOTE_ACTIONS:
        if isinstance(inp, cls):
            vote_id = getattr(inp, "vote_id", "")
            view.vote_actors.setdefault(vote_id, {})[action] = inp.actor
            return
    if isinstance(inp, GrantFloor | GrantNext):
        view.floor_actors[inp.at] = inp.actor


def actor_json(actor: Actor) -> dict[str, str]:
    return {"id": actor.id, "name": actor.name, "role": actor.role}


def actor_text(actor: Actor | None, language: Language) -> str:
    """ "Trần Thị Bình (chủ tọa)" / "Trần Thị Bình (chair)"; "" for none."""
    if actor is None:
        return ""
    role = ROLE_WORDS[language].get(actor.role, actor.role)
    return f"{actor.name} ({role})"


ROLE_WORDS: dict[Language, dict[str, str]] = {
    Language.VI: {
        "chair": "chủ tọa",
        "secretary": "thư ký",
        "technician": "kỹ thuật viên",
        "observer": "quan sát",
        "metrics": "giám sát",
    },
    Language.EN: {
        "chair": "chair",
        "secretary": "secretary",
        "technician": "technician",
        "observer": "observer",
        "metrics": "metrics",
    },
}


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
        _note_actor(view, inp)
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
        "actors": {action: actor_json(actor) for action, actor in vote.actors.items()},
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
    "share",
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
    "opened_by",
    "closed_by",
    "annulled_by",
    "journal_seq",
    "journal_hash",
)


# The CSV files' column headers, in the language of the export: the secretariat opens them in
# a spreadsheet, so a header reads as a heading, not as a field name.
COLUMN_HEADERS: dict[Language, dict[str, str]] = {
    Language.VI: {
        "sitting_id": "Mã kỳ họp",
        "vote_id": "Mã biểu quyết",
        "title": "Nội dung biểu quyết",
        "item_id": "Mã nội dung chương trình",
        "kind": "Loại biểu quyết",
        "mode": "Hình thức",
        "rerun_of": "Biểu quyết lại thay cho",
        "manual": "Kết quả kiểm đếm thủ công",
        "annulled": "Đã hủy kết quả",
        "annulled_reason": "Lý do hủy kết quả",
        "opened_by": "Người mở biểu quyết",
        "closed_by": "Người kết thúc biểu quyết",
        "annulled_by": "Người hủy kết quả",
        "key": "Phím",
        "option": "Phương án",
        "count": "Số đại biểu",
        "share": "Tỷ lệ so với tổng số đại biểu (%)",
        "voted": "Số đại biểu tham gia biểu quyết",
        "did_not_vote": "Số đại biểu không tham gia biểu quyết",
        "present": "Số đại biểu có mặt",
        "entitled": "Số đại biểu có quyền biểu quyết",
        "all_members": "Tổng số đại biểu",
        "rule": "Quy tắc",
        "required": "Số phiếu cần đạt",
        "adopted": "Thông qua",
        "explanation": "Kết quả",
        "closed_local": "Thời điểm kết thúc",
        "journal_seq": "Bản ghi nhật ký",
        "journal_hash": "Mã băm nhật ký",
        "delegate_id": "Mã đại biểu",
        "name": "Họ và tên",
        "group": "Đơn vị",
        "present_s": "Thời gian có mặt (giây)",
        "votes_taken": "Số lần tham gia biểu quyết",
        "votes_missed": "Biểu quyết không tham gia",
        "votes": "Biểu quyết đã tham gia",
        "speeches": "Số lượt phát biểu, chất vấn",
        "speaking_s": "Tổng thời gian phát biểu (giây)",
        "speak_s": "Phát biểu (giây)",
        "question_s": "Chất vấn (giây)",
        "reply_s": "Tranh luận (giây)",
    },
    Language.EN: {
        "sitting_id": "Sitting id",
        "vote_id": "Vote id",
        "title": "Vote",
        "item_id": "Agenda item id",
        "kind": "Kind",
        "mode": "Mode",
        "rerun_of": "Run again in place of",
        "manual": "Counted by hand",
        "annulled": "Annulled",
        "annulled_reason": "Reason for the annulment",
        "opened_by": "Opened by",
        "closed_by": "Closed by",
        "annulled_by": "Annulled by",
        "key": "Key",
        "option": "Answer",
        "count": "Members",
        "share": "Share of all members (%)",
        "voted": "Members who voted",
        "did_not_vote": "Members who did not vote",
        "present": "Members present",
        "entitled": "Members entitled to vote",
        "all_members": "Total members",
        "rule": "Rule",
        "required": "Votes needed",
        "adopted": "Adopted",
        "explanation": "Outcome",
        "closed_local": "Closed at",
        "journal_seq": "Journal record",
        "journal_hash": "Journal hash",
        "delegate_id": "Delegate id",
        "name": "Name",
        "group": "Delegation",
        "present_s": "Time present (s)",
        "votes_taken": "Votes taken part in",
        "votes_missed": "Votes missed",
        "votes": "Votes",
        "speeches": "Speeches and questions",
        "speaking_s": "Speaking time (s)",
        "speak_s": "Speeches (s)",
        "question_s": "Questions (s)",
        "reply_s": "Replies (s)",
    },
}

YES_NO: dict[Language, tuple[str, str]] = {
    Language.VI: ("Có", "Không"),
    Language.EN: ("Yes", "No"),
}


def _cell(value: Any, language: Language) -> Any:
    """A value as a spreadsheet cell: a flag as "Có"/"Không" ("Yes"/"No"), nothing as empty,
    a decimal with the language's separator."""
    if isinstance(value, bool):
        return YES_NO[language][0 if value else 1]
    if value is None:
        return ""
    if isinstance(value, float):
        text = repr(value)
        return text.replace(".", ",") if language is Language.VI else text
    return value


def _csv(columns: Sequence[str], rows: Sequence[dict[str, Any]], language: Language) -> str:
    out = io.StringIO()
    # Excel's own dialect: CRLF line ends, quoted where needed.
    writer = csv.writer(out, lineterminator="\r\n")
    headers = COLUMN_HEADERS[language]
    writer.writerow([headers[c] for c in columns])
    for row in rows:
        writer.writerow([_cell(row.get(c), language) for c in columns])
    return CSV_BOM + unicodedata.normalize("NFC", out.getvalue())


def results_csv(
    view: JournalView, sitting_id: str | None = None, language: Language | None = None
) -> str:
    """One row per vote and option (a long table: pivot it in a spreadsheet), with headers,
    answers, kinds, modes and flags in `language` (the hall's by default)."""
    lang = language or view.config.hall.language
    rows: list[dict[str, Any]] = []
    for vote in view.sitting_votes(sitting_id):
        data = result_json(vote, lang)
        words = {
            "kind": KIND_LABELS[lang][vote.definition.kind],
            "mode": WORDS[lang][vote.definition.mode.value],
            "manual": WORDS[lang][data["manual"]] if data["manual"] else None,
        }
        for total in data["totals"]:
            rows.append(
                {c: data[c] for c in RESULT_COLUMNS if c in data}
                | words
                | {
                    "key": total["key"],
                    "option": total["label"],
                    "count": total["count"],
                    "share": percent(total["count"], data["all_members"], lang),
                    "closed_local": data["closed_local"].replace("T", " ")[:19],
                }
                | {
                    f"{action}_by": actor_text(vote.actors.get(action), lang)
                    for action in ("opened", "closed", "annulled")
                }
            )
    return _csv(RESULT_COLUMNS, rows, lang)


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


def participation_csv(
    view: JournalView, sitting_id: str | None = None, language: Language | None = None
) -> str:
    """One row per delegate, with headers in `language` (the hall's by default)."""
    lang = language or view.config.hall.language
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
    return _csv(PARTICIPATION_COLUMNS, rows, lang)


def participation_json(view: JournalView, sitting_id: str | None = None) -> str:
    sid = sitting_id or view.last_sitting()
    body = {
        "hall": {"id": view.config.hall_id, "name": view.config.hall.body.name},
        "sitting": {"id": sid, "title": view.sitting_title(sid)},
        "delegates": [p.to_json() for p in participation(view, sid)],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


# --- minutes --------------------------------------------------------------------------------
#
# A biên bản kỳ họp in the form of Decree 30/2020/NĐ-CP: the issuing body and the national
# heading, the place and date line, the title, then (I) time, place and who took part,
# (II) the agenda, (III) each item's votes, (IV) the speeches in the order they were made,
# the signers' blocks, and an appendix with what ties the document to the journal. Every word
# is in `WORDS`, in both languages; every number is formatted here, never by the template.

WORDS: dict[Language, dict[str, str]] = {
    Language.VI: {
        "minutes": "Biên bản kỳ họp",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số: ……/BB-HĐND",
        "title": "BIÊN BẢN",
        "date": "ngày {day} tháng {month} năm {year}",
        "clock": "{hour} giờ {minute}",
        "clock_date": "{hour} giờ {minute}, ngày {day} tháng {month} năm {year}",
        "part_time": "I. THỜI GIAN, ĐỊA ĐIỂM VÀ THÀNH PHẦN",
        "part_agenda": "II. CHƯƠNG TRÌNH KỲ HỌP",
        "part_votes": "III. NỘI DUNG VÀ KẾT QUẢ BIỂU QUYẾT",
        "part_speeches": "IV. PHÁT BIỂU, CHẤT VẤN",
        "start": "Khai mạc",
        "end": "Bế mạc",
        "not_closed": "kỳ họp chưa bế mạc khi lập biên bản",
        "place": "Địa điểm",
        "chair": "Chủ tọa",
        "secretary": "Thư ký",
        "unnamed": "……………………",
        "sign": "(Ký, ghi rõ họ tên)",
        "members": "Tổng số đại biểu",
        "at_opening": "Có mặt khi khai mạc (lúc {clock}): {count}/{members} đại biểu ({share})",
        "at_opening_no_clock": "Có mặt khi khai mạc: {count}/{members} đại biểu ({share})",
        "absent_at_opening": "Vắng mặt khi khai mạc: {count} đại biểu",
        "came_later": "Đến sau khi khai mạc",
        "came_at": "có mặt từ {clock}",
        "absent_all": "Vắng mặt cả kỳ họp: {count} đại biểu ({excused} có lý do, {unexcused} "
        "không có lý do, {unknown} chưa ghi nhận lý do)",
        "excused": "vắng có lý do",
        "unexcused": "vắng không có lý do",
        "no_reason": "chưa ghi nhận lý do",
        "present_most": "Số đại biểu có mặt đông nhất trong kỳ họp: {count}/{members}",
        "no_absent": "Không có đại biểu vắng mặt.",
        "delegate": "Đại biểu",
        "group": "Đơn vị",
        "status": "Ghi chú",
        "seat": "Ghế số {seat}",
        "roll_call": (
            "Điểm danh lần {number}{when}: {count} đại biểu xác nhận có mặt, trong đó {voting} "
            "đại biểu có quyền biểu quyết (cần ít nhất {required})"
        ),
        "quorate": "đủ số đại biểu",
        "not_quorate": "không đủ số đại biểu",
        "marks": "Có mặt, vắng mặt do chủ tọa hoặc thư ký ghi nhận",
        "marked_present": "có mặt",
        "marked_absent": "vắng mặt",
        "moves": "Đại biểu chuyển chỗ ngồi",
        "move": "{name}: từ ghế số {from_seat} sang ghế số {to_seat}",
        "move_card": "{name}: ngồi ghế số {to_seat} bằng thẻ của mình",
        "move_card_from": "{name}: ngồi ghế số {to_seat} (trước đó là ghế của {other}) bằng thẻ"
        " của mình",
        "reason": "Lý do",
        "opened_by": "Người mở biểu quyết",
        "closed_by": "người kết thúc biểu quyết",
        "annulled_by": "Người hủy kết quả",
        "granted_by": "Người cho phát biểu",
        "no_agenda": "Kỳ họp không có chương trình lập trước.",
        "outside_agenda": "Biểu quyết ngoài chương trình",
        "no_votes_item": "Không có biểu quyết.",
        "none": "Không có",
        "vote_heading": "Biểu quyết {number}: {title}",
        "vote_line": "{kind}; {mode}; kết thúc biểu quyết lúc {clock}",
        "vote_line_no_clock": "{kind}; {mode}",
        "secret": "bỏ phiếu kín",
        "open": "biểu quyết công khai",
        "roll-call": "biểu quyết theo danh sách",
        "answer": "Nội dung",
        "count": "Số đại biểu",
        "share_head": "Tỷ lệ so với tổng số đại biểu",
        "did_not_vote": "Có mặt, không tham gia biểu quyết",
        "voted": "Số đại biểu tham gia biểu quyết",
        "present_at_vote": "Đại biểu có mặt khi biểu quyết: {present}/{members}",
        "share": "{pct} %",
        "result": "Kết quả",
        "adopted": "Thông qua",
        "rejected": "Không thông qua",
        "rule_sep": "; ",
        "annulled": "Kết quả đã bị hủy",
        "rerun": "Biểu quyết lại, thay cho biểu quyết {number} đã bị hủy kết quả",
        "show-of-hands": "Kết quả biểu quyết bằng hình thức giơ tay, do chủ tọa nhập vào hệ thống",
        "paper": "Kết quả bỏ phiếu bằng phiếu giấy, do chủ tọa nhập vào hệ thống",
        "by_choice": "Đại biểu theo từng nội dung biểu quyết",
        "secret_note": "Bỏ phiếu kín: hệ thống không lưu lựa chọn của từng đại biểu.",
        "time": "Thời gian",
        "list": "Hình thức",
        "duration": "Thời lượng",
        "speak": "Phát biểu",
        "question": "Chất vấn",
        "reply": "Tranh luận",
        "no_speeches": "Không có đại biểu phát biểu, chất vấn.",
        "speakers": "Tổng hợp theo đại biểu",
        "turns": "Số lượt",
        "total_time": "Tổng thời gian",
        "others_silent": "Các đại biểu khác không phát biểu, chất vấn.",
        "closing": "Kỳ họp bế mạc lúc {clock}. Biên bản được lập từ nhật ký của hệ thống.",
        "closing_open": "Biên bản được lập từ nhật ký của hệ thống khi kỳ họp chưa bế mạc.",
        "hour": "giờ",
        "minute": "phút",
        "second": "giây",
        "appendix": "PHỤ LỤC: THÔNG TIN KIỂM TRA",
        "appendix_note": (
            "Mỗi bản ghi của nhật ký hệ thống được nối với bản ghi trước bằng mã băm SHA-256; "
            "sửa, xóa hay chèn một bản ghi làm thay đổi mọi mã băm sau nó."
        ),
        "journal_id": "Mã nhật ký",
        "journal_head": "Bản ghi cuối của nhật ký: số {seq}, mã băm",
        "vote_record": "Biểu quyết {number}: bản ghi số {seq}, mã băm",
        "verify": "Kiểm tra bằng lệnh: chamber audit verify <tệp nhật ký>",
        "seal_key": "Khóa của phòng họp (dấu vân tay)",
        "seal_signature": (
            "Chữ ký Ed25519 của khóa phòng họp trên mã nhật ký, bản ghi cuối và mã băm"
        ),
        "no_seal": "Bản in này không kèm chữ ký số của phòng họp.",
    },
    Language.EN: {
        "minutes": "Minutes of the sitting",
        "nation": "SOCIALIST REPUBLIC OF VIET NAM",
        "motto": "Independence - Freedom - Happiness",
        "number": "No.: ……/BB-HĐND",
        "title": "MINUTES",
        "date": "{day} {month_name} {year}",
        "clock": "{hour}:{minute}",
        "clock_date": "{hour}:{minute}, {day} {month_name} {year}",
        "part_time": "I. TIME, PLACE AND THOSE TAKING PART",
        "part_agenda": "II. AGENDA",
        "part_votes": "III. PROCEEDINGS AND VOTES",
        "part_speeches": "IV. SPEECHES AND QUESTIONS",
        "start": "Opened",
        "end": "Closed",
        "not_closed": "the sitting had not been closed when these minutes were made",
        "place": "Place",
        "chair": "Chair",
        "secretary": "Secretary",
        "unnamed": "……………………",
        "sign": "(Signature and full name)",
        "members": "Total members",
        "at_opening": "Present at the opening (at {clock}): {count} of {members} members ({share})",
        "at_opening_no_clock": "Present at the opening: {count} of {members} members ({share})",
        "absent_at_opening": "Absent at the opening: {count} members",
        "came_later": "Arrived after the opening",
        "came_at": "present from {clock}",
        "absent_all": "Absent for the whole sitting: {count} members ({excused} with leave, "
        "{unexcused} without leave, {unknown} with no reason recorded)",
        "excused": "absent with leave",
        "unexcused": "absent without leave",
        "no_reason": "no reason recorded",
        "present_most": "Most members present at once during the sitting: {count} of {members}",
        "no_absent": "No member was absent.",
        "delegate": "Delegate",
        "group": "Delegation",
        "status": "Note",
        "seat": "Seat {seat}",
        "roll_call": (
            "Roll call {number}{when}: {count} delegates confirmed their presence, {voting} of "
            "them members who may vote (at least {required} needed)"
        ),
        "quorate": "quorate",
        "not_quorate": "not quorate",
        "marks": "Presence marked by hand (the chair or the secretary)",
        "marked_present": "present",
        "marked_absent": "absent",
        "moves": "Delegates moved to another seat",
        "move": "{name}: from seat {from_seat} to seat {to_seat}",
        "move_card": "{name}: took seat {to_seat} with their own card",
        "move_card_from": "{name}: took seat {to_seat} (until then {other}'s) with their own card",
        "reason": "Reason",
        "opened_by": "Opened by",
        "closed_by": "closed by",
        "annulled_by": "Annulled by",
        "granted_by": "Floor given by",
        "no_agenda": "The sitting had no agenda prepared in advance.",
        "outside_agenda": "Votes outside the agenda",
        "no_votes_item": "No vote.",
        "none": "None",
        "vote_heading": "Vote {number}: {title}",
        "vote_line": "{kind}; {mode}; voting closed at {clock}",
        "vote_line_no_clock": "{kind}; {mode}",
        "secret": "secret ballot",
        "open": "open vote",
        "roll-call": "roll-call vote",
        "answer": "Answer",
        "count": "Members",
        "share_head": "Share of all members",
        "did_not_vote": "Present, did not vote",
        "voted": "Members who voted",
        "present_at_vote": "Members present at the vote: {present} of {members}",
        "share": "{pct}%",
        "result": "Result",
        "adopted": "Adopted",
        "rejected": "Not adopted",
        "rule_sep": "; ",
        "annulled": "Result annulled",
        "rerun": "Vote run again, in place of vote {number}, whose result was annulled",
        "show-of-hands": "Result taken by show of hands, entered by the chair",
        "paper": "Result taken on paper ballots, entered by the chair",
        "by_choice": "Members by answer",
        "secret_note": "Secret ballot: the system keeps no member's choice.",
        "time": "Time",
        "list": "Kind",
        "duration": "Duration",
        "speak": "Speech",
        "question": "Question",
        "reply": "Reply",
        "no_speeches": "No member spoke or asked a question.",
        "speakers": "By delegate",
        "turns": "Turns",
        "total_time": "Total time",
        "others_silent": "No other member spoke or asked a question.",
        "closing": (
            "The sitting closed at {clock}. These minutes are made from the system's journal."
        ),
        "closing_open": (
            "These minutes are made from the system's journal while the sitting was still open."
        ),
        "hour": "h",
        "minute": "min",
        "second": "s",
        "appendix": "APPENDIX: AUDIT DETAILS",
        "appendix_note": (
            "Each record of the system's journal is chained to the one before by a SHA-256 "
            "hash: changing, removing or inserting a record changes every hash after it."
        ),
        "journal_id": "Journal id",
        "journal_head": "Last record of the journal: no. {seq}, hash",
        "vote_record": "Vote {number}: record no. {seq}, hash",
        "verify": "Check with: chamber audit verify <journal file>",
        "seal_key": "The hall's key (fingerprint)",
        "seal_signature": (
            "Ed25519 signature by the hall's key over the journal id, last record and hash"
        ),
        "no_seal": "This copy carries no digital signature of the hall.",
    },
}

_PRINT_CSS = """
@page { size: A4; margin: 20mm 15mm 20mm 30mm; }
html { background: #fff; }
body { font-family: "Times New Roman", "Liberation Serif", "DejaVu Serif", serif;
  font-size: 13pt; line-height: 1.35; color: #000; margin: 0 auto; max-width: 165mm;
  padding: 1em 0; overflow-wrap: anywhere; }
table.form, table.form td, table.signatures, table.signatures td { border: none; }
table.form { table-layout: fixed; margin: 0 0 1em; }
table.form td { text-align: center; vertical-align: top; padding: 0; font-size: 12pt; }
table.form td.left { width: 42%; }
.org { font-weight: bold; }
.nation { font-weight: bold; white-space: nowrap; font-size: 12pt; }
.motto { font-weight: bold; display: inline-block; border-bottom: 1px solid #000;
  padding-bottom: 0.1em; font-size: 13pt; }
.place-date { font-style: italic; margin-top: 0.8em; font-size: 13pt; }
.rule-short { display: block; width: 30%; margin: 0.15em auto 0.4em;
  border-bottom: 1px solid #000; }
h1 { font-size: 14pt; text-align: center; margin: 1em 0 0; }
p.sub { text-align: center; font-weight: bold; margin: 0.2em 0 1em; }
h2 { font-size: 13pt; margin: 1.2em 0 0.4em; }
h3 { font-size: 13pt; margin: 0.9em 0 0.3em; }
h4 { font-size: 13pt; font-style: italic; margin: 0.7em 0 0.2em; }
p { margin: 0.3em 0; text-align: justify; }
ul, ol { margin: 0.2em 0 0.4em; padding-left: 1.6em; }
table { border-collapse: collapse; width: 100%; margin: 0.3em 0 0.6em; }
th, td { border: 1px solid #000; padding: 0.1em 0.35em; text-align: left; vertical-align: top;
  font-size: 12pt; }
thead th { text-align: center; }
td.n, th.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.outcome { font-weight: bold; }
.mark { font-style: italic; }
.annulled { border: 1px solid #000; padding: 0.2em 0.4em; }
.names { font-size: 12pt; }
table.signatures { table-layout: fixed; margin-top: 1.5em; break-inside: avoid;
  page-break-inside: avoid; }
table.signatures td { width: 50%; text-align: center; vertical-align: top; }
.signer { font-weight: bold; }
.sign-hint { font-style: italic; font-size: 12pt; }
.signer-name { margin-top: 6em; font-weight: bold; }
section.appendix { break-before: page; page-break-before: always; font-size: 11pt; }
section.appendix h2 { text-align: center; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; overflow-wrap: anywhere;
  word-break: break-all; }
section.vote { break-inside: avoid; page-break-inside: avoid; }
@media print {
  body { max-width: none; padding: 0; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
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


def share(count: int, of: int, language: Language) -> str:
    """A share of the total as the minutes print it: "54,0 %" (Vietnamese), "54.0%"."""
    return WORDS[language]["share"].format(pct=percent(count, of, language))


def duration(seconds: float, language: Language) -> str:
    """A length of time in words, to the second (rounded half up): "8 phút 48 giây",
    "1 giờ 02 phút 05 giây"; "8 min 48 s" in English."""
    w = WORDS[language]
    total = math.floor(Fraction(seconds) + Fraction(1, 2)) if seconds > 0 else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} {w['hour']} {minutes:02d} {w['minute']} {secs:02d} {w['second']}"
    if minutes:
        return f"{minutes} {w['minute']} {secs:02d} {w['second']}"
    return f"{secs} {w['second']}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


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


@dataclass(frozen=True)
class Seal:
    """The hall key's signature over the journal's head, for the appendix (made by the caller,
    which holds the key: `controller.signing.minutes_seal`)."""

    fingerprint: str
    signature: str


@dataclass(frozen=True)
class _Sitting:
    """What the minutes need of one sitting, closed or still open."""

    sitting_id: str
    title: str
    agenda: tuple[AgendaItemSpec, ...]
    opened_at: float | None
    closed_at: float | None
    registrations: tuple[Registration, ...]
    marks: tuple[PresenceMark, ...]
    moves: tuple[SeatMove, ...]
    absences: tuple[AbsenceNote, ...]
    # The command that opened it: what a prepared sitting file named (title in English,
    # place, chair, secretary); None for a journal of an earlier release.
    opening: OpenSitting | None


def _sitting(view: JournalView, sitting_id: str) -> _Sitting:
    core = view.core
    title = view.sitting_title(sitting_id)
    for r in core.history:
        if r.sitting_id == sitting_id:
            return _Sitting(
                sitting_id,
                title,
                r.agenda,
                r.opened_at,
                r.closed_at,
                r.registrations,
                r.marks,
                r.moves,
                r.absences,
                r.opening,
            )
    a = core.attendance
    return _Sitting(
        sitting_id,
        title,
        core.agenda,
        core.sitting_opened_at,
        None,
        tuple(a.registrations),
        tuple(a.marks),
        tuple(a.moves),
        tuple(a.absences),
        core.opening,
    )


def _officers(view: JournalView, s: _Sitting) -> tuple[str, str]:
    """The chair's and the secretary's names: as the sitting was opened with them (a prepared
    sitting file: a name, or a delegate's id), else the hall's delegates with those roles
    ("" if none)."""
    hall = view.config.hall
    names = {d.id: d.name for d in hall.delegates}
    o = s.opening
    chair = (o.chair.strip() or names.get(o.chair_id, "")) if o is not None else ""
    secretary = (o.secretary.strip() or names.get(o.secretary_id, "")) if o is not None else ""
    chair = chair or next((d.name for d in hall.delegates if d.role is Role.CHAIR), "")
    secretary = secretary or next((d.name for d in hall.delegates if d.role is Role.SECRETARY), "")
    return chair, secretary


def _place(view: JournalView, s: _Sitting) -> str:
    """Where the sitting was held: the sitting file's place, else the hall file's."""
    place = s.opening.place.strip() if s.opening is not None else ""
    return place or view.config.place


def _sitting_title(s: _Sitting, language: Language) -> str:
    if language is Language.EN and s.opening is not None and s.opening.title_en.strip():
        return s.opening.title_en.strip()
    return s.title


def _item_title(item: AgendaItemSpec, language: Language) -> str:
    if language is Language.EN and item.title_en.strip():
        return item.title_en.strip()
    return item.title


def minutes_html(
    view: JournalView,
    language: Language | None = None,
    sitting_id: str | None = None,
    *,
    seal: Seal | None = None,
) -> str:
    """A self-contained, printable HTML page (inline CSS, no scripts, no outside resources),
    laid out for A4."""
    lang = language or view.config.hall.language
    w = WORDS[lang]
    sid = sitting_id or view.last_sitting()
    s = _sitting(view, sid)
    records = participation(view, sid)
    title = _sitting_title(s, lang)
    # Votes numbered in the order they were decided: the minutes name a vote by its number.
    votes = view.sitting_votes(sid)
    numbers = {v.definition.vote_id: n for n, v in enumerate(votes, start=1)}
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang.value}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(w['minutes'])}: {_e(title)}</title>",
        f"<style>{_PRINT_CSS}</style></head><body>",
        *_form_header(view, s, w),
        f"<h1>{_e(w['title'])}</h1>",
        f'<p class="sub">{_e(title)}</p>',
    ]
    out.extend(_part_time(view, s, w, lang, records))
    out.extend(_part_agenda(s, w, lang))
    out.extend(_part_votes(view, s, w, lang, votes, numbers))
    out.extend(_part_speeches(view, w, lang, records))
    closed = _moment(view, s.closed_at)
    if closed is not None:
        out.append(f"<p>{_e(w['closing'].format(clock=_clock_date(closed, w)))}</p>")
    else:
        out.append(f"<p>{_e(w['closing_open'])}</p>")
    out.extend(_signatures(view, s, w))
    out.extend(_appendix(view, w, votes, numbers, seal))
    out.append("</body></html>")
    # NFC throughout: a reason typed on a keyboard that sends decomposed accents (NFD) prints,
    # searches and copies as the same text as the hall file's names.
    return unicodedata.normalize("NFC", "\n".join(out) + "\n")


def _clock(moment: datetime, w: dict[str, str]) -> str:
    return w["clock"].format(**date_fields(moment))


def _clock_date(moment: datetime, w: dict[str, str]) -> str:
    return w["clock_date"].format(**date_fields(moment))


def _form_header(view: JournalView, s: _Sitting, w: dict[str, str]) -> list[str]:
    """The heading of an administrative document (Decree 30/2020/NĐ-CP, Appendix I): the
    issuing body top left, in bold capitals, a short rule and the number; the national name
    in bold capitals and the motto in bold, underlined, top right, then the place and date in
    italics."""
    body = view.config.hall.body.name.upper()
    moment = _moment(view, s.opened_at)
    place_date = ""
    if moment is not None:
        date = w["date"].format(**date_fields(moment))
        place = _place(view, s)
        place_date = f"{place}, {date}" if place else date[0].upper() + date[1:]
    return [
        '<table class="form"><tr>',
        f'<td class="left"><div class="org">{_e(body)}</div><div class="rule-short"></div>'
        f"<div>{_e(w['number'])}</div></td>",
        f'<td><div class="nation">{_e(w["nation"])}</div>'
        f'<div class="motto">{_e(w["motto"])}</div>'
        + (f'<div class="place-date">{_e(place_date)}</div>' if place_date else "")
        + "</td>",
        "</tr></table>",
    ]


def _present_at(p: Participation, at: float) -> bool:
    return any(per.start <= at and (per.end is None or per.end > at) for per in p.periods)


def _most_present(records: Sequence[Participation], voting: set[str]) -> int:
    """The most voting members present at one moment of the sitting (a sweep over periods)."""
    edges: list[tuple[float, int]] = []
    for p in records:
        if p.delegate_id not in voting:
            continue
        for per in p.periods:
            edges.append((per.start, 1))
            if per.end is not None:
                edges.append((per.end, -1))
    best = now = 0
    for _, step in sorted(edges):  # an end before a start at the same time: -1 sorts first
        now += step
        best = max(best, now)
    return best


def _part_time(
    view: JournalView,
    s: _Sitting,
    w: dict[str, str],
    lang: Language,
    records: Sequence[Participation],
) -> list[str]:
    """I. When and where, the chair and the secretary, attendance at the opening with the
    absent by name, those who came later, and the roll calls, marks and moves."""
    hall = view.config.hall
    members = hall.body.members
    out = [f"<h2>{_e(w['part_time'])}</h2>"]
    lines: list[str] = []
    opened, closed = _moment(view, s.opened_at), _moment(view, s.closed_at)
    if opened is not None:
        lines.append(f"{_e(w['start'])}: {_e(_clock_date(opened, w))}")
    lines.append(
        f"{_e(w['end'])}: {_e(_clock_date(closed, w) if closed is not None else w['not_closed'])}"
    )
    place = _place(view, s)
    if place:
        lines.append(f"{_e(w['place'])}: {_e(place)}")
    chair, secretary = _officers(view, s)
    lines.append(f"{_e(w['chair'])}: {_e(chair or w['unnamed'])}")
    lines.append(f"{_e(w['secretary'])}: {_e(secretary or w['unnamed'])}")
    lines.append(f"{_e(w['members'])}: {members}")
    out.append(f"<p>{'<br>'.join(lines)}</p>")

    voting = {d.id for d in hall.delegates if d.voting}
    counted = [p for p in records if p.delegate_id in voting]
    at_open = s.opened_at
    present = [p for p in counted if at_open is not None and _present_at(p, at_open)]
    template = "at_opening" if opened is not None else "at_opening_no_clock"
    figure = w[template].format(
        clock=_clock(opened, w) if opened is not None else "",
        count=len(present),
        members=members,
        share=share(len(present), members, lang),
    )
    out.append(f"<p><b>{_e(figure)}</b></p>")
    present_ids = {p.delegate_id for p in present}
    absent = [p for p in counted if p.delegate_id not in present_ids]
    # The secretary's latest note for each delegate is the one that stands.
    notes = {note.delegate: note for note in s.absences}
    if absent:
        out.append(f"<p>{_e(w['absent_at_opening'].format(count=len(absent)))}</p>")
        later = [p for p in absent if p.periods]
        never = [p for p in absent if not p.periods]
        if later:
            out.extend(_came_later(view, w, later, notes))
        if never:
            excused = sum(1 for p in never if (n := notes.get(p.delegate_id)) and n.excused)
            unexcused = sum(1 for p in never if (n := notes.get(p.delegate_id)) and not n.excused)
            line = w["absent_all"].format(
                count=len(never),
                excused=excused,
                unexcused=unexcused,
                unknown=len(never) - excused - unexcused,
            )
            out.append(f"<p>{_e(line)}:</p>")
            out.extend(_people_table(w, never, notes))
    else:
        out.append(f"<p>{_e(w['no_absent'])}</p>")
    most = _most_present(records, voting)
    out.append(f"<p>{_e(w['present_most'].format(count=most, members=members))}</p>")
    out.extend(_attendance_html(view, s, w))
    return out


def _came_later(
    view: JournalView,
    w: dict[str, str],
    people: Sequence[Participation],
    notes: dict[str, AbsenceNote],
) -> list[str]:
    """Those who came after the opening, by the minute they came (a compact list: in a hall
    where most take their seats just after the opening, one line holds them)."""
    by_minute: dict[str, list[str]] = {}
    for p in sorted(people, key=lambda p: p.periods[0].start):
        moment = _moment(view, p.periods[0].start)
        when = w["came_at"].format(clock=_clock(moment, w)) if moment is not None else ""
        note = notes.get(p.delegate_id)
        name = p.name
        if note is not None:
            kind = w["excused"] if note.excused else w["unexcused"]
            name = f"{name} ({kind}: {note.reason})"
        by_minute.setdefault(when, []).append(name)
    out = [f"<p>{_e(w['came_later'])} ({len(people)}):</p>", '<ul class="names">']
    for when, names in by_minute.items():
        head = when[:1].upper() + when[1:]
        out.append(f"<li><i>{_e(head)}</i> ({len(names)}): {_e(', '.join(names))}.</li>")
    out.append("</ul>")
    return out


def _people_table(
    w: dict[str, str],
    people: Sequence[Participation],
    notes: dict[str, AbsenceNote],
) -> list[str]:
    """The absent, each with the reason the secretary recorded (or that none was)."""
    out = [
        f"<table><thead><tr><th>{_e(w['delegate'])}</th><th>{_e(w['group'])}</th>"
        f"<th>{_e(w['status'])}</th></tr></thead><tbody>"
    ]
    for p in people:
        note = notes.get(p.delegate_id)
        if note is not None:
            status = f"{w['excused'] if note.excused else w['unexcused']}: {note.reason}"
        else:
            status = w["no_reason"]
        out.append(
            f"<tr><td>{_e(p.name)}</td><td>{_e(p.group)}</td>"
            f"<td>{_e(status[:1].upper() + status[1:])}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _attendance_html(view: JournalView, s: _Sitting, w: dict[str, str]) -> list[str]:
    """The sitting's roll calls, the seats the secretary marked by hand (with the reason) and
    the delegates moved to another seat (with the reason), in the minutes' words."""
    names = {d.id: d.name for d in view.config.hall.delegates}

    def when(at: float | None) -> str:
        moment = _moment(view, at)
        return _clock(moment, w) if moment is not None else ""

    out: list[str] = []
    if s.registrations:
        out.append("<ul>")
        for reg in s.registrations:
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
    if s.marks:
        out.append(f"<p>{_e(w['marks'])}:</p><ul>")
        for mark in s.marks:
            state = w["marked_present"] if mark.present else w["marked_absent"]
            at = when(mark.at)
            reason = f". {w['reason']}: {mark.reason}" if mark.reason else ""
            out.append(
                f"<li>{_e(names.get(mark.delegate, mark.delegate))} "
                f"({_e(w['seat'].format(seat=mark.seat))}): {_e(state)}"
                f"{_e(f', {at}' if at else '')}{_e(reason)}.</li>"
            )
        out.append("</ul>")
    if s.moves:
        out.append(f"<p>{_e(w['moves'])}:</p><ul>")
        for move in s.moves:
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


def _part_agenda(s: _Sitting, w: dict[str, str], lang: Language) -> list[str]:
    out = [f"<h2>{_e(w['part_agenda'])}</h2>"]
    if not s.agenda:
        out.append(f"<p>{_e(w['no_agenda'])}</p>")
        return out
    out.append("<ol>")
    out.extend(f"<li>{_e(_item_title(item, lang))}</li>" for item in s.agenda)
    out.append("</ol>")
    return out


def _part_votes(
    view: JournalView,
    s: _Sitting,
    w: dict[str, str],
    lang: Language,
    votes: Sequence[ClosedVote],
    numbers: dict[str, int],
) -> list[str]:
    """III. Each agenda item with its votes, in agenda order; votes of no item of the agenda
    after them."""
    out = [f"<h2>{_e(w['part_votes'])}</h2>"]
    items = {item.id for item in s.agenda}
    for n, item in enumerate(s.agenda, start=1):
        out.append(f"<h3>{n}. {_e(_item_title(item, lang))}</h3>")
        own = [v for v in votes if v.definition.item_id == item.id]
        if not own:
            out.append(f"<p>{_e(w['no_votes_item'])}</p>")
        for vote in own:
            out.extend(_vote_html(view, w, lang, vote, numbers))
    rest = [v for v in votes if v.definition.item_id not in items]
    if rest:
        if s.agenda:
            out.append(f"<h3>{_e(w['outside_agenda'])}</h3>")
        for vote in rest:
            out.extend(_vote_html(view, w, lang, vote, numbers))
    elif not s.agenda:
        out.append(f"<p>{_e(w['none'])}</p>")
    return out


def _vote_html(
    view: JournalView, w: dict[str, str], lang: Language, vote: ClosedVote, numbers: dict[str, int]
) -> list[str]:
    d, r = vote.definition, vote.result
    labels = _labels(d, lang)
    members = r.all_members
    number = numbers[d.vote_id]
    # The vote's id and mode as attributes, not text: for anchors and the secrecy checks.
    out = [f'<section class="vote" data-vote="{_e(d.vote_id)}" data-mode="{d.mode.value}">']
    out.append(f"<h4>{_e(w['vote_heading'].format(number=number, title=d.title))}</h4>")
    moment = _moment(view, r.closed_at)
    kind = KIND_LABELS[lang][d.kind]
    line = (w["vote_line"] if moment is not None else w["vote_line_no_clock"]).format(
        kind=kind, mode=w[d.mode.value], clock=_clock(moment, w) if moment is not None else ""
    )
    out.append(f"<p>{_e(line)}.</p>")
    who = [
        f"{w[f'{action}_by']}: {actor_text(vote.actors[action], lang)}"
        for action in ("opened", "closed")
        if action in vote.actors
    ]
    if who:
        out.append(f'<p class="actors">{_e("; ".join(who))}.</p>')
    if d.rerun_of is not None:
        rerun = numbers.get(d.rerun_of)
        out.append(f'<p class="mark">{_e(w["rerun"].format(number=rerun or "?"))}.</p>')
    if r.manual is not None:
        out.append(f'<p class="mark">{_e(w[r.manual.value])}.</p>')
    out.append(
        f"<p>{_e(w['present_at_vote'].format(present=r.present, members=members))}</p>"
        f"<table><thead><tr><th>{_e(w['answer'])}</th><th>{_e(w['count'])}</th>"
        f"<th>{_e(w['share_head'])}</th></tr></thead><tbody>"
    )
    for label, count in zip(labels, r.totals, strict=True):
        out.append(
            f'<tr><td>{_e(label)}</td><td class="n">{count}/{members}</td>'
            f'<td class="n">{_e(share(count, members, lang))}</td></tr>'
        )
    out.append(
        f'<tr><td>{_e(w["did_not_vote"])}</td><td class="n">{r.did_not_vote}/{members}</td>'
        f'<td class="n">{_e(share(r.did_not_vote, members, lang))}</td></tr>'
        f'<tr><td><b>{_e(w["voted"])}</b></td><td class="n"><b>{r.voted}/{members}</b></td>'
        f'<td class="n"><b>{_e(share(r.voted, members, lang))}</b></td></tr>'
        "</tbody></table>"
    )
    if r.annulled is not None:
        out.append(
            f'<p class="outcome annulled">{_e(w["annulled"])}. '
            f"{_e(w['reason'])}: {_e(r.annulled.reason)}</p>"
        )
        if "annulled" in vote.actors:
            annulled_by = actor_text(vote.actors["annulled"], lang)
            out.append(f'<p class="actors">{_e(w["annulled_by"])}: {_e(annulled_by)}.</p>')
    else:
        # The verdict once, with what its rule asked for.
        verdict = w["adopted"] if r.outcome.adopted else w["rejected"]
        out.append(
            f'<p><span class="outcome">{_e(w["result"])}: {_e(verdict)}</span>. '
            f"{_e(_rule_sentence(vote, lang))}</p>"
        )
    if r.choices:  # open and roll-call votes only: a secret vote has none, by construction
        names = {dl.id: dl.name for dl in view.config.hall.delegates}
        chart = view.core.attendance.seating.chart_for(d.vote_id)
        out.append(f'<p>{_e(w["by_choice"])}:</p><ul class="names">')
        for key, label in enumerate(labels, start=1):
            who = [names.get(chart.get(seat, ""), f"#{seat}") for seat, k in r.choices if k == key]
            out.append(
                f"<li><i>{_e(label)}</i> ({len(who)}): {_e(', '.join(who) or w['none'])}.</li>"
            )
        voted = set(r.participants)
        silent = [
            names.get(chart.get(seat, ""), f"#{seat}")
            for seat in r.electorate_at_close
            if seat not in voted
        ]
        out.append(
            f"<li><i>{_e(w['did_not_vote'])}</i> ({len(silent)}): "
            f"{_e(', '.join(silent) or w['none'])}.</li></ul>"
        )
    elif d.mode is VoteMode.SECRET:
        out.append(f'<p class="mark">{_e(w["secret_note"])}</p>')
    out.append("</section>")
    return out


def _rule_sentence(vote: ClosedVote, language: Language) -> str:
    """The outcome sentence decided again in `language`, less its closing verdict, which the
    minutes print once on its own: "Có 28/50 đại biểu tán thành; cần quá nửa tổng số 50 đại
    biểu (ít nhất 26)." The sentence ends "...: <verdict>." (`i18n.explain_outcome`)."""
    sentence = explanation(vote, language)
    head, sep, _verdict = sentence.rpartition(": ")
    return f"{head}." if sep else sentence


def _part_speeches(
    view: JournalView, w: dict[str, str], lang: Language, records: Sequence[Participation]
) -> list[str]:
    """IV. Every speech and question in the order they began, then the speakers' totals."""
    out = [f"<h2>{_e(w['part_speeches'])}</h2>"]
    turns = sorted(
        ((sp, p) for p in records for sp in p.speeches), key=lambda t: (t[0].start, t[0].seat)
    )
    if not turns:
        out.append(f"<p>{_e(w['no_speeches'])}</p>")
        return out
    out.append(
        f'<table><thead><tr><th class="n">#</th><th>{_e(w["time"])}</th>'
        f"<th>{_e(w['delegate'])}</th><th>{_e(w['group'])}</th><th>{_e(w['list'])}</th>"
        f"<th>{_e(w['duration'])}</th><th>{_e(w['granted_by'])}</th></tr></thead><tbody>"
    )
    for n, (speech, p) in enumerate(turns, start=1):
        moment = _moment(view, speech.start)
        granted = actor_text(view.floor_actors.get(speech.start), lang)
        out.append(
            f'<tr><td class="n">{n}</td>'
            f'<td class="n">{_e(_clock(moment, w) if moment is not None else "")}</td>'
            f"<td>{_e(p.name)}</td><td>{_e(p.group)}</td><td>{_e(w[speech.list.value])}</td>"
            f'<td class="n">{_e(duration(speech.duration_s, lang))}</td>'
            f"<td>{_e(granted)}</td></tr>"
        )
    out.append("</tbody></table>")
    speakers = [p for p in records if p.speeches]
    out.append(
        f"<h4>{_e(w['speakers'])}</h4>"
        f"<table><thead><tr><th>{_e(w['delegate'])}</th><th>{_e(w['group'])}</th>"
        f'<th class="n">{_e(w["turns"])}</th><th>{_e(w["total_time"])}</th></tr></thead><tbody>'
    )
    for p in speakers:
        out.append(
            f"<tr><td>{_e(p.name)}</td><td>{_e(p.group)}</td>"
            f'<td class="n">{len(p.speeches)}</td>'
            f'<td class="n">{_e(duration(p.speaking_s(), lang))}</td></tr>'
        )
    out.append("</tbody></table>")
    if len(speakers) < len(records):
        out.append(f"<p>{_e(w['others_silent'])}</p>")
    return out


def _signatures(view: JournalView, s: _Sitting, w: dict[str, str]) -> list[str]:
    """The signers' titles and names at the end: the secretary left, the chair right."""
    chair, secretary = _officers(view, s)
    cells = []
    for title, name in ((w["secretary"], secretary), (w["chair"], chair)):
        cells.append(
            f'<td><div class="signer">{_e(title.upper())}</div>'
            f'<div class="sign-hint">{_e(w["sign"])}</div>'
            f'<div class="signer-name">{_e(name or w["unnamed"])}</div></td>'
        )
    return ['<table class="signatures"><tr>', *cells, "</tr></table>"]


def _appendix(
    view: JournalView,
    w: dict[str, str],
    votes: Sequence[ClosedVote],
    numbers: dict[str, int],
    seal: Seal | None,
) -> list[str]:
    """The audit details on a page of their own: what ties this document to the journal."""
    out = [
        '<section class="appendix">',
        f"<h2>{_e(w['appendix'])}</h2>",
        f"<p>{_e(w['appendix_note'])}</p>",
        f'<p>{_e(w["journal_id"])}: <span class="hash">{_e(view.journal_id)}</span></p>',
        f"<p>{_e(w['journal_head'].format(seq=view.head_seq))}: "
        f'<span class="hash">{_e(view.head_hash)}</span></p>',
    ]
    if votes:
        out.append("<ul>")
        for vote in votes:
            line = w["vote_record"].format(number=numbers[vote.definition.vote_id], seq=vote.seq)
            out.append(f'<li>{_e(line)}: <span class="hash">{_e(vote.head_hash)}</span></li>')
        out.append("</ul>")
    if seal is not None:
        out.append(
            f'<p>{_e(w["seal_key"])}: <span class="hash">{_e(seal.fingerprint)}</span></p>'
            f'<p>{_e(w["seal_signature"])}: <span class="hash">{_e(seal.signature)}</span></p>'
        )
    else:
        out.append(f"<p>{_e(w['no_seal'])}</p>")
    out.append(f"<p>{_e(w['verify'])}</p>")
    out.append("</section>")
    return out


# --- one entry point for the API and the command line ---------------------------------------

MEDIA_TYPES: dict[Format, str] = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.JSON: "application/json",
    Format.HTML: "text/html; charset=utf-8",
    Format.PDF: "application/pdf",
}


def render(
    view: JournalView,
    what: What,
    fmt: Format,
    *,
    sitting_id: str | None = None,
    language: Language | None = None,
    seal: Seal | None = None,
) -> str:
    """The export as text; `ExportError` for an unknown sitting or a format `what` lacks
    (a PDF is bytes: `render_bytes`)."""
    if what is What.MINUTES:
        if fmt is not Format.HTML:
            raise ExportError("minutes are HTML or PDF")
        return minutes_html(view, language, sitting_id, seal=seal)
    if fmt in (Format.HTML, Format.PDF):
        raise ExportError(f"{what.value} are CSV or JSON")
    if what is What.RESULTS:
        if sitting_id is not None:
            view.sitting_title(sitting_id)
        if fmt is Format.CSV:
            return results_csv(view, sitting_id, language)
        return results_json(view, sitting_id)
    if fmt is Format.CSV:
        return participation_csv(view, sitting_id, language)
    return participation_json(view, sitting_id)


def render_bytes(
    view: JournalView,
    what: What,
    fmt: Format,
    *,
    sitting_id: str | None = None,
    language: Language | None = None,
    seal: Seal | None = None,
) -> bytes:
    """The export as the bytes of its file: text in UTF-8, or the minutes printed to a PDF
    by headless Chromium (A4, as the page's @page rule asks)."""
    if fmt is not Format.PDF:
        text = render(view, what, fmt, sitting_id=sitting_id, language=language, seal=seal)
        return text.encode("utf-8")
    if what is not What.MINUTES:
        raise ExportError(f"{what.value} are CSV or JSON")
    page = minutes_html(view, language, sitting_id, seal=seal)
    return html_pdf(page)


def html_pdf(page: str) -> bytes:
    """A printable page as PDF bytes, by the Chromium print path the term report uses."""
    import tempfile

    # Imported here: the report module builds on this one.
    from chamber.controller.report import ReportError, html_to_pdf

    with tempfile.TemporaryDirectory(prefix="chamber-minutes-") as tmp:
        out = Path(tmp) / "minutes.pdf"
        try:
            html_to_pdf(page, out)
        except ReportError as exc:
            raise ExportError(str(exc).replace("the report", "the minutes")) from exc
        return out.read_bytes()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", type=Path, required=True, help="the journal file")
    parser.add_argument("--config", type=Path, required=True, help="the hall's TOML file")
    parser.add_argument(
        "what_arg",
        nargs="?",
        choices=[w.value for w in What],
        metavar="WHAT",
        help="what to export: results, participation or minutes (as --what)",
    )
    parser.add_argument(
        "--format",
        choices=[f.value for f in Format],
        help="csv, json, html or pdf (default: html for the minutes, csv otherwise)",
    )
    parser.add_argument("--what", choices=[w.value for w in What], help="default: results")
    parser.add_argument(
        "--sitting",
        help="a sitting's id (default: all; the last one for participation and minutes)",
    )
    parser.add_argument(
        "--lang",
        choices=[lang.value for lang in Language],
        help="language of the minutes and of the CSV headers (default: the hall's)",
    )
    parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    """Exit 0 on success, 2 if the journal, the hall file or the sitting cannot be used."""
    from chamber.controller.config import ConfigError, load_config

    named = {w for w in (args.what, args.what_arg) if w is not None}
    if len(named) > 1:
        print(f"error: {args.what_arg} or --what {args.what}: name one", file=sys.stderr)
        return 2
    what = What(named.pop()) if named else What.RESULTS
    fmt = Format(args.format) if args.format else Format.HTML
    if args.format is None and what is not What.MINUTES:
        fmt = Format.CSV
    try:
        config = load_config(args.config)
        view = replay_journal(args.journal, config)
        data = render_bytes(
            view,
            what,
            fmt,
            sitting_id=args.sitting,
            language=Language(args.lang) if args.lang else None,
            seal=_seal_for(args.journal, view),
        )
    except (ConfigError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        # Bytes as they are: the CSV's CRLF line ends, a PDF.
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def _seal_for(journal: Path, view: JournalView) -> Seal | None:
    """The hall key's seal when the hall's key lies beside the journal (its data directory);
    None for a copy of the journal elsewhere: an export never makes a key of its own."""
    from chamber.controller.signing import KEY_FILE, HallKey, SigningError, minutes_seal

    if not (journal.parent / KEY_FILE).is_file():
        return None
    try:
        return minutes_seal(view, HallKey.load_or_create(journal.parent))
    except SigningError as exc:
        raise ExportError(f"the hall's key cannot be used: {exc}") from exc
