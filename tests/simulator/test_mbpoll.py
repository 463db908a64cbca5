"""An independent Modbus master (mbpoll, on libmodbus) reads a simulated keypad.

The expected values are taken from the contract's YAML by hand here, not through the
keypad codec, so that a mistake shared by the codec and the simulator would still show.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from chamber.firmware_specs import load_spec
from chamber.simulator.hall import SimulatedHall
from tests.simulator.conftest import small_hall

SPEC = load_spec("keypad_modbus.yaml")
_VALUE = re.compile(r"^\[(\d+)\]:\s+(-?\d+)$", re.MULTILINE)


async def _mbpoll(device: str, unit: int, start: int, count: int) -> dict[int, int]:
    """Read `count` input registers from PDU address `start` once; {address: value}."""
    if shutil.which("mbpoll") is None:
        pytest.fail("mbpoll is not installed (Debian package: mbpoll)")
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "rtu", "-b", "115200", "-P", "none", "-a", str(unit),
        "-t", "3", "-0", "-r", str(start), "-c", str(count), "-1", device,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    values = {int(a): int(v) & 0xFFFF for a, v in _VALUE.findall(text)}
    assert len(values) == count, text
    return values


def _register(block: str, name: str) -> tuple[int, int]:
    b = SPEC["blocks"][block]
    for reg in b["registers"]:
        if reg["name"] == name:
            return b["start"] + reg["offset"], reg["count"]
    raise KeyError(name)


def _text(values: dict[int, int], start: int, count: int) -> str:
    raw = b"".join(values[a].to_bytes(2, "big") for a in range(start, start + count))
    return raw.rstrip(b"\x00").decode("utf-8")


async def test_mbpoll_reads_identity_and_presence() -> None:
    async with SimulatedHall(small_hall(), wire_time=True, seed=11) as hall:
        device = hall.daemon_config().line("keypads-1").device or ""
        identity = SPEC["blocks"]["identity"]
        size = sum(r["count"] for r in identity["registers"])
        values = await _mbpoll(device, 1, identity["start"], size)

        version = SPEC["protocol_version"]
        at, _ = _register("identity", "PROTOCOL_VERSION")
        assert values[at] == (version["major"] << 8) | version["minor"]
        at, _ = _register("identity", "UNIT_TYPE")
        assert values[at] == SPEC["enums"]["unit_type"]["values"]["KEYPAD"]
        at, _ = _register("identity", "KEY_COUNT")
        assert values[at] == 3
        at, _ = _register("identity", "FEATURES")
        bits = SPEC["bits"]["features"]
        assert values[at] & (1 << bits["PRESENCE_KEY"])
        assert not values[at] & (1 << bits["CARD_READER"])
        at, n = _register("identity", "SERIAL_NUMBER")
        assert _text(values, at, n) == "KP-SIM-00001"
        at, n = _register("identity", "MAKER")
        assert _text(values, at, n) == "chamber simulator"

        status = SPEC["blocks"]["status"]
        flags_at, _ = _register("status", "STATUS_FLAGS")
        seq_at, _ = _register("status", "EVENT_SEQ")
        present_bit = 1 << SPEC["bits"]["status_flags"]["PRESENT"]
        boot_bit = 1 << SPEC["bits"]["status_flags"]["BOOT"]
        before = await _mbpoll(device, 1, status["start"], 12)
        assert not before[flags_at] & present_bit
        assert before[flags_at] & boot_bit
        assert before[seq_at] == 0

        press = hall.set_presence(1, True)
        assert press is not None
        after = await _mbpoll(device, 1, status["start"], 12)
        assert after[flags_at] & present_bit
        assert after[seq_at] == press.seq == 1
        ring_at, _ = _register("status", "EVENT_RING")
        entry = after[ring_at]
        assert entry & 0x7F == SPEC["enums"]["key"]["values"]["PRESENCE_ON"]
        assert entry >> 8 == 1  # the low byte of the event's sequence number
