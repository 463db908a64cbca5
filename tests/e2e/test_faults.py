"""Votes are counted exactly while the hall's transports fail.

For each fault, every seated delegate votes (a fifth change their mind, as change-until-close
allows; a few never press), the chair closes the vote, and the daemon's result must equal the
simulator's ground truth: the same choice per seat, the same totals, the same "did not vote".
No press a unit took may be lost, none counted twice, and every keypad's LEDs must end up
showing the choice that was counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chamber.simulator.faults import FaultKind, FaultRates
from tests.e2e.conftest import Council, ip_seats, only, seats_on


async def test_one_percent_corrupted_frames(hall: Council) -> None:
    sim = hall.rig.sim
    sim.faults.set_rates(FaultRates(crc=0.01))
    since = await hall.open_vote("nq-01", "Nghị quyết về kế hoạch đầu tư công năm 2027")
    await sim.perform(hall.plan(hall.seats, seed=11))
    expected = await hall.settle("nq-01", since)
    await hall.close_and_check("nq-01", expected)
    st = await hall.wait(lambda st: True)
    injected = sim.faults.injected[FaultKind.CRC]
    assert injected > 0, "the fault rate injected nothing: the test would prove nothing"
    # Damaged replies show in the units' health. (Not compared one for one with what was
    # injected: on a loaded machine a reply arriving after its timeout is heard as a damaged
    # one as well.)
    assert sum(u["crc_errors"] for u in st["health"]["units"] if u["line"] != "mqtt") > 0


async def test_unit_silenced_and_restored_mid_vote(hall: Council) -> None:
    """A keypad that stops answering keeps its presses in its event ring: the one made just
    before it went silent and the one made while it was offline both reach the count."""
    sim = hall.rig.sim
    before_only, before_and_during = 6, 5  # seats on keypads-1
    since = await hall.open_vote("nq-02", "Nghị quyết về phân bổ ngân sách tỉnh")
    others = [s for s in hall.seats if s not in (before_only, before_and_during)]
    plan = hall.plan(others, seed=12)
    voting = asyncio.ensure_future(sim.perform(plan))
    refs = {seat: sim.unit_ref(seat) for seat in (before_only, before_and_during)}
    # Pressed and silenced in the same instant: the daemon cannot have read these yet.
    sim.press(before_only, 3)
    sim.press(before_and_during, 1)
    for ref in refs.values():
        sim.faults.silence(ref)

    def offline(st: dict[str, Any], online: bool = False) -> bool:
        units = hall.health_units(st, "keypads-1")
        return all(units[ref.address]["online"] is online for ref in refs.values())

    await hall.wait(offline)
    sim.press(before_and_during, 2)  # changes their mind while the unit is unreachable
    for ref in refs.values():
        sim.faults.silence(ref, False)
    await hall.wait(lambda st: offline(st, online=True))
    await voting
    expected = await hall.settle("nq-02", since)
    assert expected.choices[before_only] == 3
    assert expected.choices[before_and_during] == 2
    await hall.close_and_check("nq-02", expected)


async def test_line_unplugged_and_replugged_mid_vote(hall: Council) -> None:
    """Presses made while a line's adapter is out are read once it is back (the keypads' rings
    hold up to eight events; nobody here presses more than twice)."""
    sim = hall.rig.sim
    line = "keypads-2"
    on_line = seats_on(hall, line)
    since = await hall.open_vote("nq-03", "Nghị quyết về giá đất")
    plan = hall.plan(hall.seats, seed=13)
    await sim.perform([a for a in plan if a.seat not in on_line])
    await sim.unplug(line)
    await hall.wait(lambda st: (h := hall.health_line(st, line)) is not None and not h["connected"])
    await sim.perform(only(plan, on_line))
    await sim.replug(line)
    await hall.wait(lambda st: (h := hall.health_line(st, line)) is not None and h["connected"])
    expected = await hall.settle("nq-03", since)
    assert set(on_line) & set(expected.choices), "nobody on the unplugged line voted"
    await hall.close_and_check("nq-03", expected)


async def test_broker_restart_mid_vote(hall: Council) -> None:
    """IP seats press before and after a broker restart; duplicated and replayed publications
    must not count twice nor bring an old choice back."""
    sim = hall.rig.sim
    ip = ip_seats(hall)
    since = await hall.open_vote("nq-04", "Nghị quyết về chương trình giám sát năm 2027")
    plan = hall.plan(hall.seats, seed=14)
    await sim.perform([a for a in plan if a.seat not in ip])
    first, second = ip[:3], ip[3:]
    for seat in first:
        sim.press(seat, 1)
    await hall.watch.lit(dict.fromkeys(first, 1), first)  # counted, and on disk
    went_down = False

    def back(st: dict[str, Any]) -> bool:
        nonlocal went_down
        line = hall.health_line(st, "mqtt")
        went_down |= line is not None and not line["connected"]
        return went_down and line is not None and bool(line["connected"])

    waiting = asyncio.ensure_future(hall.wait(back))
    await sim.restart_broker()
    await waiting  # the daemon noticed the broker go and has its session again
    for seat in second:
        sim.press(seat, 3)
    for seat in first:
        sim.press(seat, 2)  # a change of mind after the restart
        assert sim.replay(seat, back=1)  # the older "1" arrives again after the "2"
    for seat in second:
        assert sim.duplicate(seat)
    expected = await hall.settle("nq-04", since)
    assert {seat: expected.choices[seat] for seat in ip} == {
        **dict.fromkeys(first, 2),
        **dict.fromkeys(second, 3),
    }
    assert sim.faults.injected[FaultKind.BROKER_RESTART] == 1
    await hall.close_and_check("nq-04", expected)


async def test_presses_during_a_broker_restart_count(hall: Council) -> None:
    """Presses made as the broker dies, and while it is gone, are kept by the units and count
    once the broker is back: a unit sends a press again, unchanged, until the controller
    confirms it (mqtt.md), so a broker that keeps nothing on disk loses none of them."""
    sim = hall.rig.sim
    ip = ip_seats(hall)
    as_it_dies, while_gone = ip[:3], ip[3:]
    since = await hall.open_vote("nq-05", "Nghị quyết về quy hoạch tỉnh")
    await sim.perform([a for a in hall.plan(hall.seats, seed=15) if a.seat not in ip])

    def mqtt_connected(st: dict[str, Any]) -> bool:
        line = hall.health_line(st, "mqtt")
        return line is not None and bool(line["connected"])

    restart = asyncio.ensure_future(sim.restart_broker())
    await asyncio.sleep(0)  # one loop turn: the broker is being killed
    for seat in as_it_dies:
        sim.press(seat, 2)
    await hall.wait(lambda st: not mqtt_connected(st))
    for seat in while_gone:
        sim.press(seat, 3)
    await restart
    expected = await hall.settle("nq-05", since)
    assert {seat: expected.choices[seat] for seat in ip} == {
        **dict.fromkeys(as_it_dies, 2),
        **dict.fromkeys(while_gone, 3),
    }
    await hall.close_and_check("nq-05", expected)
