"""Seat keypads on a simulated Modbus RTU line or behind a simulated Modbus TCP gateway.

Each keypad is the codec's own unit-side register image (`protocols.keypad.KeypadRegisters`),
so the register map, the event ring, the boot flag, the forget block (contract 1.1), the
identify block (1.2) and the exception rules are never written twice. A keypad told to
identify itself blinks for the seconds asked, by the loop's clock (`blinking`). This module
adds the transport, the wire-time model and faults. A keypad speaks the current contract
version unless it is given another (`contract`, or `install_firmware`): a 1.0 keypad has no
forget block, a 1.1 keypad no identify block.

Why not pymodbus's `ModbusSerialServer`: a real RS-485 line stays silent for an address
nobody has, where pymodbus answers with an exception (and logs a traceback); its reply path
has no hook to hold a reply until the wire-time deadline; and a line unplug has to close and
reopen the port under the units' feet. A loop of a few lines on the codec's unit-side framer
(`KeypadFramer(side=UNIT)`, built on pymodbus's PDU classes and CRC) does all three, and the
TCP gateway reuses the same loop over the MBAP framing, so both transports fault alike.

A gateway is an RTU line behind TCP: it answers for its own units, delays each reply by the
RTU wire time at the line's baud rate, and where its RTU side would time out (a silent unit,
an unknown address, a reply with a bad CRC) it answers Modbus exception 0x0B, "gateway target
device failed to respond", as gateways do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pymodbus.pdu import ExceptionResponse, ModbusPDU

from chamber.drivers.topology import Line, UnitRef
from chamber.protocols import keypad
from chamber.simulator.delegates import GroundTruth, Press, PressKind
from chamber.simulator.faults import Fate, FaultKind, Faults
from chamber.simulator.serialport import SocatPair, UnitPort
from chamber.simulator.wire import WireTime

log = logging.getLogger(__name__)

KEYS = 3  # yes / no / abstain: the keypad fitted to every simulated seat
MAKER = "chamber simulator"


def keypad_wire_time(baud: int, enabled: bool) -> WireTime:
    """The keypad line's timing, from the keypad spec: 11-bit characters, t3.5, turnaround."""
    return WireTime(
        baud=baud,
        bits_per_char=keypad.BITS_PER_CHAR,
        silence_s=keypad.t35(baud),
        turnaround_s=keypad.TURNAROUND_TYPICAL_S,
        enabled=enabled,
    )


class KeypadUnitSim:
    """One keypad: the codec's register image, and the seat it sits at."""

    def __init__(
        self,
        seat: int,
        ref: UnitRef,
        serial: str,
        *,
        boot_count: int = 1,
        contract: tuple[int, int] = keypad.PROTOCOL_VERSION,
        card_reader: bool = False,
    ) -> None:
        self.seat = seat
        self.ref = ref
        identity = keypad.Identity(
            key_count=KEYS, maker=MAKER, serial_number=serial, protocol_version=contract
        )
        if card_reader:
            identity = replace(identity, features=identity.features | keypad.Feature.CARD_READER)
        self.registers = keypad.KeypadRegisters(identity, boot_count=boot_count)
        # Every LED blinks for a technician until then (loop time), in this start of the
        # unit (keypad_modbus.md §3.7: a restart ends it).
        self.blink_until: float | None = None
        # The presence latch reads the other way round since a roll-call confirmation.
        self.presence_inverted = False
        self._blink_boot = 0

    def blinking(self, now: float) -> bool:
        """Whether the keypad's LEDs blink at loop time `now` (identify, §3.7)."""
        return (
            self.blink_until is not None
            and now < self.blink_until
            and self.registers.boot_count == self._blink_boot
        )

    def before_request(self, now: float) -> None:
        """The firmware's clock: IDENTIFY_S reads the seconds left."""
        if self.registers.identify_s is None:
            return
        left = 0
        if self.blinking(now):
            assert self.blink_until is not None
            left = min(keypad.IDENTIFY_MAX_S, math.ceil(self.blink_until - now))
        self.registers.identify_left(left)

    def after_request(self, now: float) -> None:
        """An identify write the registers took starts (or, with 0, stops) the blinking."""
        for seconds in self.registers.identified:
            self.blink_until = now + seconds if seconds else None
            self._blink_boot = self.registers.boot_count
        self.registers.identified.clear()

    def install_firmware(self, contract: tuple[int, int]) -> None:
        """Firmware of another contract version is installed: the keypad restarts with it
        (a new BOOT_COUNT, an empty ring, outputs at their power-up values)."""
        old = self.registers
        identity = replace(old.identity, protocol_version=contract)
        self.registers = keypad.KeypadRegisters(identity, boot_count=old.boot_count + 1)

    @property
    def name(self) -> str:
        return f"{self.ref.line}/{self.ref.address}"

    def took_address(self) -> bool:
        """An address the unit took by its serial (§3.8) moves it there, for good (the
        firmware keeps it in non-volatile memory); True when it moved."""
        new = self.registers.taken_address
        self.registers.taken_address = None
        if new is None or new == self.ref.address:
            return False
        self.ref = UnitRef(self.ref.line, new)
        return True


def collide(frames: list[bytes]) -> bytes:
    """What the line carries when several units answer at once: the drivers fight, and a
    dominant 0 wins each bit (a wired AND); identical replies read as one."""
    if len(set(frames)) == 1:
        return frames[0]
    size = max(len(f) for f in frames)
    out = bytearray(b"\xff" * size)
    for frame in frames:
        for i, byte in enumerate(frame):
            out[i] &= byte
    return bytes(out)


class _KeypadHost:
    """What a line and a gateway share: their units, delegate actions, faults."""

    def __init__(
        self,
        line: Line,
        units: list[KeypadUnitSim],
        *,
        wire: WireTime,
        faults: Faults,
        truth: GroundTruth,
    ) -> None:
        self.line = line
        # Every unit on the line, factory-new ones (all at one address) and duplicates too;
        # `units` is the first at each address, which is what delegates' actions name.
        self.all_units = list(units)
        self.units: dict[int, KeypadUnitSim] = {}
        self._index()
        self.wire = wire
        self._faults = faults
        self._truth = truth
        self._replies: set[asyncio.Task[None]] = set()
        self.requests = 0

    def _index(self) -> None:
        self.units = {}
        for unit in self.all_units:
            self.units.setdefault(unit.ref.address, unit)

    def at(self, address: int) -> list[KeypadUnitSim]:
        """Every unit answering at `address` (more than one is a duplicate address)."""
        return [u for u in self.all_units if u.ref.address == address]

    def press(self, address: int, key: int) -> Press:
        unit = self.units[address]
        event = unit.registers.press(key)
        press = Press(
            unit.seat,
            PressKind.VOTE,
            key,
            asyncio.get_running_loop().time(),
            event.seq,
            unit.name,
            event.refused,
        )
        self._truth.record(press)
        return press

    def set_presence(self, address: int, present: bool) -> Press | None:
        """Press the presence key if the latch is not already where the delegate wants it
        (read the other way round after a roll-call confirmation that toggled it)."""
        unit = self.units[address]
        if (unit.registers.present != unit.presence_inverted) == present:
            return None
        event = unit.registers.press_presence()
        kind = PressKind.PRESENCE_ON if present else PressKind.PRESENCE_OFF
        now = asyncio.get_running_loop().time()
        press = Press(unit.seat, kind, 0, now, event.seq, unit.name)
        self._truth.record(press)
        return press

    def confirm_presence(self, address: int) -> Press:
        """A delegate who is present confirms in a roll call: one press of the presence key,
        which toggles the latch; the controller takes it as a confirmation and the delegate
        stays, so from then on the latch reads the other way round (as the controller reads
        it, `controller/core/attendance.py`), until another such confirmation."""
        unit = self.units[address]
        event = unit.registers.press_presence()
        unit.presence_inverted = not unit.presence_inverted
        now = asyncio.get_running_loop().time()
        press = Press(unit.seat, PressKind.PRESENCE_CONFIRM, 0, now, event.seq, unit.name)
        self._truth.record(press)
        return press

    def insert_card(self, address: int, uid: int) -> Press | None:
        """A delegate puts a card in the unit's reader (keypad_modbus.md §3.4): the unit is
        present with CARD_ID set; None when a card was in already (CARD_ID changes, no event)."""
        event = self.units[address].registers.insert_card(uid)
        return self._presence_press(address, event, present=True)

    def remove_card(self, address: int) -> Press | None:
        """The card is taken out: the unit is absent; None when there was no card."""
        event = self.units[address].registers.remove_card()
        return self._presence_press(address, event, present=False)

    def _presence_press(
        self, address: int, event: keypad.KeyEvent | None, *, present: bool
    ) -> Press | None:
        if event is None:
            return None
        unit = self.units[address]
        kind = PressKind.PRESENCE_ON if present else PressKind.PRESENCE_OFF
        press = Press(unit.seat, kind, 0, asyncio.get_running_loop().time(), event.seq, unit.name)
        self._truth.record(press)
        return press

    def reboot(self, address: int) -> None:
        """Power cycle: new boot count, empty event ring, default outputs, boot flag set."""
        self._faults.count(FaultKind.REBOOT)
        self.units[address].registers.restart()

    def _answer(self, request: ModbusPDU) -> tuple[KeypadUnitSim | None, ModbusPDU | None]:
        """Apply a request to the addressed unit (or to all, for a broadcast)."""
        answers = self._answer_all(request)
        return answers[0] if answers else (None, None)

    def _answer_all(self, request: ModbusPDU) -> list[tuple[KeypadUnitSim, ModbusPDU | None]]:
        """Apply a request to every unit at its address (or to all, for a broadcast); the
        units that answer, with their replies. A selected-out unit (§3.8) stays silent."""
        self.requests += 1
        if request.dev_id == keypad.BROADCAST:
            moved = False
            for unit in self.all_units:
                unit.registers.handle(request)
                moved = unit.took_address() or moved
            if moved:
                self._index()
            return []
        answers: list[tuple[KeypadUnitSim, ModbusPDU | None]] = []
        for target in self.at(request.dev_id):  # nobody there: silence, as on a real line
            if target.registers.silenced():
                continue
            if self._faults.reboot_now():
                target.registers.restart()
            now = asyncio.get_running_loop().time()
            target.before_request(now)
            reply = target.registers.handle(request)
            target.after_request(now)
            answers.append((target, reply))
        return answers

    def _schedule(
        self, write: Callable[[bytes], object], frame: bytes, deadline: float, extra_s: float
    ) -> None:
        task = asyncio.ensure_future(self._send_at(write, frame, deadline, extra_s))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _send_at(
        self, write: Callable[[bytes], object], frame: bytes, deadline: float, extra_s: float
    ) -> None:
        await self.wire.wait_until(deadline, extra_s)
        write(frame)

    async def _cancel_replies(self) -> None:
        for task in list(self._replies):
            task.cancel()
        for task in list(self._replies):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class KeypadLineSim(_KeypadHost):
    """A modbus-rtu line: a socat pty pair, keypads answering on the units' end."""

    def __init__(
        self,
        line: Line,
        units: list[KeypadUnitSim],
        *,
        daemon_link: Path,
        unit_link: Path,
        wire: WireTime,
        faults: Faults,
        truth: GroundTruth,
    ) -> None:
        super().__init__(line, units, wire=wire, faults=faults, truth=truth)
        self.socat = SocatPair(daemon_link, unit_link)
        self.port = UnitPort(unit_link, self._on_data)
        self._framer = keypad.KeypadFramer(keypad.Transport.RTU, keypad.Side.UNIT)
        self._started: float | None = None

    @property
    def daemon_device(self) -> str:
        return str(self.socat.daemon_link)

    async def start(self) -> None:
        await self.socat.start()
        self._framer = keypad.KeypadFramer(keypad.Transport.RTU, keypad.Side.UNIT)
        self.port.open()

    async def stop(self) -> None:
        self.port.close()
        await self._cancel_replies()
        await self.socat.stop()

    async def unplug(self) -> None:
        """The adapter is pulled: the daemon's device vanishes; the keypads keep their state."""
        self._faults.count(FaultKind.UNPLUG)
        await self.stop()

    async def replug(self) -> None:
        self._faults.count(FaultKind.REPLUG)
        await self.start()

    def _on_data(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if self._started is None:
            self._started = now
        for request in self._framer.feed(data):
            started, self._started = self._started or now, None
            frames: list[bytes] = []
            delay_s = 0.0
            for unit, reply in self._answer_all(request):
                if reply is None:
                    continue
                decision = self._faults.decide(unit.ref)
                if decision.fate is Fate.DROP:
                    continue
                frame = keypad.encode_frame(reply)
                if decision.fate is Fate.CORRUPT:
                    frame = self._faults.damage(frame)
                frames.append(frame)
                delay_s = max(delay_s, decision.delay_s)
            if not frames:
                continue
            frame = collide(frames)
            request_len = len(keypad.encode_frame(request))
            deadline = self.wire.reply_at(started, request_len, len(frame))
            self._schedule(self.port.write, frame, deadline, delay_s)
        if self._framer.pending:
            self._started = now


class KeypadGatewaySim(_KeypadHost):
    """A modbus-tcp line: a gateway on 127.0.0.1, a free port, its keypads behind it."""

    def __init__(
        self,
        line: Line,
        units: list[KeypadUnitSim],
        *,
        faults: Faults,
        truth: GroundTruth,
        wire: WireTime | None = None,
    ) -> None:
        super().__init__(
            line, units, wire=wire or keypad_wire_time(line.baud, False), faults=faults, truth=truth
        )
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._cancel_replies()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        framer = keypad.KeypadFramer(keypad.Transport.TCP, keypad.Side.UNIT)
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(4096):
                started = loop.time()
                try:
                    requests = framer.feed(data)
                except keypad.KeypadProtocolError as exc:
                    log.warning("%s: dropping a client that sent %s", self.line.id, exc)
                    break
                for request in requests:
                    self._gateway_reply(request, writer, started)
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    def _gateway_reply(
        self, request: ModbusPDU, writer: asyncio.StreamWriter, started: float
    ) -> None:
        if request.dev_id == keypad.BROADCAST:
            self._answer(request)
            return
        unit, reply = self._answer(request)
        delay = 0.0
        if unit is not None and reply is not None:
            decision = self._faults.decide(unit.ref)
            delay = decision.delay_s
            if decision.fate is not Fate.SEND:
                reply = None
        if reply is None:
            reply = ExceptionResponse(
                request.function_code,
                keypad.ExceptionCode.GATEWAY_TARGET_FAILED_TO_RESPOND,
                device_id=request.dev_id,
            )
        reply.transaction_id = request.transaction_id
        reply.dev_id = request.dev_id
        frame = keypad.encode_frame(reply, keypad.Transport.TCP)
        rtu_len = len(keypad.encode_frame(request))
        deadline = self.wire.reply_at(started, rtu_len, len(frame) - 7 + 3)

        def send(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        self._schedule(send, frame, deadline, delay)
