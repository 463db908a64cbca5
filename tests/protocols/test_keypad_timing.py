"""A keypad line's character formats and per-request timeouts (keypad_modbus.md §2.1, §6).

The formats are checked at the codec level: a pty (what the suite's lines run on) drops the
parity bit on this kernel, so 8E1 never reaches a wire in the tests. Here a frame is laid out
bit by bit as a UART sends it, and its length on the wire is what the timing arithmetic says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from chamber.firmware_specs import spec_path
from chamber.protocols import keypad as kp
from chamber.protocols import modbus_timing
from chamber.protocols.modbus_timing import CharFormat

E1 = CharFormat("even", 1)
N2 = CharFormat("none", 2)


def uart_bits(frame: bytes, fmt: CharFormat) -> list[int]:
    """The line levels of `frame` as a UART sends it: start 0, data LSB first, parity, stop 1s."""
    bits: list[int] = []
    for byte in frame:
        data = [(byte >> i) & 1 for i in range(fmt.data_bits)]
        bits.append(0)
        bits.extend(data)
        if fmt.parity != "none":
            ones = sum(data)
            bits.append(ones % 2 if fmt.parity == "even" else 1 - ones % 2)
        bits.extend([1] * fmt.stop_bits)
    return bits


def test_the_contract_lists_8e1_and_8n2_of_11_bits() -> None:
    assert kp.LINE_FORMATS == (E1, N2)
    assert kp.DEFAULT_FORMAT == E1
    assert [f.name for f in kp.LINE_FORMATS] == ["8E1", "8N2"]
    assert {f.bits_per_char for f in kp.LINE_FORMATS} == {kp.BITS_PER_CHAR} == {11}
    assert CharFormat("none", 1).bits_per_char == 10  # 8N1: not a keypad format
    assert kp.BAUD_RATES == (9600, 19200, 38400, 115200)


def test_8e1_character_time_and_silence() -> None:
    # §6.1's table: 11-bit characters, t3.5 in characters up to 19200, fixed above.
    assert modbus_timing.char_time(9600, E1.bits_per_char) == pytest.approx(1.146e-3, abs=1e-6)
    assert kp.t35(9600, E1.bits_per_char) == pytest.approx(4.010e-3, abs=1e-6)
    assert kp.t35(19200, E1.bits_per_char) == pytest.approx(2.005e-3, abs=1e-6)
    assert kp.t35(38400, E1.bits_per_char) == 0.00175
    assert kp.t35(115200, E1.bits_per_char) == 0.00175
    # 8N2 has the same character time: a line may use either with the same timing.
    for baud in kp.BAUD_RATES:
        assert kp.t35(baud, N2.bits_per_char) == kp.t35(baud, E1.bits_per_char)
    # Counted with 10-bit characters (8N1), the silence at 9600 would be 10 % short.
    assert kp.t35(9600, 10) < kp.t35(9600, E1.bits_per_char) * 0.95


@given(st.binary(min_size=1, max_size=256), st.sampled_from(kp.LINE_FORMATS))
def test_a_frame_on_the_wire_takes_what_the_arithmetic_says(frame: bytes, fmt: CharFormat) -> None:
    bits = uart_bits(frame, fmt)
    assert len(bits) == len(frame) * fmt.bits_per_char
    for baud in kp.BAUD_RATES:
        assert len(bits) / baud == pytest.approx(
            modbus_timing.frame_time(len(frame), baud, fmt.bits_per_char)
        )
    if fmt.parity == "even":
        # Every character's data and parity bits hold an even number of ones.
        per = fmt.bits_per_char
        for k in range(len(frame)):
            char = bits[k * per : (k + 1) * per]
            assert sum(char[1 : 1 + fmt.data_bits + 1]) % 2 == 0


def test_a_hall_file_names_a_listed_format() -> None:
    assert kp.line_format() == E1
    assert kp.line_format("even") == E1
    assert kp.line_format("none") == N2
    assert kp.line_format("none", 2) == N2
    assert kp.line_format("even", 1) == E1
    with pytest.raises(kp.KeypadUsageError, match=r"no parity 'odd'.*8E1.*8N2"):
        kp.line_format("odd")
    with pytest.raises(kp.KeypadUsageError, match=r"'none' with 1 stop bit;"):
        kp.line_format("none", 1)
    with pytest.raises(kp.KeypadUsageError, match=r"'even' with 2 stop bits"):
        kp.line_format(None, 2)
    with pytest.raises(ValueError, match="parity"):
        CharFormat("mark", 1)
    with pytest.raises(ValueError, match="stop bits"):
        CharFormat("none", 3)
    kp.check_baud(19200)
    with pytest.raises(kp.KeypadUsageError, match="9600, 19200, 38400, 115200 baud, not 57600"):
        kp.check_baud(57600)


def test_each_request_waits_for_its_own_longest_reply() -> None:
    identity = kp.read_identity_request(1)
    poll = kp.read_status_request(1)
    write = kp.write_outputs_request(1, kp.KeypadOutputs(), 1)
    assert kp.longest_reply_bytes(identity) == 65
    assert kp.longest_reply_bytes(poll) == 29
    assert kp.longest_reply_bytes(kp.read_status_request(1, card=True)) == 37
    assert kp.longest_reply_bytes(write) == 8
    assert kp.longest_reply_bytes(kp.identify_request(1, 5)) == 8
    c = 11 / 19200
    # Request, t3.5, 2 ms turnaround at most, the reply, the 10 ms margin.
    assert kp.request_timeout(identity, 19200) == pytest.approx(
        8 * c + 3.5 * c + 0.002 + 65 * c + 0.010
    )
    # The identity read at 19200 and 9600: the figures, 44 ms and 88 ms on the wire,
    # against the single 37-byte-reply timeout of before (35 ms and 58 ms).
    old = {b: kp.response_timeout(b, kp.read_response_bytes(16)) for b in (9600, 19200)}
    for baud in (9600, 19200):
        wire = modbus_timing.frame_time(8 + 65, baud) + kp.t35(baud) + kp.TURNAROUND_TYPICAL_S
        assert old[baud] < wire < kp.request_timeout(identity, baud)
    # The contract's §6.2 figure is counted from the end of the request: the same, less it.
    assert kp.request_timeout(poll, 115200) == pytest.approx(
        kp.response_timeout(115200, 29) + modbus_timing.frame_time(8, 115200)
    )


def test_requests_without_a_reply_have_no_timeout() -> None:
    with pytest.raises(kp.KeypadUsageError, match="broadcast"):
        kp.longest_reply_bytes(kp.broadcast_lock_request(1, locked=True))
    odd = ModbusPDU()
    odd.function_code = 0x2B
    odd.dev_id = 1
    with pytest.raises(kp.KeypadUsageError, match="0x2B"):
        kp.longest_reply_bytes(odd)


_UNIT = st.integers(kp.FIRST_UNIT, kp.LAST_UNIT)
_ADDR = st.integers(0, 0xFF00)
_REQUESTS: st.SearchStrategy[ModbusPDU] = st.one_of(
    st.builds(
        lambda u, a, n: ReadInputRegistersRequest(address=a, count=n, dev_id=u),
        _UNIT,
        _ADDR,
        st.integers(1, 125),
    ),
    st.builds(
        lambda u, a, n: ReadHoldingRegistersRequest(address=a, count=n, dev_id=u),
        _UNIT,
        _ADDR,
        st.integers(1, 125),
    ),
    st.builds(
        lambda u, a, regs: WriteMultipleRegistersRequest(address=a, registers=regs, dev_id=u),
        _UNIT,
        _ADDR,
        st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=123),
    ),
    st.builds(
        lambda u, a, v: WriteSingleRegisterRequest(address=a, registers=[v], dev_id=u),
        _UNIT,
        _ADDR,
        st.integers(0, 0xFFFF),
    ),
)


@given(_REQUESTS, st.sampled_from(kp.BAUD_RATES), st.sampled_from(kp.LINE_FORMATS))
def test_a_timeout_is_never_shorter_than_its_exchange_on_the_wire(
    request: ModbusPDU, baud: int, fmt: CharFormat
) -> None:
    timeout = kp.request_timeout(request, baud, fmt)
    bits = fmt.bits_per_char
    request_s = modbus_timing.frame_time(len(kp.encode_frame(request)), baud, bits)
    reply_s = modbus_timing.frame_time(kp.longest_reply_bytes(request), baud, bits)
    assert timeout > reply_s
    # The whole exchange with the slowest unit the contract allows, and the margin on top.
    slowest = request_s + kp.t35(baud, bits) + kp.TURNAROUND_MAX_S + reply_s
    assert timeout == pytest.approx(slowest + kp.RESPONSE_TIMEOUT_MARGIN_S)
    assert timeout - slowest >= kp.RESPONSE_TIMEOUT_MARGIN_S * 0.999
    # A longer reply never gets less time.
    if isinstance(request, ReadInputRegistersRequest) and request.count < 125:
        longer = ReadInputRegistersRequest(
            address=request.address, count=request.count + 1, dev_id=request.dev_id
        )
        assert kp.request_timeout(longer, baud, fmt) > timeout


def test_the_documents_quote_the_computed_timeouts() -> None:
    """keypad_modbus.md §6.2 and the technician's guide quote these figures: they are the
    functions' own, not copied by hand."""
    contract = spec_path("keypad_modbus.md").read_text(encoding="utf-8")
    guide = (Path(__file__).resolve().parents[2] / "docs" / "technician.md").read_text("utf-8")
    identity = kp.read_identity_request(1)
    poll = kp.read_status_request(1)
    flat = " ".join(contract.split())
    after_request = {
        b: kp.response_timeout(b, kp.longest_reply_bytes(identity)) for b in (9600, 19200)
    }
    assert f"{after_request[19200] * 1000:.1f} ms after the end of the request at 19200" in flat
    assert f"{after_request[9600] * 1000:.1f} ms at 9600" in flat
    wire = {b: modbus_timing.frame_time(8, b) * 1000 for b in (9600, 19200)}
    assert f"{wire[19200]:.1f} ms at 19200, {wire[9600]:.1f} ms at 9600" in flat
    text = " ".join(guide.split())
    ms = {
        (name, b): f"{kp.request_timeout(r, b) * 1000:.1f} ms"
        for name, r in (("identity", identity), ("poll", poll))
        for b in (9600, 19200)
    }
    assert (
        f"waits longest: {ms['identity', 19200]} at 19200 baud and {ms['identity', 9600]} at "
        f"9600, where the poll of a keypad without a card reader waits {ms['poll', 19200]} and "
        f"{ms['poll', 9600]}"
    ) in text
    assert f"(a {kp.longest_reply_bytes(identity)}-byte reply)" in text
