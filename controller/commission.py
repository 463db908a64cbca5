"""`chamber commission`: find the units on a line, give them addresses, write the hall file.

It drives a keypad line (keypad_modbus.md) or a mic line (mic_unit.md) directly, so the daemon
must not be running on it: a port some other process holds is refused before anything is
sent. On a keypad line it reads the identity block at every address of a range (each read
with its own timeout, `protocols.keypad.request_timeout`); an address that answers with
damaged frames holds more than one unit, which the select block (§3.8, since 1.3) tells
apart by serial in slots. On a mic line it runs DISCOVER rounds (§5.6) until a round brings
no new serial and no damaged frame. Factory-new units (a keypad at the factory address 247,
a mic unit unassigned) and all but the first of a duplicate address are then given the
lowest free addresses by serial (the address block, SET_ADDRESS), and the line is scanned
again to see each one answer at its new address.

The result becomes the hall file's topology: the line, and with `--map-seats` each seat in
number order gets the line's units in address order. The change is shown as a diff and
written only with `--write`.

The daemon commissions a line it runs from the technician's screen with the same steps
(`find_line`, `open_bus`, `scan`, `assign_and_rescan`, `identify`, `topology_text`): it
stops the line's driver first (`controller/commissioning.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.items
from pymodbus.pdu import ModbusPDU

from chamber.drivers.errors import TransportError
from chamber.drivers.serialport import SerialLink
from chamber.drivers.topology import Line, LineKind, TopologyError, load_topology
from chamber.protocols import keypad as kp
from chamber.protocols import micunit as mic

PYSERIAL_PARITY = {"even": "E", "odd": "O", "none": "N"}
IDENTIFY_DEFAULT_S = 30
ATTEMPTS = 3  # a request's attempts (keypad_modbus.md §6.2 allows retries; the line is ours)


# What the command says, in the hall's language (Vietnamese) and in English.
TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "busy": (
            "{device}: cổng đang bị khóa (máy chủ đang chạy trên đường truyền này? hãy dừng "
            "nó trước)"
        ),
        "open": "không mở được đường truyền {device}: {detail}",
        "no_device": "đường truyền {line} không có thiết bị",
        "no_line": "{hall} không có đường truyền {line}",
        "not_serial": (
            "đường truyền {line} không phải đường truyền nối tiếp: không có gì để nghiệm thu"
        ),
        "hall": "tệp hội trường không dùng được: {detail}",
        "no_free": "đường truyền {line}: không còn địa chỉ trống cho {serial}",
        "not_taken": (
            "đường truyền {line}: {serial} không trả lời ở địa chỉ {address} (bàn phím theo "
            "đặc tả 1.2 trở về trước không nhận địa chỉ theo số sê-ri)"
        ),
        "no_poll": "đường truyền {line}: thiết bị {address} không trả lời POLL",
        "no_identify": (
            "thiết bị {address} trên đường truyền {line} không tự nhận diện được: {detail}"
        ),
        "no_reply": "thiết bị {address} trên đường truyền {line} không trả lời",
        "no_seats": "tệp hội trường không có [[seats]] để gán thiết bị",
        "too_few_seats": "đường truyền {line} có {units} thiết bị mà hội trường chỉ có {seats} ghế",
        "summary": "đường truyền {line}: {n} thiết bị",
        "duplicate": "  trùng địa chỉ {address}: {serials}",
        "row": (
            "  {kind} {address:3d}  sê-ri {serial}  phần mềm {firmware}{contract}  tính năng "
            "{features}{new}"
        ),
        "contract": "  đặc tả {contract}",
        "factory_new": "  mới xuất xưởng",
        "need": "{n} thiết bị cần địa chỉ: chạy lại với --assign",
        "after": "sau khi cấp địa chỉ:",
        "still": "vẫn còn thiết bị chưa có địa chỉ riêng: tệp hội trường không thay đổi",
        "seats_left": "các ghế để kỹ thuật viên tự gán (hoặc chạy với --map-seats)",
        "no_change": "tệp hội trường không cần thay đổi",
        "wrote": "đã ghi {path}",
        "blinks": "thiết bị {address} trên đường truyền {line} nhấp nháy trong {seconds} giây",
    },
    "en": {
        "busy": "{device}: the port is locked (is the daemon running on this line? stop it first)",
        "open": "cannot open line {device}: {detail}",
        "no_device": "line {line} has no device",
        "no_line": "{hall} has no line {line}",
        "not_serial": "line {line} is not a serial line: nothing to commission",
        "hall": "the hall file cannot be used: {detail}",
        "no_free": "line {line}: no free address left for {serial}",
        "not_taken": (
            "line {line}: {serial} did not answer at {address} (a keypad of contract 1.2 or "
            "older cannot take an address by serial)"
        ),
        "no_poll": "line {line}: unit {address} did not answer a POLL",
        "no_identify": "unit {address} on line {line} cannot identify itself: {detail}",
        "no_reply": "unit {address} on line {line} did not answer",
        "no_seats": "the hall file has no [[seats]] to map the units to",
        "too_few_seats": "line {line} has {units} units and the hall {seats} seats",
        "summary": "line {line}: {n} unit(s)",
        "duplicate": "  duplicate address {address}: {serials}",
        "row": (
            "  {kind} {address:3d}  serial {serial}  firmware {firmware}{contract}  features "
            "{features}{new}"
        ),
        "contract": "  contract {contract}",
        "factory_new": "  factory-new",
        "need": "{n} unit(s) need an address: run again with --assign",
        "after": "after assigning:",
        "still": "some units still have no address of their own: the hall file is not changed",
        "seats_left": "seats are left for the technician to map (or run with --map-seats)",
        "no_change": "the hall file needs no change",
        "wrote": "wrote {path}",
        "blinks": "unit {address} on line {line} blinks for {seconds} s",
    },
}


def say(language: str, key: str, **params: object) -> str:
    return TEXTS[language][key].format(**params)


class CommissionError(Exception):
    """Commissioning cannot go on: `text(language)` says why, in one line (str: English)."""

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(say("en", key, **params))

    def text(self, language: str) -> str:
        return say(language, self.key, **self.params)


# --- the port must be free --------------------------------------------------------------------


def _open_error(device: str, exc: TransportError) -> CommissionError:
    """A port another master holds (the daemon locks its lines) is named as such."""
    if "lock" in str(exc).lower():
        return CommissionError("busy", device=device)
    return CommissionError("open", device=device, detail=exc)


# --- what a scan finds ------------------------------------------------------------------------


class Kind(StrEnum):
    KEYPAD = "keypad"
    MIC = "mic"


@dataclass(frozen=True)
class Found:
    """One unit that answered: where, who, what."""

    kind: Kind
    address: int
    serial: str
    firmware: str
    features: tuple[str, ...]
    contract: str = ""

    @property
    def factory_new(self) -> bool:
        return self.address == (kp.FACTORY_ADDRESS if self.kind is Kind.KEYPAD else mic.UNASSIGNED)


@dataclass
class Scan:
    """A line's scan: every unit found, and the addresses that answered with damaged frames
    (or with two serials): duplicates."""

    line: str
    units: list[Found] = field(default_factory=list)
    damaged: set[int] = field(default_factory=set)

    def duplicates(self) -> dict[int, list[Found]]:
        """Addresses two units or more answer at (factory-new units all share theirs)."""
        by: dict[int, list[Found]] = {}
        for unit in self.units:
            if not unit.factory_new:
                by.setdefault(unit.address, []).append(unit)
        return {a: us for a, us in by.items() if len(us) > 1}

    def status(self, unit: Found) -> str:
        """ "new" (factory-new), "duplicate" (shares its address) or "ok"."""
        if unit.factory_new:
            return "new"
        if sum(1 for u in self.units if u.address == unit.address) > 1:
            return "duplicate"
        return "ok"


@dataclass(frozen=True)
class Assignment:
    serial: str
    old: int
    new: int


# Told of a scan's progress: addresses read so far, of how many (a mic line's DISCOVER rounds
# are told as rounds of at most `MAX_ROUNDS`).
Progress = Callable[[int, int], None]


def _quiet(done: int, total: int) -> None:
    pass


def plan_addresses(scan: Scan, kind: Kind, last: int) -> list[Assignment]:
    """Factory-new units and all but the lowest serial of a duplicate address get the lowest
    free addresses (1..last), in serial order."""
    factory = kp.FACTORY_ADDRESS if kind is Kind.KEYPAD else mic.UNASSIGNED
    used = {u.address for u in scan.units if u.address != factory}
    movers: list[Found] = []
    by: dict[int, list[Found]] = {}
    for unit in scan.units:
        by.setdefault(unit.address, []).append(unit)
    for address, units in sorted(by.items()):
        ordered = sorted(units, key=lambda u: u.serial)
        movers.extend(ordered if address == factory else ordered[1:])
    free = (a for a in range(1, last + 1) if a not in used and a != factory)
    plan: list[Assignment] = []
    for unit in sorted(movers, key=lambda u: u.serial):
        new = next(free, None)
        if new is None:
            raise CommissionError("no_free", line=scan.line, serial=unit.serial)
        plan.append(Assignment(unit.serial, unit.address, new))
    return plan


# --- a keypad line ----------------------------------------------------------------------------


class Outcome(StrEnum):
    REPLY = "reply"
    SILENT = "silent"
    DAMAGED = "damaged"


def _features(identity: kp.Identity) -> tuple[str, ...]:
    return tuple(f.name or "" for f in kp.Feature if f in identity.features)


class KeypadBus:
    """One request at a time on a keypad line, each with its own timeout."""

    def __init__(self, line: Line) -> None:
        if line.device is None:
            raise CommissionError("no_device", line=line.id)
        self.line = line
        self.char_format = kp.line_format(line.parity, line.stop_bits)
        self._framer = kp.KeypadFramer(kp.Transport.RTU, kp.Side.CONTROLLER)
        self._waiting: asyncio.Future[ModbusPDU] | None = None
        self._link: SerialLink | None = None

    def open(self) -> None:
        assert self.line.device is not None
        self._link = SerialLink(
            self.line.device,
            self.line.baud,
            self._received,
            parity=PYSERIAL_PARITY[self.char_format.parity],
            stopbits=self.char_format.stop_bits,
        )

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    def _received(self, data: bytes) -> None:
        for pdu in self._framer.feed(data):
            if self._waiting is not None and not self._waiting.done():
                self._waiting.set_result(pdu)

    async def request(self, pdu: ModbusPDU) -> tuple[Outcome, ModbusPDU | None]:
        assert self._link is not None
        self._framer.reset()
        dropped = self._framer.dropped
        frame = kp.encode_frame(pdu)
        if pdu.dev_id == kp.BROADCAST:
            self._link.write(frame)
            # The units apply a broadcast within its turnaround, t3.5 included (§6.2): the
            # line stays silent that long after the frame's last byte.
            wire = len(frame) * self.char_format.bits_per_char / self.line.baud
            await asyncio.sleep(wire + kp.BROADCAST_TURNAROUND_S)
            return Outcome.SILENT, None
        self._waiting = asyncio.get_running_loop().create_future()
        self._link.write(frame)
        timeout = kp.request_timeout(pdu, self.line.baud, self.char_format)
        try:
            reply = await asyncio.wait_for(self._waiting, timeout)
        except TimeoutError:
            noise = self._framer.pending or self._framer.dropped > dropped
            return (Outcome.DAMAGED if noise else Outcome.SILENT), None
        finally:
            self._waiting = None
        if reply.dev_id != pdu.dev_id:
            return Outcome.DAMAGED, None
        return Outcome.REPLY, reply

    async def identity(
        self, address: int, attempts: int = ATTEMPTS
    ) -> tuple[Outcome, kp.Identity | None]:
        """The identity at `address`: a reply, silence, or damaged frames (a duplicate)."""
        damaged = False
        for _ in range(attempts):
            outcome, reply = await self.request(kp.read_identity_request(address))
            if outcome is Outcome.REPLY and reply is not None:
                try:
                    return Outcome.REPLY, kp.decode_identity(reply, address)
                except kp.KeypadProtocolError:
                    damaged = True
            damaged = damaged or outcome is Outcome.DAMAGED
        return (Outcome.DAMAGED if damaged else Outcome.SILENT), None


def _keypad_found(address: int, identity: kp.Identity) -> Found:
    (major, minor), patch = identity.firmware_version, identity.firmware_patch
    return Found(
        Kind.KEYPAD,
        address,
        identity.serial_number,
        f"{major}.{minor}.{patch}",
        _features(identity),
        identity.contract,
    )


async def scan_keypads(
    bus: KeypadBus, addresses: Iterable[int], progress: Progress = _quiet
) -> Scan:
    """Identity reads over `addresses`; each damaged address is then told apart by serial."""
    scan = Scan(bus.line.id)
    wanted = list(addresses)
    for done, address in enumerate(wanted):
        progress(done, len(wanted))
        outcome, identity = await bus.identity(address)
        if identity is not None:
            scan.units.append(_keypad_found(address, identity))
        elif outcome is Outcome.DAMAGED:
            scan.damaged.add(address)
    for address in sorted(scan.damaged):
        scan.units.extend(await separate_keypads(bus, address))
    progress(len(wanted), len(wanted))
    return scan


FIRST_SLOTS = 16
QUIET_ROUNDS = 5  # rounds in a row without a new serial after which a scan stops
MAX_ROUNDS = 24
ASSIGN_PASSES = 4  # assign and rescan at most this often: units hidden behind others appear


async def separate_keypads(bus: KeypadBus, address: int) -> list[Found]:
    """The units sharing `address`, by selection rounds (§3.8): in each slot only the units
    of that slot answer; a slot still damaged needs another round with a new nonce and more
    slots (up to 64). The rounds stop at a round without a damaged slot, or after
    `QUIET_ROUNDS` in a row that brought no new serial (many units at one address, such as
    a factory-new line at 247, seldom give a round without a collision; the units still
    hidden then are found by the rescan after the others have left). The selection is ended
    before returning."""
    found: dict[str, Found] = {}
    slots = FIRST_SLOTS
    quiet = 0
    try:
        for round_no in range(MAX_ROUNDS):
            nonce = (0x5A + 0x3B * round_no) & 0xFF
            clean, new = True, False
            for slot in range(slots):
                await bus.request(kp.select_request(kp.Selection(slots, nonce, slot)))
                outcome, identity = await bus.identity(address)
                if identity is not None:
                    new = new or identity.serial_number not in found
                    found.setdefault(identity.serial_number, _keypad_found(address, identity))
                elif outcome is Outcome.DAMAGED:
                    clean = False
            quiet = 0 if new else quiet + 1
            if clean or quiet >= QUIET_ROUNDS:
                break
            slots = min(kp.SELECT_SLOTS_MAX, slots * 2)
    finally:
        await bus.request(kp.select_request(kp.Selection()))
    return [found[s] for s in sorted(found)]


async def assign_keypads(bus: KeypadBus, plan: Sequence[Assignment]) -> list[Found]:
    """Give each unit of `plan` its address by serial, and read it back there."""
    done: list[Found] = []
    for step in plan:
        await bus.request(kp.set_address_request(step.serial, step.new))
        _, identity = await bus.identity(step.new)
        if identity is None or identity.serial_number != step.serial:
            raise CommissionError(
                "not_taken", line=bus.line.id, serial=step.serial, address=step.new
            )
        done.append(_keypad_found(step.new, identity))
    return done


async def identify_keypad(bus: KeypadBus, address: int, seconds: int) -> None:
    reply = None
    for _ in range(ATTEMPTS):
        _, reply = await bus.request(kp.identify_request(address, seconds))
        if reply is not None:
            break
    if reply is None:
        raise CommissionError("no_reply", line=bus.line.id, address=address)
    try:
        kp.decode_reply(kp.identify_request(address, seconds), reply)
    except kp.KeypadProtocolError as exc:
        raise CommissionError("no_identify", line=bus.line.id, address=address, detail=exc) from exc


# --- a mic line -------------------------------------------------------------------------------


class MicBus:
    """Frames out, messages and damaged frames in, on a mic line."""

    def __init__(self, line: Line) -> None:
        if line.device is None:
            raise CommissionError("no_device", line=line.id)
        self.line = line
        self._decoder = mic.MicStreamDecoder()
        self.heard: list[mic.MicMessage] = []
        self.damaged = 0
        self._arrived = asyncio.Event()
        self._link: SerialLink | None = None

    def open(self) -> None:
        assert self.line.device is not None
        self._link = SerialLink(self.line.device, self.line.baud, self._received)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    def _received(self, data: bytes) -> None:
        self._decoder.receive_data(data)
        for event in self._decoder.events():
            if isinstance(event, mic.FrameError):
                self.damaged += 1
            else:
                self.heard.append(event)
        self._arrived.set()

    def send(self, message: mic.MicMessage) -> None:
        assert self._link is not None
        self.heard.clear()
        self.damaged = 0
        self._link.write(mic.encode(message))

    async def listen(self, seconds: float) -> None:
        """Collect what arrives for `seconds` (a DISCOVER round's slots)."""
        await asyncio.sleep(seconds)

    async def answer(self, message: mic.MicMessage, address: int) -> mic.MicMessage | None:
        """Send `message`; the first reply from `address`, with the contract's retries."""
        for _ in range(1 + mic.TIMING.retries):
            reply = await self._answer_once(message, address)
            if reply is not None:
                return reply
        return None

    async def _answer_once(self, message: mic.MicMessage, address: int) -> mic.MicMessage | None:
        self.send(message)
        timeout = mic.TIMING.response_timeout_s + len(mic.encode(message)) * 10 / self.line.baud

        async def first() -> mic.MicMessage:
            while True:
                for reply in self.heard:
                    if reply.address == address:
                        return reply
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(first(), timeout)
        except TimeoutError:
            return None


def _mic_found(reply: mic.DiscoverReply) -> Found:
    return Found(
        Kind.MIC,
        reply.address,
        f"{reply.serial:08X}",
        f"{reply.fw_major}.{reply.fw_minor}.{reply.fw_patch}",
        (reply.unit_type.name,),
    )


async def scan_mics(bus: MicBus, progress: Progress = _quiet) -> Scan:
    """DISCOVER rounds (§5.6), every unit answering (not only unseen ones), a new nonce each
    round, until a round brings no new serial and no damaged frame, or `QUIET_ROUNDS` in a
    row bring no new serial (at most `MAX_ROUNDS`)."""
    scan = Scan(bus.line.id)
    seen: dict[int, Found] = {}
    slots = mic.DISCOVERY_SLOTS
    slot_s = float(mic.SPEC["timing"]["discovery_slot_ms"]) / 1000
    quiet = 0
    for round_no in range(MAX_ROUNDS):
        progress(round_no, MAX_ROUNDS)
        nonce = (0x5A + 0x3B * round_no) & 0xFF
        bus.send(mic.Discover(slots=slots, nonce=nonce, unseen_only=False))
        await bus.listen(0.001 + slot_s * slots + mic.TIMING.response_timeout_s)
        new = False
        for reply in bus.heard:
            if isinstance(reply, mic.DiscoverReply) and reply.serial not in seen:
                seen[reply.serial] = _mic_found(reply)
                new = True
        quiet = 0 if new else quiet + 1
        if (not new and not bus.damaged) or quiet >= QUIET_ROUNDS:
            break
        if bus.damaged:
            slots = min(64, slots * 2)
    scan.units = [seen[s] for s in sorted(seen)]
    progress(MAX_ROUNDS, MAX_ROUNDS)
    return scan


async def assign_mics(bus: MicBus, plan: Sequence[Assignment]) -> list[Found]:
    """SET_ADDRESS by serial, the ACK from the new address, then one POLL (the unit is seen)."""
    done: list[Found] = []
    for step in plan:
        serial = int(step.serial, 16)
        ack = await bus.answer(mic.SetAddress(serial=serial, new_address=step.new), step.new)
        if not isinstance(ack, mic.Ack):
            raise CommissionError(
                "not_taken", line=bus.line.id, serial=step.serial, address=step.new
            )
        status = await bus.answer(mic.Poll(address=step.new), step.new)
        if not isinstance(status, mic.Status):
            raise CommissionError("no_poll", line=bus.line.id, address=step.new)
        done.append(Found(Kind.MIC, step.new, step.serial, "", ()))
    return done


async def identify_mic(bus: MicBus, address: int, seconds: int) -> None:
    reply = await bus.answer(mic.Identify(address=address, seconds=seconds), address)
    if isinstance(reply, mic.Nak):
        raise CommissionError(
            "no_identify", line=bus.line.id, address=address, detail="IDENTIFY: NAK (1.0, 1.1)"
        )
    if not isinstance(reply, mic.Ack):
        raise CommissionError("no_reply", line=bus.line.id, address=address)


# --- a line, whichever its kind ----------------------------------------------------------------

Bus = KeypadBus | MicBus


def find_line(lines: Iterable[Line], line_id: str, hall: object) -> Line:
    """The serial line `line_id` of the hall's lines (CommissionError: none, or not serial)."""
    line = next((ln for ln in lines if ln.id == line_id), None)
    if line is None:
        raise CommissionError("no_line", hall=hall, line=line_id)
    if line.kind is LineKind.MODBUS_TCP or line.device is None:
        raise CommissionError("not_serial", line=line.id)
    return line


def open_bus(line: Line) -> Bus:
    """The line's port, opened for commissioning (a port another master holds: "busy")."""
    bus: Bus = MicBus(line) if line.kind is LineKind.MIC_SERIAL else KeypadBus(line)
    assert line.device is not None
    try:
        bus.open()
    except TransportError as exc:
        raise _open_error(line.device, exc) from exc
    return bus


def kind_of(bus: Bus) -> Kind:
    return Kind.KEYPAD if isinstance(bus, KeypadBus) else Kind.MIC


def scan_addresses(addresses: Iterable[int]) -> list[int]:
    """The keypad addresses a scan reads: those asked, and the factory address."""
    return sorted({*addresses, kp.FACTORY_ADDRESS})


async def scan(bus: Bus, addresses: Iterable[int], progress: Progress = _quiet) -> Scan:
    """A keypad line's identity reads over `addresses` (see `scan_addresses`), or a mic
    line's DISCOVER rounds."""
    if isinstance(bus, KeypadBus):
        return await scan_keypads(bus, addresses, progress)
    return await scan_mics(bus, progress)


def plan_for(kind: Kind, found: Scan) -> list[Assignment]:
    """What a line of `kind` needs after scan `found` (`plan_addresses` over its range)."""
    return plan_addresses(found, kind, mic.LAST_UNIT if kind is Kind.MIC else kp.LAST_UNIT)


async def assign_and_rescan(
    bus: Bus,
    found: Scan,
    addresses: Iterable[int],
    *,
    passes: int = ASSIGN_PASSES,
    on_pass: Callable[[Sequence[Assignment], Scan], None] | None = None,
    progress: Progress = _quiet,
) -> tuple[Scan, list[Assignment]]:
    """Give the units that need one an address, and scan again, at most `passes` times
    while some still need one (units hidden behind others appear once those have left).
    `on_pass(plan, rescan)` is told of each pass. Returns the last scan and what it still
    needs (empty: every unit has an address of its own)."""
    wanted = list(addresses)
    plan = plan_for(kind_of(bus), found)
    while plan and passes:
        passes -= 1
        if isinstance(bus, KeypadBus):
            await assign_keypads(bus, plan)
        else:
            await assign_mics(bus, plan)
        done = plan
        found = await scan(bus, wanted, progress)
        plan = plan_for(kind_of(bus), found)
        if on_pass is not None:
            on_pass(done, found)
    return found, plan


async def identify(bus: Bus, address: int, seconds: int) -> None:
    """Blink the unit at `address` for `seconds` (CommissionError when it does not)."""
    if isinstance(bus, KeypadBus):
        await identify_keypad(bus, address, seconds)
    else:
        await identify_mic(bus, address, seconds)


# --- the hall file ----------------------------------------------------------------------------


def topology_text(hall_text: str, line: Line, units: Sequence[Found], *, map_seats: bool) -> str:
    """The hall file with `line`'s units mapped to seats in address order (`map_seats`), or
    unchanged seats (left for the technician to map). Comments and layout are kept."""
    doc = tomlkit.parse(hall_text)
    if not map_seats:
        return tomlkit.dumps(doc)
    seats = doc.get("seats")
    if not isinstance(seats, tomlkit.items.AoT):
        raise CommissionError("no_seats")
    key = "keypad" if line.kind is not LineKind.MIC_SERIAL else "mic"
    addresses = sorted({u.address for u in units})
    ordered: list[Any] = sorted(seats, key=lambda s: int(s["number"]))
    if len(addresses) > len(ordered):
        raise CommissionError(
            "too_few_seats", line=line.id, units=len(addresses), seats=len(ordered)
        )
    # The scan is the line's truth: seats past its units lose what they had on this line.
    for i, seat in enumerate(ordered):
        have = seat.get(key)
        if i >= len(addresses):
            if have is not None and have.get("line") == line.id:
                del seat[key]
            continue
        if have is not None and (have.get("line"), have.get("address")) == (line.id, addresses[i]):
            continue
        ref = tomlkit.inline_table()
        ref.update({"line": line.id, "address": addresses[i]})
        seat[key] = ref  # in place where the seat had one
    return tomlkit.dumps(doc)


def diff(before: str, after: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"{name} (now)",
            f"{name} (commissioned)",
        )
    )


# --- the command ------------------------------------------------------------------------------


def _range(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            a, b = int(first), int(last or first)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: write 1-32,247") from None
        if not 1 <= a <= b <= kp.LAST_UNIT:
            raise argparse.ArgumentTypeError(f"{text!r}: addresses are 1..{kp.LAST_UNIT}")
        out.extend(range(a, b + 1))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hall", type=Path, required=True, help="the hall file")
    parser.add_argument("--line", required=True, help="the line's id in the hall file")
    parser.add_argument(
        "--addresses",
        type=_range,
        default=list(range(1, kp.LAST_UNIT + 1)),
        help="keypad addresses to read (default 1-247)",
    )
    parser.add_argument("--assign", action="store_true", help="give addresses, then rescan")
    parser.add_argument(
        "--identify", type=int, metavar="ADDRESS", help="blink this unit (and do nothing else)"
    )
    parser.add_argument("--seconds", type=int, default=IDENTIFY_DEFAULT_S)
    parser.add_argument(
        "--map-seats", action="store_true", help="map the units to seats in address order"
    )
    parser.add_argument("--write", action="store_true", help="write the hall file (default: show)")
    parser.add_argument(
        "--language", choices=sorted(TEXTS), help="language of the output (default: the hall's)"
    )


def _print_scan(lang: str, scan: Scan) -> None:
    print(say(lang, "summary", line=scan.line, n=len(scan.units)))
    for address, units in sorted(scan.duplicates().items()):
        serials = ", ".join(u.serial for u in units)
        print(say(lang, "duplicate", address=address, serials=serials))
    for unit in sorted(scan.units, key=lambda u: (u.address, u.serial)):
        print(
            say(
                lang,
                "row",
                kind=unit.kind,
                address=unit.address,
                serial=unit.serial,
                firmware=unit.firmware,
                contract=say(lang, "contract", contract=unit.contract) if unit.contract else "",
                features=",".join(unit.features) or "-",
                new=say(lang, "factory_new") if unit.factory_new else "",
            )
        )


def _language(args: argparse.Namespace) -> str:
    """The --language asked, else the hall's ([hall] language), else Vietnamese."""
    if args.language:
        return str(args.language)
    try:
        with args.hall.open("rb") as f:
            language = tomllib.load(f).get("hall", {}).get("language", "vi")
    except (OSError, tomllib.TOMLDecodeError):
        return "vi"
    return language if language in TEXTS else "vi"


async def commission(args: argparse.Namespace) -> int:
    lang = _language(args)
    try:
        topology = load_topology(args.hall)
    except TopologyError as exc:
        raise CommissionError("hall", detail=exc) from exc
    line = find_line(topology.lines, args.line, args.hall)
    bus = open_bus(line)
    try:
        if args.identify is not None:
            await identify(bus, args.identify, args.seconds)
            print(say(lang, "blinks", address=args.identify, line=line.id, seconds=args.seconds))
            return 0
        addresses = scan_addresses(args.addresses)
        found = await scan(bus, addresses)
        _print_scan(lang, found)
        plan = plan_for(kind_of(bus), found)
        if plan and not args.assign:
            print(say(lang, "need", n=len(plan)))

        def told(done: Sequence[Assignment], rescan: Scan) -> None:
            for step in done:
                print(f"  {step.serial}: {step.old} -> {step.new}")
            print(say(lang, "after"))
            _print_scan(lang, rescan)

        if args.assign:
            found, plan = await assign_and_rescan(bus, found, addresses, on_pass=told)
    finally:
        bus.close()
    if plan:
        print(say(lang, "still"))
        return 1
    before = args.hall.read_text(encoding="utf-8")
    after = topology_text(before, line, found.units, map_seats=args.map_seats)
    if not args.map_seats:
        print(say(lang, "seats_left"))
    change = diff(before, after, str(args.hall))
    print(change or say(lang, "no_change"))
    if change and args.write:
        args.hall.write_text(after, encoding="utf-8")
        print(say(lang, "wrote", path=args.hall))
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(commission(args))
    except CommissionError as exc:
        print(f"error: {exc.text(_language(args))}", file=sys.stderr)
        return 2
    except kp.KeypadUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
