"""No IP press acknowledged before it is durable; no account taking another's session.

A real Mosquitto (the embedded broker's own configuration), the real driver, real units as
aiomqtt clients. A controller that dies is a child process killed with SIGKILL: its TCP
connection ends without an MQTT DISCONNECT, exactly as in a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input, VoteKeyPressed
from chamber.drivers.base import LineHealth, Settling, UnitHealth
from chamber.drivers.mosquitto import Mosquitto, endpoint_for, hall_broker, unit_password
from chamber.drivers.mqtt import Backoff, MqttUnits
from chamber.protocols import mqtt as wire
from tests.drivers.conftest import Recorder

HALL = "test-hall"
SECRET = b"a hall secret of enough bytes..."
SEATS = (1, 2, 3)
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10.0


@pytest.fixture
async def broker(private_dir: Path) -> AsyncIterator[Mosquitto]:
    async with hall_broker(HALL, SEATS, private_dir / "broker", SECRET) as b:
        yield b


class Controller:
    """The MQTT driver in this process, as a daemon's runtime would run it."""

    def __init__(self, broker: Mosquitto) -> None:
        self.inputs: Recorder[Input] = Recorder()
        self.health: Recorder[UnitHealth | LineHealth] = Recorder()
        self.driver = MqttUnits(
            HALL,
            SEATS,
            endpoint_for(broker),
            FakeClock(10.0),
            self.inputs,
            self.health,
            backoff=Backoff(0.05, 0.5),
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Controller:
        self._task = asyncio.create_task(self.driver.run())
        await asyncio.wait_for(self.driver.connected.wait(), WAIT_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def origins(self) -> list[str]:
        return [getattr(i, "origin", "") for i in self.inputs.items]

    def disconnections(self) -> int:
        return sum(1 for h in self.health.items if isinstance(h, LineHealth) and not h.connected)


class ChildController:
    """The driver in a child process (tests/drivers/mqtt_child.py), to be SIGKILLed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.origins: list[str] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, broker: Mosquitto) -> AsyncIterator[ChildController]:
        ep = endpoint_for(broker)
        assert ep.username is not None
        assert ep.password is not None
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.drivers.mqtt_child",
            *(HALL, ",".join(map(str, SEATS)), ep.host, str(ep.port), ep.username, ep.password),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        child = cls(proc)
        try:
            await asyncio.wait_for(child.next_line(), 30)  # {"connected": true}
            yield child
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()

    async def next_line(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise AssertionError("the child controller exited")
        data: dict[str, object] = json.loads(line)
        if "origin" in data:
            self.origins.append(str(data["origin"]))
        return data

    async def crash(self) -> None:
        self.proc.kill()  # SIGKILL: no DISCONNECT, no PUBACK
        await self.proc.wait()


def unit_client(
    broker: Mosquitto, seat: int, *, user_seat: int | None = None, ident: str = ""
) -> aiomqtt.Client:
    """A unit of `seat` (or, with `user_seat`, that seat's account claiming `ident`)."""
    user = wire.seat_username(user_seat or seat)
    will = wire.Topics(HALL).will(seat)
    return aiomqtt.Client(
        broker.connect_host,
        broker.port,
        username=user,
        password=unit_password(SECRET, user),
        identifier=ident or user,
        will=aiomqtt.Will(will.topic, will.payload, int(will.qos), will.retain),
    )


async def publish(client: aiomqtt.Client, message: wire.Message) -> None:
    p = wire.Topics(HALL).publication(message)
    await client.publish(p.topic, p.payload, int(p.qos), p.retain)


def test_the_driver_holds_acknowledgements_for_the_runtime() -> None:
    assert issubclass(MqttUnits, Settling)


async def test_a_press_not_yet_durable_is_delivered_again_after_a_crash(broker: Mosquitto) -> None:
    """The daemon received a press and died before its commit: the broker delivers it again
    to the restarted controller (same account, same session), which counts it."""
    async with ChildController.running(broker) as child, unit_client(broker, 1) as unit:
        await publish(unit, wire.VoteKey(1, boot=3, seq=1, key=2))
        assert await asyncio.wait_for(child.next_line(), WAIT_S) == {
            "seat": 1,
            "origin": "ip:3:1",
        }
        await child.crash()
    async with Controller(broker) as restarted:
        await restarted.inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
        assert restarted.origins() == ["ip:3:1"]
        (press,) = restarted.inputs.of_type(VoteKeyPressed)
        assert (press.seat, press.key) == (1, 2)
        restarted.driver.settled(restarted.inputs.items)  # journaled: now it is acked
        assert restarted.driver.held == 0
    # Once acknowledged it is never delivered again: the next controller sees only what the
    # unit pressed after (its messages arrive in order: once seq 2 is in, seq 1 was not sent).
    async with Controller(broker) as again, unit_client(broker, 1) as unit:
        await publish(unit, wire.VoteKey(1, boot=3, seq=2, key=3))
        await again.inputs.wait_for(lambda items: len(items) >= 1, WAIT_S)
        assert again.origins() == ["ip:3:2"]


async def test_acknowledgements_wait_for_their_own_input_in_order(broker: Mosquitto) -> None:
    """Settling a later press first acks nothing (PUBACKs go in the order of receipt): both
    come back after a crash; settling the first then lets both go."""
    async with ChildController.running(broker) as child, unit_client(broker, 2) as unit:
        await publish(unit, wire.VoteKey(2, boot=1, seq=1, key=1))
        await publish(unit, wire.VoteKey(2, boot=1, seq=2, key=3))
        await asyncio.wait_for(child.next_line(), WAIT_S)
        await asyncio.wait_for(child.next_line(), WAIT_S)
        await child.crash()
    async with Controller(broker) as first:
        await first.inputs.wait_for(lambda items: len(items) == 2, WAIT_S)
        first.driver.settled([first.inputs.items[1]])
        assert first.driver.held == 1
    async with Controller(broker) as second:
        # Seq 2 was settled but its PUBACK waited behind seq 1: both are delivered again.
        await second.inputs.wait_for(lambda items: len(items) == 2, WAIT_S)
        assert second.origins() == ["ip:1:1", "ip:1:2"]
        second.driver.settled(second.inputs.items)
    async with Controller(broker) as third, unit_client(broker, 2) as unit:
        await publish(unit, wire.VoteKey(2, boot=1, seq=3, key=2))
        await third.inputs.wait_for(lambda items: len(items) >= 1, WAIT_S)
        assert third.origins() == ["ip:1:3"]


async def test_a_redelivery_of_a_press_being_written_waits_for_it(broker: Mosquitto) -> None:
    """The connection drops while a press is on its way to the journal: the broker delivers
    it again on the new connection. It is not counted twice, and it is acked with the first
    delivery's input, not before."""
    async with Controller(broker) as ctl, unit_client(broker, 3) as unit:
        await publish(unit, wire.VoteKey(3, boot=2, seq=1, key=1))
        await ctl.inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
        # Another connection of the controller's account takes the session over (the broker
        # ends the first one, and sends it the press: it acknowledges nothing); the driver
        # reconnects and gets the press again.
        other = aiomqtt.Client(
            broker.connect_host,
            broker.port,
            username=ctl.driver.endpoint.username,
            password=ctl.driver.endpoint.password,
            identifier="any-id",  # the broker makes it the account's name
            clean_session=False,
        )
        other._client.manual_ack_set(True)
        async with other:
            pass
        await ctl.health.wait_for(lambda items: ctl.disconnections() >= 1, WAIT_S)
        await asyncio.wait_for(ctl.driver.connected.wait(), WAIT_S)
        # The broker sends what it has no PUBACK for before anything newer.
        await publish(unit, wire.VoteKey(3, boot=2, seq=2, key=3))
        await ctl.inputs.wait_for(lambda items: len(items) == 2, WAIT_S)
        assert ctl.origins() == ["ip:2:1", "ip:2:2"]
        assert ctl.driver.duplicates == 1
        assert ctl.driver.held == 2
        ctl.driver.settled(ctl.inputs.items[:1])
        assert ctl.driver.held == 1
    # Seq 1 was acked (both of its deliveries), seq 2 was not: only seq 2 comes back.
    async with Controller(broker) as after:
        after.driver.restore_origins({(3, "ip"): "ip:2:1"})
        await after.inputs.wait_for(lambda items: len(items) >= 1, WAIT_S)
        assert after.origins() == ["ip:2:2"]
        after.driver.settled(after.inputs.items)


async def test_duplicates_and_bad_payloads_are_acked_at_once(broker: Mosquitto) -> None:
    """Deliveries that make no input wait for nothing: after a crash only the one real press
    comes back, not the redelivered copy, the replay nor the bad payload before it."""
    async with Controller(broker) as ctl, unit_client(broker, 1) as unit:
        ctl.driver.restore_origins({(1, "ip"): "ip:4:1"})  # counted before a restart
        await publish(unit, wire.VoteKey(1, boot=4, seq=1, key=1))  # a redelivery: dropped
        await unit.publish(wire.Topics(HALL).topic(wire.MessageKind.VOTE_KEY, 1), b"{", 1)
        await publish(unit, wire.UnitStatus(1, wire.LinkState.ONLINE, boot=4))
        await publish(unit, wire.VoteKey(1, boot=4, seq=2, key=2))
        await ctl.inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
        assert ctl.driver.held == 1
    # Not settled: only seq 2 comes back to the next controller.
    async with Controller(broker) as after:
        after.driver.restore_origins({(1, "ip"): "ip:4:1"})
        await after.inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
        assert after.origins() == ["ip:4:2"]
        after.driver.settled(after.inputs.items)


async def test_no_seat_account_takes_over_a_session(broker: Mosquitto) -> None:
    """Seat 1's account connects with the controller's client id, then with seat 2's: with
    client ids bound to accounts, neither the controller nor seat 2 is knocked off, and
    seat 2's presses all arrive."""
    async with Controller(broker) as ctl, unit_client(broker, 2) as victim:
        for ident in (ctl.driver.identifier, wire.seat_username(2), "unit-2"):
            async with unit_client(broker, 1, ident=ident) as intruder:
                await publish(intruder, wire.VoteKey(1, boot=1, seq=1, key=1))
        for seq in range(1, 6):
            await publish(victim, wire.VoteKey(2, boot=9, seq=seq, key=1 + seq % 3))
        await ctl.inputs.wait_for(
            lambda items: sum(1 for i in items if getattr(i, "seat", 0) == 2) == 5, WAIT_S
        )
        assert ctl.disconnections() == 0
        assert [o for o in ctl.origins() if o.startswith("ip:9:")] == [
            f"ip:9:{n}" for n in range(1, 6)
        ]


async def test_an_input_settled_inside_the_sink_is_acked(broker: Mosquitto) -> None:
    """A runtime may settle an input before the driver's sink returns (the bench's controller
    does). Its delivery is acked all the same, and so is every one behind it: nothing comes
    back to the next controller. A PUBACK once held for an input settled that early was never
    sent, and it held up every later one of the connection."""
    async with Controller(broker) as ctl, unit_client(broker, 1) as unit:

        def settle_at_once(inp: Input) -> None:
            ctl.inputs(inp)
            ctl.driver.settled([inp])

        ctl.driver._sink = settle_at_once
        for seq in range(1, 41):
            await publish(unit, wire.VoteKey(1, boot=5, seq=seq, key=1 + seq % 3))
        await ctl.inputs.wait_for(lambda items: len(items) == 40, WAIT_S)
        assert ctl.driver.held == 0
        assert ctl.driver._acks is not None
        assert len(ctl.driver._acks) == 0
    async with Controller(broker) as after, unit_client(broker, 1) as unit:
        await publish(unit, wire.VoteKey(1, boot=5, seq=41, key=2))
        await after.inputs.wait_for(lambda items: len(items) >= 1, WAIT_S)
        assert after.origins() == ["ip:5:41"]


def test_retries_come_often_after_a_loss_then_back_off() -> None:
    """Every `first_s` for `steady_s` after a lost connection (a broker back within a second
    is found within `first_s`), then doubling up to `max_s`."""
    delays = Backoff(first_s=0.1, max_s=5.0, steady_s=1.0).delays()
    taken = [next(delays) for _ in range(16)]
    assert taken[:10] == [0.1] * 10
    assert taken[10:] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0]


class DropFirstConnect:
    """A TCP proxy in front of the broker that ends the first connection the way a broker
    killed at that moment does: `at="connect"`, after the client's CONNECT and before any
    CONNACK; `at="subscribe"`, after the broker's CONNACK, when the client's SUBSCRIBE (packet
    type 8, first byte 0x82) arrives, before any SUBACK. Later connections go through."""

    def __init__(self, broker: Mosquitto, at: str = "connect") -> None:
        self.broker = broker
        self.at = at
        self.accepted = 0
        self.dropped = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> DropFirstConnect:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        first = self.accepted == 1
        self._writers.append(writer)
        if first and self.at == "connect":
            await reader.read(1)  # the CONNECT's first byte: the client is waiting for CONNACK
            writer.close()
            self.dropped.set()
            return
        up_reader, up_writer = await asyncio.open_connection(
            self.broker.connect_host, self.broker.port
        )
        self._writers.append(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if first and dst is up_writer and data[0] == 0x82:
                        writer.close()  # the "broker" dies as the SUBSCRIBE arrives
                        up_writer.close()
                        self.dropped.set()
                        return
                    dst.write(data)
                    await dst.drain()
            dst.close()

        for task in (
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ):
            self._pipes.add(task)


@pytest.mark.parametrize("at", ["connect", "subscribe"])
async def test_a_connection_lost_in_its_handshake_is_tried_again_at_once(
    broker: Mosquitto, at: str
) -> None:
    """The broker dies after the controller's CONNECT and before its CONNACK, or after the
    CONNACK and before the SUBACK: the driver gives that attempt up at once and connects on
    the next one. aiomqtt alone waits for its whole timeout there; the timeout is set far
    above this test's wait, so a driver that waits for it fails the test."""
    async with DropFirstConnect(broker, at) as proxy:
        endpoint = endpoint_for(broker)
        endpoint = dataclasses.replace(endpoint, host="127.0.0.1", port=proxy.port)
        inputs: Recorder[Input] = Recorder()
        health: Recorder[UnitHealth | LineHealth] = Recorder()
        driver = MqttUnits(
            HALL,
            SEATS,
            endpoint,
            FakeClock(10.0),
            inputs,
            health,
            backoff=Backoff(0.05, 0.5),
            timeout_s=600.0,
        )
        task = asyncio.create_task(driver.run())
        try:
            await asyncio.wait_for(proxy.dropped.wait(), WAIT_S)
            await asyncio.wait_for(driver.connected.wait(), WAIT_S)
            assert proxy.accepted == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def confirmations(unit: aiomqtt.Client, seat: int) -> AsyncIterator[Recorder[wire.Decoded]]:
    """What the unit of `seat` hears on its `cmd/confirm` topic, for as long as the block runs."""
    topics = wire.Topics(HALL)
    await unit.subscribe(topics.topic(wire.MessageKind.CMD_CONFIRM, seat), 1)
    heard: Recorder[wire.Decoded] = Recorder()

    async def listen() -> None:
        async for message in unit.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            heard(topics.decode(str(message.topic), payload))

    listener = asyncio.create_task(listen())
    try:
        yield heard
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await listener


async def test_a_press_is_confirmed_to_its_unit_once_durable(broker: Mosquitto) -> None:
    """MQTT contract 1.2: `cmd/confirm` names a press only after the runtime settled it; a
    resend of a press counted before a restart is confirmed at once."""
    async with (
        Controller(broker) as ctl,
        unit_client(broker, 1) as unit,
        confirmations(unit, 1) as seen,
    ):
        await publish(unit, wire.VoteKey(1, boot=6, seq=1, key=1))
        await publish(unit, wire.VoteKey(1, boot=6, seq=2, key=2))
        await ctl.inputs.wait_for(lambda items: len(items) == 2, WAIT_S)
        # Nothing confirmed while the presses wait for the journal: let the driver send
        # all it has queued, then look.
        await asyncio.wait_for(ctl.driver.drained(), WAIT_S)
        assert seen.items == []
        ctl.driver.settled(ctl.inputs.items[:1])
        await seen.wait_for(lambda items: len(items) >= 1, WAIT_S)
        ctl.driver.settled(ctl.inputs.items[1:])
        await seen.wait_for(lambda items: len(items) >= 2, WAIT_S)
        assert seen.items == [
            wire.ConfirmCommand(1, boot=6, seq=1),
            wire.ConfirmCommand(1, boot=6, seq=2),
        ]
    # A new controller with the journal's origins: the unit sends the counted press again
    # (it never saw the confirmation, say); it is confirmed, not counted.
    async with Controller(broker) as after, unit_client(broker, 1) as unit:
        after.driver.restore_origins({(1, "ip"): "ip:6:2"})
        async with confirmations(unit, 1) as got:
            # The broker's retained confirmation of seq 2 from the first controller first.
            await got.wait_for(lambda items: len(items) >= 1, WAIT_S)
            await publish(unit, wire.VoteKey(1, boot=6, seq=2, key=2))
            await got.wait_for(lambda items: len(items) >= 2, WAIT_S)  # and the answer
            assert got.items == [wire.ConfirmCommand(1, boot=6, seq=2)] * 2
            assert after.inputs.items == []
            assert after.driver.duplicates == 1
