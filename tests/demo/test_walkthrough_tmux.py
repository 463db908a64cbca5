"""README's walkthrough of `make demo`, as a newcomer follows it, in a real terminal (tmux).

`chamber demo` starts as `make demo` starts it, inside a tmux session. The test reads the
screen with `tmux capture-pane` and types with `tmux send-keys`, as a person would:

1. the delegates take their seats: the quorum line turns quorate;
2. `n`, a title, Enter: a new vote; `o`, then `y` to confirm, opens it: the console must show
   it open within 3 s of the key; the delegates vote;
3. `c`, then `y`, closes it: the result on the console must equal the simulator's
   ground truth, which the demo writes to DATA/truth.json (what the simulated units
   registered, counted by the demo's own arithmetic; `simulator/demo.py`, `TruthBook`);
4. a delegate asks for the floor: `k` gives it to the first one waiting, whose unit's
   microphone the simulator then has on;
5. `q` asks, `y` leaves, and everything the demo started stops with it.

A terminal tells nobody when its screen changes, so the screen is read again every 50 ms until
what is awaited shows or a deadline passes: the one kind of polling the suite allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chamber.simulator.demo import TRUTH_FILE, free_port
from tests.demo.test_interactive import _descendants, _running

ROOT = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")
LOOK_S = 0.05
START_S = 90.0  # a cold start on a loaded 2-core machine: the daemon replays, lines connect
QUORUM_S = 60.0
SHOWN_S = 3.0  # the console shows the vote open within 3 s of the key (issue 12)
SETTLE_S = 60.0
FLOOR_S = 180.0  # a delegate asks for the floor every 25 s on average, in the whole hall
STEP_S = 20.0
STOP_S = 60.0
TITLE = "Nghị quyết về giao thông"
# The first votes of the sitting file the demo loads (examples/vn-council-sitting.toml).
PREPARED = (
    ("ky-hop-thu-9.1.1", "Biểu quyết thử hệ thống"),
    ("ky-hop-thu-9.1.2", "Thông qua chương trình Kỳ họp thứ Chín"),
)
T = TypeVar("T")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian package: tmux)"),
]


def chamber_command() -> list[str]:
    """`chamber` as `make demo` runs it: the venv's own script, else this interpreter's module."""
    script = Path(sys.executable).with_name("chamber")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "chamber.controller.cli"]


@dataclass
class Terminal:
    """One tmux server of its own (its own socket), with one session running one command."""

    socket: str
    config: Path

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            # The server passes its environment on to the demo: a COLUMNS or LINES of the
            # test runner's would override the terminal's real size.
            env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
        )
        return done.stdout

    def start(self, command: list[str], cwd: Path, width: int = 200, height: int = 60) -> int:
        line = " ".join(_quote(a) for a in command)
        self.tmux(
            "new-session", "-d", "-s", "demo", "-x", str(width), "-y", str(height),
            "-c", str(cwd), f"exec {line}",
        )  # fmt: skip
        return int(self.tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "demo")

    def history(self) -> str:
        """The screen and the lines scrolled off it (a dead demo's last words are there)."""
        return self.tmux("capture-pane", "-p", "-S", "-", "-t", "demo")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "demo", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "demo", "-l", text)

    def dead(self) -> int | None:
        """The command's exit status once it has ended (the pane stays), else None."""
        out = self.tmux(
            "display-message", "-p", "-t", "demo", "#{pane_pid} #{pane_dead} #{pane_dead_status}"
        )
        pid, dead, status = [*out.strip().split(" "), "", ""][:3]
        if dead == "1" and status:
            return int(status)
        # tmux sometimes leaves its pane's process a zombie without collecting its status
        # (seen with tmux 3.3a): the kernel still holds it, in /proc/PID/stat.
        return _zombie_status(int(pid)) if pid.isdigit() else None

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.tmux("kill-server")


def _zombie_status(pid: int) -> int | None:
    """The exit status of `pid` if it has ended and is not yet collected, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # Field 3 is the state, field 52 the status as waitpid(2) reports it (proc(5)).
    if fields[0] != "Z" or len(fields) < 50:
        return None
    code = int(fields[49])
    return code >> 8 if code & 0x7F == 0 else 128 + (code & 0x7F)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def until(look: Callable[[], T | None], within: float, what: str, why: Callable[[], str]) -> T:
    """Look every 50 ms until `look()` gives something (not None) or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        found = look()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within} s: {what}\n{why()}")
        time.sleep(LOOK_S)


@pytest.fixture
def hall() -> Iterator[tuple[Terminal, Path]]:
    # mkdtemp is 0700: as root the simulator's broker, which runs as `mosquitto`, cannot enter
    # it; its files go to a runtime directory of their own, as for a clone under /root.
    base = Path(tempfile.mkdtemp(prefix="chamber-walkthrough-"))
    config = base / "tmux.conf"
    # The pane stays once the demo has ended, so that its exit status can be read.
    # No client is attached: the window keeps the size it is made with.
    config.write_text(
        "set -g remain-on-exit on\nset -g status off\nset -g default-size 200x60\n",
        encoding="utf-8",
    )
    term = Terminal(f"chamber-test-{os.getpid()}", config)
    try:
        yield term, base / "data"
    finally:
        term.stop()
        shutil.rmtree(base, ignore_errors=True)


class Walkthrough:
    def __init__(self, term: Terminal, data: Path) -> None:
        self.term = term
        self.data = data

    def truth(self) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads((self.data / TRUTH_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return {"present": [], "mics_on": [], "votes": []}
        return found

    def why(self) -> str:
        log = self.data / "demo.log"
        tail = log.read_text("utf-8").splitlines()[-15:] if log.exists() else []
        status = self.term.dead()
        screen = self.term.history() if status is not None else self.term.screen()
        return (
            f"--- exit status: {status} ---\n"
            f"--- screen ---\n{screen}\n--- truth ---\n{json.dumps(self.truth())}\n"
            "--- demo.log ---\n" + "\n".join(tail)
        )

    def shows(self, text: str, within: float = STEP_S) -> str:
        def look() -> str | None:
            screen = self.term.screen()
            if text in screen:
                return screen
            if self.term.dead() is not None:
                raise AssertionError(f"the demo ended before showing {text!r}\n{self.why()}")
            return None

        return until(look, within, f"the screen shows {text!r}", self.why)

    def confirm(self, question: str) -> None:
        """Answer yes to the console's confirmation of `question`."""
        self.shows(question)
        self.term.keys("y")

    def vote_of_truth(self, vote_id: str) -> dict[str, Any] | None:
        for vote in self.truth()["votes"]:
            if vote["vote_id"] == vote_id:
                found: dict[str, Any] = vote
                return found
        return None


def _count(screen: str, label: str) -> int | None:
    """The count beside `label` in the vote panel (the first such line on the screen)."""
    m = re.search(rf"│\s+{re.escape(label)}\s+(\d+)\s", screen)
    return int(m.group(1)) if m else None


def _voted(screen: str) -> tuple[int, int] | None:
    m = re.search(r"Đã biểu quyết: (\d+) / Có quyền biểu quyết (\d+)", screen)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _first_waiting(screen: str) -> int | None:
    """The first seat on the speakers' list ("Đăng ký phát biểu (n):", then "1.  SEAT name")."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"Đăng ký phát biểu \((\d+)\)", line)
        if m and int(m.group(1)) > 0 and i + 1 < len(lines):
            first = re.search(r"\b1\.\s+(\d+)\s", lines[i + 1].split("││")[-1])
            return int(first.group(1)) if first else None
    return None


def test_the_readme_walkthrough_in_a_real_terminal(hall: tuple[Terminal, Path]) -> None:
    term, data = hall
    port = free_port(18800)
    pid = term.start(
        [*chamber_command(), "demo", "--data", str(data), "--port", str(port)], cwd=ROOT
    )
    walk = Walkthrough(term, data)
    children: set[int] = set()
    try:
        # 1. The console comes up, connected as the chair; the delegates take their seats.
        walk.shows("F1 Chủ tọa", START_S)
        walk.shows("Đủ số lượng đại biểu", QUORUM_S)

        def seated() -> int | None:
            m = re.search(r"Có mặt: (\d+)/50", term.screen())
            truth = len(walk.truth()["present"])
            return truth if m and int(m.group(1)) == truth > 25 else None

        until(seated, QUORUM_S, "the console's attendance is the simulator's", walk.why)
        children = _descendants(pid)

        # 2. n, a title, Enter: a new vote; o opens it, shown within 3 s of the key.
        term.keys("n")
        walk.shows("Nội dung biểu quyết")
        term.type(TITLE)
        term.keys("Enter")
        # The sitting file's votes are prepared too: wait for the new one by its title.
        made = re.compile(r"Biểu quyết (\S+): " + re.escape(TITLE))

        def the_new_vote() -> str | None:
            screen = term.screen()
            found = made.search(screen)
            return found.group(1) if found and "Đã chuẩn bị" in screen else None

        vote = until(the_new_vote, STEP_S, "the new vote, prepared", walk.why)
        term.keys("o")
        walk.shows("Bắt đầu biểu quyết")
        term.keys("y")
        pressed = time.monotonic()
        walk.shows("Đang biểu quyết", SHOWN_S + 1.0)
        took = time.monotonic() - pressed
        # The daemon's clock is this machine's monotonic one: where the time went, if too long.
        opened = until(
            lambda: (walk.vote_of_truth(vote) or {}).get("opened_at"), STEP_S, "open", walk.why
        )
        daemon_s = opened - pressed
        assert took <= SHOWN_S, (
            f"the vote showed open {took:.2f} s after the key: the daemon opened it after "
            f"{daemon_s:.2f} s, the screen showed it {took - daemon_s:.2f} s later"
        )

        # The delegates vote; the simulator says when everyone has made up their mind.
        def settled() -> dict[str, Any] | None:
            entry = walk.vote_of_truth(vote)
            if entry is None or not entry.get("settled"):
                return None
            shown = _voted(term.screen())
            return entry if shown is not None and shown[0] == entry["voted"] else None

        until(settled, SETTLE_S, "every delegate voted, as the console shows", walk.why)

        # 3. c closes it: the result on the console is the simulator's ground truth.
        term.keys("c")
        walk.confirm("Kết thúc biểu quyết")
        walk.shows("Kết quả:")

        def counted() -> dict[str, Any] | None:
            entry = walk.vote_of_truth(vote)
            return entry if entry is not None and "totals" in entry else None

        truth = until(counted, STEP_S, "the simulator's count of the closed vote", walk.why)
        screen = walk.shows("Không tham gia")
        labels = ("Tán thành", "Không tán thành", "Không biểu quyết")
        shown = [_count(screen, label) for label in labels]
        assert shown == truth["totals"], walk.why()
        assert _count(screen, "Không tham gia") == truth["did_not_vote"], walk.why()
        assert _voted(screen) == (truth["voted"], truth["voted"] + truth["did_not_vote"])
        verdict = "KHÔNG THÔNG QUA" if "KHÔNG THÔNG QUA" in screen else "THÔNG QUA"
        assert "THÔNG QUA" in screen
        assert verdict == ("THÔNG QUA" if truth["adopted"] else "KHÔNG THÔNG QUA"), walk.why()

        # F5 opens the sitting file's prepared votes, in agenda order; c closes each.
        for vote_id, title in PREPARED:
            term.keys("F5")
            walk.confirm(f"Bắt đầu biểu quyết «{title}»?")
            until(
                lambda v=vote_id: (walk.vote_of_truth(v) or {}).get("opened_at"),
                STEP_S,
                f"{vote_id} open",
                walk.why,
            )
            walk.shows("Đang biểu quyết")
            term.keys("c")
            walk.confirm(f"Kết thúc biểu quyết «{title}»?")
            until(
                lambda v=vote_id: (walk.vote_of_truth(v) or {}).get("closed_at"),
                STEP_S,
                f"{vote_id} closed",
                walk.why,
            )

        # 4. A delegate asks for the floor; k gives it to the first one waiting.
        seat = until(lambda: _first_waiting(term.screen()), FLOOR_S, "a request", walk.why)
        term.keys("k")

        def speaking() -> bool | None:
            return True if re.search(rf"▶\s+{seat} ", term.screen()) else None

        def mic_on() -> bool | None:
            return True if seat in walk.truth()["mics_on"] else None

        until(speaking, STEP_S, f"seat {seat} speaking on the console", walk.why)
        until(mic_on, STEP_S, f"the microphone of seat {seat} on in the simulator", walk.why)

        # 5. q asks, y leaves, and everything the demo started stops with it.
        children |= _descendants(pid)
        term.keys("q")
        walk.confirm("Thoát bảng điều khiển?")
        assert until(term.dead, STOP_S, "the demo ended", walk.why) == 0
        assert children, "the demo started no daemon, console, line or broker"

        def all_stopped() -> bool | None:
            return True if not any(_running(p) for p in children) else None

        until(
            all_stopped,
            10.0,
            "nothing the demo started still running",
            lambda: str(sorted(p for p in children if _running(p))),
        )
    finally:
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        term.stop()
        for child in children | _descendants(pid):
            if _running(child):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
