"""The mic-unit line driver against a line of emulated units on a real pty pair."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from chamber.controller.config import Line, LineKind
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import MicSwitch, RingShow, RingState
from chamber.controller.core.inputs import (
    ChairPriority,
    Input,
    MicRequest,
    TalkButton,
    UnitRestarted,
)
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.mic_line import MicLine, Reconnect
from chamber.protocols import micunit as mic
from chamber.simulator.hall import SimulatedHall
from tests.drivers.conftest import PtyPair, Recorder, losses
from tests.drivers.mic_units import MicUnits
from tests.simulator.conftest import small_hall

# address -> seat
UNITS = {1: 101, 2: 102, 3: 103}


@dataclass
class Rig:
    line: MicLine
    units: MicUnits
    inputs: Recorder[Input]
    health: Recorder[UnitHealth | LineHealth]


@pytest.fixture
async def rig(pty_pair: PtyPair) -> AsyncIterator[Rig]:
    units = MicUnits(pty_pair.unit, list(UNITS))
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    line = MicLine(
        Line("mic1", LineKind.MIC_SERIAL, pty_pair.master, 115200, None, None),
        UNITS,
        FakeClock(50.0),
        inputs,
        health,
    )
    task = asyncio.create_task(line.run())
    try:
        await health.wait_for(lambda items: all(online(items, s) for s in UNITS.values()))
        yield Rig(line, units, inputs, health)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        units.close()


def online(items: list[UnitHealth | LineHealth], seat: int) -> bool:
    last = [h for h in items if isinstance(h, UnitHealth) and h.seat == seat]
    return bool(last) and last[-1].online


def unit_health(rig: Rig, seat: int) -> UnitHealth:
    return next(h for h in rig.line.health() if isinstance(h, UnitHealth) and h.seat == seat)


async def test_each_key_event_becomes_one_input(rig: Rig) -> None:
    rig.units.press(2, mic.UnitEvent.REQUEST_PRESSED)
    rig.units.press(2, mic.UnitEvent.TALK_PRESSED)
    rig.units.press(1, mic.UnitEvent.PRIORITY_PRESSED)
    await rig.inputs.wait_for(lambda items: len(items) >= 3)
    # Acknowledged: the units' queues empty, and later polls bring nothing twice.
    await rig.units.wait_until(lambda: not rig.units.units[2].events)
    rig.units.press(3, mic.UnitEvent.CANCEL_PRESSED)
    await rig.inputs.wait_for(lambda items: len(items) >= 4)
    got = [(type(i).__name__, getattr(i, "seat", None)) for i in rig.inputs.items]
    assert sorted(got[:3]) == [
        ("ChairPriority", 101),
        ("MicRequest", 102),
        ("TalkButton", 102),
    ]
    assert got[3] == ("MicCancel", 103)
    assert all(i.at == 50.0 for i in rig.inputs.items)
    assert rig.inputs.of_type(TalkButton)[0].held is True
    assert rig.inputs.of_type(ChairPriority)[0].held is True
    assert len(rig.inputs.of_type(MicRequest)) == 1


async def test_commands_are_written_and_broadcast(rig: Rig) -> None:
    rig.line.send(MicSwitch(102, on=True))
    rig.line.send(RingShow(103, RingState.QUEUED, 2))
    await rig.units.wait_until(
        lambda: rig.units.mic_on(2) and rig.units.units[3].ring is mic.RingState.QUEUED
    )
    assert rig.units.units[3].position == 2
    rig.line.send(MicSwitch(None, on=False))
    await rig.units.wait_until(lambda: not rig.units.mic_on(2))
    assert any(
        isinstance(m, mic.Broadcast) and m.op is mic.BroadcastOp.ALL_MICS_OFF
        for m in rig.units.heard
    )


async def test_a_refused_command_is_not_sent_again_for_the_same_state(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chamber.drivers")
    rig.units.refuse[2] = mic.Command.SET_MIC  # a unit that NAKs SET_MIC

    def heard(kind: type[mic.MicMessage]) -> int:
        return sum(1 for m in rig.units.heard if isinstance(m, kind) and m.address == 2)

    polls, sets = heard(mic.Poll), heard(mic.SetMic)
    rig.line.send(MicSwitch(102, on=True))
    # Twenty polls of the unit later (a second of the line), its STATUS still differs from
    # the mirror, and the refused command went out once, logged once.
    await rig.units.wait_until(lambda: heard(mic.Poll) >= polls + 20)
    assert heard(mic.SetMic) == sets + 1
    naks = [r for r in caplog.records if getattr(r, "event", "") == "unit-nak"]
    assert len(naks) == 1
    assert unit_health(rig, 102).online
    # Another state is another command: off needs nothing (the unit is off), on again is sent.
    rig.line.send(MicSwitch(102, on=False))
    rig.line.send(MicSwitch(102, on=True))
    await rig.units.wait_until(lambda: heard(mic.SetMic) == sets + 2)
    # A restart may have brought new firmware: the state is sent again.
    rig.units.refuse.clear()
    rig.units.restart(2)
    await rig.units.wait_until(lambda: rig.units.mic_on(2))


async def test_heartbeats_tell_the_units_whether_a_sitting_is_open(rig: Rig) -> None:
    def last_heartbeat() -> mic.Heartbeat | None:
        beats = [m for m in rig.units.heard if isinstance(m, mic.Heartbeat)]
        return beats[-1] if beats else None

    await rig.units.wait_until(lambda: last_heartbeat() is not None)
    first = last_heartbeat()
    assert first is not None
    assert not first.sitting_open  # no sitting told yet
    rig.line.sitting_changed(True)
    await rig.units.wait_until(lambda: (hb := last_heartbeat()) is not None and hb.sitting_open)
    rig.line.sitting_changed(False)
    await rig.units.wait_until(lambda: (hb := last_heartbeat()) is not None and not hb.sitting_open)


async def test_the_next_speaker_ring_goes_out_as_the_contract_says(rig: Rig) -> None:
    """The floor numbers NEXT as place 1; the wire carries a place for QUEUED only."""
    rig.line.send(RingShow(103, RingState.NEXT, 1))
    rig.line.send(MicSwitch(102, on=True))
    await rig.units.wait_until(
        lambda: rig.units.units[3].ring is mic.RingState.NEXT and rig.units.mic_on(2)
    )
    assert rig.units.units[3].position == 0


async def test_a_restarted_unit_gets_its_state_back(rig: Rig) -> None:
    rig.line.send(MicSwitch(101, on=True))
    rig.line.send(RingShow(101, RingState.LIVE))
    # Out of the boot state it reported at first contact (no restart), then restarted.
    await rig.units.wait_until(lambda: rig.units.mic_on(1) and not rig.units.units[1].boot)
    assert unit_health(rig, 101).reboots == 0
    rig.units.restart(1)
    # Restored, and told so: the unit leaves its boot state only on POLL with boot_seen.
    await rig.units.wait_until(
        lambda: (
            rig.units.mic_on(1)
            and rig.units.units[1].ring is mic.RingState.LIVE
            and not rig.units.units[1].boot
        )
    )
    assert unit_health(rig, 101).reboots == 1


async def test_a_silent_unit_goes_offline_and_the_others_keep_going(rig: Rig) -> None:
    rig.units.silent.add(2)
    await rig.health.wait_for(lambda items: not online(items, 102))
    assert unit_health(rig, 102).timeouts >= mic.TIMING.offline_after_misses
    # The rest of the line still answers presses promptly.
    rig.units.press(3, mic.UnitEvent.REQUEST_PRESSED)
    await rig.inputs.wait_for(lambda items: len(items) == 1, within=1.0)
    rig.units.silent.discard(2)
    await rig.health.wait_for(lambda items: online(items, 102), within=5.0)
    reports = [h.online for h in rig.health.items if isinstance(h, UnitHealth) and h.seat == 102]
    # Reported lost once (not per poll), then back once.
    assert losses(reports) == 1


async def test_a_damaged_reply_counts_a_crc_error(rig: Rig) -> None:
    rig.units.damage_next.add(3)
    await rig.health.wait_for(
        lambda items: any(isinstance(h, UnitHealth) and h.crc_errors for h in items)
    )
    assert unit_health(rig, 103).crc_errors == 1
    assert unit_health(rig, 103).online


async def test_a_socket_line_reconnects_after_the_converter_drops_it() -> None:
    # The line's device is a pyserial URL: an RS-485-to-TCP converter, here a local server.
    units = MicUnits(None, [1])
    connections: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await units.serve_stream(reader, writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    line = MicLine(
        Line("mic2", LineKind.MIC_SERIAL, f"socket://127.0.0.1:{port}", 115200, None, None),
        {1: 7},
        FakeClock(),
        inputs,
        health,
        reconnect=Reconnect(0.05, 0.2),
    )
    task = asyncio.create_task(line.run())
    try:
        await health.wait_for(lambda items: online(items, 7))
        connections[0].close()  # the converter drops the connection
        await health.wait_for(
            lambda items: any(isinstance(h, LineHealth) and not h.connected for h in items)
        )
        await health.wait_for(lambda items: len(connections) == 2)
        units.press(1, mic.UnitEvent.REQUEST_PRESSED)
        await inputs.wait_for(lambda items: len(items) == 1)
        assert inputs.items == [MicRequest(0.0, 7)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.close()
        for writer in connections:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await server.wait_closed()


async def test_a_press_right_after_a_restart_reaches_the_controller_once() -> None:
    """A simulated unit restarts just before the POLL that acknowledges its last press, and
    its delegate presses the request key at once: that POLL's ack_seq names event 1 of the
    old run, which is also the new press's number (mic_unit.md §5.1, examples E23-E25)."""
    async with SimulatedHall(small_hall(), wire_time=False, seed=11) as hall:
        config = hall.daemon_config()
        line_id = next(line.id for line in config.lines if line.kind is LineKind.MIC_SERIAL)
        sim = hall.mic_lines[line_id]
        address, unit = next((a, u) for a, u in sorted(sim.units.items()) if a != 1)
        health: Recorder[UnitHealth | LineHealth] = Recorder()
        requests: Recorder[Input] = Recorder()
        reboots: list[int] = []
        restarts: list[UnitRestarted] = []

        def sink(item: Input) -> None:
            line.settled([item])  # as the runtime does once the input is durable
            if isinstance(item, UnitRestarted):
                restarts.append(item)
                return
            if isinstance(item, MicRequest) and item.seat == unit.seat and not requests.items:
                # The master has the first press; its next POLL to the unit acknowledges it.
                sim.reboot_before_next(address, mic.UnitEvent.REQUEST_PRESSED)
                reboots.append(unit_health_of(line, unit.seat).reboots)
            requests(item)

        line = MicLine.from_config(config, line_id, FakeClock(50.0), sink, health)
        task = asyncio.create_task(line.run())
        try:
            await health.wait_for(lambda items: online(items, unit.seat))
            hall.mic_request(unit.seat)
            await requests.wait_for(
                lambda items: sum(isinstance(i, MicRequest) for i in items) >= 2
            )
            # Acknowledged and restored: the unit holds nothing more that could come again.
            await sim.wait_until(lambda: not unit.state.events and not unit.state.boot)
            assert unit.boots == 2
            assert [type(i) for i in requests.items] == [MicRequest, MicRequest]
            assert [p.seq for p in hall.truth.presses] == [1, 1]
            # Each run of the unit is on record, and each press names its run.
            runs = [r.origin for r in restarts if r.seat == unit.seat]
            assert [r for r in runs if r.startswith("mic:")] == ["mic:1:0", "mic:2:0"]
            # The first run was seen to leave `boot` (the second, restarted before its ack,
            # too once it was told `boot_seen`).
            assert runs[:2] == ["mic:1:0", "micup:1:1"]
            assert [getattr(i, "origin", None) for i in requests.items] == ["mic:1:1", "mic:2:1"]
            assert unit_health_of(line, unit.seat).reboots == reboots[0] + 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def unit_health_of(line: MicLine, seat: int) -> UnitHealth:
    return next(h for h in line.health() if isinstance(h, UnitHealth) and h.seat == seat)


async def start_line(
    line_cfg: Line,
    handle: Callable[[MicLine, Input], None],
    origins: dict[tuple[int, str], str],
) -> tuple[MicLine, asyncio.Task[None]]:
    """A line as the daemon runs it (`hold_acks`), resumed from `origins`; `handle` gets each
    input with the line (to settle it, as the runtime does once it is durable). Returns once
    every unit is online."""
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    line = MicLine(
        line_cfg, UNITS, FakeClock(50.0), lambda item: handle(line, item), health, hold_acks=True
    )
    line.restore_origins(origins)
    task = asyncio.create_task(line.run())
    await health.wait_for(lambda items: all(online(items, s) for s in UNITS.values()))
    return line, task


async def stop_line(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_an_event_is_acknowledged_only_once_settled(pty_pair: PtyPair) -> None:
    """As the daemon runs it (`hold_acks`), a unit keeps an event until its input is durable:
    a controller that dies before then is sent the event again by the unit."""
    units = MicUnits(pty_pair.unit, list(UNITS))
    line_cfg = Line("mic1", LineKind.MIC_SERIAL, pty_pair.master, 115200, None, None)

    async def start(
        presses: Recorder[Input], origins: dict[tuple[int, str], str]
    ) -> tuple[MicLine, asyncio.Task[None]]:
        def handle(line: MicLine, item: Input) -> None:
            if isinstance(item, UnitRestarted):
                line.settled([item])  # a restart's record is durable at once here
            else:
                presses(item)

        return await start_line(line_cfg, handle, origins)

    stop = stop_line

    try:
        first: Recorder[Input] = Recorder()
        _, task = await start(first, {})
        units.press(2, mic.UnitEvent.REQUEST_PRESSED)
        await first.wait_for(lambda items: len(items) == 1)
        # Delivered, never settled: however many polls go by, the unit keeps it.
        polls = polls_heard(units)
        await units.wait_until(lambda: polls_heard(units) >= polls + 3 * len(UNITS))
        assert [e.kind for e in units.units[2].events] == [mic.UnitEvent.REQUEST_PRESSED]
        assert len(first.items) == 1  # and it reached the controller once
        await stop(task)  # the controller dies before the press was durable

        second: Recorder[Input] = Recorder()
        line, task = await start(second, {})
        await second.wait_for(lambda items: len(items) == 1)
        assert isinstance(second.items[0], MicRequest)
        assert second.items[0].seat == UNITS[2]
        line.settled(second.items)
        await units.wait_until(lambda: not units.units[2].events)
        polls = polls_heard(units)
        await units.wait_until(lambda: polls_heard(units) >= polls + 2 * len(UNITS))
        assert len(second.items) == 1
        await stop(task)

        # Journaled, but the controller died before its acknowledgement reached the unit:
        # the next controller resumes from the journal's origin and does not count it again.
        units.press(3, mic.UnitEvent.REQUEST_PRESSED)
        third: Recorder[Input] = Recorder()
        _, task = await start(third, {})
        await third.wait_for(lambda items: len(items) == 1)
        journaled = third.items[0]
        assert isinstance(journaled, MicRequest)
        assert journaled.origin is not None
        assert journaled.origin.startswith("mic:")
        await stop(task)  # never settled here, so never acknowledged: the unit still has it
        assert len(units.units[3].events) == 1
        fourth: Recorder[Input] = Recorder()
        _, task = await start(fourth, {(UNITS[3], "mic"): journaled.origin})
        await units.wait_until(lambda: not units.units[3].events)  # acknowledged at once
        polls = polls_heard(units)
        await units.wait_until(lambda: polls_heard(units) >= polls + 2 * len(UNITS))
        assert fourth.items == []
        await stop(task)
    finally:
        units.close()


def polls_heard(units: MicUnits) -> int:
    return sum(isinstance(m, mic.Poll) for m in units.heard)


async def test_a_restart_recorded_by_a_daemon_that_died_is_not_counted_again(
    pty_pair: PtyPair,
) -> None:
    """A unit restarts; a daemon records the restart and the unit's next press, and dies
    before the unit hears `boot_seen`. The unit still reports `boot` to the next daemon: that
    is the run on record, not another restart, so the press is not journaled again under a
    new run (the torture harness found one such request doubled, seed 37). A restart after
    the unit was seen to leave `boot` is a new run, and its press counts."""
    units = MicUnits(pty_pair.unit, list(UNITS))
    line_cfg = Line("mic1", LineKind.MIC_SERIAL, pty_pair.master, 115200, None, None)
    journal: dict[tuple[int, str], str] = {}  # (seat, origin kind) -> last origin, as kept
    seat = UNITS[2]

    async def start(seen: Recorder[Input], *, settle: bool) -> tuple[MicLine, asyncio.Task[None]]:
        def handle(line: MicLine, item: Input) -> None:
            origin = getattr(item, "origin", None)
            if origin:
                journal[(getattr(item, "seat"), origin.partition(":")[0])] = origin  # noqa: B009
            seen(item)
            if settle or getattr(item, "seat", None) != seat:
                line.settled([item])

        return await start_line(line_cfg, handle, dict(journal))

    stop = stop_line

    def origins(items: list[Input], kind: type[Input]) -> list[str | None]:
        return [
            getattr(i, "origin", None)
            for i in items
            if isinstance(i, kind) and getattr(i, "seat", None) == seat
        ]

    def drained() -> bool:
        """Unit 2 holds no event and no longer reports `boot`."""
        state = units.units[2]
        return not state.events and not state.boot

    try:
        first: Recorder[Input] = Recorder()
        _, task = await start(first, settle=True)
        # First contact: every unit reports `boot`; run 1 is recorded, then confirmed.
        await first.wait_for(lambda items: (seat, "micup") in journal)
        assert journal[(seat, "micup")] == "micup:1:1"
        await stop(task)

        units.restart(2)
        second: Recorder[Input] = Recorder()
        _, task = await start(second, settle=False)  # it dies before anything is settled
        await second.wait_for(lambda items: journal.get((seat, "mic")) == "mic:2:0")
        units.press(2, mic.UnitEvent.REQUEST_PRESSED)
        await second.wait_for(lambda items: bool(origins(items, MicRequest)))
        assert origins(second.items, MicRequest) == ["mic:2:1"]
        await stop(task)
        assert units.units[2].boot
        assert len(units.units[2].events) == 1

        third: Recorder[Input] = Recorder()
        _, task = await start(third, settle=True)
        await units.wait_until(drained)
        await third.wait_for(lambda items: journal.get((seat, "micup")) == "micup:2:1")
        assert origins(third.items, MicRequest) == []
        assert origins(third.items, UnitRestarted) == ["micup:2:1"]
        await stop(task)

        # Seen to leave `boot` in run 2: a restart now is run 3, and its press counts.
        units.restart(2)
        units.press(2, mic.UnitEvent.REQUEST_PRESSED)
        fourth: Recorder[Input] = Recorder()
        _, task = await start(fourth, settle=True)
        await fourth.wait_for(lambda items: bool(origins(items, MicRequest)))
        assert origins(fourth.items, MicRequest) == ["mic:3:1"]
        assert origins(fourth.items, UnitRestarted)[0] == "mic:3:0"
        await stop(task)
    finally:
        units.close()
