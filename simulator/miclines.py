"""Microphone units on a simulated RS-485 line, answering the master per mic_unit.yaml.

One `MicLineSim` owns a line: it reads the units' end of the pty, feeds the bytes to the
codec's stream decoder, lets each addressed unit's `MicUnitState` (protocols.micunit) decide
its answer, and writes that answer when a real line would have delivered it (wire-time
model). Broadcasts reach every unit and get no answer; DISCOVER replies go out in each
unit's slot. Key presses are queued in the unit's own event queue and reported in its next
STATUS, exactly as firmware would. A unit may be made to restart just before it hears the
next frame addressed to it, with a press right after the restart (`reboot_before_next`):
the moment when the master's POLL was built before it could know of the restart.

Framing, payloads, sequence numbers and the unit's rules all live in protocols.micunit; this
module adds only I/O, timing and faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from chamber.controller.core.model import MicClass
from chamber.drivers.topology import Line, UnitRef
from chamber.protocols import micunit
from chamber.simulator.delegates import GroundTruth, Press, PressKind
from chamber.simulator.faults import Fate, FaultKind, Faults
from chamber.simulator.keypads import collide
from chamber.simulator.serialport import SocatPair, UnitPort
from chamber.simulator.wire import WireTime

log = logging.getLogger(__name__)

_UNIT_TYPE = {
    MicClass.CHAIR: micunit.UnitType.CHAIR,
    MicClass.DELEGATE: micunit.UnitType.DELEGATE,
    MicClass.VIP: micunit.UnitType.VIP,
}


def mic_wire_time(baud: int, enabled: bool) -> WireTime:
    """The mic line's timing from its spec: frames end at their CRC, so no silence is needed."""
    line = micunit.SPEC["line"]
    timing = micunit.SPEC["timing"]
    return WireTime(
        baud=baud,
        bits_per_char=int(line["bits_per_byte"]),
        silence_s=0.0,
        turnaround_s=float(timing["unit_turnaround_min_us"]) / 1e6,
        enabled=enabled,
    )


class MicUnitSim:
    """One microphone unit: its state per the codec, and the seat it belongs to."""

    def __init__(
        self,
        seat: int,
        ref: UnitRef,
        mic_class: MicClass,
        serial: int,
        *,
        contract: tuple[int, int] = micunit.CONTRACT_VERSION,
    ) -> None:
        self.seat = seat
        self.ref = ref
        self.serial = serial
        self.unit_type = _UNIT_TYPE[mic_class]
        self.contract = contract
        self.state = self._fresh()
        self.boots = 1
        # The light ring blinks for a technician until then (loop time; IDENTIFY, §5.10).
        self.blink_until: float | None = None

    def _fresh(self) -> micunit.MicUnitState:
        # The address is kept in non-volatile memory: a restart keeps it.
        return micunit.MicUnitState(
            serial=self.serial,
            unit_type=self.unit_type,
            address=self.ref.address,
            contract=self.contract,
        )

    def reboot(self) -> None:
        self.state = self._fresh()
        self.boots += 1
        self.blink_until = None  # a restart ends the blinking

    def install_firmware(self, contract: tuple[int, int]) -> None:
        """Firmware of another contract version is installed: the unit restarts with it."""
        self.contract = contract
        self.reboot()

    def blinking(self, now: float) -> bool:
        """Whether the ring blinks at loop time `now` (a technician asked it to identify)."""
        return self.blink_until is not None and now < self.blink_until

    def took(self, before: micunit.MicUnitState, now: float) -> None:
        """After a frame: an IDENTIFY it took starts (or, with 0 s, stops) the blinking."""
        if self.state.identified != before.identified:
            seconds = self.state.identify_s
            self.blink_until = now + seconds if seconds else None
            self.state = replace(self.state, identified=0)


class MicLineSim:
    """A mic-serial line: socat pair, units' port, decoder and the units on it."""

    def __init__(
        self,
        line: Line,
        units: list[MicUnitSim],
        *,
        daemon_link: Path,
        unit_link: Path,
        wire: WireTime,
        faults: Faults,
        truth: GroundTruth,
    ) -> None:
        self.line = line
        # Every unit on the line, factory-new ones (all unassigned, FE) and duplicates too;
        # `units` is the first at each address, which is what delegates' actions name.
        self.all_units = list(units)
        self.units: dict[int, MicUnitSim] = {}
        self._index()
        self.socat = SocatPair(daemon_link, unit_link)
        self.port = UnitPort(unit_link, self._on_data)
        self.wire = wire
        self._faults = faults
        self._truth = truth
        self._decoder = micunit.MicStreamDecoder()
        self._started: float | None = None
        self._replies: set[asyncio.Task[None]] = set()
        self.frame_errors: list[micunit.FrameError] = []
        self.requests = 0
        # address -> the press made right after the restart (None: no press)
        self._reboot_next: dict[int, micunit.UnitEvent | None] = {}
        self._heard = asyncio.Event()

    @property
    def daemon_device(self) -> str:
        return str(self.socat.daemon_link)

    def _index(self) -> None:
        self.units = {}
        for unit in self.all_units:
            self.units.setdefault(unit.ref.address, unit)

    def at(self, address: int) -> list[MicUnitSim]:
        """Every unit answering at `address` (more than one is a duplicate address)."""
        return [u for u in self.all_units if u.ref.address == address]

    async def start(self) -> None:
        await self.socat.start()
        self._decoder = micunit.MicStreamDecoder()
        self.port.open()

    async def stop(self) -> None:
        self.port.close()
        for task in list(self._replies):
            task.cancel()
        for task in list(self._replies):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.socat.stop()

    async def unplug(self) -> None:
        """The adapter is pulled: the daemon's device vanishes; the units keep their state."""
        self._faults.count(FaultKind.UNPLUG)
        await self.stop()

    async def replug(self) -> None:
        self._faults.count(FaultKind.REPLUG)
        await self.start()

    # --- delegate actions ------------------------------------------------------------------

    def press(self, address: int, event: micunit.UnitEvent) -> Press:
        unit = self.units[address]
        unit.state = unit.state.press(event)
        kind = {
            micunit.UnitEvent.REQUEST_PRESSED: PressKind.MIC_REQUEST,
            micunit.UnitEvent.CANCEL_PRESSED: PressKind.MIC_CANCEL,
        }.get(event)
        now = asyncio.get_running_loop().time()
        name = f"{self.line.id}/{address}"
        if kind is None:
            raise ValueError(f"{event.name} is not a request or cancel press")
        # A full queue keeps its older events; the unit flags the loss and this press is gone.
        lost = not unit.state.events or unit.state.events[-1].seq != unit.state.last_seq
        press = Press(unit.seat, kind, 0, now, unit.state.last_seq, name, refused=lost)
        self._truth.record(press)
        return press

    def reboot(self, address: int) -> None:
        self._faults.count(FaultKind.REBOOT)
        self.units[address].reboot()

    def reboot_before_next(self, address: int, press: micunit.UnitEvent | None = None) -> None:
        """Restart the unit just before the next frame addressed to it arrives, and let its
        delegate `press` (request or cancel) at once: that frame was sent before the master
        could know of the restart."""
        if address not in self.units:
            raise KeyError(f"no unit {address} on line {self.line.id}")
        self._reboot_next[address] = press

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate` holds, checked after every frame the units hear."""

        async def wait() -> None:
            while not predicate():
                self._heard.clear()
                await self._heard.wait()

        await asyncio.wait_for(wait(), within)

    # --- the line --------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if self._started is None:
            self._started = now
        self._decoder.receive_data(data)
        for event in self._decoder.events():
            started, self._started = self._started or now, None
            if isinstance(event, micunit.FrameError):
                self._frame_error(event, started)
            else:
                self._message(event, started)
            self._heard.set()
        if self._decoder.buffered:
            self._started = now

    def _frame_error(self, error: micunit.FrameError, started: float) -> None:
        if error.reason is not micunit.FrameErrorReason.GARBAGE:
            self.frame_errors.append(error)
        unit = self.units.get(error.address) if error.address is not None else None
        if unit is None:
            return
        nak = unit.state.handle_error(error)
        if nak is not None:
            self._reply(unit, nak, started, len(error.raw) + 1)

    def _message(self, message: micunit.MicMessage, started: float) -> None:
        self.requests += 1
        request_len = len(micunit.encode(message))
        if message.address == micunit.BROADCAST:
            # Replies in one slot (DISCOVER) go out at once and collide on the wire.
            by_time: dict[float, list[tuple[MicUnitSim, micunit.MicMessage]]] = {}
            for unit in self.all_units:
                unit.state, reply = unit.state.handle(message)
                if unit.state.address != unit.ref.address:  # SET_ADDRESS: kept for good
                    unit.ref = UnitRef(unit.ref.line, unit.state.address)
                    self._index()
                if reply is not None and isinstance(message, micunit.Discover):
                    slot = micunit.discovery_slot(unit.serial, message.nonce, message.slots)
                    slot_s = float(micunit.SPEC["timing"]["discovery_slot_ms"]) / 1000
                    by_time.setdefault(started + slot * slot_s, []).append((unit, reply))
                elif reply is not None:
                    by_time.setdefault(started, []).append((unit, reply))
            for at, replies in by_time.items():
                self._replies_at(replies, at, request_len)
            return
        answers: list[tuple[MicUnitSim, micunit.MicMessage]] = []
        for target in self.at(message.address):  # nobody there: silence, as on a real line
            if self._faults.reboot_now():
                target.reboot()
            if message.address in self._reboot_next:
                press = self._reboot_next.pop(message.address)
                self.reboot(message.address)
                if press is not None:
                    self.press(message.address, press)
            before = target.state
            target.state, answer = target.state.handle(message)
            target.took(before, asyncio.get_running_loop().time())
            if answer is not None:
                answers.append((target, answer))
        self._replies_at(answers, started, request_len)

    def _replies_at(
        self,
        replies: list[tuple[MicUnitSim, micunit.MicMessage]],
        started: float,
        request_len: int,
    ) -> None:
        """One reply goes out as it is; several at one moment collide (a wired AND)."""
        if len(replies) == 1:
            self._reply(*replies[0], started, request_len)
        elif replies:
            frames = [micunit.encode(reply) for _, reply in replies]
            frame = collide(frames)
            deadline = self.wire.reply_at(started, request_len, len(frame))
            task = asyncio.ensure_future(self._send_at(frame, deadline, 0.0))
            self._replies.add(task)
            task.add_done_callback(self._replies.discard)

    def _reply(
        self, unit: MicUnitSim, reply: micunit.MicMessage, started: float, request_len: int
    ) -> None:
        decision = self._faults.decide(unit.ref)
        if decision.fate is Fate.DROP:
            return
        frame = micunit.encode(reply)
        if decision.fate is Fate.CORRUPT:
            frame = self._faults.damage(frame)
        deadline = self.wire.reply_at(started, request_len, len(frame))
        task = asyncio.ensure_future(self._send_at(frame, deadline, decision.delay_s))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _send_at(self, frame: bytes, deadline: float, extra_s: float) -> None:
        await self.wire.wait_until(deadline, extra_s)
        self.port.write(frame)
