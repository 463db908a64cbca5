"""Keypad contract 1.3, section 3.8: the address and select blocks, on the codec's unit model.

Round trips of both blocks (hypothesis), the unit model's rules (broadcast only, whole block
or nothing, a restart ends a selection, a 1.2 unit has neither block), and the property the
commissioning procedure rests on: in every selection round each unit answers in exactly one
slot, so a round's slots together hear every unit once.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.pdu import ExceptionResponse
from pymodbus.pdu.register_message import WriteMultipleRegistersRequest

from chamber.controller.commission import Found, Kind, Scan, plan_addresses
from chamber.protocols import keypad as kp

serials = st.text(alphabet=string.ascii_uppercase + string.digits + "-", min_size=1, max_size=16)
addresses = st.integers(kp.FIRST_UNIT, kp.LAST_UNIT)


def _unit(serial: str, version: tuple[int, int] = kp.PROTOCOL_VERSION) -> kp.KeypadRegisters:
    return kp.KeypadRegisters(kp.Identity(3, "m", serial, protocol_version=version))


@given(serials, addresses)
def test_the_address_block_round_trips(serial: str, address: int) -> None:
    assignment = kp.AddressAssignment(serial, address)
    assert kp.decode_address(kp.encode_address(assignment)) == assignment


@given(st.integers(1, kp.SELECT_SLOTS_MAX), st.integers(0, 255), st.data())
def test_the_select_block_round_trips(slots: int, nonce: int, data: st.DataObject) -> None:
    selection = kp.Selection(slots, nonce, data.draw(st.integers(0, slots - 1)))
    assert kp.decode_select(kp.encode_select(selection)) == selection


@given(st.lists(serials, min_size=1, max_size=12, unique=True), st.integers(0, 255))
def test_every_unit_answers_in_exactly_one_slot_of_a_round(names: list[str], nonce: int) -> None:
    units = [_unit(s) for s in names]
    slots = 16
    heard: list[str] = []
    for slot in range(slots):
        request = kp.select_request(kp.Selection(slots, nonce, slot))
        for unit in units:
            assert unit.handle(request) is None  # a broadcast: no reply
        heard += [u.identity.serial_number for u in units if not u.silenced()]
    assert sorted(heard) == sorted(names)
    end = kp.select_request(kp.Selection())
    for unit in units:
        unit.handle(end)
    assert not any(u.silenced() for u in units)


@given(st.lists(serials, min_size=2, max_size=2, unique=True), addresses)
def test_only_the_unit_with_the_serial_takes_the_address(pair: list[str], address: int) -> None:
    unit, stranger = _unit(pair[0]), _unit(pair[1])
    request = kp.set_address_request(pair[0], address)
    assert unit.handle(request) is None
    assert stranger.handle(request) is None
    assert (unit.taken_address, stranger.taken_address) == (address, None)


def test_addressed_writes_are_refused_and_change_nothing() -> None:
    unit = _unit("KP-1")
    for block, values in (
        (kp.ADDRESS, kp.encode_address(kp.AddressAssignment("KP-1", 9))),
        (kp.SELECT, kp.encode_select(kp.Selection(4, 1, 0))),
    ):
        request = WriteMultipleRegistersRequest(address=block.start, registers=values, dev_id=5)
        reply = unit.handle(request)
        assert isinstance(reply, ExceptionResponse)
        assert reply.exception_code == kp.ExceptionCode.ILLEGAL_DATA_ADDRESS
    assert unit.taken_address is None
    assert unit.selection == kp.Selection()


def test_a_partial_or_out_of_range_broadcast_is_ignored() -> None:
    unit = _unit("KP-1")
    values = kp.encode_address(kp.AddressAssignment("KP-1", 9))
    partial = WriteMultipleRegistersRequest(
        address=kp.ADDRESS.start, registers=values[:-1], dev_id=kp.BROADCAST
    )
    zero = WriteMultipleRegistersRequest(
        address=kp.ADDRESS.start, registers=[*values[:-1], 0], dev_id=kp.BROADCAST
    )
    bad_slot = WriteMultipleRegistersRequest(
        address=kp.SELECT.start, registers=[4, 1, 4], dev_id=kp.BROADCAST
    )
    for request in (partial, zero, bad_slot):
        assert unit.handle(request) is None
    assert unit.taken_address is None
    assert unit.selection == kp.Selection()


def test_a_restart_ends_a_selection() -> None:
    unit = _unit("KP-1")
    slot = kp.select_slot("KP-1", 7, 8)
    unit.handle(kp.select_request(kp.Selection(8, 7, (slot + 1) % 8)))
    assert unit.silenced()
    unit.restart()
    assert not unit.silenced()


def test_a_1_2_unit_has_neither_block() -> None:
    unit = _unit("KP-1", (1, 2))
    assert not unit.identity.addressable
    unit.handle(kp.set_address_request("KP-1", 9))
    unit.handle(kp.select_request(kp.Selection(8, 7, (kp.select_slot("KP-1", 7, 8) + 1) % 8)))
    assert unit.taken_address is None
    assert not unit.silenced()


def test_usage_errors_are_typed() -> None:
    with pytest.raises(kp.KeypadUsageError):
        kp.set_address_request("", 5)
    with pytest.raises(kp.KeypadUsageError):
        kp.set_address_request("KP-1", 248)
    with pytest.raises(kp.KeypadUsageError):
        kp.Selection(8, 1, 8)
    with pytest.raises(kp.KeypadUsageError):
        kp.select_slot("KP-1", 1, 65)


def _found(address: int, serial: str) -> Found:
    return Found(Kind.KEYPAD, address, serial, "1.0.0", ())


@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, 5, kp.FACTORY_ADDRESS]), serials), max_size=30))
def test_a_plan_leaves_every_unit_with_an_address_of_its_own(
    units: list[tuple[int, str]],
) -> None:
    units = list({serial: (address, serial) for address, serial in units}.values())
    scan = Scan("keypads-1", [_found(a, s) for a, s in units])
    plan = plan_addresses(scan, Kind.KEYPAD, kp.LAST_UNIT)
    moved = {step.serial: step.new for step in plan}
    final = [moved.get(s, a) for a, s in units]
    assert len(final) == len(set(final))
    assert kp.FACTORY_ADDRESS not in final
    # A unit alone at its address, or the lowest serial of a duplicate, keeps it.
    for address, serial in units:
        sharing = sorted(s for a, s in units if a == address)
        if address != kp.FACTORY_ADDRESS and sharing[0] == serial:
            assert serial not in moved
