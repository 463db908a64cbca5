"""Nothing of a secret vote is retained or persisted by the broker.

The council hall of the end-to-end tests (IP seats on a Mosquitto configured as the daemon's
own), a secret vote in which every IP seat presses, then an attacker who, after the close,
subscribes to the hall's whole topic tree to collect what the broker retained, and, once the
broker has stopped, reads every file of its directory.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt

from chamber.protocols import mqtt as wire
from tests.e2e.conftest import Council, ip_seats
from tests.e2e.hall import (
    KEYS,
    SimWatch,
    check_result,
    council,
    post,
    result_of,
    state,
    vote_of,
)
from tests.rig import HallRig

WAIT_S = 20.0


async def retained(hall: Council) -> dict[str, bytes]:
    """Every retained message of the hall, as the controller's account (which reads all)."""
    broker = hall.rig.daemon_config.broker
    assert broker.host is not None
    root = f"chamber/{hall.rig.config.hall_id}"
    marker = f"{root}/probe/end"
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(
        broker.host, broker.port, username=broker.username, password=broker.password
    ) as client:
        await client.subscribe(f"{root}/#", 1)
        # Retained messages come right after the SUBACK; this one comes after them.
        await client.publish(marker, b"end", 1)
        async with asyncio.timeout(WAIT_S):
            async for message in client.messages:
                topic = str(message.topic)
                if topic == marker:
                    break
                if message.retain and isinstance(message.payload, bytes):
                    found[topic] = message.payload
    return found


async def test_a_secret_vote_leaves_no_choice_on_the_broker(private_dir: Path) -> None:
    rig = HallRig(council(), private_dir / "data", wire_time=False, seed=3)
    async with rig, rig.client() as chair:
        hall = Council(rig, chair, SimWatch(rig.sim))
        await hall.seat_everyone()
        broker_dir = Path(rig.sim.runtime_dir) / "broker"
        await secret_vote(hall)
        await hall.rig.stop_daemon()  # the attacker may take the controller's account now
        store = await retained(hall)
        # The retained store: no seat's LEDs still lit, no unit event kept.
        topics = wire.Topics(hall.rig.config.hall_id)
        leds = {seat: topics.topic(wire.MessageKind.CMD_LEDS, seat) for seat in ip_seats(hall)}
        assert set(leds.values()) <= set(store)
        for seat, topic in leds.items():
            # A whole state, the presence LED of the seated delegate with it: a unit that
            # restarts now learns both from the retained message.
            assert json.loads(store[topic]) == {"lit": [], "present": True}, seat
        for topic, payload in store.items():
            assert topics.parse(topic).kind is not wire.MessageKind.VOTE_KEY, topic
            assert b'"key"' not in payload, topic
    # The broker has stopped (a broker writes what it keeps on its way out): its directory
    # holds its configuration, accounts and ACL, nothing written by a vote.
    names = sorted(p.name for p in broker_dir.iterdir())
    assert names == ["acl", "mosquitto.conf", "passwords"], names
    for path in broker_dir.iterdir():
        text = path.read_bytes()
        assert b'"key"' not in text
        assert b'"lit"' not in text


async def secret_vote(hall: Council) -> None:
    """A secret vote in which every IP seat presses, closed and checked."""
    sim = hall.rig.sim
    ip = ip_seats(hall)
    choices = {seat: 1 + i % KEYS for i, seat in enumerate(ip)}
    since = await hall.open_vote("bk-01", "Bầu Chủ tịch Ủy ban nhân dân tỉnh", secret=True)
    for seat, key in choices.items():
        sim.press(seat, key)
    await hall.watch.lit(choices, ip)  # each unit shows its own choice while the vote is open
    await sim.drain()
    await hall.wait(lambda st: vote_of(st, "bk-01")["tally"]["voted"] == len(ip))
    expected = hall.expected(since)
    assert dict(expected.choices) == choices
    await post(hall.chair, "/api/votes/bk-01/close")
    result = result_of(await state(hall.chair), "bk-01")
    check_result(result, expected, electorate=len(hall.seats), secret=True)
    await hall.watch.lit({}, ip)
