"""Conformance of the mic-unit codec to its contract, mic_unit.yaml and mic_unit.md.

Every command and enum in the YAML is handled by the codec; every worked example decodes to
exactly what the YAML says and encodes back to the same bytes; the Markdown shows the same
hex; and the timing figures of the contract are consistent with the line's speed.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

import pytest
from pymodbus.framer.rtu import FramerRTU

from chamber.firmware_specs import load_spec, spec_path
from chamber.protocols.crc import crc16_modbus
from chamber.protocols.micunit import (
    BUFFER_CAP,
    EVENT_QUEUE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MESSAGE_TYPES,
    SPEC_FILE,
    TIMING,
    Command,
    DiscoverReply,
    FrameError,
    FrameErrorReason,
    LineTiming,
    MicMessage,
    MicStreamDecoder,
    Status,
    StatusEvent,
    discovery_slot,
    encode,
    spec_section,
)

SPEC = load_spec(SPEC_FILE)
DOC = spec_path("mic_unit.md").read_text(encoding="utf-8")
EXAMPLES = SPEC["examples"]


def field_type(cls: type[MicMessage], name: str) -> Any:
    return {f.name: f.type for f in fields(cls)}[name]


def message_from_yaml(desc: dict[str, Any]) -> MicMessage:
    """Build the message an example describes: enum fields by member name, events as
    {seq, kind} mappings, everything else as plain values."""
    cls = MESSAGE_TYPES[Command[desc["type"]]]
    values: dict[str, Any] = {}
    for name, value in desc.items():
        if name == "type":
            continue
        if name == "events":
            values[name] = tuple(
                StatusEvent(e["seq"], _enum_member(StatusEvent, "kind", e["kind"])) for e in value
            )
        elif isinstance(value, str):
            values[name] = _enum_member(cls, name, value)
        else:
            values[name] = value
    return cls(**values)


def _enum_member(cls: type[Any], name: str, member: str) -> Any:
    from chamber.protocols import micunit

    enum_name = field_type(cls, name)
    return getattr(micunit, str(enum_name))[member]


def decode(wire: bytes) -> list[MicMessage | FrameError]:
    decoder = MicStreamDecoder()
    decoder.receive_data(wire)
    return list(decoder.events())


# --- the YAML and the code ----------------------------------------------------------------


def test_every_yaml_command_is_handled() -> None:
    in_yaml = {c["name"]: int(c["code"]) for c in SPEC["commands"]}
    assert in_yaml == {c.name: int(c) for c in Command}
    assert set(MESSAGE_TYPES) == set(Command)
    for raw in SPEC["commands"]:
        assert spec_section(Command[raw["name"]]) == raw["section"]
        assert f"### {raw['section']} " in DOC


def test_yaml_fields_are_message_attributes() -> None:
    for raw in SPEC["commands"]:
        cls = MESSAGE_TYPES[Command[raw["name"]]]
        names = {f.name for f in fields(cls)} - {"address"}
        from_yaml: set[str] = set()
        for spec_field in raw["fields"]:
            if spec_field["type"] == "bits":
                from_yaml |= set(spec_field["bits"])
            else:
                from_yaml.add(spec_field["name"])
        assert from_yaml == names, raw["name"]


def test_directions_follow_the_code_ranges() -> None:
    for raw in SPEC["commands"]:
        master = raw["direction"] == "master"
        assert (int(raw["code"]) < 0x80) == master, raw["name"]


def test_limits_are_consistent() -> None:
    status_max = 5 + 2 * EVENT_QUEUE
    assert status_max <= MAX_PAYLOAD
    assert MAX_FRAME == 3 + MAX_PAYLOAD + 2
    assert 1 + 2 * MAX_FRAME < BUFFER_CAP == SPEC["framing"]["buffer_cap"]
    assert SPEC["framing"]["crc"]["check"] == crc16_modbus(b"123456789") == 0x4B37
    assert "**0x4B37**" in DOC


def test_timing_is_read_from_the_spec_and_fits_the_line() -> None:
    t = SPEC["timing"]
    assert LineTiming.from_spec() == TIMING
    assert t["response_timeout_ms"] / 1000 == TIMING.response_timeout_s
    assert t["retries"] == TIMING.retries
    byte_s = SPEC["line"]["bits_per_byte"] / SPEC["line"]["baud"]
    # The longest STATUS, every byte stuffed, must fit in the response timeout.
    status_wire = 1 + 2 * (3 + 5 + 2 * EVENT_QUEUE + 2)
    turnaround = t["unit_turnaround_max_us"] / 1e6
    assert turnaround + status_wire * byte_s < TIMING.response_timeout_s
    # One DISCOVER_REPLY, every byte stuffed, must fit in a slot.
    reply_wire = 1 + 2 * (3 + 8 + 2)
    assert reply_wire * byte_s < t["discovery_slot_ms"] / 1000
    assert TIMING.heartbeat_interval_s * 2 < t["master_silence_ms"] / 1000


def test_worst_case_frames_stay_within_the_stated_sizes() -> None:
    worst = Status(address=0x7E, events=(StatusEvent(0x7E, Command.POLL),) * EVENT_QUEUE)  # type: ignore[arg-type]
    assert len(encode(worst)) <= 1 + 2 * (3 + 5 + 2 * EVENT_QUEUE + 2)
    reply = DiscoverReply(address=0x7D, serial=0x7E7E7E7E, unit_type=1, fw_major=0x7E)  # type: ignore[arg-type]
    assert len(encode(reply)) <= 1 + 2 * (3 + 8 + 2)


def test_discovery_example_in_the_doc() -> None:
    assert discovery_slot(0x4D430001, 0x5A, 16) == 11
    assert "nonce `0x5A` and 16 slots answers in slot 11" in DOC


# --- worked examples ----------------------------------------------------------------------


def doc_examples() -> dict[str, str]:
    found = re.findall(r"#### E\d+ `([a-z0-9-]+)`\n.*?```text\n([0-9A-F ]+)\n```", DOC, re.S)
    return dict(found)


def test_the_doc_shows_every_example_with_the_same_hex() -> None:
    shown = doc_examples()
    assert list(shown) == [e["name"] for e in EXAMPLES]
    for example in EXAMPLES:
        assert shown[example["name"]] == example["hex"], example["name"]


def test_examples_cover_every_command() -> None:
    covered = {e["message"]["type"] for e in EXAMPLES if "message" in e}
    assert covered == {c.name for c in Command}


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if "message" in e], ids=lambda e: e["name"]
)
def test_example_decodes_and_encodes_exactly(example: dict[str, Any]) -> None:
    wire = bytes.fromhex(example["hex"])
    message = message_from_yaml(example["message"])
    assert decode(wire) == [message]
    assert encode(message) == wire
    # An independent CRC: pymodbus's Modbus RTU framer over the un-stuffed frame.
    body = wire[1:].replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d")
    assert FramerRTU.compute_CRC(body[:-2]).to_bytes(2, "big") == body[-2:]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if "error" in e], ids=lambda e: e["name"])
def test_error_example_decodes_to_its_error(example: dict[str, Any]) -> None:
    events = decode(bytes.fromhex(example["hex"]))
    first = events[0]
    assert isinstance(first, FrameError)
    assert first.reason is FrameErrorReason(example["error"])
    rest = [message_from_yaml(example["then"])] if "then" in example else []
    assert events[1:] == rest
