"""The interactive demo's truth book (DATA/truth.json): what the simulated units registered,
vote by vote, equal to the daemon's result; nothing of a running secret vote but how many have
pressed; the floor's microphones as the units have them.

The real demo hall of 12 seats (every transport), its daemon in a process of its own, the
simulated delegates, the book reading the daemon over the API as the demo runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chamber.simulator.autopilot import Autopilot, Temperament
from chamber.simulator.demo import (
    TRUTH_FILE,
    DemoHall,
    TruthBook,
    demo_hall,
    hall_file,
    mic_on,
    open_sitting,
)

WAIT_S = 60.0
FAST = Temperament(
    reaction_s=(0.1, 1.0),
    no_press=0.15,
    change=0.2,
    change_after_s=(0.2, 0.4),
    arrive_within_s=0.5,
    floor_every_s=None,
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="chamber-truth-"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def entry(book: TruthBook, vote_id: str) -> dict[str, Any]:
    return book.votes.get(vote_id, {})


def seated(book: TruthBook, expected: frozenset[int]) -> bool:
    """Every delegate who comes is in, as the units and the daemon both have it."""
    daemon = book.state.get("attendance", {}).get("present_seats", [])
    return set(book.present) == set(daemon) == expected and book.state["quorum"]["quorate"]


async def post(chair: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    response = await chair.post(path, json=body or {})
    assert response.status_code < 300, response.text
    return response.json()


async def test_the_book_holds_what_the_units_registered_and_the_daemon_counted(
    workdir: Path,
) -> None:
    data = workdir / "data"
    data.mkdir()
    hall = DemoHall.load(hall_file(12, 3, data))
    async with (
        demo_hall(hall, data, seed=3, port=0) as (sim, daemon),
        daemon.client(daemon.tokens.chair) as chair,
    ):
        await open_sitting(chair)
        async with Autopilot(sim, seed=3, temperament=FAST) as pilot:
            book = TruthBook(sim, pilot, hall, chair, data / TRUTH_FILE)
            keeping = asyncio.create_task(book.run())
            try:
                async with asyncio.timeout(WAIT_S):
                    await book.wait_for(lambda b: seated(b, pilot.expected_present))
                for vote_id, mode in (("v1", "secret"), ("v2", "open")):
                    await post(
                        chair,
                        "/api/votes",
                        {"vote_id": vote_id, "title": "Nghị quyết thử", "mode": mode},
                    )
                    await post(chair, f"/api/votes/{vote_id}/open")
                    async with asyncio.timeout(WAIT_S):
                        await book.wait_for(lambda b, v=vote_id: bool(entry(b, v).get("settled")))
                    running = json.loads((data / TRUTH_FILE).read_text("utf-8"))
                    [shown] = [v for v in running["votes"] if v["vote_id"] == vote_id]
                    # While it runs: how many pressed, never the totals (a secret vote's are
                    # nobody's to see before the close), never a seat's choice.
                    assert set(shown) == {
                        "vote_id",
                        "title",
                        "state",
                        "opened_at",
                        "closed_at",
                        "voted",
                        "settled",
                    }
                    await post(chair, f"/api/votes/{vote_id}/close")
                    async with asyncio.timeout(WAIT_S):
                        await book.wait_for(lambda b, v=vote_id: "totals" in entry(b, v))
                    state = (await chair.get("/api/state")).json()["state"]
                    [vote] = [v for v in state["votes"] if v["vote_id"] == vote_id]
                    result = vote["result"]
                    counted = entry(book, vote_id)
                    assert counted["totals"] == [t["count"] for t in result["totals"]]
                    assert counted["voted"] == result["voted"]
                    assert counted["did_not_vote"] == result["did_not_vote"]
                    assert counted["adopted"] == result["outcome"]["adopted"]
                    assert counted["voted"] + counted["did_not_vote"] == vote["electorate"]

                # The floor: a seat given the floor has its unit's microphone on.
                seat = max(s for s in book.present if mic_on(sim, s) is False)
                await post(chair, "/api/floor/grant", {"seat": seat})
                async with asyncio.timeout(WAIT_S):
                    await book.wait_for(lambda b: seat in b.mics_on)
            finally:
                keeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeping
    written = json.loads((data / TRUTH_FILE).read_text("utf-8"))
    assert [v["vote_id"] for v in written["votes"]] == ["v1", "v2"]
    assert "choices" not in json.dumps(written)
