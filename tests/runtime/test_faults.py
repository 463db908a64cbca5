"""The fault list: one fault per line or unit and kind, with its times, acknowledged by a
technician, kept until it clears; never one entry per health report."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.faults import (
    ERRORS_QUIET_S,
    FaultBook,
    FaultKind,
    UnknownFault,
    fault_id,
)
from chamber.drivers.base import LineHealth, UnitHealth, UnitKind

UNIT = UnitHealth("keypads-1", 4, 12, UnitKind.KEYPAD, online=True)


def kinds(book: FaultBook) -> dict[str, bool]:
    return {f.id: f.active for f in book.faults()}


def test_a_lost_unit_is_one_fault_with_its_time_until_it_answers_and_is_seen() -> None:
    book = FaultBook()
    assert book.observe(UNIT, 1.0) is False  # healthy: nothing to say
    lost = replace(UNIT, online=False, timeouts=3)
    assert book.observe(lost, 5.0)
    assert not book.observe(lost, 6.0)  # the same condition again: no new entry
    (fault,) = book.faults()
    assert (fault.id, fault.kind, fault.first_at, fault.count, fault.active) == (
        "keypads-1/4/offline",
        FaultKind.OFFLINE,
        5.0,
        1,
        True,
    )
    assert (fault.seat, fault.unit_kind, fault.detail) == (12, "keypad", "lost")
    # Back: cleared, but kept until the technician has seen it.
    book.observe(replace(lost, online=True), 9.0)
    assert kinds(book) == {"keypads-1/4/offline": False}
    seen = book.acknowledge("keypads-1/4/offline", 10.0)
    assert seen.acknowledged_at == 10.0
    assert book.faults() == []
    with pytest.raises(UnknownFault):
        book.acknowledge("keypads-1/4/offline", 11.0)


def test_an_acknowledged_fault_stays_marked_until_it_clears_and_a_new_one_is_new() -> None:
    book = FaultBook()
    book.observe(UNIT, 0.0)
    book.observe(replace(UNIT, online=False), 1.0)
    book.acknowledge(fault_id("keypads-1", 4, FaultKind.OFFLINE), 2.0)
    (fault,) = book.faults()
    assert fault.acknowledged_at == 2.0
    assert fault.active
    book.observe(UNIT, 3.0)
    assert book.faults() == []  # seen, and over
    book.observe(replace(UNIT, online=False), 4.0)
    (again,) = book.faults()
    assert (again.first_at, again.acknowledged_at) == (4.0, None)


def test_errors_are_counted_in_one_fault_that_clears_when_quiet() -> None:
    book = FaultBook()
    book.observe(UNIT, 0.0)
    for i in range(1, 6):
        book.observe(replace(UNIT, timeouts=i, crc_errors=i), float(i))
    (fault,) = book.faults()
    assert (fault.kind, fault.count, fault.first_at, fault.last_at) == (
        FaultKind.ERRORS,
        10,
        1.0,
        5.0,
    )
    assert fault.detail == ""
    assert not book.expire(5.0 + ERRORS_QUIET_S - 1)
    assert book.expire(5.0 + ERRORS_QUIET_S)
    assert kinds(book) == {"keypads-1/4/errors": False}


def test_restarts_and_lost_events_are_events_shown_until_seen() -> None:
    book = FaultBook()
    book.observe(UNIT, 0.0)
    book.observe(replace(UNIT, reboots=1), 1.0)
    book.observe(replace(UNIT, reboots=2, lost_events=3), 2.0)
    faults = {f.kind: f for f in book.faults()}
    assert faults[FaultKind.RESTART].count == 2
    assert faults[FaultKind.LOST_EVENTS].count == 3
    assert not any(f.active for f in faults.values())
    book.acknowledge(faults[FaultKind.RESTART].id, 3.0)
    assert [f.kind for f in book.faults()] == [FaultKind.LOST_EVENTS]


def test_a_line_down_a_unit_that_never_answered_and_an_older_contract() -> None:
    book = FaultBook()
    book.observe(LineHealth("mics-1", connected=False, detail="no such port"), 0.0)
    silent = UnitHealth("mics-1", 3, 7, UnitKind.MIC, online=False, timeouts=3)
    book.observe(silent, 1.0)
    old = UnitHealth(
        "keypads-1", 2, 2, UnitKind.KEYPAD, online=True, contract="1.1", contract_state="older"
    )
    book.observe(old, 2.0)
    assert [f.id for f in book.faults()] == [
        "mics-1/-/line-down",
        "mics-1/3/offline",
        "keypads-1/2/contract",
    ]
    assert book.get("mics-1/3/offline").detail == "never answered"
    book.observe(LineHealth("mics-1", connected=True), 3.0)
    assert not book.get("mics-1/-/line-down").active


REPORTS = st.lists(
    st.tuples(
        st.sampled_from([1, 2]),
        st.booleans(),
        st.integers(0, 3),
        st.integers(0, 2),
        st.sampled_from(["", "boot went back"]),
    ),
    max_size=40,
)


@given(REPORTS, st.lists(st.integers(0, 5), max_size=10))
def test_the_list_holds_one_entry_per_unit_and_kind_whatever_comes(
    reports: list[tuple[int, bool, int, int, str]], acks: list[int]
) -> None:
    book = FaultBook()
    state = {
        1: UnitHealth("l", 1, 1, UnitKind.IP, True),
        2: UnitHealth("l", 2, 2, UnitKind.IP, True),
    }
    for now, (address, online, errors, reboots, fault) in enumerate(reports):
        h = state[address]
        h = replace(
            h,
            online=online,
            timeouts=h.timeouts + errors,
            reboots=h.reboots + reboots,
            fault=fault,
            refused_events=h.refused_events + int(bool(fault)),
        )
        state[address] = h
        before = book.faults()
        # What observe says changed is what changed.
        assert book.observe(h, float(now)) == (book.faults() != before)
        for i in acks:
            listed = book.faults()
            if i < len(listed):
                book.acknowledge(listed[i].id, float(now))
        ids = [f.id for f in book.faults()]
        assert len(ids) == len(set(ids))
        # Nothing is kept that is both seen and over.
        assert not [f for f in book.faults() if f.acknowledged_at is not None and not f.active]
        for f in book.faults():
            assert f.first_at <= f.last_at <= now
            assert f.count >= 1
