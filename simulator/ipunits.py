"""IP seat units and the display-wall client, on MQTT against a real broker.

Each simulated IP unit is its own MQTT client with its own account (`seat-0042`), as the
contract's ACL expects: one connection per unit. Measured on a 2-core machine against
Mosquitto, 4,096 aiomqtt clients in one event loop connect in about 1.6 s and carry 4,096
QoS 1 presses to a subscriber in about 1.2 s, using about 100 MB: no pool is needed.

A unit announces itself on its retained status topic (boot counter, firmware) with a last
will that marks it offline; presses carry the unit's boot counter and event sequence number
(protocols.mqtt), so a controller can count each one once even when the duplicate and
replay faults re-publish old messages. Commands (lock, LEDs, ring, microphone) are applied to
what the unit shows. When the broker goes away, the unit reconnects as the contract says
("Reconnecting") and sends the presses it kept meanwhile, as a QoS 1 client does.

As the contract requires (firmware_specs/mqtt.md, "Presses: until the controller confirms"),
a unit keeps every press until the controller confirms it: a `cmd/confirm` for its seat that
names the press or a later one (contract 1.2). Each time the controller's status says online (on
every subscription, the retained one; and after each reconnection of the controller) the unit
publishes again, unchanged, every press the broker acknowledged and the controller did not
confirm: a broker that restarted without persistence has lost those.

Topics, payloads, QoS and retain all come from protocols.mqtt; nothing is restated here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from chamber.drivers.mosquitto import unit_password
from chamber.protocols import mqtt
from chamber.simulator.delegates import GroundTruth, Press, PressKind
from chamber.simulator.faults import IP_LINE, FaultKind, Faults

log = logging.getLogger(__name__)

# How many units open their connection at once: Mosquitto's listen backlog and the
# password check both prefer a steady stream to 4,096 simultaneous SYNs.
CONNECT_CONCURRENCY = 256
# The MQTT contract's reconnection timing ("Reconnecting"): at least every second for 10 s
# after a loss, each wait drawn between half and all of its length, then longer.
RECONNECT_STEADY_WAIT_S = 0.5
RECONNECT_STEADY_FOR_S = 10.0
RECONNECT_MAX_S = 10.0
HISTORY = 16  # old publications a unit keeps for the replay fault
# The contract version a simulated unit implements unless told otherwise, and the one that
# added its optional commands (unit/features, cmd/identify).
CONTRACT = mqtt.contract_version()
IDENTIFY_SINCE = mqtt.IDENTIFY_SINCE


def reconnect_waits(rng: random.Random) -> Iterator[float]:
    """A unit's waits before each attempt after a lost connection, as the contract has them."""
    spent = 0.0
    while spent < RECONNECT_STEADY_FOR_S:
        wait = rng.uniform(0.5, 1.0) * RECONNECT_STEADY_WAIT_S
        spent += wait
        yield wait
    nominal = 1.0
    while True:
        nominal = min(RECONNECT_MAX_S, nominal * 2)
        yield rng.uniform(0.5, 1.0) * nominal


@dataclass
class _Unconfirmed:
    """A press the controller has not confirmed; `acked` once the broker acknowledged its
    last publication (False while it is on its way)."""

    pub: mqtt.Publication
    acked: bool = False


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker listens; `username`/`password` are the wall client's account."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


def unit_credentials(secret: bytes | None, seat: int) -> tuple[str | None, str | None]:
    """A unit's broker account: its seat username and the password derived from the secret
    by the daemon's Mosquitto supervisor, so both always agree. No secret: anonymous."""
    if secret is None:
        return None, None
    username = mqtt.seat_username(seat)
    return username, unit_password(secret, username)


class SeatTopics:
    """Per-seat will and subscriptions, derived from the codec's answer for one seat.

    Asking the codec for each of 4,096 seats costs about a millisecond apiece (it validates
    the will against its schema and matches every channel for the QoS); the answers differ
    only in the seat segment of the topic, whose position the contract's channels give.
    """

    def __init__(self, topics: mqtt.Topics) -> None:
        self.topics = topics
        self._template_seat = 1
        self._will = topics.will(self._template_seat)
        self._subs = topics.subscriptions(mqtt.ClientRole.SEAT_UNIT, self._template_seat)
        self._seat_index = topics.channel(mqtt.MessageKind.UNIT_STATUS).segments.index("{seat}")

    def _with_seat(self, topic: str, seat: int) -> str:
        parts = topic.split("/")
        if len(parts) > self._seat_index and parts[self._seat_index] == str(self._template_seat):
            parts[self._seat_index] = str(seat)
        return "/".join(parts)

    def will(self, seat: int) -> mqtt.Publication:
        w = self._will
        topic = self.topics.topic(mqtt.MessageKind.UNIT_STATUS, seat)
        return mqtt.Publication(topic, w.payload, w.qos, w.retain)

    def subscriptions(self, seat: int) -> list[tuple[str, int]]:
        return [(self._with_seat(s.topic_filter, seat), int(s.qos)) for s in self._subs]


@dataclass
class IpUnitState:
    """What an IP unit shows, as its commands left it."""

    locked: bool = False
    keys: int = 0
    lit: tuple[int, ...] = ()
    present_led: bool | None = None
    mic_on: bool = False
    ring: str = "off"
    position: int = 0
    beeps: int = 0
    chimes: int = 0
    # Every LED blinks for a technician until then (loop time; cmd/identify, contract 1.3).
    blink_until: float | None = None


class IpUnit:
    """One IP seat unit: its MQTT connection, its counters and what it shows."""

    def __init__(
        self,
        seat: int,
        seat_topics: SeatTopics,
        broker: BrokerAddress,
        *,
        credentials: tuple[str | None, str | None],
        truth: GroundTruth,
        faults: Faults,
        boot: int = 1,
        firmware: str = "1.0.0",
        on_connected: Callable[[IpUnit], None] | None = None,
        rng: random.Random | None = None,
        contract: tuple[int, int] = CONTRACT,
    ) -> None:
        self.seat = seat
        # The MQTT contract version its firmware implements: from 1.3 it names its optional
        # commands on unit/features and takes cmd/identify.
        self.contract = contract
        # The jitter of its reconnection waits: seeded, so a run replays.
        self._rng = rng if rng is not None else random.Random(seat)
        self._seat_topics = seat_topics
        self._topics = seat_topics.topics
        self._broker = broker
        self._username, self._password = credentials
        self._truth = truth
        self._faults = faults
        self.boot = boot
        self.seq = 0
        self.firmware = firmware
        self.state = IpUnitState()
        self.connected = asyncio.Event()
        self.commands: list[mqtt.Message] = []
        self._commanded = asyncio.Condition()
        self._client: aiomqtt.Client | None = None
        self._backlog: deque[mqtt.Publication] = deque()
        self._history: deque[mqtt.Publication] = deque(maxlen=HISTORY)
        self._pending: set[asyncio.Task[None]] = set()
        self._on_connected = on_connected
        self._kick = asyncio.Event()
        self._closing = False
        self.connections = 0
        # Presses kept until the controller confirms them, by (boot, seq), in order.
        self._unconfirmed: dict[tuple[int, int], _Unconfirmed] = {}
        self.resent = 0

    # --- delegate actions ------------------------------------------------------------------

    def press_vote(self, key: int) -> Press:
        loop = asyncio.get_running_loop()
        refused = self.state.locked or (self.state.keys > 0 and key > self.state.keys)
        if refused:
            press = Press(self.seat, PressKind.VOTE, key, loop.time(), 0, self.name, True)
        else:
            seq = self._next_seq()
            press = Press(self.seat, PressKind.VOTE, key, loop.time(), seq, self.name)
            self._send(mqtt.VoteKey(self.seat, self.boot, seq, key))
        self._truth.record(press)
        return press

    def set_presence(self, present: bool) -> Press:
        seq = self._next_seq()
        kind = PressKind.PRESENCE_ON if present else PressKind.PRESENCE_OFF
        press = Press(self.seat, kind, 0, asyncio.get_running_loop().time(), seq, self.name)
        self._send(mqtt.PresenceKey(self.seat, self.boot, seq, present))
        self._truth.record(press)
        return press

    def confirm_presence(self) -> Press:
        """A delegate who is present confirms in a roll call: the presence key says "present"
        again, and the delegate stays."""
        seq = self._next_seq()
        now = asyncio.get_running_loop().time()
        press = Press(self.seat, PressKind.PRESENCE_CONFIRM, 0, now, seq, self.name)
        self._send(mqtt.PresenceKey(self.seat, self.boot, seq, True))
        self._truth.record(press)
        return press

    def mic_request(self, speaker_list: mqtt.SpeakerList = mqtt.SpeakerList.SPEAK) -> Press:
        seq = self._next_seq()
        now = asyncio.get_running_loop().time()
        press = Press(self.seat, PressKind.MIC_REQUEST, 0, now, seq, self.name)
        self._send(mqtt.MicRequestKey(self.seat, self.boot, seq, speaker_list))
        self._truth.record(press)
        return press

    def mic_cancel(self) -> Press:
        seq = self._next_seq()
        now = asyncio.get_running_loop().time()
        press = Press(self.seat, PressKind.MIC_CANCEL, 0, now, seq, self.name)
        self._send(mqtt.MicCancelKey(self.seat, self.boot, seq))
        self._truth.record(press)
        return press

    @property
    def name(self) -> str:
        return f"{IP_LINE}/{self.seat}"

    # --- faults ----------------------------------------------------------------------------

    def duplicate(self) -> bool:
        """Publish the last press again, exactly as it was (a QoS 1 redelivery)."""
        if not self._history:
            return False
        self._faults.count(FaultKind.DUPLICATE)
        self._publish(self._history[-1])
        return True

    def replay(self, back: int = 1) -> bool:
        """Publish an older press again, after newer ones (a replayed capture)."""
        if len(self._history) <= back:
            return False
        self._faults.count(FaultKind.REPLAY)
        self._publish(self._history[-1 - back])
        return True

    def blinking(self, now: float) -> bool:
        """Whether its LEDs blink at loop time `now` (a technician asked it to identify)."""
        until = self.state.blink_until
        return until is not None and now < until

    def install_firmware(self, contract: tuple[int, int]) -> None:
        """Firmware of another contract version is installed: the unit restarts with it."""
        self.contract = contract
        self.reboot()

    def reboot(self) -> None:
        """A restart: the boot counter moves on, the sequence and the outputs start afresh."""
        self._faults.count(FaultKind.REBOOT)
        self.boot += 1
        self.seq = 0
        self.state = IpUnitState()
        self._history.clear()
        self.connected.clear()
        # Drop the connection so the broker delivers the will, then come back with the new boot.
        self._kick.set()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Switch the unit off: `run` disconnects cleanly and returns."""
        self._closing = True
        self._kick.set()

    # --- the connection --------------------------------------------------------------------

    async def run(self, gate: asyncio.Semaphore) -> None:
        """Stay connected until cancelled; reconnect as the contract says when the broker
        goes away ("Reconnecting": often for 10 s, jittered, then backing off)."""
        waits = reconnect_waits(self._rng)
        while not self.is_closing():
            connections = self.connections
            try:
                await self._connect_and_serve(gate)
                waits = reconnect_waits(self._rng)
            except aiomqtt.MqttError as exc:
                if self.is_closing():
                    return
                if self.connections != connections:
                    waits = reconnect_waits(self._rng)  # it was connected: retries come often
                wait = next(waits)
                log.debug("seat %d: %s; reconnecting in %.2f s", self.seat, exc, wait)
                self.connected.clear()
                self._client = None
                await asyncio.sleep(wait)  # the contract's wait between attempts

    async def _connect_and_serve(self, gate: asyncio.Semaphore) -> None:
        will = self._seat_topics.will(self.seat)
        client = aiomqtt.Client(
            self._broker.host,
            self._broker.port,
            username=self._username,
            password=self._password,
            identifier=self._username or f"sim-seat-{self.seat}",
            will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            keepalive=30,
        )
        async with gate:
            await client.__aenter__()
        try:
            self._kick.clear()
            status = mqtt.UnitStatus(
                self.seat, mqtt.LinkState.ONLINE, boot=self.boot, firmware=self.firmware
            )
            pub = self._topics.publication(status)
            announce = [client.publish(pub.topic, pub.payload, pub.qos, pub.retain)]
            if self.contract >= IDENTIFY_SINCE:
                features = mqtt.UnitFeatures(self.seat, self.boot, (mqtt.IDENTIFY_FEATURE,))
                fp = self._topics.publication(features)
                announce.append(client.publish(fp.topic, fp.payload, fp.qos, fp.retain))
            # One SUBSCRIBE for all filters, in flight with the status: two round trips
            # per unit instead of four make a 4,096-seat hall start in half the time.
            await asyncio.gather(
                *announce,
                client.subscribe(self._seat_topics.subscriptions(self.seat)),
            )
            self._client = client
            self.connections += 1
            self._flush_on_connection()
            self.connected.set()
            if self._on_connected is not None:
                self._on_connected(self)
            reader = asyncio.ensure_future(self._read(client))
            kicked = asyncio.ensure_future(self._kick.wait())
            try:
                await asyncio.wait({reader, kicked}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reader, kicked):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await task
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                raise aiomqtt.MqttError(str(reader.exception()))
        finally:
            self._client = None
            self.connected.clear()
            if self._kick.is_set():
                # Switched off or rebooting: a clean DISCONNECT makes the broker drop the will
                # (MQTT 3.1.1, 3.14.4), so the unit says it first (mqtt.md, since 1.5).
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(will.topic, will.payload, will.qos, will.retain)
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                decoded = self._topics.decode(str(message.topic), payload)
            except mqtt.MqttProtocolError as exc:
                log.warning("seat %d: bad command: %s", self.seat, exc)
                continue
            if isinstance(decoded, mqtt.ControllerStatus):
                if decoded.state is mqtt.LinkState.ONLINE:
                    self._resend_unconfirmed()
                continue
            if isinstance(decoded, mqtt.ConfirmCommand):
                self._confirmed((decoded.boot, decoded.seq))
            elif isinstance(decoded, mqtt.Message):
                self._apply(decoded)
            else:
                continue
            async with self._commanded:
                self._commanded.notify_all()

    @property
    def unconfirmed(self) -> int:
        """Presses the controller has not confirmed yet."""
        return len(self._unconfirmed)

    def _flush_on_connection(self) -> None:
        """The contract: on every connection, before anything new, every press the controller
        has not confirmed goes out again in its order (the broker may have lost those it
        acknowledged), then the rest of what waited; the controller counts a seat's presses in
        order, and refuses an older one that comes after a newer one."""
        backlog = list(self._backlog)
        self._backlog.clear()
        presses = {id(entry.pub) for entry in self._unconfirmed.values()}
        for entry in self._unconfirmed.values():
            if entry.acked:
                self.resent += 1
            entry.acked = False
            self._publish(entry.pub)
        for queued in backlog:
            if id(queued) not in presses:
                self._publish(queued)

    def _confirmed(self, mark: tuple[int, int]) -> None:
        """`cmd/confirm` (contract 1.2): every press up to `mark`, boot first, is counted."""
        for key in [k for k in self._unconfirmed if k <= mark]:
            del self._unconfirmed[key]

    def _resend_unconfirmed(self) -> None:
        """The controller is (back) online: what the broker took and the controller never
        confirmed may have died with a broker restart. Send it again, unchanged, in order."""
        for entry in self._unconfirmed.values():
            if not entry.acked:
                continue  # still on its way, or waiting in the backlog
            entry.acked = False
            self.resent += 1
            self._publish(entry.pub)

    def _apply(self, message: mqtt.Message) -> None:
        s = self.state
        match message:
            case mqtt.LockCommand(locked=locked, keys=keys):
                s.locked, s.keys = locked, keys
            case mqtt.LedsCommand(lit=lit, present=present):
                s.lit = lit
                if present is not None:
                    s.present_led = present
            case mqtt.BeepCommand():
                s.beeps += 1
            case mqtt.MicCommand(on=on):
                s.mic_on = on
            case mqtt.RingCommand(state=state, position=position):
                s.ring, s.position = str(state), position
            case mqtt.ChimeCommand():
                s.chimes += 1
            case mqtt.IdentifyCommand(seconds=seconds) if self.contract >= IDENTIFY_SINCE:
                now = asyncio.get_running_loop().time()
                s.blink_until = now + seconds if seconds else None
            case _:
                return
        self.commands.append(message)

    async def wait_unconfirmed(self, count: int) -> None:
        """Wait until at most `count` presses wait for a confirmation (bound it with a timeout)."""
        async with self._commanded:
            await self._commanded.wait_for(lambda: len(self._unconfirmed) <= count)

    async def wait_commands(self, count: int) -> None:
        """Wait until the unit has applied `count` commands in all (bound it with a timeout)."""
        async with self._commanded:
            await self._commanded.wait_for(lambda: len(self.commands) >= count)

    # --- publishing ------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _send(self, message: mqtt.Message) -> None:
        pub = self._topics.publication(message)
        self._history.append(pub)
        if isinstance(message, mqtt.UnitEvent):
            self._unconfirmed[(message.boot, message.seq)] = _Unconfirmed(pub)
        self._publish(pub)
        rates = self._faults.rates
        if self._faults.draw(rates.duplicate):
            self.duplicate()
        if self._faults.draw(rates.replay):
            self.replay()

    def _publish(self, pub: mqtt.Publication) -> None:
        client = self._client
        if client is None:
            self._backlog.append(pub)
            return
        task = asyncio.ensure_future(self._deliver(client, pub))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, client: aiomqtt.Client, pub: mqtt.Publication) -> None:
        try:
            await client.publish(pub.topic, pub.payload, pub.qos, pub.retain, timeout=10)
            for entry in self._unconfirmed.values():
                if entry.pub is pub:
                    entry.acked = True
        except aiomqtt.MqttError:
            # Lost with the connection: send it again on the next one, as a QoS 1 client
            # would. The unit may have reconnected while this publish was waiting for its
            # acknowledgement; its backlog was sent then, so send this one now.
            if self._client is None or self._client is client:
                self._backlog.append(pub)
            else:
                self._publish(pub)

    async def drain(self) -> None:
        """Wait until every publish handed to the broker has been acknowledged."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


@dataclass
class WallClient:
    """A display wall: reads the retained wall state and the controller's status."""

    topics: mqtt.Topics
    broker: BrokerAddress
    state: dict[mqtt.MessageKind, mqtt.Message] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    errors: list[str] = field(default_factory=list)

    async def run(self, ready: asyncio.Event) -> None:
        waits = reconnect_waits(random.Random(0))  # the same rule as a seat unit's
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    username=self.broker.username,
                    password=self.broker.password,
                    # The broker binds a client id to its account anyway.
                    identifier=self.broker.username or f"sim-wall-{id(self):x}",
                ) as client:
                    for sub in self.topics.subscriptions(mqtt.ClientRole.WALL):
                        await client.subscribe(sub.topic_filter, sub.qos)
                    ready.set()
                    waits = reconnect_waits(random.Random(0))
                    async for message in client.messages:
                        await self._take(str(message.topic), message.payload)
            except aiomqtt.MqttError:
                await asyncio.sleep(next(waits))  # the contract's wait between attempts

    async def _take(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else b""
        try:
            decoded = self.topics.decode(topic, data)
        except mqtt.MqttProtocolError as exc:
            self.errors.append(str(exc))
            return
        async with self.changed:
            if isinstance(decoded, mqtt.Cleared):
                self.state.pop(decoded.kind, None)
            else:
                self.state[decoded.kind] = decoded
            self.changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[dict[mqtt.MessageKind, mqtt.Message]], bool]
    ) -> None:
        """Wait until the wall's state satisfies `predicate` (bound it with asyncio.timeout)."""
        async with self.changed:
            await self.changed.wait_for(lambda: predicate(self.state))
