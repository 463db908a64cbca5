"""`chamber demo` killed outright (SIGKILL: no handler runs, nothing is stopped in order) still
leaves nothing behind: the daemon, every socat pty pair and the broker die with it (Linux's
parent-death signal), so a second demo never meets the first one's processes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import pytest

from tests.demo.test_interactive import START_S, Lines, _descendants, demo

WAIT_S = 30.0

__all__ = ["demo"]  # the fixture, shared with test_interactive


def _wait_gone(pid: int, within: float) -> bool:
    """Whether `pid` ended within `within` seconds: its pidfd becomes readable when it does."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], within)
        return bool(readable)
    finally:
        os.close(fd)


@pytest.mark.timeout(120)
def test_a_killed_demo_takes_its_daemon_lines_and_broker_with_it(
    demo: subprocess.Popen[bytes],
) -> None:
    out = Lines(demo)
    out.until(r"(http://127\.0\.0\.1:\d+/wall/\?token=\S+)", START_S)
    children = _descendants(demo.pid)
    names = {command_name(pid) for pid in children}
    assert {"socat", "mosquitto"} <= names, names
    assert any(n.startswith("python") or n == "chamber" for n in names), names
    demo.send_signal(signal.SIGKILL)
    demo.wait(timeout=10)
    deadline = time.monotonic() + WAIT_S
    left = [
        pid
        for pid in sorted(children)
        if not _wait_gone(pid, max(0.0, deadline - time.monotonic()))
    ]
    assert not left, f"still running after the demo was killed: {left}"


def command_name(pid: int) -> str:
    """The command name of `pid` (as /proc has it)."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""
