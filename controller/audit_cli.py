"""`chamber audit`: check a journal's hash chain, and check or issue signed vote results.

    chamber audit verify JOURNAL                   exit 0 OK, 1 a bad record, 2 not a journal
    chamber audit verify-result FILE [--key PUB] [--journal JOURNAL]
                                                   exit 0 OK, 1 bad signature or altered,
                                                   2 unreadable
    chamber audit sign-result --journal J --config C --data DIR --vote V [-o FILE]

`verify-result` works offline, with nothing but the file (and, to be sure whose key signed
it, the hall's published public key). With `--journal`, it also checks that the journal
verifies and holds the record the result names, with the same hash. This module only reads
journals; `sign-result` writes the result file and, the first time, the hall's key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chamber.controller.journal import JournalError, JournalReader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    v = sub.add_parser("verify", help="check a journal's hash chain; name the first bad record")
    v.add_argument("journal", type=Path, help="the journal file")
    r = sub.add_parser("verify-result", help="check a signed vote result, offline")
    r.add_argument("file", type=Path, help="the signed result (JSON)")
    r.add_argument("--key", type=Path, help="the hall's public key file (hall-ed25519.pub)")
    r.add_argument("--journal", type=Path, help="also check the result against this journal")
    s = sub.add_parser("sign-result", help="issue a signed result of a closed vote")
    s.add_argument("--journal", type=Path, required=True)
    s.add_argument("--config", type=Path, required=True, help="the hall's TOML file")
    s.add_argument("--data", type=Path, required=True, help="directory of the hall's key")
    s.add_argument("--vote", required=True, help="the vote's id")
    s.add_argument("--output", "-o", type=Path, help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return verify_journal(args.journal)
    if args.audit_command == "verify-result":
        return verify_result(args.file, key_file=args.key, journal=args.journal)
    return sign_result(args)


def verify_journal(path: Path) -> int:
    """Exit 0 if the journal verifies, 1 if a record is bad, 2 if it is not a journal."""
    try:
        report = JournalReader(path).verify()
    except JournalError as exc:
        print(f"error: {exc}")
        return 2
    print(report)
    return 0 if report.ok else 1


def verify_result(path: Path, *, key_file: Path | None = None, journal: Path | None = None) -> int:
    """Exit 0 if the signed result is intact (and matches `journal`), 1 if it was altered or
    badly signed, 2 if it (or the key, or the journal) cannot be read."""
    from chamber.controller.signing import DocumentError, read_public_key, verify_document

    try:
        expected = read_public_key(key_file) if key_file is not None else None
        data = path.read_bytes()
        verdict = verify_document(data, expected_key=expected)
    except OSError as exc:
        print(f"error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except DocumentError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    if not verdict.ok:
        print(f"{path}: BAD: {verdict.verdict.value}: {verdict.detail}")
        return 1
    assert verdict.result is not None
    if journal is not None:
        code = _against_journal(path, verdict.result, journal)
        if code != 0:
            return code
    suffix = "" if key_file is not None else " (compare it with the hall's published key)"
    print(f"{path}: OK, signed by key {verdict.fingerprint}{suffix}")
    return 0


def _against_journal(path: Path, result: object, journal: Path) -> int:
    """The journal verifies, and its record the result names has the result's hash: both from
    one checked read of the journal."""
    where = result.get("journal") if isinstance(result, dict) else None
    seq = where.get("seq") if isinstance(where, dict) else None
    named = seq if isinstance(seq, int) else None
    try:
        report = JournalReader(journal).verify(keep=() if named is None else (named,))
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not report.ok:
        print(report)
        return 1
    if not isinstance(where, dict) or named is None:
        print(f"{path}: BAD: the result names no journal record")
        return 1
    if report.journal_id != where.get("id"):
        print(f"{path}: BAD: the result comes from another journal")
        return 1
    if report.hashes.get(named) != where.get("head_hash"):
        print(f"{path}: BAD: journal record {named} does not have the result's hash")
        return 1
    return 0


def sign_result(args: argparse.Namespace) -> int:
    from chamber.controller.config import ConfigError, load_config
    from chamber.controller.exports import ExportError, replay_journal
    from chamber.controller.signing import HallKey, SigningError, signed_result

    try:
        config = load_config(args.config)
        view = replay_journal(args.journal, config)
        text = signed_result(view, args.vote, HallKey.load_or_create(args.data))
    except (ConfigError, ExportError, SigningError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text)
    return 0
