"""Exports from the journal: results and participation as CSV and JSON, printable minutes,
through the API and through `chamber export`."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from chamber.controller import exports
from chamber.controller.auth import Role
from chamber.controller.core.model import Language
from chamber.controller.exports import (
    COLUMN_HEADERS,
    CSV_BOM,
    Format,
    What,
    render,
    replay_journal,
)
from chamber.controller.signing import KEY_FILE, HallKey, minutes_seal, verify_seal

from .conftest import EXAMPLES, Hall
from .helpers import play_sitting


def chamber_export(argv: list[str]) -> int:
    """`chamber export ARGS`, as the command line runs it."""
    parser = argparse.ArgumentParser(prog="chamber export")
    exports.add_arguments(parser)
    return exports.run(parser.parse_args(argv))


def rows(text: str, language: Language = Language.VI) -> list[dict[str, str]]:
    """The CSV's rows, keyed by column (its headers are in `language`)."""
    assert text.startswith(CSV_BOM)
    column = {header: key for key, header in COLUMN_HEADERS[language].items()}
    return [
        {column[h]: v for h, v in row.items()}
        for row in csv.DictReader(io.StringIO(text[1:], newline=""))
    ]


async def test_results_and_participation_from_the_journal(hall: Hall) -> None:
    await play_sitting(hall)
    view = replay_journal(hall.daemon.journal.path, hall.daemon.runtime.config)
    assert set(view.votes) == {"v1", "v2"}
    # The replayed result is the live one, secret vote included.
    async with hall.client() as chair:
        live = (await chair.get("/api/state")).json()["state"]
    assert live["sitting"]["open"] is False

    results = rows(render(view, What.RESULTS, Format.CSV))
    v1 = {r["option"]: int(r["count"]) for r in results if r["vote_id"] == "v1"}
    assert v1 == {"Tán thành": 26, "Không tán thành": 2, "Không biểu quyết": 1}
    v2 = {r["option"]: int(r["count"]) for r in results if r["vote_id"] == "v2"}
    assert v2 == {"Tán thành": 14, "Không tán thành": 10, "Không biểu quyết": 4}
    first = next(r for r in results if r["vote_id"] == "v1")
    assert first["title"] == "Nghị quyết về ngân sách tỉnh năm 2026"
    # Flags as the secretariat reads them, never Python's True/False.
    assert first["adopted"] == "Có"
    assert first["annulled"] == "Không"
    assert first["share"] == "52,0"
    assert first["mode"] == "biểu quyết công khai"
    assert first["required"] == "26"
    assert len(first["journal_hash"]) == 64

    data = json.loads(render(view, What.RESULTS, Format.JSON))
    assert data["hall"]["name"] == "Hội đồng nhân dân tỉnh Ninh Bình khóa XV"
    assert [r["vote_id"] for r in data["results"]] == ["v1", "v2"]
    assert data["journal"]["head_hash"] == hall.daemon.journal.head.hash

    people = rows(render(view, What.PARTICIPATION, Format.CSV))
    assert len(people) == 50
    d1 = next(p for p in people if p["delegate_id"] == "d0001")
    assert d1["name"] == "Phạm Mạnh Dũng"
    assert d1["group"] == "Tổ đại biểu thành phố Hoa Lư"
    assert d1["votes_taken"] == "2"
    # The open vote shows the choice; the secret one only that the delegate took part.
    assert d1["votes"] == "v1=Tán thành; v2"
    absent = next(p for p in people if p["delegate_id"] == "d0040")
    assert absent["votes_taken"] == "0"
    assert float(absent["present_s"].replace(",", ".")) == 0
    assert d1["present_s"] == "70,0"
    head = render(view, What.PARTICIPATION, Format.CSV)[1:].split("\r\n", 1)[0]
    assert head.startswith("Mã kỳ họp,Mã đại biểu,Họ và tên,Đơn vị,Thời gian có mặt (giây)")

    # In English: English headers, Yes/No, a decimal point.
    english = render(view, What.RESULTS, Format.CSV, language=Language.EN)
    assert english[1:].startswith("Sitting id,Vote id,Vote,")
    first_en = rows(english, Language.EN)[0]
    assert (first_en["option"], first_en["adopted"], first_en["share"]) == ("Yes", "Yes", "52.0")
    assert "True" not in english
    assert "False" not in english
    english = render(view, What.PARTICIPATION, Format.CSV, language=Language.EN)
    people_en = rows(english, Language.EN)
    assert next(p for p in people_en if p["delegate_id"] == "d0001")["present_s"] == "70.0"

    record = json.loads(render(view, What.PARTICIPATION, Format.JSON))
    by_id = {d["delegate_id"]: d for d in record["delegates"]}
    assert record["sitting"]["title"] == "Kỳ họp thứ 12"
    assert [v["key"] for v in by_id["d0001"]["votes"]] == [1, None]


async def test_minutes_in_both_languages(hall: Hall) -> None:
    await play_sitting(hall)
    view = replay_journal(hall.daemon.journal.path, hall.daemon.runtime.config)
    vi = render(view, What.MINUTES, Format.HTML)
    assert vi.startswith("<!DOCTYPE html>")
    assert '<html lang="vi">' in vi
    assert "@media print" in vi
    # Self-contained: nothing fetched from elsewhere, nothing run.
    assert "<script" not in vi
    assert "http://" not in vi
    assert "https://" not in vi
    assert "Biên bản kỳ họp" in vi
    assert "Nghị quyết về ngân sách tỉnh năm 2026" in vi
    assert "Phạm Mạnh Dũng" in vi
    assert "Thông qua" in vi
    assert view.head_hash in vi
    en = render(view, What.MINUTES, Format.HTML, language=Language.EN)
    assert '<html lang="en">' in en
    assert "Minutes of the sitting" in en
    assert "Secret ballot" in en
    assert "Yes" in en
    # Names stay as they are in any language.
    assert "Phạm Mạnh Dũng" in en


async def test_export_routes(hall: Hall) -> None:
    await play_sitting(hall)
    minutes_url = "/api/exports/minutes.html"
    async with hall.client(Role.SECRETARY) as secretary:
        r = await secretary.get("/api/exports/results.csv")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.content.startswith(CSV_BOM.encode("utf-8"))
        assert "Tán thành" in r.content.decode("utf-8")
        r = await secretary.get("/api/exports/participation.json", params={"sitting": "k12"})
        assert r.json()["delegates"][0]["name"] == "Phạm Mạnh Dũng"
        r = await secretary.get("/api/exports/minutes.html", params={"lang": "en"})
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert "Minutes of the sitting" in r.text
        # The minutes' appendix carries the hall key's seal, which verifies with that key.
        assert "Khóa của phòng họp (dấu vân tay)" in (await secretary.get(minutes_url)).text
        r = await secretary.get("/api/exports/minutes.pdf", params={"lang": "en"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF-")
        r = await secretary.get("/api/exports/results.csv", params={"lang": "en"})
        assert r.content.decode("utf-8-sig").startswith("Sitting id,Vote id,Vote,")
        r = await secretary.get("/api/exports/participation.csv", params={"sitting": "k99"})
        assert r.status_code == 404
        assert (r.json()["code"], r.json()["params"]) == (
            "export.sitting_not_found",
            {"sitting": "k99"},
        )


async def test_export_command(
    hall: Hall, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await play_sitting(hall)
    journal = str(hall.daemon.journal.path)
    config = str(EXAMPLES / "vn-council.toml")
    out = tmp_path / "results.csv"
    code = chamber_export(
        ["--journal", journal, "--config", config, "--format", "csv", "-o", str(out)]
    )
    assert code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "Nghị quyết về ngân sách tỉnh năm 2026" in out.read_text(encoding="utf-8-sig")
    minutes = tmp_path / "minutes.html"
    args = ["--format", "html", "--what", "minutes", "--lang", "vi", "-o", str(minutes)]
    assert chamber_export(["--journal", journal, "--config", config, *args]) == 0
    assert "Biên bản kỳ họp" in minutes.read_text(encoding="utf-8")
    # No key beside the journal: no seal, and none is made.
    assert "Bản in này không kèm chữ ký số của phòng họp." in minutes.read_text(encoding="utf-8")
    assert not (Path(journal).parent / KEY_FILE).exists()
    # With the hall's key beside the journal (its data directory), the appendix is sealed.
    key = HallKey.load_or_create(Path(journal).parent)
    assert chamber_export(["--journal", journal, "--config", config, *args]) == 0
    page = minutes.read_text(encoding="utf-8")
    assert key.fingerprint in page
    view = replay_journal(journal, hall.daemon.runtime.config)
    # Ed25519 signs deterministically: the page's signature is the one made again here.
    seal = minutes_seal(view, key)
    assert seal.signature in page
    assert verify_seal(view, seal, key.public_raw)
    missing = str(tmp_path / "none.journal")
    assert chamber_export(["--journal", missing, "--config", config]) == 2
    assert "no such journal" in capsys.readouterr().err
    wrong = ["--format", "csv", "--what", "minutes"]
    assert chamber_export(["--journal", journal, "--config", config, *wrong]) == 2
