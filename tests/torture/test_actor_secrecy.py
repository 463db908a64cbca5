"""The torture harness's secrecy search reads journal records that carry an actor whole: a
secret vote's commands made by named accounts pass, and a press carrying an actor, or a
seat's choice inside a record with an actor, is caught (the check is seen to fail)."""

from __future__ import annotations

from chamber.controller.core.inputs import Actor, CloseVote, OpenVote, VoteKeyPressed, to_record
from chamber.controller.journal import canonical_json
from tests.torture import ledger

DEPUTY = Actor("pho-chu-tich", "Trần Thị Bình", "chair")
SECRET = ledger.Secret(
    vote_id="v2", choices={3: 1, 4: 2}, origins=frozenset(), opened_at=100.0, closed_at=160.0
)


def blob(*records: dict[str, object]) -> bytes:
    return b"\n".join(canonical_json(r).encode("utf-8") for r in records)


def test_named_commands_pass_and_a_press_with_an_actor_is_caught() -> None:
    commands = blob(
        to_record(OpenVote(100.0, "v2", actor=DEPUTY)),
        to_record(CloseVote(160.0, "v2", actor=DEPUTY)),
    )
    assert ledger.blob_links("journal", commands, SECRET) == []
    press = to_record(VoteKeyPressed(120.0, 3, 1)) | {"actor": to_record_actor()}
    found = ledger.blob_links("journal", blob(press), SECRET)
    assert "journal: seat 3 key 1" in found
    assert "journal: a press of seat 3 with an actor" in found
    # A seat's choice inside a command with an actor: read whole, so caught.
    command = to_record(CloseVote(160.0, "v2", actor=DEPUTY)) | {"seat": 4, "key": 2}
    assert ledger.blob_links("journal", blob(command), SECRET)[0] == "journal: seat 4 key 2"


def to_record_actor() -> dict[str, str]:
    return {"id": DEPUTY.id, "name": DEPUTY.name, "role": DEPUTY.role}
