"""The torture harness's secrecy check on backups: a real backup of a journal with a secret
vote open passes it, and a backup that held the live store's rows, a sealed press or a key is
caught (the check is seen to fail)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from chamber.controller.backup import take_backup
from tests.fixtures import make_journal_v1 as v1
from tests.torture import ledger
from tests.torture.harness import read_backups


def live_store(data: Path) -> tuple[Path, list[bytes]]:
    """The v1 fixture as a hall's data directory: a secret vote (NQ-03) open, its 4 presses
    sealed in the journal and its key beside it; and those sealed bytes and the key."""
    journal = data / "hall.journal"
    shutil.copyfile(v1.HERE / v1.NAME, journal)
    keys = data / "hall.journal.secret-keys"
    shutil.copytree(v1.HERE / f"{v1.NAME}.secret-keys", keys)
    keys.chmod(0o700)
    conn = sqlite3.connect(f"{journal.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT nonce, ciphertext FROM secret_presses").fetchall()
    finally:
        conn.close()
    assert len(rows) == len(v1.OPEN_SECRET_VOTE[3])
    live = [bytes(b) for row in rows for b in row] + [p.read_bytes() for p in keys.iterdir()]
    return journal, live


def test_a_backup_taken_during_a_secret_vote_passes_and_a_leaky_one_is_caught(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    backups = tmp_path / "backups"
    backups.mkdir()
    assert ledger.backup_links(*read_backups(backups), []) == ["backups: none taken, not searched"]
    journal, live = live_store(data)
    result = take_backup(data, backups, hall="hdnd", journals=[journal])
    assert result.journals[0].left_out_votes == (v1.OPEN_SECRET_VOTE[0],)
    assert ledger.backup_links(*read_backups(backups), live) == []

    # A backup made by copying the files: the rows, the sealed presses and the key are caught.
    leaky = backups / "hdnd-20261203T090000Z"
    leaky.mkdir()
    shutil.copyfile(journal, leaky / "hall.journal")
    key = next((data / "hall.journal.secret-keys").iterdir())
    shutil.copyfile(key, leaky / key.name)
    found = ledger.backup_links(*read_backups(backups), live)
    leaked = f"{leaky.name}/hall.journal"
    assert f"backups {leaked}: {len(v1.OPEN_SECRET_VOTE[3])} secret-ballot rows" in found
    assert f"backups {leaked}: holds a sealed press or a vote key of the live store" in found
    assert f"backups {leaky.name}/{key.name}: a key file" in found


def test_a_standby_that_held_the_live_store_is_caught(tmp_path: Path) -> None:
    """The standby's check (`ledger.standby_links`): a copy of the files, rows and key of a
    secret vote open, is caught; the set-up keys alone pass."""
    data = tmp_path / "data"
    data.mkdir()
    journal, live = live_store(data)
    standby = tmp_path / "standby"
    standby.mkdir()
    (standby / "standby.key").write_text("00" * 32 + "\n", "ascii")
    assert ledger.standby_links(*read_backups(standby), live) == []
    shutil.copyfile(journal, standby / "hall.journal")
    shutil.copytree(data / "hall.journal.secret-keys", standby / "hall.journal.secret-keys")
    found = ledger.standby_links(*read_backups(standby), live)
    assert f"standby hall.journal: {len(v1.OPEN_SECRET_VOTE[3])} secret-ballot rows" in found
    assert "standby hall.journal: holds a sealed press or a vote key of the live store" in found
    assert any("a vote key directory" in line for line in found)
