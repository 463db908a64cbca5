"""CRC helpers shared by the wire codecs.

CRC-16/MODBUS (poly 0x8005 reflected as 0xA001, init 0xFFFF, no final XOR; check value
0x4B37 over b"123456789"). The voting keypads speak Modbus RTU, so every unit maker on a
chamber line already has this routine and its test vector; the microphone-unit framing
reuses it for that reason.

Pure functions over bytes: no I/O, no state, no clock.
"""

from __future__ import annotations

from typing import TypeAlias

BytesLike: TypeAlias = bytes | bytearray | memoryview

CRC16_MODBUS_CHECK = 0x4B37
"""CRC-16/MODBUS of the ASCII bytes b"123456789" (the catalogue check value)."""


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16_modbus(data: BytesLike, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS of `data`; pass a previous result as `crc` to continue over more bytes.

    The result is an integer; on the wire Modbus sends it low byte first
    (`crc.to_bytes(2, "little")`).
    """
    for byte in memoryview(data).cast("B"):
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc16_modbus_bytes(data: BytesLike) -> bytes:
    """The two CRC bytes as they go on the wire after `data`: low byte first."""
    return crc16_modbus(data).to_bytes(2, "little")
