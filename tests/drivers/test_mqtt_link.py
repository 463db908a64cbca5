"""The controller's MQTT connection (`drivers.mqtt_link`) against a real Mosquitto, and against
small TCP servers that behave as a broken broker does: silent, slow to acknowledge, gone in
the handshake, or speaking what a broker never says.

The fake servers read the client's bytes with the same codec the client writes them with;
what they check is the link's behaviour around them (the waits it ends, the pings it sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiomqtt
import pytest

from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input, VoteKeyPressed
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.mosquitto import BrokerEndpoint, Mosquitto
from chamber.drivers.mqtt import MqttUnits
from chamber.drivers.mqtt_link import MqttLink, MqttLinkError, MqttRefused
from chamber.protocols import mqtt as wire
from chamber.protocols import mqtt_packet as pk
from chamber.protocols.mqtt import Publication, Qos
from tests.api.test_tls import self_signed
from tests.drivers.conftest import Recorder

USERS = {"alpha": "alpha-test-password", "beta": "beta-test-password"}
WAIT_S = 10.0


@pytest.fixture
async def broker(private_dir: Path) -> AsyncIterator[Mosquitto]:
    acl = "".join(f"user {name}\ntopic readwrite #\n" for name in USERS)
    b = Mosquitto(private_dir / "broker", USERS, acl)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


def connect(name: str, *, clean: bool = True, keepalive: int = 10) -> pk.Connect:
    return pk.Connect(name, keepalive, clean, name, USERS[name])


@contextlib.asynccontextmanager
async def link_to(
    host: str,
    port: int,
    packet: pk.Connect,
    on_publish: Callable[[pk.Publish], None] = lambda p: None,
    timeout_s: float = WAIT_S,
) -> AsyncIterator[MqttLink]:
    link = MqttLink(packet, on_publish, timeout_s)
    await link.start(host, port)
    try:
        yield link
    finally:
        link.close()


async def test_a_window_is_acknowledged_and_delivered_in_order(broker: Mosquitto) -> None:
    heard: Recorder[pk.Publish] = Recorder()
    host, port = broker.connect_host, broker.port
    async with link_to(host, port, connect("beta"), heard) as reader:
        assert await reader.subscribe([("t/#", 1)]) == (1,)
        async with link_to(host, port, connect("alpha")) as writer:
            window = [Publication(f"t/{n}", b"%d" % n, Qos(1), False) for n in range(200)]
            window.append(Publication("t/zero", b"q0", Qos(0), False))
            await asyncio.wait_for(writer.publish_window(window), WAIT_S)
            assert writer._codec.waiting == 0
        await heard.wait_for(lambda items: len(items) == 201, WAIT_S)
        assert [p.topic for p in heard.items[:200]] == [f"t/{n}" for n in range(200)]
        reader.ack([p.packet_id for p in heard.items if p.packet_id is not None])


async def test_a_window_of_qos_0_alone_is_done_at_once(broker: Mosquitto) -> None:
    async with link_to(broker.connect_host, broker.port, connect("alpha")) as link:
        done = link.publish_window([Publication("t/a", b"x", Qos(0), True)])
        assert done.done()
        assert done.result() is None


async def test_what_is_not_acknowledged_comes_again_to_the_next_session(
    broker: Mosquitto,
) -> None:
    """Nothing acknowledges a delivery but `ack`: the broker sends again to the persistent
    session what was not acknowledged, and nothing of what was."""
    host, port = broker.connect_host, broker.port
    first: Recorder[pk.Publish] = Recorder()
    async with link_to(host, port, connect("beta", clean=False), first) as reader:
        await reader.subscribe([("s/#", 1)])
        async with link_to(host, port, connect("alpha")) as writer:
            await writer.publish_window(
                [Publication(f"s/{n}", b"", Qos(1), False) for n in range(6)]
            )
        await first.wait_for(lambda items: len(items) == 6, WAIT_S)
        reader.ack([p.packet_id for p in first.items[:3] if p.packet_id is not None])
        # A round trip after the PUBACKs, so the broker has read them before the link goes.
        await reader.subscribe([("other", 0)])
        reader.abort()
    again: Recorder[pk.Publish] = Recorder()
    async with link_to(host, port, connect("beta", clean=False), again) as reader:
        await again.wait_for(lambda items: len(items) == 3, WAIT_S)
        assert [p.topic for p in again.items] == ["s/3", "s/4", "s/5"]
        assert all(p.dup for p in again.items)
        reader.ack([p.packet_id for p in again.items if p.packet_id is not None])


async def test_acks_sent_before_a_clean_close_hold_for_the_next_session(
    broker: Mosquitto,
) -> None:
    """`aclose` returns once the broker has closed the connection, so it has read the PUBACKs
    before it: a session taken over at once by the same client gets nothing again."""
    host, port = broker.connect_host, broker.port
    heard: Recorder[pk.Publish] = Recorder()
    for _ in range(5):
        heard.items.clear()
        reader = MqttLink(connect("beta", clean=False), heard, WAIT_S)
        await reader.start(host, port)
        await reader.subscribe([("r/#", 1)])
        async with link_to(host, port, connect("alpha")) as writer:
            await writer.publish_window(
                [Publication(f"r/{n}", b"", Qos(1), False) for n in range(50)]
            )
        await heard.wait_for(lambda items: len(items) == 50, WAIT_S)
        reader.ack([p.packet_id for p in heard.items if p.packet_id is not None])
        await reader.aclose()
        assert reader.closed.done()
        again: Recorder[pk.Publish] = Recorder()
        async with link_to(host, port, connect("beta", clean=False), again) as after:
            # The broker sends a session's unacknowledged deliveries right behind its
            # CONNACK, before it answers anything: after a SUBACK, none is still coming.
            await after.subscribe([("nothing", 0)])
            assert again.items == []


async def test_a_wrong_password_is_refused(broker: Mosquitto) -> None:
    link = MqttLink(pk.Connect("alpha", 10, True, "alpha", "not-it"), lambda p: None, WAIT_S)
    with pytest.raises(MqttRefused) as caught:
        await link.start(broker.connect_host, broker.port)
    assert caught.value.code == pk.ConnectReturn.NOT_AUTHORIZED
    assert link.closed.done()


async def test_no_listener_is_a_link_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    link = MqttLink(connect("alpha"), lambda p: None, WAIT_S)
    with pytest.raises(MqttLinkError):
        await link.start("127.0.0.1", port)


# --- broken brokers ---------------------------------------------------------------------------

Behaviour = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, Recorder[pk.Packet]], Awaitable[None]
]


@contextlib.asynccontextmanager
async def fake_broker(behaviour: Behaviour) -> AsyncIterator[tuple[int, Recorder[pk.Packet]]]:
    """A TCP server whose every connection runs `behaviour`; it records the client's packets."""
    seen: Recorder[pk.Packet] = Recorder()
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await behaviour(reader, writer, seen)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_packets(reader: asyncio.StreamReader, seen: Recorder[pk.Packet]) -> None:
    """Record what the client sends until it closes."""
    packets = pk.PacketReader()
    while data := await reader.read(4096):
        packets.receive_data(data)
        while (packet := packets.next_packet()) is not None:
            seen(packet)


def answering(after_connack: bytes = b"") -> Behaviour:
    """CONNACK at once, then `after_connack`, then silence (reading and recording)."""

    async def behaviour(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Recorder[pk.Packet]
    ) -> None:
        writer.write(pk.encode(pk.ConnAck(False, 0)) + after_connack)
        await read_packets(reader, seen)

    return behaviour


async def test_a_silent_broker_is_pinged_then_given_up() -> None:
    """Keepalive 1 s: a PINGREQ goes out when the client has nothing else to say, and a broker
    that answers nothing for a whole keepalive after it is taken as gone."""
    async with fake_broker(answering()) as (port, seen):
        link = MqttLink(connect("alpha", keepalive=1), lambda p: None, WAIT_S)
        await link.start("127.0.0.1", port)
        await seen.wait_for(lambda items: pk.PingReq() in items, WAIT_S)
        with pytest.raises(MqttLinkError, match="PINGREQ"):
            await asyncio.wait_for(link.closed, WAIT_S)


async def test_a_broker_that_answers_pings_keeps_the_link() -> None:
    async def pong(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Recorder[pk.Packet]
    ) -> None:
        writer.write(pk.encode(pk.ConnAck(False, 0)))
        packets = pk.PacketReader()
        while data := await reader.read(4096):
            packets.receive_data(data)
            while (packet := packets.next_packet()) is not None:
                seen(packet)
                if isinstance(packet, pk.PingReq):
                    writer.write(pk.encode(pk.PingResp()))

    async with fake_broker(pong) as (port, seen):
        link = MqttLink(connect("alpha", keepalive=1), lambda p: None, WAIT_S)
        await link.start("127.0.0.1", port)
        # Three pings answered: three keepalives, and the link still stands.
        await seen.wait_for(lambda items: items.count(pk.PingReq()) >= 3, WAIT_S)
        assert not link.closed.done()
        link.close()
        await seen.wait_for(lambda items: pk.Disconnect() in items, WAIT_S)


async def test_a_window_not_acknowledged_in_time_fails_and_closes_the_link() -> None:
    async with fake_broker(answering()) as (port, _):
        link = MqttLink(connect("alpha"), lambda p: None, 0.3)
        await link.start("127.0.0.1", port)
        window = link.publish_window([Publication("t/a", b"x", Qos(1), True)])
        with pytest.raises(MqttLinkError, match="PUBACK"):
            await asyncio.wait_for(window, WAIT_S)
        assert link.closed.done()
        later = link.publish_window([Publication("t/b", b"x", Qos(1), True)])
        with pytest.raises(MqttLinkError):
            await later


@pytest.mark.parametrize("stage", ["connack", "suback", "puback"])
async def test_a_connection_lost_in_a_wait_ends_the_wait_at_once(stage: str) -> None:
    """The timeout is far above the test's wait: a link that waited for it fails the test."""

    async def die(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Recorder[pk.Packet]
    ) -> None:
        packets = pk.PacketReader()
        while not seen.items:  # the whole CONNECT
            packets.receive_data(await reader.read(4096))
            if (packet := packets.next_packet()) is not None:
                seen(packet)
        if stage != "connack":
            writer.write(pk.encode(pk.ConnAck(False, 0)))
            await reader.readexactly(1)  # the next packet's first byte: the client waits now

    async with fake_broker(die) as (port, _):
        link = MqttLink(connect("alpha"), lambda p: None, 600.0)
        if stage == "connack":
            with pytest.raises(MqttLinkError):
                await asyncio.wait_for(link.start("127.0.0.1", port), WAIT_S)
            return
        await link.start("127.0.0.1", port)
        if stage == "suback":
            with pytest.raises(MqttLinkError):
                await asyncio.wait_for(link.subscribe([("a", 1)]), WAIT_S)
        else:
            window = link.publish_window([Publication("t/a", b"x", Qos(1), True)])
            with pytest.raises(MqttLinkError):
                await asyncio.wait_for(window, WAIT_S)
        assert link.closed.done()


async def test_a_broker_that_breaks_the_standard_is_dropped_with_the_codecs_error() -> None:
    pubrec = b"\x50\x02\x00\x01"  # QoS 2 is never spoken to this client
    async with fake_broker(answering(pubrec)) as (port, _):
        link = MqttLink(connect("alpha"), lambda p: None, WAIT_S)
        await link.start("127.0.0.1", port)
        with pytest.raises(MqttLinkError) as caught:
            await asyncio.wait_for(link.closed, WAIT_S)
        assert isinstance(caught.value.__cause__, pk.PacketError)
        assert caught.value.__cause__.reason is pk.PacketErrorReason.UNSUPPORTED


async def test_a_handler_that_fails_ends_the_connection_without_acknowledging() -> None:
    delivery = pk.encode(pk.Publish("seat/1/vote", b"{}", 1, False, False, 5))

    def broken(packet: pk.Publish) -> None:
        raise RuntimeError("a bug in the handler")

    async with fake_broker(answering(delivery)) as (port, seen):
        link = MqttLink(connect("alpha"), broken, WAIT_S)
        await link.start("127.0.0.1", port)
        with pytest.raises(MqttLinkError, match="could not be taken"):
            await asyncio.wait_for(link.closed, WAIT_S)
        assert pk.PubAck(5) not in seen.items


async def test_deliveries_right_behind_the_connack_reach_the_handler() -> None:
    """A persistent session's waiting deliveries come in the CONNACK's own segment."""
    deliveries = b"".join(
        pk.encode(pk.Publish(f"seat/{n}/vote", b"{}", 1, False, True, n)) for n in range(1, 4)
    )
    heard: Recorder[pk.Publish] = Recorder()
    async with fake_broker(answering(deliveries)) as (port, seen):
        link = MqttLink(connect("alpha"), heard, WAIT_S)
        await link.start("127.0.0.1", port)
        await heard.wait_for(lambda items: len(items) == 3, WAIT_S)
        link.ack([3, 1, 2])
        await seen.wait_for(lambda items: len(items) >= 4, WAIT_S)
        assert seen.items[1:4] == [pk.PubAck(3), pk.PubAck(1), pk.PubAck(2)]
        link.close()


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture
async def tls_broker(private_dir: Path) -> AsyncIterator[tuple[int, Path]]:
    """A real Mosquitto with one TLS listener on a self-signed certificate for 127.0.0.1,
    anonymous: the port and the certificate a client must trust."""
    files = self_signed(private_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = private_dir / "tls.conf"
    conf.write_text(
        f"user root\npersistence false\nlog_dest stderr\nlog_type information\n"
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"certfile {files.cert}\nkeyfile {files.key}\n",
        encoding="utf-8",
    )
    proc = await asyncio.create_subprocess_exec(
        "mosquitto",
        "-c",
        str(conf),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def running() -> None:
            # Mosquitto says "... running" once its listeners are open.
            assert proc.stderr is not None
            async for line in proc.stderr:
                if b" running" in line:
                    return
            raise RuntimeError("mosquitto exited before it was running")

        await asyncio.wait_for(running(), WAIT_S)
        yield port, files.cert
    finally:
        proc.terminate()
        await proc.wait()


async def test_the_driver_serves_its_units_over_tls(tls_broker: tuple[int, Path]) -> None:
    """The driver's TLS path end to end: it trusts the broker's certificate from `ca_file`,
    subscribes, and a press from a unit (aiomqtt, over TLS too) becomes its input."""
    port, cert = tls_broker
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    endpoint = BrokerEndpoint("127.0.0.1", port, None, None, tls=True, ca_file=str(cert))
    driver = MqttUnits("tls-hall", (1,), endpoint, FakeClock(5.0), inputs, health)
    task = asyncio.create_task(driver.run())
    try:
        await asyncio.wait_for(driver.connected.wait(), WAIT_S)
        topics = wire.Topics("tls-hall")
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier="unit-1", tls_context=trust
        ) as unit:
            press = topics.publication(wire.VoteKey(1, boot=1, seq=1, key=2))
            await unit.publish(press.topic, press.payload, int(press.qos), press.retain)
            await inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
        assert isinstance(inputs.items[0], VoteKeyPressed)
        assert inputs.items[0].key == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_certificate_not_trusted_is_a_link_error(tls_broker: tuple[int, Path]) -> None:
    port, _ = tls_broker
    link = MqttLink(pk.Connect("c", 10, True), lambda p: None, WAIT_S)
    with pytest.raises(MqttLinkError):
        await link.start("127.0.0.1", port, tls=ssl.create_default_context())
