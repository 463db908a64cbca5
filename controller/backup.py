"""`chamber backup` and `chamber restore`: consistent copies of a hall's journals, and putting
one back.

A backup is a directory `<hall>-<YYYYMMDDTHHMMSSZ>` (UTC) under the destination, holding:

- each journal of the data directory, copied with SQLite's online backup API from one read
  snapshot (never a file copy of a live WAL database), then rewritten as a single file in
  rollback-journal mode;
- each journal's head file (`<journal>.head`), written at the copy's head, after the live head
  file's witness was found in the copy with the same hash;
- the hall file the daemon runs on (`hall.toml`), when it is known, and the hall's public key;
- `manifest.json`: the hall, the time, each file's SHA-256, each journal's id, head and
  records, and what was left out; signed with the hall's key (`manifest.sig`) when the data
  directory holds one.

Left out, always: the live part of the secret-ballot store. That is the encrypted presses of
secret votes still open (the `secret_presses` rows: they are deleted in the copy, in memory,
and the copy is vacuumed, so no page of them reaches the backup disk) and the vote keys
(`<journal>.secret-keys/`, never read). The hall's signing key (`hall-ed25519.key`) is never
copied. A restore of a backup taken during a secret vote therefore cannot rebuild that vote:
`restore` annuls it, with a reason that says so, through the core's own annul path (the vote
is closed on what the copy counted, nothing, then annulled and sealed), so the chair can run
it again (`RerunVote`).

The copy's chain and head file are verified before the backup is named a success: a backup is
first written as `.partial-<name>` and renamed only once it verifies.

Retention (`prune`): keep the newest `keep_last` backups, and the newest backup of each of the
last `keep_days` days (UTC, counted back from the newest backup's day); remove the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from chamber.controller.journal import (
    JournalError,
    JournalReader,
    Witness,
    head_file_of,
    read_witness,
    write_witness,
)

log = logging.getLogger("chamber.backup")

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
HALL_FILE = "hall.toml"
FORMAT = "chamber-backup/1"
PARTIAL = ".partial-"
KEY_FILE = "hall-ed25519.key"
PUBLIC_KEY_FILE = "hall-ed25519.pub"
_STAMP = "%Y%m%dT%H%M%SZ"

# The annul reason a restore journals for a secret vote that was open in the backup, in the
# hall's language.
RESTORE_ANNUL_REASON = {
    "vi": (
        "Khôi phục từ bản sao lưu {backup} lấy khi biểu quyết kín đang mở: bản sao lưu không "
        "giữ phiếu kín của biểu quyết đang mở, nên biểu quyết bị hủy"
    ),
    "en": (
        "restored from backup {backup}, taken while the secret vote was open: a backup holds "
        "no secret ballots of an open vote, so the vote is annulled"
    ),
}


class BackupError(Exception):
    """A backup cannot be made, or a backup cannot be restored; one line says why."""


# --- names and retention ----------------------------------------------------------------------


def backup_name(hall: str, when: datetime) -> str:
    return f"{hall}-{when.astimezone(UTC).strftime(_STAMP)}"


def parse_name(name: str) -> tuple[str, datetime] | None:
    """(hall, time) of a backup directory's name; None for anything else."""
    hall, sep, stamp = name.rpartition("-")
    if not sep or not hall or name.startswith(PARTIAL):
        return None
    try:
        return hall, datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def to_keep(stamps: Iterable[datetime], keep_last: int, keep_days: int) -> set[datetime]:
    """Which backups retention keeps: the newest `keep_last`, and the newest of each of the
    `keep_days` days ending on the newest backup's day (UTC). Pure."""
    ordered = sorted(set(stamps), reverse=True)
    kept = set(ordered[: max(keep_last, 0)])
    if ordered and keep_days > 0:
        last_day = ordered[0].date()
        first_day = last_day - timedelta(days=keep_days - 1)
        seen: set[date] = set()
        for stamp in ordered:
            day = stamp.date()
            if first_day <= day <= last_day and day not in seen:
                seen.add(day)
                kept.add(stamp)
    return kept


def prune(dest: Path, hall: str, keep_last: int, keep_days: int) -> list[Path]:
    """Remove the backups of `hall` under `dest` that retention does not keep (and partial
    ones left by a failed backup); the paths removed."""
    found: dict[datetime, Path] = {}
    removed: list[Path] = []
    for entry in sorted(dest.iterdir()) if dest.is_dir() else []:
        if entry.name.startswith(PARTIAL + hall + "-") and entry.is_dir():
            shutil.rmtree(entry)
            removed.append(entry)
            continue
        parsed = parse_name(entry.name)
        if parsed is not None and parsed[0] == hall and entry.is_dir():
            found[parsed[1]] = entry
    kept = to_keep(found, keep_last, keep_days)
    for stamp, path in sorted(found.items()):
        if stamp not in kept:
            shutil.rmtree(path)
            removed.append(path)
    return removed


# --- taking a backup ------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalCopy:
    name: str
    journal_id: str
    head_seq: int
    head_hash: str
    # The live head file's witness, found in the copy with the same hash (None: no head file).
    witnessed_seq: int | None
    # Left out of the copy: the encrypted presses of these open secret votes (count).
    left_out_presses: int
    left_out_votes: tuple[str, ...]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    hall: str
    taken_at: datetime
    journals: tuple[JournalCopy, ...]
    signed: bool
    removed: tuple[Path, ...] = field(default=())

    def __str__(self) -> str:
        parts = [
            f"{j.name}: {j.head_seq} records, head {j.head_hash[:16]}..."
            + (
                f", left out {j.left_out_presses} sealed presses of open secret vote(s) "
                + ", ".join(j.left_out_votes)
                if j.left_out_votes
                else ""
            )
            for j in self.journals
        ]
        signed = "signed" if self.signed else "unsigned (no hall key)"
        return f"{self.path}: OK, verified, {signed}; " + "; ".join(parts)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _copy_journal(source: Path, target: Path) -> JournalCopy:
    """One consistent, verified copy of a journal, without the secret store's live part."""
    witness = read_witness(source)  # before the snapshot: it never leads the committed state
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: cannot open: {exc}") from exc
    mem = sqlite3.connect(":memory:", isolation_level=None)
    try:
        try:
            src.backup(mem)  # one step: one read snapshot of the whole database
        except sqlite3.Error as exc:
            raise BackupError(f"{source}: cannot read for a backup: {exc}") from exc
        finally:
            src.close()
        try:
            votes = tuple(
                r[0]
                for r in mem.execute(
                    "SELECT vote_id FROM secret_presses GROUP BY vote_id ORDER BY min(id)"
                )
            )
            presses = mem.execute("SELECT count(*) FROM secret_presses").fetchone()[0]
            mem.execute("PRAGMA secure_delete=ON")
            mem.execute("DELETE FROM secret_presses")
            mem.execute("VACUUM")  # no free page keeps a deleted row
        except sqlite3.Error as exc:
            raise BackupError(f"{source}: not a chamber journal ({exc})") from exc
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            mem.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        mem.close()
    # The copy's own head file, at the head its meta table names; then ONE checked read of
    # the copy (records not decoded, as at the daemon's start): the whole chain, the head
    # against its last record and against this head file, and the hash of the record the
    # live head file witnessed.
    conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        own = Witness(str(meta["journal_id"]), int(meta["head_seq"]), str(meta["head_hash"]))
    except (sqlite3.Error, KeyError, ValueError) as exc:
        raise BackupError(f"{source}: not a chamber journal ({exc})") from exc
    finally:
        conn.close()
    write_witness(target, own)
    keep = () if witness is None or witness.seq == 0 else (witness.seq,)
    report = JournalReader(target).verify(decode=False, keep=keep)
    if not report.ok or report.witness != own:
        raise BackupError(f"the copy of {source.name} does not verify: {report}")
    if witness is not None and (
        witness.journal_id != report.journal_id
        or (witness.seq > 0 and report.hashes.get(witness.seq) != witness.hash)
        or witness.seq > report.records
    ):
        raise BackupError(
            f"{source.name}: the copy does not hold the head its head file witnessed "
            f"(record {witness.seq}): run `chamber audit verify {source}`"
        )
    with open(target, "rb") as fh:
        os.fsync(fh.fileno())
    return JournalCopy(
        target.name,
        report.journal_id,
        report.records,
        report.head_hash,
        None if witness is None else witness.seq,
        int(presses),
        votes,
    )


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8")


def take_backup(
    data: Path,
    dest: Path,
    *,
    hall: str,
    journals: Sequence[Path] | None = None,
    hall_file: Path | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    keep_last: int | None = None,
    keep_days: int = 0,
) -> BackupResult:
    """Back up the journals of `data` (all `*.journal`, or `journals`) into a new directory
    under `dest`; verified before it is renamed into place. With `keep_last`, then prune."""
    from chamber.controller.signing import HallKey, SigningError

    sources = sorted(journals) if journals is not None else sorted(data.glob("*.journal"))
    if not sources:
        raise BackupError(f"{data}: no journal to back up")
    if not dest.is_dir():
        raise BackupError(f"{dest}: no such directory (mount the backup disk first)")
    taken = now().astimezone(UTC).replace(microsecond=0)
    name = backup_name(hall, taken)
    while (dest / name).exists():
        taken += timedelta(seconds=1)
        name = backup_name(hall, taken)
    partial = dest / (PARTIAL + name)
    try:
        partial.mkdir(mode=0o700)
    except OSError as exc:
        raise BackupError(f"{dest}: cannot be written: {exc.strerror or exc}") from exc
    try:
        copies = [_copy_journal(src, partial / src.name) for src in sources]
        files: dict[str, str] = {}
        for c in copies:
            files[c.name] = _sha256(partial / c.name)
            head = head_file_of(partial / c.name)
            files[head.name] = _sha256(head)
        if hall_file is not None and hall_file.is_file():
            shutil.copyfile(hall_file, partial / HALL_FILE)
            files[HALL_FILE] = _sha256(partial / HALL_FILE)
        key: HallKey | None = None
        if (data / KEY_FILE).is_file():
            try:
                key = HallKey.load_or_create(data)
            except SigningError as exc:
                raise BackupError(str(exc)) from exc
            (partial / PUBLIC_KEY_FILE).write_bytes((data / PUBLIC_KEY_FILE).read_bytes())
            files[PUBLIC_KEY_FILE] = _sha256(partial / PUBLIC_KEY_FILE)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "hall": hall,
            "taken_at": taken.isoformat(),
            "journals": [
                {
                    "file": c.name,
                    "journal_id": c.journal_id,
                    "head_seq": c.head_seq,
                    "head_hash": c.head_hash,
                    "witnessed_seq": c.witnessed_seq,
                    "left_out": {
                        "secret_presses": c.left_out_presses,
                        "open_secret_votes": list(c.left_out_votes),
                        "secret_keys": True,
                    },
                }
                for c in copies
            ],
            "files": files,
        }
        body = _manifest_bytes(manifest)
        (partial / MANIFEST).write_bytes(body)
        if key is not None:
            sig = key.private.sign(body)
            (partial / SIGNATURE).write_text(base64.b64encode(sig).decode() + "\n", "ascii")
        for entry in partial.iterdir():
            with open(entry, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(partial, dest / name)
        with contextlib.suppress(OSError):
            fd = os.open(dest, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    removed: list[Path] = []
    if keep_last is not None:
        removed = prune(dest, hall, keep_last, keep_days)
    return BackupResult(dest / name, hall, taken, tuple(copies), key is not None, tuple(removed))


# --- checking and restoring a backup ------------------------------------------------------------


@dataclass(frozen=True)
class CheckedBackup:
    path: Path
    manifest: dict[str, Any]
    signed_by: str | None


def check_backup(backup: Path, *, public_key: bytes | None = None) -> CheckedBackup:
    """The manifest, each file's hash, the signature, and each journal's chain and head file.
    `public_key`: the key that must have signed (the data directory's); without it, the
    backup's own public key checks the signature. Raises `BackupError` with the first fault."""
    from chamber.controller.signing import SigningError, fingerprint, read_public_key

    try:
        body = (backup / MANIFEST).read_bytes()
        manifest = json.loads(body.decode("utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{backup}: not a chamber backup (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{backup}/{MANIFEST}: cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{backup}/{MANIFEST}: not a {FORMAT} manifest")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BackupError(f"{backup}/{MANIFEST}: no file list")
    for name, digest in files.items():
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            raise BackupError(f"{backup}/{MANIFEST}: bad file name {name!r}")
        path = backup / name
        if not path.is_file():
            raise BackupError(f"{path}: missing from the backup")
        if _sha256(path) != digest:
            raise BackupError(f"{path}: changed since the backup was taken (SHA-256 differs)")
    signed_by: str | None = None
    sig_path = backup / SIGNATURE
    if sig_path.exists():
        try:
            key = public_key or read_public_key(backup / PUBLIC_KEY_FILE)
            sig = base64.b64decode(sig_path.read_text("ascii").strip(), validate=True)
        except (OSError, ValueError, SigningError) as exc:
            raise BackupError(f"{sig_path}: cannot be checked: {exc}") from None
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(key).verify(sig, body)
        except (InvalidSignature, ValueError):
            raise BackupError(
                f"{sig_path}: BAD signature: the manifest was not signed by the hall's key "
                f"{fingerprint(key)}"
            ) from None
        signed_by = fingerprint(key)
    elif public_key is not None:
        raise BackupError(
            f"{backup}: the hall signs its results but this backup is not signed "
            "(--force restores it anyway)"
        )
    entries = manifest.get("journals")
    if not isinstance(entries, list) or not entries:
        raise BackupError(f"{backup}/{MANIFEST}: names no journal")
    for entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or name not in files:
            raise BackupError(f"{backup}/{MANIFEST}: a journal not in the file list")
        try:
            report = JournalReader(backup / name).verify(decode=False)
        except JournalError as exc:
            raise BackupError(f"{backup / name}: {exc}") from None
        if not report.ok:
            raise BackupError(str(report))
        if report.witness is None:
            raise BackupError(f"{backup / name}: the backup has no head file for it")
        if (report.journal_id, report.records, report.head_hash) != (
            entry.get("journal_id"),
            entry.get("head_seq"),
            entry.get("head_hash"),
        ):
            raise BackupError(f"{backup / name}: not the journal the manifest names")
    return CheckedBackup(backup, manifest, signed_by)


def _target_head(path: Path) -> tuple[str | None, int]:
    """What the journal in place holds: (journal id or None, the furthest seq it or its head
    file shows), read without trusting it (it may be the damaged one)."""
    seq = 0
    journal_id: str | None = None
    with contextlib.suppress(JournalError):
        witness = read_witness(path)
        if witness is not None:
            journal_id, seq = witness.journal_id, witness.seq
    if path.is_file() and path.stat().st_size > 0:
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT max(seq) FROM records").fetchone()
                seq = max(seq, int(row[0] or 0))
                got = conn.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()
                journal_id = journal_id or (got[0] if got else None)
            finally:
                conn.close()
        except sqlite3.Error:
            pass
    return journal_id, seq


@dataclass(frozen=True)
class Restored:
    journal: Path
    head_seq: int
    replaced: Path | None
    annulled: tuple[str, ...]


def restore_backup(
    backup: Path,
    data: Path,
    *,
    hall_file: Path | None = None,
    force: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[CheckedBackup, list[Restored]]:
    """Check `backup`, then put its journals in place in `data`: the files in place are moved
    aside (`<journal>.replaced-<time>/`), the copy and its head file written, and every secret
    vote open in the copy annulled (its ballots are not in a backup). Refuses to put back a
    journal older than the one in place (more records, or another journal) unless `force`."""
    from chamber.controller.signing import SigningError, read_public_key

    public: bytes | None = None
    if not force and (data / PUBLIC_KEY_FILE).is_file():
        try:
            public = read_public_key(data / PUBLIC_KEY_FILE)
        except (OSError, SigningError) as exc:
            raise BackupError(f"{data / PUBLIC_KEY_FILE}: {exc}") from None
    checked = check_backup(backup, public_key=public)
    entries = [e for e in checked.manifest["journals"] if isinstance(e, dict)]
    for entry in entries:
        target = data / entry["file"]
        journal_id, seq = _target_head(target)
        if force or (journal_id is None and seq == 0):
            continue
        if journal_id != entry["journal_id"]:
            raise BackupError(
                f"{target}: holds another journal ({str(journal_id)[:12]}...) than the backup's "
                "(--force replaces it)"
            )
        if seq > entry["head_seq"]:
            raise BackupError(
                f"{target}: holds records up to {seq}, newer than the backup's "
                f"{entry['head_seq']} (--force replaces it)"
            )
    data.mkdir(parents=True, exist_ok=True)
    stamp = now().astimezone(UTC).strftime(_STAMP)
    config_path = hall_file or (backup / HALL_FILE if (backup / HALL_FILE).is_file() else None)
    done: list[Restored] = []
    for entry in entries:
        target = data / entry["file"]
        replaced = _move_aside(target, stamp)
        tmp = data / f".restoring-{target.name}"
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        src = sqlite3.connect(f"{(backup / target.name).resolve().as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            src.close()
            dst.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        head_bytes = head_file_of(backup / target.name).read_bytes()
        head = head_file_of(target)
        fd = os.open(head, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, head_bytes)
            os.fsync(fd)
        finally:
            os.close(fd)
        annulled: tuple[str, ...] = ()
        if config_path is not None:
            annulled = _annul_open_secret_votes(target, config_path, backup.name)
        done.append(Restored(target, int(entry["head_seq"]), replaced, annulled))
    return checked, done


def _move_aside(target: Path, stamp: str) -> Path | None:
    """Move the journal in place, its -wal, -shm and head file into `<journal>.replaced-<stamp>/`
    (kept for the investigation: never applied to the restored journal)."""
    parts = [
        p
        for p in (target, Path(f"{target}-wal"), Path(f"{target}-shm"), head_file_of(target))
        if p.exists()
    ]
    if not parts:
        return None
    aside = target.with_name(f"{target.name}.replaced-{stamp}")
    aside.mkdir(mode=0o700, exist_ok=True)
    for p in parts:
        os.replace(p, aside / p.name)
    return aside


def _annul_open_secret_votes(
    journal_path: Path,
    hall_file: Path,
    backup: str,
    reasons: dict[str, str] = RESTORE_ANNUL_REASON,
) -> tuple[str, ...]:
    """Replay the restored journal in a runtime of its own (no drivers) and annul, through the
    core, every secret vote still open: its ballots were left out of the backup (or, with the
    standby's `reasons`, never shipped to the standby)."""
    from chamber.controller.config import load_config
    from chamber.controller.core.clock import FakeClock
    from chamber.controller.core.inputs import AnnulVote
    from chamber.controller.journal import Journal
    from chamber.controller.runtime import Runtime

    config = load_config(hall_file)
    reason = reasons[config.hall.language.value].format(backup=backup)
    with Journal.open(journal_path) as journal:
        probe = Runtime(config, journal)
        probe.replay()
        if not any(
            v.definition.secret and v.state.value in ("open", "hold")
            for v in probe.core.votes.values()
        ):
            return ()  # nothing to annul: the journal stays exactly the backup's
        # The annulment happens at the backup's last journaled instant: no timer runs on, so
        # no deadline closes the vote on the (empty) count the backup holds first.
        stood_at = probe.core.now

    async def run() -> tuple[str, ...]:
        with Journal.open(journal_path) as journal:
            runtime = Runtime(config, journal, clock=FakeClock(stood_at))
            task = asyncio.create_task(runtime.run())
            started = asyncio.create_task(runtime.started.wait())
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                started.cancel()
                task.result()
            try:
                open_secret = [
                    v.vote_id
                    for v in runtime.core.votes.values()
                    if v.definition.secret and v.state.value in ("open", "hold")
                ]
                for vote_id in open_secret:
                    await runtime.command(
                        lambda at, vote_id=vote_id: AnnulVote(at, vote_id, reason)  # type: ignore[misc]
                    )
                return tuple(open_secret)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return asyncio.run(run())


# --- the daemon's backups -------------------------------------------------------------------


class BackupService:
    """The daemon's backups: one after every vote close (`request`) and every `every_s`.

    Runs in a thread off the event loop. A failure is one log line and a health fault
    (`FaultKind.BACKUP`), cleared by the next backup that succeeds; it never stops the sitting.
    """

    def __init__(
        self,
        data: Path,
        dest: Path,
        *,
        hall: str,
        journal: Path,
        hall_file: Path | None,
        every_s: float | None,
        keep_last: int,
        keep_days: int,
        on_result: Callable[[BackupResult | None, str], None],
        after_backup: Callable[[], object] | None = None,
    ) -> None:
        self.data, self.dest, self.hall = data, dest, hall
        self.journal, self.hall_file = journal, hall_file
        self.every_s, self.keep_last, self.keep_days = every_s, keep_last, keep_days
        self._on_result = on_result
        # Run after each backup (the daemon's: truncate the live WAL, which the backup's read
        # snapshot may have kept a secret vote's seal from truncating).
        self._after = after_backup
        self._wanted = asyncio.Event()
        # Set after each backup, taken or failed (a test's or a monitor's wait).
        self.finished = asyncio.Event()
        self.taken = 0
        self.failed = 0
        # Timer backups not taken: nothing was committed since the last backup.
        self.skipped = 0
        self.last: BackupResult | None = None

    def request(self) -> None:
        self._wanted.set()

    def backup_now(self) -> BackupResult:
        try:
            return self._take()
        finally:
            if self._after is not None:
                self._after()

    def _take(self) -> BackupResult:
        return take_backup(
            self.data,
            self.dest,
            hall=self.hall,
            journals=[self.journal],
            hall_file=self.hall_file,
            keep_last=self.keep_last,
            keep_days=self.keep_days,
        )

    def _unchanged(self) -> bool:
        """The journal's head is the one the last backup holds: a timer's backup would be the
        same again (and push an older, different one out of `keep_last`)."""
        if self.last is None:
            return False
        try:
            conn = sqlite3.connect(f"{self.journal.resolve().as_uri()}?mode=ro", uri=True)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
            head = (meta["journal_id"], int(meta["head_seq"]), meta["head_hash"])
        except (sqlite3.Error, KeyError, ValueError):
            return False
        held = {(j.journal_id, j.head_seq, j.head_hash) for j in self.last.journals}
        return head in held

    async def backup_in_process(self) -> BackupResult:
        """`chamber backup` in a process of its own: its checked read of the whole copy runs
        beside the daemon's event loop, not in its interpreter (one CPU-bound thread there
        would hold the loop back, press confirmations with it)."""
        argv = [
            sys.executable,
            "-m",
            "chamber.controller.cli",
            "backup",
            "--data",
            str(self.data),
            "--to",
            str(self.dest),
            "--hall",
            self.hall,
            "--journal",
            str(self.journal),
            "--keep-last",
            str(self.keep_last),
            "--keep-days",
            str(self.keep_days),
            "--json",
        ]
        if self.hall_file is not None:
            argv += ["--config", str(self.hall_file)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        try:
            if proc.returncode != 0:
                text = err.decode("utf-8", "replace").strip().removeprefix("error: ")
                raise BackupError(text or f"chamber backup exited with {proc.returncode}")
            try:
                return result_from_json(json.loads(out))
            except (ValueError, KeyError, TypeError) as exc:
                raise BackupError(f"chamber backup said something else: {exc}") from exc
        finally:
            if self._after is not None:
                await asyncio.to_thread(self._after)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), self.every_s)
            if not self._wanted.is_set() and self._unchanged():
                self.skipped += 1
                continue
            self._wanted.clear()
            started = time.perf_counter()
            try:
                result = await self.backup_in_process()
            except (BackupError, JournalError, OSError, sqlite3.Error) as exc:
                self.failed += 1
                text = " ".join(str(exc).split())[:300] or type(exc).__name__
                log.error(
                    "backup failed: %s",
                    text,
                    extra={"event": "backup-failed", "dest": str(self.dest)},
                )
                self._on_result(None, text)
                self.finished.set()
                continue
            self.taken += 1
            self.last = result
            log.info(
                "backup taken",
                extra={
                    "event": "backup-taken",
                    "path": str(result.path),
                    "records": sum(j.head_seq for j in result.journals),
                    "removed": len(result.removed),
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
            self._on_result(result, "")
            self.finished.set()


# --- the command line -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="the daemon's data directory")
    parser.add_argument(
        "--to", type=Path, required=True, dest="dest", help="the backup directory or disk"
    )
    parser.add_argument("--config", type=Path, help="the hall file (names the backup, and kept)")
    parser.add_argument("--hall", help="the name of the backup (default: the hall file's id)")
    parser.add_argument(
        "--journal", type=Path, action="append", help="back up only this journal (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="say what was made as JSON")
    parser.add_argument("--keep-last", type=int, help="then keep only the newest N backups ...")
    parser.add_argument("--keep-days", type=int, default=0, help="... and one a day for M days")


def run(args: argparse.Namespace) -> int:
    """`chamber backup`: exit 0 with the backup verified, 1 if it failed, 2 bad arguments."""
    hall = args.data.resolve().name
    journals: list[Path] | None = None
    if args.config is not None:
        from chamber.controller.config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        hall = config.hall_id
    else:
        found = sorted(args.data.glob("*.journal"))
        if len(found) == 1:
            hall = found[0].stem
        journals = found
    if args.hall:
        hall = args.hall
    if args.journal:
        journals = list(args.journal)
    if args.keep_last is not None and args.keep_last < 1:
        print("error: --keep-last: at least 1", file=sys.stderr)
        return 2
    try:
        result = take_backup(
            args.data,
            args.dest,
            hall=hall,
            journals=journals,
            hall_file=args.config,
            keep_last=args.keep_last,
            keep_days=args.keep_days,
        )
    except (BackupError, JournalError, OSError, sqlite3.Error) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result_json(result), ensure_ascii=False))
        return 0
    print(result)
    for path in result.removed:
        print(f"removed {path} (retention)")
    return 0


def result_json(result: BackupResult) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "hall": result.hall,
        "taken_at": result.taken_at.isoformat(),
        "signed": result.signed,
        "journals": [
            {
                "name": j.name,
                "journal_id": j.journal_id,
                "head_seq": j.head_seq,
                "head_hash": j.head_hash,
                "witnessed_seq": j.witnessed_seq,
                "left_out_presses": j.left_out_presses,
                "left_out_votes": list(j.left_out_votes),
            }
            for j in result.journals
        ],
        "removed": [str(p) for p in result.removed],
    }


def result_from_json(data: dict[str, Any]) -> BackupResult:
    return BackupResult(
        Path(data["path"]),
        data["hall"],
        datetime.fromisoformat(data["taken_at"]),
        tuple(
            JournalCopy(
                j["name"],
                j["journal_id"],
                j["head_seq"],
                j["head_hash"],
                j["witnessed_seq"],
                j["left_out_presses"],
                tuple(j["left_out_votes"]),
            )
            for j in data["journals"]
        ),
        data["signed"],
        tuple(Path(p) for p in data["removed"]),
    )


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", type=Path, help="the backup directory")
    parser.add_argument("--data", type=Path, required=True, help="the data directory to restore")
    parser.add_argument(
        "--config", type=Path, help="the hall file (default: the one kept in the backup)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a newer journal, or another one, and accept an unsigned backup",
    )


def run_restore(args: argparse.Namespace) -> int:
    """`chamber restore`: exit 0 restored, 1 the backup or the target refused, 2 unreadable."""
    try:
        checked, done = restore_backup(
            args.backup, args.data, hall_file=args.config, force=args.force
        )
    except (BackupError, JournalError, OSError, sqlite3.Error) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    signed = f"signed by {checked.signed_by}" if checked.signed_by else "unsigned"
    print(f"{checked.path}: verified ({signed})")
    for r in done:
        line = f"restored {r.journal} at record {r.head_seq}"
        if r.replaced is not None:
            line += f"; the files it replaced are in {r.replaced}"
        if r.annulled:
            line += "; secret vote(s) open in the backup annulled: " + ", ".join(r.annulled)
        print(line)
    return 0
