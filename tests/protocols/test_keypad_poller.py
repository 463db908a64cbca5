"""The keypad line's sans-IO transaction timing (protocols.keypad_poller)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.pdu import ModbusPDU

from chamber.protocols import keypad as kp
from chamber.protocols.keypad_poller import (
    Attempt,
    Ending,
    KeypadPoller,
    LineTiming,
    Phase,
    PollerUsageError,
)
from chamber.protocols.modbus_timing import CharFormat

IDENTITY = kp.Identity(key_count=3, maker="chamber test", serial_number="KP-0001")


def _unit_reply(request: ModbusPDU, transport: kp.Transport = kp.Transport.RTU) -> bytes:
    """What a keypad of the simulator's register model answers, on the wire."""
    unit = kp.KeypadRegisters(IDENTITY)
    reply = unit.handle(request)
    assert reply is not None
    reply.dev_id = request.dev_id
    reply.transaction_id = request.transaction_id
    return kp.encode_frame(reply, transport)


def _requests(unit: int) -> list[ModbusPDU]:
    return [
        kp.read_status_request(unit),
        kp.read_identity_request(unit),
        kp.write_outputs_request(unit, kp.KeypadOutputs(leds=frozenset({1})), 1),
    ]


@pytest.mark.parametrize("baud", kp.BAUD_RATES)
@pytest.mark.parametrize("fmt", kp.LINE_FORMATS, ids=lambda f: f.name)
def test_each_request_waits_its_own_timeout_and_the_silence(baud: int, fmt: CharFormat) -> None:
    poller = KeypadPoller(LineTiming.rtu(baud, fmt))
    now = 10.0
    for request in _requests(7):
        poller.start(request, tries=1)
        assert poller.due <= now
        assert poller.frame() == kp.encode_frame(request)
        assert poller.sent(now) is None
        assert poller.deadline == pytest.approx(now + kp.request_timeout(request, baud, fmt))
        reply = _unit_reply(request)
        heard = now + 0.004
        done = poller.received(reply, heard)
        assert done is not None
        assert done.ending is Ending.REPLY
        assert done.final
        assert done.elapsed_s == pytest.approx(0.004)
        assert poller.phase is Phase.IDLE
        # The next frame waits t3.5 after the last byte heard (§6.1).
        assert poller.due == pytest.approx(heard + kp.t35(baud, fmt.bits_per_char))
        now = poller.due


def test_the_identity_read_at_19200_waits_longer_than_its_reply_takes() -> None:
    """Issue 14: one timeout sized for a poll's reply was too short for the identity read."""
    request = kp.read_identity_request(1)
    poller = KeypadPoller(LineTiming.rtu(19200, kp.DEFAULT_FORMAT))
    poller.start(request)
    poller.sent(0.0)
    assert poller.deadline is not None
    wire = len(_unit_reply(request)) * 11 / 19200
    assert poller.deadline > wire + kp.TURNAROUND_MAX_S


def test_a_broadcast_ends_when_written_and_keeps_the_turnaround() -> None:
    poller = KeypadPoller(LineTiming.rtu(115200))
    poller.start(kp.broadcast_lock_request(3, locked=True), tries=3)
    done = poller.sent(1.0)
    assert done == Attempt(Ending.SENT, True)
    assert poller.due == pytest.approx(1.0 + kp.BROADCAST_TURNAROUND_S)


def test_silence_is_retried_then_final_and_damage_is_told_from_silence() -> None:
    poller = KeypadPoller(LineTiming.rtu(115200))
    request = kp.read_status_request(2)
    poller.start(request, tries=3)
    poller.sent(0.0)
    assert poller.deadline is not None
    assert poller.expire(poller.deadline - 1e-6) is None  # not yet
    first = poller.expire(poller.deadline)
    assert first == Attempt(Ending.SILENT, False)
    assert poller.phase is Phase.READY
    poller.sent(1.0)
    poller.received(_unit_reply(request)[:-1] + b"\x00", 1.002)  # a bad CRC
    second = poller.expire(2.0)
    assert second == Attempt(Ending.DAMAGED, False)
    poller.sent(3.0)
    assert poller.expire(4.0) == Attempt(Ending.SILENT, True)
    assert poller.phase.value == "idle"
    with pytest.raises(PollerUsageError):
        poller.frame()


def test_another_units_frame_is_not_the_reply() -> None:
    poller = KeypadPoller(LineTiming.rtu(115200))
    poller.start(kp.read_status_request(2))
    poller.sent(0.0)
    assert poller.received(_unit_reply(kp.read_status_request(3)), 0.001) is None
    done = poller.received(_unit_reply(kp.read_status_request(2)), 0.002)
    assert done is not None
    assert done.ending is Ending.REPLY


def test_over_tcp_the_reply_is_matched_by_its_transaction_id() -> None:
    poller = KeypadPoller(LineTiming.tcp(), kp.Transport.TCP)
    first = kp.read_status_request(4)
    poller.start(first)
    poller.sent(0.0)
    stale = kp.read_status_request(4)
    stale.transaction_id = first.transaction_id + 100
    assert poller.received(_unit_reply(stale, kp.Transport.TCP), 0.01) is None
    done = poller.received(_unit_reply(first, kp.Transport.TCP), 0.02)
    assert done is not None
    assert done.ending is Ending.REPLY
    assert poller.due == pytest.approx(0.02)  # no RTU silence over TCP
    assert poller.deadline is None


def test_out_of_turn_calls_are_usage_errors() -> None:
    poller = KeypadPoller(LineTiming.rtu(9600))
    with pytest.raises(PollerUsageError):
        poller.sent(0.0)
    poller.start(kp.read_status_request(1))
    with pytest.raises(PollerUsageError):
        poller.start(kp.read_status_request(1))
    with pytest.raises(PollerUsageError):
        KeypadPoller(LineTiming.rtu(9600)).start(kp.read_status_request(1), tries=0)


# --- state machine: whatever the line does, every transaction ends -----------------------------

_EVENT = st.one_of(
    st.tuples(st.just("reply"), st.integers(1, 3)),  # a whole reply from unit 1..3
    st.tuples(st.just("garbage"), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("partial"), st.integers(1, 3)),
    st.tuples(st.just("timeout"), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(
    baud=st.sampled_from(kp.BAUD_RATES),
    tcp=st.booleans(),
    plan=st.lists(
        st.tuples(st.integers(0, 2), st.integers(1, 3), st.lists(_EVENT, max_size=8)),
        min_size=1,
        max_size=12,
    ),
    gaps=st.lists(st.floats(0, 0.2), min_size=1, max_size=20),
)
def test_random_replies_timeouts_and_garbage_never_jam_the_poller(
    baud: int,
    tcp: bool,
    plan: list[tuple[int, int, list[tuple[str, object]]]],
    gaps: list[float],
) -> None:
    transport = kp.Transport.TCP if tcp else kp.Transport.RTU
    timing = LineTiming.tcp() if tcp else LineTiming.rtu(baud)
    poller = KeypadPoller(timing, transport)
    now = 0.0
    step = 0
    for kind, tries, events in plan:
        request = [kp.read_status_request, kp.read_identity_request, kp.read_outputs_request][kind](
            2
        )
        poller.start(request, tries)
        attempts = 0
        final: Attempt | None = None
        queue = list(events)
        while final is None:
            assert poller.phase is Phase.READY
            now = max(now, poller.due) + gaps[step % len(gaps)]
            step += 1
            assert poller.sent(now) is None
            attempts += 1
            assert poller.deadline is not None
            sent_at = now
            outcome: Attempt | None = None
            while outcome is None and queue:
                what, arg = queue.pop(0)
                now += 0.0005
                if what == "timeout":
                    now = max(now, poller.deadline)
                    outcome = poller.expire(now)
                    assert outcome is not None
                    continue
                if what == "garbage":
                    assert isinstance(arg, bytes)
                    data = arg
                else:
                    assert isinstance(arg, int)
                    other: ModbusPDU = [kp.read_status_request, kp.read_identity_request][kind % 2](
                        arg
                    )
                    other.transaction_id = request.transaction_id
                    if arg == 2:
                        other = request
                    data = _unit_reply(other, transport)
                    if what == "partial":
                        data = data[: len(data) // 2]
                outcome = poller.received(data, now)
                if outcome is not None:
                    assert outcome.ending is Ending.REPLY
                    assert outcome.reply is not None
                    assert outcome.reply.dev_id == 2
            if outcome is None:
                now = max(now, poller.deadline)
                outcome = poller.expire(now)
                assert outcome is not None
            assert outcome.ending is not Ending.SENT
            assert attempts <= tries
            assert outcome.final == (outcome.ending is Ending.REPLY or attempts == tries)
            if not outcome.final:
                assert poller.due <= now + timing.t35_s + 1e-9
            else:
                final = outcome
            assert now >= sent_at
        assert poller.phase is Phase.IDLE
        assert poller.due <= now + timing.t35_s + 1e-9


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=30), tcp=st.booleans())
def test_random_bytes_at_any_moment_never_raise(chunks: list[bytes], tcp: bool) -> None:
    transport = kp.Transport.TCP if tcp else kp.Transport.RTU
    poller = KeypadPoller(LineTiming.tcp() if tcp else LineTiming.rtu(38400), transport)
    now = 0.0
    for i, chunk in enumerate(chunks):
        now += 0.001
        if poller.phase is Phase.IDLE and i % 3 == 0:
            poller.start(kp.read_status_request(1), tries=2)
        if poller.phase is Phase.READY:
            poller.sent(max(now, poller.due))
        poller.received(chunk, now)
        if i % 5 == 4:
            poller.expire(now + 1.0)
    assert poller.phase in Phase


def fuzz_target(data: bytes) -> None:
    """tests/fuzz.py: the bytes, cut in two, reach a poller awaiting a poll's reply and one
    awaiting an identity read, over RTU and TCP; nothing may escape but a clean outcome."""
    for transport in kp.Transport:
        timing = LineTiming.tcp() if transport is kp.Transport.TCP else LineTiming.rtu(115200)
        for request in (kp.read_status_request(1), kp.read_identity_request(1)):
            poller = KeypadPoller(timing, transport)
            poller.start(request, tries=2)
            poller.sent(0.0)
            cut = len(data) // 2
            for at, part in ((0.001, data[:cut]), (0.002, data[cut:])):
                outcome = poller.received(part, at)
                if outcome is not None:
                    assert outcome.ending is Ending.REPLY
                    assert outcome.reply is not None
                    return
            assert poller.expire(10.0) is not None


def test_the_fuzz_target_takes_the_contracts_examples() -> None:
    from tests.fuzz import seeds

    for seed in seeds("keypad-poller"):
        fuzz_target(seed)
