"""Simulated keypads on a Modbus RTU line, checked with the keypad codec as the master."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from chamber.protocols import keypad
from chamber.simulator.delegates import VoteScript
from chamber.simulator.hall import SimulatedHall
from tests.simulator.conftest import SerialMaster, small_hall

LINE = "keypads-1"


def _controller_framer() -> keypad.KeypadFramer:
    return keypad.KeypadFramer(keypad.Transport.RTU, keypad.Side.CONTROLLER)


@pytest.fixture
async def hall() -> AsyncIterator[SimulatedHall]:
    async with SimulatedHall(small_hall(), wire_time=False, seed=3) as h:
        yield h


@pytest.fixture
async def master(hall: SimulatedHall) -> AsyncIterator[SerialMaster]:
    framer = _controller_framer()
    m = SerialMaster(hall.daemon_config().line(LINE).device or "", framer.feed)
    yield m
    m.close()


async def _poll(master: SerialMaster, unit: int) -> keypad.KeypadStatus:
    request = keypad.read_status_request(unit)
    reply = await master.exchange(keypad.encode_frame(request))
    assert isinstance(reply, ModbusPDU)
    return keypad.decode_status(reply, unit)


async def test_identity_matches_the_spec(hall: SimulatedHall, master: SerialMaster) -> None:
    request = keypad.read_identity_request(2)
    reply = await master.exchange(keypad.encode_frame(request))
    assert isinstance(reply, ModbusPDU)
    identity = keypad.decode_identity(reply, 2)
    spec = keypad.SPEC
    assert identity.protocol_version == (
        spec["protocol_version"]["major"],
        spec["protocol_version"]["minor"],
    )
    assert identity.unit_type is keypad.UnitType.KEYPAD
    assert identity.key_count == 3
    assert identity.serial_number == "KP-SIM-00002"


async def test_a_press_reaches_the_status_block_once(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    before = await _poll(master, 1)
    assert before.booted
    assert before.locked
    assert before.seq == 0
    # Unlock with three keys, as the controller does when a vote opens.
    tag = 1
    write = keypad.write_outputs_request(1, keypad.KeypadOutputs(locked=False, keys=3), tag)
    await master.exchange(keypad.encode_frame(write))
    press = hall.press(1, 2)
    assert not press.refused
    tracker = keypad.KeypadTracker()
    tracker.wrote(tag)
    tracker.update(before)
    update = tracker.update(await _poll(master, 1))
    assert [(e.key, e.seq) for e in update.events] == [(keypad.Key.NO, press.seq)]
    # Polling again yields nothing new: the ring is not a queue the unit empties.
    assert tracker.update(await _poll(master, 1)).events == ()
    assert hall.truth.presses == (press,)


async def test_locked_keypad_refuses_and_the_truth_says_so(hall: SimulatedHall) -> None:
    press = hall.press(3, 1)
    assert press.refused
    assert hall.truth.expected().totals == {}


async def test_unknown_address_stays_silent(master: SerialMaster) -> None:
    request = keypad.read_status_request(99)
    window = keypad.response_timeout(115200, keypad.read_response_bytes(12))
    assert await master.expect_silence(keypad.encode_frame(request), window)


async def test_unknown_register_gets_the_modbus_exception(master: SerialMaster) -> None:
    request = keypad.read_status_request(1)
    request.address = 0x0500
    reply = await master.exchange(keypad.encode_frame(request))
    assert isinstance(reply, ExceptionResponse)
    assert reply.exception_code == keypad.ExceptionCode.ILLEGAL_DATA_ADDRESS


async def test_broadcast_lock_reaches_every_unit(hall: SimulatedHall, master: SerialMaster) -> None:
    master.send(keypad.encode_frame(keypad.broadcast_vote_request(5, locked=False, keys=3)))
    # A broadcast gets no reply; a poll after it shows the effect on each unit.
    for unit in hall.keypad_lines[LINE].units:
        status = await _poll(master, unit)
        assert not status.locked
        assert status.applied_tag == 5


async def test_presence_sets_the_flag_and_an_event(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    press = hall.set_presence(4, True)
    assert press is not None
    status = await _poll(master, 4)
    assert status.present
    assert status.events[-1].key is keypad.Key.PRESENCE_ON
    assert hall.set_presence(4, True) is None  # already there: no key pressed
    assert hall.truth.present() == {4}


async def test_wire_time_makes_an_exchange_take_line_time() -> None:
    async with SimulatedHall(small_hall(), wire_time=True, seed=3) as hall:
        line = hall.daemon_config().line(LINE)
        framer = _controller_framer()
        master = SerialMaster(line.device or "", framer.feed)
        try:
            request = keypad.encode_frame(keypad.read_status_request(1))
            loop = asyncio.get_running_loop()
            times = []
            for _ in range(20):
                t0 = loop.time()
                await master.exchange(request)
                times.append(loop.time() - t0)
        finally:
            master.close()
        wire = hall.keypad_lines[LINE].wire
        floor = wire.exchange_s(len(request), keypad.read_response_bytes(12))
        times.sort()
        # Never faster than the line; and not much slower at the median (timer granularity).
        assert times[0] >= floor * 0.98
        assert times[len(times) // 2] < floor + 0.01


async def test_polled_events_match_the_ground_truth_exactly() -> None:
    config = small_hall(serial_seats=8, per_line=8)
    async with SimulatedHall(config, wire_time=True, seed=21) as hall:
        framer = _controller_framer()
        master = SerialMaster(hall.daemon_config().line(LINE).device or "", framer.feed)
        try:
            units = sorted(hall.keypad_lines[LINE].units)
            master.send(keypad.encode_frame(keypad.broadcast_vote_request(1, locked=False, keys=3)))
            trackers = {u: keypad.KeypadTracker() for u in units}
            for u in units:
                trackers[u].wrote(1)
                trackers[u].update(await _poll(master, u))
            plan = VoteScript(within_s=0.3, change=0.3, change_after_s=0.05).plan(
                [hall.keypad_lines[LINE].units[u].seat for u in units], random.Random(21)
            )
            counted: dict[int, int] = {}

            async def poll_all() -> None:
                for u in units:
                    for event in trackers[u].update(await _poll(master, u)).events:
                        if event.key.is_voting_key and not event.refused:
                            counted[hall.keypad_lines[LINE].units[u].seat] = int(event.key)

            # Poll while the delegates press, as a controller does, then once more.
            presses = asyncio.create_task(hall.perform(plan))
            while not presses.done():
                await poll_all()
            await presses
            await poll_all()
        finally:
            master.close()
        assert counted == dict(hall.truth.expected().choices)
        assert len(hall.truth.votes()) == len(plan)
