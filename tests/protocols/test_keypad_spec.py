"""Conformance of the keypad codec to its contract, keypad_modbus.yaml and keypad_modbus.md.

Every register of the YAML is handled by the codec, every code matches, every worked
example decodes to what the YAML and the document say, and the document quotes the same
bytes and timing figures the code computes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import ReadInputRegistersRequest

from chamber.firmware_specs import SpecError, load_spec, spec_path
from chamber.protocols import keypad, modbus_timing
from chamber.protocols.keypad import (
    BLOCKS,
    CARD,
    FORGET,
    IDENTITY,
    OUTPUTS,
    STATUS,
    Beep,
    EventCursor,
    ExceptionCode,
    Feature,
    Function,
    Identity,
    Key,
    KeypadExceptionResponse,
    KeypadOutputs,
    KeypadProtocolError,
    KeypadRegisters,
    KeypadStatus,
    Side,
    StatusFlag,
    Table,
    Transport,
    UnitType,
    WriteAck,
    decode_forget,
    decode_frame,
    decode_identity_registers,
    decode_outputs,
    decode_reply,
    decode_status_registers,
    encode_forget,
    encode_frame,
    encode_identity,
    encode_outputs,
    encode_status,
    poll_cycle_wire_time,
    read_identity_request,
    read_status_request,
)

SPEC = load_spec("keypad_modbus.yaml")
DOC = spec_path("keypad_modbus.md").read_text(encoding="utf-8")
EXAMPLES: dict[str, dict[str, Any]] = {e["id"]: e for e in SPEC["examples"]}


def crc16_modbus(data: bytes) -> int:
    """A bitwise CRC-16/MODBUS, written from the definition, apart from pymodbus's table."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def frame_of(example: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(example["frame"]))


def _spaced(frame: bytes) -> str:
    return frame.hex(" ").upper()


# --- the loader --------------------------------------------------------------------------------


def test_loader_finds_and_parses_contracts() -> None:
    assert spec_path("keypad_modbus.yaml").is_file()
    assert SPEC["name"] == "keypad_modbus"
    assert load_spec("keypad_modbus.yaml") is not load_spec("keypad_modbus.yaml")


@pytest.mark.parametrize("name", ["", "../pyproject.toml", "no_such_contract.yaml"])
def test_loader_refuses_bad_names(name: str) -> None:
    with pytest.raises(SpecError):
        load_spec(name)


def test_loader_refuses_unknown_kinds() -> None:
    with pytest.raises(SpecError, match="only"):
        load_spec("keypad_modbus.md")


# --- codes and map ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum_cls", "values"),
    [
        (Key, SPEC["enums"]["key"]["values"]),
        (Beep, SPEC["enums"]["beep"]["values"]),
        (UnitType, SPEC["enums"]["unit_type"]["values"]),
        (Function, {k.upper(): v for k, v in SPEC["functions"].items()}),
        (ExceptionCode, {k.upper(): v for k, v in SPEC["exception_codes"].items()}),
    ],
)
def test_enums_match_the_spec(enum_cls: type[Any], values: dict[str, int]) -> None:
    assert {m.name: int(m) for m in enum_cls} == values


@pytest.mark.parametrize(
    ("flag_cls", "bits"),
    [(StatusFlag, SPEC["bits"]["status_flags"]), (Feature, SPEC["bits"]["features"])],
)
def test_flags_match_the_spec(flag_cls: type[Any], bits: dict[str, Any]) -> None:
    wanted = {k: 1 << v for k, v in bits.items() if k != "section"}
    assert {m.name: int(m) for m in flag_cls} == wanted


def test_enum_docstrings_cite_the_document() -> None:
    for cls in (Key, Beep, UnitType, Function, ExceptionCode, StatusFlag, Feature):
        section = re.search(r"keypad_modbus\.md §(\d+\.\d+)", cls.__doc__ or "")
        assert section, cls.__name__
        assert f"### {section.group(1)} " in DOC, cls.__name__


def test_blocks_are_what_the_document_tables_say() -> None:
    assert (STATUS.start, STATUS.count, STATUS.table) == (0x0000, 12, Table.INPUT)
    assert (CARD.start, CARD.count) == (0x000C, 4)
    assert (IDENTITY.start, IDENTITY.count) == (0x0100, 30)
    assert (OUTPUTS.start, OUTPUTS.count, OUTPUTS.table) == (0x0000, 6, Table.HOLDING)
    assert (FORGET.start, FORGET.count, FORGET.table) == (0x0010, 2, Table.HOLDING)
    assert keypad.FORGET_SINCE == (1, 1) <= keypad.PROTOCOL_VERSION
    assert (keypad.IDENTIFY.start, keypad.IDENTIFY.count) == (0x0018, 1)
    assert keypad.IDENTIFY_SINCE == (1, 2) <= keypad.PROTOCOL_VERSION
    for block in BLOCKS.values():
        for reg in block.registers:
            assert reg.name in DOC, reg.name


def test_poll_and_broadcast_shapes_match_the_map() -> None:
    assert SPEC["poll"]["keypad"]["count"] == keypad.poll_count(card=False)
    assert SPEC["poll"]["keypad_card"]["count"] == keypad.poll_count(card=True)
    names = [r.name for r in OUTPUTS.registers]
    for shape in SPEC["broadcast"].values():
        # A broadcast is a prefix of the output block and never touches PRESENCE_LED.
        assert shape["registers"] == names[: shape["count"]]
        assert "PRESENCE_LED" not in shape["registers"]


def _reference_images() -> dict[str, list[int]]:
    identity = Identity(
        key_count=4,
        maker="Công ty Ví Dụ",
        serial_number="KP-1",
        features=Feature.CARD_READER | Feature.BEEPER,
        firmware_version=(2, 3),
        firmware_patch=4,
    )
    model = KeypadRegisters(identity, boot_count=3)
    model.handle(
        keypad.write_outputs_request(1, KeypadOutputs(locked=False, keys=4, leds=frozenset()), 5)
    )
    model.insert_card(0x1234)
    for key in (1, 2, 3, 4, 1, 2, 3, 4):
        model.press(key)
    return {
        "identity": encode_identity(identity),
        "status": encode_status(model.status(), card=True),
        "outputs": encode_outputs(model.outputs, 5),
        "forget": encode_forget(EventCursor(3, 7)),
        "identify": keypad.encode_identify(7),
        "address": keypad.encode_address(keypad.AddressAssignment("KP-000001", 5)),
        "select": keypad.encode_select(keypad.Selection(16, 0x5A, 7)),
    }


_DECODERS: dict[str, Callable[[list[int]], object]] = {
    "identity": decode_identity_registers,
    "status": decode_status_registers,
    "card": decode_status_registers,
    "outputs": decode_outputs,
    "forget": decode_forget,
    "identify": keypad.decode_identify,
    "address": keypad.decode_address,
    "select": keypad.decode_select,
}


@pytest.mark.parametrize(
    ("block", "register"),
    [(b.name, r.name) for b in BLOCKS.values() for r in b.registers],
)
def test_every_register_is_handled(block: str, register: str) -> None:
    """Changing any register of the spec changes what the codec decodes, or is refused."""
    images = _reference_images()
    image_name = "status" if block == "card" else block
    image = images[image_name]
    base = BLOCKS[image_name].start
    reg = BLOCKS[block].register(register)
    decoder = _DECODERS[block]
    before = decoder(image)
    for word in range(reg.count):
        changed = list(image)
        changed[reg.address - base + word] ^= 0x0001
        try:
            after = decoder(changed)
        except KeypadProtocolError:
            continue
        assert after != before, f"{register} word {word} is ignored"
    if block in ("address", "select"):
        return  # written by broadcast only, never read (§3.8)
    # The unit model serves it at its address, too.
    table = BLOCKS[block].table
    model = KeypadRegisters(
        Identity(key_count=3, maker="m", serial_number="s", features=Feature.CARD_READER)
    )
    assert isinstance(model.read(table, reg.address, reg.count), list)


# --- worked examples --------------------------------------------------------------------------


def test_every_example_is_in_the_document_with_its_bytes() -> None:
    flat_doc = " ".join(DOC.split())
    for example in SPEC["examples"]:
        assert f"`{example['id']}`" in DOC, example["id"]
        assert _spaced(frame_of(example)) in flat_doc, example["id"]


@pytest.mark.parametrize(
    "example_id", [e["id"] for e in SPEC["examples"] if e["transport"] == "rtu"]
)
def test_example_crc_is_right(example_id: str) -> None:
    frame = frame_of(EXAMPLES[example_id])
    assert crc16_modbus(frame[:-2]).to_bytes(2, "little") == frame[-2:]


def _check_outputs(expect: dict[str, Any], pdu: ModbusPDU) -> None:
    regs = list(pdu.registers) + [0] * (OUTPUTS.count - len(pdu.registers))
    tag, outputs = decode_outputs(regs)
    assert tag == expect["tag"]
    assert outputs.locked == expect["locked"]
    if "beep" in expect:
        assert outputs.beep is Beep[expect["beep"]]
    if "keys" in expect:
        assert outputs.keys == expect["keys"]
    if "leds" in expect:
        assert outputs.leds == frozenset(expect["leds"])
    if "presence_led" in expect:
        assert outputs.presence_led == expect["presence_led"]


def _check_request(example: dict[str, Any], pdu: ModbusPDU) -> None:
    expect = example["expect"]
    kind = expect["kind"]
    assert pdu.dev_id == example["unit"]
    if kind == "read_identity":
        assert encode_frame(pdu) == encode_frame(read_identity_request(example["unit"]))
    elif kind == "read_status":
        wanted = read_status_request(example["unit"], card=expect["card"])
        assert (pdu.function_code, pdu.address, pdu.count) == (
            wanted.function_code,
            wanted.address,
            wanted.count,
        )
    elif kind == "write_outputs":
        assert (pdu.function_code, pdu.address, pdu.count) == (0x10, 0, OUTPUTS.count)
        _check_outputs(expect, pdu)
    elif kind == "forget_events":
        assert (pdu.function_code, pdu.address, pdu.count) == (0x10, FORGET.start, FORGET.count)
        assert decode_forget(list(pdu.registers)) == EventCursor(
            expect["boot_count"], expect["event_seq"]
        )
        assert encode_frame(pdu) == encode_frame(
            keypad.forget_events_request(example["unit"], decode_forget(list(pdu.registers)))
        )
    elif kind == "identify":
        assert (pdu.function_code, pdu.address) == (0x06, keypad.IDENTIFY.start)
        assert list(pdu.registers) == [expect["seconds"]]
        assert encode_frame(pdu) == encode_frame(
            keypad.identify_request(example["unit"], expect["seconds"])
        )
    elif kind == "select":
        assert (pdu.function_code, pdu.address) == (0x10, keypad.SELECT.start)
        selection = keypad.Selection(expect["slots"], expect["nonce"], expect["slot"])
        assert keypad.decode_select(list(pdu.registers)) == selection
        assert encode_frame(pdu) == encode_frame(keypad.select_request(selection))
        if "serial_in_slot" in expect:
            serial = expect["serial_in_slot"]
            assert keypad.select_slot(serial, selection.nonce, selection.slots) == selection.slot
            unit = KeypadRegisters(Identity(3, "m", serial))
            other = KeypadRegisters(Identity(3, "m", "KP-000002"))
            assert unit.handle(pdu) is None
            assert other.handle(pdu) is None
            assert not unit.silenced()
            assert other.silenced()
    elif kind == "set_address":
        assert (pdu.function_code, pdu.address) == (0x10, keypad.ADDRESS.start)
        assignment = keypad.decode_address(list(pdu.registers))
        assert assignment == keypad.AddressAssignment(expect["serial"], expect["address"])
        assert encode_frame(pdu) == encode_frame(
            keypad.set_address_request(expect["serial"], expect["address"])
        )
        unit = KeypadRegisters(Identity(3, "m", expect["serial"]))
        other = KeypadRegisters(Identity(3, "m", "KP-000002"))
        assert unit.handle(pdu) is None
        assert other.handle(pdu) is None
        assert (unit.taken_address, other.taken_address) == (expect["address"], None)
    elif kind == "broadcast":
        shape = SPEC["broadcast"][expect["command"]]
        assert (pdu.function_code, pdu.address, pdu.count) == (0x10, 0, shape["count"])
        _check_outputs(expect, pdu)
        assert KeypadRegisters(Identity(3, "m", "s")).handle(pdu) is None
    else:
        pytest.fail(f"unknown request kind {kind}")


def _check_response(example: dict[str, Any], pdu: ModbusPDU) -> None:
    expect = example["expect"]
    kind = expect["kind"]
    if kind == "exception":
        assert pdu.function_code == expect["function"] | 0x80
        assert pdu.exception_code == ExceptionCode[expect["code"].upper()]
        request: ModbusPDU = ReadInputRegistersRequest(
            address=0x200, count=1, dev_id=example["unit"]
        )
        with pytest.raises(KeypadExceptionResponse):
            decode_reply(request, pdu)
        return
    request_example = EXAMPLES[example["request"]]
    request = decode_frame(frame_of(request_example), side=Side.UNIT)
    reply = decode_reply(request, pdu)
    if kind == "identity":
        assert isinstance(reply, Identity)
        assert reply.protocol_version == tuple(expect["protocol_version"])
        assert reply.unit_type is UnitType[expect["unit_type"]]
        assert reply.key_count == expect["key_count"]
        assert reply.features == Feature(sum(Feature[f] for f in expect["features"]))
        assert reply.firmware_version == tuple(expect["firmware_version"])
        assert reply.firmware_patch == expect["firmware_patch"]
        assert reply.maker == expect["maker"]
        assert reply.serial_number == expect["serial_number"]
    elif kind == "status":
        assert isinstance(reply, KeypadStatus)
        assert reply.flags == StatusFlag(sum(StatusFlag[f] for f in expect["flags"]))
        assert reply.boot_count == expect["boot_count"]
        assert reply.seq == expect["event_seq"]
        assert reply.applied_tag == expect["applied_tag"]
        assert reply.card == expect.get("card")
        assert [(e.seq, e.key.name, e.refused) for e in reply.events] == [
            (e["seq"], e["key"], e["refused"]) for e in expect["events"]
        ]
    elif kind == "write_ack":
        assert reply == WriteAck(expect["start"], expect["count"])
    else:
        pytest.fail(f"unknown response kind {kind}")


@pytest.mark.parametrize("example_id", list(EXAMPLES))
def test_example_decodes_to_what_the_spec_says(example_id: str) -> None:
    example = EXAMPLES[example_id]
    transport = Transport(example["transport"])
    is_request = example["direction"] == "request"
    side = Side.UNIT if is_request else Side.CONTROLLER
    frame = frame_of(example)
    pdu = decode_frame(frame, transport, side)
    assert encode_frame(pdu, transport) == frame  # and back, byte for byte
    if transport is Transport.TCP:
        assert pdu.transaction_id == example["transaction_id"]
    if is_request:
        _check_request(example, pdu)
    else:
        _check_response(example, pdu)


def test_example_story_replays_on_the_unit_model() -> None:
    """7.1 to 7.5 are one unit's life: the model produces exactly those reply bytes."""
    identity = Identity(
        key_count=3,
        maker="Công ty Ví Dụ",
        serial_number="KP-24-000123",
        firmware_version=(1, 2),
        firmware_patch=7,
    )
    model = KeypadRegisters(identity, boot_count=42)

    def answer(request_id: str) -> bytes:
        request = decode_frame(frame_of(EXAMPLES[request_id]), side=Side.UNIT)
        reply = model.handle(request)
        assert reply is not None
        return encode_frame(reply)

    assert answer("read-identity-request") == frame_of(EXAMPLES["read-identity-response"])
    assert answer("poll-request") == frame_of(EXAMPLES["poll-response-after-start"])
    assert answer("resync-write-request") == frame_of(EXAMPLES["resync-write-response"])
    model.press_presence()
    model.press(1)
    model.press(2)
    assert answer("poll-request") == frame_of(EXAMPLES["poll-response-three-events"])
    # 7.10: the vote was secret; its close empties the ring, the numbering goes on.
    assert answer("forget-write-request") == frame_of(EXAMPLES["forget-write-response"])
    assert answer("poll-request") == frame_of(EXAMPLES["poll-response-after-forget"])
    model.press(1)
    assert [(e.seq, e.key) for e in model.status().events] == [(4, Key.YES)]


def test_identify_examples_replay_on_the_unit_model() -> None:
    """7.11: a 1.2 unit echoes the write and blinks; a 1.1 unit has no such register."""
    request = decode_frame(frame_of(EXAMPLES["identify-write-request"]), side=Side.UNIT)
    current = KeypadRegisters(Identity(3, "m", "s"))
    reply = current.handle(request)
    assert reply is not None
    assert encode_frame(reply) == frame_of(EXAMPLES["identify-write-response"])
    assert current.identified == [10]
    assert current.identify_s == 10
    older = KeypadRegisters(Identity(3, "m", "s", protocol_version=(1, 1)))
    reply = older.handle(request)
    assert reply is not None
    assert encode_frame(reply) == frame_of(EXAMPLES["identify-refused-by-1.1"])
    assert older.identified == []
    assert older.identify_s is None


# --- timing -----------------------------------------------------------------------------------


def test_timing_constants_agree() -> None:
    timing = SPEC["timing"]
    assert timing["t35_fixed_s"] == modbus_timing.T35_FIXED_S
    assert timing["t15_fixed_s"] == modbus_timing.T15_FIXED_S
    assert timing["fixed_above_baud"] == modbus_timing.FIXED_ABOVE_BAUD
    assert SPEC["line"]["bits_per_char"] == modbus_timing.BITS_PER_CHAR


def test_document_quotes_the_computed_poll_cycle() -> None:
    turnaround = SPEC["timing"]["unit_turnaround_typical_s"]
    per_unit_ms = poll_cycle_wire_time(1, 115200, turnaround) * 1000
    assert f"**{per_unit_ms:.3f} ms**" in DOC
    assert f"**{poll_cycle_wire_time(32, 115200, turnaround) * 1000:.1f} ms**" in DOC
    card_ms = poll_cycle_wire_time(32, 115200, turnaround, card=True) * 1000
    assert f"{card_ms:.1f} ms for 32" in DOC
    for baud in (38400, 19200, 9600):
        assert f"{baud} → {poll_cycle_wire_time(32, baud, turnaround) * 1000:.1f} ms" in DOC
    for baud in SPEC["line"]["baud_rates"]:
        t35_ms = keypad.t35(baud) * 1000
        assert f"| {baud} |" in DOC
        assert f"{t35_ms:.3f} ms" in DOC
    timeout_ms = keypad.response_timeout(115200, keypad.read_response_bytes(12)) * 1000
    assert f"**{timeout_ms:.1f} ms at" in DOC
