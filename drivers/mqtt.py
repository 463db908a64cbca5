"""IP seat units and the display wall over MQTT (aiomqtt), for one hall.

`MqttUnits` logs in as the controller, subscribes to every seat unit's topics, decodes what
arrives with `protocols.mqtt` (never restating a topic or a payload layout), drops replayed
and redelivered presses with the codec's `DuplicateFilter`, and hands each new press to the
runtime as a core input stamped with the injected clock. It publishes unit commands to seats
and the wall's retained state, and announces the controller with a retained status and a last
will. Unit presence comes from the units' retained status topic and their last will.

Commands for the retained channels (LEDs, lock, microphone, ring) and the wall state are also
kept here, and published again after every (re)connection: an embedded broker that restarted
has no retained messages left, and a unit that restarted needs its state back.

It reconnects by itself, with exponential backoff, around a fresh `aiomqtt.Client` each
time (aiomqtt's documented reconnection pattern). It never raises on bad input: a payload the
contract refuses is logged (once per seat and reason) and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import aiomqtt

from controller.config import HallConfig
from controller.core.clock import Clock
from controller.core.effects import (
    Beep,
    KeypadLeds,
    KeypadLock,
    MicSwitch,
    RingShow,
    UnitCommand,
)
from controller.core.inputs import (
    ChairPriority,
    Input,
    MicCancel,
    MicRequest,
    PresenceChanged,
    TalkButton,
    VoiceLevel,
    VoteKeyPressed,
)
from controller.core.model import SpeakerList
from drivers.base import (
    HealthSink,
    InputSink,
    LineHealth,
    Origins,
    UnitHealth,
    UnitKind,
    origin_mark,
)
from drivers.errors import DriverConfigError
from drivers.health import LineMonitor, UnitMonitor
from drivers.mosquitto import BrokerEndpoint
from protocols import mqtt as wire

log = logging.getLogger(__name__)

MQTT_LINE = "mqtt"
CONTROLLER_VERSION = "chamber"


@dataclass(frozen=True)
class Backoff:
    # A broker lost during a vote must be back within seconds, not half a minute: presses
    # wait at the broker (the controller's session is persistent) until it reconnects.
    first_s: float = 0.5
    max_s: float = 5.0


class MqttUnits:
    """The MQTT driver: IP seat units in, commands and wall state out."""

    def __init__(
        self,
        hall_id: str,
        ip_seats: Iterable[int],
        endpoint: BrokerEndpoint,
        clock: Clock,
        sink: InputSink,
        on_health: HealthSink,
        *,
        identifier: str | None = None,
        backoff: Backoff = Backoff(),
        keepalive_s: int = 10,
        marks: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        try:
            self.topics = wire.Topics(hall_id)
        except wire.MqttError as exc:
            raise DriverConfigError(f"MQTT driver: {exc}") from exc
        self._seats = frozenset(ip_seats)
        self.endpoint = endpoint
        self._clock = clock
        self._sink = sink
        self._on_health = on_health
        self._identifier = identifier or f"chamber-controller-{hall_id}"
        self._backoff = backoff
        self._keepalive = keepalive_s
        self._duplicates = wire.DuplicateFilter(marks)
        self._units = {
            seat: UnitMonitor(MQTT_LINE, seat, seat, UnitKind.IP, on_health)
            for seat in sorted(self._seats)
        }
        self._line = LineMonitor(MQTT_LINE, on_health)
        self._boots: dict[int, int] = {}
        # Retained state to publish again after every connection, by topic.
        self._retained: dict[str, wire.Publication] = {}
        self._outbox: asyncio.Queue[wire.Publication] = asyncio.Queue()
        self._complained: set[tuple[int | None, str]] = set()
        self.connected = asyncio.Event()
        self.dropped = 0

    @classmethod
    def from_config(
        cls,
        config: HallConfig,
        endpoint: BrokerEndpoint,
        clock: Clock,
        sink: InputSink,
        on_health: HealthSink,
    ) -> MqttUnits:
        return cls(config.hall_id, ip_seats(config), endpoint, clock, sink, on_health)

    # --- Driver -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return MQTT_LINE

    @property
    def seats(self) -> frozenset[int]:
        return self._seats

    def health(self) -> list[UnitHealth | LineHealth]:
        return [self._line.health, *(m.health for m in self._units.values())]

    def send(self, command: UnitCommand) -> None:
        seats = sorted(self._seats) if command.seat is None else [command.seat]
        for seat in seats:
            if seat not in self._seats:
                log.debug("command for seat %s, which has no IP unit", seat)
                continue
            message = _command_message(seat, command)
            if message is None:
                return
            self._queue(message)

    def sound_chime(self, chair_seats: frozenset[int]) -> None:
        """The chair-priority chime, on the chair's IP unit(s): MQTT has no broadcast to units,
        and one message per seat would flood a big hall for a sound the hall system carries."""
        for seat in chair_seats & self._seats:
            self.chime(seat)

    def chime(self, seat: int) -> None:
        """Sound the priority chime on one IP unit (the chair's, usually)."""
        if seat in self._seats:
            self._queue(wire.ChimeCommand(seat))

    def restore_origins(self, origins: Origins) -> None:
        """Seed the duplicate filter from the journal (see drivers.base.Resumable)."""
        current = self._duplicates.marks()
        for (seat, kind), origin in origins.items():
            mark = origin_mark(origin)
            if kind != ORIGIN_KIND or seat not in self._seats or mark is None:
                continue
            if mark > current.get(seat, (-1, -1)):
                current[seat] = mark
        self._duplicates = wire.DuplicateFilter(current)

    def publish_wall(self, message: wire.Message) -> None:
        """Publish a piece of the wall's state (retained); sent again after a reconnection."""
        if message.kind not in _WALL_KINDS:
            raise DriverConfigError(f"{message.kind} is not a wall topic")
        self._queue(message)

    def clear_wall(self, kind: wire.MessageKind) -> None:
        """Remove a retained wall state (e.g. the result once the next item starts)."""
        if kind not in _WALL_KINDS:
            raise DriverConfigError(f"{kind} is not a wall topic")
        publication = self.topics.publication(wire.Cleared(kind))
        self._retained.pop(publication.topic, None)
        self._outbox.put_nowait(publication)

    def marks(self) -> dict[int, tuple[int, int]]:
        """The duplicate filter's marks, for the journal to keep across restarts."""
        return self._duplicates.marks()

    def _queue(self, message: wire.Message) -> None:
        try:
            publication = self.topics.publication(message)
        except wire.MqttError as exc:
            log.error("cannot publish %s: %s", message.kind, exc, extra={"event": "mqtt-bad-out"})
            return
        if publication.retain:
            self._retained[publication.topic] = publication
        self._outbox.put_nowait(publication)

    # --- the connection loop ------------------------------------------------------------------

    async def run(self) -> None:
        delay = self._backoff.first_s
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self._line.disconnected(f"broker {self.endpoint.host}:{self.endpoint.port}: {exc}")
            else:  # pragma: no cover - _session only returns by raising
                return
            await asyncio.sleep(delay)  # backoff between connection attempts
            delay = min(delay * 2, self._backoff.max_s)
            if self._line.health.connected:
                delay = self._backoff.first_s

    def _client(self) -> aiomqtt.Client:
        will = self.topics.will()
        tls: ssl.SSLContext | None = None
        if self.endpoint.tls:
            tls = ssl.create_default_context(cafile=self.endpoint.ca_file)
        return aiomqtt.Client(
            self.endpoint.host,
            self.endpoint.port,
            username=self.endpoint.username,
            password=self.endpoint.password,
            identifier=self._identifier,
            will=aiomqtt.Will(will.topic, will.payload, int(will.qos), will.retain),
            keepalive=self._keepalive,
            tls_context=tls,
            # A persistent session: QoS 1 presses sent while the controller was away arrive
            # on reconnection (and the duplicate filter drops what was already counted).
            clean_session=False,
        )

    async def _session(self) -> None:
        async with self._client() as client:
            status = self.topics.publication(
                wire.ControllerStatus(wire.LinkState.ONLINE, CONTROLLER_VERSION)
            )
            await client.publish(status.topic, status.payload, int(status.qos), status.retain)
            for sub in self.topics.subscriptions(wire.ClientRole.CONTROLLER):
                await client.subscribe(sub.topic_filter, int(sub.qos))
            # Everything retained goes out again; the outbox may hold some of it twice, which
            # is harmless for retained state.
            for publication in list(self._retained.values()):
                await _publish(client, publication)
            self._line.connected(f"{self.endpoint.host}:{self.endpoint.port}")
            self.connected.set()
            sender = asyncio.create_task(self._send_loop(client))
            try:
                async for message in client.messages:
                    self._received(str(message.topic), message.payload)
                    if sender.done():
                        sender.result()
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await sender
                self.connected.clear()
            raise aiomqtt.MqttError("the broker closed the connection")

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        while True:
            publication = await self._outbox.get()
            try:
                await _publish(client, publication)
            except aiomqtt.MqttError:
                # Kept for the next connection (after what is queued already: retained state is
                # published again first anyway, and a late beep beats a lost one).
                self._outbox.put_nowait(publication)
                raise

    # --- what arrives ----------------------------------------------------------------------

    def _drop(self, seat: int | None, reason: str, detail: str) -> None:
        self.dropped += 1
        key = (seat, reason)
        if key in self._complained:
            return
        self._complained.add(key)
        log.warning(
            "dropped MQTT message (seat %s): %s",
            seat,
            detail,
            extra={"event": "mqtt-dropped", "seat": seat, "reason": reason},
        )

    def _received(self, topic: str, payload: object) -> None:
        if not isinstance(payload, bytes | bytearray):
            self._drop(None, "payload-type", f"{topic}: payload is not bytes")
            return
        try:
            decoded = self.topics.decode(topic, bytes(payload))
        except wire.MqttProtocolError as exc:
            self._drop(None, str(exc.reason), str(exc))
            return
        seat = getattr(decoded, "seat", None)
        if isinstance(decoded, wire.Cleared) or seat is None:
            return  # our own retained state echoed back, or a status being cleared
        if seat not in self._seats:
            # Only a misconfigured unit or a foreign account publishes here: the broker's ACL
            # gives no account the topics of a seat without an IP unit.
            self._drop(seat, "not-ip-seat", f"{topic}: seat {seat} has no IP unit")
            return
        monitor = self._units[seat]
        now = self._clock.now()
        if isinstance(decoded, wire.UnitStatus):
            self._status(monitor, decoded, now)
            return
        monitor.seen(now, None)
        if isinstance(decoded, wire.VoiceLevel):
            self._sink(VoiceLevel(now, seat, decoded.level_db))
            return
        if not isinstance(decoded, wire.UnitEvent):
            return
        before = self._duplicates.marks().get(seat)
        verdict = self._duplicates.check(decoded)
        if not verdict.accepted:
            log.debug(
                "seat %d: %s press (boot %d, seq %d)", seat, verdict, decoded.boot, decoded.seq
            )
            return
        if verdict is wire.SeqVerdict.GAP and before is not None:
            monitor.lost(decoded.seq - before[1] - 1)
        inp = _event_input(decoded, now)
        if inp is not None:
            self._sink(inp)

    def _status(self, monitor: UnitMonitor, status: wire.UnitStatus, now: float) -> None:
        seat = status.seat
        if status.state is wire.LinkState.OFFLINE:
            monitor.set_online(False, "its last will (or goodbye) arrived")
            return
        self._duplicates.observe_status(status)
        monitor.seen(now, None, status.firmware or "")
        previous = self._boots.get(seat)
        if status.boot is not None:
            self._boots[seat] = status.boot
            if previous is not None and status.boot != previous:
                monitor.rebooted()
                self._resync(seat)
        monitor.set_online(True)

    def _resync(self, seat: int) -> None:
        """Send a restarted unit its retained state again (the broker also holds it)."""
        prefix = self.topics.topic(wire.MessageKind.CMD_LEDS, seat).rsplit("/", 1)[0] + "/"
        for topic, publication in self._retained.items():
            if topic.startswith(prefix):
                self._outbox.put_nowait(publication)


_WALL_KINDS = frozenset(
    {
        wire.MessageKind.WALL_SITTING,
        wire.MessageKind.WALL_ITEM,
        wire.MessageKind.WALL_ATTENDANCE,
        wire.MessageKind.WALL_VOTE,
        wire.MessageKind.WALL_RESULT,
        wire.MessageKind.WALL_SEATS,
        wire.MessageKind.WALL_FLOOR,
    }
)


async def _publish(client: aiomqtt.Client, publication: wire.Publication) -> None:
    await client.publish(
        publication.topic, publication.payload, int(publication.qos), publication.retain
    )


def _command_message(seat: int, command: UnitCommand) -> wire.Message | None:
    match command:
        case KeypadLeds(lit=lit, present=present):
            return wire.LedsCommand(seat, tuple(lit), present)
        case KeypadLock(locked=locked, keys=keys):
            return wire.LockCommand(seat, locked, keys)
        case Beep(pattern=pattern):
            return wire.BeepCommand(seat, wire.BeepPattern(pattern.value))
        case MicSwitch(on=on):
            return wire.MicCommand(seat, on)
        case RingShow(state=state, position=position):
            ring = wire.RingState(state.value)
            # The contract carries a position for QUEUED only (NEXT is the first, by meaning).
            return wire.RingCommand(seat, ring, position if ring is wire.RingState.QUEUED else 0)
    log.debug("no MQTT form for %s", type(command).__name__)
    return None


# The `origin` kind of an IP unit's inputs (drivers.base.Origins).
ORIGIN_KIND = "ip"


def _event_input(event: wire.UnitEvent, now: float) -> Input | None:
    seat = event.seat
    origin = f"{ORIGIN_KIND}:{event.boot}:{event.seq}"
    match event:
        case wire.VoteKey(key=key):
            return VoteKeyPressed(now, seat, key, origin)
        case wire.PresenceKey(present=present, card=card):
            return PresenceChanged(now, seat, present, card, origin)
        case wire.MicRequestKey(list=speakers):
            return MicRequest(now, seat, SpeakerList(speakers.value), origin)
        case wire.MicCancelKey():
            return MicCancel(now, seat, origin)
        case wire.TalkKey(held=held):
            return TalkButton(now, seat, held, origin)
        case wire.PriorityKey(held=held):
            return ChairPriority(now, seat, held, origin)
    return None


def ip_seats(config: HallConfig) -> frozenset[int]:
    """The seats of a hall that have an IP unit."""
    return frozenset(u.seat for u in config.units if u.ip)
