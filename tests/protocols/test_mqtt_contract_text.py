"""What mqtt.md tells a unit maker about accounts is what the controller makes.

The access-control example is the file the embedded broker is given for that hall, byte for
byte, with the controller's own account names; the worked example of a unit's password is
the password the broker's account gets from that secret.
"""

from __future__ import annotations

import re
from pathlib import Path

from chamber.drivers.mosquitto import CONTROLLER_USER, WALL_USER, unit_password
from chamber.protocols.mqtt import render_acl

DOC = (Path(__file__).resolve().parents[2] / "firmware_specs" / "mqtt.md").read_text("utf-8")


def _section(title: str) -> str:
    start = DOC.index(f"## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end]


def test_the_acl_example_is_the_file_the_broker_gets() -> None:
    section = _section("Access control")
    block = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert block is not None
    assert block.group(1) == render_acl("hdnd-tinh", [1, 42], CONTROLLER_USER, WALL_USER)
    assert f"`{CONTROLLER_USER}`" in section
    assert f"`{WALL_USER}`" in section


def test_the_password_example_is_the_brokers_password() -> None:
    match = re.search(
        r"the 32-byte secret `00 01 02 … 1F`.*?`(seat-\d{4})`'s password is\s+`([A-Za-z0-9_-]+)`",
        _section("The broker and the accounts"),
        re.DOTALL,
    )
    assert match is not None
    user, password = match.groups()
    assert unit_password(bytes(range(32)), user) == password
    assert len(password) == 43


def test_no_contract_names_the_controllers_source() -> None:
    specs = Path(__file__).resolve().parents[2] / "firmware_specs"
    source = re.compile(r"\b(protocols|drivers|simulator|console)/\w+\.py|\bcontroller/\w+\.py")
    dotted = re.compile(r"\b(protocols|drivers|controller)\.[a-z_]+\.[a-z_]+")
    for path in sorted(specs.glob("*.md")) + sorted(specs.glob("*.yaml")):
        text = path.read_text("utf-8")
        assert not source.search(text), (path.name, source.search(text))
        assert not dotted.search(text), (path.name, dotted.search(text))
