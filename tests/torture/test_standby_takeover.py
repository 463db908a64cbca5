"""The cold standby in the torture harness: the active daemon ships its journal (`chamber run
--ship`) to `chamber standby`, both processes on loopback; delegates press during an open vote;
the active daemon is SIGKILLed at a seeded moment; the standby is stopped, as the technician
stops it, and `chamber run --takeover` starts on its copy. Every press is then accounted for
by origin against the simulator's ground truth with the harness's books: nothing confirmed is
lost, and a press the old daemon had not confirmed is sent again by its unit and counted once.
The standby's files are searched for a secret vote's ballots and keys by the harness's
secrecy check."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from chamber.controller.journal import JournalReader
from chamber.drivers.mosquitto import free_port
from tests.torture import ledger
from tests.torture.harness import Options, Torture, read_backups
from tests.torture.processes import CHAMBER

pytestmark = [pytest.mark.torture, pytest.mark.timeout(300)]

WAIT_S = 60.0


class StandbyProcess:
    """`chamber standby` in its own process; ready on its "following" log line."""

    def __init__(self, data: Path, source: str, key: Path) -> None:
        self.data, self.source, self.key = data, source, key
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.following = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(CHAMBER),
            "standby",
            "--from",
            self.source,
            "--data",
            str(self.data),
            "--key",
            str(self.key),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = asyncio.create_task(self._read())
        async with asyncio.timeout(WAIT_S):
            await self.following.wait()

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                if json.loads(line).get("event") == "following":
                    self.following.set()

    async def stop(self) -> int:
        """SIGTERM, as `systemctl stop` sends; its exit status."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code


class StandbyTorture(Torture):
    """The harness with a standby beside the daemon; a daemon kill is a takeover."""

    async def begin_standby(self, base: Path) -> None:
        self.ship = f"127.0.0.1:{free_port()}"
        await self.daemon.kill()
        self.daemon.args = ("--ship", self.ship)
        await self.daemon.start()
        self.standby_data = base / "standby"
        self.standby_data.mkdir(mode=0o700)
        # Set-up, once: the shipping key (and the hall's signing key) copied to the standby.
        for name in ("standby.key", "hall-ed25519.key", "hall-ed25519.pub"):
            if (self.data / name).exists():
                shutil.copy2(self.data / name, self.standby_data / name)
        self.standby = StandbyProcess(
            self.standby_data, self.ship, self.standby_data / "standby.key"
        )
        await self.standby.start()
        self.takeover_s: list[float] = []
        self.boundary = 0  # the standby's head when it took over
        self.killed_at = 0.0
        self.active_head = 0

    async def kill_daemon(self) -> None:
        loop = asyncio.get_running_loop()
        await self.daemon.kill()
        self.killed_at = loop.time()
        self.active_head = (
            JournalReader(self.data / f"{self.config.hall_id}.journal").verify().records
        )
        self.figures.kills += 1
        self.note("active daemon SIGKILLed")
        if self.daemon.data != self.standby_data:
            assert await self.standby.stop() == 0, self.standby.lines[-5:]
            self.boundary = (
                JournalReader(self.standby_data / f"{self.config.hall_id}.journal").verify().records
            )
            self.data = self.daemon.data = self.standby_data
            self.daemon.args = ("--takeover", self.ship)
        self.figures.daemon_ready_s.append(await self.daemon.start())
        self.takeover_s.append(loop.time() - self.killed_at)
        self.note("standby took over")


async def test_the_cold_standby_takes_over_on_command_with_nothing_lost(tmp_path: Path) -> None:
    options = Options(seed=20261203, kills=1, broker_kills=0, seats=16, votes=2, press_window_s=3.0)
    async with StandbyTorture(options) as t:
        await t.begin_standby(tmp_path)
        await t.post("/api/sitting/open", {"sitting_id": "kh-du-phong", "title": "Kỳ họp dự phòng"})
        for seat in t.honest:
            t.sim.set_presence(seat, True)
        await t.until_state(lambda st: st["attendance"]["present"] >= len(t.honest))
        # A secret vote first (shipped while it runs: only its close may reach the standby),
        # then the open vote in which the active daemon dies.
        await t.vote(1, secret=True, kills=0, broker_kills=0)
        await t.vote(2, secret=False, kills=1, broker_kills=0)
        await t.final_books()
        figures = t.figures
        records = t.journal_records()
        # Presses made while the old daemon ran but journaled only by the new one: their
        # units sent them again (no confirmation had come); each is counted once (doubled 0).
        by_origin = {(p.seat, p.origin): p for p in t.truth}
        resent = [
            r
            for seq, r in records
            if seq > t.boundary
            and r.get("kind") == "vote-key"
            and (p := by_origin.get((int(r["seat"]), str(r["origin"])))) is not None
            and p.at < t.killed_at
        ]
        print(
            f"{figures.summary()}\ntakeover (kill to ready) {t.takeover_s[0]:.2f} s; "
            f"standby head at takeover {t.boundary} (the dead daemon's journal: "
            f"{t.active_head}); presses made before the kill and "
            f"journaled after the takeover (re-sent by their units): {len(resent)}"
        )
        assert figures.kills == 1
        assert t.daemon.data == t.standby_data
        assert not figures.failed, "\n".join(figures.details[:30])
        assert figures.presses > 0
        assert t.takeover_s[0] < 60.0
        # The standby's files hold no secret ballot and no vote key: the harness's check.
        assert t.live_secrets
        assert ledger.standby_links(*read_backups(t.standby_data), t.live_secrets) == []
