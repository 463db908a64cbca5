"""The master of one keypad line: Modbus RTU on a serial port, or Modbus TCP to a gateway.

One task owns the line (one request in flight at a time), on the mic line's shape: its own
transport (drivers.serialport: pyserial non-blocking, watched through its file descriptor,
the device locked for this process alone; a gateway over asyncio's TCP transport), the
project's own framer, and the sans-IO `protocols.keypad_poller.KeypadPoller`, which holds
the transaction timing (when a frame may go, each request's reply timeout, retries); the
driver only moves bytes and clock readings in and out. Each
cycle it reads every unit's status block once, and `protocols.keypad.KeypadTracker` turns
successive reads into NEW key events exactly once; a restarted unit, or one whose last write
did not land, has its whole output block written again from the mirror this driver keeps of
what each unit should show. Commands from the meeting core are written between reads, in
the fewest frames (`protocols.keypad.plan_writes`): one lock or vote broadcast where it saves
writes, as when a vote opens, is held, resumed or closed, then a unicast of the whole block
to each unit the broadcast did not set right (a seat outside the electorate, locked first).
A beep for every seat is one beep broadcast. A unit is written only once its identity has
been read (at first contact and after each restart), so a unit of another major version is
never written. The register map, timing and retries are the codec's (keypad_modbus.yaml).

Timing: the RTU inter-frame silence (t3.5) is kept before every frame, counted from the
last byte heard, and a broadcast is followed by the contract's broadcast turnaround, since
no reply marks its end. A frame whose silence has passed by the time the driver has it goes
at once; otherwise at the silence's end to the microsecond (drivers.deadline: a timerfd,
since the loop's own timers round up to the millisecond), never by busy-waiting. Each
request waits for its reply as long as `protocols.keypad.request_timeout` says for that
request at the line's baud rate and character format (an identity read longer than a
poll); the port is opened in the contract's format the hall file names (8E1, or 8N2 for
parity "none"). A silent unit costs its line one timeout per try; the line reconnects with
its own backoff.
A unit missing `offline_after_misses` polls is offline and then tried only every
`offline_poll_interval_s`, so that it never stalls the others.

After a secret vote (`ForgetEvents`) each unit is told, after its next poll, to empty its
event ring up to that poll's place (the forget block, keypad_modbus.md §3.6), once every
input read from it so far is durable (`settled`): the ring is the only copy of a press
until the journal has it. A unit of an older minor contract version is served without what
it lacks (a 1.0 unit is never sent the forget block); one of another major version is not
served at all. Both are logged once and shown in the unit's health (`contract`).

Inputs are stamped with the injected clock; timeouts and pacing use the event loop's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pymodbus.pdu import ModbusPDU

from chamber.controller.core.clock import Clock
from chamber.controller.core.effects import (
    Beep,
    BeepPattern,
    ForgetEvents,
    KeypadLeds,
    KeypadLock,
    UnitCommand,
)
from chamber.controller.core.inputs import Input, PresenceChanged, VoteKeyPressed
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
from chamber.drivers.deadline import DeadlineTimer
from chamber.drivers.errors import DriverConfigError, TransportError, UnitReplyError, UnitTimeout
from chamber.drivers.health import LineMonitor, UnitMonitor
from chamber.drivers.serialport import Link, SerialLink, SocketLink
from chamber.drivers.topology import Line, LineKind, Topology
from chamber.drivers.usbserial import SYSFS, PollCost, report_latency
from chamber.protocols import keypad as kp
from chamber.protocols import modbus_timing
from chamber.protocols.keypad_poller import Attempt, Ending, KeypadPoller, LineTiming, Phase
from chamber.protocols.modbus_timing import CharFormat

log = logging.getLogger(__name__)

# The `origin` kind of a keypad's inputs (drivers.base.Origins).
ORIGIN_KIND = "kp"

_TIMING = kp.SPEC["timing"]
OFFLINE_AFTER_MISSES = int(_TIMING["offline_after_misses"])
OFFLINE_POLL_INTERVAL_S = float(_TIMING["offline_poll_interval_s"])
TCP_RESPONSE_TIMEOUT_S = kp.TCP_RESPONSE_TIMEOUT_S
# What pyserial is given for a character format's parity.
PYSERIAL_PARITY = {"even": "E", "odd": "O", "none": "N"}
# How many of the latest frames' send timings a line keeps (SendTiming).
SEND_TIMING_KEPT = 4096


@dataclass
class SendTiming:
    """When the line's frames went, against the moment their silence ended (`due`), in
    seconds: `timed` for frames the driver had before `due` and sent at it (the timer's
    overshoot), `late` for frames the driver had only after `due` and sent at once (how far
    behind the wire the driver was). The latest SEND_TIMING_KEPT of each."""

    timed: deque[float] = field(default_factory=lambda: deque(maxlen=SEND_TIMING_KEPT))
    late: deque[float] = field(default_factory=lambda: deque(maxlen=SEND_TIMING_KEPT))


_BEEPS = {
    BeepPattern.CONFIRM: kp.Beep.CONFIRM,
    BeepPattern.REJECT: kp.Beep.REJECT,
    BeepPattern.WARNING: kp.Beep.WARNING,
}


@dataclass(frozen=True)
class Reconnect:
    first_s: float = 0.5
    max_s: float = 10.0


@dataclass
class _Unit:
    address: int
    seat: int
    monitor: UnitMonitor
    tracker: kp.KeypadTracker = field(default_factory=kp.KeypadTracker)
    shown: kp.KeypadOutputs = field(default_factory=kp.KeypadOutputs)
    # What the unit is known to show (its last write that landed, with the broadcasts since);
    # None when unknown (before the first write, after a restart or a lost write).
    applied: kp.KeypadOutputs | None = None
    beep: kp.Beep = kp.Beep.NONE
    dirty: bool = False
    held: bool = False  # a write failed: no new try before the next good poll
    refusing: bool = False  # its last write was refused (logged once until one lands)
    identity: kp.Identity | None = None
    misses: int = 0
    next_probe: float = 0.0
    # The presence last reported to the core, which starts every seat absent.
    present: bool = False
    # It restarted while its delegate was present: its presence flag, back at power-up's
    # absent, does not make the delegate absent; its own next presence event or flag does.
    blip: bool = False
    # A secret vote ended: forget after the next poll, up to that poll's place (§3.6) ...
    forget_requested: bool = False
    forget_at: kp.EventCursor | None = None
    # ... once none of the inputs read from the unit is still waiting for the journal: the
    # runtime settles inputs in the order they came, so the last one settled means all are.
    last_input: Input | None = None

    @property
    def card(self) -> bool:
        return self.identity is not None and self.identity.has_card_reader


class _Incompatible(Exception):
    """The unit speaks another major version of the contract (§3.2): it is not served."""

    def __init__(self, version: tuple[int, int]) -> None:
        super().__init__(f"contract version {version[0]}.{version[1]}")
        self.version = version


class KeypadLine:
    """One keypad line; `units` maps each unit address on it to its seat.

    `response_timeout` says how long to wait for the reply to a request; by default the
    contract's for that request (§6.2) on an RTU line, and the gateway timeout over TCP.
    """

    def __init__(
        self,
        line: Line,
        units: Mapping[int, int],
        clock: Clock,
        sink: InputSink,
        on_health: HealthSink,
        *,
        reconnect: Reconnect = Reconnect(),
        min_cycle_s: float = 0.0,
        retries: int = kp.RETRIES,
        response_timeout: Callable[[ModbusPDU], float] | None = None,
        sysfs: Path = SYSFS,
    ) -> None:
        """`sysfs`: where the USB serial adapter behind an RTU line's device is looked up
        at each connection (its latency timer: drivers.usbserial)."""
        # The character format of an RTU line; a gateway's serial side is its own business.
        self.char_format: CharFormat | None = None
        if line.kind is LineKind.MODBUS_RTU:
            if not line.device:
                raise DriverConfigError(f"line {line.id}: a modbus-rtu line needs a device")
            try:
                kp.check_baud(line.baud)
                self.char_format = kp.line_format(line.parity, line.stop_bits)
            except kp.KeypadUsageError as exc:
                raise DriverConfigError(f"line {line.id}: {exc}") from None
        elif line.kind is LineKind.MODBUS_TCP:
            if not line.host or not line.port:
                raise DriverConfigError(f"line {line.id}: a modbus-tcp line needs host and port")
        else:
            raise DriverConfigError(f"line {line.id}: {line.kind} is not a keypad line")
        if not units:
            raise DriverConfigError(f"line {line.id}: no keypads on it")
        for address in units:
            if not kp.FIRST_UNIT <= address <= kp.LAST_UNIT:
                raise DriverConfigError(f"line {line.id}: {address} is not a keypad address")
        self.line = line
        self._rtu = line.kind is LineKind.MODBUS_RTU
        self._clock = clock
        self._sink = sink
        self._reconnect = reconnect
        self._min_cycle_s = min_cycle_s
        self._retries = retries
        self._cycled = asyncio.Event()
        self._units = {
            a: _Unit(a, seat, UnitMonitor(line.id, a, seat, UnitKind.KEYPAD, on_health))
            for a, seat in sorted(units.items())
        }
        self._by_seat = {u.seat: u for u in self._units.values()}
        self._line = LineMonitor(line.id, on_health)
        self._sysfs = sysfs
        self._broadcasts: list[kp.BroadcastPlan] = []
        # Identify requests waiting for the line, per unit: the seconds last asked and
        # everyone waiting for the answer (a new request for a unit replaces the seconds).
        self._identify: dict[int, tuple[int, list[asyncio.Future[IdentifyResult]]]] = {}
        # Each unit's last input handed to the sink and not yet settled, by id (Settling).
        self._unsettled: dict[int, _Unit] = {}
        self._tag = 0
        self._wake = asyncio.Event()
        self._link: Link | None = None
        self.cycles = 0
        if self.char_format is not None:
            timing = LineTiming.rtu(line.baud, self.char_format)
            transport = kp.Transport.RTU
        else:
            # The gateway keeps the RTU silences, and the RTU timeouts, on its side of the line.
            timing = LineTiming.tcp(TCP_RESPONSE_TIMEOUT_S)
            transport = kp.Transport.TCP
        if response_timeout is not None:
            timing = replace(timing, timeout=response_timeout)
        self._poller = KeypadPoller(timing, transport)
        self.send_timing = SendTiming()
        # The attempt in flight: its end, the timer that sends its frame, its reply deadline.
        self._attempt: asyncio.Future[Attempt] | None = None
        self._timer: DeadlineTimer | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._ready_at = 0.0

    @classmethod
    def from_config(
        cls, config: Topology, line_id: str, clock: Clock, sink: InputSink, on_health: HealthSink
    ) -> KeypadLine:
        try:
            line = config.line(line_id)
        except KeyError:
            raise DriverConfigError(f"no line {line_id!r} in the hall configuration") from None
        units = {
            u.keypad.address: u.seat for u in config.units if u.keypad and u.keypad.line == line_id
        }
        return cls(line, units, clock, sink, on_health)

    # --- Driver -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.line.id

    @property
    def seats(self) -> frozenset[int]:
        return frozenset(self._by_seat)

    async def ready(self) -> None:
        await self._line.up.wait()

    def health(self) -> list[UnitHealth | LineHealth]:
        return [self._line.health, *(u.monitor.health for u in self._units.values())]

    def units(self) -> frozenset[int]:
        """The keypad addresses on this line (drivers.base.Identifying)."""
        return frozenset(self._units)

    async def identify(self, address: int, seconds: int) -> IdentifyResult:
        """Blink every LED of keypad `address` for `seconds` (keypad_modbus.md §3.7), written
        between polls; a unit whose contract has no identify block is never sent it."""
        unit = self._units[address]
        if type(seconds) is not int or not 0 <= seconds <= kp.IDENTIFY_MAX_S:
            raise ValueError(f"a keypad identifies itself for 0..{kp.IDENTIFY_MAX_S} s")
        if not unit.monitor.online:
            return self._identified(unit, IdentifyOutcome.OFFLINE, seconds, "not answering")
        if unit.identity is not None and not unit.identity.identifies:
            return self._identified(
                unit,
                IdentifyOutcome.NOT_SUPPORTED,
                seconds,
                f"contract {unit.identity.contract}: identify needs "
                f"{kp.IDENTIFY_SINCE[0]}.{kp.IDENTIFY_SINCE[1]}",
            )
        future: asyncio.Future[IdentifyResult] = asyncio.get_running_loop().create_future()
        _, waiting = self._identify.get(address, (seconds, []))
        self._identify[address] = (seconds, [*waiting, future])
        self._wake.set()
        return await future

    def _identified(
        self, unit: _Unit, outcome: IdentifyOutcome, seconds: int, detail: str = ""
    ) -> IdentifyResult:
        contract = "" if unit.identity is None else unit.identity.contract
        return IdentifyResult(
            self.line.id,
            unit.address,
            unit.seat,
            UnitKind.KEYPAD,
            outcome,
            seconds,
            detail,
            contract,
            f"{kp.IDENTIFY_SINCE[0]}.{kp.IDENTIFY_SINCE[1]}",
        )

    def _answer_identify(
        self, unit: _Unit, outcome: IdentifyOutcome, seconds: int, detail: str = ""
    ) -> None:
        _, waiting = self._identify.pop(unit.address, (seconds, []))
        result = self._identified(unit, outcome, seconds, detail)
        for future in waiting:
            if not future.done():
                future.set_result(result)

    def shown(self, seat: int) -> kp.KeypadOutputs | None:
        """What the keypad at `seat` should show now (the mirror)."""
        unit = self._by_seat.get(seat)
        return None if unit is None else unit.shown

    def send(self, command: UnitCommand) -> None:
        if isinstance(command, ForgetEvents):
            targets = (
                list(self._units.values())
                if command.seat is None
                else [u for u in (self._by_seat.get(command.seat),) if u is not None]
            )
            for target in targets:
                target.forget_requested = True
            self._wake.set()
            return
        if not isinstance(command, KeypadLeds | KeypadLock | Beep):
            return  # microphone commands go to the mic lines
        if command.seat is None:
            self._send_all(command)
        else:
            unit = self._by_seat.get(command.seat)
            if unit is None:
                return
            self._apply(unit, command)
            unit.dirty = True
        self._wake.set()

    @staticmethod
    def _apply(unit: _Unit, command: KeypadLeds | KeypadLock | Beep) -> None:
        shown = unit.shown
        match command:
            case KeypadLeds(lit=lit, present=present):
                unit.shown = replace(
                    shown,
                    leds=frozenset(lit),
                    presence_led=shown.presence_led if present is None else present,
                )
            case KeypadLock(locked=locked, keys=keys):
                unit.shown = replace(shown, locked=locked, keys=keys)
            case Beep(pattern=pattern):
                unit.beep = _BEEPS[pattern]

    def _send_all(self, command: KeypadLeds | KeypadLock | Beep) -> None:
        units = list(self._units.values())
        for unit in units:
            self._apply(unit, command)
        if isinstance(command, KeypadLeds | KeypadLock):
            # What every unit should show is in the mirror; the flush plans the frames
            # (kp.plan_writes: one broadcast where it saves writes, §5.4).
            for unit in units:
                unit.dirty = True
            return
        # One beep broadcast (§5.4) restating the lock most units have; the others are
        # written their own lock right after it.
        locked = 2 * sum(u.shown.locked for u in units) >= len(units)
        outputs = kp.KeypadOutputs(locked=locked, beep=_BEEPS[command.pattern])
        self._broadcasts.append(kp.BroadcastPlan(kp.BroadcastCommand.BEEP, outputs))
        for unit in units:
            unit.beep = kp.Beep.NONE

    def settled(self, inputs: Sequence[Input]) -> None:
        """Inputs the runtime has made durable or refused (drivers.base.Settling): the events
        behind them may now be forgotten by their units. Other drivers' inputs are ignored."""
        for inp in inputs:
            unit = self._unsettled.get(id(inp))
            if unit is not None and unit.last_input is inp:
                del self._unsettled[id(inp)]
                unit.last_input = None
        self._wake.set()

    def _emit(self, unit: _Unit, inp: Input) -> None:
        if unit.last_input is not None:
            self._unsettled.pop(id(unit.last_input), None)
        # Held by the unit, so its id cannot be reused while it is a key here.
        unit.last_input = inp
        self._unsettled[id(inp)] = unit
        self._sink(inp)

    async def wait_cycles(self, n: int) -> None:
        """Return once `n` more poll cycles have completed (readiness, tests, benchmarks)."""
        target = self.cycles + n
        while self.cycles < target:
            self._cycled.clear()
            await self._cycled.wait()

    # --- the line ---------------------------------------------------------------------------

    def serial_settings(self) -> tuple[int, int, str, int]:
        """What pyserial is given for an RTU line: baud, data bits, parity, stop bits."""
        assert self.char_format is not None
        f = self.char_format
        return (self.line.baud, f.data_bits, PYSERIAL_PARITY[f.parity], f.stop_bits)

    async def _open_link(self) -> Link:
        if self.char_format is None:
            return await SocketLink.open(
                f"socket://{self.line.host}:{self.line.port}", self._received
            )
        assert self.line.device is not None
        if self.line.device.startswith("socket://"):
            return await SocketLink.open(self.line.device, self._received)
        baud, _, parity, stop_bits = self.serial_settings()
        try:
            return SerialLink(self.line.device, baud, self._received, parity, stop_bits)
        except TransportError as exc:
            if "lock" in str(exc).lower():
                raise TransportError(
                    f"line {self.line.id}: {self.line.device} is held by another program "
                    "(a daemon, chamber commission or chamber conformance): one master a line"
                ) from exc
            raise

    async def run(self) -> None:
        delay = self._reconnect.first_s
        where = self.line.device or f"{self.line.host}:{self.line.port}"
        self._timer = DeadlineTimer()
        try:
            while True:
                link: Link | None = None
                try:
                    try:
                        link = await self._open_link()
                    except TransportError as exc:
                        raise TransportError(
                            f"line {self.line.id}: cannot connect to {where}: {exc}"
                        ) from exc
                    self._link = link
                    link.closed.add_done_callback(self._lost)
                    self._line.connected(where)
                    if self._rtu:
                        self._check_adapter()
                    delay = self._reconnect.first_s
                    await self._serve()
                except TransportError as exc:
                    self._line.disconnected(str(exc))
                except Exception as exc:  # the port itself failed (termios, OS): retry
                    log.warning(
                        "line %s failed: %s",
                        self.line.id,
                        exc,
                        exc_info=True,
                        extra={"event": "line-error", "line": self.line.id},
                    )
                    self._line.disconnected(f"{type(exc).__name__}: {exc}")
                finally:
                    self._link = None
                    self._stop_attempt()
                    if link is not None:
                        link.close()
                await asyncio.sleep(delay)  # backoff before reconnecting
                delay = min(delay * 2, self._reconnect.max_s)
        finally:
            self._timer.close()
            self._timer = None

    # --- moving bytes and clock readings between the line and the poller ---------------------

    def _received(self, data: bytes) -> None:
        attempt = self._poller.received(data, asyncio.get_running_loop().time())
        if attempt is not None:
            self._ended(attempt)

    def _lost(self, closed: asyncio.Future[None]) -> None:
        future = self._attempt
        if future is not None and not future.done():
            exc = closed.exception() if not closed.cancelled() else None
            future.set_exception(
                exc if exc is not None else TransportError(f"line {self.line.id}: closed")
            )
        self._wake.set()

    def _ended(self, attempt: Attempt) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        future = self._attempt
        if future is not None and not future.done():
            future.set_result(attempt)

    def _stop_attempt(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._poller.phase is not Phase.IDLE:
            self._poller.abandon()
        self._attempt = None

    def _send_due(self) -> None:
        """Write the poller's frame now: its silence has ended."""
        loop = asyncio.get_running_loop()
        link = self._link
        future = self._attempt
        if future is None or future.done():
            return
        if link is None:
            future.set_exception(TransportError(f"line {self.line.id}: not connected"))
            return
        try:
            link.write(self._poller.frame())
        except TransportError as exc:
            future.set_exception(exc)
            return
        now = loop.time()
        due = self._poller.due
        if self._ready_at < due:
            self.send_timing.timed.append(now - due)
        elif due > 0:  # not the first frame since the line opened, which has no silence
            self.send_timing.late.append(self._ready_at - due)
        attempt = self._poller.sent(now)
        if attempt is not None:
            future.set_result(attempt)
            return
        deadline = self._poller.deadline
        assert deadline is not None
        self._expiry = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        deadline = self._poller.deadline
        now = asyncio.get_running_loop().time()
        attempt = self._poller.expire(now if deadline is None else max(now, deadline))
        if attempt is not None:
            self._ended(attempt)

    async def _transact(
        self, request: ModbusPDU, tries: int, on_failed: Callable[[Attempt], None] | None = None
    ) -> Attempt:
        """One transaction through the poller, its attempts sent when their silence ends;
        returns its last attempt (`on_failed` sees each one before it). Raises TransportError."""
        if self._link is None:
            raise TransportError(f"line {self.line.id}: not connected")
        loop = asyncio.get_running_loop()
        self._poller.start(request, tries)
        try:
            while True:
                future: asyncio.Future[Attempt] = loop.create_future()
                self._attempt = future
                self._ready_at = now = loop.time()
                due = self._poller.due
                if due <= now or self._timer is None:
                    self._send_due()
                else:
                    self._timer.call_at(due, self._send_due)
                attempt = await future
                if attempt.final:
                    return attempt
                if on_failed is not None:
                    on_failed(attempt)
        finally:
            self._stop_attempt()

    def poll_cost(self) -> PollCost:
        """A poll of every unit on the wire at the line's baud (keypad_modbus.md §6.2, §6.3)."""
        baud = self.line.baud
        reply = kp.read_response_bytes(kp.poll_count(card=False))
        silence = kp.t35(baud)
        reply_wire = modbus_timing.frame_time(reply, baud, kp.BITS_PER_CHAR)
        return PollCost(
            units=len(self._units),
            baud=baud,
            transaction_s=kp.poll_cycle_wire_time(1, baud),
            reply_s=silence + kp.TURNAROUND_TYPICAL_S + reply_wire,
            timeout_s=kp.response_timeout(baud, reply),
        )

    def _check_adapter(self) -> None:
        """Log once, and show in the line's health, an adapter latency timer above 1 ms."""
        assert self.line.device is not None
        report_latency(self._line, self.line.device, self.poll_cost(), self._sysfs, log)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            talked = False
            for unit in self._units.values():
                talked |= await self._flush()
                if unit.monitor.online or unit.misses < OFFLINE_AFTER_MISSES:
                    pass
                elif loop.time() < unit.next_probe:
                    continue
                await self._poll(unit)
                talked = True
            talked |= await self._flush()
            elapsed = loop.time() - started
            if talked:
                self.cycles += 1
                self._line.cycle(elapsed * 1000)
                self._cycled.set()
            # Idle only when nothing is due: a line of dead units must not spin.
            wait = self._min_cycle_s - elapsed
            if not talked:
                probes = [u.next_probe for u in self._units.values()]
                wait = max(wait, min(probes) - loop.time())
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _flush(self) -> bool:
        """Send queued broadcasts, then write every unit whose outputs are not yet shown."""
        talked = False
        restart = True
        while restart:
            restart = False
            while self._broadcasts:
                await self._broadcast(self._broadcasts.pop(0))
                talked = True
            talked |= await self._write_planned()
            for unit in self._units.values():
                if self._broadcasts:
                    # Commands arrived while we wrote: their broadcast is older than the unit
                    # states still to write. Send it first, or it would overwrite them.
                    restart = True
                    break
                if (unit.dirty or unit.beep) and self._writable(unit):
                    await self._write(unit)
                    talked = True
                if (
                    unit.address in self._identify
                    and unit.identity is not None  # read again after a restart first
                    and unit.monitor.online
                    and not unit.held
                ):
                    await self._send_identify(unit)
                    talked = True
                if (
                    unit.forget_at is not None
                    and unit.last_input is None
                    and unit.identity is not None  # read again after a restart first
                    and unit.monitor.online
                    and not unit.held
                ):
                    if unit.identity.forgets_events:
                        await self._forget(unit)
                        talked = True
                    else:
                        unit.forget_at = None  # a 1.0 unit: logged once, with its identity
        return talked

    @staticmethod
    def _writable(unit: _Unit) -> bool:
        # Its identity first (at first contact and after a restart): a unit of another
        # major version is never written (VERSIONING.md).
        return unit.monitor.online and not unit.held and unit.identity is not None

    async def _write_planned(self) -> bool:
        """Bring the units whose outputs changed to the mirror in the fewest frames: one
        lock or vote broadcast where it saves writes (opening, holding, resuming, closing a
        vote), then a unicast of each unit the broadcast did not set right."""
        writable = [u for u in self._units.values() if self._writable(u)]
        if not any(u.dirty for u in writable):
            return False
        plan = kp.plan_writes({u.address: (u.applied, u.shown) for u in writable})
        if plan.broadcast is None:
            return False  # the unicast loop writes each unit that differs
        await self._broadcast(plan.broadcast)
        for address in plan.unicast:
            unit = self._units[address]
            if unit.dirty and self._writable(unit):
                await self._write(unit)
        return True

    def _next_tag(self) -> int:
        self._tag = kp.next_tag(self._tag)
        return self._tag

    async def _request(self, unit: _Unit, request: ModbusPDU, tries: int) -> kp.Reply:
        """A request to one unit, tried `tries` times; counts each failure in its health."""

        def failed(attempt: Attempt) -> None:
            damaged = attempt.ending is Ending.DAMAGED
            unit.monitor.count(crc_errors=int(damaged), timeouts=int(not damaged))

        attempt = await self._transact(request, tries, failed)
        if attempt.ending is not Ending.REPLY:
            failed(attempt)
            if attempt.ending is Ending.DAMAGED:
                raise UnitReplyError(unit.address, "damaged reply", crc=True)
            raise UnitTimeout(unit.address)
        response = attempt.reply
        assert response is not None
        took_ms = None if attempt.elapsed_s is None else attempt.elapsed_s * 1000
        try:
            result = kp.decode_reply(request, response)
        except kp.KeypadVersionError as exc:
            unit.monitor.seen(self._clock.now(), took_ms)
            raise _Incompatible(exc.version) from exc
        except kp.KeypadExceptionResponse as exc:
            # A whole reply that refuses the request: the unit is there, the wire is fine.
            unit.monitor.seen(self._clock.now(), took_ms, _firmware(unit))
            unit.monitor.count(exceptions=1)
            raise UnitReplyError(unit.address, str(exc)) from exc
        except kp.KeypadProtocolError as exc:
            unit.monitor.count(crc_errors=1)
            raise UnitReplyError(unit.address, str(exc)) from exc
        unit.monitor.seen(self._clock.now(), took_ms, _firmware(unit))
        return result

    async def _poll(self, unit: _Unit) -> None:
        loop = asyncio.get_running_loop()
        tries = 1 + self._retries if unit.monitor.online else 1
        try:
            if unit.identity is None:
                identity = await self._request(unit, kp.read_identity_request(unit.address), tries)
                assert isinstance(identity, kp.Identity)
                unit.identity = identity
                unit.monitor.seen(self._clock.now(), None, _firmware(unit))
                self._note_contract(unit, identity.protocol_version)
            request = kp.read_status_request(unit.address, card=unit.card)
            status = await self._request(unit, request, tries)
        except _Incompatible as exc:
            # Answering, but in a language this controller does not speak: nothing of it is
            # read. Probed like an offline unit, in case it is replaced or updated.
            self._note_contract(unit, exc.version)
            unit.misses = max(unit.misses, OFFLINE_AFTER_MISSES)
            unit.next_probe = loop.time() + OFFLINE_POLL_INTERVAL_S
            unit.monitor.set_online(False, f"incompatible {exc}")
            if unit.address in self._identify:
                self._answer_identify(
                    unit, IdentifyOutcome.NOT_SUPPORTED, self._identify[unit.address][0], str(exc)
                )
            return
        except (UnitTimeout, UnitReplyError) as exc:
            unit.misses += 1
            if unit.misses >= OFFLINE_AFTER_MISSES:
                unit.next_probe = loop.time() + OFFLINE_POLL_INTERVAL_S
                if unit.monitor.online:
                    unit.monitor.set_online(False, f"{unit.misses} missed polls ({exc})")
                if unit.address in self._identify:
                    self._answer_identify(
                        unit, IdentifyOutcome.OFFLINE, self._identify[unit.address][0], str(exc)
                    )
            return
        assert isinstance(status, kp.KeypadStatus)
        unit.misses = 0
        unit.held = False
        first = unit.tracker.cursor is None
        unit.monitor.set_online(True)
        update = unit.tracker.update(status)
        if update.restarted and not first:
            unit.monitor.rebooted()
            # A power blip is not a departure. A card reader says again what it holds.
            unit.blip = unit.present and not unit.card
            unit.identity = None  # read again after a restart (§3.2): firmware may be new
        if update.lost:
            unit.monitor.lost(update.lost)
        if update.resync is not None:
            unit.dirty = True
            unit.applied = None
        if unit.forget_requested:
            # Every event up to this poll's place has been read (or is of unknown age).
            unit.forget_requested = False
            unit.forget_at = unit.tracker.cursor
        now = self._clock.now()
        for event in update.events:
            inp = self._input(unit, event, status, now)
            if inp is not None:
                if isinstance(inp, PresenceChanged):
                    unit.present = inp.present
                    unit.blip = False
                self._emit(unit, inp)
        # Presence is a state as well as a key: the first poll, a restart or lost events
        # leave the core's view behind the unit's, and the flag brings it back in step.
        if status.present:
            unit.blip = False
        if status.present != unit.present and not unit.blip:
            unit.present = status.present
            card = f"{status.card:x}" if status.present and status.card else None
            # Its origin is the poll's own place in the event stream: after a restart the
            # unit's ring is read from here on.
            origin = f"{ORIGIN_KIND}:{status.boot_count}:{status.seq}"
            self._emit(unit, PresenceChanged(now, unit.seat, status.present, card, origin))

    def _input(
        self, unit: _Unit, event: kp.KeyEvent, status: kp.KeypadStatus, now: float
    ) -> Input | None:
        if event.refused:
            # Never the key: during a secret vote, seat and key together would be a ballot.
            log.info(
                "seat %d: a key refused by its keypad (locked or not in this vote)",
                unit.seat,
                extra={
                    "event": "press-refused",
                    "line": self.line.id,
                    "address": unit.address,
                    "seat": unit.seat,
                },
            )
            return None
        origin = f"{ORIGIN_KIND}:{status.boot_count}:{event.seq}"
        if event.key.is_voting_key:
            return VoteKeyPressed(now, unit.seat, int(event.key), origin)
        if event.key in (kp.Key.PRESENCE_ON, kp.Key.PRESENCE_OFF):
            present = event.key is kp.Key.PRESENCE_ON
            card = f"{status.card:x}" if present and status.card else None
            return PresenceChanged(now, unit.seat, present, card, origin)
        return None

    def restore_origins(self, origins: Origins) -> None:
        """Resume each keypad's event stream where the journal stands (drivers.base.Resumable):
        presses made while the daemon was down are read from the unit's ring, once."""
        for unit in self._units.values():
            origin = origins.get((unit.seat, ORIGIN_KIND))
            mark = origin_mark(origin) if origin is not None else None
            if mark is not None and unit.tracker.cursor is None:
                unit.tracker = kp.KeypadTracker(kp.EventCursor(*mark))

    def _note_contract(self, unit: _Unit, version: tuple[int, int]) -> None:
        """Show the unit's contract version in its health; log once when it is not ours."""
        ours = kp.PROTOCOL_VERSION
        text = f"{version[0]}.{version[1]}"
        if version[0] != ours[0]:
            state = "incompatible"
        elif version < ours and _lacks(version):
            state = "older"
        else:
            state = "current"
        if not unit.monitor.contract(text, state) or state == "current":
            return
        extra = {
            "event": f"unit-contract-{state}",
            "line": self.line.id,
            "address": unit.address,
            "seat": unit.seat,
            "contract": text,
        }
        if state == "incompatible":
            log.error(
                "keypad %d on line %s speaks contract %s; this controller speaks %d.x: not served",
                unit.address,
                self.line.id,
                text,
                ours[0],
                extra=extra,
            )
        else:
            log.warning(
                "keypad %d on line %s speaks contract %s (this controller %d.%d): served "
                "without %s",
                unit.address,
                self.line.id,
                text,
                *ours,
                _missing(version),
                extra=extra,
            )

    async def _forget(self, unit: _Unit) -> None:
        """Empty the unit's ring up to `forget_at` (§3.6), where its contract has the block."""
        cursor = unit.forget_at
        assert cursor is not None
        request = kp.forget_events_request(unit.address, cursor)
        try:
            await self._request(unit, request, 1 + self._retries)
        except UnitReplyError as exc:
            if not exc.crc:
                log.error(
                    "keypad %d on line %s refused to forget its events: %s",
                    unit.address,
                    self.line.id,
                    exc,
                    extra={"event": "unit-refused-forget", "line": self.line.id},
                )
                if unit.forget_at == cursor:
                    unit.forget_at = None
                return
            unit.held = True
            return
        except UnitTimeout:
            unit.held = True
            return
        if unit.forget_at == cursor:  # not asked again meanwhile
            unit.forget_at = None

    async def _send_identify(self, unit: _Unit) -> None:
        """Write the identify block (§3.7) of a unit whose contract has it, and answer."""
        seconds, _ = self._identify[unit.address]
        assert unit.identity is not None
        if not unit.identity.identifies:
            self._answer_identify(
                unit,
                IdentifyOutcome.NOT_SUPPORTED,
                seconds,
                f"contract {unit.identity.contract}: identify needs "
                f"{kp.IDENTIFY_SINCE[0]}.{kp.IDENTIFY_SINCE[1]}",
            )
            return
        request = kp.identify_request(unit.address, seconds)
        try:
            await self._request(unit, request, 1 + self._retries)
        except UnitReplyError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, kp.KeypadExceptionResponse)
                and cause.code == kp.ExceptionCode.ILLEGAL_DATA_ADDRESS
            ):
                # It says 1.2 or later but has no such register: not one to send it again.
                self._answer_identify(unit, IdentifyOutcome.NOT_SUPPORTED, seconds, str(exc))
            elif exc.crc:
                unit.held = True
                self._answer_identify(unit, IdentifyOutcome.NO_REPLY, seconds, str(exc))
            else:
                self._answer_identify(unit, IdentifyOutcome.REFUSED, seconds, str(exc))
            return
        except UnitTimeout as exc:
            unit.held = True
            self._answer_identify(unit, IdentifyOutcome.NO_REPLY, seconds, str(exc))
            return
        log.info(
            "keypad %d on line %s (seat %d) identifies itself for %d s",
            unit.address,
            self.line.id,
            unit.seat,
            seconds,
            extra={
                "event": "unit-identify",
                "line": self.line.id,
                "address": unit.address,
                "seat": unit.seat,
                "seconds": seconds,
            },
        )
        self._answer_identify(unit, IdentifyOutcome.STARTED, seconds)

    async def _write(self, unit: _Unit) -> None:
        tag = self._next_tag()
        outputs = replace(unit.shown, beep=unit.beep)
        request = kp.write_outputs_request(unit.address, outputs, tag)
        try:
            await self._request(unit, request, 1 + self._retries)
        except UnitReplyError as exc:
            unit.applied = None  # a refused write changes nothing, but what it shows is unsure
            if exc.crc:
                unit.held = True
                return
            cause = exc.__cause__
            failure = (
                isinstance(cause, kp.KeypadExceptionResponse)
                and cause.code == kp.ExceptionCode.SERVER_DEVICE_FAILURE
            )
            if not unit.refusing:
                unit.refusing = True
                log.error(
                    "keypad %d on line %s refused its outputs: %s%s",
                    unit.address,
                    self.line.id,
                    exc,
                    "; written again after its next poll" if failure else "",
                    extra={"event": "unit-refused-write", "line": self.line.id},
                )
            if failure:
                # A fault inside the unit (0x04), which may pass: the whole block again after
                # its next good poll, until it takes it.
                unit.held = True
                return
            # Refused for its values (0x01-0x03): writing the same again would not help.
            unit.dirty = False
            unit.beep = kp.Beep.NONE
            return
        except UnitTimeout:
            unit.held = True
            return
        unit.tracker.wrote(tag)
        unit.refusing = False
        unit.applied = replace(outputs, beep=kp.Beep.NONE)
        if unit.shown == replace(outputs, beep=kp.Beep.NONE):
            unit.dirty = False
        if unit.beep == outputs.beep:
            unit.beep = kp.Beep.NONE

    async def _broadcast(self, plan: kp.BroadcastPlan) -> None:
        tag = self._next_tag()
        await self._transact(kp.broadcast_request(tag, plan), 1)  # nothing is awaited after it
        # Every unit was sent this tag; one that missed it shows another and is rewritten.
        for unit in self._units.values():
            unit.tracker.wrote(tag)
            if unit.applied is not None and self._writable(unit):
                unit.applied = plan.apply(unit.applied)
                unit.dirty = unit.applied != replace(unit.shown, beep=kp.Beep.NONE)
            else:
                # It may have missed it (its tag will tell), or taken it: write it whole.
                unit.applied = None
                unit.dirty = True


def _missing(version: tuple[int, int]) -> str:
    """What a unit of an older minor version lacks, in words for the log."""
    return "; ".join(_lacks(version)) or "nothing this controller uses"


def _lacks(version: tuple[int, int]) -> list[str]:
    """What the daemon would use that a unit of `version` lacks. A 1.2 unit lacks nothing:
    1.3's address and select blocks serve commissioning, never the daemon, so a 1.2 unit is
    served as current (no fault for it)."""
    missing: list[str] = []
    if version < kp.FORGET_SINCE:
        missing.append("forgetting a secret vote's events (its ring keeps them until pushed out)")
    if version < kp.IDENTIFY_SINCE:
        missing.append("identifying itself to a technician")
    return missing


def _firmware(unit: _Unit) -> str:
    if unit.identity is None:
        return ""
    (major, minor), patch = unit.identity.firmware_version, unit.identity.firmware_patch
    return f"{major}.{minor}.{patch}"
