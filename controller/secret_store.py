"""Secret-ballot presses: durable while the vote is open, gone without a trace once it closes.

A secret vote must leave no seat->choice link anywhere, yet a crash while it is open must not
lose a single press. So while a secret vote is open its presses are stored outside the hash
chain, each encrypted (AES-256-GCM) with a key that belongs to that vote alone and lives in a
small key file beside the journal. When the vote closes, one transaction appends the closing
record (totals and participants, no seats' choices) to the chain and deletes the presses;
then the key file is overwritten and removed and the WAL is checkpointed and truncated.
With `secure_delete` on, SQLite zeroes the deleted rows in place.

The plaintext of a press exists only in memory: it never reaches the journal, the WAL or the
key file. This module must never log a press, and never write one to the main chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chamber.controller.core.inputs import (
    Input,
    InputRecordError,
    VoteKeyPressed,
    from_record,
    to_record,
)
from chamber.controller.journal import (
    Journal,
    JournalError,
    SealedPress,
    canonical_json,
    fsync_dir,
)

KEY_BYTES = 32
NONCE_BYTES = 12
# Every plaintext is padded to this size, so a ciphertext's length does not tell a seat with
# a one-digit number from one with three, nor key 1 from key 10.
PADDED_BYTES = 160


class SecretStoreError(JournalError):
    """A secret-ballot press cannot be stored or read back."""


class SecretVoteSealedError(SecretStoreError):
    """The vote was already sealed: its key is gone and no press may be added."""


class SecretKeyMissingError(SecretStoreError):
    """Encrypted presses exist but their vote's key file does not: they cannot be read."""


@dataclass(frozen=True)
class SecretPress:
    """A decrypted press, with the main record it followed (0: before the first)."""

    id: int
    after_seq: int
    press: VoteKeyPressed


@dataclass(frozen=True)
class PurgeReport:
    vote_id: str
    closing_seq: int | None
    presses_deleted: int
    key_destroyed: bool
    # False if a reader kept the WAL from being truncated; call `purge` again later.
    wal_truncated: bool


class SecretBallotStore:
    """Encrypted presses of the open secret votes of one journal, and their keys."""

    def __init__(self, journal: Journal, key_dir: str | os.PathLike[str]) -> None:
        self.journal = journal
        self.key_dir = Path(key_dir)
        self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A directory made by an earlier release, or by hand, may be wider: keys are private.
        self.key_dir.chmod(0o700)
        self._keys: dict[str, AESGCM] = {}
        # Kept in memory: `seal_press` runs on the event loop and must not wait for the
        # journal's lock while the commit thread holds it through an fsync.
        self._sealed = journal.sealed_votes()
        # A crash between sealing and destroying the key leaves the key file behind.
        for vote_id in self._sealed:
            self._destroy_key(vote_id)

    def key_path(self, vote_id: str) -> Path:
        # Hashed: a vote id may hold any text, a file name may not.
        digest = hashlib.sha256(vote_id.encode("utf-8")).hexdigest()[:32]
        return self.key_dir / f"vote-{digest}.key"

    # -- keys --------------------------------------------------------------------------------

    def open_vote(self, vote_id: str) -> None:
        """Create the vote's key on disk (durably) before its first press can be stored."""
        self._cipher(vote_id, create=True)

    def _cipher(self, vote_id: str, *, create: bool) -> AESGCM:
        cipher = self._keys.get(vote_id)
        if cipher is not None:
            return cipher
        path = self.key_path(vote_id)
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            if not create:
                raise SecretKeyMissingError(f"secret vote {vote_id!r}: key file missing") from None
            if vote_id in self._sealed:
                raise SecretVoteSealedError(f"secret vote {vote_id!r} is sealed") from None
            key = secrets.token_bytes(KEY_BYTES)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, key)
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.key_dir)
        if len(key) != KEY_BYTES:
            raise SecretStoreError(f"secret vote {vote_id!r}: key file is damaged")
        cipher = AESGCM(key)
        self._keys[vote_id] = cipher
        return cipher

    def _destroy_key(self, vote_id: str) -> bool:
        self._keys.pop(vote_id, None)
        path = self.key_path(vote_id)
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            size = os.fstat(fd).st_size
            # Overwrite before unlinking: unlinking alone leaves the key in the freed blocks.
            os.write(fd, b"\0" * max(size, KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        fsync_dir(self.key_dir)
        return True

    # -- presses -----------------------------------------------------------------------------

    def seal_press(
        self, vote_id: str, seat: int, key: int, at: float, origin: str | None = None
    ) -> SealedPress:
        """Encrypt a press for `JournalWriter.enqueue_secret` (the group-commit path).

        Runs on the event loop: call `open_vote` when the vote opens (through
        `JournalWriter.enqueue_call`), so that the first press does not create and fsync
        the key file here."""
        if vote_id in self._sealed:
            raise SecretVoteSealedError(f"secret vote {vote_id!r} is sealed")
        cipher = self._cipher(vote_id, create=True)
        # The origin goes inside the ciphertext: where a unit's numbering stands is needed to
        # resume it after a crash, and stored beside the press it would name the seat.
        press = VoteKeyPressed(at=at, seat=seat, key=key, origin=origin)
        body = canonical_json(to_record(press)).encode()
        if len(body) > PADDED_BYTES and origin is not None:
            # Only a unit's absurd numbering gets here: the press still counts, and the unit's
            # stream resumes from the last cursor that fitted.
            body = canonical_json(to_record(replace(press, origin=None))).encode()
        if len(body) > PADDED_BYTES:
            raise SecretStoreError(f"press too large to pad ({len(body)} bytes)")
        # Trailing spaces are JSON whitespace: the padded text still parses.
        padded = body.ljust(PADDED_BYTES, b" ")
        nonce = secrets.token_bytes(NONCE_BYTES)
        # The vote id as associated data: a press cannot be moved to another vote unseen.
        ciphertext = cipher.encrypt(nonce, padded, vote_id.encode("utf-8"))
        return SealedPress(vote_id, nonce, ciphertext)

    def put(self, vote_id: str, seat: int, key: int, at: float, origin: str | None = None) -> int:
        """Store one press durably (its own commit); its row id."""
        return self.journal.commit_items([self.seal_press(vote_id, seat, key, at, origin)])[0]

    def load(self, vote_id: str) -> list[SecretPress]:
        """The vote's presses, decrypted, in the order they were stored."""
        stored = self.journal.secret_presses(vote_id)
        if not stored:
            return []
        cipher = self._cipher(vote_id, create=False)
        out: list[SecretPress] = []
        for row in stored:
            try:
                padded = cipher.decrypt(row.nonce, row.ciphertext, vote_id.encode("utf-8"))
                record: Any = json.loads(padded.decode("utf-8"))
                press = from_record(record)
            except (InvalidTag, ValueError, InputRecordError) as exc:
                raise SecretStoreError(
                    f"secret vote {vote_id!r}: press {row.id} cannot be read ({exc!r})"
                ) from exc
            if not isinstance(press, VoteKeyPressed):
                raise SecretStoreError(f"secret vote {vote_id!r}: press {row.id} is not a press")
            out.append(SecretPress(row.id, row.after_seq, press))
        return out

    def open_votes(self) -> list[str]:
        """Secret votes with stored presses, in the order of their first press."""
        return list(dict.fromkeys(p.vote_id for p in self.journal.secret_presses()))

    def pending_presses(self) -> Mapping[int, Sequence[Input]]:
        """For `Journal.replay_inputs`: every open vote's presses by the record they followed."""
        merged: list[SecretPress] = []
        for vote_id in self.open_votes():
            merged.extend(self.load(vote_id))
        merged.sort(key=lambda p: p.id)
        out: dict[int, list[Input]] = {}
        for p in merged:
            out.setdefault(p.after_seq, []).append(p.press)
        return out

    # -- closing -----------------------------------------------------------------------------

    def purge(self, vote_id: str, *, closing: Mapping[str, Any] | None = None) -> PurgeReport:
        """Seal the vote: append `closing` (the core's close record with totals and
        participants) to the chain and delete the presses in one transaction, then destroy
        the key and truncate the WAL. Safe to call again after a crash at any step."""
        deleted = len(self.journal.secret_presses(vote_id))
        closing_seq = self.journal.seal_secret_vote(vote_id, closing)
        self._sealed.add(vote_id)
        destroyed = self._destroy_key(vote_id)
        truncated = self.journal.checkpoint_truncate()
        return PurgeReport(vote_id, closing_seq, deleted, destroyed, truncated)
