"""Simulated keypads with a card reader (keypad_modbus.md §3.4), read with the keypad codec."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymodbus.pdu import ModbusPDU

from chamber.protocols import keypad
from chamber.simulator.hall import SimulatedHall, SimulatorError
from tests.simulator.conftest import SerialMaster, small_hall

LINE = "keypads-1"
UID = 0x04A1B2C3D4E5F6


@pytest.fixture
async def hall() -> AsyncIterator[SimulatedHall]:
    async with SimulatedHall(small_hall(), wire_time=False, seed=3, card_readers={2}) as h:
        yield h


@pytest.fixture
async def master(hall: SimulatedHall) -> AsyncIterator[SerialMaster]:
    framer = keypad.KeypadFramer(keypad.Transport.RTU, keypad.Side.CONTROLLER)
    m = SerialMaster(hall.daemon_config().line(LINE).device or "", framer.feed)
    yield m
    m.close()


async def _poll(master: SerialMaster, unit: int, *, card: bool) -> keypad.KeypadStatus:
    request = keypad.read_status_request(unit, card=card)
    reply = await master.exchange(keypad.encode_frame(request))
    assert isinstance(reply, ModbusPDU)
    return keypad.decode_status(reply, unit, card=card)


async def test_a_card_sets_card_id_and_presence_and_taking_it_out_clears_both(
    hall: SimulatedHall, master: SerialMaster
) -> None:
    identity = keypad.read_identity_request(2)
    reply = await master.exchange(keypad.encode_frame(identity))
    assert isinstance(reply, ModbusPDU)
    assert keypad.decode_identity(reply, 2).has_card_reader
    press = hall.insert_card(2, "04A1B2C3D4E5F6")
    assert press is not None
    status = await _poll(master, 2, card=True)
    assert status.present
    assert status.card == UID
    assert status.events[-1].key is keypad.Key.PRESENCE_ON
    # Another card put in at once: CARD_ID changes, no new event.
    assert hall.insert_card(2, 0xDEADBEEF) is None
    assert (await _poll(master, 2, card=True)).card == 0xDEADBEEF
    assert hall.remove_card(2) is not None
    status = await _poll(master, 2, card=True)
    assert not status.present
    assert status.card is None
    assert status.events[-1].key is keypad.Key.PRESENCE_OFF
    assert hall.remove_card(2) is None  # no card: nothing taken out
    assert hall.truth.present() == set()


async def test_a_keypad_without_a_reader_refuses_a_card(hall: SimulatedHall) -> None:
    with pytest.raises(SimulatorError, match="no card reader"):
        hall.insert_card(1, UID)
