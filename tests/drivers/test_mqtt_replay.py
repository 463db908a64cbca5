"""Replay protection that a unit cannot reset by itself (firmware_specs/mqtt.md, boot/seq).

A real broker and the real driver; the unit is an aiomqtt client on its own account. Each
test ends with a press that must count: one client's messages arrive in order, so once it is
in, everything before it has been judged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chamber.drivers.base import UnitHealth
from chamber.drivers.mosquitto import Mosquitto, hall_broker
from chamber.protocols import mqtt as wire
from tests.drivers.test_mqtt_durable import (
    HALL,
    SEATS,
    SECRET,
    WAIT_S,
    Controller,
    publish,
    unit_client,
)


@pytest.fixture
async def broker(private_dir: Path) -> AsyncIterator[Mosquitto]:
    async with hall_broker(HALL, SEATS, private_dir / "broker", SECRET) as b:
        yield b


def unit_health(ctl: Controller, seat: int) -> UnitHealth:
    (health,) = [h for h in ctl.driver.health() if isinstance(h, UnitHealth) and h.seat == seat]
    return health


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "") == name]


async def test_a_lower_boot_does_not_reset_the_duplicate_filter(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """A status with boot 0 after presses of boot 7: the old numbers stay refused, presses of
    the lower boot are refused, and that is logged once (a minute) and shown in health."""
    caplog.set_level(logging.WARNING, logger="chamber.drivers.mqtt")
    async with Controller(broker) as ctl, unit_client(broker, 1) as unit:
        await publish(unit, wire.UnitStatus(1, wire.LinkState.ONLINE, boot=7))
        await publish(unit, wire.VoteKey(1, boot=7, seq=1, key=1))
        await publish(unit, wire.VoteKey(1, boot=7, seq=2, key=2))
        await publish(unit, wire.UnitStatus(1, wire.LinkState.ONLINE, boot=0))
        await publish(unit, wire.VoteKey(1, boot=0, seq=1, key=3))
        await publish(unit, wire.VoteKey(1, boot=7, seq=1, key=1))  # counted before
        await publish(unit, wire.VoteKey(1, boot=7, seq=3, key=3))
        await ctl.inputs.wait_for(lambda items: len(items) == 3, WAIT_S)
    assert ctl.origins() == ["ip:7:1", "ip:7:2", "ip:7:3"]
    assert ctl.driver.marks()[1] == (7, 3)
    (line,) = events(caplog, "mqtt-refused")  # the status and the press: one line a minute
    assert getattr(line, "seat", None) == 1
    assert "boot 0" in line.getMessage()
    health = unit_health(ctl, 1)
    assert health.refused_events == 2
    assert health.fault == ""  # cured by the press that counted since


async def test_a_unit_whose_boot_does_not_advance_is_named_once(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """A unit restarts without advancing its boot counter: its new presses reuse counted
    numbers. They cannot count (nothing tells them from replays), but the seat is named in
    the log once and its health says why, until a press counts again."""
    caplog.set_level(logging.WARNING, logger="chamber.drivers.mqtt")
    async with Controller(broker) as ctl, unit_client(broker, 2) as unit:
        await publish(unit, wire.UnitStatus(2, wire.LinkState.ONLINE, boot=5))
        await publish(unit, wire.VoteKey(2, boot=5, seq=1, key=1))
        await publish(unit, wire.VoteKey(2, boot=5, seq=2, key=2))
        await ctl.inputs.wait_for(lambda items: len(items) == 2, WAIT_S)
        await publish(unit, wire.VoteKey(2, boot=5, seq=2, key=2))  # the same press resent
        # The restart that kept boot 5: its numbering starts again at 1, with new presses.
        await publish(unit, wire.UnitStatus(2, wire.LinkState.ONLINE, boot=5))
        await publish(unit, wire.VoteKey(2, boot=5, seq=1, key=3))
        await publish(unit, wire.VoteKey(2, boot=5, seq=2, key=1))
        await ctl.health.wait_for(
            lambda items: any(
                isinstance(h, UnitHealth) and h.seat == 2 and h.refused_events == 2 for h in items
            ),
            WAIT_S,
        )
        stuck = unit_health(ctl, 2)
        assert "did not advance" in stuck.fault
        assert ctl.driver.duplicates == 1  # the resend, counted as such and not refused
        (line,) = events(caplog, "mqtt-stale-boot")
        assert getattr(line, "seat", None) == 2
        assert "seat 2" in line.getMessage()
        # Once the unit's counter moves on, its presses count and the fault is gone.
        await publish(unit, wire.UnitStatus(2, wire.LinkState.ONLINE, boot=6))
        await publish(unit, wire.VoteKey(2, boot=6, seq=1, key=2))
        await ctl.inputs.wait_for(lambda items: len(items) == 3, WAIT_S)
    assert ctl.origins() == ["ip:5:1", "ip:5:2", "ip:6:1"]
    assert unit_health(ctl, 2).fault == ""
    assert len(events(caplog, "mqtt-stale-boot")) == 1


async def test_after_a_restart_redeliveries_are_not_taken_for_a_stuck_unit(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Right after a controller restart the broker may deliver again presses the journal
    already holds, older than the last one: dropped as duplicates, no fault."""
    caplog.set_level(logging.WARNING, logger="chamber.drivers.mqtt")
    async with Controller(broker) as ctl, unit_client(broker, 3) as unit:
        ctl.driver.restore_origins({(3, "ip"): "ip:2:5"})
        for seq in (3, 4, 5):
            await publish(unit, wire.VoteKey(3, boot=2, seq=seq, key=1))
        await publish(unit, wire.VoteKey(3, boot=2, seq=6, key=2))
        await ctl.inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
    assert ctl.origins() == ["ip:2:6"]
    assert ctl.driver.duplicates == 3
    assert unit_health(ctl, 3).refused_events == 0
    assert events(caplog, "mqtt-stale-boot") == []
