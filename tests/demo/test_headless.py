"""`chamber demo --headless`: the CI check of the whole hall, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir() -> Iterator[tuple[Path, Path]]:
    # Not under pytest's 0700 tree: the simulator's broker drops to its own account.
    base = Path(tempfile.mkdtemp(prefix="chamber-demo-test-"))
    base.chmod(0o711)
    yield base / "data", base / "report.json"
    shutil.rmtree(base, ignore_errors=True)


def _chamber(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chamber.controller.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Stopped as CI would stop it, so that it takes its socat and Mosquitto down with it.
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.timeout(110)
def test_headless_demo_of_the_council_matches_the_ground_truth(
    workdir: tuple[Path, Path],
) -> None:
    data, report_path = workdir
    done = _chamber(
        "demo", "--headless", "--seats", "50", "--votes", "4", "--report", str(report_path),
        "--data", str(data),
        timeout=100,
    )  # fmt: skip
    assert report_path.exists(), (done.returncode, done.stdout, done.stderr[-3000:])
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:], report)
    assert report["match"] is True
    assert report["attendance"]["match"]
    assert len(report["votes"]) == 4
    for vote in report["votes"]:
        assert vote["match"], vote
        assert vote["daemon"]["totals"] == vote["truth"]["totals"]
        assert vote["daemon"]["adopted"] == vote["truth"]["adopted"]
    # Four votes already take every rule preset, a secret ballot, yes/no, a choices vote and
    # first-press-locks through the real lines.
    assert {v["rule"] for v in report["votes"]} >= {"vn-council", "vn-two-thirds"}
    assert "secret" in {v["mode"] for v in report["votes"]}
    assert {"yes-no", "choices"} <= {v["answers"] for v in report["votes"]}
    assert False in {v["change_until_close"] for v in report["votes"]}
    assert report["floor"]["match"]
    assert report["transports"]["modbus_rtu_lines"] == 2
    assert report["transports"]["ip_units"] == 6
    # Vietnamese titles survive the round trip into the report.
    assert report["votes"][0]["title"].startswith("Nghị quyết")


def test_headless_refuses_a_hall_too_small_to_have_a_chair(workdir: tuple[Path, Path]) -> None:
    data, report_path = workdir
    done = _chamber("demo", "--headless", "--seats", "2", "--report", str(report_path),
                    "--data", str(data), timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert "--seats" in done.stderr
    assert not report_path.exists()
