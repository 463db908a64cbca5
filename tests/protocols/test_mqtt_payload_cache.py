"""Commands of a few states keep their payload by state (`Message.cache_payload`): the payload
kept is the payload made afresh, for every state and seat, and a refused state stays refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.protocols import mqtt as wire

leds = st.builds(
    wire.LedsCommand,
    st.integers(1, 9999),
    st.lists(st.integers(1, 3), max_size=3, unique=True).map(tuple),
    st.none() | st.booleans(),
)
locks = st.builds(wire.LockCommand, st.integers(1, 9999), st.booleans(), st.integers(0, 7))
rings = st.builds(
    wire.RingCommand, st.integers(1, 9999), st.sampled_from(wire.RingState), st.integers(0, 40)
)


@given(st.one_of(leds, locks, rings), st.integers(1, 9999))
def test_a_kept_payload_is_the_payload_made_afresh(
    message: wire.LedsCommand | wire.LockCommand | wire.RingCommand, other_seat: int
) -> None:
    try:
        fresh = message._encode()
    except wire.MqttUsageError:
        with pytest.raises(wire.MqttUsageError):
            message.encode()
        return
    assert message.encode() == fresh
    assert message.encode() == fresh  # the second time from what is kept
    # Another seat in the same state is sent the same payload (the seat is in the topic).
    moved = type(message)(
        other_seat, *(getattr(message, n) for n in wire._payload_names(type(message)))
    )
    assert moved.encode() == fresh


def test_a_message_whose_values_vary_is_not_kept() -> None:
    assert not wire.ConfirmCommand.cache_payload
    before = len(wire._PAYLOADS)
    wire.ConfirmCommand(3, 1, 2).encode()
    assert len(wire._PAYLOADS) == before


def test_a_float_or_a_bool_is_refused_after_the_integer_was_sent() -> None:
    """2.0 == 2 and True == 1 in Python: what is kept must not stand in for them."""
    assert wire.RingCommand(5, wire.RingState.QUEUED, 2).encode()
    with pytest.raises(wire.MqttUsageError, match="position"):
        wire.RingCommand(5, wire.RingState.QUEUED, 2.0).encode()  # type: ignore[arg-type]
    assert wire.LockCommand(5, True, 1).encode()
    with pytest.raises(wire.MqttUsageError):
        wire.LockCommand(5, True, True).encode()  # type: ignore[arg-type]
