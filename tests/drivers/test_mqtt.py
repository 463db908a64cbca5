"""The MQTT driver against a real Mosquitto run by the embedded-broker supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.effects import KeypadLeds, MicSwitch, RingShow, RingState
from chamber.controller.core.inputs import Input, VoteKeyPressed
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.mosquitto import (
    WALL_USER,
    Mosquitto,
    endpoint_for,
    hall_broker,
    unit_password,
)
from chamber.drivers.mqtt import Backoff, MqttUnits
from chamber.protocols import mqtt as wire
from tests.drivers.conftest import Recorder

HALL = "test-hall"
SECRET = b"a hall secret of enough bytes..."
SEATS = (1, 2, 3)


@dataclass
class Rig:
    broker: Mosquitto
    driver: MqttUnits
    inputs: Recorder[Input]
    health: Recorder[UnitHealth | LineHealth]
    topics: wire.Topics


@pytest.fixture
async def broker(private_dir: Path) -> AsyncIterator[Mosquitto]:
    async with hall_broker(HALL, SEATS, private_dir / "broker", SECRET, log_denied=True) as b:
        yield b


@pytest.fixture
async def rig(broker: Mosquitto) -> AsyncIterator[Rig]:
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    driver = MqttUnits(
        HALL,
        SEATS,
        endpoint_for(broker),
        FakeClock(100.0),
        inputs,
        health,
        backoff=Backoff(0.05, 0.5),
    )
    task = asyncio.create_task(driver.run())
    try:
        await asyncio.wait_for(driver.connected.wait(), 5)
        yield Rig(broker, driver, inputs, health, driver.topics)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def unit_client(broker: Mosquitto, seat: int, password: str | None = None) -> aiomqtt.Client:
    topics = wire.Topics(HALL)
    will = topics.will(seat)
    user = wire.seat_username(seat)
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=password or unit_password(SECRET, user),
        identifier=f"unit-{seat}",
        will=aiomqtt.Will(will.topic, will.payload, int(will.qos), will.retain),
    )


async def publish(client: aiomqtt.Client, message: wire.Message) -> None:
    p = wire.Topics(HALL).publication(message)
    await client.publish(p.topic, p.payload, int(p.qos), p.retain)


def votes(rig: Rig) -> list[VoteKeyPressed]:
    return rig.inputs.of_type(VoteKeyPressed)


async def test_a_press_counts_once_and_redeliveries_are_dropped(rig: Rig) -> None:
    async with unit_client(rig.broker, 1) as unit:
        await publish(unit, wire.VoteKey(1, boot=7, seq=1, key=1))
        await publish(unit, wire.VoteKey(1, boot=7, seq=1, key=1))  # a QoS 1 redelivery
        await publish(unit, wire.VoteKey(1, boot=6, seq=9, key=2))  # a replay from before
        # One client's messages arrive in order: once this one is in, the others were judged.
        await publish(unit, wire.VoteKey(1, boot=7, seq=2, key=3))
        await rig.inputs.wait_for(lambda items: any(getattr(i, "key", 0) == 3 for i in items))
    assert [(v.seat, v.key, v.at) for v in votes(rig)] == [(1, 1, 100.0), (1, 3, 100.0)]


async def test_a_gap_in_seq_counts_lost_events(rig: Rig) -> None:
    async with unit_client(rig.broker, 2) as unit:
        await publish(unit, wire.VoteKey(2, boot=1, seq=1, key=1))
        await publish(unit, wire.VoteKey(2, boot=1, seq=5, key=2))
        await rig.inputs.wait_for(lambda items: len(items) == 2)
    assert rig.driver.health()[2].lost_events == 3  # type: ignore[union-attr]


class _Denied(logging.Handler):
    """Wakes a test when the broker's supervisor logs a refused publish."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", "") == "publish-denied":
            self.records.append(record)
            self.seen.set()


async def test_a_unit_cannot_press_for_another_seat(rig: Rig) -> None:
    denied = _Denied()
    logger = logging.getLogger("chamber.drivers.mosquitto")
    logger.addHandler(denied)
    try:
        async with unit_client(rig.broker, 1) as unit:
            # The broker's ACL drops seat 1's publication on seat 2's topic, and says so.
            await publish(unit, wire.VoteKey(2, boot=1, seq=1, key=2))
            await publish(unit, wire.VoteKey(1, boot=1, seq=1, key=1))
            await rig.inputs.wait_for(lambda items: len(items) >= 1)
            await asyncio.wait_for(denied.seen.wait(), 5)
    finally:
        logger.removeHandler(denied)
    assert [(v.seat, v.key) for v in votes(rig)] == [(1, 1)]
    (record,) = denied.records
    assert getattr(record, "client", "") == wire.seat_username(1)  # its account, not its id
    assert getattr(record, "topic", "") == rig.topics.topic(wire.MessageKind.VOTE_KEY, 2)


async def test_commands_reach_the_unit(rig: Rig) -> None:
    received: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()
    async with unit_client(rig.broker, 3) as unit:
        await unit.subscribe(rig.topics.topic(wire.MessageKind.CMD_LEDS, 3).replace("leds", "#"))

        async def listen() -> None:
            async for m in unit.messages:
                assert isinstance(m.payload, bytes)
                await received.put((str(m.topic), json.loads(m.payload)))

        listener = asyncio.create_task(listen())
        try:
            rig.driver.send(KeypadLeds(3, lit=(2,), present=True))
            rig.driver.send(MicSwitch(None, on=True))  # every IP seat, seat 3 among them
            rig.driver.send(RingShow(3, RingState.QUEUED, 4))
            got = [await asyncio.wait_for(received.get(), 5) for _ in range(3)]
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    assert got == [
        (f"chamber/{HALL}/seat/3/cmd/leds", {"lit": [2], "present": True}),
        (f"chamber/{HALL}/seat/3/cmd/mic", {"on": True}),
        (f"chamber/{HALL}/seat/3/cmd/ring", {"state": "queued", "position": 4}),
    ]


def seat_state(seat: int, online: bool) -> Callable[[list[UnitHealth | LineHealth]], bool]:
    return lambda items: any(
        isinstance(h, UnitHealth) and h.seat == seat and h.online is online for h in items
    )


async def test_unit_presence_from_status_and_last_will(rig: Rig) -> None:
    user = wire.seat_username(2)
    status = rig.topics.topic(wire.MessageKind.UNIT_STATUS, 2)
    will = rig.topics.will(2)
    online = wire.UnitStatus(2, wire.LinkState.ONLINE, boot=4, firmware="2.1").encode()
    # mosquitto_pub in line mode stands in for a unit: it stays connected, publishes each line
    # it reads, and killed, it never says goodbye, so the broker publishes its last will.
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub",
        *("-h", rig.broker.host, "-p", str(rig.broker.port), "-u", user),
        *("-P", unit_password(SECRET, user), "-i", "unit-2", "-t", status, "-q", "1", "-r"),
        *("--will-topic", will.topic, "--will-payload", will.payload.decode()),
        *("--will-qos", "1", "--will-retain", "-l"),
        stdin=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(online + b"\n")
        await proc.stdin.drain()
        await rig.health.wait_for(seat_state(2, True))
        proc.kill()
        await proc.wait()
        await rig.health.wait_for(seat_state(2, False))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    seat2 = [h for h in rig.driver.health() if isinstance(h, UnitHealth) and h.seat == 2]
    assert seat2[0].firmware == "2.1"
    assert seat2[0].last_seen == 100.0


async def test_reconnects_after_the_broker_restarts(rig: Rig) -> None:
    rig.driver.publish_wall(
        wire.WallSitting(state=wire.SittingState.OPEN, id="s7", title="Kỳ họp thứ 7")
    )
    await rig.broker.kill()
    await asyncio.wait_for(rig.broker.wait_restarts(1), 10)
    await rig.health.wait_for(
        lambda items: any(isinstance(h, LineHealth) and not h.connected for h in items)
    )
    await asyncio.wait_for(rig.driver.connected.wait(), 10)
    async with unit_client(rig.broker, 1) as unit:
        await publish(unit, wire.VoteKey(1, boot=1, seq=1, key=2))
        await rig.inputs.wait_for(lambda items: len(items) == 1)
    # The wall's retained state was published again on the new (empty) broker.
    wall = endpoint_for(rig.broker, WALL_USER)
    async with aiomqtt.Client(
        wall.host, wall.port, username=wall.username, password=wall.password
    ) as client:
        await client.subscribe(rig.topics.topic(wire.MessageKind.WALL_SITTING), 1)
        message = await asyncio.wait_for(anext(aiter(client.messages)), 5)
    assert isinstance(message.payload, bytes)
    assert json.loads(message.payload)["title"] == "Kỳ họp thứ 7"


async def test_a_wrong_password_is_refused(broker: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with unit_client(broker, 1, password="not-the-password"):
            pass


async def test_a_new_boot_counter_counts_a_reboot(rig: Rig) -> None:
    async with unit_client(rig.broker, 3) as unit:
        await publish(unit, wire.UnitStatus(3, wire.LinkState.ONLINE, boot=8))
        await publish(unit, wire.UnitStatus(3, wire.LinkState.ONLINE, boot=9))
        await rig.health.wait_for(
            lambda items: any(isinstance(h, UnitHealth) and h.reboots == 1 for h in items)
        )
        # Its presses from the new start count, though their seq starts again at 1.
        await publish(unit, wire.VoteKey(3, boot=9, seq=1, key=1))
        await rig.inputs.wait_for(lambda items: len(items) == 1)


async def test_journaled_origins_keep_redeliveries_out_after_a_restart(rig: Rig) -> None:
    """After a daemon restart the filter starts from what the journal holds: the unit's
    already-counted press delivered again is dropped; its next press counts."""
    rig.driver.restore_origins(
        {(1, "ip"): "ip:7:4", (2, "ip"): "not-an-origin", (99, "ip"): "ip:1:1", (3, "kp"): "kp:9:9"}
    )
    async with unit_client(rig.broker, 1) as unit:
        await publish(unit, wire.VoteKey(1, boot=7, seq=4, key=2))  # counted before the restart
        await publish(unit, wire.VoteKey(1, boot=7, seq=5, key=3))
        await rig.inputs.wait_for(lambda items: any(getattr(i, "key", 0) == 3 for i in items))
    assert [(v.seat, v.key, v.origin) for v in votes(rig)] == [(1, 3, "ip:7:5")]
