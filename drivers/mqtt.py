"""IP seat units and the display wall over MQTT, for one hall.

`MqttUnits` logs in as the controller, subscribes to every seat unit's topics, decodes what
arrives with `protocols.mqtt` (never restating a topic or a payload layout), drops replayed
and redelivered presses with the codec's `DuplicateFilter`, and hands each new press to the
runtime as a core input stamped with the injected clock. It publishes unit commands to seats
and the wall's retained state, and announces the controller with a retained status and a last
will. Unit presence comes from the units' retained status topic and their last will.

Commands for the retained channels (LEDs, lock, microphone, ring) and the wall state are also
kept here, and published again after every (re)connection: an embedded broker that restarted
has no retained messages left, and a unit that restarted needs its state back.

No press is acknowledged before it is durable. The driver acknowledges QoS 1 deliveries
itself (its client, `drivers.mqtt_link`, never sends a PUBACK on its own): a message that
became a core input is acknowledged when the runtime says that input is settled (`settled`,
after the journal commit), anything else at once, and always in the order the messages
arrived (MQTT 3.1.1, section 4.6). The session is
persistent, so the broker delivers again whatever the controller had not made durable when it
died or lost its connection; the duplicate filter, restored from the journal, drops what was
already counted, and a delivery of a press still waiting for its commit is acknowledged with it.

Replay protection follows the contract's boot/seq rules: a unit's boot counter never goes back,
so a status or a press with a lower boot than the last seen is refused and logged (once a
minute per seat), and a unit that restarted without advancing its boot counter is named once
in the log and in its health (`fault`), since its presses are refused until its counter moves.

After every (re)connection the driver subscribes and reads presses first; the controller's
status and the retained state go out again from the sender task, so a big hall's retained
state never holds up a press.

It reconnects by itself (every 0.1 s for 10 s after a loss, then with exponential backoff: see
`Backoff`), around a fresh connection (`drivers.mqtt_link.MqttLink`, MQTT 3.1.1 on the
sans-IO `protocols.mqtt_packet`) each time. It never raises on bad input: a payload the
contract refuses is logged (once per seat and reason) and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from chamber.controller.core.clock import Clock
from chamber.controller.core.effects import (
    Beep,
    KeypadLeds,
    KeypadLock,
    MicSwitch,
    RingShow,
    UnitCommand,
)
from chamber.controller.core.inputs import (
    ChairPriority,
    Input,
    MicCancel,
    MicRequest,
    PresenceChanged,
    TalkButton,
    VoiceLevel,
    VoteKeyPressed,
)
from chamber.controller.core.model import SpeakerList
from chamber.drivers.base import (
    HealthSink,
    IdentifyOutcome,
    IdentifyResult,
    InputSink,
    LineHealth,
    Origins,
    UnitHealth,
    UnitKind,
    origin_mark,
)
from chamber.drivers.errors import DriverConfigError
from chamber.drivers.health import LineMonitor, UnitMonitor
from chamber.drivers.mosquitto import BrokerEndpoint
from chamber.drivers.mqtt_link import MqttLink, MqttLinkError
from chamber.drivers.topology import Topology
from chamber.protocols import mqtt as wire
from chamber.protocols import mqtt_packet as pk

log = logging.getLogger(__name__)

MQTT_LINE = "mqtt"
CONTROLLER_VERSION = "chamber"
# A refused replay or a boot that went back is logged at most once a minute per seat.
REFUSAL_LOG_INTERVAL_S = 60.0
# How many retained publications go out at once after a reconnection.
REPUBLISH_WINDOW = 256
# How many queued publications go out at once, before their acknowledgements are awaited.
SEND_WINDOW = 64
# The last presses accepted per seat, to tell a unit's resend of one from a new press.
RECENT_PER_SEAT = 32


@dataclass(frozen=True)
class Backoff:
    """When to try the broker again. A broker lost during a vote must be read again within a
    second of its return, not half a minute later: for `steady_s` after a lost connection
    the attempts come every `first_s` (a refused connection costs nothing, and a restarted
    broker that loads a large hall's accounts is not listening at once, so doubling the wait
    there would miss its return by up to a second); then the wait doubles up to `max_s`."""

    first_s: float = 0.1
    max_s: float = 5.0
    steady_s: float = 10.0

    def delays(self) -> Iterator[float]:
        """The waits before each attempt after a lost connection."""
        for _ in range(round(self.steady_s / self.first_s)):
            yield self.first_s
        delay = self.first_s
        while True:
            delay = min(delay * 2, self.max_s)
            yield delay


@dataclass(eq=False, slots=True)
class _Ack:
    """One QoS 1 delivery waiting for its PUBACK: `ready` once nothing holds it back."""

    packet_id: int
    ready: bool = False


@dataclass(eq=False)
class _Held:
    """An input fed to the runtime and not settled yet, with the deliveries that wait on it."""

    inp: Input
    key: tuple[int, int, int] | None
    acks: list[_Ack] = field(default_factory=list)


class _AckQueue:
    """The PUBACKs of one connection, sent in the order their messages arrived."""

    def __init__(self, ack: Callable[[list[int]], object]) -> None:
        self._ack = ack
        self._queue: deque[_Ack] = deque()

    def add(self, packet_id: int) -> _Ack:
        entry = _Ack(packet_id)
        self._queue.append(entry)
        return entry

    def flush(self) -> None:
        """Send the PUBACKs now due, in arrival order, in one write."""
        queue = self._queue
        if not queue or not queue[0].ready:
            return
        due = []
        while queue and queue[0].ready:
            due.append(queue.popleft().packet_id)
        self._ack(due)

    def __len__(self) -> int:
        return len(self._queue)


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
        timeout_s: float = 10.0,
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
        # A broker with `use_username_as_clientid` (the embedded one) replaces the client id
        # with the account name anyway; sending the same makes any broker see one session.
        self._identifier = identifier or endpoint.username or f"chamber-controller-{hall_id}"
        self._backoff = backoff
        self._keepalive = keepalive_s
        self._timeout = timeout_s
        self._duplicates = wire.DuplicateFilter(marks)
        self._units = {
            seat: UnitMonitor(MQTT_LINE, seat, seat, UnitKind.IP, on_health)
            for seat in sorted(self._seats)
        }
        self._line = LineMonitor(MQTT_LINE, on_health)
        self._boots: dict[int, int] = {}
        # Retained state to publish again after every connection, by topic.
        self._retained: dict[str, wire.Publication] = {}
        # The same, per seat: a unit's state to send again on a resent press or a restart.
        self._seat_retained: dict[int, dict[str, wire.Publication]] = {}
        # Per seat, the last (boot, seq) confirmed to its unit (`cmd/confirm`, contract 1.2).
        self._confirmed: dict[int, tuple[int, int]] = {}
        self._outbox: asyncio.Queue[wire.Publication] = asyncio.Queue()
        self._complained: set[tuple[int | None, str]] = set()
        self.connected = asyncio.Event()
        self._sessions_up = False
        self.dropped = 0
        # Deliveries seen again (redelivered by the broker or resent by a unit) and dropped.
        self.duplicates = 0
        # Manual acknowledgement: the connection's queue, and the inputs not settled yet.
        self._acks: _AckQueue | None = None
        self._held: dict[int, _Held] = {}
        self._held_by_origin: dict[tuple[int, int, int], _Held] = {}
        self._refusal_logged: dict[tuple[int, str], float] = {}
        self._stale_boot: dict[int, int] = {}
        self._recent: dict[int, dict[tuple[int, int], wire.UnitEvent]] = {}
        # The optional commands each unit says it takes, and for which start (`unit/features`,
        # contract 1.3): they count only while its status names the same boot.
        self._features: dict[int, tuple[int, frozenset[str]]] = {}

    @classmethod
    def from_config(
        cls,
        config: Topology,
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

    async def ready(self) -> None:
        await self.connected.wait()

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

    def units(self) -> frozenset[int]:
        """The IP units' addresses: their seats (drivers.base.Identifying)."""
        return self._seats

    async def identify(self, address: int, seconds: int) -> IdentifyResult:
        """Blink the IP unit of seat `address` for `seconds` (`cmd/identify`, contract 1.3),
        if its `unit/features` names identify; a unit that names none is of 1.2 or earlier and
        is sent nothing. Answered once the command is queued: MQTT carries no reply to it."""
        if address not in self._seats:
            raise KeyError(address)
        if type(seconds) is not int or not 0 <= seconds <= 255:
            raise ValueError("an IP unit identifies itself for 0..255 s")
        monitor = self._units[address]

        def result(
            outcome: IdentifyOutcome, detail: str = "", contract: str = ""
        ) -> IdentifyResult:
            major, minor = wire.IDENTIFY_SINCE
            return IdentifyResult(
                MQTT_LINE,
                address,
                address,
                UnitKind.IP,
                outcome,
                seconds,
                detail,
                contract,
                f"{major}.{minor}",
            )

        if not monitor.online:
            return result(IdentifyOutcome.OFFLINE, "not online")
        boot, features = self._features.get(address, (None, frozenset()))
        if boot != self._boots.get(address) or wire.IDENTIFY_FEATURE not in features:
            return result(
                IdentifyOutcome.NOT_SUPPORTED,
                "no identify in its unit/features",
                f"{wire.IDENTIFY_SINCE[0]}.0–{wire.IDENTIFY_SINCE[0]}.{wire.IDENTIFY_SINCE[1] - 1}",
            )
        self._queue(wire.IdentifyCommand(address, seconds))
        log.info(
            "IP unit of seat %d identifies itself for %d s",
            address,
            seconds,
            extra={
                "event": "unit-identify",
                "line": MQTT_LINE,
                "seat": address,
                "seconds": seconds,
            },
        )
        return result(IdentifyOutcome.STARTED)

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

    def settled(self, inputs: Sequence[Input]) -> None:
        """Inputs the runtime has made durable (or refused): their deliveries may be acked
        (see drivers.base.Settling). Inputs of other drivers are not ours and are ignored."""
        for inp in inputs:
            held = self._held.pop(id(inp), None)
            if held is None or held.inp is not inp:
                continue
            if held.key is not None:
                self._held_by_origin.pop(held.key, None)
                self._confirm(held.key[0], held.key[1:])
            for entry in held.acks:
                entry.ready = True
        if self._acks is not None:
            self._acks.flush()

    async def drained(self) -> None:
        """Return once every command queued so far has reached the broker (bound it with a
        timeout: without a broker it waits)."""
        await self._outbox.join()

    @property
    def identifier(self) -> str:
        """The MQTT client id the controller connects with."""
        return self._identifier

    @property
    def held(self) -> int:
        """How many inputs wait for the runtime's word before their delivery is acked."""
        return len(self._held)

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
            seat = getattr(message, "seat", None)
            if isinstance(seat, int):
                self._seat_retained.setdefault(seat, {})[publication.topic] = publication
        self._outbox.put_nowait(publication)

    # --- the connection loop ------------------------------------------------------------------

    async def run(self) -> None:
        delays = self._backoff.delays()
        while True:
            self._sessions_up = False
            try:
                await self._session()
            except MqttLinkError as exc:
                self.connected.clear()
                self._line.disconnected(f"broker {self.endpoint.host}:{self.endpoint.port}: {exc}")
            else:  # pragma: no cover - _session only returns by raising
                return
            if self._sessions_up:
                delays = self._backoff.delays()  # a lost connection: retries come often again
            await asyncio.sleep(next(delays))  # backoff between connection attempts

    def _connect_packet(self) -> pk.Connect:
        will = self.topics.will()
        return pk.Connect(
            self._identifier,
            self._keepalive,
            # A persistent session: QoS 1 presses sent while the controller was away arrive
            # on reconnection (and the duplicate filter drops what was already counted).
            clean_session=False,
            username=self.endpoint.username,
            password=self.endpoint.password,
            will=pk.Will(will.topic, will.payload, int(will.qos), will.retain),
        )

    def _tls(self) -> ssl.SSLContext | None:
        if not self.endpoint.tls:
            return None
        return ssl.create_default_context(cafile=self.endpoint.ca_file)

    async def _session(self) -> None:
        # `timeout_s` bounds each wait of the connection: the CONNACK, the SUBACK, a window's
        # PUBACKs. A connection lost during one of them fails it at once.
        link = MqttLink(self._connect_packet(), _no_delivery, self._timeout)
        acks = _AckQueue(link.ack)
        # Set before the CONNECT: the broker sends a persistent session's waiting presses
        # right behind its CONNACK, before any SUBSCRIBE.
        link.on_publish = lambda packet: self._take(acks, packet)
        # Deliveries of an earlier connection cannot be acked on this one: the broker sends
        # again what it has not had a PUBACK for, and those wait on the same inputs.
        for held in self._held.values():
            held.acks.clear()
        self._acks = acks
        sender: asyncio.Task[None] | None = None
        try:
            await link.start(self.endpoint.host, self.endpoint.port, tls=self._tls())
            # Presses first: one SUBSCRIBE for every filter, then read at once. The status and
            # the retained state go out from the sender task, beside the reads.
            subs = self.topics.subscriptions(wire.ClientRole.CONTROLLER)
            codes = await link.subscribe([(sub.topic_filter, int(sub.qos)) for sub in subs])
            for sub, code in zip(subs, codes, strict=False):
                if code == pk.SUBSCRIBE_FAILURE:
                    log.error(
                        "the broker refused the subscription %s",
                        sub.topic_filter,
                        extra={"event": "mqtt-subscribe-refused", "filter": sub.topic_filter},
                    )
            self._line.connected(f"{self.endpoint.host}:{self.endpoint.port}")
            self._sessions_up = True
            self.connected.set()
            sender = asyncio.create_task(self._send_loop(link))
            # A sender that fails (a window not acknowledged in time) ends the session as a
            # lost connection does, even when no message arrives to notice it.
            await asyncio.wait({sender, link.closed}, return_when=asyncio.FIRST_COMPLETED)
            if sender.done():
                sender.result()
            link.closed.result()
            raise MqttLinkError("the broker closed the connection")  # pragma: no cover
        finally:
            if sender is not None and not sender.done():
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, MqttLinkError):
                    await sender
            self.connected.clear()
            if self._acks is acks:
                self._acks = None
            # A clean end waits for the broker to close: the PUBACKs sent last are read before
            # the next connection takes the session over.
            await link.aclose()

    def _take(self, acks: _AckQueue, packet: pk.Publish) -> None:
        """One delivery: decode it, and queue its PUBACK behind the ones before it."""
        # The controller subscribes at QoS 1 at most, so a delivery is of QoS 0 or 1.
        entry = acks.add(packet.packet_id) if packet.packet_id is not None else None
        outcome = self._received(packet.topic, packet.payload)
        if entry is None:
            return
        if outcome is None or self._held.get(id(outcome.inp)) is not outcome:
            # Nothing of it waits for the journal, or its input was settled already (a sink
            # may settle at once): a PUBACK held for it would stop every later one.
            entry.ready = True
        else:
            outcome.acks.append(entry)
        acks.flush()

    async def _send_loop(self, link: MqttLink) -> None:
        status = self.topics.publication(
            wire.ControllerStatus(wire.LinkState.ONLINE, CONTROLLER_VERSION)
        )
        await link.publish_window([status])
        # Everything retained goes out again (an embedded broker that restarted has none of
        # it), several at a time; the outbox may then hold some of it twice, which is
        # harmless for retained state and leaves each topic at its newest value.
        retained = list(self._retained.values())
        for start in range(0, len(retained), REPUBLISH_WINDOW):
            await link.publish_window(retained[start : start + REPUBLISH_WINDOW])
        outbox = self._outbox
        while True:
            # What waits goes out SEND_WINDOW at a time, in order, in one write, the next
            # window once the broker has acknowledged this one: one PUBACK wait per window,
            # not per message.
            window = [await outbox.get()]
            while len(window) < SEND_WINDOW and not outbox.empty():
                window.append(outbox.get_nowait())
            try:
                await link.publish_window(window)
            except MqttLinkError:
                # Kept for the next connection, after what is queued already: a late beep
                # beats a lost one. A retained state whose topic has a state kept in
                # `_retained` is not: the next connection publishes that (the newest) first,
                # and an older one queued again would come after it.
                for publication in window:
                    if not publication.retain or publication.topic not in self._retained:
                        outbox.put_nowait(publication)
                raise
            finally:
                for _ in window:
                    outbox.task_done()

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

    def _received(self, topic: str, payload: object) -> _Held | None:
        """Judge one delivery. Returns the held input its acknowledgement must wait for (the
        input it became, or the same press still on its way to the journal), else None."""
        if not isinstance(payload, bytes | bytearray):
            self._drop(None, "payload-type", f"{topic}: payload is not bytes")
            return None
        try:
            decoded = self.topics.decode(topic, bytes(payload))
        except wire.MqttProtocolError as exc:
            self._drop(None, str(exc.reason), str(exc))
            return None
        seat = getattr(decoded, "seat", None)
        if isinstance(decoded, wire.Cleared) or seat is None:
            return None  # our own retained state echoed back, or a status being cleared
        if seat not in self._seats:
            # Only a misconfigured unit or a foreign account publishes here: the broker's ACL
            # gives no account the topics of a seat without an IP unit.
            self._drop(seat, "not-ip-seat", f"{topic}: seat {seat} has no IP unit")
            return None
        monitor = self._units[seat]
        now = self._clock.now()
        if isinstance(decoded, wire.UnitStatus):
            self._status(monitor, decoded, now)
            return None
        if isinstance(decoded, wire.UnitFeatures):
            # Names of a later contract are kept, and mean nothing here.
            self._features[seat] = (decoded.boot, frozenset(decoded.features))
            return None
        monitor.seen(now, None)
        if isinstance(decoded, wire.VoiceLevel):
            return self._feed(VoiceLevel(now, seat, decoded.level_db), None)
        if not isinstance(decoded, wire.UnitEvent):
            return None
        key = (seat, decoded.boot, decoded.seq)
        pending = self._held_by_origin.get(key)
        if pending is not None and self._recent.get(seat, {}).get(key[1:], decoded) == decoded:
            self.duplicates += 1  # delivered again while its first delivery is being written
            return pending
        before = self._duplicates.mark(seat)
        verdict = self._duplicates.check(decoded)
        if not verdict.accepted:
            self._refused_press(monitor, decoded, before, now)
            return None
        if verdict is wire.SeqVerdict.GAP and before is not None:
            monitor.lost(decoded.seq - before[1] - 1)
        self._stale_boot.pop(seat, None)
        monitor.clear_fault()
        self._remember(decoded)
        inp = _event_input(decoded, now)
        return None if inp is None else self._feed(inp, key)

    def _feed(self, inp: Input, key: tuple[int, int, int] | None) -> _Held:
        held = _Held(inp, key)
        self._held[id(inp)] = held
        if key is not None:
            self._held_by_origin[key] = held
        self._sink(inp)
        return held

    def _remember(self, event: wire.UnitEvent) -> None:
        recent = self._recent.setdefault(event.seat, {})
        recent[(event.boot, event.seq)] = event
        if len(recent) > RECENT_PER_SEAT:
            del recent[next(iter(recent))]

    def _refused_press(
        self,
        monitor: UnitMonitor,
        event: wire.UnitEvent,
        last: tuple[int, int] | None,
        now: float,
    ) -> None:
        """A press at or before the last one accepted from its seat.

        The same press again (a broker's redelivery, a unit resending a press it saw no
        confirmation for) is the normal case and is only counted. Anything else is refused
        where a technician sees it: a lower boot counter (logged once a minute per seat), or
        a new press under a counted (boot, seq), which only a unit that restarted without
        advancing its boot counter sends (logged once, until the counter moves on).

        "New" needs proof: a (boot, seq) this driver accepted with another content, or one
        it never accepted among the numbers it remembers. Right after a controller restart it
        remembers none, and the broker's redeliveries of presses journaled before the crash
        are the usual case, so an unproven one is counted as a duplicate; only seq 1 under a
        higher counted seq (a unit numbering afresh) is taken as a restart then."""
        seat = event.seat
        mark = (event.boot, event.seq)
        assert last is not None  # a refused press always has a mark before it
        recent = self._recent.get(seat, {})
        same = recent.get(mark)
        known = [m for m in recent if m[0] == event.boot]
        # With nothing remembered, a seq of 1 under a higher counted one is a fresh start.
        fresh = not known and event.seq == 1 < last[1]
        unproven = same == event or (
            same is None
            and event.boot == last[0]
            and not fresh
            and (not known or mark < min(known))
        )
        if unproven:
            self.duplicates += 1
            log.debug("seat %d: press seen again (boot %d, seq %d)", seat, *mark)
            # A unit resends a press until a confirmation covers it (the contract). Not on its
            # way to the journal (that is caught before), at or before the last press counted:
            # it is durable, and so is every press before it.
            self._confirm(seat, mark)
            self._resync(seat)
            return
        if event.boot < last[0]:
            fault = (
                f"boot counter went back: boot {event.boot} after {last[0]}; its presses "
                "are refused until it passes the last one counted"
            )
            monitor.refused(fault)
            self._log_refusal(seat, "boot-back", fault, now)
            return
        fault = (
            f"boot counter did not advance: a new press numbered boot {event.boot}, seq "
            f"{event.seq}, at or before the last counted (boot {last[0]}, seq {last[1]}); "
            "its presses are refused until its counter moves on"
        )
        monitor.refused(fault)
        if self._stale_boot.get(seat) != last[0]:
            self._stale_boot[seat] = last[0]
            log.error(
                "IP unit of seat %d: %s",
                seat,
                fault,
                extra={"event": "mqtt-stale-boot", "seat": seat, "boot": event.boot},
            )

    def _log_refusal(self, seat: int, reason: str, text: str, now: float) -> None:
        last = self._refusal_logged.get((seat, reason))
        if last is not None and now - last < REFUSAL_LOG_INTERVAL_S:
            return
        self._refusal_logged[(seat, reason)] = now
        log.warning(
            "IP unit of seat %d: %s",
            seat,
            text,
            extra={"event": "mqtt-refused", "seat": seat, "reason": reason},
        )

    def _status(self, monitor: UnitMonitor, status: wire.UnitStatus, now: float) -> None:
        seat = status.seat
        if status.state is wire.LinkState.OFFLINE:
            monitor.set_online(False, "its last will (or goodbye) arrived")
            return
        monitor.seen(now, None, status.firmware or "")
        previous = self._boots.get(seat)
        if status.boot is not None:
            highest = max(previous or 0, (self._duplicates.mark(seat) or (0, 0))[0])
            if self._duplicates.observe_status(status) or (
                previous is not None and status.boot < previous
            ):
                # Refused: the counter never goes back, whatever the unit says.
                fault = (
                    f"boot counter went back: it announced boot {status.boot} after "
                    f"{highest}; its presses are refused until it passes {highest}"
                )
                monitor.refused(fault)
                self._log_refusal(seat, "boot-back", fault, now)
                monitor.set_online(True)
                return
            self._boots[seat] = status.boot
            if previous is not None and status.boot != previous:
                monitor.rebooted()
                self._resync(seat)
        monitor.set_online(True)

    def _confirm(self, seat: int, mark: tuple[int, int]) -> None:
        """Tell the unit that its presses up to `mark` are durable (or refused): the contract's
        explicit confirmation, retained, so a unit that reconnects learns it too."""
        if mark <= self._confirmed.get(seat, (-1, 0)):
            return
        self._confirmed[seat] = mark
        self._queue(wire.ConfirmCommand(seat, *mark))

    def _resync(self, seat: int) -> None:
        """Send a unit its retained state again (after its restart, or as the answer to a
        press it resent); the broker also holds it."""
        for publication in self._seat_retained.get(seat, {}).values():
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


def _no_delivery(packet: pk.Publish) -> None:  # pragma: no cover - replaced at once
    raise MqttLinkError("a delivery before the driver took the connection")


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


def ip_seats(config: Topology) -> frozenset[int]:
    """The seats of a hall that have an IP unit."""
    return frozenset(u.seat for u in config.units if u.ip)
