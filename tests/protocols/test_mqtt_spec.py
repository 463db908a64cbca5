"""The MQTT contract itself: the AsyncAPI document, its JSON Schemas, the guide, and the codec.

The codec reads the contract instead of restating it; these tests check that the two cover the
same ground, that the document is well-formed, and that the guide's worked examples are exactly
what the codec sends and decodes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chamber.controller.core import effects, model
from chamber.controller.core import inputs as core_inputs
from chamber.firmware_specs import load_spec, spec_path
from chamber.protocols import mqtt
from chamber.protocols.mqtt import (
    MESSAGE_TYPES,
    ClientRole,
    MessageKind,
    Qos,
    SeatMessage,
    Topics,
    UnitEvent,
    contract,
    describe,
    render_acl,
    topic_matches,
)

DOCUMENT = load_spec(mqtt.SPEC_FILE)
SPEC_DIR = spec_path(mqtt.SPEC_FILE).parent
GUIDE = (SPEC_DIR / "mqtt.md").read_text(encoding="utf-8")


def _resolve(ref: str) -> Any:
    node: Any = DOCUMENT
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _examples() -> list[tuple[str, dict[str, Any]]]:
    return [
        (message_id, example)
        for message_id, message in DOCUMENT["components"]["messages"].items()
        for example in message.get("examples", [])
    ]


def _hall() -> str:
    (hall,) = DOCUMENT["components"]["parameters"]["hall"]["examples"]
    return str(hall)


# --- the AsyncAPI document ------------------------------------------------------------------


def test_document_is_asyncapi_3_with_its_parts() -> None:
    assert re.fullmatch(r"3\.\d+\.\d+", str(DOCUMENT["asyncapi"]))
    assert DOCUMENT["info"]["title"]
    assert DOCUMENT["info"]["version"]
    for part in ("channels", "operations", "components", "servers"):
        assert DOCUMENT[part], part
    assert {"messages", "parameters", "securitySchemes"} <= set(DOCUMENT["components"])


def test_every_reference_resolves() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOCUMENT)
    assert refs
    for ref in refs:
        if ref.startswith("#/"):
            assert _resolve(ref) is not None, ref
        else:
            assert (SPEC_DIR / ref).is_file(), ref


def test_every_operation_names_a_channel_action_and_mqtt_binding() -> None:
    seen = []
    for operation_id, operation in DOCUMENT["operations"].items():
        assert operation["action"] in ("send", "receive"), operation_id
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        seen.append(channel_id)
        binding = operation["bindings"]["mqtt"]
        assert binding["qos"] in (0, 1, 2)
        assert isinstance(binding["retain"], bool)
        # Written from the controller's side: it receives what units publish, sends the rest.
        from_unit = operation["x-publisher"] == ClientRole.SEAT_UNIT
        assert operation["action"] == ("receive" if from_unit else "send")
        assert operation["description"], f"{operation_id} must say why its QoS and retain"
        for message_ref in operation["messages"]:
            assert message_ref["$ref"].startswith(f"#/channels/{channel_id}/messages/")
    assert sorted(seen) == sorted(DOCUMENT["channels"]), "one operation per channel"


def test_every_address_parameter_is_declared() -> None:
    for channel_id, channel in DOCUMENT["channels"].items():
        named = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert named == set(channel.get("parameters", {})), channel_id
        assert named <= set(DOCUMENT["components"]["parameters"])
        assert channel["address"].startswith("chamber/{hall}/")


def test_every_schema_is_valid_2020_12_and_used() -> None:
    files = sorted(p.name for p in (SPEC_DIR / "schemas").glob("*.json"))
    used = sorted(Path(c.schema_file).name for c in contract().channels.values())
    assert files == used
    for message in DOCUMENT["components"]["messages"].values():
        assert message["payload"]["schemaFormat"] == "application/schema+json;version=2020-12"
    for name in files:
        schema = json.loads((SPEC_DIR / "schemas" / name).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False, name


# --- the codec covers the document ----------------------------------------------------------


def test_every_channel_is_a_message_kind_with_a_type() -> None:
    assert {k.value for k in MessageKind} == set(DOCUMENT["channels"])
    assert set(MESSAGE_TYPES) == set(MessageKind)
    for kind, cls in MESSAGE_TYPES.items():
        assert cls.kind is kind


@pytest.mark.parametrize("kind", list(MessageKind))
def test_message_fields_are_the_schema_properties(kind: MessageKind) -> None:
    channel = contract().channels[kind]
    cls = MESSAGE_TYPES[kind]
    fields = {f.name for f in dataclasses.fields(cls)} - {"seat"}
    assert fields == set(channel.schema["properties"])
    assert issubclass(cls, SeatMessage) is channel.per_seat
    # Key presses carry boot and seq, and nothing else does but the confirmation of them.
    has_seq = "seq" in channel.schema["properties"] and kind is not MessageKind.CMD_CONFIRM
    assert issubclass(cls, UnitEvent) is has_seq
    if has_seq:
        assert channel.qos is Qos.AT_LEAST_ONCE
        assert not channel.retain


def _enum_values(node: Any) -> set[frozenset[str]]:
    """Every `enum` list of strings anywhere in a schema."""
    found: set[frozenset[str]] = set()
    if isinstance(node, dict):
        values = node.get("enum")
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            found.add(frozenset(values))
        for value in node.values():
            found |= _enum_values(value)
    elif isinstance(node, list):
        for value in node:
            found |= _enum_values(value)
    return found


def test_every_enum_field_matches_a_schema_enum() -> None:
    checked = 0
    for kind, cls in MESSAGE_TYPES.items():
        schema_enums = _enum_values(contract().channels[kind].schema)
        records = (cls, mqtt.Speaker, mqtt.Waiting) if kind is MessageKind.WALL_FLOOR else (cls,)
        for record in records:
            hints = typing.get_type_hints(record)
            for field in dataclasses.fields(record):
                hint = hints[field.name]
                for arg in (hint, *typing.get_args(hint)):
                    if isinstance(arg, type) and issubclass(arg, StrEnum):
                        assert frozenset(e.value for e in arg) in schema_enums, (kind, arg)
                        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    ("ours", "core"),
    [
        (mqtt.SpeakerList, model.SpeakerList),
        (mqtt.VoteMode, model.VoteMode),
        (mqtt.MicMode, model.MicMode),
        (mqtt.RingState, effects.RingState),
        (mqtt.BeepPattern, effects.BeepPattern),
    ],
)
def test_enums_speak_the_cores_language(ours: type[StrEnum], core: type[StrEnum]) -> None:
    # The driver maps between the two by value: they must not drift apart.
    assert {e.value for e in ours} == {e.value for e in core}


def test_unit_events_carry_what_the_core_inputs_need() -> None:
    pairs = [
        (mqtt.PresenceKey, core_inputs.PresenceChanged, {"present", "card"}),
        (mqtt.VoteKey, core_inputs.VoteKeyPressed, {"key"}),
        (mqtt.MicRequestKey, core_inputs.MicRequest, {"list"}),
        (mqtt.TalkKey, core_inputs.TalkButton, {"held"}),
        (mqtt.PriorityKey, core_inputs.ChairPriority, {"held"}),
    ]
    for ours, core, shared in pairs:
        ours_fields = {f.name for f in dataclasses.fields(ours)}
        core_fields = {f.name for f in dataclasses.fields(core)}
        assert shared <= ours_fields & core_fields, ours


def test_qos_and_retain_come_from_the_document() -> None:
    topics = Topics(_hall())
    for operation in DOCUMENT["operations"].values():
        kind = MessageKind(operation["channel"]["$ref"].rsplit("/", 1)[-1])
        binding = operation["bindings"]["mqtt"]
        channel = topics.channel(kind)
        assert (channel.qos, channel.retain) == (Qos(binding["qos"]), binding["retain"])
        assert channel.publisher == operation["x-publisher"]


def test_the_rules_the_hall_asked_for() -> None:
    channels = contract().channels
    for kind, channel in channels.items():
        if kind.value.startswith("wall"):
            assert (channel.qos, channel.retain) == (Qos.AT_LEAST_ONCE, True), kind
            assert channel.subscribers == (ClientRole.WALL,)
    assert channels[MessageKind.VOICE_LEVEL].qos is Qos.AT_MOST_ONCE
    for kind in (MessageKind.UNIT_STATUS, MessageKind.CONTROLLER_STATUS):
        channel = channels[kind]
        assert channel.retain
        assert channel.last_will is not None
        assert channel.validator.is_valid(channel.last_will)
    assert [k for k, c in channels.items() if c.last_will is not None] == [
        MessageKind.UNIT_STATUS,
        MessageKind.CONTROLLER_STATUS,
    ]


# --- who may do what ------------------------------------------------------------------------


def _grants(role: ClientRole, hall: str, seat: int) -> dict[str, list[str]]:
    grant = contract().clients[role]
    out: dict[str, list[str]] = {"read": [], "write": []}
    for access, template in grant.acl:
        topic_filter = template.replace("{hall}", hall).replace("{seat}", str(seat))
        for right in ("read", "write"):
            if right in access:
                out[right].append(topic_filter)
    return out


@pytest.mark.parametrize("kind", list(MessageKind))
def test_the_acl_lets_each_channel_flow_and_nothing_more(kind: MessageKind) -> None:
    hall = _hall()
    topics = Topics(hall)
    channel = contract().channels[kind]
    own, other = (42, 43)
    topic = topics.topic(kind, own if channel.per_seat else None)
    for role in ClientRole:
        grants = _grants(role, hall, own)
        writes = any(topic_matches(f, topic) for f in grants["write"])
        reads = any(topic_matches(f, topic) for f in grants["read"])
        assert writes is (role in (channel.publisher, ClientRole.CONTROLLER)), (role, kind)
        assert reads is (role in (*channel.subscribers, ClientRole.CONTROLLER)), (role, kind)
        if channel.per_seat and role is ClientRole.SEAT_UNIT:
            foreign = topics.topic(kind, other)
            assert not any(topic_matches(f, foreign) for f in grants["write"] + grants["read"])
    # A subscriber's subscriptions reach the channel.
    for role in channel.subscribers:
        subscriptions = topics.subscriptions(role, own)
        assert any(topic_matches(s.topic_filter, topic) for s in subscriptions), (role, kind)


def test_rendered_acl_follows_the_document() -> None:
    hall = _hall()
    text = render_acl(hall, [42], "chamber", "wall")
    for role, user in (
        (ClientRole.CONTROLLER, "chamber"),
        (ClientRole.WALL, "wall"),
        (ClientRole.SEAT_UNIT, "seat-0042"),
    ):
        block = text.split(f"user {user}\n", 1)[1].split("\n\n", 1)[0].splitlines()
        expected = [
            f"topic {access} {f.replace('{hall}', hall).replace('{seat}', '42')}"
            for access, f in contract().clients[role].acl
        ]
        assert block == expected


# --- the worked examples --------------------------------------------------------------------

GUIDE_EXAMPLE = re.compile(
    r"^#### (?P<summary>.+)\n\n"
    r"Topic: `(?P<topic>[^`]+)` \(QoS (?P<qos>\d), (?P<retain>retained|not retained)\)\n\n"
    r"```json\n(?P<payload>.*)\n```\n\n"
    r"Decoded: `(?P<decoded>.+)`$",
    re.MULTILINE,
)


def test_every_message_has_examples_that_validate_and_decode() -> None:
    topics = Topics(_hall())
    for message_id, message in DOCUMENT["components"]["messages"].items():
        assert message.get("examples"), message_id
        for example in message["examples"]:
            route = topics.parse(example["x-topic"])
            assert route.kind == message_id
            assert contract().channels[route.kind].validator.is_valid(example["payload"])
            payload = json.dumps(example["payload"], ensure_ascii=False).encode()
            assert describe(topics.decode(example["x-topic"], payload)) == example["x-decoded"]


def test_the_guide_shows_exactly_the_documents_examples() -> None:
    in_guide = [m.groupdict() for m in GUIDE_EXAMPLE.finditer(GUIDE)]
    assert GUIDE.count("\n#### ") == len(in_guide), "an example in the guide is malformed"
    in_document = _examples()
    assert len(in_guide) == len(in_document)
    topics = Topics(_hall())
    for shown, (_, example) in zip(in_guide, in_document, strict=True):
        assert shown["summary"] == example["summary"]
        assert shown["topic"] == example["x-topic"]
        assert json.loads(shown["payload"]) == example["payload"]
        assert shown["decoded"] == example["x-decoded"]
        channel = topics.channel(topics.parse(shown["topic"]).kind)
        assert int(shown["qos"]) == channel.qos
        assert (shown["retain"] == "retained") is channel.retain
        # The payload shown is byte for byte what the codec sends, and decodes as written.
        message = topics.decode(shown["topic"], shown["payload"].encode("utf-8"))
        assert message.encode() == shown["payload"].encode("utf-8")
        assert describe(message) == shown["decoded"]


def test_the_guide_lists_every_channel_with_its_flags() -> None:
    for channel_id, channel in DOCUMENT["channels"].items():
        short = channel["address"].removeprefix("chamber/{hall}/")
        rows = [line for line in GUIDE.splitlines() if line.startswith(f"| `{short}` |")]
        assert len(rows) == 1, channel_id
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        kind = MessageKind(channel_id)
        flags = contract().channels[kind]
        assert cells[3] == str(int(flags.qos))
        assert cells[4] == ("yes" if flags.retain else "no")
        assert Path(flags.schema_file).name in cells[5]
