"""IP seat units and the wall on a real Mosquitto, checked with the MQTT codec as controller."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt

from chamber.controller.config import HallConfig, parse_config
from chamber.controller.hallgen import generate, sized
from chamber.drivers.mosquitto import WALL_USER, hall_broker
from chamber.protocols import mqtt
from chamber.simulator.delegates import GroundTruth, PresenceScript, VoteScript
from chamber.simulator.faults import FaultKind, Faults
from chamber.simulator.hall import SimulatedHall
from chamber.simulator.ipunits import BrokerAddress, IpUnit, SeatTopics, reconnect_waits


def ip_hall(seats: int) -> HallConfig:
    return parse_config(tomllib.loads(generate(sized(seats, language="vi", seed=seats))))


class Controller:
    """A test-side controller: subscribes as the controller, counts each press once."""

    def __init__(self, client: aiomqtt.Client, topics: mqtt.Topics) -> None:
        self.client = client
        self.topics = topics
        self.filter = mqtt.DuplicateFilter()
        self.received: list[mqtt.Message] = []
        self.accepted: list[mqtt.UnitEvent] = []
        self.dropped: list[mqtt.SeqVerdict] = []
        self.status: dict[int, mqtt.UnitStatus] = {}
        self.changed = asyncio.Condition()

    async def run(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            decoded = self.topics.decode(str(message.topic), payload)
            async with self.changed:
                if isinstance(decoded, mqtt.UnitStatus):
                    self.filter.observe_status(decoded)
                    self.status[decoded.seat] = decoded
                elif isinstance(decoded, mqtt.UnitEvent):
                    verdict = self.filter.check(decoded)
                    (self.accepted.append(decoded) if verdict.accepted else None)
                    if not verdict.accepted:
                        self.dropped.append(verdict)
                if isinstance(decoded, mqtt.Message):
                    self.received.append(decoded)
                self.changed.notify_all()

    async def until(self, predicate: object, within: float = 10.0) -> None:
        assert callable(predicate)
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(predicate)

    def votes(self) -> dict[int, int]:
        """The final choice per seat (change until close)."""
        return {e.seat: e.key for e in self.accepted if isinstance(e, mqtt.VoteKey)}


@asynccontextmanager
async def controller_for(hall: SimulatedHall) -> AsyncIterator[Controller]:
    broker = hall.daemon_config().broker
    topics = mqtt.Topics(hall.config.hall_id)
    async with aiomqtt.Client(
        broker.host or "",
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier="test-controller",
        max_queued_incoming_messages=0,
    ) as client:
        for sub in topics.subscriptions(mqtt.ClientRole.CONTROLLER):
            await client.subscribe(sub.topic_filter, sub.qos)
        controller = Controller(client, topics)
        task = asyncio.create_task(controller.run())
        try:
            yield controller
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def _every_seat_answers(seats: int) -> None:
    config = ip_hall(seats)
    async with SimulatedHall(config, wire_time=False, seed=seats, wall=False) as hall:
        assert len(hall.ip_units) == seats
        async with controller_for(hall) as ctl:
            # Retained statuses: every unit announced itself online with its boot counter.
            await ctl.until(lambda: len(ctl.status) == seats, 60)
            assert all(s.state is mqtt.LinkState.ONLINE for s in ctl.status.values())
            plan = VoteScript(within_s=1.0).plan(hall.seats, random.Random(1))
            await hall.perform(plan)
            await ctl.until(lambda: len(ctl.accepted) == len(plan), 60)
        expected = hall.truth.expected()
        assert expected.voted == seats
        assert ctl.votes() == dict(expected.choices)
        assert ctl.dropped == []


async def test_512_seats_start_and_every_vote_is_counted() -> None:
    await _every_seat_answers(512)


# One MQTT connection per unit, as in a real hall: about 14 s here with other work sharing the
# two cores, under 10 s on an idle machine.
async def test_4096_seats_start_and_every_vote_is_counted() -> None:
    await _every_seat_answers(4096)


async def test_duplicates_and_replays_are_published_and_counted_once() -> None:
    async with SimulatedHall(ip_hall(6), wire_time=False, seed=2) as hall:
        async with controller_for(hall) as ctl:
            hall.press(1, 1)
            hall.press(1, 2)
            hall.press(1, 3)
            assert hall.duplicate(1)
            assert hall.replay(1, back=2)
            await ctl.until(lambda: len(ctl.accepted) + len(ctl.dropped) == 5)
        assert sorted(ctl.dropped) == sorted([mqtt.SeqVerdict.DUPLICATE, mqtt.SeqVerdict.REPLAY])
        assert ctl.votes() == {1: 3} == dict(hall.truth.expected().choices)
        assert hall.faults.injected[FaultKind.DUPLICATE] == 1
        assert hall.faults.injected[FaultKind.REPLAY] == 1


async def test_commands_reach_the_unit_and_lock_refuses_presses() -> None:
    async with SimulatedHall(ip_hall(4), wire_time=False, seed=2) as hall:
        async with controller_for(hall) as ctl:
            topics = ctl.topics
            for message in (
                mqtt.LockCommand(2, locked=True, keys=3),
                mqtt.RingCommand(2, state=mqtt.RingState.QUEUED, position=3),
            ):
                pub = topics.publication(message)
                await ctl.client.publish(pub.topic, pub.payload, pub.qos, pub.retain)
            unit = hall.ip_units[2]
            async with asyncio.timeout(5):
                await unit.wait_commands(2)
            assert unit.state.locked
            assert unit.state.ring == "queued"
            assert unit.state.position == 3
            assert hall.press(2, 1).refused
        assert hall.truth.expected().voted == 0


async def test_reboot_and_broker_restart() -> None:
    async with SimulatedHall(ip_hall(5), wire_time=False, seed=2) as hall:
        async with controller_for(hall) as ctl:
            hall.press(3, 1)
            hall.reboot(3)
            await ctl.until(lambda: ctl.status.get(3) is not None and ctl.status[3].boot == 2)
            hall.press(3, 2)
            await ctl.until(lambda: len(ctl.accepted) == 2)
        await hall.restart_broker()
        assert all(u.connections == (3 if u.seat == 3 else 2) for u in hall.ip_units.values())
        async with controller_for(hall) as ctl:
            hall.press(4, 2)
            await ctl.until(lambda: any(e.seat == 4 for e in ctl.accepted))
        assert hall.faults.injected[FaultKind.BROKER_RESTART] == 1
        assert hall.truth.expected().choices == {3: 2, 4: 2}


async def test_a_unit_switched_off_says_it_is_offline_before_it_disconnects() -> None:
    async with (
        SimulatedHall(ip_hall(3), wire_time=False, seed=2) as hall,
        controller_for(hall) as ctl,
    ):
        await ctl.until(lambda: len(ctl.status) == 3)
        hall.ip_units[2].close()  # a clean DISCONNECT: the broker drops the will
        await ctl.until(lambda: ctl.status[2].state is mqtt.LinkState.OFFLINE)
        assert ctl.status[1].state is mqtt.LinkState.ONLINE


async def test_wall_keeps_the_latest_retained_state() -> None:
    async with SimulatedHall(ip_hall(3), wire_time=False, seed=2) as hall:
        assert hall.wall is not None
        async with controller_for(hall) as ctl:
            status = mqtt.ControllerStatus(state=mqtt.LinkState.ONLINE)
            pub = ctl.topics.publication(status)
            await ctl.client.publish(pub.topic, pub.payload, pub.qos, pub.retain)
            async with asyncio.timeout(5):
                await hall.wall.wait_for(lambda s: mqtt.MessageKind.CONTROLLER_STATUS in s)
        assert hall.wall.state[mqtt.MessageKind.CONTROLLER_STATUS] == status


async def test_arrivals_are_published_as_presence() -> None:
    async with SimulatedHall(ip_hall(20), wire_time=False, seed=9) as hall:
        async with controller_for(hall) as ctl:
            plan = PresenceScript(arrive_within_s=0.2, absent=0.25).plan(
                hall.seats, random.Random(9)
            )
            await hall.perform(plan)
            await ctl.until(lambda: len(ctl.accepted) == len(plan))
        here = {e.seat for e in ctl.accepted if isinstance(e, mqtt.PresenceKey) and e.present}
        assert here == hall.truth.present()
        assert GroundTruth.from_json(hall.truth.to_json()).presses == hall.truth.presses


async def test_units_log_in_to_the_daemons_own_broker_with_the_shared_secret() -> None:
    # The broker exactly as the daemon runs it: its accounts and ACL, from the hall secret.
    # Its directory must be reachable by the account Mosquitto drops to.
    base = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="chamber-sim-test-"))
    try:
        await asyncio.to_thread(base.chmod, 0o711)
        secret = b"hall secret of the test, 32 byte"
        config = ip_hall(4)
        seats = [u.seat for u in config.units if u.ip]
        async with hall_broker(config.hall_id, seats, base / "broker", secret) as broker:
            address = BrokerAddress(broker.host, broker.port, WALL_USER, broker.users[WALL_USER])
            async with SimulatedHall(
                config,
                wire_time=False,
                seed=1,
                broker=address,
                secret=secret,
                broker_control=broker,
            ) as hall:
                assert all(u.connected.is_set() for u in hall.ip_units.values())
                await hall.restart_broker()
                assert broker.restarts == 1
                assert all(u.connected.is_set() for u in hall.ip_units.values())
    finally:
        await asyncio.to_thread(shutil.rmtree, base, True)


def test_reconnection_follows_the_contract() -> None:
    """The MQTT contract's "Reconnecting": the first attempt within 0.5 s, then at least
    every 1 s for 10 s, each wait between half and all of its length; then at most 10 s."""
    for seed in range(20):
        waits = reconnect_waits(random.Random(seed))
        taken = [next(waits) for _ in range(80)]
        assert taken[0] <= 0.5
        spent, steady = 0.0, []
        for wait in taken:
            if spent >= 10.0:
                break
            steady.append(wait)
            spent += wait
        assert all(0.25 <= w <= 0.5 for w in steady)  # jittered, at least every second
        later = taken[len(steady) :]
        assert later
        assert all(0.5 <= w <= 10.0 for w in later)
        assert max(later) > 5.0  # it backs off to several seconds in the end
    # Seeded: the same seat waits the same way in a replayed run, two seats differ.
    first = reconnect_waits(random.Random(1))
    again = reconnect_waits(random.Random(1))
    other = reconnect_waits(random.Random(2))
    assert next(first) == next(again) != next(other)


async def test_a_unit_keeps_a_press_until_a_confirmation_covers_it() -> None:
    """MQTT contract 1.2: any other command, even after the broker's PUBACK, confirms nothing
    (a controller that restarted sends every seat its retained state before it has read the
    presses the broker kept for it); `cmd/confirm` naming the press, or a later one, does."""
    async with (
        SimulatedHall(ip_hall(4), wire_time=False, seed=3) as hall,
        controller_for(hall) as ctl,
    ):
        unit = hall.ip_units[2]
        hall.press(2, 1)
        hall.press(2, 2)
        await ctl.until(lambda: len([e for e in ctl.accepted if e.seat == 2]) == 2)
        first, second = [(e.boot, e.seq) for e in ctl.accepted if e.seat == 2]
        assert unit.unconfirmed == 2

        async def send(message: mqtt.Message) -> None:
            pub = ctl.topics.publication(message)
            await ctl.client.publish(pub.topic, pub.payload, pub.qos, pub.retain)

        # A state command after both PUBACKs: both presses are still kept.
        await send(mqtt.LedsCommand(2, lit=(2,), present=True))
        await send(mqtt.ConfirmCommand(2, *first))
        async with asyncio.timeout(5):
            await unit.wait_commands(1)
            await unit.wait_unconfirmed(1)  # the confirmation arrives after the LEDs
        assert unit.unconfirmed == 1
        await send(mqtt.ConfirmCommand(2, *second))
        async with asyncio.timeout(5):
            await unit.wait_unconfirmed(0)


async def test_a_new_connection_sends_every_unconfirmed_press_first_in_order() -> None:
    """MQTT contract 1.2: on every connection, before anything new, every press the controller
    has not confirmed goes out again in its order, acknowledged by the broker or not. Under
    1.1 a press made while the broker was away went out first and the older one, which the
    dead broker had acknowledged, only when the controller's status came: after the newer one,
    where the controller refuses it as a replay (the torture harness lost a press so)."""
    topics = mqtt.Topics("test-hall")

    class Wire(IpUnit):
        """A unit whose publications are kept: sent while `up`, else waiting in the backlog."""

        up = True
        sent: list[mqtt.Publication] = []  # noqa: RUF012 (one unit in this test)

        def _publish(self, pub: mqtt.Publication) -> None:
            (self.sent.append if self.up else self._backlog.append)(pub)

    unit = Wire(
        7,
        SeatTopics(topics),
        BrokerAddress("127.0.0.1", 1, None, None),
        credentials=(None, None),
        truth=GroundTruth(),
        faults=Faults(random.Random(1)),
    )
    first = unit.press_vote(1)  # published, and (say) acknowledged by the broker that died
    unit._unconfirmed[(unit.boot, 1)].acked = True
    unit.up = False
    second = unit.press_vote(2)  # made while the broker is away: waits in the backlog
    unit.up = True
    unit.sent.clear()
    unit._flush_on_connection()
    decoded = [topics.decode(p.topic, p.payload) for p in unit.sent]
    assert [(d.seq, d.key) for d in decoded if isinstance(d, mqtt.VoteKey)] == [
        (first.seq, 1),
        (second.seq, 2),
    ]
    assert unit.resent == 1
