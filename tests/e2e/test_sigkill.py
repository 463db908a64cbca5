"""The daemon is killed with SIGKILL in the middle of a vote and started again.

The daemon runs as its own process (`chamber run`), against the simulated hall. Every press a
unit took before the kill and whose LED the daemon lit (so it was on disk) must still count
after the restart, once; presses made while the daemon was dead must count when it is back;
and every unit must show the right lock and LEDs again. No wait here sleeps: the daemon's
readiness is its "daemon ready" log line, and what the units show wakes the test each time a
unit serves a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chamber.controller.auth import Role, TokenStore
from chamber.controller.journal import Journal
from chamber.simulator.delegates import ExpectedVote, VoteScript
from tests.e2e.hall import (
    KEYS,
    WAIT_S,
    SimWatch,
    check_result,
    choices_of,
    council,
    create_and_open,
    post,
    result_of,
    shown,
    state,
    vote_of,
)
from tests.rig import HallRig

CHAMBER = Path(sys.executable).with_name("chamber")


@dataclass
class DaemonProcess:
    """`chamber run` as a child process; its stderr is read line by line until it exits."""

    proc: asyncio.subprocess.Process
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == "ready":
                    self.url = str(record["url"])
                    self._ready.set()

    async def ready(self) -> None:
        self._reader = asyncio.ensure_future(self._read())
        exited = asyncio.ensure_future(self.proc.wait())
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            async with asyncio.timeout(WAIT_S):
                await asyncio.wait({exited, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            ready.cancel()
        if not self._ready.is_set():
            tail = "\n".join(self.lines[-20:])
            raise AssertionError(f"the daemon did not become ready:\n{tail}")

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def start_daemon(config: Path, data: Path, tokens: Path, port: int) -> DaemonProcess:
    proc = await asyncio.create_subprocess_exec(
        str(CHAMBER),
        "run",
        "--config",
        str(config),
        "--data",
        str(data),
        "--port",
        str(port),
        "--tokens",
        str(tokens),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    daemon = DaemonProcess(proc)
    try:
        await daemon.ready()
    except BaseException:
        await daemon.kill()
        raise
    return daemon


@dataclass
class Outside:
    """The simulated hall, and the files a separate daemon process runs from."""

    rig: HallRig
    watch: SimWatch
    config: Path
    data: Path
    tokens: Path
    chair_token: str


@pytest.fixture
async def outside(private_dir: Path) -> AsyncIterator[Outside]:
    rig = HallRig(council(), private_dir / "rig", wire_time=False, seed=2)
    # Only the simulated hall runs here: the daemon is the separate process under test.
    (private_dir / "rig" / "sim").mkdir(parents=True)
    for d in (private_dir / "rig", private_dir / "rig" / "sim"):
        d.chmod(0o711)
    async with rig.sim:
        store = TokenStore()
        chair = store.add("chủ tọa", Role.CHAIR)
        tokens = private_dir / "tokens.json"
        store.save(tokens)
        yield Outside(
            rig,
            SimWatch(rig.sim),
            rig.write_daemon_config(private_dir / "hall.toml"),
            private_dir / "daemon",
            tokens,
            chair,
        )


@contextlib.asynccontextmanager
async def running(
    o: Outside, port: int = 0
) -> AsyncIterator[tuple[DaemonProcess, httpx.AsyncClient]]:
    daemon = await start_daemon(o.config, o.data, o.tokens, port)
    try:
        headers = {"Authorization": f"Bearer {o.chair_token}"}
        async with httpx.AsyncClient(base_url=daemon.url, headers=headers, timeout=30) as chair:
            yield daemon, chair
    finally:
        await daemon.kill()


def expected(o: Outside, since: float) -> ExpectedVote:
    return o.rig.sim.truth.expected(since=since, keys=KEYS, seats=o.rig.sim.seats)


@pytest.mark.parametrize(
    ("secret", "keypads_while_dead"),
    [
        (False, False),
        (True, False),
        (False, True),
    ],
    ids=["open", "secret", "open-keypads-pressed-while-dead"],
)
async def test_sigkill_mid_vote_loses_nothing_and_resyncs_units(
    outside: Outside, secret: bool, keypads_while_dead: bool
) -> None:
    sim, watch = outside.rig.sim, outside.watch
    seats = sim.seats
    rng = random.Random(21)
    async with running(outside) as (daemon, chair):
        await post(chair, "/api/sitting/open", {"sitting_id": "kh-8", "title": "Kỳ họp thứ 8"})
        for seat in seats:
            sim.set_presence(seat, True)
        # The presence LED lights once the daemon has the arrival on disk.
        await watch.until(lambda: all(presence_lit(outside, s) for s in seats))
        since = asyncio.get_running_loop().time()
        await create_and_open(chair, "nq-09", "Nghị quyết về biên chế công chức", secret=secret)
        await watch.unlocked(seats)
        first_round = VoteScript(within_s=0.3, no_press=0.3, change=0.2, change_after_s=0.1)
        await sim.perform(first_round.plan(seats, rng))
        before = expected(outside, since)
        # Every LED lit: every press the units took is on the daemon's disk.
        await watch.lit(before.choices, seats)
        vote = vote_of(await state(chair), "nq-09")
        assert vote["state"] == "open"
        assert vote["tally"]["voted"] == before.voted
        if not secret:
            assert choices_of(vote) == dict(before.choices)
        port = int(daemon.url.rsplit(":", 1)[1])
        daemon.proc.send_signal(signal.SIGKILL)
        await daemon.proc.wait()

    # While the daemon is dead: some who had not voted vote, some change their mind. The IP
    # seats' presses wait at the broker, in the daemon's persistent session.
    dead_pressers = seats if keypads_while_dead else sorted(sim.ip_units)
    silent = [s for s in dead_pressers if s not in before.choices]
    voted = [s for s in dead_pressers if s in before.choices]
    for seat in silent[: max(1, len(silent) // 2)]:
        sim.press(seat, rng.randint(1, KEYS))
    for seat in rng.sample(voted, min(5, len(voted))):
        sim.press(seat, before.choices[seat] % KEYS + 1)
    after = expected(outside, since)
    assert after.voted > before.voted
    assert after.choices != before.choices

    async with running(outside, port) as (daemon, chair):
        # The resync and the presses read after the restart bring every unit back in step.
        await watch.unlocked(seats)
        # Every ring is read in the first polls after the start, well within this bound.
        await watch.lit(after.choices, seats, within=5.0)
        vote = vote_of(await state(chair), "nq-09")
        assert vote["state"] == "open"
        assert vote["tally"]["voted"] == after.voted
        if not secret:
            assert choices_of(vote) == dict(after.choices)
        await post(chair, "/api/votes/nq-09/close")
        result = result_of(await state(chair), "nq-09")
        check_result(result, after, electorate=len(seats), secret=secret)
        if not secret:  # a secret vote's presses never enter the chain
            # Each press the units took is in the journal once: none twice after the restart.
            took = Counter(p.seat for p in sim.truth.votes())
            journal_path = outside.data / f"{outside.rig.config.hall_id}.journal"
            with Journal.open(journal_path) as journal:
                records = [r for _, r in journal.records() if r["kind"] == "vote-key"]
            assert Counter(r["seat"] for r in records) == took
        # Closed: every unit locked again.
        await watch.until(lambda: all(shown(sim, s).locked for s in seats))


def presence_lit(o: Outside, seat: int) -> bool:
    sim = o.rig.sim
    if seat in sim.ip_units:
        return sim.ip_units[seat].state.present_led is True
    ref = sim.unit_ref(seat)
    return sim.keypad_lines[ref.line].units[ref.address].registers.outputs.presence_led
