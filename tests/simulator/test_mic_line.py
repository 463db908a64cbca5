"""Simulated microphone units on an RS-485 line, checked with the mic codec as the master."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from chamber.protocols import micunit
from chamber.simulator.delegates import MicScript, PressKind
from chamber.simulator.hall import SimulatedHall
from tests.simulator.conftest import SerialMaster, small_hall

LINE = "mics-1"
WINDOW = micunit.TIMING.response_timeout_s


def _decoder() -> micunit.MicStreamDecoder:
    return micunit.MicStreamDecoder()


@pytest.fixture
async def hall() -> AsyncIterator[SimulatedHall]:
    async with SimulatedHall(small_hall(), wire_time=False, seed=5) as h:
        yield h


@pytest.fixture
async def master(hall: SimulatedHall) -> AsyncIterator[SerialMaster]:
    decoder = _decoder()

    def decode(data: bytes) -> list[object]:
        decoder.receive_data(data)
        return list(decoder.events())

    m = SerialMaster(hall.daemon_config().line(LINE).device or "", decode)
    yield m
    m.close()


async def _poll(
    master: SerialMaster, address: int, ack: int = 0, *, boot_seen: bool = False
) -> micunit.Status:
    poll = micunit.Poll(address=address, ack_seq=ack, boot_seen=boot_seen)
    reply = await master.exchange(micunit.encode(poll))
    assert isinstance(reply, micunit.Status), reply
    return reply


async def test_request_is_reported_until_acknowledged(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    first = await _poll(master, 2)
    assert first.boot
    assert first.events == ()
    assert not (await _poll(master, 2, boot_seen=True)).boot
    press = hall.mic_request(2)
    assert press.kind is PressKind.MIC_REQUEST
    assert not press.refused
    status = await _poll(master, 2)
    assert [(e.seq, e.kind) for e in status.events] == [
        (press.seq, micunit.UnitEvent.REQUEST_PRESSED)
    ]
    again = await _poll(master, 2)
    assert again.events == status.events  # a lost reply loses nothing
    acked = await _poll(master, 2, ack=press.seq)
    assert acked.events == ()


async def test_commands_are_applied_and_acknowledged(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    reply = await master.exchange(micunit.encode(micunit.SetMic(address=3, on=True)))
    assert isinstance(reply, micunit.Ack)
    ring = micunit.SetRing(address=3, state=micunit.RingState.QUEUED, position=4)
    assert isinstance(await master.exchange(micunit.encode(ring)), micunit.Ack)
    status = await _poll(master, 3)
    assert status.mic_on
    assert status.ring is micunit.RingState.QUEUED
    assert status.position == 4
    unit = hall.mic_lines[LINE].units[3]
    assert unit.state.live


async def test_broadcast_switches_every_delegate_mic_off(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    for address in (1, 2):
        await master.exchange(micunit.encode(micunit.SetMic(address=address, on=True)))
    off = micunit.Broadcast(op=micunit.BroadcastOp.ALL_MICS_OFF)
    # A broadcast has no answer; the next poll shows its effect.
    assert await master.expect_silence(micunit.encode(off), WINDOW)
    units = hall.mic_lines[LINE].units
    assert units[1].state.mic_on  # seat 1 is the chair: exempt
    assert not units[2].state.mic_on
    assert not (await _poll(master, 2)).mic_on


async def test_unknown_address_is_silent(master: SerialMaster) -> None:
    assert await master.expect_silence(micunit.encode(micunit.Poll(address=200)), WINDOW)


async def test_reboot_sets_boot_and_empties_the_queue(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    await _poll(master, 4)
    seen = await master.exchange(micunit.encode(micunit.Poll(address=4, boot_seen=True)))
    assert isinstance(seen, micunit.Status)
    assert not (await _poll(master, 4)).boot
    hall.mic_request(4)
    hall.reboot(4, unit="mic")
    status = await _poll(master, 4)
    assert status.boot
    assert status.events == ()


async def test_discover_answers_in_slots(hall: SimulatedHall, master: SerialMaster) -> None:
    master.send(micunit.encode(micunit.Discover(slots=16, nonce=9, unseen_only=False)))
    serials = set()
    for _ in hall.mic_lines[LINE].units:
        reply = await master.next_reply()
        assert isinstance(reply, micunit.DiscoverReply)
        serials.add(reply.serial)
    assert serials == {u.serial for u in hall.mic_lines[LINE].units.values()}


async def test_mic_requests_polled_with_acks_match_the_ground_truth(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    units = hall.mic_lines[LINE].units
    seat_of = {a: u.seat for a, u in units.items()}
    plan = MicScript(request=1.0, within_s=0.1, cancel=0.5, cancel_after_s=0.02).plan(
        sorted(seat_of.values()), random.Random(8)
    )
    acked = dict.fromkeys(units, 0)
    seen: list[tuple[int, micunit.UnitEvent, int]] = []

    async def poll_all() -> None:
        for address in units:
            status = await _poll(master, address, ack=acked[address])
            for event in status.events:
                if micunit.seq_is_newer(event.seq, acked[address]):
                    seen.append((seat_of[address], event.kind, event.seq))
                    acked[address] = event.seq

    presses = asyncio.create_task(hall.perform(plan))
    while not presses.done():
        await poll_all()
    await presses
    await poll_all()
    kinds = {
        micunit.UnitEvent.REQUEST_PRESSED: PressKind.MIC_REQUEST,
        micunit.UnitEvent.CANCEL_PRESSED: PressKind.MIC_CANCEL,
    }
    truth = sorted((p.seat, p.kind, p.seq) for p in hall.truth.presses)
    assert sorted((seat, kinds[kind], seq) for seat, kind, seq in seen) == truth
    assert len(truth) == len(plan)


async def test_a_restarted_unit_keeps_a_press_that_an_old_ack_names(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    """mic_unit.md examples E23-E25: the ack of the previous run does not drop event 1 of
    the new run; the POLL with boot_seen does."""
    await _poll(master, 4)
    await _poll(master, 4, boot_seen=True)
    first = hall.mic_request(4)
    assert [e.seq for e in (await _poll(master, 4)).events] == [first.seq] == [1]
    hall.mic_lines[LINE].reboot_before_next(4, micunit.UnitEvent.REQUEST_PRESSED)
    stale = await _poll(master, 4, ack=first.seq)
    assert stale.boot
    assert [(e.seq, e.kind) for e in stale.events] == [(1, micunit.UnitEvent.REQUEST_PRESSED)]
    assert [p.seq for p in hall.truth.presses] == [1, 1]
    seen = await _poll(master, 4, ack=1, boot_seen=True)
    assert not seen.boot
    assert seen.events == ()
