"""The sitting's journal: every input the meeting core accepts, durable and hash-chained.

The daemon appends each accepted input here *before* it confirms the input to the unit (the
keypad LED lights only once the press is on disk), and on start it replays the journal to
rebuild the sitting exactly. Results, exports and the participation record are all derived
from it. One SQLite file in WAL mode; inputs that arrive together share one commit.

Each record row carries the hash of the row before it, so `verify` can name the first record
that was changed, removed or reordered, and every read checks the chain before it hands a
record on: there is one reader, `JournalReader` (read-only; replay, exports, signed results and
`chamber audit` use it), and one append transaction, `Journal.commit_items`, that every write
goes through (records, secret-ballot presses, the seal of a secret vote). The head file
beside the journal (`<journal>.head`) witnesses the last commit outside the SQLite files, so
commits lost by a cut or damaged WAL, or by an older copy of the journal, are named too.
Secret-ballot presses are kept apart, encrypted and outside the chain (see
`controller.secret_store`), so that no seat->choice link outlives the vote.

This module stores records (JSON-ready dicts), not Python objects, and knows nothing about
the rules of a sitting. It is runtime code and may do I/O; the meeting core must never import
it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self, TypeAlias, TypeVar

from chamber.controller.core.inputs import Input, from_record

SCHEMA_VERSION = 1
# "CHMB": lets `file(1)`-style tools and `open` tell a chamber journal from any SQLite file.
APPLICATION_ID = 0x43484D42
GENESIS_TAG = b"chamber-journal-v1\n"

log = logging.getLogger("chamber.journal")

T = TypeVar("T")

_SCHEMA = (
    """CREATE TABLE schema_version (version INTEGER NOT NULL)""",
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID""",
    # seq is the rowid: appends go to the end of the b-tree and replay reads it in order.
    """CREATE TABLE records (
        seq INTEGER PRIMARY KEY,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    # Encrypted presses of an open secret vote. Never part of the chain: they are deleted when
    # the vote is sealed. `after_seq` places each press after a main record for replay.
    """CREATE TABLE secret_presses (
        id INTEGER PRIMARY KEY,
        vote_id TEXT NOT NULL,
        after_seq INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL
    )""",
    """CREATE INDEX secret_presses_vote ON secret_presses (vote_id)""",
    """CREATE TABLE secret_sealed (vote_id TEXT PRIMARY KEY) WITHOUT ROWID""",
)


# --- errors ---------------------------------------------------------------------------------


class JournalError(Exception):
    """Base of every error this module raises."""


class NotAJournalError(JournalError):
    """The file is not a chamber journal (not SQLite at all, or another application's)."""


class JournalVersionError(JournalError):
    """The journal was written by a newer (or unknown) schema version."""


class Problem(StrEnum):
    """What is wrong with a journal, at its first bad record (see docs/journal.md)."""

    HASH_MISMATCH = "hash-mismatch"
    BROKEN_LINK = "broken-link"
    BAD_JSON = "bad-json"
    SEQ_GAP = "seq-gap"
    TRUNCATED = "truncated"
    HEAD_MISMATCH = "head-mismatch"
    DAMAGED_FILE = "damaged-file"
    # Against the head file, the witness of the last commit kept outside the SQLite files.
    LOST_RECORDS = "lost-records"
    HEAD_FILE_MISMATCH = "head-file-mismatch"
    HEAD_FILE_DAMAGED = "head-file-damaged"


class JournalCorruptError(JournalError):
    """The journal is damaged or was changed: `problem` at record `seq` (None: the journal as
    a whole). Run `chamber audit verify`; nothing may be built on top of it."""

    def __init__(
        self,
        message: str,
        *,
        problem: Problem | None = None,
        seq: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.seq = seq
        self.detail = detail or message


class JournalClosedError(JournalError):
    """The journal (or writer) was closed."""


class RecordError(JournalError, ValueError):
    """A record cannot be journaled: not a JSON object of finite numbers and valid text."""


class CommitError(JournalError):
    """SQLite refused the commit (disk full, I/O error): nothing of the batch was written."""


# --- records and hashes ---------------------------------------------------------------------


def canonical_json(record: Mapping[str, Any]) -> str:
    """The one text a record is stored and hashed as: sorted keys, no spaces, UTF-8 as is.

    `ensure_ascii=False` keeps Vietnamese readable in the file; NaN and infinities are refused
    because JSON has no spelling for them and they would not read back.
    """
    if not isinstance(record, Mapping):
        raise RecordError(f"a record is a JSON object, got {type(record).__name__}")
    try:
        text = json.dumps(
            record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
        # Lone surrogates pass json.dumps but cannot be stored as UTF-8.
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise RecordError(f"record cannot be journaled: {exc}") from exc
    return text


def genesis_hash(journal_id: str) -> str:
    """What the first record chains from: bound to this journal, so records cannot be moved
    from one journal file into another without breaking the chain."""
    return hashlib.sha256(GENESIS_TAG + journal_id.encode("ascii")).hexdigest()


def chain_hash(prev_hash: str | bytes, body: str | bytes) -> str:
    """SHA-256(prev_hash || body), hex; both as their stored bytes (ASCII hex, UTF-8 JSON)."""
    h = hashlib.sha256(prev_hash.encode("ascii") if isinstance(prev_hash, str) else prev_hash)
    h.update(body.encode("utf-8") if isinstance(body, str) else body)
    return h.hexdigest()


@dataclass(frozen=True)
class SealedPress:
    """A secret-ballot press, already encrypted, ready to be stored outside the chain."""

    vote_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class SealVote:
    """In a commit: a secret vote's encrypted presses are deleted and the vote marked sealed
    (`Journal.seal_secret_vote`)."""

    vote_id: str


# What one commit takes: a canonical record body, a sealed press, or the seal of a vote.
Item: TypeAlias = str | SealedPress | SealVote


@dataclass(frozen=True)
class StoredSecretPress:
    id: int
    vote_id: str
    after_seq: int
    nonce: bytes
    ciphertext: bytes


class SecretPresses(Protocol):
    """What replay needs from a secret-ballot store: the open votes' presses, decrypted,
    keyed by the main record they followed (0: before the first record)."""

    def pending_presses(self) -> Mapping[int, Sequence[Input]]: ...


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


# --- the head file: a witness of the last commit outside the SQLite files ------------------

HEAD_FILE_TAG = "chamber-head/1"
_SLOT = 256  # bytes; the file is two slots, written in turn
_SLOTS = 2


def head_file_of(path: str | os.PathLike[str]) -> Path:
    """`<journal>.head`, beside the journal."""
    p = Path(path)
    return p.with_name(p.name + ".head")


@dataclass(frozen=True)
class Witness:
    """What the head file says: the journal it belongs to and a head that was committed."""

    journal_id: str
    seq: int
    hash: str


def _encode_slot(w: Witness) -> bytes:
    line = f"{HEAD_FILE_TAG} {w.journal_id} {w.seq} {w.hash}"
    line += f" {zlib.crc32(line.encode('ascii')):08x}"
    raw = line.encode("ascii")
    if len(raw) >= _SLOT:  # cannot happen for a 63-bit seq, a 32-digit id and a SHA-256
        raise JournalError(f"head file slot too long ({len(raw)} bytes)")
    return raw.ljust(_SLOT - 1) + b"\n"


def _decode_slot(raw: bytes) -> Witness | None:
    """The slot's witness, or None for a slot that is empty or torn (its checksum fails)."""
    try:
        tag, journal_id, seq, digest, crc = raw.decode("ascii").split()
        body = f"{tag} {journal_id} {seq} {digest}"
        if tag != HEAD_FILE_TAG or int(crc, 16) != zlib.crc32(body.encode("ascii")):
            return None
        return Witness(journal_id, int(seq), digest)
    except ValueError:
        return None


def read_witness(path: str | os.PathLike[str]) -> Witness | None:
    """The head file of the journal at `path`: its newest valid slot; None if there is no head
    file (or an empty one: a crash while creating it). A head file with no valid slot raises
    `JournalCorruptError`: a power cut tears at most the slot being written, never both."""
    head_path = head_file_of(path)
    try:
        data = head_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalCorruptError(
            f"{head_path}: cannot read the head file: {exc.strerror or exc}",
            problem=Problem.HEAD_FILE_DAMAGED,
        ) from exc
    if not data:
        return None
    slots = [_decode_slot(data[i * _SLOT : (i + 1) * _SLOT]) for i in range(_SLOTS)]
    valid = [w for w in slots if w is not None]
    if len(data) != _SLOT * _SLOTS or not valid or len({w.journal_id for w in valid}) > 1:
        raise JournalCorruptError(
            f"{head_path}: the head file is damaged (no valid slot)",
            problem=Problem.HEAD_FILE_DAMAGED,
        )
    return max(valid, key=lambda w: w.seq)


def write_witness(path: str | os.PathLike[str], witness: Witness) -> None:
    """Write a new head file for the journal at `path` holding `witness` (a backup's copy,
    written at the copy's head): made afresh, mode 0600, flushed."""
    head = head_file_of(path)
    head.unlink(missing_ok=True)
    writer = _HeadFile(head, witness.journal_id, None)
    try:
        writer.write(Head(witness.seq, witness.hash))
        if writer.failures:
            raise JournalError(f"{head}: the head file could not be written")
    finally:
        writer.close()


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (a file created, renamed or removed in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _HeadFile:
    """The writer's side of the head file: two fixed 256-byte slots, overwritten in turn
    in place and flushed with one `fdatasync` after each commit. The slot written is never the
    one holding the newest witness, so a write torn by a power cut leaves the previous head
    readable (its checksum tells a torn slot). Mode 0600, made at the journal's creation."""

    def __init__(self, path: Path, journal_id: str, current: Witness | None) -> None:
        self.path = path
        self.journal_id = journal_id
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(self._fd, 0o600)
            if current is None or os.fstat(self._fd).st_size != _SLOT * _SLOTS:
                # Nothing to keep (a new journal): no slot of another journal may remain.
                os.ftruncate(self._fd, 0)
                os.ftruncate(self._fd, _SLOT * _SLOTS)
            if created:
                os.fsync(self._fd)
                fsync_dir(path.parent)
        except BaseException:
            os.close(self._fd)
            raise
        # The slot to write next: the one not holding the newest witness.
        self._next = 0
        if current is not None:
            raw = os.pread(self._fd, _SLOT * _SLOTS, 0)
            for i in range(_SLOTS):
                if _decode_slot(raw[i * _SLOT : (i + 1) * _SLOT]) == current:
                    self._next = (i + 1) % _SLOTS
        self.writes = 0
        self.failures = 0
        self._written = current

    def write(self, head: Head) -> None:
        """Record `head` as committed. Called only after its SQLite commit returned: the head
        file may lag the journal by one commit after a power cut, never lead it. A head already
        written (a commit of secret-ballot presses only moves no head) costs nothing."""
        witness = Witness(self.journal_id, head.seq, head.hash)
        if witness == self._written:
            return
        data = _encode_slot(witness)
        try:
            os.pwrite(self._fd, data, self._next * _SLOT)
            os.fdatasync(self._fd)
        except OSError as exc:
            # The commit itself is durable: the head file lags, which the checks allow. Failing
            # the commit here would make the runtime write the same records twice.
            self.failures += 1
            log.error(
                "head file not written: %s",
                exc.strerror or exc,
                extra={"event": "head-file-error", "path": str(self.path), "seq": head.seq},
            )
            return
        self._next = (self._next + 1) % _SLOTS
        self.writes += 1
        self._written = witness

    def close(self) -> None:
        os.close(self._fd)


# --- the journal ----------------------------------------------------------------------------


def _connect(path: Path, *, create: bool, readonly: bool = False) -> sqlite3.Connection:
    mode = "ro" if readonly else "rwc" if create else "rw"
    try:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so that a batch is exactly
        # one transaction. check_same_thread=False: the group-commit worker thread writes;
        # every use goes through Journal._lock.
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise NotAJournalError(f"{path}: cannot open: {exc}") from exc


def _check_identity(conn: sqlite3.Connection, path: Path) -> bool:
    """True for an empty database (to be created); raises unless it is a chamber journal."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise NotAJournalError(f"{path}: not a chamber journal ({exc})") from exc
    if app_id == 0 and not tables:
        return True
    if app_id != APPLICATION_ID or "schema_version" not in tables:
        raise NotAJournalError(f"{path}: an SQLite file, but not a chamber journal")
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    version = row[0] if row else None
    if version != SCHEMA_VERSION:
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise JournalVersionError(
                f"{path}: journal schema version {version} was written by a newer chamber; "
                f"this one reads version {SCHEMA_VERSION}: run the release that wrote it"
            )
        raise JournalVersionError(
            f"{path}: journal schema version {version!r} is unknown; "
            f"this chamber reads version {SCHEMA_VERSION}"
        )
    return False


def _make_private(path: Path) -> None:
    """Create the journal file if absent, mode 0600 from the start: SQLite gives its -wal and
    -shm files the mode of the database file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise NotAJournalError(f"{path}: cannot create: {exc.strerror or exc}") from exc


def _tighten(path: Path) -> None:
    """Take group and other access away from the journal's files (older journals had them)."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = p.stat().st_mode
            if mode & 0o077:
                p.chmod(mode & 0o700)
        except FileNotFoundError:
            continue


def _check_witness(
    conn: sqlite3.Connection, path: Path, journal_id: str, head: Head, witness: Witness | None
) -> None:
    """The journal holds at least the head the head file witnessed, with the same hash."""
    if witness is None:
        return
    if witness.journal_id != journal_id:
        detail = (
            f"the head file {head_file_of(path).name} belongs to another journal "
            f"({witness.journal_id[:12]}...)"
        )
        raise JournalCorruptError(
            f"{path}: journal: {Problem.HEAD_FILE_MISMATCH}: {detail}",
            problem=Problem.HEAD_FILE_MISMATCH,
            detail=detail,
        )
    if witness.seq > head.seq:
        detail = (
            f"records {head.seq + 1} to {witness.seq} were committed (head file) but the "
            f"journal ends at record {head.seq}: a cut or damaged WAL, or an older copy of "
            "the journal"
        )
        raise JournalCorruptError(
            f"{path}: record {head.seq + 1}: {Problem.LOST_RECORDS}: {detail}",
            problem=Problem.LOST_RECORDS,
            seq=head.seq + 1,
            detail=detail,
        )
    if witness.seq == 0:
        stored: str | None = genesis_hash(journal_id)
    else:
        row = conn.execute("SELECT hash FROM records WHERE seq = ?", (witness.seq,)).fetchone()
        value = row[0] if row else None
        stored = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if stored != witness.hash:
        detail = _REWRITTEN
        raise JournalCorruptError(
            f"{path}: record {witness.seq}: {Problem.HEAD_FILE_MISMATCH}: {detail}",
            problem=Problem.HEAD_FILE_MISMATCH,
            seq=witness.seq,
            detail=detail,
        )


_REWRITTEN = "its hash is not the one committed (head file): the journal was rewritten"


class Journal:
    """An open journal file. Thread-safe: the group-commit worker and readers may share it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        journal_id: str,
        head: Head,
        head_file: _HeadFile,
    ) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._closed = False
        self.path = path
        self.journal_id = journal_id
        self._head = head
        self._head_file = head_file
        # Transactions committed by this process: group commit is judged by it.
        self.commits = 0

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, journal_id: str | None = None) -> Journal:
        """Open a journal, creating it if the file is absent or empty.

        `journal_id`: a new journal gets this id instead of a random one (a standby's copy of
        the active controller's journal, whose chain starts from that id's genesis hash); an
        existing journal with another id is refused.

        Checks what is cheap to check before anything is appended: the file is a journal of
        this schema, its head matches its last record, and it holds the head its head file
        witnessed (`JournalCorruptError` otherwise). The whole chain is checked by every read
        (`records`, `replay_inputs`) and by `verify`.
        """
        p = Path(path)
        _make_private(p)
        conn = _connect(p, create=True)
        head_file: _HeadFile | None = None
        try:
            fresh = _check_identity(conn, p)
            # WAL: a commit appends to one file instead of rewriting pages twice, readers
            # (exports, the API) never block the writer, and a crash mid-commit leaves the
            # last committed state. synchronous=FULL: in WAL mode, NORMAL fsyncs only at
            # checkpoints, so a commit could be lost on power failure *after* the unit's LED
            # confirmed it; FULL fsyncs the WAL at every commit, which is the promise we make.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"{p}: cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            # Deleted secret-ballot rows are overwritten with zeros, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            witness = read_witness(p)
            if fresh:
                if witness is not None and witness.seq > 0:
                    raise JournalCorruptError(
                        f"{p}: record 1: {Problem.LOST_RECORDS}: the journal is empty or new, "
                        f"but its head file says records 1 to {witness.seq} were committed: "
                        "the journal file was removed or replaced",
                        problem=Problem.LOST_RECORDS,
                        seq=1,
                    )
                cls._create_schema(conn, journal_id)
                witness = None
            wanted = journal_id
            journal_id, head = cls._load_head(conn, p)
            if wanted is not None and journal_id != wanted:
                raise NotAJournalError(
                    f"{p}: the journal of another hall or controller (id {journal_id[:12]}..., "
                    f"not {wanted[:12]}...)"
                )
            _check_witness(conn, p, journal_id, head, witness)
            _tighten(p)
            head_file = _HeadFile(head_file_of(p), journal_id, witness)
            if witness is None and head.seq > 0:
                log.warning(
                    "journal has no head file: writing one at its head",
                    extra={"event": "head-file-missing", "path": str(p), "seq": head.seq},
                )
            head_file.write(head)  # brings a head file that lags up to date
        except sqlite3.DatabaseError as exc:
            conn.close()
            if head_file is not None:
                head_file.close()
            raise NotAJournalError(f"{p}: not a chamber journal ({exc})") from exc
        except BaseException:
            conn.close()
            if head_file is not None:
                head_file.close()
            raise
        return cls(conn, p, journal_id, head, head_file)

    @staticmethod
    def _create_schema(conn: sqlite3.Connection, journal_id: str | None = None) -> str:
        journal_id = journal_id or secrets.token_hex(16)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA:
                conn.execute(stmt)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            genesis = genesis_hash(journal_id)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("journal_id", journal_id),
                    ("head_seq", "0"),
                    ("head_hash", genesis),
                ],
            )
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return journal_id

    @staticmethod
    def _load_head(conn: sqlite3.Connection, path: Path) -> tuple[str, Head]:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        try:
            journal_id = meta["journal_id"]
            head = Head(int(meta["head_seq"]), meta["head_hash"])
        except (KeyError, ValueError) as exc:
            raise JournalCorruptError(f"{path}: journal meta table is damaged") from exc
        last = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        found = Head(last[0], last[1]) if last else Head(0, genesis_hash(journal_id))
        # Head and last row are written in one transaction; a mismatch means tampering or
        # damage, and appending on top of it would hide the evidence.
        if found != head:
            raise JournalCorruptError(
                f"{path}: record {min(head.seq, found.seq) + 1}: {Problem.HEAD_MISMATCH}: the "
                f"head says seq {head.seq}, the last record is seq {found.seq}; "
                "run `chamber audit verify`",
                problem=Problem.HEAD_MISMATCH,
                seq=min(head.seq, found.seq) + 1,
            )
        return journal_id, head

    # -- writing -----------------------------------------------------------------------------

    @property
    def head(self) -> Head:
        return self._head

    def append(self, record: Mapping[str, Any]) -> int:
        return self.append_batch([record])[0]

    def append_batch(self, records: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append records in one transaction (one fsync); their sequence numbers, in order.

        All or nothing: a record that cannot be journaled refuses the whole batch.
        """
        bodies = [canonical_json(r) for r in records]
        return self.commit_items(bodies)

    def commit_items(self, items: Sequence[Item], *, head_file: bool = True) -> list[int]:
        """The one append transaction: every write to the journal goes through it.

        Commits, in order and all or nothing, canonical record bodies (appended to the chain),
        sealed secret presses (stored outside it) and `SealVote`s (a secret vote's presses
        deleted, the vote marked sealed). Returns, per item, the record's seq, the secret
        press's row id, or the count of presses a seal deleted. Hashes are chained from the
        in-memory head, which moves only once the commit has returned; the journal's head row
        is written in the same transaction as the last record. Then the head file is written,
        unless `head_file` is False: the caller then calls `write_head_file` itself, later (the
        group commit does, once it has told the batch's waiters).
        """
        if not items:
            return []
        with self._lock:
            if self._closed:
                raise JournalClosedError(f"{self.path}: journal is closed")
            conn = self._conn
            seq, prev = self._head.seq, self._head.hash
            out: list[int] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for item in items:
                        if isinstance(item, SealedPress):
                            cur = conn.execute(
                                "INSERT INTO secret_presses"
                                " (vote_id, after_seq, nonce, ciphertext) VALUES (?, ?, ?, ?)",
                                (item.vote_id, seq, item.nonce, item.ciphertext),
                            )
                            assert cur.lastrowid is not None
                            out.append(cur.lastrowid)
                        elif isinstance(item, SealVote):
                            cur = conn.execute(
                                "DELETE FROM secret_presses WHERE vote_id = ?", (item.vote_id,)
                            )
                            out.append(cur.rowcount)
                            conn.execute(
                                "INSERT OR IGNORE INTO secret_sealed (vote_id) VALUES (?)",
                                (item.vote_id,),
                            )
                        else:
                            seq += 1
                            digest = chain_hash(prev, item)
                            conn.execute(
                                "INSERT INTO records (seq, body, prev_hash, hash)"
                                " VALUES (?, ?, ?, ?)",
                                (seq, item, prev, digest),
                            )
                            prev = digest
                            out.append(seq)
                    if seq != self._head.seq:
                        conn.executemany(
                            "UPDATE meta SET value = ? WHERE key = ?",
                            [(str(seq), "head_seq"), (prev, "head_hash")],
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise CommitError(f"{self.path}: commit failed: {exc}") from exc
            self._head = Head(seq, prev)
            self.commits += 1
            if head_file:
                self._head_file.write(self._head)
            return out

    def write_head_file(self) -> None:
        """Write the current head to the head file (a no-op once the journal is closed)."""
        with self._lock:
            if not self._closed:
                self._head_file.write(self._head)

    def seal_secret_vote(self, vote_id: str, closing: Mapping[str, Any] | None) -> int | None:
        """In one transaction (`commit_items`): append the vote's closing record (totals,
        participants) to the chain, delete the vote's encrypted presses and mark it sealed.
        The seq of the closing record, if any. Called by `SecretBallotStore.purge`, which then
        destroys the key."""
        items: list[Item] = [] if closing is None else [canonical_json(closing)]
        ids = self.commit_items([*items, SealVote(vote_id)])
        return ids[0] if closing is not None else None

    def checkpoint_truncate(self) -> bool:
        """Copy the WAL into the main file and truncate it to zero bytes, so that overwritten
        pages leave no older copy behind. False if a reader kept it from completing."""
        with self._lock:
            if self._closed:
                raise JournalClosedError(f"{self.path}: journal is closed")
            busy, _log, _done = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return bool(busy == 0)

    def secret_presses(self, vote_id: str | None = None) -> list[StoredSecretPress]:
        """Stored (still encrypted) presses of one open secret vote, or of all, in order."""
        sql = "SELECT id, vote_id, after_seq, nonce, ciphertext FROM secret_presses"
        args: tuple[str, ...] = ()
        if vote_id is not None:
            sql += " WHERE vote_id = ?"
            args = (vote_id,)
        with self._lock:
            if self._closed:
                raise JournalClosedError(f"{self.path}: journal is closed")
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [StoredSecretPress(*row) for row in rows]

    def sealed_votes(self) -> set[str]:
        with self._lock:
            if self._closed:
                raise JournalClosedError(f"{self.path}: journal is closed")
            return {r[0] for r in self._conn.execute("SELECT vote_id FROM secret_sealed")}

    # -- reading -----------------------------------------------------------------------------

    def records(self, from_seq: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
        """(seq, record) in order, through `JournalReader`: each checked against the chain
        before it is yielded, and the end against the journal's head and its head file.

        A separate read-only connection: replay and exports never hold the writer's lock, and
        WAL lets them read while the writer commits.
        """
        if self._closed:
            raise JournalClosedError(f"{self.path}: journal is closed")
        for seq, record, _digest in JournalReader(self.path).records(from_seq):
            yield seq, record

    def replay_inputs(
        self, from_seq: int = 1, *, secret: SecretPresses | None = None
    ) -> Iterator[Input]:
        """The journaled inputs in the order the core accepted them (`JournalReader.inputs`),
        with the open secret votes' presses put back in their place."""
        if self._closed:
            raise JournalClosedError(f"{self.path}: journal is closed")
        yield from JournalReader(self.path).inputs(from_seq, secret=secret)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
                self._head_file.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- group commit ---------------------------------------------------------------------------


@dataclass
class _Waiting:
    item: str | SealedPress
    future: asyncio.Future[int]


@dataclass
class _Call:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


class JournalWriter:
    """The runtime's path to the journal: `await submit(record)` returns once it is durable.

    Submits that arrive while a commit is running wait for the next one, which takes them all
    in one transaction: under load, the cost of an fsync is shared by every press that arrived
    during the previous one. Commits run in one dedicated worker thread, in order, so the
    event loop never blocks on the disk.

    Order is fixed when a record is *enqueued*: the runtime calls `enqueue` right after the
    core accepted the input, in the same step, so journal order is acceptance order even if
    the tasks that await the results run later. `submit` is `enqueue` plus the wait.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        max_batch: int = 8192,
        replicate: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.journal = journal
        self.max_batch = max_batch
        self._queue: collections.deque[_Waiting | _Call] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="journal-commit"
        )
        self._closed = False
        self.commits = 0
        self.records = 0
        # Awaited after each commit, with the journal's head, before the batch's waiters are
        # told (a standby's copy: `controller.standby.Shipper.replicated`); bounded by it.
        self._replicate = replicate

    def enqueue(self, record: Mapping[str, Any]) -> asyncio.Future[int]:
        """Queue one record now; the future gives its seq once its commit is on disk.

        A record that cannot be journaled raises `RecordError` here, to its own caller only.
        """
        entry = _Waiting(canonical_json(record), self._future())
        self._put(entry)
        return entry.future

    def enqueue_secret(self, press: SealedPress) -> asyncio.Future[int]:
        """Queue an encrypted secret-ballot press, committed with the records around it."""
        entry = _Waiting(press, self._future())
        self._put(entry)
        return entry.future

    def enqueue_call(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue a blocking journal operation (e.g. `SecretBallotStore.purge`): it runs on the
        commit thread after everything queued before it is committed, and before anything
        queued after it. So a press accepted before a secret vote closed is stored before the
        vote is sealed, never after."""
        future: asyncio.Future[T] = self._future()
        self._put(_Call(fn, future))
        return future

    async def submit(self, record: Mapping[str, Any]) -> int:
        # If our caller is cancelled the record is still committed (it is already queued):
        # an input the core accepted must not vanish because its waiter went away.
        return await self.enqueue(record)

    async def run_after_pending(self, fn: Callable[[], T]) -> T:
        return await self.enqueue_call(fn)

    def _future(self) -> asyncio.Future[Any]:
        if self._closed:
            raise JournalClosedError("journal writer is closed")
        return asyncio.get_running_loop().create_future()

    def _put(self, entry: _Waiting | _Call) -> None:
        self._queue.append(entry)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="journal-group-commit")

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                head = self._queue[0]
                if isinstance(head, _Call):
                    self._queue.popleft()
                    try:
                        result = await loop.run_in_executor(self._executor, head.fn)
                    except Exception as exc:
                        if not head.future.done():
                            head.future.set_exception(exc)
                    else:
                        if not head.future.done():
                            head.future.set_result(result)
                    continue
                batch: list[_Waiting] = []
                while self._queue and len(batch) < self.max_batch:
                    entry = self._queue[0]
                    if isinstance(entry, _Call):
                        break
                    batch.append(entry)
                    self._queue.popleft()
                commit = functools.partial(
                    self.journal.commit_items, [w.item for w in batch], head_file=False
                )
                try:
                    ids = await loop.run_in_executor(self._executor, commit)
                except Exception as exc:
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(exc)
                    continue
                self.commits += 1
                self.records += len(batch)
                if self._replicate is not None:
                    await self._replicate(self.journal.head.seq)
                for w, ident in zip(batch, ids, strict=True):
                    if not w.future.done():
                        w.future.set_result(ident)
                # The batch is durable once SQLite's commit returned: its waiters are told
                # first, and the head file (which may lag by a batch, never lead) is written
                # next on the same thread, before the next commit.
                self._executor.submit(self.journal.write_head_file)
        finally:
            self._flusher = None

    async def drain(self) -> None:
        """Wait until everything queued so far is committed."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def aclose(self) -> None:
        """Commit what is queued, then stop the worker thread. The journal stays open."""
        self._closed = True
        await self.drain()
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# --- reading: one read-only reader, every record checked ------------------------------------


_ROWS = "SELECT seq, body, prev_hash, hash FROM records WHERE seq >= ? ORDER BY seq"


class _Fault(Exception):
    def __init__(self, problem: Problem, at: int, detail: str) -> None:
        super().__init__(detail)
        self.problem, self.at, self.detail = problem, at, detail


def _check_row(
    row: tuple[Any, Any, Any, Any], expected: int, prev: str, *, decode: bool
) -> tuple[dict[str, Any], str]:
    """One row checked from its stored bytes: (record, hash), or `_Fault`. The slow path, for
    rows that cannot be read as text (a changed byte that is not UTF-8 any more)."""
    seq = row[0]
    body, prev_hash, stored = (v.encode("utf-8") if isinstance(v, str) else v for v in row[1:])
    if seq != expected:
        raise _Fault(Problem.SEQ_GAP, expected, f"expected seq {expected}, found {seq}")
    if prev_hash != prev.encode("utf-8"):
        what = "the genesis" if seq == 1 else f"record {seq - 1}'s hash"
        raise _Fault(Problem.BROKEN_LINK, seq, f"prev_hash is not {what}")
    if not isinstance(body, bytes):
        raise _Fault(Problem.BAD_JSON, seq, "the body is not text")
    digest = hashlib.sha256(prev_hash + body).hexdigest()
    if stored != digest.encode("ascii"):
        raise _Fault(Problem.HASH_MISMATCH, seq, "stored hash does not match the record")
    record: Any = {}
    if decode:
        try:
            record = json.loads(body.decode("utf-8"))
        except ValueError as exc:
            raise _Fault(Problem.BAD_JSON, seq, str(exc)) from exc
        if not isinstance(record, dict):
            raise _Fault(Problem.BAD_JSON, seq, "record is not a JSON object")
    return record, digest


class JournalRecord(NamedTuple):
    """One record of a checked read: its seq, the record (a JSON object; `{}` from a read that
    does not decode) and its chain hash."""

    seq: int
    record: dict[str, Any]
    hash: str

    def input(self) -> Input:
        """The input the core accepted (`InputRecordError` for a record that is none)."""
        return from_record(self.record)


@dataclass(frozen=True)
class VerifyReport:
    """OK with the count of records, or the first bad record and what is wrong with it."""

    path: str
    records: int
    head_hash: str
    problem: Problem | None = None
    seq: int | None = None
    detail: str = ""
    # The head file's witnessed head (None: the journal has no head file).
    witness: Witness | None = None
    journal_id: str = ""
    # The chain hashes of the records `JournalReader.verify` was asked to keep.
    hashes: Mapping[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            if self.witness is None:
                held = "no head file: records lost from the end would not be seen"
            else:
                held = f"head file at record {self.witness.seq}"
            return f"{self.path}: OK, {self.records} records, head {self.head_hash} ({held})"
        where = f"record {self.seq}" if self.seq is not None else "journal"
        return f"{self.path}: BAD at {where}: {self.problem}: {self.detail}"


class JournalReader:
    """A journal file, read-only: the one read path of every consumer of a journal.

    Replay at start (`Journal.records`, `replay_inputs`), the exports and signed results
    (`controller.exports`), and `chamber audit` all read through it. It opens the file with
    SQLite's `mode=ro` URI, so it never writes to the journal, and reads a copy of it or the
    live file beside a running writer (WAL) alike. Every record is checked against the chain
    before it is yielded, and the end of the read against the journal's head and its head
    file: the first fault raises `JournalCorruptError` with its `problem` and `seq`, so nothing
    is built from a damaged or changed journal that its caller would not hear of before the
    read ends. A file that is not a journal raises `NotAJournalError`; a journal of a newer
    schema, `JournalVersionError` (one line).

    After a read, `journal_id` is the journal's id, and `checked` / `head_hash` say how far
    the chain was found good (up to the fault, if there was one).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.journal_id: str | None = None
        self.checked = 0
        self.head_hash = ""
        self.witness: Witness | None = None

    def records(self, from_seq: int = 1, *, decode: bool = True) -> Iterator[JournalRecord]:
        """The records from `from_seq` in order, each checked before it is yielded, from one
        snapshot taken at the first read. From `from_seq` > 1 the chain is checked from the
        stored hash of the record before. With `decode=False` the records are not decoded (nor
        checked as JSON) and `{}` is yielded in their place.

        Each row must follow the one before (seq, prev_hash), and its stored hash must be
        SHA-256 of its stored bytes; at the end, the journal's head must be its last record and
        the head file's witnessed head must be in it with the same hash. The head file is read
        before the snapshot is taken: it never leads the committed state, so a reader beside a
        running writer never mistakes a commit it does not see for a loss.
        """
        p = self.path
        if not p.is_file():
            raise NotAJournalError(f"{p}: no such file")
        witness = read_witness(p)
        self.witness = witness
        conn = _connect(p, create=False, readonly=True)
        first = expected = max(from_seq, 1)
        prev = ""

        def fault(problem: Problem, at: int | None, detail: str) -> JournalCorruptError:
            self.checked, self.head_hash = expected - first, prev
            where = f"record {at}" if at is not None else "journal"
            return JournalCorruptError(
                f"{p}: {where}: {problem}: {detail}", problem=problem, seq=at, detail=detail
            )

        try:
            try:
                conn.execute("BEGIN")  # one snapshot for the identity, the rows and the head
                if _check_identity(conn, p):
                    raise NotAJournalError(f"{p}: an empty SQLite file, not a chamber journal")
                conn.text_factory = bytes
                meta = {
                    k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                    for k, v in conn.execute("SELECT key, value FROM meta")
                }
                journal_id = meta.get("journal_id", "")
                self.journal_id = journal_id
                try:
                    prev = genesis_hash(journal_id)
                except UnicodeEncodeError:
                    prev = ""
                if first > 1:
                    row = conn.execute(
                        "SELECT hash FROM records WHERE seq = ?", (first - 1,)
                    ).fetchone()
                    if row is None:
                        end = conn.execute(
                            "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"
                        ).fetchone()
                        if end is not None and end[0] >= first - 1:
                            raise fault(Problem.SEQ_GAP, first - 1, "no such record")
                        # Past the end: nothing to read, the head is still checked.
                        if end is not None:
                            first = expected = end[0] + 1
                            prev = end[1].decode("ascii", "replace")
                        else:
                            first = expected = 1
                    else:
                        prev = row[0].decode("ascii", "replace")
                self.head_hash = prev
                wseq = witness.seq if witness is not None else -1
                seen: str | None = None
                sha256 = hashlib.sha256
                loads = json.loads
                record: Any = {}
                # The fast path: rows as text, checked inline. A stored text that is not UTF-8
                # cannot be read as text: from that batch on, the rows are read again as bytes.
                conn.text_factory = str
                try:
                    cur = conn.execute(_ROWS, (first,))
                    while rows := cur.fetchmany(1024):
                        for seq, body, prev_hash, stored in rows:
                            if seq != expected or prev_hash != prev:
                                raise _Fault(Problem.SEQ_GAP, expected, "")  # named below
                            digest = sha256((prev_hash + body).encode("utf-8")).hexdigest()
                            if stored != digest:
                                raise _Fault(Problem.HASH_MISMATCH, seq, "")
                            if decode:
                                record = loads(body)
                                if record.__class__ is not dict:
                                    raise _Fault(Problem.BAD_JSON, seq, "")
                            if seq == wseq:
                                seen = digest
                            prev = digest
                            expected += 1
                            yield JournalRecord(seq, record, digest)
                except (_Fault, ValueError, TypeError, sqlite3.OperationalError) as exc:
                    if isinstance(exc, sqlite3.OperationalError) and "decode" not in str(exc):
                        raise
                    # Name the fault from the stored bytes (a type that is not text, a body
                    # that is not JSON, a byte that is not UTF-8 all land here).
                    conn.text_factory = bytes
                    for row in conn.execute(_ROWS, (expected,)):
                        try:
                            record, digest = _check_row(row, expected, prev, decode=decode)
                        except _Fault as bad:
                            raise fault(bad.problem, bad.at, bad.detail) from None
                        if row[0] == wseq:
                            seen = digest
                        prev = digest
                        expected += 1
                        yield JournalRecord(row[0], record, digest)
                last = expected - 1
                self.checked, self.head_hash = expected - first, prev
                head_seq, head_hash = meta.get("head_seq", ""), meta.get("head_hash", "")
                if head_seq != str(last) or head_hash != prev:
                    # The head is written in the same transaction as the last record: records
                    # removed from the end (or added behind the journal's back) show up here.
                    head = int(head_seq) if head_seq.isdigit() else None
                    if head is not None and head > last:
                        problem, bad_seq = Problem.TRUNCATED, last + 1
                    elif head is not None and head < last:
                        problem, bad_seq = Problem.HEAD_MISMATCH, head + 1
                    else:
                        problem, bad_seq = Problem.HEAD_MISMATCH, last
                    raise fault(
                        problem,
                        bad_seq,
                        f"the journal's head is seq {head_seq} ({head_hash[:12]}...), "
                        f"records end at seq {last} ({prev[:12]}...)",
                    )
                if witness is not None:
                    if witness.journal_id != journal_id or not first <= witness.seq <= last:
                        _check_witness(conn, p, journal_id, Head(last, prev), witness)
                    elif seen != witness.hash:
                        raise fault(Problem.HEAD_FILE_MISMATCH, witness.seq, _REWRITTEN)
            except sqlite3.DatabaseError as exc:
                raise fault(Problem.DAMAGED_FILE, expected, f"SQLite: {exc}") from exc
        finally:
            conn.close()

    def inputs(self, from_seq: int = 1, *, secret: SecretPresses | None = None) -> Iterator[Input]:
        """The journaled inputs in the order the core accepted them (replay), each record
        checked as `records` checks it.

        With `secret`, the presses of secret votes still open are put back in their place
        after the main record they followed, so an open secret vote is rebuilt too.
        """
        pending = secret.pending_presses() if secret is not None else {}
        if from_seq <= 1:
            yield from pending.get(0, ())
        for seq, record, _digest in self.records(from_seq):
            yield from_record(record)
            if pending:
                yield from pending.get(seq, ())

    def verify(self, *, decode: bool = True, keep: Collection[int] = ()) -> VerifyReport:
        """Recompute the whole chain from the genesis and name the first record that is wrong;
        then check the head and the head file. The report also gives the chain hash of each
        record of `keep` that was read (checked in the same snapshot as the rest).

        Raises `NotAJournalError` / `JournalVersionError` for a file that is not a journal, or
        one of a newer schema. `decode=False` skips the check that each record is a JSON object.
        """
        hashes: dict[int, str] = {}
        try:
            if keep:
                for seq, _record, digest in self.records(decode=decode):
                    if seq in keep:
                        hashes[seq] = digest
            else:
                for _ in self.records(decode=decode):
                    pass
        except JournalCorruptError as exc:
            return VerifyReport(
                str(self.path),
                self.checked,
                self.head_hash,
                exc.problem or Problem.DAMAGED_FILE,
                exc.seq,
                exc.detail,
                self.witness,
                self.journal_id or "",
                hashes,
            )
        return VerifyReport(
            str(self.path),
            self.checked,
            self.head_hash,
            witness=self.witness,
            journal_id=self.journal_id or "",
            hashes=hashes,
        )


def verify(path: str | os.PathLike[str], *, decode: bool = True) -> VerifyReport:
    """`JournalReader(path).verify()`: the whole chain from the genesis, the head and the head
    file; the first bad record named.

    Reads the stored bytes themselves where the text cannot be read (a changed byte that is not
    valid UTF-8 any more), so such a change is still caught as a hash mismatch rather than
    crashing the reader.
    """
    return JournalReader(path).verify(decode=decode)


def check_before_start(path: str | os.PathLike[str]) -> VerifyReport | None:
    """What `chamber run` does before it starts anything: the whole chain, the head and the
    head file of the journal at `path`. None if there is no journal yet (a first start);
    raises `JournalCorruptError` (naming the first bad record) or another `JournalError`.

    Records are not decoded here: replay decodes them, and refuses one that is not JSON.
    """
    p = Path(path)
    if not p.exists() or (p.is_file() and p.stat().st_size == 0):
        witness = read_witness(p)
        if witness is not None and witness.seq > 0:
            raise JournalCorruptError(
                f"{p}: record 1: {Problem.LOST_RECORDS}: there is no journal, but its head "
                f"file says records 1 to {witness.seq} were committed",
                problem=Problem.LOST_RECORDS,
                seq=1,
            )
        return None
    report = verify(p, decode=False)
    if not report.ok:
        where = f"record {report.seq}" if report.seq is not None else "the journal"
        raise JournalCorruptError(
            f"{p}: {where} is bad: {report.problem}: {report.detail}",
            problem=report.problem,
            seq=report.seq,
        )
    return report
