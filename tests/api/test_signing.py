"""Signed results: the hall's key, signing a closed vote's result, and `chamber audit
verify-result` checking it offline; any changed byte is caught."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamber.controller import audit_cli
from chamber.controller.auth import Role
from chamber.controller.journal import Journal, JournalReader
from chamber.controller.signing import (
    KEY_FILE,
    PUBLIC_KEY_FILE,
    DocumentError,
    HallKey,
    SigningKeyError,
    Verdict,
    public_key_text,
    read_public_key,
    sign_result,
    verify_document,
)

from .conftest import EXAMPLES, Hall
from .helpers import play_sitting

RESULT = {
    "hall": {"id": "hdnd-ninh-binh", "name": "Hội đồng nhân dân tỉnh Ninh Bình khóa XV"},
    "vote": {"id": "v1", "title": "Nghị quyết về ngân sách tỉnh năm 2026"},
    "totals": [{"key": 1, "label": "Tán thành", "count": 26}],
    "explanation": "Tán thành 26/50 đại biểu: thông qua.",
    "journal": {"id": "ab" * 16, "seq": 42, "head_hash": "0" * 64},
}


def audit(argv: list[str]) -> int:
    """`chamber audit ARGS`, as the command line runs it."""
    parser = argparse.ArgumentParser(prog="chamber audit")
    audit_cli.add_arguments(parser)
    return audit_cli.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> HallKey:
    return HallKey.load_or_create(tmp_path_factory.mktemp("hall-data"))


def test_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    key = HallKey.load_or_create(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert HallKey.load_or_create(tmp_path).public_raw == key.public_raw
    assert read_public_key(tmp_path / PUBLIC_KEY_FILE) == key.public_raw
    assert key.fingerprint in (tmp_path / PUBLIC_KEY_FILE).read_text()
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="readable by others"):
        HallKey.load_or_create(tmp_path)
    os.chmod(path, 0o600)
    path.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a private key"):
        HallKey.load_or_create(tmp_path)


def test_a_signed_result_verifies_and_keeps_vietnamese(key: HallKey) -> None:
    text = sign_result(RESULT, key)
    assert "Tán thành" in text  # readable as it is, not \\u escapes
    verdict = verify_document(text.encode("utf-8"), expected_key=key.public_raw)
    assert verdict.ok
    assert verdict.result == RESULT
    assert verdict.fingerprint == key.fingerprint


def test_another_key_or_a_changed_total_is_caught(key: HallKey, tmp_path: Path) -> None:
    text = sign_result(RESULT, key)
    other = HallKey.load_or_create(tmp_path)
    assert verify_document(text, expected_key=other.public_raw).verdict is Verdict.WRONG_KEY
    forged = text.replace('"count": 26', '"count": 27')
    assert forged != text
    assert verify_document(forged).verdict is Verdict.BAD_SIGNATURE
    # Re-signed by someone else's key: intact, but not the hall's.
    document = json.loads(text)
    resigned = sign_result(document["result"] | {"explanation": "khác"}, other)
    assert verify_document(resigned).ok
    assert verify_document(resigned, expected_key=key.public_raw).verdict is Verdict.WRONG_KEY


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_changed_byte_is_caught(key: HallKey, data: st.DataObject) -> None:
    original = sign_result(RESULT, key).encode("utf-8")
    at = data.draw(st.integers(0, len(original) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[at]), label="byte")
    changed = original[:at] + bytes([byte]) + original[at + 1 :]
    try:
        verdict = verify_document(changed)
    except DocumentError:
        return  # unreadable: exit code 2, caught too
    assert not verdict.ok


async def test_verify_result_command(hall: Hall, tmp_path: Path) -> None:
    await play_sitting(hall)
    async with hall.client(Role.CHAIR) as chair:
        response = await chair.get("/api/votes/v2/signed-result")
        assert response.status_code == 200, response.text
        missing = await chair.get("/api/votes/v9/signed-result")
        assert missing.status_code == 404
    data_dir = hall.daemon.journal.path.parent
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    signed = tmp_path / "v2.json"
    signed.write_bytes(response.content)
    result = json.loads(response.content)["result"]
    assert result["vote"]["mode"] == "secret"
    assert [t["count"] for t in result["totals"]] == [14, 10, 4]
    assert result["journal"]["seq"] <= hall.daemon.journal.head.seq
    public = str(data_dir / PUBLIC_KEY_FILE)
    journal = str(hall.daemon.journal.path)
    assert audit(["verify-result", str(signed)]) == 0
    assert audit(["verify-result", str(signed), "--key", public, "--journal", journal]) == 0
    # The same result issued from the command line is the same document, byte for byte.
    cli_signed = tmp_path / "v2-cli.json"
    config = str(EXAMPLES / "vn-council.toml")
    argv = ["sign-result", "--journal", journal, "--config", config, "--data", str(data_dir)]
    assert audit([*argv, "--vote", "v2", "-o", str(cli_signed)]) == 0
    assert cli_signed.read_bytes() == signed.read_bytes()

    altered = tmp_path / "altered.json"
    altered.write_text(signed.read_text(encoding="utf-8").replace('"count": 14', '"count": 15'))
    assert audit(["verify-result", str(altered)]) == 1
    spaced = tmp_path / "spaced.json"
    spaced.write_text(signed.read_text(encoding="utf-8").replace("{\n", "{ \n", 1))
    assert audit(["verify-result", str(spaced)]) == 1
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(public_key_text(HallKey.load_or_create(tmp_path / "k").public_raw))
    assert audit(["verify-result", str(signed), "--key", str(stranger)]) == 1
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ not json")
    assert audit(["verify-result", str(garbage)]) == 2
    assert audit(["verify-result", str(tmp_path / "absent.json")]) == 2
    assert audit(["verify", journal]) == 0


def test_a_non_canonical_base64_spelling_is_a_change(key: HallKey) -> None:
    """The character before base64 padding has bits a decoder ignores: changing them keeps
    the decoded signature but changes the file, and verification must say so."""
    text = sign_result(RESULT, key)
    for field_name in ("signature", "public_key"):
        start = text.index(f'"{field_name}": "') + len(field_name) + 5
        end = text.index('"', start)
        value = text[start:end]
        last = len(value.rstrip("=")) - 1
        for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/":
            if letter == value[last]:
                continue
            changed = text[: start + last] + letter + text[start + last + 1 :]
            try:
                verdict = verify_document(changed.encode("utf-8"))
            except DocumentError:
                continue
            assert not verdict.ok, (field_name, letter)


def test_verify_result_against_a_journal(
    key: HallKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--journal`: the journal verifies, and the record the result names has its hash."""
    path = tmp_path / "sitting.journal"
    with Journal.open(path) as journal:
        journal.append_batch([{"kind": "tick", "at": float(i)} for i in range(5)])
        journal_id = journal.journal_id
    stored = {seq: digest for seq, _record, digest in JournalReader(path).records()}

    def check(where: dict[str, object], name: str) -> int:
        signed = tmp_path / f"{name}.json"
        signed.write_text(sign_result(RESULT | {"journal": where}, key), encoding="utf-8")
        capsys.readouterr()
        return audit(["verify-result", str(signed), "--journal", str(path)])

    assert check({"id": journal_id, "seq": 3, "head_hash": stored[3]}, "ok") == 0
    assert check({"id": journal_id, "seq": 3, "head_hash": stored[2]}, "moved") == 1
    assert "record 3 does not have the result's hash" in capsys.readouterr().out
    assert check({"id": journal_id, "seq": 9, "head_hash": stored[3]}, "beyond") == 1
    assert check({"id": "ab" * 16, "seq": 3, "head_hash": stored[3]}, "other") == 1
    assert "another journal" in capsys.readouterr().out
    assert check({"id": journal_id, "head_hash": stored[3]}, "unnamed") == 1
    assert "names no journal record" in capsys.readouterr().out
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE records SET body = '{}' WHERE seq = 4")
    assert check({"id": journal_id, "seq": 3, "head_hash": stored[3]}, "damaged") == 1
    assert "BAD at record 4: hash-mismatch" in capsys.readouterr().out
    path.write_bytes(b"not a journal")
    assert check({"id": journal_id, "seq": 3, "head_hash": stored[3]}, "garbage") == 2
