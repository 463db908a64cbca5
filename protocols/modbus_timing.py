"""Wire-time arithmetic of a Modbus RTU line: character time, inter-frame silence, poll cycle.

The numbers a line driver, a benchmark and the unit makers' document must agree on, as plain
functions of the baud rate. Pure arithmetic: no I/O, no clock, no state. Defaults follow
"Modbus over serial line, specification and implementation guide V1.02", section 2.5.1.1:
11-bit characters, t1.5 and t3.5 counted in characters up to 19200 baud and fixed at
0.75 ms and 1.75 ms above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BITS_PER_CHAR = 11
"""Start + 8 data + parity + stop (8E1/8O1), or start + 8 data + 2 stops (8N2)."""

PARITIES: Final = ("none", "even", "odd")


@dataclass(frozen=True)
class CharFormat:
    """One character on a serial line: a start bit, data bits, a parity bit or none, stop bits.

    `parity` is the hall file's word for it ("none", "even", "odd"); `name` the usual short
    form (8E1, 8N2). Which formats a line may use is its contract's business, not this one's.
    """

    parity: str = "even"
    stop_bits: int = 1
    data_bits: int = 8

    def __post_init__(self) -> None:
        if self.parity not in PARITIES:
            raise ValueError(f"parity is one of {', '.join(PARITIES)}, not {self.parity!r}")
        if self.stop_bits not in (1, 2):
            raise ValueError(f"stop bits are 1 or 2, not {self.stop_bits!r}")
        if self.data_bits not in (5, 6, 7, 8):
            raise ValueError(f"data bits are 5 to 8, not {self.data_bits!r}")

    @property
    def bits_per_char(self) -> int:
        """Bits one character occupies on the wire, start bit included."""
        return 1 + self.data_bits + (0 if self.parity == "none" else 1) + self.stop_bits

    @property
    def name(self) -> str:
        return f"{self.data_bits}{self.parity[0].upper()}{self.stop_bits}"


FIXED_ABOVE_BAUD = 19200
T15_FIXED_S = 0.00075
T35_FIXED_S = 0.00175


def _check_baud(baud: int) -> None:
    if baud <= 0:
        raise ValueError(f"baud rate must be positive, not {baud}")


def char_time(baud: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Seconds one character occupies on the line."""
    _check_baud(baud)
    if bits_per_char <= 0:
        raise ValueError(f"bits per character must be positive, not {bits_per_char}")
    return bits_per_char / baud


def t35(
    baud: int,
    bits_per_char: int = BITS_PER_CHAR,
    *,
    fixed_above_baud: int = FIXED_ABOVE_BAUD,
    fixed_s: float = T35_FIXED_S,
) -> float:
    """The silence that ends an RTU frame (and must precede the next one), in seconds."""
    if baud > fixed_above_baud:
        return fixed_s
    return 3.5 * char_time(baud, bits_per_char)


def t15(
    baud: int,
    bits_per_char: int = BITS_PER_CHAR,
    *,
    fixed_above_baud: int = FIXED_ABOVE_BAUD,
    fixed_s: float = T15_FIXED_S,
) -> float:
    """The longest gap allowed between two characters of one RTU frame, in seconds."""
    if baud > fixed_above_baud:
        return fixed_s
    return 1.5 * char_time(baud, bits_per_char)


def frame_time(n_bytes: int, baud: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Seconds an RTU frame of `n_bytes` (address to CRC) takes on the wire."""
    if n_bytes < 0:
        raise ValueError(f"a frame cannot have {n_bytes} bytes")
    return n_bytes * char_time(baud, bits_per_char)


def response_timeout(
    request_bytes: int,
    reply_bytes: int,
    baud: int,
    *,
    turnaround_max_s: float,
    margin_s: float,
    bits_per_char: int = BITS_PER_CHAR,
    fixed_above_baud: int = FIXED_ABOVE_BAUD,
    t35_fixed_s: float = T35_FIXED_S,
) -> float:
    """How long a master waits for a reply, counted from handing the request to the port.

    The request still has to cross the wire; the unit sees its end only after t3.5 of
    silence, may take up to `turnaround_max_s` to start, and its reply then takes its own wire
    time. `margin_s` is for what no wire-time figure shows: the operating system and a
    USB-serial adapter between the master's clock and the line. `reply_bytes` is the longest
    reply this request can get: a shorter one (an exception) arrives sooner.
    """
    if turnaround_max_s < 0 or margin_s < 0:
        raise ValueError("a turnaround or a margin cannot be negative")
    silence = t35(baud, bits_per_char, fixed_above_baud=fixed_above_baud, fixed_s=t35_fixed_s)
    return (
        frame_time(request_bytes, baud, bits_per_char)
        + silence
        + turnaround_max_s
        + frame_time(reply_bytes, baud, bits_per_char)
        + margin_s
    )


def transaction_time(
    request_bytes: int,
    response_bytes: int,
    baud: int,
    turnaround_s: float,
    bits_per_char: int = BITS_PER_CHAR,
) -> float:
    """One request and its reply: both frames, the t3.5 after each, and the unit's turnaround.

    The t3.5 after the request is the unit's only way to see the request has ended; the t3.5
    after the reply is the silence the master must keep before its next frame.
    """
    if turnaround_s < 0:
        raise ValueError(f"a turnaround cannot be negative: {turnaround_s}")
    silence = t35(baud, bits_per_char)
    return (
        frame_time(request_bytes, baud, bits_per_char)
        + silence
        + turnaround_s
        + frame_time(response_bytes, baud, bits_per_char)
        + silence
    )


def poll_cycle_time(
    units: int,
    request_bytes: int,
    response_bytes: int,
    baud: int,
    turnaround_s: float,
    bits_per_char: int = BITS_PER_CHAR,
) -> float:
    """The wire-time floor of reading `units` units once each, one transaction per unit."""
    if units < 0:
        raise ValueError(f"a line cannot have {units} units")
    return units * transaction_time(
        request_bytes, response_bytes, baud, turnaround_s, bits_per_char
    )
