"""`chamber demo` without a terminal: it serves the wall and the API, and stops cleanly on
SIGTERM with no line (socat) or broker (Mosquitto) left behind."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chamber.simulator.demo import free_port

ROOT = Path(__file__).resolve().parents[2]
START_S = 60.0


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc (socat and Mosquitto are the rig's)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent comes after it.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has stopped; only its entry is left


class Lines:
    """The demo's stdout, line by line, with a deadline (a pipe read straight from its fd:
    a buffered reader would hide lines it already holds from `select`)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buffer = b""
        self.seen: list[str] = []

    def until(self, pattern: str, within: float) -> str:
        """Read until a line matches `pattern`; returns its first group."""
        deadline = time.monotonic() + within
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while True:
                while b"\n" in self.buffer:
                    raw, self.buffer = self.buffer.split(b"\n", 1)
                    line = raw.decode("utf-8")
                    self.seen.append(line)
                    if m := re.search(pattern, line):
                        return m.group(1)
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.buffer += chunk
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen))


@pytest.fixture
def demo() -> Iterator[subprocess.Popen[bytes]]:
    base = Path(tempfile.mkdtemp(prefix="chamber-demo-test-"))
    base.chmod(0o711)  # the simulator's broker drops to its own account and must get through
    errors = (base / "stderr.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chamber.controller.cli", "demo", "--port", str(free_port(18700)),
         "--data", str(base / "data")],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=errors,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            # A failed test still stops the demo the way a user would, so that it takes its
            # socat and Mosquitto down with it; whatever survives a kill is ended by its id.
            children = _descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            for pid in children:
                if _running(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
        errors.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(100)
def test_demo_serves_the_wall_and_the_api_and_stops_on_sigterm(
    demo: subprocess.Popen[bytes],
) -> None:
    out = Lines(demo)
    wall = out.until(r"(http://127\.0\.0\.1:\d+/wall/\?token=\S+)", START_S)
    chair = out.until(r"Chair token:\s+(\S+)", 5)
    base = wall.split("/wall/")[0]

    page = httpx.get(wall, timeout=10)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    state = httpx.get(f"{base}/api/state", headers={"Authorization": f"Bearer {chair}"}, timeout=10)
    assert state.status_code == 200
    sitting = state.json()["state"]["sitting"]
    assert sitting is not None
    # The demo's sitting is the one prepared for its hall: its agenda and its six votes.
    assert sitting["sitting_id"] == "ky-hop-thu-9", sitting
    assert [a["id"] for a in sitting["agenda"]] == ["1", "2", "3", "4"]
    votes = state.json()["state"]["votes"]
    assert [v["state"] for v in votes] == ["prepared"] * 6
    assert sitting["next_vote"] == votes[0]["vote_id"]
    # The chair's "next vote" (the console's F5) opens the first of them: the practice vote.
    headers = {"Authorization": f"Bearer {chair}"}
    opened = httpx.post(f"{base}/api/sitting/next-vote", headers=headers, timeout=10)
    assert opened.status_code == 200, opened.text
    assert opened.json()["vote_id"] == votes[0]["vote_id"]
    closed = httpx.post(
        f"{base}/api/votes/{votes[0]['vote_id']}/close", headers=headers, timeout=10
    )
    assert closed.status_code == 200, closed.text
    after = httpx.get(f"{base}/api/state", headers=headers, timeout=10).json()["state"]
    assert after["sitting"]["next_vote"] == votes[1]["vote_id"]
    # The observer's token of the wall is not the chair's: it cannot run the sitting.
    observer = wall.split("token=")[1]
    refused = httpx.post(
        f"{base}/api/sitting/close", headers={"Authorization": f"Bearer {observer}"}, timeout=10
    )
    assert refused.status_code == 403

    children = _descendants(demo.pid)
    assert children, "the demo started no socat or Mosquitto"
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=40) == 0
    assert out.until(r"(stopped)", 5) == "stopped"
    left = sorted(p for p in children if _running(p))
    assert not left, f"still running after the demo stopped: {left}"
