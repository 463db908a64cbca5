"""Nothing is built on a damaged or changed journal: the whole chain is checked before the
daemon starts and by every read, and the head file witnesses the last commit outside the SQLite
files, so a cut or damaged WAL, or an older copy of the journal, is caught too."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chamber.controller import audit_cli
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import check_journal
from chamber.controller.exports import ExportError, replay_journal
from chamber.controller.journal import (
    _SLOT,
    Journal,
    JournalCorruptError,
    JournalReader,
    JournalVersionError,
    JournalWriter,
    Problem,
    SealedPress,
    Witness,
    _decode_slot,
    _encode_slot,
    canonical_json,
    check_before_start,
    head_file_of,
    read_witness,
    verify,
)
from chamber.controller.runtime import Runtime
from tests.fixtures import make_journal_v1 as v1

CHAMBER = Path(sys.executable).with_name("chamber")
WAL_HEADER = 32


def _record(i: int) -> dict[str, Any]:
    return {"kind": "vote-key", "at": 100.0 + i / 8, "seat": 1 + i % 50, "key": 1 + i % 3}


def _commits(journal: Journal, first: int, count: int, per_commit: int = 3) -> None:
    for c in range(count):
        base = first + c * per_commit
        journal.append_batch([_record(base + k) for k in range(per_commit)])


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "hall" / "sitting.journal"


@pytest.fixture
def wal_copy(path: Path, tmp_path: Path) -> tuple[Path, int, int]:
    """A journal as a crash leaves it: its last commits only in the WAL. Returns the copy,
    the records in the main file, and the records committed (the head file's)."""
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 4)
        assert journal.checkpoint_truncate()
        in_file = journal.head.seq
        # No automatic checkpoint may move the later commits into the main file.
        journal._conn.execute("PRAGMA wal_autocheckpoint=0")
        _commits(journal, 100, 5)
        committed = journal.head.seq
        crashed = tmp_path / "crashed"
        crashed.mkdir()
        copy = crashed / path.name
        for suffix in ("", "-wal", ".head"):
            shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
    assert Path(f"{copy}-wal").stat().st_size > WAL_HEADER
    return copy, in_file, committed


def _records_sqlite_sees(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute("SELECT count(*) FROM records").fetchone()[0])


# --- the WAL: cut, damaged ------------------------------------------------------------------


def test_a_crash_copy_with_its_wal_is_whole(wal_copy: tuple[Path, int, int]) -> None:
    copy, _, committed = wal_copy
    report = verify(copy)
    assert report.ok, report
    assert report.records == committed
    assert report.witness is not None
    assert report.witness.seq == committed


def test_a_cut_wal_is_caught_by_verify_and_at_open(wal_copy: tuple[Path, int, int]) -> None:
    copy, in_file, committed = wal_copy
    wal = Path(f"{copy}-wal")
    # Cut inside the last frame: SQLite drops the last commit without a word.
    os.truncate(wal, wal.stat().st_size - 100)
    head_file = head_file_of(copy).read_bytes()
    report = verify(copy)
    assert not report.ok
    assert report.problem is Problem.LOST_RECORDS
    lost_from = report.seq
    assert lost_from is not None
    assert in_file < lost_from <= committed
    assert f"record {lost_from}" in str(report)
    assert str(committed) in report.detail
    with pytest.raises(JournalCorruptError, match=f"record {lost_from}: lost-records"):
        Journal.open(copy)
    # SQLite itself sees a shorter journal, nothing more: only the head file tells.
    assert _records_sqlite_sees(copy) == lost_from - 1
    assert head_file_of(copy).read_bytes() == head_file  # a refused open writes nothing


def test_a_wal_cut_to_its_header_is_caught(wal_copy: tuple[Path, int, int]) -> None:
    copy, in_file, _ = wal_copy
    os.truncate(f"{copy}-wal", WAL_HEADER)
    report = verify(copy)
    assert (report.problem, report.seq) == (Problem.LOST_RECORDS, in_file + 1)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_damaged_wal_is_caught(wal_copy: tuple[Path, int, int], seed: int) -> None:
    copy, in_file, committed = wal_copy
    wal = Path(f"{copy}-wal")
    data = bytearray(wal.read_bytes())
    # A byte of the WAL's frames (not its header), at a seeded place.
    at = random.Random(seed).randrange(WAL_HEADER, len(data))
    data[at] ^= 0x5A
    wal.write_bytes(bytes(data))
    report = verify(copy)
    assert not report.ok
    assert report.problem is Problem.LOST_RECORDS
    assert report.seq is not None
    assert in_file < report.seq <= committed
    with pytest.raises(JournalCorruptError):
        Journal.open(copy)


# --- an older copy, a removed journal, a rewritten chain ------------------------------------


def test_a_journal_replaced_by_an_older_copy_of_itself_is_caught(path: Path) -> None:
    path.parent.mkdir()
    older = path.with_name("older.journal")
    with Journal.open(path) as journal:
        _commits(journal, 0, 3)
        # The technician's online backup (docs/technician.md), taken mid-sitting.
        with sqlite3.connect(older) as backup:
            journal._conn.backup(backup)
        _commits(journal, 100, 2)
        committed = journal.head.seq
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(older, path)
    assert verify(older).ok  # the backup itself is sound; it is only older
    report = verify(path)
    assert (report.problem, report.seq) == (Problem.LOST_RECORDS, 10)
    assert f"records 10 to {committed} were committed" in report.detail
    with pytest.raises(JournalCorruptError, match="record 10: lost-records"):
        Journal.open(path)
    with pytest.raises(JournalCorruptError, match="record 10"):
        check_before_start(path)


def test_a_removed_journal_is_not_silently_started_afresh(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 2)
    path.unlink()
    with pytest.raises(JournalCorruptError, match="records 1 to 6 were committed"):
        check_before_start(path)
    with pytest.raises(JournalCorruptError, match="lost-records"):
        Journal.open(path)


def test_a_chain_rewritten_with_its_hashes_recomputed_is_caught(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 3)
    # Change record 5 and recompute every hash from it on, and the head: the chain alone
    # cannot tell; the head file can.
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT seq, body FROM records WHERE seq >= 5 ORDER BY seq").fetchall()
        prev = raw.execute("SELECT hash FROM records WHERE seq = 4").fetchone()[0]
        for seq, body in rows:
            if seq == 5:
                record = json.loads(body)
                record["key"] = 1 + record["key"] % 3  # another choice
                body = canonical_json(record)
            digest = hashlib.sha256(prev.encode() + body.encode()).hexdigest()
            raw.execute(
                "UPDATE records SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (body, prev, digest, seq),
            )
            prev = digest
        raw.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (prev,))
    report = verify(path)
    assert (report.problem, report.seq) == (Problem.HEAD_FILE_MISMATCH, 9)
    with pytest.raises(JournalCorruptError, match="head-file-mismatch"):
        Journal.open(path)


# --- the head file itself -------------------------------------------------------------------


def test_the_head_file_may_lag_one_commit_never_lead(path: Path) -> None:
    path.parent.mkdir()
    head_file = head_file_of(path)
    with Journal.open(path) as journal:
        _commits(journal, 0, 2)
        before_last = head_file.read_bytes()
        _commits(journal, 100, 1)
        committed = journal.head
    # A power cut after the last SQLite commit, before its head file write.
    head_file.write_bytes(before_last)
    witness = read_witness(path)
    assert witness is not None
    assert witness.seq == committed.seq - 3
    assert verify(path).ok
    with Journal.open(path) as journal:
        assert journal.head == committed
    # Opening brought it up to date.
    witness = read_witness(path)
    assert witness is not None
    assert (witness.seq, witness.hash) == (committed.seq, committed.hash)


def test_a_torn_slot_leaves_the_previous_head(path: Path) -> None:
    path.parent.mkdir()
    head_file = head_file_of(path)
    with Journal.open(path) as journal:
        _commits(journal, 0, 3)
        newest = journal.head.seq
    data = bytearray(head_file.read_bytes())
    half = len(data) // 2
    slot = 0 if f" {newest} ".encode() in data[:half] else half
    data[slot + 40] ^= 0x01  # the newest slot, torn by a power cut
    head_file.write_bytes(bytes(data))
    witness = read_witness(path)
    assert witness is not None
    assert witness.seq == newest - 3
    assert verify(path).ok


def test_a_head_file_with_no_valid_slot_is_refused(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 2)
    head_file_of(path).write_bytes(b"x" * head_file_of(path).stat().st_size)
    report = verify(path)
    assert report.problem is Problem.HEAD_FILE_DAMAGED
    with pytest.raises(JournalCorruptError, match="head file is damaged"):
        Journal.open(path)


def test_a_head_file_of_another_journal_is_refused(path: Path, tmp_path: Path) -> None:
    path.parent.mkdir()
    other = tmp_path / "other.journal"
    for p in (path, other):
        with Journal.open(p) as journal:
            _commits(journal, 0, 2)
    shutil.copyfile(head_file_of(other), head_file_of(path))
    report = verify(path)
    assert report.problem is Problem.HEAD_FILE_MISMATCH
    assert "another journal" in report.detail


def test_a_missing_head_file_is_written_again_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 2)
        head = journal.head
    head_file_of(path).unlink()
    report = verify(path)
    assert report.ok
    assert report.witness is None
    assert "no head file" in str(report)
    with caplog.at_level("WARNING", logger="chamber.journal"), Journal.open(path):
        pass
    assert [r.event for r in caplog.records] == ["head-file-missing"]  # type: ignore[attr-defined]
    witness = read_witness(path)
    assert witness is not None
    assert (witness.seq, witness.hash) == (head.seq, head.hash)


@pytest.mark.parametrize("seq", [0, 9, 99_999, 10**12, 2**63 - 1])
def test_a_head_file_slot_holds_any_seq(seq: int) -> None:
    witness = Witness("ab" * 16, seq, "cd" * 32)
    raw = _encode_slot(witness)
    assert len(raw) == _SLOT
    assert _decode_slot(raw) == witness
    torn = bytearray(raw)
    torn[len(raw) // 3] ^= 0x04
    assert _decode_slot(bytes(torn)) is None


def test_every_commit_moves_the_head_file(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        for i in range(5):
            journal.append(_record(i))
            witness = read_witness(path)
            assert witness is not None
            assert (witness.journal_id, witness.seq, witness.hash) == (
                journal.journal_id,
                journal.head.seq,
                journal.head.hash,
            )


# --- every read checks the chain: replay, exports, signed results ---------------------------


def _flip_in_file(path: Path, needle: bytes, at: int) -> None:
    data = bytearray(path.read_bytes())
    offset = data.index(needle) + at
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def sitting(tmp_path: Path) -> Path:
    """The v1 fixture's sitting, copied as a hall's data directory holds it."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "hdnd-fixture.journal"
    shutil.copyfile(v1.HERE / v1.NAME, path)
    keys = v1.HERE / f"{v1.NAME}.secret-keys"
    target = data / f"{path.name}.secret-keys"
    shutil.copytree(keys, target)
    target.chmod(0o700)
    for key in target.iterdir():
        key.chmod(0o600)
    with Journal.open(path):
        pass  # this release's first open: the head file is written
    return path


def _stored(path: Path, seq: int) -> tuple[bytes, int]:
    """A record's stored payload as it sits in the file (body, prev_hash, hash), and where in
    it its hash column starts."""
    with sqlite3.connect(path) as raw:
        body, prev, digest = raw.execute(
            "SELECT body, prev_hash, hash FROM records WHERE seq = ?", (seq,)
        ).fetchone()
    return body.encode() + prev.encode() + digest.encode(), len(body.encode()) + 64


# Record 29 is seat 6's vote in the open vote NQ-01; 44 is the secret vote's sealed totals.
@pytest.mark.parametrize(
    ("seq", "column", "at"), [(29, "body", 8), (44, "body", 30), (29, "hash", 5)]
)
def test_a_changed_byte_stops_replay_exports_and_signing(
    sitting: Path, seq: int, column: str, at: int, capsys: pytest.CaptureFixture[str]
) -> None:
    payload, hash_at = _stored(sitting, seq)
    _flip_in_file(sitting, payload, at if column == "body" else hash_at + at)
    config = load_config(v1.HALL)
    with Journal.open(sitting) as journal:
        runtime = Runtime(config, journal, clock=FakeClock(0.0))
        with pytest.raises(JournalCorruptError, match=f"record {seq}: hash-mismatch") as info:
            runtime.replay()
        assert info.value.seq == seq
    with pytest.raises(ExportError, match=f"record {seq}: hash-mismatch"):
        replay_journal(sitting, config)
    args = argparse.Namespace(
        journal=sitting,
        config=v1.HALL,
        data=sitting.parent,
        vote=v1.SECRET_VOTE[0],
        output=sitting.parent / "signed.json",
    )
    assert audit_cli.sign_result(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"record {seq}" in err
    assert not args.output.exists()


def test_a_record_that_is_not_json_stops_replay(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 1)
    with sqlite3.connect(path) as raw:
        prev = raw.execute("SELECT prev_hash FROM records WHERE seq = 2").fetchone()[0]
        body = "[1, 2]"
        digest = hashlib.sha256(prev.encode() + body.encode()).hexdigest()
        raw.execute("UPDATE records SET body = ?, hash = ? WHERE seq = 2", (body, digest))
        # The rest of the chain and the head follow the rehashed record.
        nxt = raw.execute("SELECT body FROM records WHERE seq = 3").fetchone()[0]
        last = hashlib.sha256(digest.encode() + nxt.encode()).hexdigest()
        raw.execute("UPDATE records SET prev_hash = ?, hash = ? WHERE seq = 3", (digest, last))
        raw.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (last,))
    head_file_of(path).unlink()
    # The start check does not decode; replay does, and refuses it.
    assert check_before_start(path) is not None
    with (
        Journal.open(path) as journal,
        pytest.raises(JournalCorruptError, match="record 2: bad-json"),
    ):
        list(journal.records())


# --- `chamber run` refuses with one line ----------------------------------------------------


def _chamber_run(data: Path) -> subprocess.CompletedProcess[str]:
    # A hall that ran before has its tokens: a first start's new tokens are not at issue here.
    store = TokenStore()
    store.add("chair", Role.CHAIR)
    store.save(data / "tokens.json")
    return subprocess.run(
        [str(CHAMBER), "run", "--config", str(v1.HALL), "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard only: the refusal comes before anything starts
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("column", ["body", "hash"])
def test_chamber_run_refuses_a_changed_byte_with_one_line(sitting: Path, column: str) -> None:
    payload, hash_at = _stored(sitting, 29)
    _flip_in_file(sitting, payload, 8 if column == "body" else hash_at + 8)
    line = _one_line(_chamber_run(sitting.parent))
    assert "record 29" in line
    assert "hash-mismatch" in line
    assert "chamber audit verify" in line
    assert "backup" in line
    assert not (sitting.parent / "mosquitto").exists()  # nothing was started


def test_chamber_run_refuses_a_cut_wal_with_one_line(wal_copy: tuple[Path, int, int]) -> None:
    copy, _, committed = wal_copy
    data = copy.parent
    os.rename(copy, data / "hdnd-fixture.journal")
    for suffix in ("-wal", ".head"):
        os.rename(f"{copy}{suffix}", data / f"hdnd-fixture.journal{suffix}")
    wal = data / "hdnd-fixture.journal-wal"
    os.truncate(wal, wal.stat().st_size - 100)
    line = _one_line(_chamber_run(data))
    assert "lost-records" in line
    assert "were committed" in line
    assert str(committed) in line


def test_chamber_run_refuses_a_newer_schema_with_one_line(sitting: Path) -> None:
    with sqlite3.connect(sitting) as raw:
        raw.execute("INSERT INTO schema_version (version) VALUES (2)")
    line = _one_line(_chamber_run(sitting.parent))
    assert "schema version 2" in line
    assert "newer chamber" in line
    with pytest.raises(JournalVersionError, match="newer chamber"):
        Journal.open(sitting)
    with pytest.raises(JournalVersionError):
        verify(sitting)
    # The exports and `chamber audit verify` refuse it too, with the same one line.
    config = load_config(v1.HALL)
    with pytest.raises(ExportError, match="newer chamber") as info:
        replay_journal(sitting, config)
    assert "\n" not in str(info.value)
    parser = argparse.ArgumentParser()
    audit_cli.add_arguments(parser)
    assert audit_cli.run(parser.parse_args(["verify", str(sitting)])) == 2


def test_check_journal_passes_a_sound_journal_and_a_first_start(
    sitting: Path, tmp_path: Path
) -> None:
    check_journal(sitting)
    check_journal(tmp_path / "nothing-yet.journal")


# --- files are private ----------------------------------------------------------------------


def _mode(p: Path | str) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # a usual umask: new files readable by all unless made private
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_journal_files_are_private_from_creation(path: Path) -> None:
    path.parent.mkdir()
    config = load_config(v1.HALL)
    with Journal.open(path) as journal:
        journal.append(_record(0))
        Runtime(config, journal)  # makes the secret-ballot key directory
        for p in (path, f"{path}-wal", f"{path}-shm", head_file_of(path)):
            assert _mode(p) == 0o600, p
        assert _mode(f"{path}.secret-keys") == 0o700


@pytest.mark.usefixtures("open_umask")
def test_an_older_journal_readable_by_others_is_made_private(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        journal.append(_record(0))
    path.chmod(0o644)
    head_file_of(path).chmod(0o644)
    with Journal.open(path):
        for p in (path, f"{path}-wal", f"{path}-shm", head_file_of(path)):
            assert _mode(p) == 0o600, p


async def test_the_group_commit_writes_the_head_file_after_each_batch(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        async with JournalWriter(journal) as writer:
            seqs = await asyncio.gather(*(writer.submit(_record(i)) for i in range(50)))
            assert sorted(seqs) == list(range(1, 51))
            # The head file is written on the commit thread right after the batch was
            # acknowledged: a call queued behind it sees it written.
            witness = await writer.run_after_pending(lambda: read_witness(path))
            assert witness is not None
            assert (witness.seq, witness.hash) == (journal.head.seq, journal.head.hash)
            await writer.submit(_record(99))
        witness = read_witness(path)
        assert witness is not None
        assert witness.seq == journal.head.seq == 51


def test_a_commit_that_moves_no_head_does_not_flush_the_head_file(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        journal.append(_record(0))
        writes = journal._head_file.writes
        # A secret-ballot press is stored outside the chain: the head does not move.
        journal.commit_items([SealedPress("v1", b"\0" * 12, b"\1" * 32)])
        assert journal._head_file.writes == writes
        journal.append(_record(1))
        assert journal._head_file.writes == writes + 1


def test_reading_from_past_the_end_yields_nothing_and_checks_the_head(path: Path) -> None:
    path.parent.mkdir()
    with Journal.open(path) as journal:
        _commits(journal, 0, 2)
        assert [seq for seq, _ in journal.records(from_seq=5)] == [5, 6]
        assert list(journal.records(from_seq=7)) == []
        assert list(journal.records(from_seq=100)) == []
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM records WHERE seq = 6")
    with pytest.raises(JournalCorruptError, match="truncated"):
        list(JournalReader(path).records(from_seq=100))
