"""Sony VISCA for PTZ cameras: raw VISCA messages and Sony's VISCA-over-IP framing.

The subset chamber uses (firmware_specs/visca.md): preset recall and set, home, power,
pan/tilt drive and stop, zoom stop, absolute pan/tilt position, and the pan/tilt position
inquiry; the camera's ACK, completion and error replies. Section names below cite Sony's
"VISCA Command List" (the command and inquiry lists of the BRC and SRG camera manuals, e.g.
SRG-300SE/360SHE Technical Manual, "VISCA Command List") and Sony's "VISCA over IP" section of
the same manuals (the message header, the control commands).

Sans-IO, in h11's shape: `ViscaStreamDecoder` is fed bytes of raw VISCA (serial RS-232/RS-422,
or VISCA over a TCP or UDP port of several makers) and yields typed messages and typed
`Garbage` events; `parse_datagram` reads one VISCA-over-IP datagram (UDP 52381);
`ViscaIpClient` keeps the controller's side of a VISCA-over-IP session (its sequence
numbers, the sequence reset). Nothing here does I/O, starts a task or reads a clock.

Errors come in two kinds, as in h11: `ViscaUsageError` when the caller asks for something
VISCA cannot say (a preset out of range, a camera address out of 1..7), and
`ViscaRemoteError` when a peer sent bytes that are not VISCA. The stream decoder never
raises on input bytes: garbage becomes a `Garbage` event and the decoder resynchronises on
the next header byte.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Final

# --- limits (VISCA Command List, "VISCA communication specifications") ----------------------

TERMINATOR: Final = 0xFF
MAX_MESSAGE: Final = 16
"""A VISCA message is 3 to 16 bytes, header and terminator included."""
MIN_MESSAGE: Final = 3
BROADCAST: Final = 8
"""Header address 8 (0x88) reaches every camera of a daisy chain."""
FIRST_CAMERA: Final = 1
LAST_CAMERA: Final = 7
CONTROLLER: Final = 0
"""The controller's own address in a header's sender nibble."""
MAX_PRESET: Final = 127
"""CAM_Memory takes presets 0..127 on the PTZ cameras of this class (Sony SRG: 0..255 on
some; 0..127 is what all of them share)."""
MAX_SPEED_PAN: Final = 0x18
MAX_SPEED_TILT: Final = 0x17
VISCA_IP_PORT: Final = 52381
IP_HEADER: Final = 8
MAX_SEQUENCE: Final = 0xFFFFFFFF


class ViscaError(Exception):
    """Every error of this codec."""


class ViscaUsageError(ViscaError, ValueError):
    """The caller asked for something VISCA cannot say."""


class ViscaRemoteError(ViscaError):
    """A peer sent bytes that are not VISCA (or not the subset chamber reads)."""


# --- the command list -----------------------------------------------------------------------


class Category(IntEnum):
    """The byte after 01 (command) or 09 (inquiry) (VISCA Command List: category codes)."""

    INTERFACE = 0x00
    CAMERA = 0x04
    PAN_TILTER = 0x06


class MessageType(IntEnum):
    """The byte after the header (VISCA Command List: "Command", "Inquiry")."""

    COMMAND = 0x01
    INQUIRY = 0x09


class MemoryOp(IntEnum):
    """CAM_Memory (VISCA Command List, CAM_Memory: 8x 01 04 3F 0p pp FF)."""

    RESET = 0x00
    SET = 0x01
    RECALL = 0x02


class PowerState(IntEnum):
    """CAM_Power (VISCA Command List, CAM_Power: 8x 01 04 00 0p FF)."""

    ON = 0x02
    OFF = 0x03


class PanDirection(IntEnum):
    """Pan-tiltDrive's pan byte (VISCA Command List, Pan-tiltDrive: 8x 01 06 01 VV WW XX YY FF)."""

    LEFT = 0x01
    RIGHT = 0x02
    STOP = 0x03


class TiltDirection(IntEnum):
    """Pan-tiltDrive's tilt byte (VISCA Command List, Pan-tiltDrive)."""

    UP = 0x01
    DOWN = 0x02
    STOP = 0x03


class ErrorCode(IntEnum):
    """The error byte of z0 6y EE FF (VISCA Command List, "Error Messages")."""

    MESSAGE_LENGTH = 0x01
    SYNTAX = 0x02
    BUFFER_FULL = 0x03
    CANCELED = 0x04
    NO_SOCKET = 0x05
    NOT_EXECUTABLE = 0x41


class PayloadType(IntEnum):
    """VISCA over IP, message header's payload type (VISCA over IP: "Payload type")."""

    VISCA_COMMAND = 0x0100
    VISCA_INQUIRY = 0x0110
    VISCA_REPLY = 0x0111
    DEVICE_SETTING = 0x0120
    CONTROL_COMMAND = 0x0200
    CONTROL_REPLY = 0x0201


class ControlCode(IntEnum):
    """VISCA over IP control messages (VISCA over IP: "Control command", "Control reply")."""

    RESET = 0x01  # control command 01: reset the sequence number to 0; reply 01 is its ACK
    ERROR = 0x0F  # control reply 0F 0y: an error in the last message


class ControlErrorCode(IntEnum):
    """The second byte of control reply 0F 0y (VISCA over IP: "Control reply")."""

    SEQUENCE = 0x01  # abnormality in the sequence number
    MESSAGE = 0x02  # abnormality in the message (type)


# --- commands: what the controller sends ----------------------------------------------------


@dataclass(frozen=True)
class PresetRecall:
    preset: int


@dataclass(frozen=True)
class PresetSet:
    preset: int


@dataclass(frozen=True)
class Home:
    pass


@dataclass(frozen=True)
class Power:
    state: PowerState


@dataclass(frozen=True)
class PanTiltDrive:
    """Pan-tiltDrive: drive in a direction at a speed, or stop (both directions STOP)."""

    pan: PanDirection
    tilt: TiltDirection
    pan_speed: int = 1
    tilt_speed: int = 1


@dataclass(frozen=True)
class ZoomStop:
    pass


@dataclass(frozen=True)
class AbsolutePosition:
    """Pan-tiltDrive AbsolutePosition: signed 16-bit pan and tilt in the camera's units."""

    pan: int
    tilt: int
    pan_speed: int = MAX_SPEED_PAN
    tilt_speed: int = MAX_SPEED_TILT


@dataclass(frozen=True)
class PositionInquiry:
    """Pan-tiltPosInq: 8x 09 06 12 FF."""


Command = (
    PresetRecall
    | PresetSet
    | Home
    | Power
    | PanTiltDrive
    | ZoomStop
    | AbsolutePosition
    | PositionInquiry
)


def pan_tilt_stop() -> PanTiltDrive:
    return PanTiltDrive(PanDirection.STOP, TiltDirection.STOP)


def _check(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ViscaUsageError(f"{name} {value!r} is not in {low}..{high}")


def _nibbles(value: int) -> bytes:
    word = value & 0xFFFF
    return bytes((word >> s) & 0x0F for s in (12, 8, 4, 0))


def _from_nibbles(data: bytes) -> int:
    if any(b > 0x0F for b in data):
        raise ViscaRemoteError(f"position nibbles {data.hex()} have high bits set")
    word = (data[0] << 12) | (data[1] << 8) | (data[2] << 4) | data[3]
    return word - 0x10000 if word & 0x8000 else word


def _body(command: Command) -> bytes:
    """The message without its header byte and terminator."""
    match command:
        case PresetRecall(preset) | PresetSet(preset):
            _check("preset", preset, 0, MAX_PRESET)
            op = MemoryOp.RECALL if isinstance(command, PresetRecall) else MemoryOp.SET
            return bytes((MessageType.COMMAND, Category.CAMERA, 0x3F, op, preset))
        case Home():
            return bytes((MessageType.COMMAND, Category.PAN_TILTER, 0x04))
        case Power(state):
            return bytes((MessageType.COMMAND, Category.CAMERA, 0x00, PowerState(state)))
        case PanTiltDrive(pan, tilt, pan_speed, tilt_speed):
            _check("pan speed", pan_speed, 1, MAX_SPEED_PAN)
            _check("tilt speed", tilt_speed, 1, MAX_SPEED_TILT)
            return bytes(
                (
                    MessageType.COMMAND,
                    Category.PAN_TILTER,
                    0x01,
                    pan_speed,
                    tilt_speed,
                    PanDirection(pan),
                    TiltDirection(tilt),
                )
            )
        case ZoomStop():
            return bytes((MessageType.COMMAND, Category.CAMERA, 0x07, 0x00))
        case AbsolutePosition(pan, tilt, pan_speed, tilt_speed):
            _check("pan", pan, -0x8000, 0x7FFF)
            _check("tilt", tilt, -0x8000, 0x7FFF)
            _check("pan speed", pan_speed, 1, MAX_SPEED_PAN)
            _check("tilt speed", tilt_speed, 1, MAX_SPEED_TILT)
            head = bytes((MessageType.COMMAND, Category.PAN_TILTER, 0x02, pan_speed, tilt_speed))
            return head + _nibbles(pan) + _nibbles(tilt)
        case PositionInquiry():
            return bytes((MessageType.INQUIRY, Category.PAN_TILTER, 0x12))
    raise ViscaUsageError(f"{command!r} is not a VISCA command")


def encode_command(command: Command, camera: int = 1) -> bytes:
    """The raw VISCA message for `command` to camera `camera` (1..7, or 8: all)."""
    _check("camera address", camera, FIRST_CAMERA, BROADCAST)
    return bytes((0x80 | (CONTROLLER << 4) | camera,)) + _body(command) + bytes((TERMINATOR,))


def parse_command(message: bytes) -> tuple[int, Command]:
    """(camera address, command) of a whole raw VISCA message from a controller; what the
    simulated camera reads. Raises `ViscaRemoteError` for anything outside the subset."""
    _check_frame(message)
    head = message[0]
    if head & 0x70:
        raise ViscaRemoteError(f"header {head:02x} is not from a controller")
    camera = head & 0x0F
    if not FIRST_CAMERA <= camera <= BROADCAST:
        raise ViscaRemoteError(f"header {head:02x} names no camera")
    body = message[1:-1]
    command = _parse_body(body)
    if _body(command) != body:
        raise ViscaRemoteError(f"{message.hex()} is not in the subset chamber reads")
    return camera, command


def _parse_body(body: bytes) -> Command:
    try:
        match tuple(body):
            case [0x01, 0x04, 0x3F, op, preset] if preset <= MAX_PRESET:
                if op == MemoryOp.RECALL:
                    return PresetRecall(preset)
                if op == MemoryOp.SET:
                    return PresetSet(preset)
            case [0x01, 0x06, 0x04]:
                return Home()
            case [0x01, 0x04, 0x00, state]:
                return Power(PowerState(state))
            case [0x01, 0x06, 0x01, vv, ww, pan, tilt] if (
                1 <= vv <= MAX_SPEED_PAN and 1 <= ww <= MAX_SPEED_TILT
            ):
                return PanTiltDrive(PanDirection(pan), TiltDirection(tilt), vv, ww)
            case [0x01, 0x04, 0x07, 0x00]:
                return ZoomStop()
            case [0x01, 0x06, 0x02, vv, ww, *rest] if (
                len(rest) == 8 and 1 <= vv <= MAX_SPEED_PAN and 1 <= ww <= MAX_SPEED_TILT
            ):
                return AbsolutePosition(
                    _from_nibbles(bytes(rest[:4])), _from_nibbles(bytes(rest[4:])), vv, ww
                )
            case [0x09, 0x06, 0x12]:
                return PositionInquiry()
    except ValueError:  # an IntEnum that has no such member
        pass
    raise ViscaRemoteError(f"command {body.hex()} is not in the subset chamber reads")


# --- replies: what a camera sends -----------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """z0 4y FF: the command is accepted into socket y (1 or 2)."""

    camera: int
    socket: int


@dataclass(frozen=True)
class Completion:
    """z0 5y FF: the command of socket y is done (y = 0 for an inquiry, with its data)."""

    camera: int
    socket: int
    data: bytes = b""


@dataclass(frozen=True)
class Refusal:
    """z0 6y EE FF: the camera refused a command (socket 0 when it had none)."""

    camera: int
    socket: int
    code: ErrorCode


@dataclass(frozen=True)
class Position:
    """The completion of Pan-tiltPosInq: y0 50 0w 0w 0w 0w 0z 0z 0z 0z FF."""

    camera: int
    pan: int
    tilt: int


Reply = Ack | Completion | Refusal | Position


def encode_reply(reply: Reply) -> bytes:
    _check("camera address", reply.camera, FIRST_CAMERA, LAST_CAMERA)
    head = 0x80 | (reply.camera << 4)
    match reply:
        case Ack(_, socket):
            _check("socket", socket, 0, 0x0F)
            body = bytes((0x40 | socket,))
        case Completion(_, socket, data):
            _check("socket", socket, 0, 0x0F)
            if len(data) > MAX_MESSAGE - 3 or TERMINATOR in data:
                raise ViscaUsageError(f"completion data {data.hex()} cannot be framed")
            body = bytes((0x50 | socket,)) + data
        case Refusal(_, socket, code):
            _check("socket", socket, 0, 0x0F)
            body = bytes((0x60 | socket, ErrorCode(code)))
        case Position(_, pan, tilt):
            _check("pan", pan, -0x8000, 0x7FFF)
            _check("tilt", tilt, -0x8000, 0x7FFF)
            body = bytes((0x50,)) + _nibbles(pan) + _nibbles(tilt)
        case _:
            raise ViscaUsageError(f"{reply!r} is not a VISCA reply")
    return bytes((head,)) + body + bytes((TERMINATOR,))


def _check_frame(message: bytes) -> None:
    if not MIN_MESSAGE <= len(message) <= MAX_MESSAGE:
        raise ViscaRemoteError(f"a message of {len(message)} bytes (VISCA: 3..16)")
    if message[0] & 0x80 == 0 or message[0] == TERMINATOR:
        raise ViscaRemoteError(f"header {message[0]:02x} is not a VISCA header")
    if message[-1] != TERMINATOR or TERMINATOR in message[:-1]:
        raise ViscaRemoteError(f"{message.hex()} is not terminated by one FF")


def parse_reply(message: bytes, *, position: bool = False) -> Reply:
    """A whole raw VISCA reply. `position=True` reads an inquiry's completion as the answer
    to Pan-tiltPosInq (VISCA replies do not say which inquiry they answer)."""
    _check_frame(message)
    head = message[0]
    camera = (head >> 4) & 0x07
    if head & 0x0F or not FIRST_CAMERA <= camera <= LAST_CAMERA:
        raise ViscaRemoteError(f"header {head:02x} is not a camera's reply")
    kind, socket = message[1] & 0xF0, message[1] & 0x0F
    rest = message[2:-1]
    if kind == 0x40 and not rest:
        return Ack(camera, socket)
    if kind == 0x50:
        if position and socket == 0 and len(rest) == 8:
            return Position(camera, _from_nibbles(rest[:4]), _from_nibbles(rest[4:]))
        return Completion(camera, socket, bytes(rest))
    if kind == 0x60 and len(rest) == 1:
        try:
            return Refusal(camera, socket, ErrorCode(rest[0]))
        except ValueError:
            pass
    raise ViscaRemoteError(f"reply {message.hex()} is not an ACK, completion or error")


# --- the raw stream (serial, TCP) -----------------------------------------------------------


class GarbageReason(StrEnum):
    NO_HEADER = "no-header"  # bytes before any header byte (high bit set)
    TOO_LONG = "too-long"  # more than 16 bytes without a terminator
    TOO_SHORT = "too-short"  # a terminator after fewer than 3 bytes
    NOT_VISCA = "not-visca"  # framed, but not a message this side reads


@dataclass(frozen=True)
class Garbage:
    """Bytes the stream decoder dropped, and why."""

    reason: GarbageReason
    data: bytes


class StreamRole(StrEnum):
    """Which side's messages the decoder reads."""

    CONTROLLER = "controller"  # reads camera replies
    CAMERA = "camera"  # reads controller commands


@dataclass(frozen=True)
class CommandMessage:
    camera: int
    command: Command


StreamEvent = Reply | CommandMessage | Garbage


class ViscaStreamDecoder:
    """Raw VISCA on a byte stream: a message is a header byte (high bit set) up to FF.

    Noise before a header, a run of more than 16 bytes without a terminator, or a framed
    message that does not parse are each dropped as one `Garbage` event, and hunting
    resumes at the next byte with its high bit set. The buffer never holds more than one
    message's worth (16 bytes).
    """

    def __init__(self, role: StreamRole = StreamRole.CONTROLLER, *, position: bool = False) -> None:
        self.role = role
        self.position = position
        self._frame = bytearray()
        self._junk = bytearray()
        self._events: deque[StreamEvent] = deque()

    def receive_data(self, data: bytes) -> None:
        for byte in data:
            self._byte(byte)

    def _flush_junk(self) -> None:
        if self._junk:
            self._events.append(Garbage(GarbageReason.NO_HEADER, bytes(self._junk)))
            self._junk.clear()

    def _byte(self, byte: int) -> None:
        if not self._frame:
            if byte & 0x80 and byte != TERMINATOR:
                self._flush_junk()
                self._frame.append(byte)
            else:
                self._junk.append(byte)
                if len(self._junk) >= MAX_MESSAGE:
                    self._flush_junk()
            return
        self._frame.append(byte)
        if byte == TERMINATOR:
            message = bytes(self._frame)
            self._frame.clear()
            self._events.append(self._parse(message))
        elif len(self._frame) >= MAX_MESSAGE:
            self._events.append(Garbage(GarbageReason.TOO_LONG, bytes(self._frame)))
            self._frame.clear()

    def _parse(self, message: bytes) -> StreamEvent:
        if len(message) < MIN_MESSAGE:
            return Garbage(GarbageReason.TOO_SHORT, message)
        try:
            if self.role is StreamRole.CAMERA:
                return CommandMessage(*parse_command(message))
            return parse_reply(message, position=self.position)
        except ViscaRemoteError:
            return Garbage(GarbageReason.NOT_VISCA, message)

    def next_event(self) -> StreamEvent | None:
        """The next event, or None when more data is needed."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[StreamEvent]:
        while self._events:
            yield self._events.popleft()


# --- VISCA over IP (UDP 52381) --------------------------------------------------------------


@dataclass(frozen=True)
class IpMessage:
    """One VISCA-over-IP datagram: the 8-byte header and its payload (1..16 bytes)."""

    payload_type: PayloadType
    sequence: int
    payload: bytes

    def encode(self) -> bytes:
        _check("sequence number", self.sequence, 0, MAX_SEQUENCE)
        if not 1 <= len(self.payload) <= MAX_MESSAGE:
            raise ViscaUsageError(f"a payload of {len(self.payload)} bytes (1..16)")
        head = struct.pack(">HHI", PayloadType(self.payload_type), len(self.payload), self.sequence)
        return head + self.payload


def parse_datagram(data: bytes) -> IpMessage:
    """One whole datagram. Raises `ViscaRemoteError` for anything else (a short header, a
    length that is not the payload's, an unknown payload type)."""
    if len(data) < IP_HEADER + 1:
        raise ViscaRemoteError(f"a datagram of {len(data)} bytes (at least 9)")
    kind, length, sequence = struct.unpack_from(">HHI", data)
    payload = data[IP_HEADER:]
    if length != len(payload) or length > MAX_MESSAGE:
        raise ViscaRemoteError(f"payload length {length}, {len(payload)} bytes follow")
    try:
        payload_type = PayloadType(kind)
    except ValueError:
        raise ViscaRemoteError(f"payload type {kind:04x} is not VISCA over IP") from None
    return IpMessage(payload_type, sequence, bytes(payload))


@dataclass(frozen=True)
class ControlAck:
    """The camera reset its sequence number (control reply 01)."""

    sequence: int


@dataclass(frozen=True)
class ControlError:
    """Control reply 0F 0y: the camera found the sequence number or the message wrong."""

    sequence: int
    code: ControlErrorCode


@dataclass(frozen=True)
class IpReply:
    """A VISCA reply that came in a VISCA-over-IP datagram, with its sequence number."""

    sequence: int
    reply: Reply


IpEvent = IpReply | ControlAck | ControlError


def reset_sequence_message() -> IpMessage:
    return IpMessage(PayloadType.CONTROL_COMMAND, 0, bytes((ControlCode.RESET,)))


def control_reply(sequence: int, error: ControlErrorCode | None = None) -> IpMessage:
    payload = bytes((ControlCode.RESET,)) if error is None else bytes((ControlCode.ERROR, error))
    return IpMessage(PayloadType.CONTROL_REPLY, sequence, payload)


class ViscaIpClient:
    """The controller's side of a VISCA-over-IP session with one camera.

    `command(cmd)` gives the datagram to send and its sequence number (one more each time,
    wrapping at 2^32); `reset()` gives the control command that sets the camera's count back
    to 0 (sent first, and after a camera answers with a sequence error); `receive_datagram`
    turns what the camera sent into typed events. The address in a VISCA-over-IP payload is
    always camera 1: each camera has its own IP address.
    """

    def __init__(self) -> None:
        self.next_sequence = 0

    def reset(self) -> bytes:
        self.next_sequence = 0
        return reset_sequence_message().encode()

    def command(self, command: Command) -> tuple[int, bytes]:
        sequence = self.next_sequence
        self.next_sequence = (sequence + 1) & MAX_SEQUENCE
        kind = (
            PayloadType.VISCA_INQUIRY
            if isinstance(command, PositionInquiry)
            else PayloadType.VISCA_COMMAND
        )
        return sequence, IpMessage(kind, sequence, encode_command(command, 1)).encode()

    def receive_datagram(self, data: bytes, *, position: bool = False) -> IpEvent:
        message = parse_datagram(data)
        if message.payload_type is PayloadType.CONTROL_REPLY:
            match tuple(message.payload):
                case (ControlCode.RESET,):
                    return ControlAck(message.sequence)
                case (ControlCode.ERROR, code) if code in set(ControlErrorCode):
                    return ControlError(message.sequence, ControlErrorCode(code))
            raise ViscaRemoteError(f"control reply {message.payload.hex()} is not known")
        if message.payload_type is not PayloadType.VISCA_REPLY:
            raise ViscaRemoteError(f"a camera sent a {message.payload_type.name} datagram")
        return IpReply(message.sequence, parse_reply(message.payload, position=position))


@dataclass(frozen=True)
class IpCommand:
    """A controller's datagram as the camera reads it."""

    sequence: int
    command: Command | None  # None: a control command (the sequence reset)


def parse_controller_datagram(data: bytes) -> IpCommand:
    """A datagram from a controller, as a camera reads it (the simulated camera)."""
    message = parse_datagram(data)
    if message.payload_type is PayloadType.CONTROL_COMMAND:
        if message.payload == bytes((ControlCode.RESET,)):
            return IpCommand(message.sequence, None)
        raise ViscaRemoteError(f"control command {message.payload.hex()} is not known")
    if message.payload_type not in (PayloadType.VISCA_COMMAND, PayloadType.VISCA_INQUIRY):
        raise ViscaRemoteError(f"a controller sent a {message.payload_type.name} datagram")
    _, command = parse_command(message.payload)
    return IpCommand(message.sequence, command)


def reply_datagram(sequence: int, reply: Reply) -> bytes:
    return IpMessage(PayloadType.VISCA_REPLY, sequence, encode_reply(reply)).encode()
