"""`chamber sitting check` offline, and `chamber sitting load` end to end: the command in a
process of its own, over HTTP, against a running daemon."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from chamber.controller.auth import Role
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import Daemon
from tests.api.conftest import Hall, make_tokens

ROOT = Path(__file__).resolve().parents[1]
HALL = ROOT / "examples" / "vn-council.toml"
SITTING = ROOT / "examples" / "vn-council-sitting.toml"
CHAMBER = (sys.executable, "-m", "chamber.controller.cli")


def chamber(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHAMBER, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


async def chamber_async(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """The command in a process of its own while this loop serves the daemon."""
    process = await asyncio.create_subprocess_exec(
        *CHAMBER,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_check_prints_the_agenda_and_its_votes() -> None:
    done = chamber("sitting", "check", str(SITTING), "--hall", str(HALL))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Kỳ họp ky-hop-thu-9: Kỳ họp thứ Chín" in out
    assert "Chủ tọa: Phạm Mạnh Dũng (đại biểu d0001)" in out
    assert "Nội dung 4: Miễn nhiệm và bầu bổ sung Ủy viên Ủy ban nhân dân tỉnh" in out
    assert "Bầu · vn-council · Tán thành / Không tán thành / Không biểu quyết · bỏ phiếu kín" in out
    assert "không giới hạn thời gian" in out
    assert out.rstrip().endswith("Tệp dùng được: 4 nội dung, 6 biểu quyết chuẩn bị sẵn.")
    english = chamber("sitting", "check", str(SITTING), "--hall", str(HALL), "--lang", "en")
    assert english.returncode == 0, english.stderr
    assert "Item 2: Resolution on the socio-economic development plan for 2027" in english.stdout
    assert english.stdout.rstrip().endswith("The file can be loaded: 4 items, 6 prepared votes.")


def test_check_names_the_wrong_key(tmp_path: Path) -> None:
    bad = tmp_path / "ky-hop.toml"
    bad.write_text(
        SITTING.read_text(encoding="utf-8").replace('chair = "d0001"', 'chair = "d0999"'),
        encoding="utf-8",
    )
    done = chamber("sitting", "check", str(bad), "--hall", str(HALL))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {bad}: sitting.chair: no delegate 'd0999'")
    assert done.stderr.count("\n") == 1
    # What the core refuses is worded in the hall's language (here Vietnamese).
    bad.write_text(
        SITTING.read_text(encoding="utf-8").replace('kind = "removal"', 'rule = "ba-phan-tu"'),
        encoding="utf-8",
    )
    done = chamber("sitting", "check", str(bad), "--hall", str(HALL))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {bad}: items[3].votes[0]: Không có quy tắc biểu quyết “ba-phan-tu”."
    )


async def test_load_end_to_end(tmp_path: Path) -> None:
    from chamber.controller.config import load_config

    store, tokens = make_tokens()
    async with Daemon(load_config(HALL), tmp_path / "j", store, clock=FakeClock(5.0)) as daemon:
        hall = Hall(daemon, FakeClock(), tokens, store)
        try:
            env = {"CHAMBER_TOKEN": tokens[Role.SECRETARY], "CHAMBER_URL": daemon.url}
            code, out, err = await chamber_async(
                "sitting", "load", str(SITTING), "--check", env=env
            )
            assert code == 0, err
            assert "chưa làm gì" in out
            assert daemon.runtime.core.sitting_id is None

            code, out, err = await chamber_async("sitting", "load", str(SITTING), env=env)
            assert code == 0, err
            assert out.strip() == "Đã mở kỳ họp ky-hop-thu-9 và chuẩn bị 6 biểu quyết."
            core = daemon.runtime.core
            assert core.sitting_id == "ky-hop-thu-9"
            assert len(core.votes) == 6

            code, out, err = await chamber_async(
                "sitting", "load", str(SITTING), "--lang", "en", env=env
            )
            assert code == 0, err
            assert "prepared 0 more votes, 6 were there already" in out

            # Refused by the daemon: a technician's token, in the language asked.
            env_tech = {**env, "CHAMBER_TOKEN": tokens[Role.TECHNICIAN]}
            code, out, err = await chamber_async("sitting", "load", str(SITTING), env=env_tech)
            assert code == 1
            assert err.startswith("error: Máy chủ từ chối: ")
            # A syntax error is named by its line before anything is sent.
            broken = tmp_path / "broken.toml"
            broken.write_text('[sitting]\nid = "x"\ntitle = \n', encoding="utf-8")
            code, out, err = await chamber_async("sitting", "load", str(broken), env=env)
            assert code == 1
            assert "broken.toml: TOML syntax" in err
            assert "line 3" in err
        finally:
            await hall.aclose()
    code, out, err = await chamber_async(
        "sitting", "load", str(SITTING), env={"CHAMBER_TOKEN": "", "CHAMBER_URL": "x"}
    )
    assert code == 2
    assert "CHAMBER_TOKEN" in err
