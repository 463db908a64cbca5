"""Signed vote results: the hall's Ed25519 key, and result documents anyone can check offline.

A signed result is one JSON file: the vote's result (hall, sitting, vote, totals, rule, the
outcome sentence and the journal's hash at the record that made the result final), the hall's
public key, and an Ed25519 signature over the canonical JSON of everything but the signature.
The file is written in one fixed layout, and `verify_document` accepts only that layout: any
changed byte, even a space, is caught, not only changes that alter the meaning.

The signature proves that the holder of the hall's private key issued this document and that
it was not altered since. That it is *this hall's* key is a separate fact: compare the key's
fingerprint with the one the hall published (printed in the minutes, on the notice board), or
pass the hall's public key file to `verify-result --key`.

The private key lives in the data directory (mode 0600), is generated on first use, and is
never written anywhere else, logged, or sent over the API.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chamber.controller.exports import ExportError, JournalView, Seal, result_json
from chamber.controller.journal import canonical_json

FORMAT = "chamber-signed-result/1"
KEY_FILE = "hall-ed25519.key"
PUBLIC_KEY_FILE = "hall-ed25519.pub"


class SigningError(Exception):
    """Base of this module's errors."""


class SigningKeyError(SigningError):
    """The hall's key cannot be read or created safely."""


class DocumentError(SigningError):
    """A signed-result file cannot be read at all (not JSON, fields missing): exit code 2."""


def fingerprint(public_key: bytes) -> str:
    """SHA-256 of the raw public key, hex, in groups of four: what a hall publishes."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class HallKey:
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return _raw_public(self.private.public_key())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_raw)

    @classmethod
    def load_or_create(cls, data_dir: str | os.PathLike[str]) -> HallKey:
        """The hall's key from `data_dir`, generated there (0600) the first time.

        A key file that others may read is refused: whoever reads it can sign results.
        """
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / KEY_FILE
        try:
            return cls._load(path)
        except FileNotFoundError:
            pass
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            # O_EXCL: two processes starting at once never overwrite each other's key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls._load(path)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        key = cls(private)
        public = directory / PUBLIC_KEY_FILE
        public.write_text(public_key_text(key.public_raw), encoding="ascii")
        return key

    @classmethod
    def _load(cls, path: Path) -> HallKey:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise SigningKeyError(
                f"{path}: the hall's signing key is readable by others "
                f"(mode {mode & 0o777:o}); make it 0600"
            )
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{path}: not a private key ({exc})") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{path}: not an Ed25519 key")
        return cls(private)


def public_key_text(raw: bytes) -> str:
    """The public key file: base64 of the raw 32 bytes, with its fingerprint as a comment."""
    return f"# chamber hall key {fingerprint(raw)}\n{base64.b64encode(raw).decode()}\n"


def _strict_b64(text: Any) -> bytes:
    """Base64 in its one canonical spelling. The last character before the padding carries
    bits the decoder ignores, so several spellings decode alike: any but the canonical one
    is a changed byte, and an auditor is promised that none goes unnoticed."""
    if not isinstance(text, str):
        raise TypeError("not a base64 string")
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not the canonical base64 spelling")
    return raw


def read_public_key(path: str | os.PathLike[str]) -> bytes:
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
        body = "".join(line.strip() for line in lines if not line.startswith("#"))
        raw = base64.b64decode(body, validate=True)
    except (OSError, ValueError) as exc:
        raise DocumentError(f"{path}: cannot read the public key ({exc})") from exc
    if len(raw) != 32:
        raise DocumentError(f"{path}: an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw


# --- documents ------------------------------------------------------------------------------


def _signed_part(result: Mapping[str, Any], public_raw: bytes) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "result": dict(result),
        "public_key": base64.b64encode(public_raw).decode(),
    }


def render(document: Mapping[str, Any]) -> str:
    """The one layout a signed result is written in: sorted keys, two-space indent, UTF-8
    (Vietnamese as it is), one final newline."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def sign_result(result: Mapping[str, Any], key: HallKey) -> str:
    """A signed result document (the file's text) for a result dict."""
    part = _signed_part(result, key.public_raw)
    signature = key.private.sign(canonical_json(part).encode("utf-8"))
    return render(part | {"signature": base64.b64encode(signature).decode()})


class Verdict(StrEnum):
    OK = "ok"
    BAD_SIGNATURE = "bad-signature"
    ALTERED = "altered"
    WRONG_KEY = "wrong-key"


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    detail: str
    fingerprint: str = ""
    result: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


def verify_document(text: bytes | str, *, expected_key: bytes | None = None) -> Verification:
    """Check a signed result. `DocumentError` if it cannot be read at all; otherwise a
    verdict: OK, or what is wrong (the layout was changed, the signature does not match,
    or it was signed by another key than `expected_key`)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return Verification(Verdict.ALTERED, "the file is not valid UTF-8 any more")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DocumentError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict) or set(document) != {
        "format",
        "result",
        "public_key",
        "signature",
    }:
        raise DocumentError("not a signed result (format, result, public_key, signature)")
    if document["format"] != FORMAT:
        raise DocumentError(f"unknown format {document['format']!r}")
    try:
        public_raw = _strict_b64(document["public_key"])
        signature = _strict_b64(document["signature"])
        public = Ed25519PublicKey.from_public_bytes(public_raw)
    except (TypeError, ValueError) as exc:
        return Verification(Verdict.ALTERED, f"the key or signature is damaged ({exc})")
    if not isinstance(document["result"], dict):
        raise DocumentError("result is not an object")
    print_ = fingerprint(public_raw)
    part = _signed_part(document["result"], public_raw)
    try:
        public.verify(signature, canonical_json(part).encode("utf-8"))
    except InvalidSignature:
        return Verification(Verdict.BAD_SIGNATURE, "the signature does not match", print_)
    if render(document) != text:
        # Same content, other bytes: harmless in meaning, but an auditor is promised that
        # the file is exactly what the hall issued.
        return Verification(Verdict.ALTERED, "the file's layout was changed", print_)
    if expected_key is not None and public_raw != expected_key:
        return Verification(
            Verdict.WRONG_KEY,
            f"signed by key {print_}, not by the hall's key {fingerprint(expected_key)}",
            print_,
        )
    return Verification(Verdict.OK, "signature valid", print_, document["result"])


# --- results from a journal -------------------------------------------------------------------


def result_payload(view: JournalView, vote_id: str) -> dict[str, Any]:
    """What a signed result states about one closed vote, from a replayed journal."""
    vote = view.votes.get(vote_id)
    if vote is None:
        raise ExportError(
            f"no closed vote {vote_id!r} in the journal", "export.vote_not_closed", vote=vote_id
        )
    data = result_json(vote)
    d = vote.definition
    return {
        "hall": {"id": view.config.hall_id, "name": view.config.hall.body.name},
        "sitting": {"id": vote.sitting_id, "title": vote.sitting_title},
        "vote": {
            "id": d.vote_id,
            "title": d.title,
            "item_id": d.item_id,
            "mode": d.mode.value,
            "answers": d.answers.value,
            "weighted": d.weighted,
            "closed_at": data["closed_at"],
            "auto_closed": data["auto_closed"],
            "kind": data["kind"],
            # The vote it runs again, how a result taken by hand was taken, and whether the
            # chair annulled it (then it decides nothing, whatever `adopted` says).
            "rerun_of": data["rerun_of"],
            "manual": data["manual"],
            "annulled": data["annulled_reason"] if data["annulled"] else None,
        },
        "totals": data["totals"],
        "weighted_totals": data["weighted_totals"],
        "voted": data["voted"],
        "did_not_vote": data["did_not_vote"],
        "present": data["present"],
        "entitled": data["entitled"],
        "all_members": data["all_members"],
        "rule": {
            "key": data["rule"],
            "base": data["base"],
            "base_count": data["base_count"],
            "required": data["required"],
        },
        "adopted": data["adopted"],
        "tie": data["tie"],
        "explanation": data["explanation"],
        "journal": {"id": view.journal_id, "seq": vote.seq, "head_hash": vote.head_hash},
    }


def signed_result(view: JournalView, vote_id: str, key: HallKey) -> str:
    return sign_result(result_payload(view, vote_id), key)


# --- the minutes' seal ------------------------------------------------------------------------

SEAL_FORMAT = "chamber-minutes-seal/1"


def seal_payload(view: JournalView) -> dict[str, Any]:
    """What the minutes' seal states: this hall's journal, its last record and that record's
    chain hash (the chain ties every earlier record to it)."""
    return {
        "format": SEAL_FORMAT,
        "hall": view.config.hall_id,
        "journal": {"id": view.journal_id, "seq": view.head_seq, "head_hash": view.head_hash},
    }


def minutes_seal(view: JournalView, key: HallKey) -> Seal:
    """The hall key's Ed25519 signature over `seal_payload` (its canonical JSON), for the
    minutes' appendix."""
    signature = key.private.sign(canonical_json(seal_payload(view)).encode("utf-8"))
    return Seal(key.fingerprint, base64.b64encode(signature).decode())


def verify_seal(view: JournalView, seal: Seal, public_raw: bytes) -> bool:
    """Whether `seal` is the signature of the key `public_raw` over this journal's head."""
    try:
        signature = base64.b64decode(seal.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(
            signature, canonical_json(seal_payload(view)).encode("utf-8")
        )
    except (ValueError, InvalidSignature):
        return False
    return fingerprint(public_raw) == seal.fingerprint
