"""What the end-to-end tests share: the hall, a watch on the simulated units, and a vote's steps.

The daemon runs against the simulator over the real transports (pty serial lines, a real
Mosquitto). Waiting is always on events: the daemon's stream of deltas for its state, and for
what the simulated units show, a wake-up each time a unit serves a request or applies a
command. Nothing here sleeps to wait, and every wait has a bound.

A vote's truth is the simulator's own record of every press a unit took
(`simulator.delegates.GroundTruth`), never a copy of what the test meant to press.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx

from chamber.controller.config import HallConfig, load_config
from chamber.simulator.delegates import ExpectedVote
from chamber.simulator.hall import SimulatedHall

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"
KEYS = 3  # tán thành / không tán thành / không biểu quyết
WAIT_S = 20.0  # the bound on any one wait: generous for a loaded 2-core machine


P = ParamSpec("P")
R = TypeVar("R")


def council() -> HallConfig:
    return load_config(EXAMPLE)


@dataclass(frozen=True)
class Shown:
    """What a seat's voting unit shows: its lock, its active keys and its lit key LEDs."""

    locked: bool
    keys: int
    lit: frozenset[int]


def shown(sim: SimulatedHall, seat: int) -> Shown:
    if seat in sim.ip_units:
        state = sim.ip_units[seat].state
        return Shown(state.locked, state.keys, frozenset(state.lit))
    ref = sim.unit_ref(seat)
    host = sim.keypad_lines.get(ref.line) or sim.gateways[ref.line]
    outputs = host.units[ref.address].registers.outputs
    return Shown(outputs.locked, outputs.keys, outputs.leds)


class SimWatch:
    """Wakes a waiting test whenever a simulated unit serves a request or applies a command:
    the only moments what a unit shows can change."""

    def __init__(self, sim: SimulatedHall) -> None:
        self.sim = sim
        self._changed = asyncio.Event()
        for host in [*sim.keypad_lines.values(), *sim.gateways.values()]:
            # Every request reaches the units through _answer_all (the RTU line calls it
            # itself, to hear several units answer at one address; _answer goes through it).
            host._answer_all = self._wrap(host._answer_all)  # type: ignore[method-assign]
        for unit in sim.ip_units.values():
            unit._apply = self._wrap(unit._apply)  # type: ignore[method-assign]

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            finally:
                self._changed.set()

        return wrapped

    async def until(self, predicate: Callable[[], bool], *, within: float = WAIT_S) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def unlocked(self, seats: Iterable[int], keys: int = KEYS) -> None:
        """Until every seat's unit takes presses: unlocked, with the vote's keys active."""
        wanted = list(seats)
        await self.until(
            lambda: all(
                not (s := shown(self.sim, seat)).locked and s.keys == keys for seat in wanted
            )
        )

    async def lit(
        self, choices: Mapping[int, int], seats: Iterable[int], *, within: float = WAIT_S
    ) -> None:
        """Until each seat's LEDs show its counted choice (and nothing for seats without)."""
        wanted = list(seats)
        try:
            await self.until(
                lambda: all(lit_as(self.sim, choices, s) for s in wanted), within=within
            )
        except TimeoutError:
            wrong = {
                s: (sorted(shown(self.sim, s).lit), choices.get(s))
                for s in wanted
                if not lit_as(self.sim, choices, s)
            }
            raise AssertionError(f"seat: (lit, pressed) differ: {wrong}") from None


def lit_as(sim: SimulatedHall, choices: Mapping[int, int], seat: int) -> bool:
    key = choices.get(seat)
    return shown(sim, seat).lit == (frozenset({key}) if key is not None else frozenset())


# --- the API -----------------------------------------------------------------------------------


async def post(client: httpx.AsyncClient, path: str, body: Any = None) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    data: dict[str, Any] = response.json()
    return data


async def state(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/state")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["state"]
    return data


def vote_of(st: Mapping[str, Any], vote_id: str) -> dict[str, Any]:
    for vote in st["votes"]:
        if vote["vote_id"] == vote_id:
            found: dict[str, Any] = vote
            return found
    raise AssertionError(f"no vote {vote_id!r} in the daemon's state")


def result_of(st: Mapping[str, Any], vote_id: str) -> dict[str, Any]:
    for result in st["results"]:
        if result["vote_id"] == vote_id:
            found: dict[str, Any] = result
            return found
    raise AssertionError(f"no result for vote {vote_id!r} in the daemon's state")


def choices_of(vote: Mapping[str, Any]) -> dict[int, int]:
    """An open vote's running choice per seat, as the daemon shows it."""
    return {c["seat"]: c["key"] for c in vote.get("choices", [])}


def all_present(st: Mapping[str, Any], seats: int) -> bool:
    return bool(st["attendance"]["present"] == seats and st["quorum"]["quorate"])


async def create_and_open(
    client: httpx.AsyncClient, vote_id: str, title: str, *, secret: bool = False
) -> None:
    # A long timer: the vote closes when the test closes it, never on a loaded machine's clock.
    body: dict[str, Any] = {"vote_id": vote_id, "title": title, "duration_s": 600}
    if secret:
        body["mode"] = "secret"
    await post(client, "/api/votes", body)
    await post(client, f"/api/votes/{vote_id}/open")


def check_result(
    result: Mapping[str, Any], expected: ExpectedVote, electorate: int, *, secret: bool = False
) -> None:
    """The daemon's closed result equals the ground truth: totals, choices (none at all for a
    secret vote), participants, did-not-vote."""
    totals = {t["key"]: t["count"] for t in result["totals"]}
    assert totals == {k: expected.totals.get(k, 0) for k in range(1, KEYS + 1)}
    choices = {c["seat"]: c["key"] for c in result["choices"]}
    assert choices == ({} if secret else dict(expected.choices))
    assert sorted(result["participants"]) == sorted(expected.choices)
    assert result["voted"] == expected.voted
    assert result["did_not_vote"] == electorate - expected.voted
