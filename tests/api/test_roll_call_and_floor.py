"""The API of the roll call, presence by hand with a reason, a delegate moved to a spare seat,
and the floor's "next" (hands over) and "add"; the minutes say each of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chamber.controller.auth import Role
from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import MicRequest, PresenceChanged, VoteKeyPressed
from chamber.controller.core.model import Language
from chamber.controller.daemon import Daemon
from chamber.controller.exports import Format, What, render, replay_journal

from .conftest import EXAMPLES, Hall, make_tokens


@pytest.fixture
async def spare_hall(tmp_path: Path) -> AsyncIterator[Hall]:
    """The council's hall with a spare seat, 51, that has no delegate."""
    toml = tmp_path / "hall.toml"
    toml.write_text(
        (EXAMPLES / "vn-council.toml").read_text(encoding="utf-8")
        + "\n[[seats]]\nnumber = 51\nrow = 6\ncol = 1\nip = true\n",
        encoding="utf-8",
    )
    store, tokens = make_tokens()
    clock = FakeClock(1000.0)
    async with Daemon(load_config(toml), tmp_path / "hall.journal", store, clock=clock) as d:
        hall = Hall(d, clock, tokens, store)
        try:
            yield hall
        finally:
            await hall.aclose()


async def test_a_roll_call_through_the_api_and_in_the_minutes(hall: Hall) -> None:
    await hall.open_sitting(present=range(1, 31))
    async with hall.client() as chair:
        assert (await chair.post("/api/attendance/open")).is_success
        state = (await chair.get("/api/state")).json()["state"]
        assert state["attendance"]["registration"]["roll_call"] is True
        assert state["attendance"]["registration"]["registered"] == []
        # Seated delegates confirm with one press of the presence key.
        now = hall.clock.now()
        await hall.feed(*(PresenceChanged(at=now, seat=s, present=False) for s in range(1, 27)))
        # A mark by hand without a reason is refused before it reaches the core.
        r = await chair.post("/api/seats/40/presence", json={"present": True})
        assert r.status_code == 422
        r = await chair.post("/api/seats/40/presence", json={"present": True, "reason": "  "})
        assert r.status_code == 422
        r = await chair.post(
            "/api/seats/40/presence", json={"present": True, "reason": "Thẻ bị hỏng"}
        )
        assert r.is_success, r.text
        r = await chair.post("/api/attendance/close")
        assert r.is_success, r.text
        state = (await chair.get("/api/state")).json()["state"]
        (done,) = state["attendance"]["registrations"]
        assert (done["count"], done["quorate"], done["roll_call"]) == (27, True, True)
        assert state["attendance"]["marks"][0]["reason"] == "Thẻ bị hỏng"
        assert (await chair.post("/api/sitting/close")).is_success
    view = replay_journal(hall.daemon.journal.path, hall.daemon.runtime.config)
    vi = render(view, What.MINUTES, Format.HTML)
    assert "Điểm danh lần 1" in vi
    assert "27 đại biểu xác nhận có mặt" in vi
    assert "đủ số đại biểu" in vi
    assert "Thẻ bị hỏng" in vi
    en = render(view, What.MINUTES, Format.HTML, language=Language.EN)
    assert "Roll call 1" in en
    assert "Presence marked by hand" in en
    assert "Có mặt, vắng mặt do chủ tọa hoặc thư ký ghi nhận" in vi


async def test_a_move_keeps_the_votes_with_the_delegate(spare_hall: Hall) -> None:
    hall = spare_hall
    await hall.open_sitting(present=range(1, 31))
    async with hall.client(Role.SECRETARY) as secretary, hall.client() as chair:
        assert (await chair.post("/api/votes", json={"vote_id": "v1", "title": "Một"})).is_success
        assert (await chair.post("/api/votes/v1/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=12, key=2))
        # Under an open vote the move is refused, in the hall's words and with its code.
        r = await secretary.post("/api/seats/12/move", json={"to_seat": 51, "reason": "Hỏng"})
        assert r.status_code == 409
        assert r.json()["code"] == "vote.active"
        assert (await chair.post("/api/votes/v1/close")).is_success
        r = await secretary.post("/api/seats/12/move", json={"to_seat": 51})
        assert r.status_code == 422
        r = await secretary.post("/api/seats/12/move", json={"to_seat": 13, "reason": "Hỏng"})
        assert r.json()["code"] == "seat.occupied"
        r = await secretary.post(
            "/api/seats/12/move", json={"to_seat": 51, "reason": "Bàn phím hỏng"}
        )
        assert r.is_success, r.text
        seats = {s["number"]: s for s in (await secretary.get("/api/seats")).json()}
        assert (seats[12]["delegate"], seats[12]["present"]) == (None, False)
        assert (seats[51]["delegate"], seats[51]["present"]) == ("d0012", True)
        assert (await chair.post("/api/votes", json={"vote_id": "v2", "title": "Hai"})).is_success
        assert (await chair.post("/api/votes/v2/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=51, key=1))
        assert (await chair.post("/api/votes/v2/close")).is_success
        record = (await secretary.get("/api/participation")).json()
        delegates = record["delegates"] if isinstance(record, dict) else record
        mine = next(d for d in delegates if d["delegate_id"] == "d0012")
        assert [(v["vote_id"], v["key"]) for v in mine["votes"]] == [("v1", 2), ("v2", 1)]
        assert (await chair.post("/api/sitting/close")).is_success
    view = replay_journal(hall.daemon.journal.path, hall.daemon.runtime.config)
    vi = render(view, What.MINUTES, Format.HTML)
    assert "từ ghế số 12 sang ghế số 51" in vi
    assert "Bàn phím hỏng" in vi


async def test_next_hands_over_and_add_is_refused_at_the_cap(hall: Hall) -> None:
    await hall.open_sitting(present=range(1, 31))
    now = hall.clock.now()
    await hall.feed(*(MicRequest(at=now, seat=s) for s in (10, 11, 12, 13)))

    async def live() -> list[int]:
        async with hall.client() as c:
            state = (await c.get("/api/state")).json()["state"]
        return sorted(t["seat"] for t in state["floor"]["live"])

    async with hall.client() as chair:
        assert (await chair.post("/api/floor/next", json={})).is_success
        assert await live() == [10]
        assert (await chair.post("/api/floor/add", json={})).is_success
        assert await live() == [10, 11]
        # The hall's cap is 2: adding a third is refused, closing nobody.
        r = await chair.post("/api/floor/add", json={})
        assert r.status_code == 409
        assert r.json()["code"] == "floor.at_cap"
        assert await live() == [10, 11]
        assert (await chair.post("/api/floor/next", json={})).is_success
        assert await live() == [12]
