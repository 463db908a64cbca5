"""MQTT 3.1.1 control packets, as a sans-IO codec for the controller's client.

`protocols.mqtt` says what the hall's topics and payloads are; this module says how they
travel: the fixed header, the remaining length and the packets a client exchanges with its
broker (OASIS MQTT Version 3.1.1, 2014; section numbers below are that standard's).

- `encode(packet) -> bytes` turns one packet into its bytes;
- `PacketReader` is fed bytes as they arrive (`receive_data`) and returns whole packets
  (`next_packet`, None while it needs more);
- `ClientConnection` is the client's side of one network connection in h11's shape: the
  packets it may send become bytes (`send`), the bytes it receives become the server's
  packets (`receive_data`, `next_event`), and it hands out packet identifiers for QoS 1
  publications and subscriptions and forgets them at their acknowledgement.

Two kinds of error, as in h11: `PacketError` when the peer sent something the standard
forbids (a reserved flag, a bad length, ill-formed UTF-8, a packet a server never sends);
after it the stream cannot be trusted and the connection must close (MQTT has no resync,
4.8). `PacketUsageError` when the caller asked for something impossible (a topic with a
wildcard, a packet identifier out of range, a packet this side may not send). Decoding never
raises anything else.

QoS 2 is not spoken here: the contract's channels use QoS 0 and 1 only, and the controller
subscribes at QoS 1 at most, so a broker never sends it a QoS 2 flow.

This module never opens a socket, starts a task or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

# The largest remaining length the standard can encode (2.2.3): four bytes of 7 bits.
MAX_REMAINING_LENGTH = 268_435_455
# The largest packet a reader takes by default: the contract's payloads are small, and a
# broker that sends more than this is not the hall's.
DEFAULT_MAX_PACKET = 1 << 20
PROTOCOL_NAME = b"MQTT"
PROTOCOL_LEVEL = 4  # 3.1.2.2: 3.1.1


class PacketType(IntEnum):
    """Control packet types, the fixed header's high nibble (2.2.1, table 2.1)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ConnectReturn(IntEnum):
    """CONNACK return codes (3.2.2.3, table 3.1)."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_CREDENTIALS = 4
    NOT_AUTHORIZED = 5


# SUBACK's return code for a refused subscription (3.9.3).
SUBSCRIBE_FAILURE = 0x80


class PacketErrorReason(StrEnum):
    """Why the peer's bytes were refused."""

    BAD_FLAGS = "bad-flags"
    BAD_LENGTH = "bad-length"
    TOO_LARGE = "too-large"
    BAD_UTF8 = "bad-utf8"
    BAD_FIELD = "bad-field"
    UNSUPPORTED = "unsupported"
    OUT_OF_ORDER = "out-of-order"


class PacketError(Exception):
    """The peer sent bytes the standard forbids; the connection must close."""

    def __init__(self, reason: PacketErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class PacketUsageError(ValueError):
    """The caller asked for a packet that cannot be sent."""


# --- packets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Will:
    """The last will a CONNECT carries (3.1.2.5-3.1.2.7, 3.1.3.2-3.1.3.3)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Connect:
    """CONNECT (3.1). The client's first packet."""

    client_id: str
    keepalive: int
    clean_session: bool
    username: str | None = None
    password: str | None = None
    will: Will | None = None


@dataclass(frozen=True, slots=True)
class ConnAck:
    """CONNACK (3.2): the server's answer to CONNECT, always its first packet."""

    session_present: bool
    code: int


@dataclass(frozen=True, slots=True)
class Publish:
    """PUBLISH (3.3). `packet_id` is None at QoS 0 and set at QoS 1 and 2 (2.3.1)."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass(frozen=True, slots=True)
class PubAck:
    """PUBACK (3.4): a QoS 1 publication is the receiver's now."""

    packet_id: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE (3.8): topic filters with the highest QoS wanted for each."""

    packet_id: int
    filters: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class SubAck:
    """SUBACK (3.9): per filter, the QoS granted or `SUBSCRIBE_FAILURE`."""

    packet_id: int
    codes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PingReq:
    """PINGREQ (3.12)."""


@dataclass(frozen=True, slots=True)
class PingResp:
    """PINGRESP (3.13)."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """DISCONNECT (3.14): the client leaves cleanly, and its will is dropped."""


Packet = Connect | ConnAck | Publish | PubAck | Subscribe | SubAck | PingReq | PingResp | Disconnect


# --- encoding ---------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    """The remaining length (2.2.3): 7 bits a byte, low first, high bit for 'more'."""
    if n < 128:
        return bytes((n,))
    if n > MAX_REMAINING_LENGTH:
        raise PacketUsageError(f"a packet of {n} bytes is beyond MQTT's largest")
    out = bytearray()
    while True:
        digit = n & 0x7F
        n >>= 7
        if n:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def _string(text: str, what: str) -> bytes:
    """A UTF-8 string with its two-byte length (1.5.3); no NUL, no surrogates."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PacketUsageError(f"{what} is not encodable as UTF-8") from exc
    if len(data) > 0xFFFF:
        raise PacketUsageError(f"{what} is longer than 65,535 bytes")
    if "\x00" in text:
        raise PacketUsageError(f"{what} contains U+0000 (1.5.3)")
    return len(data).to_bytes(2, "big") + data


def _binary(data: bytes, what: str) -> bytes:
    if len(data) > 0xFFFF:
        raise PacketUsageError(f"{what} is longer than 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def _check_id(packet_id: int | None) -> int:
    if type(packet_id) is not int or not 1 <= packet_id <= 0xFFFF:
        raise PacketUsageError(f"packet identifier {packet_id!r} is not 1..65535 (2.3.1)")
    return packet_id


def _check_qos(qos: int, most: int = 2) -> int:
    if type(qos) is not int or not 0 <= qos <= most:
        raise PacketUsageError(f"QoS {qos!r} is not 0..{most}")
    return qos


def _check_topic(topic: str) -> None:
    if not topic:
        raise PacketUsageError("a topic name has at least one character (4.7.3)")
    if "+" in topic or "#" in topic:
        raise PacketUsageError(f"topic name {topic!r} contains a wildcard (3.3.2.1)")


def encode(packet: Packet) -> bytes:
    """The bytes of one packet. Raises `PacketUsageError` for one that cannot be sent."""
    match packet:
        case Publish():
            return _encode_publish(packet)
        case PubAck(packet_id=packet_id):
            return b"\x40\x02" + _check_id(packet_id).to_bytes(2, "big")
        case Connect():
            return _encode_connect(packet)
        case ConnAck(session_present=present, code=code):
            if type(code) is not int or not 0 <= code <= 0xFF:
                raise PacketUsageError(f"CONNACK code {code!r} is not a byte")
            return bytes((0x20, 2, 1 if present else 0, code))
        case Subscribe(packet_id=packet_id, filters=filters):
            if not filters:
                raise PacketUsageError("a SUBSCRIBE names at least one filter (3.8.3)")
            parts = [_check_id(packet_id).to_bytes(2, "big")]
            for topic_filter, qos in filters:
                if not topic_filter:
                    raise PacketUsageError("a topic filter has at least one character (4.7.3)")
                parts += (_string(topic_filter, "topic filter"), bytes((_check_qos(qos),)))
            body = b"".join(parts)
            return b"\x82" + _length(len(body)) + body
        case SubAck(packet_id=packet_id, codes=codes):
            if not codes:
                raise PacketUsageError("a SUBACK answers at least one filter (3.9.3)")
            for code in codes:
                if code not in (0, 1, 2, SUBSCRIBE_FAILURE):
                    raise PacketUsageError(f"SUBACK code {code!r} is not 0, 1, 2 or 0x80")
            body = _check_id(packet_id).to_bytes(2, "big") + bytes(codes)
            return b"\x90" + _length(len(body)) + body
        case PingReq():
            return b"\xc0\x00"
        case PingResp():
            return b"\xd0\x00"
        case Disconnect():
            return b"\xe0\x00"
    raise PacketUsageError(f"{packet!r} is not an MQTT packet")


def _encode_publish(packet: Publish) -> bytes:
    _check_topic(packet.topic)
    qos = _check_qos(packet.qos)
    flags = (0x08 if packet.dup else 0) | (qos << 1) | (1 if packet.retain else 0)
    body = _string(packet.topic, "topic name")
    if qos:
        body += _check_id(packet.packet_id).to_bytes(2, "big")
    elif packet.packet_id is not None:
        raise PacketUsageError("a QoS 0 PUBLISH has no packet identifier (2.3.1)")
    elif packet.dup:
        raise PacketUsageError("a QoS 0 PUBLISH is never a DUP (3.3.1.1)")
    payload = bytes(packet.payload)
    return bytes((0x30 | flags,)) + _length(len(body) + len(payload)) + body + payload


def _encode_connect(packet: Connect) -> bytes:
    if type(packet.keepalive) is not int or not 0 <= packet.keepalive <= 0xFFFF:
        raise PacketUsageError(f"keepalive {packet.keepalive!r} is not 0..65535 s (3.1.2.10)")
    if packet.password is not None and packet.username is None:
        raise PacketUsageError("a password needs a user name (3.1.2.9)")
    if not packet.client_id and not packet.clean_session:
        raise PacketUsageError("an empty client id needs a clean session (3.1.3.1)")
    flags = 0x02 if packet.clean_session else 0
    payload = _string(packet.client_id, "client id")
    if packet.will is not None:
        will = packet.will
        _check_topic(will.topic)
        flags |= 0x04 | (_check_qos(will.qos) << 3) | (0x20 if will.retain else 0)
        payload += _string(will.topic, "will topic") + _binary(will.payload, "will payload")
    if packet.username is not None:
        flags |= 0x80
        payload += _string(packet.username, "user name")
    if packet.password is not None:
        flags |= 0x40
        payload += _binary(packet.password.encode("utf-8"), "password")
    header = (
        _string("MQTT", "protocol name")
        + bytes((PROTOCOL_LEVEL, flags))
        + packet.keepalive.to_bytes(2, "big")
    )
    body = header + payload
    return b"\x10" + _length(len(body)) + body


# --- decoding ---------------------------------------------------------------------------------


class _Fields:
    """A cursor over one packet's body; running off its end is the peer's error."""

    __slots__ = ("at", "data", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.at = 0
        self.what = what

    def take(self, n: int) -> bytes:
        end = self.at + n
        if end > len(self.data):
            raise PacketError(PacketErrorReason.BAD_LENGTH, f"{self.what} ends inside a field")
        chunk = self.data[self.at : end]
        self.at = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self, field: str) -> str:
        return _text(self.binary(), f"{self.what} {field}")

    def rest(self) -> bytes:
        chunk = self.data[self.at :]
        self.at = len(self.data)
        return chunk

    def done(self) -> None:
        if self.at != len(self.data):
            raise PacketError(
                PacketErrorReason.BAD_LENGTH,
                f"{self.what} has {len(self.data) - self.at} bytes after its last field",
            )


def _text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PacketError(PacketErrorReason.BAD_UTF8, f"{what} is not UTF-8 (1.5.3)") from None
    if "\x00" in text:
        raise PacketError(PacketErrorReason.BAD_UTF8, f"{what} contains U+0000 (1.5.3)")
    return text


def _flags(first: int, want: int, name: str) -> None:
    if first & 0x0F != want:
        raise PacketError(
            PacketErrorReason.BAD_FLAGS,
            f"{name} has header flags {first & 0x0F:#x}, not {want:#x} (2.2.2)",
        )


def _packet_id(fields: _Fields) -> int:
    packet_id = fields.u16()
    if packet_id == 0:
        raise PacketError(PacketErrorReason.BAD_FIELD, f"{fields.what} has packet id 0 (2.3.1)")
    return packet_id


def decode(first: int, body: bytes) -> Packet:
    """One packet from its first byte and its body (the bytes after the remaining length)."""
    kind = first >> 4
    if kind == PacketType.PUBLISH:
        return _decode_publish(first, body)
    if kind == PacketType.PUBACK:
        _flags(first, 0, "PUBACK")
        if len(body) != 2:
            raise PacketError(PacketErrorReason.BAD_LENGTH, "PUBACK's body is not 2 bytes")
        return PubAck(_packet_id(_Fields(body, "PUBACK")))
    if kind == PacketType.CONNACK:
        _flags(first, 0, "CONNACK")
        if len(body) != 2:
            raise PacketError(PacketErrorReason.BAD_LENGTH, "CONNACK's body is not 2 bytes")
        if body[0] & 0xFE:
            raise PacketError(PacketErrorReason.BAD_FLAGS, "CONNACK's reserved bits are set")
        if body[0] and body[1]:
            raise PacketError(
                PacketErrorReason.BAD_FIELD, "a refusing CONNACK names a session (3.2.2.2)"
            )
        return ConnAck(bool(body[0]), body[1])
    if kind == PacketType.SUBACK:
        _flags(first, 0, "SUBACK")
        fields = _Fields(body, "SUBACK")
        packet_id = _packet_id(fields)
        codes = tuple(fields.rest())
        if not codes:
            raise PacketError(PacketErrorReason.BAD_LENGTH, "SUBACK answers no filter")
        for code in codes:
            if code not in (0, 1, 2, SUBSCRIBE_FAILURE):
                raise PacketError(
                    PacketErrorReason.BAD_FIELD, f"SUBACK code {code:#x} is reserved (3.9.3)"
                )
        return SubAck(packet_id, codes)
    if kind in (PacketType.PINGREQ, PacketType.PINGRESP, PacketType.DISCONNECT):
        name = PacketType(kind).name
        _flags(first, 0, name)
        if body:
            raise PacketError(PacketErrorReason.BAD_LENGTH, f"{name} has a body")
        if kind == PacketType.PINGREQ:
            return PingReq()
        return PingResp() if kind == PacketType.PINGRESP else Disconnect()
    if kind == PacketType.SUBSCRIBE:
        _flags(first, 2, "SUBSCRIBE")
        fields = _Fields(body, "SUBSCRIBE")
        packet_id = _packet_id(fields)
        filters = []
        while fields.at < len(body):
            topic_filter = fields.string("topic filter")
            qos = fields.u8()
            if qos > 2:
                raise PacketError(PacketErrorReason.BAD_FIELD, f"SUBSCRIBE asks QoS {qos}")
            if not topic_filter:
                raise PacketError(PacketErrorReason.BAD_FIELD, "SUBSCRIBE has an empty filter")
            filters.append((topic_filter, qos))
        if not filters:
            raise PacketError(PacketErrorReason.BAD_LENGTH, "SUBSCRIBE names no filter")
        return Subscribe(packet_id, tuple(filters))
    if kind == PacketType.CONNECT:
        _flags(first, 0, "CONNECT")
        return _decode_connect(body)
    if kind == 0 or kind == 15:
        raise PacketError(PacketErrorReason.BAD_FLAGS, f"packet type {kind} is reserved (2.2.1)")
    raise PacketError(
        PacketErrorReason.UNSUPPORTED, f"{PacketType(kind).name} is not spoken by this client"
    )


def _decode_publish(first: int, body: bytes) -> Publish:
    qos = (first >> 1) & 3
    if qos == 3:
        raise PacketError(PacketErrorReason.BAD_FLAGS, "PUBLISH with QoS 3 (3.3.1.2)")
    dup = bool(first & 0x08)
    if dup and not qos:
        raise PacketError(PacketErrorReason.BAD_FLAGS, "a QoS 0 PUBLISH marked DUP (3.3.1.1)")
    if len(body) < 2:
        raise PacketError(PacketErrorReason.BAD_LENGTH, "PUBLISH ends inside its topic")
    size = (body[0] << 8) | body[1]
    end = 2 + size
    packet_id = None
    if qos:
        if len(body) < end + 2:
            raise PacketError(PacketErrorReason.BAD_LENGTH, "PUBLISH ends before its packet id")
        packet_id = (body[end] << 8) | body[end + 1]
        if not packet_id:
            raise PacketError(PacketErrorReason.BAD_FIELD, "PUBLISH has packet id 0 (2.3.1)")
        start = end + 2
    elif len(body) < end:
        raise PacketError(PacketErrorReason.BAD_LENGTH, "PUBLISH ends inside its topic")
    else:
        start = end
    raw = body[2:end]
    if raw.isascii():
        topic = raw.decode("ascii")
        if "\x00" in topic:
            raise PacketError(PacketErrorReason.BAD_UTF8, "PUBLISH topic contains U+0000")
    else:
        topic = _text(raw, "PUBLISH topic")
    if not topic or "+" in topic or "#" in topic:
        raise PacketError(
            PacketErrorReason.BAD_FIELD, f"PUBLISH topic {topic!r} is empty or a filter (3.3.2.1)"
        )
    return Publish(topic, body[start:], qos, bool(first & 1), dup, packet_id)


def _decode_connect(body: bytes) -> Connect:
    fields = _Fields(body, "CONNECT")
    if fields.binary() != PROTOCOL_NAME:
        raise PacketError(PacketErrorReason.BAD_FIELD, "CONNECT names another protocol")
    if fields.u8() != PROTOCOL_LEVEL:
        raise PacketError(PacketErrorReason.UNSUPPORTED, "CONNECT asks another protocol level")
    flags = fields.u8()
    if flags & 0x01:
        raise PacketError(PacketErrorReason.BAD_FLAGS, "CONNECT's reserved flag is set")
    keepalive = fields.u16()
    client_id = fields.string("client id")
    will = None
    will_qos = (flags >> 3) & 3
    if flags & 0x04:
        if will_qos == 3:
            raise PacketError(PacketErrorReason.BAD_FLAGS, "CONNECT's will has QoS 3")
        topic = fields.string("will topic")
        will = Will(topic, fields.binary(), will_qos, bool(flags & 0x20))
    elif will_qos or flags & 0x20:
        raise PacketError(PacketErrorReason.BAD_FLAGS, "CONNECT sets will flags without a will")
    username = fields.string("user name") if flags & 0x80 else None
    password = None
    if flags & 0x40:
        if username is None:
            raise PacketError(PacketErrorReason.BAD_FLAGS, "CONNECT has a password, no user")
        password = _text(fields.binary(), "CONNECT password")
    fields.done()
    return Connect(client_id, keepalive, bool(flags & 0x02), username, password, will)


class PacketReader:
    """Whole packets out of a byte stream. `next_packet` returns None until one is complete;
    after a `PacketError` every later call raises it again (the stream is lost)."""

    __slots__ = ("_buffer", "_error", "_max")

    def __init__(self, max_packet: int = DEFAULT_MAX_PACKET) -> None:
        self._buffer = bytearray()
        self._max = max_packet
        self._error: PacketError | None = None

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_packet(self) -> Packet | None:
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        size = len(buffer)
        if size < 2:
            return None
        length = 0
        shift = 0
        at = 1
        while True:
            if at >= size:
                return None
            byte = buffer[at]
            length |= (byte & 0x7F) << shift
            at += 1
            if not byte & 0x80:
                break
            shift += 7
            if at == 5:
                raise self._fail(
                    PacketError(
                        PacketErrorReason.BAD_LENGTH, "remaining length over 4 bytes (2.2.3)"
                    )
                )
        if length + at > self._max:
            raise self._fail(
                PacketError(
                    PacketErrorReason.TOO_LARGE,
                    f"a packet of {length + at} bytes, over the {self._max} taken",
                )
            )
        end = at + length
        if size < end:
            return None
        first = buffer[0]
        body = bytes(buffer[at:end])
        del buffer[:end]
        try:
            return decode(first, body)
        except PacketError as exc:
            raise self._fail(exc) from None

    def _fail(self, error: PacketError) -> PacketError:
        """Record the stream as lost; the caller raises what this returns."""
        self._error = error
        self._buffer.clear()
        return error


class ClientConnection:
    """The client's side of one network connection: what it may send, what the server may.

    It enforces the order the standard gives (CONNECT first and once, 3.1.0-1, 3.1.0-2; the
    server's CONNACK first and once, 3.2.0-1), refuses packets a server never sends to a
    client, and hands out packet identifiers unused among the packets awaiting an answer
    (2.3.1-2). An acknowledgement of an identifier this side is not waiting for is passed on
    as it is: a broker that resends one is not worth closing the connection for."""

    __slots__ = ("_answered", "_connected", "_next_id", "_reader", "_sent_connect", "_waiting")

    def __init__(self, max_packet: int = DEFAULT_MAX_PACKET) -> None:
        self._reader = PacketReader(max_packet)
        self._connected = False
        self._sent_connect = False
        self._answered = False
        self._next_id = 0
        self._waiting: set[int] = set()

    @property
    def connected(self) -> bool:
        """Whether the server has accepted the connection (CONNACK, return code 0)."""
        return self._connected

    @property
    def waiting(self) -> int:
        """How many of this side's packets still wait for their acknowledgement."""
        return len(self._waiting)

    def new_packet_id(self) -> int:
        """An identifier for a QoS 1 PUBLISH or a SUBSCRIBE, not in use on this connection."""
        if len(self._waiting) >= 0xFFFF:
            raise PacketUsageError("all 65,535 packet identifiers are awaiting answers")
        packet_id = self._next_id
        while True:
            packet_id = packet_id % 0xFFFF + 1
            if packet_id not in self._waiting:
                self._next_id = packet_id
                return packet_id

    def send(self, packet: Packet) -> bytes:
        if isinstance(packet, Publish):
            if not self._sent_connect:
                raise PacketUsageError("CONNECT goes first (3.1.0-1)")
            data = _encode_publish(packet)
            if packet.qos:
                self._wait(packet.packet_id)
            return data
        if isinstance(packet, Connect):
            if self._sent_connect:
                raise PacketUsageError("CONNECT goes once a connection (3.1.0-2)")
            data = _encode_connect(packet)
            self._sent_connect = True
            return data
        if isinstance(packet, ConnAck | SubAck | PingResp):
            raise PacketUsageError(f"a client never sends {type(packet).__name__}")
        if not self._sent_connect:
            raise PacketUsageError("CONNECT goes first (3.1.0-1)")
        data = encode(packet)
        if isinstance(packet, Subscribe):
            self._wait(packet.packet_id)
        return data

    def send_publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> tuple[int, bytes]:
        """A PUBLISH with a fresh identifier at QoS 1 (0 at QoS 0), and its bytes: the
        driver's hot path, without building a `Publish` first."""
        if not self._sent_connect:
            raise PacketUsageError("CONNECT goes first (3.1.0-1)")
        if qos == 0:
            return 0, _encode_publish(Publish(topic, payload, 0, retain))
        if qos != 1:
            raise PacketUsageError(f"QoS {qos!r} is not sent by this client")
        packet_id = self.new_packet_id()
        if not topic or "+" in topic or "#" in topic:
            _check_topic(topic)
        raw = topic.encode("utf-8") if not topic.isascii() else topic.encode("ascii")
        if len(raw) > 0xFFFF or "\x00" in topic:
            _string(topic, "topic name")
        body_len = 4 + len(raw) + len(payload)
        head = bytes((0x33 if retain else 0x32,)) + _length(body_len)
        self._waiting.add(packet_id)
        return packet_id, b"".join(
            (head, len(raw).to_bytes(2, "big"), raw, packet_id.to_bytes(2, "big"), payload)
        )

    def _wait(self, packet_id: int | None) -> None:
        self._waiting.add(_check_id(packet_id))

    def receive_data(self, data: bytes) -> None:
        self._reader.receive_data(data)

    def next_event(self) -> Packet | None:
        """The server's next packet, or None until more bytes arrive."""
        packet = self._reader.next_packet()
        if packet is None:
            return None
        if isinstance(packet, PubAck):
            if not self._connected:
                raise self._out_of_order(packet)
            self._waiting.discard(packet.packet_id)
            return packet
        if isinstance(packet, Publish):
            if not self._connected:
                raise self._out_of_order(packet)
            return packet
        if isinstance(packet, ConnAck):
            if self._answered or not self._sent_connect:
                raise self._out_of_order(packet)
            self._answered = True
            self._connected = packet.code == ConnectReturn.ACCEPTED
            return packet
        if not self._connected:
            raise self._out_of_order(packet)
        if isinstance(packet, SubAck):
            self._waiting.discard(packet.packet_id)
            return packet
        if isinstance(packet, PingResp):
            return packet
        error = PacketError(
            PacketErrorReason.UNSUPPORTED, f"a server does not send {type(packet).__name__}"
        )
        raise self._reader._fail(error)

    def _out_of_order(self, packet: Packet) -> PacketError:
        error = PacketError(
            PacketErrorReason.OUT_OF_ORDER,
            f"{type(packet).__name__} before an accepting CONNACK, or a second CONNACK (3.2.0-1)",
        )
        raise self._reader._fail(error)
