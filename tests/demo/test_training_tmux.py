"""`chamber training` as a trainer starts it, in a real terminal (tmux).

The console comes up as the chair with the training mark on its second line; the sitting the
trainee opens shows beside the mark and ticks the first exercise; `q`, then `y`, ends the
training hall, which prints the exercise list with what was done and stops everything it
started. The screen is read again every 50 ms (`test_walkthrough_tmux.until`): a terminal
tells nobody when it changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from chamber.simulator.demo import free_port
from chamber.simulator.training import EXERCISES_FILE, MARKER
from tests.demo.test_interactive import _descendants, _running
from tests.demo.test_walkthrough_tmux import (
    ROOT,
    START_S,
    STEP_S,
    STOP_S,
    TMUX,
    Terminal,
    chamber_command,
    hall,
    until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian package: tmux)"),
]
__all__ = ["hall"]  # the terminal fixture, shared with the demo's walkthrough
MARK = "ĐÀO TẠO / TRAINING"


def _daemon(data: Path) -> tuple[str, str] | None:
    """The daemon's address (its `ready` log line) and the chair's token (tokens.json.new)."""
    try:
        log = (data / "daemon.log").read_text(encoding="utf-8").splitlines()
        tokens = (data / "tokens.json.new").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    url = next(
        (r["url"] for line in log if '"ready"' in line and (r := json.loads(line)).get("url")),
        None,
    )
    chair = next((p[1] for t in tokens if len(p := t.split()) == 2 and p[0] == "chair"), None)
    return (url, chair) if url and chair else None


def test_a_trainee_sees_the_mark_and_the_exercises_in_a_real_terminal(
    hall: tuple[Terminal, Path],
) -> None:
    term, data = hall
    pid = term.start(
        [*chamber_command(), "training", "--data", str(data), "--port", str(free_port(18900))],
        cwd=ROOT,
    )
    children: set[int] = set()

    def why() -> str:
        status = term.dead()
        return f"--- exit status: {status} ---\n" + (
            term.history() if status is not None else term.screen()
        )

    def shows(text: str, within: float = STEP_S) -> str:
        def look() -> str | None:
            screen = term.screen()
            if text in screen:
                return screen
            if term.dead() is not None:
                raise AssertionError(f"ended before showing {text!r}\n{why()}")
            return None

        return until(look, within, f"the screen shows {text!r}", why)

    try:
        screen = shows("F1 Chủ tọa", START_S)
        screen = shows(MARK)
        assert "không phải kỳ họp thật" in screen
        assert "Chưa khai mạc kỳ họp" in screen  # nothing is opened for the trainee
        assert (data / MARKER).exists()
        children = _descendants(pid)

        url, chair = until(lambda: _daemon(data), STEP_S, "the daemon's address", why)
        opened = httpx.post(
            f"{url}/api/sitting/open",
            headers={"Authorization": f"Bearer {chair}"},
            json={
                "sitting_id": "tap-huan-1",
                "title": "Kỳ họp tập huấn",
                "agenda": [{"id": "1", "title": "Nghị quyết thử"}],
            },
            timeout=30,
        )
        assert opened.status_code == 200, opened.text
        screen = shows("Kỳ họp tập huấn")
        assert MARK in screen  # the mark stays beside the sitting

        def ticked() -> str | None:
            text = (data / EXERCISES_FILE).read_text(encoding="utf-8")
            return text if "✔  1. Khai mạc kỳ họp" in text else None

        until(ticked, STEP_S, "the first exercise ticked", why)

        children |= _descendants(pid)
        term.keys("q")
        shows("Thoát bảng điều khiển?")
        term.keys("y")
        assert until(term.dead, STOP_S, "the training hall ended", why) == 0
        printed = term.history()
        assert "Bài tập đào tạo: 1/14" in printed, printed
        assert "Training exercises: 1/14" in printed
        assert "chamber training: stopped / đã dừng" in printed

        def all_stopped() -> bool | None:
            return True if not any(_running(p) for p in children) else None

        until(all_stopped, 10.0, "nothing the training hall started still running", why)
    finally:
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        term.stop()
        for child in children | _descendants(pid):
            if _running(child):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
