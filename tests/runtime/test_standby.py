"""The cold standby over loopback: the journal shipped as it is committed, each record checked
on arrival, a press confirmed only once the standby holds it, a tampered record refused, a
wrong key refused, and a takeover that annuls a secret vote it could not have the ballots of."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chamber.controller.journal import Journal, JournalReader, JournalWriter, read_witness
from chamber.controller.standby import (
    TAKEOVER_ANNUL_REASON,
    Follower,
    ShippedRecordError,
    Shipper,
    StandbyError,
    TakeoverRefused,
    prepare_takeover,
    standby_lock,
)
from tests.fixtures import make_journal_v1 as v1

KEY = bytes(range(32))
WAIT_S = 30.0


@contextlib.asynccontextmanager
async def shipping(journal: Journal, key: bytes = KEY) -> AsyncIterator[Shipper]:
    shipper = Shipper(journal, key, "127.0.0.1", 0)
    task = asyncio.create_task(shipper.run())
    try:
        async with asyncio.timeout(WAIT_S):
            await shipper.listening.wait()
        yield shipper
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def following(data: Path, shipper: Shipper, key: bytes = KEY) -> AsyncIterator[Follower]:
    follower = Follower(data, key, "127.0.0.1", shipper.port)
    task = asyncio.create_task(follower.run())
    try:
        async with asyncio.timeout(WAIT_S):
            await shipper.standby_connected.wait()
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def rows(path: Path) -> list[tuple[int, str, str, str]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT seq, body, prev_hash, hash FROM records ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


async def test_a_confirmed_record_is_on_the_standby_already(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with Journal.open(tmp_path / "a" / "hall.journal") as journal:
        journal.append({"kind": "before", "text": "Kỳ họp thứ bảy"})  # shipped on connecting
        async with shipping(journal) as shipper, following(tmp_path / "b", shipper) as follower:
            async with JournalWriter(journal, replicate=shipper.replicated) as writer:
                for i in range(50):
                    seq = await writer.submit({"kind": "press", "seat": i % 7, "n": i})
                    # Confirmed: the standby's copy holds it (its journal, its head file).
                    assert follower.journal is not None
                    assert follower.journal.head == journal.head
                    assert read_witness(tmp_path / "b" / "hall.journal").seq == seq  # type: ignore[union-attr]
            assert not shipper.lagging
        standby = tmp_path / "b" / "hall.journal"
        assert rows(standby) == rows(journal.path)
        report = JournalReader(standby).verify()
        assert report.ok
        assert report.journal_id == journal.journal_id
        assert report.records == 51


async def test_a_standby_resumes_after_its_head_and_a_head_not_ours_is_refused(
    tmp_path: Path,
) -> None:
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
    with Journal.open(tmp_path / "a" / "hall.journal") as journal:
        journal.append_batch([{"kind": "r", "n": n} for n in range(5)])
        async with shipping(journal) as shipper:
            async with (
                following(tmp_path / "b", shipper),
                JournalWriter(journal, replicate=shipper.replicated) as writer,
            ):
                await writer.submit({"kind": "r", "n": 5})
            journal.append_batch([{"kind": "r", "n": n} for n in range(6, 9)])
            shipper.standby_connected.clear()
            async with following(tmp_path / "b", shipper) as follower:
                async with JournalWriter(journal, replicate=shipper.replicated) as writer:
                    await writer.submit({"kind": "r", "n": 9})
                assert follower.journal is not None
                assert follower.journal.head == journal.head
    # Another journal with the same id but another history: its head is not in ours.
    other = tmp_path / "c" / "hall.journal"
    with Journal.open(other, journal_id=journal.journal_id) as forged:
        forged.append({"kind": "r", "n": "khác"})
    with Journal.open(tmp_path / "a" / "hall.journal") as journal:
        async with shipping(journal) as shipper:
            follower = Follower(tmp_path / "c", KEY, "127.0.0.1", shipper.port)
            with pytest.raises(StandbyError, match=r"record 1\).*is not ours"):
                await follower.follow_once()
            assert follower.journal is not None
            follower.journal.close()


async def test_a_tampered_record_is_refused_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path = tmp_path / "a" / "hall.journal"
    with Journal.open(path) as journal:
        journal.append_batch([{"kind": "vote-key", "seat": s, "key": 1} for s in range(1, 4)])
    conn = sqlite3.connect(path)
    conn.execute(
        """UPDATE records SET body = '{"key":2,"kind":"vote-key","seat":2}' WHERE seq = 2"""
    )
    conn.commit()
    conn.close()
    with Journal.open(path) as journal:  # the head row is intact: only the chain shows it
        async with shipping(journal) as shipper:
            follower = Follower(tmp_path / "b", KEY, "127.0.0.1", shipper.port)
            caplog.set_level(logging.WARNING, logger="chamber.standby")
            with pytest.raises(ShippedRecordError, match="record 2: its hash"):
                await follower.run()
    refused = [r for r in caplog.records if getattr(r, "event", "") == "shipped-record-refused"]
    assert len(refused) == 1
    # Nothing of the tampered record, nor after it, is in the standby's journal.
    assert [r[0] for r in rows(tmp_path / "b" / "hall.journal")] == [1]


async def test_another_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with Journal.open(tmp_path / "a" / "hall.journal") as journal:
        journal.append({"kind": "r"})
        async with shipping(journal) as shipper:
            follower = Follower(tmp_path / "b", bytes(32), "127.0.0.1", shipper.port)
            with pytest.raises(StandbyError, match="not authenticated"):
                await follower.follow_once()
            assert shipper.connected == 0
            assert follower.journal is not None
            assert follower.journal.head.seq == 0
            follower.journal.close()


async def test_takeover_during_a_secret_vote_annuls_it_and_ships_no_ballot(
    tmp_path: Path,
) -> None:
    """The v1 fixture: a secret vote (NQ-03) open, its presses sealed in the journal and its
    key beside it. The standby gets the chain only; the takeover annuls NQ-03, saying why."""
    active, standby = tmp_path / "a", tmp_path / "b"
    active.mkdir()
    standby.mkdir()
    shutil.copyfile(v1.HERE / v1.NAME, active / v1.NAME)
    shutil.copytree(v1.HERE / f"{v1.NAME}.secret-keys", active / f"{v1.NAME}.secret-keys")
    with Journal.open(active / v1.NAME) as journal:
        assert journal.secret_presses()  # the live store holds the open vote's ballots
        async with shipping(journal) as shipper, following(standby, shipper) as follower:
            async with asyncio.timeout(WAIT_S):
                await follower.caught_up.wait()
            assert follower.journal is not None
            assert follower.journal.head == journal.head
            assert follower.journal.sealed_votes() == journal.sealed_votes()
            live = [bytes(b) for p in journal.secret_presses() for b in (p.nonce, p.ciphertext)]
    files = {p.name: p.read_bytes() for p in standby.rglob("*") if p.is_file()}
    assert not any(name.endswith(".key") or "secret-keys" in name for name in files)
    assert not any(blob in data for blob in live for data in files.values())
    assert rows(standby / v1.NAME) == rows(active / v1.NAME)
    # The old controller still answers: refused.
    with Journal.open(active / v1.NAME) as journal:
        async with shipping(journal) as shipper:
            with pytest.raises(TakeoverRefused, match="still answers"):
                prepare_takeover(standby, v1.HALL, standby / v1.NAME, ("127.0.0.1", shipper.port))
            port = shipper.port
    # `chamber standby` still follows into the directory (it holds the lock): refused.
    with standby_lock(standby), pytest.raises(TakeoverRefused, match="stop it first"):
        prepare_takeover(standby, v1.HALL, standby / v1.NAME, ("127.0.0.1", port))
    # (in a thread: it replays the journal in a runtime of its own, on its own event loop)
    annulled = await asyncio.to_thread(
        prepare_takeover, standby, v1.HALL, standby / v1.NAME, ("127.0.0.1", port)
    )
    assert annulled == (v1.OPEN_SECRET_VOTE[0],)
    last = [r for _, r, _ in JournalReader(standby / v1.NAME).records()][-3:]
    annul = next(r for r in last if r.get("kind") == "annul-vote")
    assert annul["vote_id"] == v1.OPEN_SECRET_VOTE[0]
    assert annul["reason"] == TAKEOVER_ANNUL_REASON["vi"].format(backup=f"127.0.0.1:{port}")
    assert JournalReader(standby / v1.NAME).verify().ok
