"""The wire-time model agrees with the keypad contract's own poll arithmetic."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.protocols import keypad
from chamber.simulator.keypads import keypad_wire_time
from chamber.simulator.miclines import mic_wire_time
from chamber.simulator.wire import WireTime


@given(baud=st.sampled_from([9600, 19200, 38400, 57600, 115200, 230400]))
def test_keypad_exchange_matches_the_spec_poll_cycle(baud: int) -> None:
    wire = keypad_wire_time(baud, enabled=True)
    reply = keypad.read_response_bytes(keypad.poll_count(card=False))
    # The contract counts the silence after the reply too (the master's gap before its next
    # request); the simulator delivers the reply when its last byte is in.
    per_unit = wire.exchange_s(keypad.READ_REQUEST_BYTES, reply) + keypad.t35(baud)
    assert per_unit == pytest.approx(keypad.poll_cycle_wire_time(1, baud))
    assert per_unit * 32 == pytest.approx(keypad.poll_cycle_wire_time(32, baud))


def test_figures_at_115200() -> None:
    wire = keypad_wire_time(115200, enabled=True)
    # 8-byte request, 29-byte reply, 11 bits a character: 3.53 ms; + 1.75 ms + 0.5 ms.
    assert wire.exchange_s(8, 29) == pytest.approx(37 * 11 / 115200 + 0.00175 + 0.0005)
    mic = mic_wire_time(115200, enabled=True)
    assert mic.char_s == pytest.approx(10 / 115200)
    assert mic.silence_s == 0


def test_bad_timing_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        WireTime(0, 11, 0.0, 0.0)
    with pytest.raises(ValueError, match="negative"):
        WireTime(9600, 11, -1.0, 0.0)


async def test_wait_until_meets_its_deadline_and_can_be_switched_off() -> None:
    loop = asyncio.get_running_loop()
    on = WireTime(9600, 11, 0.004, 0.0)
    start = loop.time()
    deadline = on.reply_at(start, 8, 29)  # about 46 ms at 9,600 baud
    await on.wait_until(deadline)
    assert loop.time() >= deadline
    assert loop.time() - deadline < 0.05  # scheduling jitter on a shared machine
    off = WireTime(9600, 11, 0.004, 0.0, enabled=False)
    start = loop.time()
    await off.wait_until(off.reply_at(start, 8, 29))
    assert loop.time() - start < 0.05
