"""`chamber backup` and `chamber restore` against a running daemon, mid-sitting.

A backup taken during an open vote restores to a journal that verifies and replays to the core
state the live daemon had at the backup's head. One taken during a secret vote holds none of
its sealed presses and no key (nor the hall's signing key), and a restore of it annuls the vote
with a record that says why. A restore refuses a backup that was changed, or a journal newer
than the backup in place; retention keeps what it says it keeps.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.backup import (
    MANIFEST,
    BackupError,
    BackupResult,
    prune,
    restore_backup,
    take_backup,
    to_keep,
)
from chamber.controller.cli import main
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.inputs import VoteKeyPressed
from chamber.controller.faults import FaultKind
from chamber.controller.journal import Journal, JournalReader, verify
from chamber.controller.runtime import Runtime
from chamber.controller.signing import KEY_FILE, HallKey

from .conftest import EXAMPLES, Hall
from .test_secret_ballot import secret_vote

HALL_FILE = EXAMPLES / "vn-council.toml"


def replayed_snapshot(journal_path: Path, config: HallConfig) -> dict[str, Any]:
    with Journal.open(journal_path) as journal:
        runtime = Runtime(config, journal)
        runtime.replay()
        return runtime.core.snapshot()


async def backup_of(hall: Hall, dest: Path) -> BackupResult:
    journal = hall.daemon.journal
    return await asyncio.to_thread(
        take_backup,
        journal.path.parent,
        dest,
        hall="hdnd",
        journals=[journal.path],
        hall_file=HALL_FILE,
    )


async def open_vote_with_presses(hall: Hall) -> None:
    await hall.open_sitting()
    async with hall.client() as chair:
        body = {"vote_id": "v1", "title": "Nghị quyết về ngân sách tỉnh"}
        assert (await chair.post("/api/votes", json=body)).is_success
        assert (await chair.post("/api/votes/v1/open")).is_success
    now = hall.clock.now
    await hall.feed(*(VoteKeyPressed(at=now(), seat=s, key=1 + s % 3) for s in range(1, 21)))


async def test_a_backup_during_an_open_vote_restores_to_the_same_state(
    hall: Hall, tmp_path: Path, hall_config: HallConfig
) -> None:
    await open_vote_with_presses(hall)
    journal = hall.daemon.journal
    live = hall.daemon.runtime.core.snapshot()
    head = journal.head
    dest = tmp_path / "usb"
    dest.mkdir()
    result = await backup_of(hall, dest)
    # Nothing came in while it was taken: the live state is the state at the backup's head.
    assert journal.head == head
    assert hall.daemon.runtime.core.snapshot() == live
    (copy,) = result.journals
    assert (copy.head_seq, copy.head_hash) == (head.seq, head.hash)
    assert copy.witnessed_seq is not None
    assert copy.witnessed_seq <= head.seq
    assert result.path.name.startswith("hdnd-")
    assert result.path.parent == dest
    # One file in rollback-journal mode, with its own head file; no WAL beside it.
    assert sorted(p.name for p in result.path.iterdir()) == sorted(
        [MANIFEST, "hall.journal", "hall.journal.head", "hall.toml"]
    )
    assert verify(result.path / "hall.journal").ok

    # The sitting goes on after the backup.
    await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=25, key=2))
    assert journal.head.seq > head.seq

    data = tmp_path / "restored"
    assert await asyncio.to_thread(main, ["restore", str(result.path), "--data", str(data)]) == 0
    restored = data / "hall.journal"
    report = verify(restored)
    assert report.ok
    assert report.records == head.seq
    assert report.witness is not None
    assert main(["audit", "verify", str(restored)]) == 0
    assert replayed_snapshot(restored, hall_config) == live


async def test_a_backup_during_a_secret_vote_holds_no_ballot_and_a_restore_annuls_it(
    hall: Hall, tmp_path: Path, hall_config: HallConfig
) -> None:
    data_dir = hall.daemon.journal.path.parent
    key = HallKey.load_or_create(data_dir)  # the hall signs its results
    await secret_vote(hall, close=False)
    journal = hall.daemon.journal
    stored = journal.secret_presses("v2")
    assert stored
    key_dir = journal.path.with_name(journal.path.name + ".secret-keys")
    vote_keys = [p.read_bytes() for p in key_dir.iterdir()]
    assert vote_keys
    dest = tmp_path / "usb"
    dest.mkdir()
    result = await backup_of(hall, dest)
    assert result.signed
    (copy,) = result.journals
    assert copy.left_out_votes == ("v2",)
    assert copy.left_out_presses == len(stored)
    # The live store is untouched: the vote goes on.
    assert len(journal.secret_presses("v2")) == len(stored)

    files = {p.name: p.read_bytes() for p in result.path.iterdir()}
    assert KEY_FILE not in files
    assert not any("secret-keys" in name for name in files)
    private_pem = (data_dir / KEY_FILE).read_bytes()
    for name, content in files.items():
        for press in stored:
            assert press.ciphertext not in content, name
            assert press.nonce not in content, name
        for vote_key in vote_keys:
            assert vote_key not in content, name
        assert private_pem not in content, name
        assert b"vote-key" not in content, name
    copied = sqlite3.connect(f"{(result.path / 'hall.journal').as_uri()}?mode=ro", uri=True)
    try:
        assert copied.execute("SELECT count(*) FROM secret_presses").fetchone() == (0,)
    finally:
        copied.close()
    manifest = json.loads(files[MANIFEST])
    assert manifest["journals"][0]["left_out"] == {
        "secret_presses": len(stored),
        "open_secret_votes": ["v2"],
        "secret_keys": True,
    }

    # Restored into a data directory that knows the hall's public key: the signature checks.
    data = tmp_path / "restored"
    data.mkdir()
    (data / "hall-ed25519.pub").write_bytes((data_dir / "hall-ed25519.pub").read_bytes())
    checked, (done,) = await asyncio.to_thread(restore_backup, result.path, data)
    assert checked.signed_by == key.fingerprint
    assert done.annulled == ("v2",)
    restored = data / "hall.journal"
    assert verify(restored).ok
    with Journal.open(restored) as j:
        records = [r for _, r in j.records()]
    annul = [r for r in records if r["kind"] == "annul-vote"]
    assert len(annul) == 1
    assert annul[0]["vote_id"] == "v2"
    assert result.path.name in annul[0]["reason"]
    assert "sao lưu" in annul[0]["reason"]  # the hall's language: Vietnamese
    sealed = [r for r in records if r["kind"] == "secret-vote-sealed"]
    assert [r["vote_id"] for r in sealed] == ["v2"]
    snapshot = replayed_snapshot(restored, hall_config)
    (vote,) = [v for v in snapshot["votes"] if v["vote_id"] == "v2"]
    assert vote["state"] == "annulled"
    assert vote["result"]["voted"] == 0
    # The restored data directory holds no key of the annulled vote.
    assert not any(data.glob("hall.journal.secret-keys/*"))


async def test_restore_refuses_a_changed_backup_and_a_newer_journal(
    hall: Hall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    HallKey.load_or_create(hall.daemon.journal.path.parent)
    await open_vote_with_presses(hall)
    dest = tmp_path / "usb"
    dest.mkdir()
    first = await backup_of(hall, dest)
    await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=25, key=2))
    hall.clock.advance(1)
    second = await backup_of(hall, dest)
    assert second.journals[0].head_seq > first.journals[0].head_seq

    data = tmp_path / "restored"
    assert await asyncio.to_thread(main, ["restore", str(second.path), "--data", str(data)]) == 0
    capsys.readouterr()
    # The older backup over the newer journal: refused, in one line, then forced.
    assert await asyncio.to_thread(main, ["restore", str(first.path), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "newer than the backup's" in err
    assert (
        await asyncio.to_thread(main, ["restore", str(first.path), "--data", str(data), "--force"])
        == 0
    )
    out = capsys.readouterr().out
    assert "the files it replaced are in" in out
    assert verify(data / "hall.journal").records == first.journals[0].head_seq
    (aside,) = data.glob("hall.journal.replaced-*")
    assert verify(aside / "hall.journal").records == second.journals[0].head_seq

    # A changed journal file in the backup: its SHA-256 no longer matches.
    journal_copy = second.path / "hall.journal"
    raw = bytearray(journal_copy.read_bytes())
    raw[-100] ^= 0xFF
    journal_copy.write_bytes(bytes(raw))
    with pytest.raises(BackupError, match="changed since the backup was taken"):
        await asyncio.to_thread(restore_backup, second.path, tmp_path / "other")
    # A changed manifest: the hall's signature no longer holds.
    manifest = first.path / MANIFEST
    body = json.loads(manifest.read_text("utf-8"))
    body["taken_at"] = "2020-01-01T00:00:00+00:00"
    manifest.write_text(json.dumps(body, sort_keys=True, indent=1), "utf-8")
    assert (
        await asyncio.to_thread(
            main, ["restore", str(first.path), "--data", str(tmp_path / "other")]
        )
        == 1
    )
    assert "BAD signature" in capsys.readouterr().err


async def test_the_daemon_backs_up_after_a_vote_closes_and_a_failure_is_a_fault(
    hall: Hall, tmp_path: Path
) -> None:
    from chamber.controller.backup import BackupService

    runtime = hall.daemon.runtime
    dest = tmp_path / "usb"
    dest.mkdir()
    outcomes: asyncio.Queue[BackupResult | None] = asyncio.Queue()

    def on_result(result: BackupResult | None, error: str) -> None:
        if result is None:
            runtime.faults.backup_failed(error, runtime.clock.now())
        else:
            runtime.faults.backup_succeeded(runtime.clock.now())
        outcomes.put_nowait(result)

    service = BackupService(
        tmp_path,
        dest,
        hall="hdnd",
        journal=hall.daemon.journal.path,
        hall_file=HALL_FILE,
        every_s=None,
        keep_last=5,
        keep_days=0,
        on_result=on_result,
        after_backup=hall.daemon.journal.checkpoint_truncate,
    )
    runtime.after_vote_close.append(service.request)
    task = asyncio.create_task(service.run())
    try:
        await open_vote_with_presses(hall)
        assert outcomes.empty()
        async with hall.client() as chair:
            assert (await chair.post("/api/votes/v1/close")).is_success
        result = await outcomes.get()
        assert result is not None
        records = [r.record for r in JournalReader(result.path / "hall.journal").records()]
        assert records[-1]["kind"] == "close-vote"
        # Nothing committed since: the timer would take the same backup again, and skips it.
        assert service._unchanged()
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=1, key=1))
        assert not service._unchanged()

        # The backup disk is gone: one fault, the sitting goes on, the next success clears it.
        service.dest = tmp_path / "unplugged"
        service.request()
        assert await outcomes.get() is None
        (fault,) = [f for f in runtime.faults.faults() if f.kind is FaultKind.BACKUP]
        assert fault.active
        assert "no such directory" in fault.detail
        async with hall.client() as chair:
            body = {"vote_id": "v3", "title": "Nghị quyết khác"}
            assert (await chair.post("/api/votes", json=body)).is_success
        service.dest = dest
        service.request()
        assert await outcomes.get() is not None
        assert not any(f.active for f in runtime.faults.faults() if f.kind is FaultKind.BACKUP)
    finally:
        task.cancel()


def test_the_hall_file_names_the_backup_directory(tmp_path: Path) -> None:
    text = HALL_FILE.read_text("utf-8") + '\n[backup]\ndir = "usb"\nevery_s = 600\nkeep_last = 3\n'
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(text, "utf-8")
    settings = load_config(hall_file).backup
    assert settings is not None
    assert (settings.dir, settings.every_s, settings.keep_last, settings.keep_days) == (
        tmp_path / "usb",
        600.0,
        3,
        30,
    )
    assert load_config(HALL_FILE).backup is None


# --- retention ----------------------------------------------------------------------------

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
stamps = st.lists(
    st.integers(min_value=0, max_value=40 * 86400).map(lambda s: T0 + timedelta(seconds=s)),
    max_size=60,
)


@given(stamps, st.integers(min_value=0, max_value=10), st.integers(min_value=0, max_value=15))
def test_retention_keeps_the_newest_and_one_a_day(
    found: list[datetime], keep_last: int, keep_days: int
) -> None:
    kept = to_keep(found, keep_last, keep_days)
    ordered = sorted(set(found), reverse=True)
    assert kept <= set(found)
    assert set(ordered[:keep_last]) <= kept
    if not ordered:
        return
    last_day = ordered[0].date()
    window = {last_day - timedelta(days=i) for i in range(keep_days)}
    for day in window:
        that_day = [s for s in ordered if s.date() == day]
        if that_day:
            assert max(that_day) in kept
    # Nothing else is kept.
    by_day = [[s for s in ordered if s.date() == d] for d in window]
    newest_of_day = {max(day) for day in by_day if day}
    assert kept == set(ordered[:keep_last]) | newest_of_day


def test_prune_removes_what_retention_does_not_keep(tmp_path: Path) -> None:
    made = []
    for day in range(5):
        for hour in (9, 14, 17):
            when = T0 + timedelta(days=day, hours=hour - 9)
            path = tmp_path / f"hdnd-{when:%Y%m%dT%H%M%SZ}"
            path.mkdir()
            made.append(path)
    (tmp_path / ".partial-hdnd-20261203T090000Z").mkdir()
    (tmp_path / "other-20261203T090000Z").mkdir()  # another hall's: left alone
    removed = prune(tmp_path, "hdnd", keep_last=2, keep_days=3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        "hdnd-20261205T170000Z",
        "hdnd-20261206T170000Z",
        "hdnd-20261207T140000Z",
        "hdnd-20261207T170000Z",
        "other-20261203T090000Z",
    ]
    assert len(removed) == len(made) - 4 + 1


async def test_the_hall_files_backup_runs_in_the_daemon_after_each_close(tmp_path: Path) -> None:
    """`[backup]` through the daemon's own wiring: a missing backup disk is a health fault
    and the sitting goes on; once the disk is there, the next close backs up and clears it."""
    from chamber.controller.core.clock import FakeClock
    from chamber.controller.daemon import Daemon, _start_backups

    from .conftest import make_tokens

    usb = tmp_path / "usb"
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(
        HALL_FILE.read_text("utf-8") + f'\n[backup]\ndir = "{usb}"\nevery_s = 86400\n', "utf-8"
    )
    config = load_config(hall_file)
    store, tokens = make_tokens()
    clock = FakeClock(1000.0)
    data = tmp_path / "data"
    data.mkdir()
    journal = data / f"{config.hall_id}.journal"
    daemon = Daemon(config, journal, store, clock=clock)
    _start_backups(daemon, config, data, journal)
    service = daemon.backups
    assert service is not None
    async with daemon:
        hall = Hall(daemon, clock, tokens, store)
        try:
            await open_vote_with_presses(hall)
            async with hall.client() as chair:
                assert (await chair.post("/api/votes/v1/close")).is_success
                await service.finished.wait()
                service.finished.clear()
                assert service.failed == 1
                state = (await chair.get("/api/state")).json()
            (fault,) = [f for f in daemon.runtime.faults.faults() if f.kind is FaultKind.BACKUP]
            assert fault.active
            assert str(usb) in fault.detail
            usb.mkdir()
            async with hall.client() as chair:
                body = {"vote_id": "v2", "title": "Nghị quyết khác"}
                assert (await chair.post("/api/votes", json=body)).is_success
                assert (await chair.post("/api/votes/v2/open")).is_success
                assert (await chair.post("/api/votes/v2/close")).is_success
            await service.finished.wait()
            assert service.taken == 1
            assert service.last is not None
            assert verify(service.last.path / journal.name).ok
            assert (service.last.path / "hall.toml").read_bytes() == hall_file.read_bytes()
            assert not any(
                f.active for f in daemon.runtime.faults.faults() if f.kind is FaultKind.BACKUP
            )
            assert state["state"]["votes"][0]["state"] == "closed"
        finally:
            await hall.aclose()


def test_chamber_backup_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chamber backup` on a journal left with a secret vote open (the v1 fixture): one line
    that says it verified and what it left out, exit 0; a missing disk is one line, exit 1."""
    from tests.fixtures import make_journal_v1 as v1

    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(v1.HERE / v1.NAME, data / "hdnd-fixture.journal")
    usb = tmp_path / "usb"
    usb.mkdir()
    args = ["backup", "--data", str(data), "--config", str(v1.HALL), "--keep-last", "1"]
    assert main([*args, "--to", str(usb)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert ": OK, verified, unsigned (no hall key); hdnd-fixture.journal: 51 records" in out
    assert "left out 4 sealed presses of open secret vote(s) NQ-03" in out
    (made,) = usb.iterdir()
    assert made.name.startswith("hdnd-fixture-")
    assert main([*args, "--to", str(tmp_path / "unplugged")]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"error: {tmp_path / 'unplugged'}: no such directory (mount the backup disk first)\n"
    )
