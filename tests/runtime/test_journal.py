"""The journal: durable, replayable, hash-chained, and group-committed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller import journal as journal_module
from chamber.controller.core.inputs import (
    AgendaItemSpec,
    CloseVote,
    CreateVote,
    Input,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    Tick,
    VoteKeyPressed,
    to_record,
)
from chamber.controller.core.model import AnswerSet, VoteMode
from chamber.controller.journal import (
    GENESIS_TAG,
    CommitError,
    Journal,
    JournalClosedError,
    JournalCorruptError,
    JournalReader,
    JournalRecord,
    JournalVersionError,
    JournalWriter,
    NotAJournalError,
    Problem,
    RecordError,
    SealedPress,
    SealVote,
    canonical_json,
    head_file_of,
    verify,
)

VI_TITLE = "Nghị quyết về dự toán ngân sách — tán thành / không tán thành / không biểu quyết"


def _record(i: int) -> dict[str, Any]:
    return {"kind": "vote-key", "at": 100.0 + i / 8, "seat": 1 + i % 500, "key": 1 + i % 3}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sitting.journal"


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    with Journal.open(path) as j:
        yield j


# --- durability and format ------------------------------------------------------------------


def test_append_close_reopen_reads_back_exactly(path: Path) -> None:
    records = [
        to_record(OpenSitting(at=1.0, sitting_id="HĐND-7", title=VI_TITLE)),
        _record(1),
        {"kind": "note", "at": 2.5, "text": "Đại biểu Nguyễn Thị Hằng xin phát biểu", "n": None},
    ]
    with Journal.open(path) as j:
        assert j.append_batch(records) == [1, 2, 3]
        journal_id = j.journal_id
    with Journal.open(path) as j:
        assert j.journal_id == journal_id
        assert list(j.records()) == list(enumerate(records, start=1))
        assert j.append(_record(4)) == 4
    with sqlite3.connect(path) as raw:
        stored = raw.execute("SELECT body FROM records WHERE seq = 1").fetchone()[0]
    # Readable in the file as written, not \u-escaped.
    assert VI_TITLE in stored
    assert stored == canonical_json(records[0])


def test_each_row_hashes_its_predecessor_from_the_genesis(journal: Journal, path: Path) -> None:
    journal.append_batch([_record(i) for i in range(3)])
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq").fetchall()
    prev = hashlib.sha256(GENESIS_TAG + journal.journal_id.encode()).hexdigest()
    for seq, body, prev_hash, digest in rows:
        assert prev_hash == prev
        assert digest == hashlib.sha256(prev.encode() + body.encode()).hexdigest()
        assert json.loads(body) == _record(seq - 1)
        prev = digest
    assert journal.head.hash == prev


def test_a_batch_is_one_commit(journal: Journal) -> None:
    before = journal.commits
    assert journal.append_batch([_record(i) for i in range(500)]) == list(range(1, 501))
    assert journal.commits == before + 1


def test_wal_and_full_sync_are_on(journal: Journal, path: Path) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_records_from_a_later_seq(journal: Journal) -> None:
    journal.append_batch([_record(i) for i in range(3000)])
    got = list(journal.records(from_seq=2990))
    assert [seq for seq, _ in got] == list(range(2990, 3001))
    assert got[0][1] == _record(2989)


@pytest.mark.parametrize(
    "bad",
    [
        {"at": float("nan")},
        {"at": float("inf")},
        {"seat": object()},
        {"text": "\ud800 lone surrogate"},
        ["not", "an", "object"],
    ],
)
def test_a_bad_record_refuses_the_whole_batch(journal: Journal, bad: Any) -> None:
    journal.append(_record(0))
    with pytest.raises(RecordError):
        journal.append_batch([_record(1), bad])
    assert [seq for seq, _ in journal.records()] == [1]
    assert journal.append(_record(2)) == 2
    assert verify(journal.path).ok


def test_closed_journal_refuses_appends(path: Path) -> None:
    j = Journal.open(path)
    j.close()
    with pytest.raises(JournalClosedError):
        j.append(_record(0))
    with pytest.raises(JournalClosedError):
        list(j.records())


def test_not_a_journal(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(8192))
    with pytest.raises(NotAJournalError):
        Journal.open(garbage)
    with pytest.raises(NotAJournalError):
        verify(garbage)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE t (x)")
    with pytest.raises(NotAJournalError):
        Journal.open(other)
    with pytest.raises(NotAJournalError):
        verify(tmp_path / "absent.journal")


def test_newer_schema_is_refused(path: Path) -> None:
    Journal.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 2")
    with pytest.raises(JournalVersionError, match="version 2"):
        Journal.open(path)
    with pytest.raises(JournalVersionError):
        verify(path)


def test_open_refuses_a_journal_whose_tail_was_removed(path: Path) -> None:
    with Journal.open(path) as j:
        j.append_batch([_record(i) for i in range(5)])
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM records WHERE seq = 5")
    with pytest.raises(JournalCorruptError, match="audit verify"):
        Journal.open(path)


# --- replay ---------------------------------------------------------------------------------

_seat = st.integers(min_value=1, max_value=4096)
_at = st.floats(min_value=0, max_value=1e7, allow_nan=False)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_inputs: st.SearchStrategy[Input] = st.one_of(
    st.builds(VoteKeyPressed, at=_at, seat=_seat, key=st.integers(1, 10)),
    st.builds(PresenceChanged, at=_at, seat=_seat, present=st.booleans(), card=st.none() | _text),
    st.builds(
        OpenSitting,
        at=_at,
        sitting_id=_text,
        title=_text,
        agenda=st.lists(st.builds(AgendaItemSpec, id=_text, title=_text), max_size=3).map(tuple),
    ),
    st.builds(
        CreateVote,
        at=_at,
        vote_id=_text,
        title=_text,
        answers=st.sampled_from(AnswerSet),
        mode=st.none() | st.sampled_from(VoteMode),
        duration_s=st.none() | _at,
    ),
    st.builds(OpenVote, at=_at, vote_id=_text),
    st.builds(CloseVote, at=_at, vote_id=_text),
    st.builds(Tick, at=_at),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_inputs, max_size=30))
def test_replay_gives_back_the_inputs_in_order(inputs: list[Input]) -> None:
    with tempfile.TemporaryDirectory() as d, Journal.open(Path(d) / "j") as j:
        j.append_batch([to_record(i) for i in inputs])
        assert list(j.replay_inputs()) == inputs
        assert verify(j.path).records == len(inputs)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.dictionaries(_text, _json, max_size=5), min_size=1, max_size=10))
def test_any_json_object_round_trips(records: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        with Journal.open(Path(d) / "j") as j:
            j.append_batch(records)
        with Journal.open(Path(d) / "j") as j:
            assert [r for _, r in j.records()] == records


# --- a crash in the middle ------------------------------------------------------------------

_CHILD = """
import os, sys
from chamber.controller.journal import Journal
j = Journal.open(sys.argv[1])
k = 0
while True:
    batch = [{"kind": "note", "at": float(i), "text": "không biểu quyết " * 8,
              "batch": f"{os.getpid()}-{k}"} for i in range(64)]
    seqs = j.append_batch(batch)
    k += 1
    print(seqs[-1], flush=True)
"""


def test_sigkill_mid_append_leaves_a_consistent_journal(path: Path) -> None:
    for _round in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(journal_module.__file__).parents[1],
        )
        assert child.stdout is not None
        # Wait on the child's own acknowledgements, not on time.
        acknowledged = 0
        for _ in range(40):
            line = child.stdout.readline()
            assert line, "child died before it was killed"
            acknowledged = int(line)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL

        report = verify(path)
        assert report.ok, report
        with Journal.open(path) as j:
            records = list(j.records())
            # Everything acknowledged is there, in order, with no hole.
            assert [seq for seq, _ in records] == list(range(1, report.records + 1))
            assert report.records >= acknowledged
            # The batch in flight is wholly there or wholly absent: no partial record or batch.
            sizes: dict[str, int] = {}
            for _, record in records:
                if "batch" in record:
                    sizes[record["batch"]] = sizes.get(record["batch"], 0) + 1
            assert set(sizes.values()) == {64}
            # The journal carries on on top of the crash with an intact chain.
            j.append({"kind": "note", "at": 0.0, "text": "sau sự cố"})
        assert verify(path).ok


# --- group commit ---------------------------------------------------------------------------


async def test_concurrent_submits_share_commits_and_are_durable(journal: Journal) -> None:
    n = 2000

    async def press(i: int) -> int:
        seq = await writer.submit(_record(i))
        if i % 100 == 0:
            # Durable on return: another connection already sees it.
            with sqlite3.connect(journal.path) as raw:
                row = raw.execute("SELECT body FROM records WHERE seq = ?", (seq,)).fetchone()
            assert json.loads(row[0]) == _record(i)
        return seq

    async with JournalWriter(journal) as writer:
        seqs = await asyncio.gather(*(press(i) for i in range(n)))
        assert sorted(seqs) == list(range(1, n + 1))
        # Sequence numbers follow submit order.
        assert seqs == list(range(1, n + 1))
        assert writer.records == n
        assert writer.commits <= 5
    journal.close()
    report = verify(journal.path)
    assert report.ok
    assert report.records == n


async def test_submits_during_a_commit_wait_for_it_and_share_the_next(journal: Journal) -> None:
    loop = asyncio.get_running_loop()
    busy = asyncio.Event()
    release = threading.Event()

    def hold_the_commit_thread() -> None:
        loop.call_soon_threadsafe(busy.set)
        assert release.wait(30)

    async with JournalWriter(journal) as writer:
        held = asyncio.ensure_future(writer.run_after_pending(hold_the_commit_thread))
        await busy.wait()
        # The commit thread is busy, yet the event loop keeps taking submits.
        wave = [asyncio.ensure_future(writer.submit(_record(i))) for i in range(300)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in wave)
        release.set()
        await held
        assert await asyncio.gather(*wave) == list(range(1, 301))
        assert (writer.commits, writer.records) == (1, 300)


async def test_a_bad_record_fails_only_its_own_submit(journal: Journal) -> None:
    async with JournalWriter(journal) as writer:
        results = await asyncio.gather(
            writer.submit(_record(0)),
            writer.submit({"at": float("nan")}),
            writer.submit(_record(1)),
            return_exceptions=True,
        )
    assert results[0] == 1
    assert isinstance(results[1], RecordError)
    assert results[2] == 2


async def test_a_failed_commit_reaches_every_waiter(journal: Journal) -> None:
    async with JournalWriter(journal) as writer:
        assert await writer.submit(_record(0)) == 1
        journal.close()
        results = await asyncio.gather(
            *(writer.submit(_record(i)) for i in range(3)), return_exceptions=True
        )
    assert all(isinstance(r, JournalClosedError) for r in results)


async def test_a_closed_writer_refuses(journal: Journal) -> None:
    writer = JournalWriter(journal)
    await writer.aclose()
    with pytest.raises(JournalClosedError):
        await writer.submit(_record(0))


async def test_commit_error_is_typed(journal: Journal, path: Path) -> None:
    # Another connection holds the write lock beyond the busy timeout: SQLite says "locked".
    journal._conn.execute("PRAGMA busy_timeout = 0")
    with sqlite3.connect(path, isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")
        async with JournalWriter(journal) as writer:
            with pytest.raises(CommitError, match="locked"):
                await writer.submit(_record(0))
        other.execute("ROLLBACK")
    assert journal.append(_record(0)) == 1
    assert verify(path).ok


# --- one append path -----------------------------------------------------------------------


def test_a_seal_is_a_commit_of_the_one_append_path(journal: Journal) -> None:
    """Records, secret presses and the seal of a vote go through one transaction."""
    press = SealedPress("v1", b"\0" * 12, b"\1" * 32)
    first = journal.commit_items([canonical_json(_record(0)), press, press])
    assert first[0] == 1
    assert first[1] < first[2]
    writes, commits = journal._head_file.writes, journal.commits
    # A closing record and the seal, in the same commit: the seal gives the presses deleted.
    assert journal.commit_items([canonical_json(_record(1)), SealVote("v1")]) == [2, 2]
    assert journal.commits == commits + 1
    assert journal._head_file.writes == writes + 1
    assert journal.secret_presses() == []
    assert journal.sealed_votes() == {"v1"}
    # `seal_secret_vote` is that commit: with no closing record the head does not move, and
    # the head file is not written again.
    assert journal.seal_secret_vote("v1", None) is None
    assert journal.head.seq == 2
    assert journal._head_file.writes == writes + 1
    assert journal.seal_secret_vote("v2", _record(2)) == 3
    assert journal.sealed_votes() == {"v1", "v2"}
    assert [seq for seq, _ in journal.records()] == [1, 2, 3]
    assert verify(journal.path).ok


def test_a_refused_commit_keeps_nothing_of_a_seal(journal: Journal, path: Path) -> None:
    press = SealedPress("v1", b"\0" * 12, b"\1" * 32)
    journal.commit_items([press])
    journal._conn.execute("PRAGMA busy_timeout = 0")
    with sqlite3.connect(path, isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(CommitError, match="commit failed"):
            journal.seal_secret_vote("v1", _record(0))
        other.execute("ROLLBACK")
    assert journal.head.seq == 0
    assert len(journal.secret_presses("v1")) == 1
    assert journal.sealed_votes() == set()
    assert journal.seal_secret_vote("v1", _record(0)) == 1
    assert verify(path).ok


# --- the reader -----------------------------------------------------------------------------


def test_the_reader_yields_typed_checked_records(journal: Journal) -> None:
    inputs = [OpenVote(at=1.0, vote_id="v1"), Tick(at=2.0)]
    journal.append_batch([to_record(i) for i in inputs])
    reader = JournalReader(journal.path)
    before = reader.journal_id  # known once a read has begun
    got = list(reader.records())
    assert before is None
    assert all(isinstance(r, JournalRecord) for r in got)
    assert [r.seq for r in got] == [1, 2]
    assert [r.input() for r in got] == inputs
    assert got[-1].hash == journal.head.hash
    assert reader.journal_id == journal.journal_id
    assert (reader.checked, reader.head_hash) == (2, journal.head.hash)
    assert list(reader.inputs()) == inputs
    undecoded = list(reader.records(decode=False))
    assert [(r.seq, r.record, r.hash) for r in undecoded] == [(r.seq, {}, r.hash) for r in got]


def test_verify_keeps_the_hashes_it_is_asked_for(journal: Journal, path: Path) -> None:
    journal.append_batch([_record(i) for i in range(5)])
    stored = {r.seq: r.hash for r in JournalReader(path).records()}
    report = JournalReader(path).verify(keep=(2, 5, 9))
    assert report.ok
    assert report.journal_id == journal.journal_id
    assert dict(report.hashes) == {2: stored[2], 5: stored[5]}
    assert JournalReader(path).verify().hashes == {}


def test_the_reader_writes_nothing(journal: Journal, path: Path) -> None:
    """Read-only: reading a journal, good or bad, changes neither the journal, its WAL nor its
    head file (SQLite may leave an empty WAL and its index beside it)."""
    journal.append_batch([_record(i) for i in range(5)])
    journal.close()

    def contents() -> list[bytes]:
        wal = Path(f"{path}-wal")
        return [path.read_bytes(), head_file_of(path).read_bytes()] + (
            [wal.read_bytes()] if wal.exists() else []
        )

    before = contents()
    assert JournalReader(path).verify().ok
    after = contents()
    assert after[:2] == before[:2]
    assert after[2:] in ([], [b""])
    _tamper(path, "UPDATE records SET body = '{}' WHERE seq = 3")
    before = contents()
    assert JournalReader(path).verify().problem is Problem.HASH_MISMATCH
    assert list(JournalReader(path).records(from_seq=4)) != []
    assert contents() == before


# --- verify ---------------------------------------------------------------------------------


def _tamper(path: Path, sql: str, *args: Any) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute(sql, args)


@pytest.fixture
def ten(path: Path) -> Path:
    with Journal.open(path) as j:
        j.append_batch([_record(i) for i in range(10)])
    return path


def test_verify_ok(ten: Path) -> None:
    report = verify(ten)
    assert report.ok
    assert report.records == 10
    assert "OK, 10 records" in str(report)


def test_verify_names_a_changed_body(ten: Path) -> None:
    _tamper(ten, "UPDATE records SET body = replace(body, '\"key\":2', '\"key\":1') WHERE seq = 5")
    report = verify(ten)
    assert (report.problem, report.seq, report.records) == (Problem.HASH_MISMATCH, 5, 4)
    assert "record 5" in str(report)


def test_verify_names_a_changed_hash(ten: Path) -> None:
    _tamper(
        ten,
        "UPDATE records SET hash = "
        "(CASE WHEN substr(hash, 1, 1) = '0' THEN '1' ELSE '0' END) || substr(hash, 2) "
        "WHERE seq = 7",
    )
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.HASH_MISMATCH, 7)


def test_verify_names_a_changed_link(ten: Path) -> None:
    # Its first hex digit changed (to one it is not: a random genesis may start with "0").
    _tamper(
        ten,
        "UPDATE records SET prev_hash = "
        "(CASE WHEN substr(prev_hash, 1, 1) = '0' THEN '1' ELSE '0' END) || substr(prev_hash, 2) "
        "WHERE seq = 1",
    )
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.BROKEN_LINK, 1)


def test_verify_names_a_deleted_row(ten: Path) -> None:
    _tamper(ten, "DELETE FROM records WHERE seq = 4")
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.SEQ_GAP, 4)


def test_verify_names_a_deleted_last_row(ten: Path) -> None:
    _tamper(ten, "DELETE FROM records WHERE seq = 10")
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.TRUNCATED, 10)


def test_verify_names_a_row_added_behind_its_back(ten: Path) -> None:
    with sqlite3.connect(ten) as raw:
        prev = raw.execute("SELECT hash FROM records WHERE seq = 10").fetchone()[0]
        body = canonical_json(_record(99))
        digest = hashlib.sha256(prev.encode() + body.encode()).hexdigest()
        raw.execute("INSERT INTO records VALUES (11, ?, ?, ?)", (body, prev, digest))
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.HEAD_MISMATCH, 11)


def test_verify_names_reordered_rows(ten: Path) -> None:
    with sqlite3.connect(ten) as raw:
        raw.execute("UPDATE records SET seq = 100 WHERE seq = 3")
        raw.execute("UPDATE records SET seq = 3 WHERE seq = 6")
        raw.execute("UPDATE records SET seq = 6 WHERE seq = 100")
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.BROKEN_LINK, 3)


def test_verify_names_a_rehashed_record_that_is_not_json(ten: Path) -> None:
    # Someone who recomputes the hash still cannot slip in a non-record.
    with sqlite3.connect(ten) as raw:
        prev = raw.execute("SELECT prev_hash FROM records WHERE seq = 1").fetchone()[0]
        body = "{not json"
        digest = hashlib.sha256(prev.encode() + body.encode()).hexdigest()
        raw.execute("UPDATE records SET body = ?, hash = ? WHERE seq = 1", (body, digest))
    report = verify(ten)
    assert (report.problem, report.seq) == (Problem.BAD_JSON, 1)


def test_audit_verify_command(ten: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from chamber.controller import audit_cli

    parser = argparse.ArgumentParser()
    audit_cli.add_arguments(parser)
    assert audit_cli.run(parser.parse_args(["verify", str(ten)])) == 0
    assert "OK, 10 records" in capsys.readouterr().out
    _tamper(ten, "DELETE FROM records WHERE seq = 2")
    assert audit_cli.run(parser.parse_args(["verify", str(ten)])) == 1
    assert "record 2" in capsys.readouterr().out
    assert audit_cli.run(parser.parse_args(["verify", str(ten) + ".absent"])) == 2


# Raw byte flips in the file itself, found by their place in the record's stored payload.

_N = 24


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[bytes]]:
    path = tmp_path_factory.mktemp("pristine") / "j"
    with Journal.open(path) as j:
        j.append_batch([_record(i) | {"title": f"{VI_TITLE} #{i}"} for i in range(_N)])
    # Closing the last connection checkpoints the WAL into the file and removes it.
    assert not Path(f"{path}-wal").exists()
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT body, prev_hash, hash FROM records ORDER BY seq").fetchall()
    data = path.read_bytes()
    payloads = [b.encode() + p.encode() + h.encode() for b, p, h in rows]
    for payload in payloads:
        assert data.count(payload) == 1
    return data, payloads


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    index=st.integers(0, _N - 1),
    where=st.floats(0, 1, exclude_max=True),
    mask=st.integers(1, 255),
)
def test_a_single_flipped_byte_in_the_file_is_named(
    pristine: tuple[bytes, list[bytes]], index: int, where: float, mask: int
) -> None:
    data, payloads = pristine
    payload = payloads[index]
    offset = int(where * len(payload))
    body_len = len(payload) - 128
    at = data.index(payload) + offset
    flipped = bytearray(data)
    flipped[at] ^= mask
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j"
        path.write_bytes(bytes(flipped))
        report = verify(path)
    assert not report.ok
    assert report.seq == index + 1
    if body_len <= offset < body_len + 64:
        assert report.problem is Problem.BROKEN_LINK
    else:
        assert report.problem is Problem.HASH_MISMATCH
