"""The master of one microphone-unit RS-485 line (pyserial on the asyncio loop).

One task owns the line: it polls the units in the order `protocols.micunit.MicLinePoller`
decides, acknowledges their events (each acknowledgement only until a STATUS shows it landed,
and none of a unit's previous run after it restarted: mic_unit.md §5.1), retries and counts
misses as the contract says, and
between polls writes what the meeting core asked of the units (microphone on or off, light
ring). It keeps a mirror of what every unit should show; a unit that restarted or reports a
state other than the mirror gets its state written again, and after a restart the next POLL
tells it, with `boot_seen`, that its state is restored. A HEARTBEAT broadcast goes out at
the contract's interval so that units know the master is alive.

Framing, payloads, timing and the poll order are the codec's; this module only moves bytes
and keeps time with the event loop's clock. Inputs are stamped with the injected clock.
A unit that misbehaves is counted in its health and paced down by the poller; it never stops
the line. The serial port reconnects by itself with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chamber.controller.core.clock import Clock
from chamber.controller.core.effects import MicSwitch, RingShow, UnitCommand
from chamber.controller.core.inputs import (
    ChairPriority,
    Input,
    MicCancel,
    MicRequest,
    TalkButton,
    UnitRestarted,
    VoiceLevel,
)
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
from chamber.drivers.errors import DriverConfigError, TransportError
from chamber.drivers.health import LineMonitor, UnitMonitor
from chamber.drivers.serialport import Link, open_link
from chamber.drivers.topology import Line, LineKind, Topology
from chamber.drivers.usbserial import SYSFS, PollCost, report_latency
from chamber.protocols import micunit as mic
from chamber.protocols.modbus_timing import frame_time

# The `origin` kind of a microphone unit's inputs (drivers.base.Origins).
ORIGIN_KIND = "mic"
# The origin kind of the record that a unit left its `boot` state in a run ("micup:RUN:1").
CONFIRM_KIND = "micup"

log = logging.getLogger(__name__)

# The master's idle time between its own frames (mic_unit.yaml, timing).
INTER_FRAME_GAP_S = float(mic.SPEC["timing"]["inter_frame_gap_us"]) / 1e6
# Why a unit that answered IDENTIFY as an unknown command cannot identify itself.
_OLDER = "its contract (1.0 or 1.1) has no IDENTIFY: it needs 1.2"
# A voice level is passed on when it moved this much: a report per poll would flood the core.
VOICE_STEP_DB = 3


@dataclass(frozen=True)
class Shown:
    """What a unit should show: the mirror the controller keeps of every unit."""

    mic_on: bool = False
    ring: mic.RingState = mic.RingState.OFF
    position: int = 0


@dataclass(frozen=True)
class Reconnect:
    first_s: float = 0.5
    max_s: float = 10.0


class MicLine:
    """One mic-unit line: `units` maps each unit address on it to its seat."""

    def __init__(
        self,
        line: Line,
        units: Mapping[int, int],
        clock: Clock,
        sink: InputSink,
        on_health: HealthSink,
        *,
        timing: mic.LineTiming = mic.TIMING,
        reconnect: Reconnect = Reconnect(),
        hold_acks: bool = False,
        sysfs: Path = SYSFS,
    ) -> None:
        """`hold_acks`: acknowledge a unit's event only once the runtime has settled its input
        (`settled`, after the journal commit), as the daemon does; a driver used without a
        runtime acknowledges what it has delivered. `sysfs`: where the USB serial adapter
        behind the device is looked up at each connection (drivers.usbserial)."""
        if line.kind is not LineKind.MIC_SERIAL or not line.device:
            raise DriverConfigError(f"line {line.id}: not a mic-serial line with a device")
        if not units:
            raise DriverConfigError(f"line {line.id}: no microphone units on it")
        try:
            self._poller = mic.MicLinePoller(sorted(units), timing, hold_acks=hold_acks)
        except mic.MicProtocolError as exc:
            raise DriverConfigError(f"line {line.id}: {exc}") from exc
        self.line = line
        self._timing = timing
        self._seat_of = dict(units)
        self._clock = clock
        self._sink = sink
        self._reconnect = reconnect
        self._units = {
            a: UnitMonitor(line.id, a, seat, UnitKind.MIC, on_health)
            for a, seat in sorted(units.items())
        }
        self._line = LineMonitor(line.id, on_health)
        self._sysfs = sysfs
        self._mirror: dict[int, Shown] = {a: Shown() for a in units}
        self._dirty: dict[int, set[mic.Command]] = {}
        # Units whose last write failed: no new try before their next good poll, so that a
        # unit that takes polls but not writes cannot keep the line to itself.
        self._held: set[int] = set()
        self._restoring: set[int] = set()
        # Commands a unit refused (NAK), with the state refused: not sent again, and not
        # logged again, until the mirror asks for another state or the unit restarts.
        self._refused: dict[tuple[int, mic.Command], Shown] = {}
        self._broadcasts: deque[mic.MicMessage] = deque()
        self._voice: dict[int, int] = {}
        self._lost_flag: set[int] = set()
        self._heartbeat = 0
        self._wake = asyncio.Event()
        self._inbox: asyncio.Queue[mic.MicMessage | mic.FrameError] = asyncio.Queue()
        self._decoder = mic.MicStreamDecoder()
        self._hold_acks = hold_acks
        # Inputs delivered and not yet settled: the unit event each one came from.
        self._unsettled: dict[int, tuple[Input, int, int, int]] = {}
        # A unit's run as this driver counts it (one more at each restart it sees), and where
        # the journal left its numbering: units carry no restart counter on the wire, so
        # their origins are "mic:RUN:SEQ" with the run counted here and journaled with each
        # restart (`UnitRestarted`). `_resume` drops, at the first STATUS after our own
        # restart, the events the journal already holds.
        self._run: dict[int, int] = {}
        self._resume: dict[int, int] = {}
        # Restarts whose record is not yet durable: the unit is told `boot_seen` (and so
        # drops acknowledged events) only after it is, and after its state was restored.
        self._marker_pending: dict[int, Input] = {}
        self._restore_done: set[int] = set()
        # The last run each unit was seen to leave its `boot` state in (told `boot_seen`,
        # then a STATUS without `boot`), journaled as "micup:RUN:1" and read back at start.
        # A unit that still reports `boot` at our first contact, in a run on record but never
        # confirmed, is in that same run: the daemon that recorded it died before the unit
        # heard `boot_seen`. Counting it as yet another restart gave its events new origins,
        # and journaled them twice.
        self._confirmed: dict[int, int] = {}
        self._confirming: dict[int, int] = {}
        self._first_contact: set[int] = set(units)
        self._last_tx = float("-inf")
        # Identify requests waiting for the line (the seconds last asked, and who waits for
        # the answer), and the units that answered IDENTIFY as unknown: of contract 1.0 or
        # 1.1, not sent it again before they restart (mic_unit.md §5.10).
        self._identify: dict[int, tuple[int, list[asyncio.Future[IdentifyResult]]]] = {}
        self._no_identify: set[int] = set()
        # What every heartbeat tells the units; the runtime sets it (`sitting_changed`).
        self.sitting_open = False

    @classmethod
    def from_config(
        cls, config: Topology, line_id: str, clock: Clock, sink: InputSink, on_health: HealthSink
    ) -> MicLine:
        try:
            line = config.line(line_id)
        except KeyError:
            raise DriverConfigError(f"no line {line_id!r} in the hall configuration") from None
        units = {u.mic.address: u.seat for u in config.units if u.mic and u.mic.line == line_id}
        return cls(line, units, clock, sink, on_health, hold_acks=True)

    # --- Driver -----------------------------------------------------------------------------

    def settled(self, inputs: Sequence[Input]) -> None:
        """Settling (drivers/base.py): these inputs are durable (or refused); their events may be
        acknowledged to the units in the next POLL."""
        for inp in inputs:
            held = self._unsettled.pop(id(inp), None)
            if held is None or held[0] is not inp:
                continue
            _, address, run, seq = held
            if self._marker_pending.get(address) is inp:
                del self._marker_pending[address]
                if address in self._restore_done:
                    self._restore_done.discard(address)
                    self._restoring.discard(address)
                    self._tell_restored(address)
                continue
            self._poller.settle(address, run, seq)

    def restore_origins(self, origins: Origins) -> None:
        """Resumable (drivers/base.py): each unit's run and numbering where the journal stands."""
        for address, seat in self._seat_of.items():
            origin = origins.get((seat, ORIGIN_KIND))
            mark = origin_mark(origin) if origin is not None else None
            if mark is not None:
                self._run[address], self._resume[address] = mark
            up = origins.get((seat, CONFIRM_KIND))
            up_mark = origin_mark(up) if up is not None else None
            if up_mark is not None:
                self._confirmed[address] = up_mark[0]

    @property
    def name(self) -> str:
        return self.line.id

    @property
    def seats(self) -> frozenset[int]:
        return frozenset(self._seat_of.values())

    async def ready(self) -> None:
        await self._line.up.wait()

    def sitting_changed(self, sitting_open: bool) -> None:
        """From the next heartbeat on, the units hear whether a sitting is open."""
        self.sitting_open = sitting_open

    def health(self) -> list[UnitHealth | LineHealth]:
        return [self._line.health, *(m.health for m in self._units.values())]

    def units(self) -> frozenset[int]:
        """The unit addresses on this line (drivers.base.Identifying)."""
        return frozenset(self._seat_of)

    async def identify(self, address: int, seconds: int) -> IdentifyResult:
        """Blink the light ring of unit `address` for `seconds` (IDENTIFY, mic_unit.md
        §5.10), sent between polls. A unit that answered it as unknown (contract 1.0 or 1.1)
        is told nothing more until it restarts."""
        if address not in self._seat_of:
            raise KeyError(address)
        if type(seconds) is not int or not 0 <= seconds <= 255:
            raise ValueError("a microphone unit identifies itself for 0..255 s")
        if address in self._no_identify:
            return self._identified(address, IdentifyOutcome.NOT_SUPPORTED, seconds, _OLDER)
        if not self._poller.is_online(address):
            return self._identified(address, IdentifyOutcome.OFFLINE, seconds, "not answering")
        future: asyncio.Future[IdentifyResult] = asyncio.get_running_loop().create_future()
        _, waiting = self._identify.get(address, (seconds, []))
        self._identify[address] = (seconds, [*waiting, future])
        self._wake.set()
        return await future

    def _identified(
        self, address: int, outcome: IdentifyOutcome, seconds: int, detail: str = ""
    ) -> IdentifyResult:
        seat = self._seat_of[address]
        # The wire carries no contract version; a unit that NAKed IDENTIFY is older than 1.2.
        older = f"1.0/{mic.IDENTIFY_SINCE[0]}.{mic.IDENTIFY_SINCE[1] - 1}"
        contract = older if outcome is IdentifyOutcome.NOT_SUPPORTED else ""
        needed = f"{mic.IDENTIFY_SINCE[0]}.{mic.IDENTIFY_SINCE[1]}"
        return IdentifyResult(
            self.line.id, address, seat, UnitKind.MIC, outcome, seconds, detail, contract, needed
        )

    def _answer_identify(self, address: int, outcome: IdentifyOutcome, detail: str = "") -> None:
        if address not in self._identify:
            return
        seconds, waiting = self._identify.pop(address)
        result = self._identified(address, outcome, seconds, detail)
        for future in waiting:
            if not future.done():
                future.set_result(result)

    def mirror(self, seat: int) -> Shown | None:
        """What the unit at `seat` should show now (for the console and for tests)."""
        for address, s in self._seat_of.items():
            if s == seat:
                return self._mirror[address]
        return None

    def send(self, command: UnitCommand) -> None:
        if not isinstance(command, MicSwitch | RingShow):
            return  # keypad commands go to the keypad lines
        if command.seat is None:
            self._send_all(command)
        else:
            address = self._address_of(command.seat)
            if address is None:
                return
            self._set(address, command)
        self._wake.set()

    def sound_chime(self, chair_seats: frozenset[int]) -> None:
        """The chair-priority chime: every unit on the line sounds it (one broadcast)."""
        self.chime(None)

    def chime(
        self, seat: int | None, pattern: mic.ChimePattern = mic.ChimePattern.PRIORITY
    ) -> None:
        """Sound a chime on one seat's unit, or on every unit of the line (seat None)."""
        address = mic.BROADCAST if seat is None else self._address_of(seat)
        if address is not None:
            self._broadcasts.append(mic.Chime(address=address, pattern=pattern))
            self._wake.set()

    def _address_of(self, seat: int) -> int | None:
        for address, s in self._seat_of.items():
            if s == seat:
                return address
        return None

    def _set(self, address: int, command: MicSwitch | RingShow) -> None:
        shown = self._mirror[address]
        if isinstance(command, MicSwitch):
            new = replace(shown, mic_on=command.on)
            what = mic.Command.SET_MIC
        else:
            ring = mic.RingState[command.state.name]
            # The contract carries a position for QUEUED only (NEXT is the first, by meaning).
            position = command.position if ring is mic.RingState.QUEUED else 0
            new = replace(shown, ring=ring, position=position)
            what = mic.Command.SET_RING
        self._mirror[address] = new
        self._dirty.setdefault(address, set()).add(what)

    def _send_all(self, command: MicSwitch | RingShow) -> None:
        # Two broadcasts exist for these (BROADCAST op); anything else goes unit by unit.
        if isinstance(command, MicSwitch) and not command.on:
            op = mic.BroadcastOp.ALL_MICS_OFF
            for a in self._mirror:
                self._mirror[a] = replace(self._mirror[a], mic_on=False)
                self._dirty.get(a, set()).discard(mic.Command.SET_MIC)
        elif isinstance(command, RingShow) and command.state.name == "OFF":
            op = mic.BroadcastOp.ALL_RINGS_OFF
            for a in self._mirror:
                self._mirror[a] = replace(self._mirror[a], ring=mic.RingState.OFF, position=0)
                self._dirty.get(a, set()).discard(mic.Command.SET_RING)
        else:
            for a in self._mirror:
                self._set(a, command)
            return
        self._broadcasts.append(mic.Broadcast(op=op))

    # --- the line ---------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._reconnect.first_s
        assert self.line.device is not None
        while True:
            # A new connection starts clean: half a frame from the old one means nothing, and
            # a reply the old connection was waiting for will never come.
            self._decoder = mic.MicStreamDecoder()
            if self._poller.awaiting is not None:
                self._line_events(self._poller.on_no_reply(loop.time()))
            try:
                link = await open_link(self.line.device, self.line.baud, self._received)
            except TransportError as exc:
                self._line.disconnected(str(exc))
            else:
                self._line.connected(self.line.device)
                self._check_adapter()
                delay = self._reconnect.first_s
                try:
                    await self._serve(link, loop)
                except TransportError as exc:
                    self._line.disconnected(str(exc))
                finally:
                    link.close()
            await asyncio.sleep(delay)  # backoff before reopening the port
            delay = min(delay * 2, self._reconnect.max_s)

    def poll_cost(self) -> PollCost:
        """A POLL and its STATUS without events for every unit, on the wire at the line's
        baud, with the quickest turnaround and the master's gap (mic_unit.md §2, §6)."""
        baud = self.line.baud
        bits = int(mic.SPEC["line"]["bits_per_byte"])
        turnaround = float(mic.SPEC["timing"]["unit_turnaround_min_us"]) / 1e6
        poll = frame_time(len(mic.encode(mic.Poll(address=1))), baud, bits)
        status = frame_time(len(mic.encode(mic.Status(address=1))), baud, bits)
        return PollCost(
            units=len(self._units),
            baud=baud,
            transaction_s=poll + turnaround + status + INTER_FRAME_GAP_S,
            reply_s=turnaround + status,
            timeout_s=self._timing.response_timeout_s,
            min_cycle_s=self._timing.poll_cycle_min_s,
        )

    def _check_adapter(self) -> None:
        """Log once, and show in the line's health, an adapter latency timer above 1 ms."""
        assert self.line.device is not None
        report_latency(self._line, self.line.device, self.poll_cost(), self._sysfs, log)

    def _received(self, data: bytes) -> None:
        self._decoder.receive_data(data)
        for event in self._decoder.events():
            self._inbox.put_nowait(event)

    async def _transmit(self, link: Link, message: mic.MicMessage) -> None:
        loop = asyncio.get_running_loop()
        quiet = self._last_tx + INTER_FRAME_GAP_S - loop.time()
        if quiet > 0:
            await asyncio.sleep(quiet)
        # Whatever arrived unasked belongs to no exchange: drop it before a new one starts.
        while not self._inbox.empty():
            self._inbox.get_nowait()
        try:
            frame = mic.encode(message)
        except mic.MicProtocolError as exc:
            # A command the contract cannot carry is a bug upstream: log it, never crash the
            # line over it (every other unit would go dark with it).
            log.error(
                "line %s: cannot send %s: %s",
                self.line.id,
                type(message).__name__,
                exc,
                extra={"event": "mic-bad-command", "line": self.line.id},
            )
            return
        link.write(frame)
        self._last_tx = loop.time()

    async def _serve(self, link: Link, loop: asyncio.AbstractEventLoop) -> None:
        next_heartbeat = loop.time()
        while True:
            _check_cancelled()
            if link.closed.done():
                link.closed.result()
                raise TransportError(f"line {self.line.id}: port closed")
            now = loop.time()
            if now >= next_heartbeat:
                self._heartbeat = (self._heartbeat + 1) % 256
                await self._transmit(
                    link, mic.Heartbeat(counter=self._heartbeat, sitting_open=self.sitting_open)
                )
                next_heartbeat = now + self._timing.heartbeat_interval_s
                continue
            if self._broadcasts:
                await self._transmit(link, self._broadcasts.popleft())
                continue
            address = self._next_identify()
            if address is not None:
                await self._send_identify(link, address)
                continue
            address = self._next_write()
            if address is not None:
                await self._write(link, address)
                continue
            poll = self._poller.next_poll(now)
            if poll is not None:
                await self._poll(link, poll)
                continue
            due = min(self._poller.next_due(now), next_heartbeat)
            self._wake.clear()
            woken: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
            closed: asyncio.Future[Any] = link.closed
            try:
                # asyncio.wait never cancels what it waits on: `closed` stays the link's.
                await asyncio.wait(
                    [woken, closed],
                    timeout=max(0.0, due - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                woken.cancel()

    def _next_identify(self) -> int | None:
        for address in self._identify:
            if self._poller.is_online(address) and address not in self._held:
                return address
        return None

    async def _send_identify(self, link: Link, address: int) -> None:
        loop = asyncio.get_running_loop()
        seconds, _ = self._identify[address]
        message = mic.Identify(address=address, seconds=seconds)
        monitor = self._units[address]
        for _ in range(self._timing.retries + 1):
            await self._transmit(link, message)
            sent = loop.time()
            reply, damaged = await self._await_reply(
                address, sent + self._timing.response_timeout_s
            )
            if isinstance(reply, mic.Ack) and reply.command == mic.Command.IDENTIFY:
                monitor.seen(self._clock.now(), (loop.time() - sent) * 1000)
                log.info(
                    "unit %d on line %s (seat %d) identifies itself for %d s",
                    address,
                    self.line.id,
                    self._seat_of[address],
                    seconds,
                    extra={
                        "event": "unit-identify",
                        "line": self.line.id,
                        "address": address,
                        "seat": self._seat_of[address],
                        "seconds": seconds,
                    },
                )
                self._answer_identify(address, IdentifyOutcome.STARTED)
                return
            if isinstance(reply, mic.Nak) and reply.command == mic.Command.IDENTIFY:
                if reply.reason is mic.NakReason.UNKNOWN_COMMAND:
                    self._no_identify.add(address)
                    log.info(
                        "unit %d on line %s cannot identify itself: %s",
                        address,
                        self.line.id,
                        _OLDER,
                        extra={"event": "unit-identify-unknown", "line": self.line.id},
                    )
                    self._answer_identify(address, IdentifyOutcome.NOT_SUPPORTED, _OLDER)
                else:
                    self._answer_identify(address, IdentifyOutcome.REFUSED, reply.reason.name)
                return
            if damaged:
                monitor.count(crc_errors=1)
            else:
                monitor.count(timeouts=1)
        self._held.add(address)
        self._answer_identify(address, IdentifyOutcome.NO_REPLY, "no answer to IDENTIFY")

    def _next_write(self) -> int | None:
        for address, what in list(self._dirty.items()):
            if not what:
                del self._dirty[address]
                self._restored(address)
                continue
            if self._poller.is_online(address) and address not in self._held:
                return address
        return None

    def _restored(self, address: int) -> None:
        if address not in self._restoring:
            return
        if address in self._marker_pending:
            self._restore_done.add(address)  # `boot_seen` once the restart is on record
            return
        self._restoring.discard(address)
        self._tell_restored(address)

    def _tell_restored(self, address: int) -> None:
        """The next POLL tells the unit `boot_seen`; its next STATUS without `boot` confirms it."""
        self._poller.state_restored(address)
        if self._hold_acks:
            self._confirming[address] = self._run.get(address, 0)

    async def _await_reply(
        self, address: int, deadline: float
    ) -> tuple[mic.MicMessage | None, bool]:
        """The awaited unit's reply by `deadline`, and whether damaged frames came instead."""
        loop = asyncio.get_running_loop()
        damaged = False
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None, damaged
            try:
                async with asyncio.timeout(remaining):
                    event = await self._inbox.get()
            except TimeoutError:
                return None, damaged
            if isinstance(event, mic.FrameError):
                if event.reason is not mic.FrameErrorReason.GARBAGE:
                    damaged = True
                continue
            if event.address == address:
                return event, damaged

    async def _poll(self, link: Link, poll: mic.Poll) -> None:
        loop = asyncio.get_running_loop()
        monitor = self._units[poll.address]
        await self._transmit(link, poll)
        sent = loop.time()
        deadline = sent + self._timing.response_timeout_s
        reply, damaged = await self._await_reply(poll.address, deadline)
        if isinstance(reply, mic.Status):
            events = self._poller.on_reply(reply, loop.time())
            monitor.seen(self._clock.now(), (loop.time() - sent) * 1000)
            self._status(reply, events)
        else:
            if damaged:
                monitor.count(crc_errors=1)
            else:
                monitor.count(timeouts=1)
            self._line_events(self._poller.on_no_reply(loop.time()))

    def _status(self, status: mic.Status, events: list[mic.LineEvent]) -> None:
        address = status.address
        self._held.discard(address)
        self._line_events(events)
        seat = self._seat_of[address]
        now = self._clock.now()
        self._first_contact.discard(address)
        if not status.boot and address in self._confirming:
            run = self._confirming.pop(address)
            # On record so that a later daemon knows this run's `boot` was answered.
            self._sink(UnitRestarted(now, seat, f"{CONFIRM_KIND}:{run}:1"))
        resume = self._resume.pop(address, 0)
        for event in events:
            if isinstance(event, mic.UnitKeyEvent):
                if resume and not mic.seq_is_newer(event.seq, resume):
                    # Journaled before our restart, its acknowledgement lost with us.
                    self._poller.settle(address, event.run, event.seq)
                    continue
                if not self._hold_acks:
                    self._sink(_key_input(event.kind, seat, now))
                    continue
                origin = f"{ORIGIN_KIND}:{self._run.get(address, 0)}:{event.seq}"
                inp = _key_input(event.kind, seat, now, origin)
                # Keyed by identity, holding the input: the runtime settles that object.
                self._unsettled[id(inp)] = (inp, address, event.run, event.seq)
                self._sink(inp)
        monitor = self._units[address]
        if status.events_lost and address not in self._lost_flag:
            monitor.lost(1)
        if status.events_lost:
            self._lost_flag.add(address)
        else:
            self._lost_flag.discard(address)
        level = status.level_db
        last = self._voice.get(address, mic.LEVEL_NOT_MEASURED)
        if level != mic.LEVEL_NOT_MEASURED and abs(level - last) >= VOICE_STEP_DB:
            self._voice[address] = level
            self._sink(VoiceLevel(now, seat, float(level)))
        # Reconcile: whatever the unit shows that the mirror does not say is written again.
        shown = self._mirror[address]
        dirty = self._dirty.setdefault(address, set())
        if status.mic_on != shown.mic_on and not self._was_refused(address, mic.Command.SET_MIC):
            dirty.add(mic.Command.SET_MIC)
        if (status.ring, status.position) != (shown.ring, shown.position) and not (
            self._was_refused(address, mic.Command.SET_RING)
        ):
            dirty.add(mic.Command.SET_RING)
        if status.boot and address not in self._restoring:
            # A restart seen again, e.g. after our own restart: restore before boot_seen.
            self._restoring.add(address)
            dirty.update((mic.Command.SET_MIC, mic.Command.SET_RING))

    def _line_events(self, events: list[mic.LineEvent]) -> None:
        for event in events:
            monitor = self._units[event.address]
            match event:
                case mic.UnitOnline():
                    monitor.set_online(True)
                case mic.UnitOffline():
                    monitor.set_online(False, f"{self._timing.offline_after_misses} missed polls")
                    self._answer_identify(event.address, IdentifyOutcome.OFFLINE, "lost")
                case mic.UnitBooted():
                    # Every unit reports `boot` at our first contact: not a restart.
                    monitor.rebooted(first_contact=event.address in self._first_contact)
                    # New firmware may have come with the restart: ask it again next time.
                    self._no_identify.discard(event.address)
                    for what in (mic.Command.SET_MIC, mic.Command.SET_RING):
                        self._refused.pop((event.address, what), None)
                    self._restoring.add(event.address)
                    if self._hold_acks and not self._same_run(event.address):
                        self._record_restart(event.address)
                    self._dirty.setdefault(event.address, set()).update(
                        (mic.Command.SET_MIC, mic.Command.SET_RING)
                    )

    def _same_run(self, address: int) -> bool:
        """At our first contact, a `boot` that belongs to the run the journal holds: recorded
        by a daemon that died before the unit heard `boot_seen` for it."""
        confirmed = self._confirmed.get(address)
        run = self._run.get(address, 0)
        return address in self._first_contact and confirmed is not None and run > confirmed

    def _record_restart(self, address: int) -> None:
        """A new run of the unit: journaled before the unit is told `boot_seen`, so that a
        unit that no longer reports `boot` always has its current run on record."""
        self._resume.pop(address, None)  # a new run: nothing of it is journaled yet
        run = self._run.get(address, 0) + 1
        self._run[address] = run
        marker = UnitRestarted(self._clock.now(), self._seat_of[address], f"{ORIGIN_KIND}:{run}:0")
        self._marker_pending[address] = marker
        self._unsettled[id(marker)] = (marker, address, -1, 0)
        self._sink(marker)

    def _was_refused(self, address: int, what: mic.Command) -> bool:
        """Whether the unit refused `what` for the state the mirror holds now."""
        refused = self._refused.get((address, what))
        if refused is None:
            return False
        shown = self._mirror[address]
        if what is mic.Command.SET_MIC:
            return refused.mic_on == shown.mic_on
        return (refused.ring, refused.position) == (shown.ring, shown.position)

    async def _write(self, link: Link, address: int) -> None:
        loop = asyncio.get_running_loop()
        dirty = self._dirty[address]
        what = min(dirty)
        shown = self._mirror[address]
        message: mic.MicMessage
        if what is mic.Command.SET_MIC:
            message = mic.SetMic(address=address, on=shown.mic_on)
        else:
            message = mic.SetRing(address=address, state=shown.ring, position=shown.position)
        monitor = self._units[address]
        for _ in range(self._timing.retries + 1):
            await self._transmit(link, message)
            sent = loop.time()
            reply, damaged = await self._await_reply(
                address, sent + self._timing.response_timeout_s
            )
            if isinstance(reply, mic.Ack) and reply.command == what:
                monitor.seen(self._clock.now(), (loop.time() - sent) * 1000)
                # Only if the mirror did not change meanwhile (then the new state goes next).
                if self._mirror[address] == shown:
                    dirty.discard(what)
                return
            if isinstance(reply, mic.Nak):
                monitor.seen(self._clock.now(), (loop.time() - sent) * 1000)
                if not self._was_refused(address, what):
                    log.error(
                        "unit %d on line %s refused %s: %s; not sent again until its state "
                        "changes or the unit restarts",
                        address,
                        self.line.id,
                        what.name,
                        reply.reason.name,
                        extra={"event": "unit-nak", "line": self.line.id, "address": address},
                    )
                self._refused[(address, what)] = shown
                dirty.discard(what)
                return
            if damaged:
                monitor.count(crc_errors=1)
            else:
                monitor.count(timeouts=1)
        self._held.add(address)
        # Still dirty: tried again after the next poll of this unit, if it is still online.


def _check_cancelled() -> None:
    """Re-raise a cancellation that a library swallowed.

    Python 3.11's `asyncio.wait_for` (used inside pymodbus and elsewhere) can lose a
    cancellation that arrives as its inner future completes; the task's `cancelling()` count
    still shows it, so an endless loop checks it and stops as asked.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _key_input(kind: mic.UnitEvent, seat: int, now: float, origin: str | None = None) -> Input:
    match kind:
        case mic.UnitEvent.REQUEST_PRESSED:
            return MicRequest(now, seat, origin=origin)
        case mic.UnitEvent.CANCEL_PRESSED:
            return MicCancel(now, seat, origin)
        case mic.UnitEvent.TALK_PRESSED:
            return TalkButton(now, seat, True, origin)
        case mic.UnitEvent.TALK_RELEASED:
            return TalkButton(now, seat, False, origin)
        case mic.UnitEvent.PRIORITY_PRESSED:
            return ChairPriority(now, seat, True, origin)
        case mic.UnitEvent.PRIORITY_RELEASED:
            return ChairPriority(now, seat, False, origin)
