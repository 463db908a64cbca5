"""The API's request bounds are the core's table (controller/core/limits.py): a request at a
limit is taken, one past it is refused by the schema. An untimed vote (duration 0), from a
request or from the hall file, stays open until the chair closes it."""

from __future__ import annotations

import math
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamber.controller.config import HallConfig, parse_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import VoteKeyPressed
from chamber.controller.core.limits import (
    MAX_CHOICES,
    MAX_OPEN_MICS,
    MAX_TURN_S,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    MIN_OPEN_MICS,
    UNTIMED,
)
from chamber.controller.daemon import Daemon

from .conftest import EXAMPLES, Hall, make_tokens


def _refused_by_schema(r: httpx.Response, field: str) -> None:
    """A 422 from the request schema (not the core), naming `field`."""
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"].startswith("request."), problem
    assert any(e["field"] == f"body.{field}" for e in problem["errors"]), problem


async def _vote(hall: Hall, vote_id: str) -> dict[str, Any]:
    async with hall.client() as chair:
        state = (await chair.get("/api/state")).json()["state"]
    votes: list[dict[str, Any]] = state["votes"]
    return next(v for v in votes if v["vote_id"] == vote_id)


async def test_vote_requests_at_the_limits_are_taken_and_past_them_refused(hall: Hall) -> None:
    await hall.open_sitting()
    taken: dict[str, dict[str, Any]] = {
        "untimed": {"duration_s": UNTIMED},
        "longest": {"duration_s": MAX_VOTE_DURATION_S},
        "longest-warning": {"duration_s": UNTIMED, "warning_s": MAX_VOTE_WARNING_S},
        "most-options": {
            "answers": "choices",
            "choices": [f"Phương án {n}" for n in range(1, MAX_CHOICES + 1)],
        },
    }
    refused: dict[str, list[dict[str, Any]]] = {
        "duration_s": [
            {"duration_s": math.nextafter(UNTIMED, -math.inf)},
            {"duration_s": math.nextafter(MAX_VOTE_DURATION_S, math.inf)},
        ],
        "warning_s": [{"duration_s": UNTIMED, "warning_s": MAX_VOTE_WARNING_S + 1}],
        "choices": [
            {
                "answers": "choices",
                "choices": [f"Phương án {n}" for n in range(1, MAX_CHOICES + 2)],
            }
        ],
    }
    async with hall.client() as chair:
        for vote_id, body in taken.items():
            r = await chair.post("/api/votes", json={"vote_id": vote_id, "title": "T", **body})
            assert r.status_code == 200, r.text
        for field, bodies in refused.items():
            for body in bodies:
                r = await chair.post("/api/votes", json={"title": "T", **body})
                _refused_by_schema(r, field)
    longest = await _vote(hall, "longest")
    assert longest["duration_s"] == MAX_VOTE_DURATION_S
    # No countdown, so no warning either: the core drops it.
    untimed = await _vote(hall, "longest-warning")
    assert (untimed["duration_s"], untimed["warning_s"]) == (UNTIMED, 0.0)
    assert len((await _vote(hall, "most-options"))["options"]) == MAX_CHOICES


async def test_floor_requests_at_the_limits_are_taken_and_past_them_refused(hall: Hall) -> None:
    await hall.open_sitting()
    async with hall.client() as chair:
        for max_open in (MIN_OPEN_MICS, MAX_OPEN_MICS):
            r = await chair.post("/api/floor/mode", json={"mode": "request", "max_open": max_open})
            assert r.status_code == 200, r.text
        for max_open in (MIN_OPEN_MICS - 1, MAX_OPEN_MICS + 1):
            r = await chair.post("/api/floor/mode", json={"mode": "request", "max_open": max_open})
            _refused_by_schema(r, "max_open")
        r = await chair.post("/api/floor/time", json={"list": "speak", "seconds": MAX_TURN_S})
        assert r.status_code == 200, r.text
        past = math.nextafter(MAX_TURN_S, math.inf)
        r = await chair.post("/api/floor/time", json={"list": "speak", "seconds": past})
        _refused_by_schema(r, "seconds")
        assert (await chair.post("/api/floor/grant", json={"seat": 10})).status_code == 200
        r = await chair.post("/api/floor/extend", json={"seat": 10, "seconds": MAX_TURN_S})
        assert r.status_code == 200, r.text
        r = await chair.post("/api/floor/extend", json={"seat": 10, "seconds": past})
        _refused_by_schema(r, "seconds")


async def _run_untimed_then_timed(hall: Hall, untimed: dict[str, Any]) -> None:
    """Vote u (made with `untimed`) stays open a day and more, until the chair closes it; a
    timed vote t afterwards closes by itself at its end, so the clock did reach the core."""
    await hall.open_sitting()
    async with hall.client() as chair:
        r = await chair.post("/api/votes", json={"vote_id": "u", "title": "Tờ trình", **untimed})
        assert r.status_code == 200, r.text
        assert (await chair.post("/api/votes/u/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=1, key=1))
        hall.clock.advance(MAX_VOTE_DURATION_S + 1)
        await hall.feed()
        vote = await _vote(hall, "u")
        assert (vote["duration_s"], vote["state"], vote["deadline"]) == (UNTIMED, "open", None)
        assert vote["countdown_s"] is None
        assert (await chair.post("/api/votes/u/close")).is_success
        closed = await _vote(hall, "u")
        assert closed["state"] == "closed"
        assert closed["closed_at"] == hall.clock.now()
        assert closed["result"]["voted"] == 1

        r = await chair.post("/api/votes", json={"vote_id": "t", "title": "T", "duration_s": 60})
        assert r.status_code == 200, r.text
        assert (await chair.post("/api/votes/t/open")).is_success
        hall.clock.advance(61)
        await hall.feed()
        assert (await _vote(hall, "t"))["state"] == "closed"


async def test_an_untimed_vote_through_the_api_runs_until_the_chair_closes_it(hall: Hall) -> None:
    await _run_untimed_then_timed(hall, {"duration_s": UNTIMED})


@pytest.fixture
async def untimed_hall(tmp_path: Path) -> AsyncIterator[Hall]:
    """The vn-council hall with `policies.vote.duration_s = 0` in its file."""
    doc = tomllib.loads((EXAMPLES / "vn-council.toml").read_text(encoding="utf-8"))
    doc["policies"]["vote"]["duration_s"] = UNTIMED
    config: HallConfig = parse_config(doc, "untimed.toml")
    assert config.hall.policies.vote.duration_s == UNTIMED
    store, tokens = make_tokens()
    clock = FakeClock(1000.0)
    async with Daemon(config, tmp_path / "hall.journal", store, clock=clock) as daemon:
        hall = Hall(daemon, clock, tokens, store)
        try:
            yield hall
        finally:
            await hall.aclose()


async def test_an_untimed_vote_from_the_hall_file_runs_until_the_chair_closes_it(
    untimed_hall: Hall,
) -> None:
    # The request names no duration: the hall's policy (0, untimed) applies.
    await _run_untimed_then_timed(untimed_hall, {})
