"""A whole hall for each end-to-end test: the simulator on real transports and a daemon on it.

Every test gets a fresh `HallRig` on the 50-seat Vietnamese council (two keypad lines, two
microphone lines, six IP seats on the simulator's own Mosquitto), with every delegate seated
and the sitting quorate. The rig's context is always left, so no socat or Mosquitto outlives
a test, even a failing one.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamber.controller.journal import Journal
from chamber.simulator.delegates import Action, ExpectedVote, VoteScript
from tests.e2e.hall import (
    KEYS,
    WAIT_S,
    SimWatch,
    all_present,
    check_result,
    choices_of,
    council,
    create_and_open,
    post,
    result_of,
    state,
    vote_of,
)
from tests.rig import HallRig


@dataclass
class Council:
    """The running hall of one test, and the chair's steps through a vote."""

    rig: HallRig
    chair: httpx.AsyncClient
    watch: SimWatch

    @property
    def seats(self) -> list[int]:
        return self.rig.sim.seats

    async def wait(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = WAIT_S
    ) -> dict[str, Any]:
        return await self.rig.wait_state(predicate, within=within)

    async def seat_everyone(self) -> None:
        await post(self.chair, "/api/sitting/open", {"sitting_id": "kh-7", "title": "Kỳ họp thứ 7"})
        for seat in self.seats:
            self.rig.sim.set_presence(seat, True)
        await self.wait(lambda st: all_present(st, len(self.seats)))

    async def open_vote(self, vote_id: str, title: str, *, secret: bool = False) -> float:
        """Open a vote; returns the loop time it opened at, once every unit takes presses."""
        opened = asyncio.get_running_loop().time()
        await create_and_open(self.chair, vote_id, title, secret=secret)
        await self.watch.unlocked(self.seats)
        return opened

    def plan(self, seats: Sequence[int], seed: int, *, within_s: float = 0.6) -> list[Action]:
        """Most seats vote, about a fifth change their mind, a few never press."""
        script = VoteScript(within_s=within_s, no_press=0.06, change=0.2, change_after_s=0.3)
        return script.plan(seats, random.Random(seed))

    def expected(self, since: float) -> ExpectedVote:
        return self.rig.sim.truth.expected(since=since, keys=KEYS, seats=self.seats)

    async def settle(self, vote_id: str, since: float, within: float = WAIT_S) -> ExpectedVote:
        """Wait until the daemon counts exactly what the units took, and their LEDs agree."""
        expected = self.expected(since)
        await self.rig.sim.drain()
        try:
            await self.wait(
                lambda st: choices_of(vote_of(st, vote_id)) == dict(expected.choices), within
            )
        except TimeoutError:
            counted = choices_of(vote_of(await state(self.chair), vote_id))
            wrong = {
                seat: (counted.get(seat), expected.choices.get(seat))
                for seat in self.seats
                if counted.get(seat) != expected.choices.get(seat)
            }
            raise AssertionError(f"seat: (counted, pressed) differ: {wrong}") from None
        await self.watch.lit(expected.choices, self.seats)
        return expected

    async def close_and_check(self, vote_id: str, expected: ExpectedVote) -> dict[str, Any]:
        await post(self.chair, f"/api/votes/{vote_id}/close")
        result = result_of(await state(self.chair), vote_id)
        check_result(result, expected, electorate=len(self.seats))
        # Once each: every press a unit took is in the journal exactly once (a duplicate,
        # a replay or a press read twice would be journaled as one more input).
        took = Counter(p.seat for p in self.rig.sim.truth.votes())
        assert self.journaled_presses() == took
        return result

    def journaled_presses(self) -> Counter[int]:
        with Journal.open(self.rig.journal_path) as journal:
            return Counter(r["seat"] for _, r in journal.records() if r["kind"] == "vote-key")

    def health_units(self, st: dict[str, Any], line: str) -> dict[int, dict[str, Any]]:
        return {u["address"]: u for u in st["health"]["units"] if u["line"] == line}

    def health_line(self, st: dict[str, Any], line: str) -> dict[str, Any] | None:
        for item in st["health"]["lines"]:
            if item["line"] == line:
                found: dict[str, Any] = item
                return found
        return None

    def driver(self, name: str) -> Any:
        assert self.rig.daemon is not None
        for driver in self.rig.daemon.runtime.drivers:
            if driver.name == name:
                return driver
        raise AssertionError(f"no driver {name!r}")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A fresh directory that the simulator's broker, dropping to its own account, may still
    traverse (pytest's own temporary directories are closed to other accounts)."""
    base = Path(tempfile.mkdtemp(prefix="chamber-e2e-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def hall(private_dir: Path) -> AsyncIterator[Council]:
    rig = HallRig(council(), private_dir / "data", wire_time=False, seed=1)
    async with rig, rig.client() as chair:
        c = Council(rig, chair, SimWatch(rig.sim))
        await c.seat_everyone()
        yield c


def seats_on(hall: Council, line: str) -> list[int]:
    return [su.seat for su in hall.rig.config.units if su.keypad and su.keypad.line == line]


def ip_seats(hall: Council) -> list[int]:
    return sorted(hall.rig.sim.ip_units)


def only(actions: Iterable[Action], seats: Iterable[int]) -> list[Action]:
    wanted = set(seats)
    return [a for a in actions if a.seat in wanted]
