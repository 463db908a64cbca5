"""The technician finds a broken unit: the triage in the view and the API, acknowledging a
fault, identifying a unit, the forced microphones; on the 50-seat council's simulator."""

from __future__ import annotations

import asyncio
from typing import Any

from chamber.controller.auth import Role
from chamber.controller.journal import Journal
from tests.e2e.conftest import Council
from tests.e2e.hall import WAIT_S, post, state

LINE = "keypads-1"


def _fault(st: dict[str, Any], fid: str) -> dict[str, Any] | None:
    return next((f for f in st["triage"]["faults"] if f["id"] == fid), None)


async def test_a_cold_start_has_no_restart_and_every_unit_is_in_the_triage(
    hall: Council,
) -> None:
    st = await hall.wait(lambda st: all(u["online"] for u in st["health"]["units"]))
    triage = st["triage"]
    units = {f"{u['line']}/{u['address']}" for u in st["health"]["units"]}
    assert sorted(triage["units"]) == sorted(units)
    assert [f for f in triage["faults"] if f["kind"] == "restart"] == []
    assert all(u["reboots"] == 0 for u in st["health"]["units"])
    lines = {s["line"]: s for s in triage["lines"]}
    assert {LINE, "keypads-2", "mics-1", "mics-2"} <= set(lines)
    assert all(s["online"] == s["total"] for s in lines.values())
    async with hall.rig.client(Role.TECHNICIAN) as tech:
        r = await tech.get("/api/triage")
        assert r.status_code == 200, r.text
        assert sorted(r.json()["units"]) == sorted(units)
    async with hall.rig.client(Role.OBSERVER) as observer:
        assert (await observer.get("/api/triage")).status_code == 403
        assert "triage" not in (await observer.get("/api/state")).json()["state"]


async def test_a_silent_unit_comes_first_its_fault_is_acknowledged_and_clears(
    hall: Council,
) -> None:
    sim = hall.rig.sim
    ref = sim.unit_ref(8)
    key = f"{LINE}/{ref.address}"
    fid = f"{key}/offline"
    sim.faults.silence(ref)
    st = await hall.wait(lambda st: (_fault(st, fid) or {}).get("active") is True)
    assert st["triage"]["units"][0] == key
    assert st["triage"]["lines"][0]["line"] == LINE
    fault = _fault(st, fid)
    assert fault is not None
    assert (fault["seat"], fault["acknowledged"]) == (8, False)
    assert fault["first_at"] <= st["now"]

    async with hall.rig.client(Role.TECHNICIAN) as tech:
        r = await tech.post("/api/faults/ack", json={"id": fid})
        assert r.status_code == 200, r.text
        assert r.json()["fault"]["acknowledged"] is True
        missing = await tech.post("/api/faults/ack", json={"id": "nowhere/1/offline"})
        assert missing.status_code == 404
    async with hall.rig.client(Role.OBSERVER) as observer:
        assert (await observer.post("/api/faults/ack", json={"id": fid})).status_code == 403
    st = await state(hall.chair)
    assert (_fault(st, fid) or {}).get("acknowledged") is True  # kept, marked
    with Journal.open(hall.rig.journal_path) as journal:
        acks = [r for _, r in journal.records() if r["kind"] == "fault-ack"]
    assert [(a["fault"], a["since"]) for a in acks] == [(fid, fault["first_at"])]

    sim.faults.silence(ref, False)
    await hall.wait(lambda st: _fault(st, fid) is None)  # seen, and over: gone


async def test_identify_blinks_a_keypad_a_mic_unit_and_an_ip_unit_not_an_older_one(
    hall: Council,
) -> None:
    sim = hall.rig.sim
    ref = sim.unit_ref(3)
    keypad = sim.keypad_lines[ref.line].units[ref.address]
    mic_ref = sim.unit_ref(3, "mic")
    mic = sim.mic_lines[mic_ref.line].units[mic_ref.address]
    now = asyncio.get_running_loop().time
    async with hall.rig.client(Role.TECHNICIAN) as tech:
        r = await tech.post(f"/api/units/{ref.line}/{ref.address}/identify", json={"seconds": 20})
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["seat"], r.json()["kind"]) == ("started", 3, "keypad")
        assert keypad.blinking(now())
        r = await tech.post(f"/api/units/{mic_ref.line}/{mic_ref.address}/identify", json={})
        assert r.status_code == 200, r.text
        assert r.json()["seconds"] == 10
        assert mic.blinking(now())
        # An IP unit of contract 1.3 names identify on unit/features and blinks.
        ip_seat = min(sim.ip_units)
        ip = sim.ip_units[ip_seat]
        took = len(ip.commands)
        r = await tech.post(f"/api/units/mqtt/{ip_seat}/identify", json={"seconds": 5})
        assert r.status_code == 200, r.text
        assert (r.json()["kind"], r.json()["seat"]) == ("ip", ip_seat)
        async with asyncio.timeout(WAIT_S):
            await ip.wait_commands(took + 1)
        assert ip.blinking(now())
        # One of 1.2 names none: it is sent nothing, and the technician is told why.
        old_seat = max(sim.ip_units)
        old = sim.ip_units[old_seat]
        old.install_firmware((1, 2))
        await hall.wait(
            lambda st: any(
                u["line"] == "mqtt" and u["address"] == old_seat and u["reboots"] == 1
                for u in st["health"]["units"]
            )
        )
        await hall.wait(
            lambda st: any(
                u["line"] == "mqtt" and u["address"] == old_seat and u["online"]
                for u in st["health"]["units"]
            )
        )
        r = await tech.post(f"/api/units/mqtt/{old_seat}/identify", json={"seconds": 5})
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "identify.not_supported"
        assert not old.blinking(now())
        r = await tech.post(f"/api/units/{ref.line}/240/identify", json={"seconds": 5})
        assert r.status_code == 404
        assert r.json()["code"] == "unit.not_found"
        r = await tech.post(f"/api/units/{ref.line}/{ref.address}/identify", json={"seconds": 256})
        assert r.status_code == 422
    async with hall.rig.client(Role.SECRETARY) as secretary:
        r = await secretary.post(f"/api/units/{ref.line}/{ref.address}/identify", json={})
        assert r.status_code == 403


async def test_a_forced_microphone_is_listed(hall: Council) -> None:
    async with hall.rig.client(Role.TECHNICIAN) as tech:
        await post(tech, "/api/seats/5/mic", {"on": True})
    st = await hall.wait(lambda st: bool(st["triage"]["forced_mics"]))
    assert [m["seat"] for m in st["triage"]["forced_mics"]] == [5]
    async with hall.rig.client(Role.TECHNICIAN) as tech:
        await post(tech, "/api/seats/5/mic", {"on": False})
    await hall.wait(lambda st: not st["triage"]["forced_mics"])
