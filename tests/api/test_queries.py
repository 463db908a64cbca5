"""The live queries: seats, results, participation."""

from __future__ import annotations

from chamber.controller.auth import Role
from chamber.controller.core.inputs import GrantFloor, MicRequest

from .conftest import Hall
from .helpers import play_sitting


async def test_seats_show_delegates_presence_and_live_mics(hall: Hall) -> None:
    await hall.open_sitting(present=range(1, 11))
    await hall.feed(MicRequest(at=hall.clock.now(), seat=4))
    hall.daemon.runtime.feed(GrantFloor(at=hall.clock.now(), seat=4))
    await hall.feed()
    async with hall.client(Role.OBSERVER) as public:
        seats = (await public.get("/api/seats")).json()
    by_number = {s["number"]: s for s in seats}
    assert len(seats) == 50
    assert by_number[1]["name"] == hall.daemon.runtime.config.hall.delegates[0].name
    assert by_number[1]["present"] is True
    assert by_number[11]["present"] is False
    assert by_number[4]["mic_live"] is True
    assert by_number[5]["mic_live"] is False


async def test_results_and_participation_after_a_sitting(hall: Hall) -> None:
    await play_sitting(hall, close_sitting=False)
    async with hall.client(Role.OBSERVER) as public:
        results = (await public.get("/api/results")).json()
    by_vote = {r["vote_id"]: r for r in results}
    assert by_vote["v1"]["totals"][0]["count"] == 26
    assert by_vote["v1"]["outcome"]["adopted"] is True
    # The secret ballot: totals, and nobody's choice.
    assert by_vote["v2"]["choices"] == []
    async with hall.client(Role.SECRETARY) as secretary:
        records = (await secretary.get("/api/participation")).json()
    first = next(r for r in records if r["delegate_id"] == "d0001")
    assert first["sitting_id"] == "k12"
    votes = {v["vote_id"]: v for v in first["votes"]}
    assert set(votes) == {"v1", "v2"}
    assert votes["v1"]["key"] == 1  # an open vote: the record says how
    assert (votes["v2"]["key"], votes["v2"]["label"]) == (None, None)  # secret: only "took part"


async def test_hall_names_its_majority_rules_and_vote_defaults(hall: Hall) -> None:
    async with hall.client(Role.OBSERVER) as public:
        body = (await public.get("/api/hall")).json()
    rules = {r["key"]: r for r in body["rules"]}
    assert rules["vn-council"] == {
        "key": "vn-council",
        "comparison": "more-than",
        "fraction": "1/2",
        "constant": 0,
        "base": "all-members",
        # What it needs now: more than half of all 50 delegates.
        "needed": 26,
        "of": 50,
        "text": "Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50",
        # The same line in each language, for a wall shown in another than the hall's.
        "texts": {
            "vi": "Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50",
            "en": "Decided by: more than half of all members — at least 26 of 50 needed",
        },
    }
    # The hall file's own rule follows the presets.
    assert rules["two-thirds-present"]["base"] == "present"
    assert rules["two-thirds-present"]["fraction"] == "2/3"
    assert [r["key"] for r in body["rules"]][:3] == [
        "vn-council",
        "vn-two-thirds",
        "roberts-majority",
    ]
    assert body["vote_defaults"] == {
        "rule": "vn-council",
        "mode": "open",
        "duration_s": 60.0,
        "kind": "resolution",
    }
