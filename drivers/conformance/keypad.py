"""The keypad kit: one keypad (keypad_modbus.md) driven through its contract over RTU.

The kit is the line's only master. It sends each request on its own, waits t3.5 after each
reply, gives each request the timeout of §6.2 for its longest reply, and measures every
reply's delay: from the end of the request on the wire to the start of the reply on the
wire, worked out from when the request was handed to the port and when the reply's last
byte arrived, less the wire time of both (so a USB adapter's latency counts against the
unit: set the adapter's latency timer to 1 ms, as docs/technician.md says).

Sections are checked in the order of `SECTIONS`; those that need hands on the unit ask the
`Bench` and then poll until the unit shows the step was done, up to `step_timeout_s`.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from chamber.drivers.conformance.report import ConformanceError, Report, Section
from chamber.drivers.errors import TransportError
from chamber.drivers.serialport import SerialLink
from chamber.protocols import keypad as kp
from chamber.protocols import modbus_timing
from chamber.protocols.crc import crc16_modbus_bytes

PYSERIAL_PARITY = {"even": "E", "odd": "O", "none": "N"}
ATTEMPTS = 3  # §6.2: a missed attempt is retried twice
TURNAROUND_SLACK_S = 0.001  # what the kit allows above the contract's turnaround by default

S_SERIAL = Section("2.1", "Serial parameters")
S_ADDRESSING = Section("2.3", "Addressing")
S_EXCEPTIONS = Section("2.4", "Functions and exceptions")
S_IDENTITY = Section("3.2", "Identity block (input registers, 0x0100)")
S_STATUS = Section("3.3", "Status block (input registers, 0x0000) — the poll")
S_OUTPUTS = Section("3.5", "Output block (holding registers, 0x0000)")
S_FORGET = Section("3.6", "Forget block (holding registers, 0x0010) — since 1.1")
S_IDENTIFY = Section("3.7", "Identify block (holding registers, 0x0018) — since 1.2")
S_ADDRESS = Section(
    "3.8", "Address and select blocks (holding registers, 0x0020 and 0x0030) — since 1.3"
)
S_FLAGS = Section("4.1", "Status flags (STATUS_FLAGS)")
S_BEEP = Section("4.3", "Beep patterns (BEEP)")
S_RING = Section("5.1", "Events and the ring")
S_TAG = Section("5.2", "Output tag and acknowledgement")
S_RESTART = Section("5.3", "Restarts and resynchronisation")
S_BROADCAST = Section("5.4", "Broadcast commands")
S_TIMING = Section("6.1", "Character time and silence")

SECTIONS = (
    S_SERIAL,
    S_ADDRESSING,
    S_EXCEPTIONS,
    S_IDENTITY,
    S_STATUS,
    S_OUTPUTS,
    S_FORGET,
    S_IDENTIFY,
    S_ADDRESS,
    S_FLAGS,
    S_BEEP,
    S_RING,
    S_TAG,
    S_RESTART,
    S_BROADCAST,
    S_TIMING,
)


class Step(StrEnum):
    """What the kit asks of the hands on the unit."""

    PRESS = "press"  # press voting key `key`, `times` times
    EVENTS = "events"  # make the unit record `times` events (a test jig, for the wrap)
    POWER_CYCLE = "power-cycle"  # switch the unit off and on again
    HOLD = "hold"  # hold voting key `key` down (and keep holding)
    RELEASE = "release"  # let the held key go


class Bench(Protocol):
    async def do(self, step: Step, *, key: int = 1, times: int = 1) -> None:
        """Carry the step out (or ask for it); the kit then watches the unit for its effect."""
        ...


@dataclass
class Exchange:
    """One request's outcome: the reply, or why there is none."""

    reply: ModbusPDU | None = None
    damaged: bool = False  # bytes came that make no valid frame (bad CRC, broken frame)
    delay_s: float | None = None  # the unit's turnaround, worked out from the wire


@dataclass
class KeypadWire:
    """One request at a time on the line, timed."""

    device: str
    baud: int
    char_format: modbus_timing.CharFormat
    slack_s: float = 0.0  # added to each §6.2 timeout (a slow adapter)
    delays: list[float] = field(default_factory=list)
    replies: int = 0
    damaged: int = 0
    silent: int = 0
    _framer: kp.KeypadFramer = field(
        default_factory=lambda: kp.KeypadFramer(kp.Transport.RTU, kp.Side.CONTROLLER)
    )
    _link: SerialLink | None = None
    _waiting: asyncio.Future[tuple[ModbusPDU, float]] | None = None
    _stray: int = 0

    def open(self) -> None:
        try:
            self._link = SerialLink(
                self.device,
                self.baud,
                self._received,
                parity=PYSERIAL_PARITY[self.char_format.parity],
                stopbits=self.char_format.stop_bits,
            )
        except TransportError as exc:
            raise ConformanceError(str(exc)) from exc

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    def _received(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if self._waiting is None:
            self._stray += len(data)
        for pdu in self._framer.feed(data):
            if self._waiting is not None and not self._waiting.done():
                self._waiting.set_result((pdu, now))

    def wire_s(self, n_bytes: int) -> float:
        return n_bytes * self.char_format.bits_per_char / self.baud

    @property
    def t35(self) -> float:
        return kp.t35(self.baud, self.char_format.bits_per_char)

    def _timeout(self, pdu: ModbusPDU | None, frame_len: int) -> float:
        """§6.2 for the request, from the moment it is handed to the port; a request a keypad
        has no function for (or raw bytes) is given the timeout of an 8-byte reply."""
        try:
            if pdu is not None:
                return kp.request_timeout(pdu, self.baud, self.char_format) + self.slack_s
        except kp.KeypadUsageError:
            pass
        return (
            self.wire_s(frame_len)
            + self.t35
            + kp.TURNAROUND_MAX_S
            + self.wire_s(8)
            + kp.RESPONSE_TIMEOUT_MARGIN_S
            + self.slack_s
        )

    async def broadcast(self, pdu: ModbusPDU) -> bool:
        """Send a broadcast and keep the line quiet for its turnaround; False if a unit
        answered it (no unit may)."""
        assert self._link is not None
        self._framer.reset()
        self._stray = 0
        dropped = self._framer.dropped
        frame = kp.encode_frame(pdu)
        self._link.write(frame)
        await asyncio.sleep(self.wire_s(len(frame)) + kp.BROADCAST_TURNAROUND_S)
        quiet = self._stray == 0 and self._framer.dropped == dropped and not self._framer.pending
        return quiet

    async def once(self, pdu: ModbusPDU | None, raw: bytes | None = None) -> Exchange:
        """One attempt: `pdu` (or the `raw` bytes of a request for it) and its reply."""
        assert self._link is not None
        loop = asyncio.get_running_loop()
        self._framer.reset()
        dropped = self._framer.dropped
        frame = raw if raw is not None else kp.encode_frame(pdu) if pdu is not None else b""
        self._waiting = loop.create_future()
        sent = loop.time()
        self._link.write(frame)
        timeout = self._timeout(pdu, len(frame))
        try:
            reply, at = await asyncio.wait_for(self._waiting, timeout)
        except TimeoutError:
            noise = bool(self._framer.pending) or self._framer.dropped > dropped
            if noise:
                self.damaged += 1
            await asyncio.sleep(self.t35)
            return Exchange(damaged=noise)
        finally:
            self._waiting = None
        if self._framer.dropped > dropped:
            self.damaged += 1  # a damaged frame came before the good one
        self.replies += 1
        reply_len = len(kp.encode_frame(reply))
        delay = at - sent - self.wire_s(len(frame)) - self.wire_s(reply_len) - self.t35
        self.delays.append(delay)
        await asyncio.sleep(self.t35)
        return Exchange(reply=reply, delay_s=delay)

    async def ask(self, pdu: ModbusPDU, attempts: int = ATTEMPTS) -> Exchange:
        """`pdu` with its retries; an attempt that got nothing counts as a silence."""
        last = Exchange()
        for _ in range(attempts):
            last = await self.once(pdu)
            if last.reply is not None:
                return last
            self.silent += 1
        return last


def _raw(unit: int, pdu_bytes: bytes) -> bytes:
    body = bytes([unit]) + pdu_bytes
    return body + crc16_modbus_bytes(body)


def _exception_code(reply: ModbusPDU | None) -> int | None:
    if reply is None or not reply.function_code & 0x80:
        return None
    return int(reply.exception_code)


@dataclass
class KeypadKit:
    wire: KeypadWire
    address: int
    bench: Bench | None = None
    other_address: int | None = None
    step_timeout_s: float = 60.0
    turnaround_slack_s: float = TURNAROUND_SLACK_S
    report: Report = field(init=False)
    identity: kp.Identity | None = field(default=None, init=False)
    _tag: int = field(default=0, init=False)
    _current: Section = field(default=S_STATUS, init=False)  # where a bad poll is reported

    def __post_init__(self) -> None:
        fmt = self.wire.char_format
        self.report = Report(
            "keypad_modbus",
            f"unit {self.address} on {self.wire.device}",
            {"baud": self.wire.baud, "format": fmt.name, "address": self.address},
        )
        for section in SECTIONS:
            self.report.section(section)

    # --- helpers ----------------------------------------------------------------------------

    def next_tag(self) -> int:
        self._tag = kp.next_tag(self._tag)
        return self._tag

    async def poll(self, attempts: int = ATTEMPTS) -> kp.KeypadStatus | None:
        card = self.identity is not None and self.identity.has_card_reader
        request = kp.read_status_request(self.address, card=card)
        ex = await self.wire.ask(request, attempts)
        if ex.reply is None:
            return None
        try:
            return kp.decode_status(ex.reply, self.address, card=card)
        except kp.KeypadProtocolError as exc:
            self.report.section(self._current).check(False, f"a poll reply is not valid: {exc}")
            return None

    async def holding(self) -> tuple[int, kp.KeypadOutputs] | None:
        request = kp.read_outputs_request(self.address)
        ex = await self.wire.ask(request)
        if ex.reply is None:
            return None
        try:
            result = kp.decode_reply(request, ex.reply)
        except kp.KeypadProtocolError:
            return None
        assert isinstance(result, tuple)
        return result

    async def raw_holding(self) -> list[int] | None:
        ex = await self.wire.ask(kp.read_outputs_request(self.address))
        if ex.reply is None or ex.reply.function_code & 0x80:
            return None
        return list(ex.reply.registers)

    async def write(self, outputs: kp.KeypadOutputs) -> tuple[int, Exchange]:
        tag = self.next_tag()
        return tag, await self.wire.ask(kp.write_outputs_request(self.address, outputs, tag))

    async def refused(self, pdu: ModbusPDU | None, raw: bytes | None = None) -> int | None:
        """The exception code a request is answered with (None: no exception reply)."""
        for _ in range(ATTEMPTS):
            ex = await self.wire.once(pdu, raw)
            if ex.reply is not None:
                return _exception_code(ex.reply)
        return None

    async def wait_for(
        self, done: Callable[[kp.KeypadStatus], bool], timeout_s: float | None = None
    ) -> kp.KeypadStatus | None:
        """Poll until a status satisfies `done` (the maker's step shows), or time out."""
        loop = asyncio.get_running_loop()
        end = loop.time() + (self.step_timeout_s if timeout_s is None else timeout_s)
        while True:
            status = await self.poll(attempts=1)
            if status is not None and done(status):
                return status
            if loop.time() >= end:
                return None
            await asyncio.sleep(0.05)

    async def step(self, step: Step, *, key: int = 1, times: int = 1) -> bool:
        if self.bench is None:
            return False
        await self.bench.do(step, key=key, times=times)
        return True

    # --- the run ----------------------------------------------------------------------------

    async def run(self) -> Report:
        self.wire.open()
        try:
            await self._identity()
            assert self.identity is not None
            await self._status()
            await self._exceptions()
            await self._addressing()
            await self._outputs()
            await self._beep()
            await self._broadcast()
            await self._ring()
            await self._forget()
            await self._identify()
            await self._flags()
            await self._restart()
            await self._address_blocks()
            self._serial()
            self._timing()
        finally:
            self.wire.close()
        return self.report

    def _needs_hands(self, *sections: Section) -> None:
        for section in sections:
            self.report.section(section).skip("needs hands on the unit (run with a bench)")

    async def _identity(self) -> None:
        r = self.report.section(S_IDENTITY)
        ex = await self.wire.ask(kp.read_identity_request(self.address))
        if ex.reply is None:
            fmt = self.wire.char_format.name
            raise ConformanceError(
                f"unit {self.address} does not answer an identity read at {self.wire.baud} "
                f"baud {fmt} ({'damaged replies' if ex.damaged else 'silence'})"
            )
        try:
            identity = kp.decode_identity(ex.reply, self.address)
        except kp.KeypadProtocolError as exc:
            r.check(False, f"the identity block is not valid: {exc}")
            raise ConformanceError(f"unit {self.address}: identity block not valid: {exc}") from exc
        self.identity = identity
        r.check(bool(identity.serial_number), "SERIAL_NUMBER is empty")
        r.check(bool(identity.maker), "MAKER is empty")
        r.notes.append(
            f"contract {identity.contract}, serial {identity.serial_number}, "
            f"{identity.key_count} keys, features {int(identity.features):#06x}"
        )
        self.report.unit = f"{identity.serial_number} (unit {self.address} on {self.wire.device})"
        # A part of the block reads as well as the whole (§3.1).
        part = ReadInputRegistersRequest(address=kp.IDENTITY.start, count=2, dev_id=self.address)
        got = await self.wire.ask(part)
        regs = None if got.reply is None or got.reply.function_code & 0x80 else got.reply.registers
        r.check(
            regs is not None and list(regs) == kp.encode_identity(identity)[:2],
            "a read of part of the identity block is not the block's first registers",
        )

    async def _status(self) -> None:
        self._current = S_STATUS
        r = self.report.section(S_STATUS)
        first = await self.poll()
        second = await self.poll()
        if not r.check(first is not None and second is not None, "the poll got no valid reply"):
            return
        assert first is not None
        assert second is not None
        r.check(
            first == second, "two polls in a row differ with nothing happening (not a pure read)"
        )

    async def _exceptions(self) -> None:
        self._current = S_EXCEPTIONS
        r = self.report.section(S_EXCEPTIONS)
        a = self.address
        code = await self.refused(ReadCoilsRequest(address=0, count=1, dev_id=a))
        r.check(
            code == kp.ExceptionCode.ILLEGAL_FUNCTION, f"function 0x01 answered {code!r}, not 0x01"
        )
        code = await self.refused(ReadInputRegistersRequest(address=0x0200, count=1, dev_id=a))
        r.check(code == 2, f"a read at 0x0200 answered {code!r}, not 0x02")
        code = await self.refused(ReadHoldingRegistersRequest(address=0x0040, count=1, dev_id=a))
        r.check(code == 2, f"a holding read at 0x0040 answered {code!r}, not 0x02")
        if self.identity is not None and not self.identity.has_card_reader:
            code = await self.refused(ReadInputRegistersRequest(address=0, count=16, dev_id=a))
            r.check(
                code == 2, f"a read into the card block of a unit without one answered {code!r}"
            )
        code = await self.refused(None, _raw(a, bytes([0x04, 0x00, 0x00, 0x00, 0x00])))
        r.check(code == 3, f"a read of 0 registers answered {code!r}, not 0x03")
        code = await self.refused(None, _raw(a, bytes([0x04, 0x00, 0x00, 0x00, 126])))
        r.check(code in (2, 3), f"a read of 126 registers answered {code!r}, not 0x03")
        # Refused writes change nothing: the block is read before and after each.
        tag, ex = await self.write(kp.KeypadOutputs(locked=True, keys=1, leds=frozenset({1})))
        if not r.check(
            ex.reply is not None and not ex.reply.function_code & 0x80,
            "a valid output write was not acknowledged",
        ):
            return
        before = await self.raw_holding()
        good = kp.encode_outputs(kp.KeypadOutputs(locked=False, keys=2), self.next_tag())
        cases: list[tuple[str, int, int, list[int]]] = [
            ("LOCK = 2", 0, 3, [*good[:1], 2, *good[2:]]),
            ("PRESENCE_LED = 2", 0, 3, [*good[:5], 2]),
            ("a reserved KEY_LEDS bit", 0, 3, [*good[:4], 0x0400, good[5]]),
            ("OUTPUT_TAG = 0", 0, 3, [0, *good[1:]]),
            ("ACTIVE_KEYS = 11", 0, 3, [*good[:3], 11, *good[4:]]),
            ("BEEP = 9", 0, 3, [*good[:2], 9, *good[3:]]),
            ("four registers from 0x0004", 4, 2, [0, 0, 0, 0]),
        ]
        for what, start, want, values in cases:
            req = WriteMultipleRegistersRequest(address=start, registers=values, dev_id=a)
            code = await self.refused(req)
            r.check(code == want, f"a write with {what} answered {code!r}, not {want:#04x}")
            after = await self.raw_holding()
            r.check(
                after == before, f"a refused write with {what} changed the outputs (not atomic)"
            )
        self._tag = tag

    async def _addressing(self) -> None:
        self._current = S_ADDRESSING
        r = self.report.section(S_ADDRESSING)
        a = self.address
        frame = kp.encode_frame(kp.read_identity_request(a))
        bad = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        ex = await self.wire.once(None, bad)
        r.check(ex.reply is None and not ex.damaged, "a request with a bad CRC was answered")
        ex = await self.wire.ask(kp.read_identity_request(a))
        r.check(ex.reply is not None, "no reply to a good request after a bad CRC")
        broadcast_read = kp.encode_frame(
            ReadInputRegistersRequest(address=kp.IDENTITY.start, count=kp.IDENTITY.count, dev_id=0)
        )
        ex = await self.wire.once(None, broadcast_read)
        r.check(ex.reply is None and not ex.damaged, "a read sent to address 0 was answered")
        other = self.other_address or (1 if a == kp.LAST_UNIT else a + 1)
        ex = await self.wire.once(kp.read_identity_request(other))
        r.check(
            ex.reply is None and not ex.damaged,
            f"a read for address {other} was answered (is another unit on the line?)",
        )

    async def _outputs(self) -> None:
        self._current = S_OUTPUTS
        r = self.report.section(S_OUTPUTS)
        want = kp.KeypadOutputs(locked=False, keys=2, leds=frozenset({1}), presence_led=True)
        tag, ex = await self.write(want)
        if not r.check(ex.reply is not None, "the whole-block output write got no reply"):
            return
        try:
            kp.decode_reply(kp.write_outputs_request(self.address, want, tag), ex.reply)  # type: ignore[arg-type]
        except kp.KeypadProtocolError as exc:
            r.check(False, f"the output write's reply is wrong: {exc}")
        back = await self.holding()
        r.check(back == (tag, want), f"reading the block back gives {back}, not what was written")
        status = await self.poll()
        if r.check(status is not None, "no poll after the output write") and status is not None:
            self.report.section(S_FLAGS).check(not status.locked, "LOCKED is set with LOCK = 0")
        tag, ex = await self.write(kp.KeypadOutputs(locked=True, keys=2, presence_led=True))
        status = await self.poll()
        if status is not None:
            self.report.section(S_FLAGS).check(status.locked, "LOCKED is clear with LOCK = 1")
            self.report.section(S_TAG).check(
                status.applied_tag == tag, f"APPLIED_TAG {status.applied_tag}, not the tag {tag}"
            )
            self.report.section(S_TAG).check(not status.booted, "BOOT set after a tagged write")

    async def _beep(self) -> None:
        self._current = S_BEEP
        r = self.report.section(S_BEEP)
        beep_at = kp.OUTPUTS.start + kp.OUTPUTS.offset("BEEP")
        before = await self.poll()
        for beep in (kp.Beep.CONFIRM, kp.Beep.REJECT, kp.Beep.WARNING, kp.Beep.NONE):
            req = WriteSingleRegisterRequest(
                address=beep_at, registers=[int(beep)], dev_id=self.address
            )
            ex = await self.wire.ask(req)
            ok = ex.reply is not None and not ex.reply.function_code & 0x80
            r.check(ok, f"a single write of BEEP = {int(beep)} ({beep.name}) was not taken")
        code = await self.refused(
            WriteSingleRegisterRequest(address=beep_at, registers=[4], dev_id=self.address)
        )
        r.check(code == 3, f"BEEP = 4 answered {code!r}, not 0x03")
        after = await self.poll()
        if before is not None and after is not None:
            self.report.section(S_TAG).check(
                after.applied_tag == before.applied_tag,
                "a single-register write without OUTPUT_TAG changed APPLIED_TAG",
            )

    async def _broadcast(self) -> None:
        self._current = S_BROADCAST
        r = self.report.section(S_BROADCAST)
        await self.write(kp.KeypadOutputs(locked=True, keys=0, presence_led=True))
        checks: list[tuple[str, ModbusPDU, kp.KeypadOutputs]] = []
        tag = self.next_tag()
        checks.append(
            (
                "lock (unlocked)",
                kp.broadcast_lock_request(tag, locked=False),
                kp.KeypadOutputs(locked=False, keys=0, presence_led=True),
            )
        )
        tag = self.next_tag()
        checks.append(
            (
                "vote (2 keys)",
                kp.broadcast_vote_request(tag, locked=False, keys=2),
                kp.KeypadOutputs(locked=False, keys=2, presence_led=True),
            )
        )
        tag = self.next_tag()
        checks.append(
            (
                "beep (WARNING)",
                kp.broadcast_beep_request(tag, locked=True, beep=kp.Beep.WARNING),
                kp.KeypadOutputs(locked=True, keys=2, presence_led=True, beep=kp.Beep.WARNING),
            )
        )
        tag = self.next_tag()
        checks.append(
            (
                "vote (close)",
                kp.broadcast_vote_request(tag, locked=True, keys=0),
                kp.KeypadOutputs(locked=True, keys=0, presence_led=True),
            )
        )
        for what, request, want in checks:
            quiet = await self.wire.broadcast(request)
            r.check(quiet, f"a unit answered the {what} broadcast")
            back = await self.holding()
            got_tag = int(request.registers[0])
            r.check(
                back == (got_tag, want),
                f"after the {what} broadcast the outputs are {back}, not {(got_tag, want)}"
                + (
                    " (PRESENCE_LED touched)"
                    if back and back[1].presence_led != want.presence_led
                    else ""
                ),
            )
            status = await self.poll()
            r.check(
                status is not None and status.applied_tag == got_tag,
                f"after the {what} broadcast APPLIED_TAG is not its tag {got_tag}",
            )
        self.report.figures["broadcast_turnaround_ms"] = kp.BROADCAST_TURNAROUND_S * 1000

    async def _ring(self) -> None:
        self._current = S_RING
        r = self.report.section(S_RING)
        if self.bench is None:
            self._needs_hands(S_RING)
            return
        await self.write(kp.KeypadOutputs(locked=False, keys=2, leds=frozenset({2})))
        start = await self.poll()
        if not r.check(start is not None, "no poll before the presses"):
            return
        assert start is not None
        # One accepted press, one refused for its key (when the unit has a third key).
        await self.step(Step.PRESS, key=1)
        got = await self.wait_for(lambda s: s.seq != start.seq)
        if not r.check(got is not None, "a press of key 1 gave no event"):
            return
        assert got is not None
        r.check(
            (got.seq - start.seq) % kp.SEQ_MODULUS == 1,
            f"one press moved EVENT_SEQ by {(got.seq - start.seq) % kp.SEQ_MODULUS}",
        )
        e0 = got.events[-1] if got.events else None
        r.check(
            e0 is not None and e0.key == kp.Key.YES and not e0.refused,
            f"the newest entry after a press of key 1 (unlocked, 2 keys) is {e0}",
        )
        back = await self.holding()
        r.check(
            back is not None and back[1].leds == frozenset({2}),
            "the unit changed its LEDs on its own after a press",
        )
        assert self.identity is not None
        if self.identity.key_count >= 3:
            await self.step(Step.PRESS, key=3)
            s3 = await self.wait_for(lambda s: s.seq != got.seq)
            e3 = s3.events[-1] if s3 and s3.events else None
            r.check(e3 is not None and e3.refused, "a press above ACTIVE_KEYS is not REFUSED")
        await self.write(kp.KeypadOutputs(locked=True, keys=2))
        base = await self.poll()
        assert base is not None
        await self.step(Step.PRESS, key=1)
        locked = await self.wait_for(lambda s: s.seq != base.seq)
        el = locked.events[-1] if locked and locked.events else None
        r.check(el is not None and el.refused, "a press while locked is not REFUSED")
        # Overflow: twelve presses between two polls keep the eight newest.
        if locked is None:
            return
        await self.write(kp.KeypadOutputs(locked=False, keys=2))
        await self._burst(locked, 12, "twelve presses (overflow)")
        now = await self.poll()
        if now is None:
            return
        # The wrap: EVENT_SEQ runs 0xFFFF -> 0x0000, the sequence bytes with it.
        n = (kp.SEQ_MODULUS - now.seq) % kp.SEQ_MODULUS + 5
        await self._burst(now, n, f"{n} events (across the wrap of EVENT_SEQ)", Step.EVENTS)

    async def _burst(
        self, base: kp.KeypadStatus, n: int, what: str, step: Step = Step.PRESS
    ) -> None:
        result = self.report.section(S_RING)
        want = (base.seq + n) % kp.SEQ_MODULUS
        await self.step(step, key=1, times=n)
        got = await self.wait_for(lambda s: s.seq == want)
        if got is None:
            last = await self.poll()
            seen = None if last is None else last.seq
            result.check(False, f"after {what} EVENT_SEQ is {seen}, not {want}")
            return
        result.check(
            len(got.events) == kp.EVENT_RING,
            f"after {what} the ring holds {len(got.events)} entries, not 8",
        )
        seqs = [e.seq for e in got.events]
        expect = [(want - k) % kp.SEQ_MODULUS for k in range(len(seqs) - 1, -1, -1)]
        result.check(seqs == expect, f"after {what} the ring's numbers are {seqs}, not {expect}")

    async def _forget(self) -> None:
        self._current = S_FORGET
        r = self.report.section(S_FORGET)
        assert self.identity is not None
        if not self.identity.forgets_events:
            r.skip(f"contract {self.identity.contract} has no forget block")
            return
        a = self.address
        code = await self.refused(
            WriteSingleRegisterRequest(address=kp.FORGET.start, registers=[0], dev_id=a)
        )
        r.check(
            code == 3, f"a single-register write to the forget block answered {code!r}, not 0x03"
        )
        code = await self.refused(
            WriteMultipleRegistersRequest(address=kp.FORGET.start, registers=[0, 0, 0], dev_id=a)
        )
        r.check(code == 2, f"a forget write past 0x0011 answered {code!r}, not 0x02")
        status = await self.poll()
        if status is None or not status.events:
            r.skip("the ring is empty: the emptying was not checked (run with a bench)")
            return
        cursor = kp.EventCursor(status.boot_count, (status.seq - 2) % kp.SEQ_MODULUS)
        quiet = await self.wire.broadcast(
            WriteMultipleRegistersRequest(
                address=kp.FORGET.start, registers=kp.encode_forget(cursor), dev_id=0
            )
        )
        after = await self.poll()
        r.check(
            quiet and after == status, "a broadcast forget changed the ring (it must be ignored)"
        )
        wrong = kp.EventCursor((status.boot_count + 1) % kp.SEQ_MODULUS, status.seq)
        await self.wire.ask(kp.forget_events_request(a, wrong))
        after = await self.poll()
        r.check(after == status, "a forget for another BOOT_COUNT changed the ring")
        ex = await self.wire.ask(kp.forget_events_request(a, cursor))
        r.check(
            ex.reply is not None and not ex.reply.function_code & 0x80,
            "a whole forget write was not taken",
        )
        after = await self.poll()
        if after is None:
            return
        kept = [e.seq for e in after.events]
        want = [e.seq for e in status.events][-2:]
        r.check(
            kept == want, f"after forgetting up to {cursor.seq} the ring holds {kept}, not {want}"
        )
        r.check(
            after.seq == status.seq and after.applied_tag == status.applied_tag,
            "a forget changed EVENT_SEQ or APPLIED_TAG",
        )
        back = await self.wire.ask(kp.read_forget_request(a))
        regs = (
            None
            if back.reply is None or back.reply.function_code & 0x80
            else list(back.reply.registers)
        )
        r.check(regs == kp.encode_forget(cursor), f"reading the forget block gives {regs}")

    async def _identify(self) -> None:
        self._current = S_IDENTIFY
        r = self.report.section(S_IDENTIFY)
        assert self.identity is not None
        if not self.identity.identifies:
            r.skip(f"contract {self.identity.contract} has no identify block")
            return
        a = self.address
        ex = await self.wire.ask(kp.identify_request(a, 5))
        r.check(
            ex.reply is not None and not ex.reply.function_code & 0x80,
            "IDENTIFY_S = 5 was not taken",
        )
        left = await self._identify_left()
        r.check(left is not None and 1 <= left <= 5, f"IDENTIFY_S reads {left} while blinking 5 s")
        code = await self.refused(
            WriteSingleRegisterRequest(address=kp.IDENTIFY.start, registers=[256], dev_id=a)
        )
        r.check(code == 3, f"IDENTIFY_S = 256 answered {code!r}, not 0x03")
        await self.wire.ask(kp.identify_request(a, 0))
        left = await self._identify_left()
        r.check(left == 0, f"IDENTIFY_S reads {left} after a write of 0")
        await self.wire.broadcast(
            WriteSingleRegisterRequest(address=kp.IDENTIFY.start, registers=[9], dev_id=0)
        )
        left = await self._identify_left()
        r.check(left == 0, "a broadcast identify was applied (it must be ignored)")

    async def _identify_left(self) -> int | None:
        ex = await self.wire.ask(kp.read_identify_request(self.address))
        if ex.reply is None or ex.reply.function_code & 0x80:
            return None
        return int(ex.reply.registers[0])

    async def _flags(self) -> None:
        self._current = S_FLAGS
        r = self.report.section(S_FLAGS)
        if self.bench is None:
            r.skip("KEY_STUCK needs hands on the unit (run with a bench)")
            return
        base = await self.poll()
        if base is None:
            return
        await self.step(Step.HOLD, key=1)
        stuck = await self.wait_for(lambda s: bool(s.flags & kp.StatusFlag.KEY_STUCK))
        if not r.check(stuck is not None, "KEY_STUCK never set while a key was held"):
            return
        assert stuck is not None
        r.check(
            (stuck.seq - base.seq) % kp.SEQ_MODULUS <= 1,
            "holding a key gave more than one event (auto-repeat)",
        )
        await self.step(Step.RELEASE, key=1)
        clear = await self.wait_for(lambda s: not s.flags & kp.StatusFlag.KEY_STUCK)
        r.check(clear is not None, "KEY_STUCK stayed set after the key was released")

    async def _restart(self) -> None:
        self._current = S_RESTART
        r = self.report.section(S_RESTART)
        if self.bench is None:
            r.skip("a power cycle needs hands on the unit (run with a bench)")
            return
        assert self.identity is not None
        if self.identity.identifies:
            await self.wire.ask(kp.identify_request(self.address, 60))
        await self.write(
            kp.KeypadOutputs(locked=False, keys=3, leds=frozenset({1}), presence_led=True)
        )
        before = await self.poll()
        if before is None:
            return
        await self.step(Step.POWER_CYCLE)
        after = await self.wait_for(lambda s: s.boot_count != before.boot_count or s.booted)
        if not r.check(after is not None, "the unit did not come back with a new start"):
            return
        assert after is not None
        r.check(
            after.boot_count == (before.boot_count + 1) % kp.SEQ_MODULUS,
            f"BOOT_COUNT went {before.boot_count} -> {after.boot_count}, not +1",
        )
        card_on = 1 if after.flags & kp.StatusFlag.CARD else 0
        r.check(
            after.seq == card_on and len(after.events) == card_on,
            f"after the start EVENT_SEQ is {after.seq} with {len(after.events)} entries, "
            f"not {card_on}",
        )
        r.check(
            after.booted and after.applied_tag == 0, "BOOT clear or APPLIED_TAG not 0 after a start"
        )
        back = await self.holding_raw_tag()
        r.check(
            back == (0, kp.KeypadOutputs()),
            f"the outputs after a start are {back}, not locked and dark",
        )
        if self.identity.identifies:
            left = await self._identify_left()
            r.check(left == 0, "a restart did not end the identify blinking")
        tag, _ = await self.write(kp.KeypadOutputs(locked=False, keys=2))
        acked = await self.poll()
        r.check(
            acked is not None and not acked.booted and acked.applied_tag == tag,
            "the tagged write after a start did not clear BOOT",
        )
        if acked is None:
            return
        await self.step(Step.PRESS, key=2)
        first = await self.wait_for(
            lambda s: s.seq != acked.seq, timeout_s=min(self.step_timeout_s, 10.0)
        )
        r.check(
            first is not None
            and bool(first.events)
            and first.events[-1].key == kp.Key.NO
            and first.seq == (acked.seq + 1) % kp.SEQ_MODULUS,
            "the first press after a start was not recorded as the next event",
        )
        await self.write(kp.KeypadOutputs(locked=True))

    async def holding_raw_tag(self) -> tuple[int, kp.KeypadOutputs] | None:
        regs = await self.raw_holding()
        if regs is None:
            return None
        tag = regs[0]
        try:
            return tag, kp.decode_outputs([1, *regs[1:]])[1]
        except kp.KeypadProtocolError:
            return None

    async def _address_blocks(self) -> None:
        self._current = S_ADDRESS
        r = self.report.section(S_ADDRESS)
        assert self.identity is not None
        if not self.identity.addressable:
            r.skip(f"contract {self.identity.contract} has no address or select block")
            return
        a, serial = self.address, self.identity.serial_number
        code = await self.refused(
            WriteMultipleRegistersRequest(
                address=kp.ADDRESS.start,
                registers=kp.encode_address(kp.AddressAssignment(serial, a)),
                dev_id=a,
            )
        )
        r.check(code == 2, f"an addressed write to the address block answered {code!r}, not 0x02")
        code = await self.refused(
            WriteMultipleRegistersRequest(
                address=kp.SELECT.start, registers=kp.encode_select(kp.Selection()), dev_id=a
            )
        )
        r.check(code == 2, f"an addressed write to the select block answered {code!r}, not 0x02")
        slots, nonce = 64, 0x5A
        mine = kp.select_slot(serial, nonce, slots)
        await self.wire.broadcast(kp.select_request(kp.Selection(slots, nonce, (mine + 1) % slots)))
        ex = await self.wire.once(kp.read_identity_request(a))
        r.check(ex.reply is None, "a unit selected out answered")
        await self.wire.broadcast(kp.select_request(kp.Selection(slots, nonce, mine)))
        ex = await self.wire.ask(kp.read_identity_request(a))
        r.check(ex.reply is not None, f"the unit did not answer in its own slot {mine}")
        await self.wire.broadcast(kp.select_request(kp.Selection()))
        ex = await self.wire.ask(kp.read_identity_request(a))
        r.check(ex.reply is not None, "the unit did not answer after the selection ended")
        spare = self.other_address or (1 if a == kp.LAST_UNIT else a + 1)
        await self.wire.broadcast(kp.set_address_request(serial, spare))
        ex = await self.wire.ask(kp.read_identity_request(spare))
        moved = ex.reply is not None
        r.check(moved, f"the unit did not take address {spare} by its serial")
        if moved:
            old = await self.wire.once(kp.read_identity_request(a))
            r.check(old.reply is None, f"the unit still answers at {a} after taking {spare}")
            await self.wire.broadcast(kp.set_address_request(serial, a))
            back = await self.wire.ask(kp.read_identity_request(a))
            r.check(back.reply is not None, f"the unit did not take its address {a} back")

    def _serial(self) -> None:
        r = self.report.section(S_SERIAL)
        w = self.wire
        r.notes.append(f"{w.baud} baud {w.char_format.name}")
        r.check(w.baud in kp.BAUD_RATES, f"{w.baud} baud is not a keypad line's rate")
        r.check(w.char_format in kp.LINE_FORMATS, f"{w.char_format.name} is not a keypad format")
        r.check(
            w.damaged == 0,
            f"{w.damaged} damaged replies (bad CRC or broken frame) in {w.replies + w.damaged}",
        )
        self.report.figures["replies"] = w.replies
        self.report.figures["damaged_replies"] = w.damaged
        self.report.figures["silent_attempts"] = w.silent

    def _timing(self) -> None:
        r = self.report.section(S_TIMING)
        delays = self.wire.delays
        if not delays:
            r.skip("no reply was timed")
            return
        limit = kp.TURNAROUND_MAX_S + self.turnaround_slack_s
        median = statistics.median(delays)
        worst = max(delays)
        over = sum(1 for d in delays if d > limit)
        self.report.figures["turnaround_median_ms"] = round(median * 1000, 3)
        self.report.figures["turnaround_max_ms"] = round(worst * 1000, 3)
        self.report.figures["turnaround_over_limit"] = over
        r.notes.append(
            f"turnaround median {median * 1000:.2f} ms, max {worst * 1000:.2f} ms of "
            f"{len(delays)} replies, limit {kp.TURNAROUND_MAX_S * 1000:.1f} ms "
            f"+ {self.turnaround_slack_s * 1000:.1f} ms slack"
        )
        r.check(median <= limit, f"median turnaround {median * 1000:.2f} ms is over the limit")
