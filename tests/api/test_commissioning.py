"""Commissioning through the running daemon's API: the technician scans a line the daemon
serves, gives its factory-new and duplicate-address units addresses, blinks one, and writes
the hall file; the line's driver is stopped for it and comes back counting presses. Refused
while a vote or attendance is open. Against the simulator's units on pty pairs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from chamber.controller.auth import Role
from chamber.controller.config import load_config
from chamber.controller.core.inputs import PresenceChanged
from chamber.controller.journal import Journal
from chamber.drivers.topology import UnitRef
from tests.commission_hall import KEYPADS, MICS, SEATS, CommissionHall, commission_hall


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _units(state: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {u["serial"]: (u["address"], u["status"]) for u in state["units"]}


async def _open_vote(hall: CommissionHall, chair: httpx.AsyncClient, vote_id: str) -> None:
    await _ok(await chair.post("/api/sitting/open", json={"sitting_id": "k1", "title": "Kỳ họp 1"}))
    for seat in range(1, SEATS + 1):
        hall.daemon.runtime.feed(PresenceChanged(at=hall.clock.now(), seat=seat, present=True))
    body = {"vote_id": vote_id, "title": "Nghị quyết", "duration_s": 600}
    await _ok(await chair.post("/api/votes", json=body))
    await _ok(await chair.post(f"/api/votes/{vote_id}/open"))


async def test_a_keypad_line_is_commissioned_and_comes_back_counting(tmp_path: Path) -> None:
    async with commission_hall(tmp_path) as hall, hall.client() as tech:
        runtime = hall.daemon.runtime
        await hall.until(lambda: any(d.name == KEYPADS for d in runtime.drivers))

        started = await _ok(
            await tech.post(f"/api/commission/{KEYPADS}/scan", json={"first": 1, "last": 12})
        )
        assert started["phase"] == "scanning"
        # One step at a time on a line.
        busy = await tech.post(f"/api/commission/{KEYPADS}/assign")
        assert (busy.status_code, busy.json()["code"]) == (409, "commission.busy")
        await hall.commissioning.finished(KEYPADS)
        state = await _ok(await tech.get(f"/api/commission/{KEYPADS}"))
        assert state["phase"] == "done", state
        assert state["total"] == state["done"] == 13  # 1-12 and the factory address
        assert _units(state) == {
            "KP-OLD-0001": (1, "ok"),
            "KP-OLD-0002": (2, "ok"),
            "KP-OLD-0003": (3, "duplicate"),
            "KP-DUP-000B": (3, "duplicate"),
            "KP-OLD-0004": (4, "ok"),
            "KP-NEW-0001": (247, "new"),
            "KP-NEW-0002": (247, "new"),
            "KP-NEW-0003": (247, "new"),
        }
        unit = next(u for u in state["units"] if u["serial"] == "KP-NEW-0001")
        assert unit["firmware"]
        assert unit["contract"]
        assert unit["features"]
        assert state["need_address"] == 4
        unsettled = await tech.get(f"/api/commission/{KEYPADS}/diff")
        assert (unsettled.status_code, unsettled.json()["code"]) == (409, "commission.unsettled")
        assert unsettled.json()["params"] == {"line": KEYPADS, "units": 4}

        await _ok(await tech.post(f"/api/commission/{KEYPADS}/assign"))
        await hall.commissioning.finished(KEYPADS)
        state = await _ok(await tech.get(f"/api/commission/{KEYPADS}"))
        assert state["phase"] == "done", state
        assert [(a["serial"], a["old"], a["new"]) for a in state["assigned"]] == [
            ("KP-NEW-0001", 247, 5),
            ("KP-NEW-0002", 247, 6),
            ("KP-NEW-0003", 247, 7),
            ("KP-OLD-0003", 3, 8),  # the lowest serial keeps a shared address
        ]
        assert sorted(u.ref.address for u in hall.keypads.all_units) == list(range(1, 9))
        assert {s for _, s in _units(state).values()} == {"ok"}

        # The technician walks to seat 6's unit: it blinks.
        blink = {"address": 6, "seconds": 20}
        await _ok(await tech.post(f"/api/commission/{KEYPADS}/identify", json=blink))
        now = asyncio.get_running_loop().time()
        assert [u.ref.address for u in hall.keypads.all_units if u.blinking(now)] == [6]

        before = hall.hall_file.read_text(encoding="utf-8")
        change = await _ok(await tech.get(f"/api/commission/{KEYPADS}/diff"))
        assert change["changed"] is True
        assert '+keypad = {line = "keypads-1", address = 8}' in change["diff"]
        assert hall.hall_file.read_text(encoding="utf-8") == before  # shown, not written
        written = await _ok(
            await tech.post(f"/api/commission/{KEYPADS}/write", json={"map_seats": True})
        )
        assert (written["written"], written["restart_needed"]) == (True, True)
        text = hall.hall_file.read_text(encoding="utf-8")
        assert text.startswith("# The council's hall: wired by hand so far.\n")  # comments kept
        wired = {(u.seat, u.keypad) for u in load_config(hall.hall_file).units if u.keypad}
        assert wired == {(n, UnitRef(KEYPADS, n)) for n in range(1, SEATS + 1)}
        again = await _ok(await tech.get(f"/api/commission/{KEYPADS}"))
        assert again["restart_needed"] is True

        # The line is back: a fresh driver counts a press of seat 1's keypad.
        async with hall.client(Role.CHAIR) as chair:
            await _open_vote(hall, chair, "v1")
            unit = hall.keypads.units[1]
            await hall.until(lambda: not unit.registers.outputs.locked)
            hall.keypads.press(1, 1)
            await hall.until(lambda: runtime.stats.unit_inputs["vote-key"] >= 1)
            shown = (await _ok(await chair.get("/api/state")))["state"]
            vote = next(v for v in shown["votes"] if v["vote_id"] == "v1")
            assert {c["seat"]: c["key"] for c in vote["choices"]} == {1: 1}

    with Journal.open(hall.journal) as journal:
        steps = [
            (r["action"], r["line"], r["units"])
            for _, r in journal.records()
            if r["kind"] == "commission"
        ]
    assert [s[0] for s in steps] == ["scan", "assign", "identify", "write"]
    assert "247:KP-NEW-0001" in steps[0][2]
    assert steps[1][2] == [
        "KP-NEW-0001:247->5",
        "KP-NEW-0002:247->6",
        "KP-NEW-0003:247->7",
        "KP-OLD-0003:3->8",
    ]
    assert steps[2][2] == ["6"]


async def test_a_mic_line_is_discovered_assigned_and_written(tmp_path: Path) -> None:
    async with commission_hall(tmp_path) as hall, hall.client() as tech:
        await _ok(await tech.post(f"/api/commission/{MICS}/scan", json={}))
        state = (await hall.commissioning.finished(MICS)).to_json(
            hall.daemon.runtime.config.hall.language
        )
        assert state["phase"] == "done", state
        statuses = sorted(u["status"] for u in state["units"])
        assert statuses == ["duplicate"] * 2 + ["new"] * 3 + ["ok"] * 3
        await _ok(await tech.post(f"/api/commission/{MICS}/assign"))
        await hall.commissioning.finished(MICS)
        assert sorted(u.ref.address for u in hall.mics.all_units) == list(range(1, SEATS + 1))
        await _ok(await tech.post(f"/api/commission/{MICS}/identify", json={"address": 5}))
        now = asyncio.get_running_loop().time()
        assert [u.ref.address for u in hall.mics.all_units if u.blinking(now)] == [5]
        written = await _ok(await tech.post(f"/api/commission/{MICS}/write", json={}))
        assert '+mic = {line = "mics-1", address = 8}' in written["diff"]
        wired = {(u.seat, u.mic) for u in load_config(hall.hall_file).units if u.mic}
        assert wired == {(n, UnitRef(MICS, n)) for n in range(1, SEATS + 1)}


async def test_commissioning_is_refused_while_a_vote_or_attendance_is_open(
    tmp_path: Path,
) -> None:
    async with (
        commission_hall(tmp_path) as hall,
        hall.client(language="vi") as tech,
        hall.client(Role.CHAIR) as chair,
    ):
        runtime = hall.daemon.runtime
        await _open_vote(hall, chair, "v1")
        driver = next(d for d in runtime.drivers if d.name == KEYPADS)
        for path, body in (("scan", {}), ("assign", None), ("identify", {"address": 1})):
            refused = await tech.post(f"/api/commission/{KEYPADS}/{path}", json=body)
            assert refused.status_code == 409, refused.text
            problem = refused.json()
            assert (problem["code"], problem["params"]) == (
                "commission.vote_open",
                {"line": KEYPADS},
            )
            assert problem["detail"] == (
                "Đang có cuộc biểu quyết: không thể nghiệm thu đường keypads-1 lúc này."
            )
        assert next(d for d in runtime.drivers if d.name == KEYPADS) is driver  # untouched
        await _ok(await chair.post("/api/votes/v1/close"))
        await _ok(await chair.post("/api/attendance/open", json={}))
        refused = await tech.post(
            f"/api/commission/{MICS}/scan", json={}, headers={"Accept-Language": "en"}
        )
        assert refused.json()["code"] == "commission.attendance_open"
        assert (
            refused.json()["detail"] == "attendance is open: line mics-1 cannot be commissioned now"
        )

        # Roles and unknown lines.
        async with httpx.AsyncClient(base_url=hall.daemon.url) as anonymous:
            assert (await anonymous.get(f"/api/commission/{KEYPADS}")).status_code == 401
        missing = await tech.get("/api/commission/keypads-9")
        assert (missing.status_code, missing.json()["code"]) == (404, "commission.line_not_found")


async def test_no_vote_or_attendance_opens_while_a_line_is_released(tmp_path: Path) -> None:
    """The other half of the refusal above: while a line is handed to commissioning, its
    units are not driven, so the chair cannot open what would ask them for presses."""
    async with (
        commission_hall(tmp_path) as hall,
        hall.client(Role.CHAIR, language="vi") as chair,
    ):
        runtime = hall.daemon.runtime
        await hall.until(lambda: any(d.name == KEYPADS for d in runtime.drivers))
        opened = {"sitting_id": "k1", "title": "Kỳ họp 1"}
        await _ok(await chair.post("/api/sitting/open", json=opened))
        for seat in range(1, SEATS + 1):
            runtime.feed(PresenceChanged(at=hall.clock.now(), seat=seat, present=True))
        body = {"vote_id": "v1", "title": "Nghị quyết", "duration_s": 600}
        await _ok(await chair.post("/api/votes", json=body))
        async with runtime.line_released(KEYPADS):
            for path, payload in (("/api/votes/v1/open", None), ("/api/attendance/open", {})):
                refused = await chair.post(path, json=payload)
                assert refused.status_code == 409, refused.text
                problem = refused.json()
                assert (problem["code"], problem["params"]) == (
                    "commission.line_released",
                    {"line": KEYPADS},
                )
                assert problem["detail"] == (
                    "Đường keypads-1 đang được nghiệm thu: chưa thể mở biểu quyết hay điểm danh."
                )
            assert runtime.core.active_vote is None
        await _ok(await chair.post("/api/votes/v1/open"))
        assert runtime.core.active_vote is not None
