"""Tests of the MQTT 3.1.1 packet codec (`protocols.mqtt_packet`).

Every packet round-trips four ways: fed whole, split in two, one byte at a time, and in a
stream of several. MQTT has no resync (a connection that breaks the standard is closed, 4.8),
so garbage in front must end in the codec's typed error or in packets, never in anything
else. Known byte sequences come from the standard's own examples and tables. `fuzz_target`
is the entry point for the separate million-input fuzz runner (`tests/fuzz.py`).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.protocols import mqtt_packet as pk

# --- strategies -------------------------------------------------------------------------------

# UTF-8 text the standard allows in a string: no U+0000, no surrogates (1.5.3).
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
topics = texts.filter(lambda t: bool(t) and "+" not in t and "#" not in t)
packet_ids = st.integers(1, 0xFFFF)
payloads = st.binary(max_size=300)


@st.composite
def publishes(draw: st.DrawFn) -> pk.Publish:
    qos = draw(st.integers(0, 2))
    return pk.Publish(
        draw(topics),
        draw(payloads),
        qos,
        draw(st.booleans()),
        draw(st.booleans()) if qos else False,
        draw(packet_ids) if qos else None,
    )


@st.composite
def connects(draw: st.DrawFn) -> pk.Connect:
    username = draw(st.none() | texts)
    will = draw(
        st.none()
        | st.builds(pk.Will, topics, st.binary(max_size=60), st.integers(0, 2), st.booleans())
    )
    client_id = draw(texts)
    return pk.Connect(
        client_id,
        draw(st.integers(0, 0xFFFF)),
        draw(st.booleans()) if client_id else True,
        username,
        draw(st.none() | texts) if username is not None else None,
        will,
    )


packets: st.SearchStrategy[pk.Packet] = st.one_of(
    publishes(),
    st.builds(pk.PubAck, packet_ids),
    connects(),
    st.builds(pk.ConnAck, st.just(False), st.integers(1, 5))
    | st.builds(pk.ConnAck, st.booleans(), st.just(0)),
    st.builds(
        pk.Subscribe,
        packet_ids,
        st.lists(st.tuples(texts.filter(bool), st.integers(0, 2)), min_size=1, max_size=5).map(
            tuple
        ),
    ),
    st.builds(
        pk.SubAck,
        packet_ids,
        st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=5).map(tuple),
    ),
    st.just(pk.PingReq()),
    st.just(pk.PingResp()),
    st.just(pk.Disconnect()),
)


def read_all(chunks: list[bytes]) -> list[pk.Packet]:
    reader = pk.PacketReader()
    out: list[pk.Packet] = []
    for chunk in chunks:
        reader.receive_data(chunk)
        while (packet := reader.next_packet()) is not None:
            out.append(packet)
    return out


def four_ways(data: bytes, cut: int) -> list[list[pk.Packet]]:
    return [
        read_all([data]),
        read_all([data[:cut], data[cut:]]),
        read_all([data[i : i + 1] for i in range(len(data))]),
        read_all([data + data]),
    ]


# --- round trips ------------------------------------------------------------------------------


@given(packets, st.integers(0, 400))
def test_every_packet_round_trips_four_ways(packet: pk.Packet, cut: int) -> None:
    data = pk.encode(packet)
    whole, split, by_byte, twice = four_ways(data, cut % (len(data) + 1))
    assert whole == split == by_byte == [packet]
    assert twice == [packet, packet]


@given(st.lists(packets, min_size=1, max_size=8), st.data())
def test_a_stream_of_packets_at_any_splits(batch: list[pk.Packet], data: st.DataObject) -> None:
    stream = b"".join(pk.encode(p) for p in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert read_all(chunks) == batch


@given(topics, payloads, st.booleans())
def test_the_fast_publish_is_the_same_bytes_as_the_packet(
    topic: str, payload: bytes, retain: bool
) -> None:
    conn = connected()
    packet_id, data = conn.send_publish(topic, payload, 1, retain)
    assert data == pk.encode(pk.Publish(topic, payload, 1, retain, False, packet_id))
    zero, data0 = conn.send_publish(topic, payload, 0, retain)
    assert zero == 0
    assert data0 == pk.encode(pk.Publish(topic, payload, 0, retain))


# --- the standard's own bytes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [  # 2.2.3, table 2.4: the bounds of each length of the remaining length
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (268_435_455, "ffffff7f"),
    ],
)
def test_remaining_length_table(value: int, encoded: str) -> None:
    assert pk._length(value).hex() == encoded


def test_remaining_length_beyond_the_largest_is_refused() -> None:
    with pytest.raises(pk.PacketUsageError):
        pk._length(268_435_456)


def test_known_packets() -> None:
    # 3.1.2.11: the CONNECT variable header example (protocol name, level 4, flags, keepalive 10)
    connect = pk.encode(pk.Connect("c", 10, True, "u", "p"))
    assert connect.hex() == "101300044d51545404c2000a000163000175000170"
    assert pk.encode(pk.PubAck(1)).hex() == "40020001"
    assert pk.encode(pk.PingReq()).hex() == "c000"
    assert pk.encode(pk.Disconnect()).hex() == "e000"
    # 3.3.2.3: the PUBLISH example: topic "a/b", packet id 10, QoS 1
    assert pk.encode(pk.Publish("a/b", b"", 1, False, False, 10)).hex() == "32070003612f62000a"
    # 3.8.3.1: the SUBSCRIBE payload example: "a/b" QoS 1 and "c/d" QoS 2
    sub = pk.encode(pk.Subscribe(10, (("a/b", 1), ("c/d", 2))))
    assert sub.hex() == "820e000a0003612f62010003632f6402"
    assert read_all([bytes.fromhex("20020100")]) == [pk.ConnAck(True, 0)]
    assert read_all([bytes.fromhex("9005000a000180")]) == [pk.SubAck(10, (0, 1, 0x80))]


# --- the peer's errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("30ffffffff7f", pk.PacketErrorReason.BAD_LENGTH),  # a fifth length byte
        ("3600", pk.PacketErrorReason.BAD_FLAGS),  # QoS 3
        ("38050001610001", pk.PacketErrorReason.BAD_FLAGS),  # DUP at QoS 0
        ("32050001610000", pk.PacketErrorReason.BAD_FIELD),  # packet id 0
        ("30030001ff", pk.PacketErrorReason.BAD_UTF8),  # a topic that is not UTF-8
        ("3003000100", pk.PacketErrorReason.BAD_UTF8),  # U+0000 in a topic
        ("300300012b", pk.PacketErrorReason.BAD_FIELD),  # a wildcard in a topic name
        ("30020005", pk.PacketErrorReason.BAD_LENGTH),  # a topic longer than the packet
        ("410100", pk.PacketErrorReason.BAD_FLAGS),  # PUBACK's reserved flags
        ("4003000100", pk.PacketErrorReason.BAD_LENGTH),  # PUBACK of 3 bytes
        ("20020105", pk.PacketErrorReason.BAD_FIELD),  # a refusal that names a session
        ("20020200", pk.PacketErrorReason.BAD_FLAGS),  # CONNACK's reserved bits
        ("9003000103", pk.PacketErrorReason.BAD_FIELD),  # SUBACK code 3
        ("c00100", pk.PacketErrorReason.BAD_LENGTH),  # PINGREQ with a body
        ("50020001", pk.PacketErrorReason.UNSUPPORTED),  # PUBREC: QoS 2 is not spoken
        ("0000", pk.PacketErrorReason.BAD_FLAGS),  # type 0 is reserved
        ("f000", pk.PacketErrorReason.BAD_FLAGS),  # type 15 is reserved
    ],
)
def test_forbidden_bytes_are_a_typed_error_and_the_stream_is_lost(
    data: str, reason: pk.PacketErrorReason
) -> None:
    reader = pk.PacketReader()
    reader.receive_data(bytes.fromhex(data) + pk.encode(pk.PingResp()))
    with pytest.raises(pk.PacketError) as caught:
        reader.next_packet()
    assert caught.value.reason is reason
    assert caught.value.detail
    # Nothing after it is read: the connection must close (4.8).
    with pytest.raises(pk.PacketError):
        reader.next_packet()


def test_a_packet_over_the_bound_is_refused_at_its_length() -> None:
    reader = pk.PacketReader(max_packet=100)
    reader.receive_data(bytes.fromhex("30e807"))  # 1,000 bytes announced, none sent yet
    with pytest.raises(pk.PacketError) as caught:
        reader.next_packet()
    assert caught.value.reason is pk.PacketErrorReason.TOO_LARGE


@given(st.binary(max_size=600), st.integers(0, 600))
def test_random_bytes_give_packets_or_the_typed_error(data: bytes, cut: int) -> None:
    reader = pk.PacketReader()
    error: pk.PacketError | None = None
    try:
        for chunk in (data[:cut], data[cut:]):
            reader.receive_data(chunk)
            while reader.next_packet() is not None:
                pass
    except pk.PacketError as exc:
        error = exc
    if error is not None:
        assert isinstance(error.reason, pk.PacketErrorReason)
        assert error.detail


@given(st.binary(min_size=1, max_size=40), packets)
def test_garbage_in_front_ends_in_the_typed_error_or_in_packets(
    garbage: bytes, packet: pk.Packet
) -> None:
    reader = pk.PacketReader()
    reader.receive_data(garbage + pk.encode(packet))
    got: list[pk.Packet] = []
    error: pk.PacketError | None = None
    try:
        while (one := reader.next_packet()) is not None:
            got.append(one)
    except pk.PacketError as exc:
        error = exc
    # A refusal, packets, or a length that still waits for its bytes: never anything else.
    assert error is not None or got or reader.buffered > 0
    assert error is None or error.detail


# --- the caller's errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "packet",
    [
        pk.Publish("a/+", b""),
        pk.Publish("a/#", b""),
        pk.Publish("", b""),
        pk.Publish("a\x00b", b""),
        pk.Publish("a", b"", 1),  # QoS 1 with no packet id
        pk.Publish("a", b"", 0, packet_id=3),
        pk.Publish("a", b"", 0, dup=True),
        pk.Publish("a", b"", 3, packet_id=1),
        pk.Publish("a\ud800", b""),
        pk.PubAck(0),
        pk.PubAck(65_536),
        pk.Subscribe(1, ()),
        pk.Subscribe(1, (("a", 3),)),
        pk.SubAck(1, (3,)),
        pk.Connect("", 10, False),
        pk.Connect("c", 70_000, True),
        pk.Connect("c", 10, True, None, "p"),
        pk.ConnAck(False, 256),
    ],
)
def test_a_packet_that_cannot_be_sent_is_a_usage_error(packet: pk.Packet) -> None:
    with pytest.raises(pk.PacketUsageError):
        pk.encode(packet)


# --- the client's connection ------------------------------------------------------------------


def connected() -> pk.ClientConnection:
    conn = pk.ClientConnection()
    conn.send(pk.Connect("c", 10, False))
    conn.receive_data(pk.encode(pk.ConnAck(False, 0)))
    assert conn.next_event() == pk.ConnAck(False, 0)
    assert conn.connected
    return conn


def test_connect_goes_first_and_once() -> None:
    conn = pk.ClientConnection()
    with pytest.raises(pk.PacketUsageError):
        conn.send(pk.PingReq())
    with pytest.raises(pk.PacketUsageError):
        conn.send_publish("a", b"", 1, False)
    conn.send(pk.Connect("c", 10, False))
    with pytest.raises(pk.PacketUsageError):
        conn.send(pk.Connect("c", 10, False))


@pytest.mark.parametrize("packet", [pk.ConnAck(False, 0), pk.SubAck(1, (0,)), pk.PingResp()])
def test_a_client_never_sends_a_servers_packet(packet: pk.Packet) -> None:
    conn = connected()
    with pytest.raises(pk.PacketUsageError):
        conn.send(packet)


@pytest.mark.parametrize(
    "first", [pk.PubAck(1), pk.Publish("a", b"x"), pk.SubAck(1, (0,)), pk.PingResp()]
)
def test_the_servers_first_packet_is_its_connack(first: pk.Packet) -> None:
    conn = pk.ClientConnection()
    conn.send(pk.Connect("c", 10, False))
    conn.receive_data(pk.encode(first))
    with pytest.raises(pk.PacketError) as caught:
        conn.next_event()
    assert caught.value.reason is pk.PacketErrorReason.OUT_OF_ORDER


def test_a_second_connack_even_after_a_refusal_is_out_of_order() -> None:
    conn = pk.ClientConnection()
    conn.send(pk.Connect("c", 10, False))
    conn.receive_data(pk.encode(pk.ConnAck(False, 5)) + pk.encode(pk.ConnAck(False, 0)))
    assert conn.next_event() == pk.ConnAck(False, 5)
    assert not conn.connected
    with pytest.raises(pk.PacketError):
        conn.next_event()


@pytest.mark.parametrize(
    "packet", [pk.Connect("x", 1, True), pk.Subscribe(1, (("a", 0),)), pk.PingReq()]
)
def test_a_packet_a_server_never_sends_closes_the_stream(packet: pk.Packet) -> None:
    conn = connected()
    conn.receive_data(pk.encode(packet))
    with pytest.raises(pk.PacketError) as caught:
        conn.next_event()
    assert caught.value.reason is pk.PacketErrorReason.UNSUPPORTED


def test_packet_ids_skip_the_ones_awaiting_answers_and_come_back_at_their_ack() -> None:
    conn = connected()
    first, _ = conn.send_publish("a", b"", 1, False)
    second, _ = conn.send_publish("a", b"", 1, False)
    assert (first, second) == (1, 2)
    assert conn.waiting == 2
    conn.receive_data(pk.encode(pk.PubAck(1)))
    assert conn.next_event() == pk.PubAck(1)
    assert conn.waiting == 1
    # Round the 16-bit space: 2 is still waiting and is skipped, 1 is free again.
    conn._next_id = 0xFFFF
    assert conn.new_packet_id() == 1
    conn._next_id = 1
    assert conn.new_packet_id() == 3
    sub_id = conn.new_packet_id()
    conn.send(pk.Subscribe(sub_id, (("a/#", 1),)))
    assert conn.waiting == 2
    conn.receive_data(pk.encode(pk.SubAck(sub_id, (1,))))
    assert conn.next_event() == pk.SubAck(sub_id, (1,))
    assert conn.waiting == 1


def test_an_ack_of_an_unknown_id_is_passed_on() -> None:
    conn = connected()
    conn.receive_data(pk.encode(pk.PubAck(77)))
    assert conn.next_event() == pk.PubAck(77)
    assert conn.waiting == 0


def test_every_id_in_use_is_a_usage_error() -> None:
    conn = connected()
    conn._waiting = set(range(1, 0x10000))
    with pytest.raises(pk.PacketUsageError):
        conn.new_packet_id()


# --- the fuzz entry point ---------------------------------------------------------------------


def fuzz_seeds() -> list[bytes]:
    """Valid streams for the fuzzer to mutate: one of each packet the codec speaks."""
    return [
        pk.encode(p)
        for p in (
            pk.Connect("chamber-controller", 10, False, "controller", "pw", None),
            pk.Connect("c", 10, False, "u", "p", pk.Will("h/status", b'{"v":1}', 1, True)),
            pk.ConnAck(True, 0),
            pk.ConnAck(False, 5),
            pk.Publish(
                "chamber/hall/seat/7/vote", b'{"v":1,"boot":3,"seq":9,"key":1}', 1, False, False, 9
            ),
            pk.Publish("chamber/hall/seat/7/cmd/leds", b'{"v":1,"keys":[1]}', 0, True),
            pk.PubAck(9),
            pk.Subscribe(1, (("chamber/hall/seat/+/vote", 1), ("chamber/hall/#", 0))),
            pk.SubAck(1, (1, 0x80)),
            pk.PingReq(),
            pk.PingResp(),
            pk.Disconnect(),
        )
    ]


def fuzz_target(data: bytes) -> None:
    """One fuzz input, fed in two pieces to a reader and to a connected client: whatever
    decodes must re-encode to bytes that decode to the same packet; anything else must be
    the codec's typed error."""
    cut = data[0] % (len(data) + 1) if data else 0
    reader = pk.PacketReader()
    client = connected()
    sides = (
        (reader.receive_data, reader.next_packet),
        (client.receive_data, client.next_event),
    )
    for feed, source in sides:
        got: list[pk.Packet] = []
        try:
            for chunk in (data[:cut], data[cut:]):
                feed(chunk)
                while (packet := source()) is not None:
                    got.append(packet)
        except pk.PacketError as exc:
            if not isinstance(exc.reason, pk.PacketErrorReason) or not exc.detail:
                raise AssertionError(f"untyped error {exc!r}") from exc
        if len(got) > len(data):
            raise AssertionError("more packets than input bytes")
        for packet in got:
            if read_all([pk.encode(packet)]) != [packet]:
                raise AssertionError(f"{packet!r} does not round-trip")


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_fuzz_target_random(data: bytes) -> None:
    fuzz_target(data)


@pytest.mark.parametrize("seed", fuzz_seeds())
def test_fuzz_target_on_every_seed(seed: bytes) -> None:
    fuzz_target(seed)
    assert read_all([seed])
