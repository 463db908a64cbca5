"""Wire-time arithmetic of a Modbus RTU line: character time, inter-frame silence, poll cycle.

The numbers a line driver, a benchmark and the unit makers' document must agree on, as plain
functions of the baud rate. Pure arithmetic: no I/O, no clock, no state. Defaults follow
"Modbus over serial line, specification and implementation guide V1.02", section 2.5.1.1:
11-bit characters, t1.5 and t3.5 counted in characters up to 19200 baud and fixed at
0.75 ms and 1.75 ms above it.
"""

from __future__ import annotations

BITS_PER_CHAR = 11
"""Start + 8 data + parity + stop (8E1/8O1), or start + 8 data + 2 stops (8N2)."""

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
