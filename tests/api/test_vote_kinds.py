"""Vote kinds, the figure a vote needs, and what the chair does when a vote goes wrong, through
the real daemon: GET /api/hall, POST/PATCH /api/votes, annul, rerun, a result taken by hand,
and a practice vote."""

from __future__ import annotations

from typing import Any, cast

import httpx

from chamber.controller.core.inputs import VoteKeyPressed
from chamber.controller.core.view import Audience, WallView

from .conftest import Hall


async def vote(chair: httpx.AsyncClient, vote_id: str) -> dict[str, Any]:
    state = (await chair.get("/api/state")).json()["state"]
    found: dict[str, Any] = next(v for v in state["votes"] if v["vote_id"] == vote_id)
    return found


async def results(chair: httpx.AsyncClient) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = (await chair.get("/api/results")).json()
    return got


async def test_the_hall_lists_the_kinds_with_what_each_needs_now(hall: Hall) -> None:
    await hall.open_sitting(range(1, 31))
    async with hall.client() as chair:
        body = (await chair.get("/api/hall")).json()
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert list(kinds) == ["resolution", "dismissal", "removal", "election"]
    # 50 delegates: more than half is 26, at least two thirds is ceil(100/3) = 34.
    assert {k: (v["rule"], v["needed"], v["of"]) for k, v in kinds.items()} == {
        "resolution": ("vn-council", 26, 50),
        "dismissal": ("vn-two-thirds", 34, 50),
        "removal": ("vn-council", 26, 50),
        "election": ("vn-council", 26, 50),
    }
    assert kinds["resolution"]["text"] == (
        "Biểu quyết theo: quá nửa tổng số đại biểu — cần ít nhất 26/50"
    )
    assert kinds["dismissal"]["label"] == {
        "vi": "Bãi nhiệm đại biểu",
        "en": "Dismissal of a delegate",
    }
    assert kinds["election"]["mode"] == "secret"
    rules = {r["key"]: r for r in body["rules"]}
    # The hall's own rule over those present: 30 present, at least two thirds is 20.
    assert (rules["two-thirds-present"]["needed"], rules["two-thirds-present"]["of"]) == (20, 30)
    # Over votes cast the figure is known only at the close.
    assert rules["roberts-majority"]["needed"] is None
    assert body["vote_defaults"]["kind"] == "resolution"


async def test_a_dismissal_takes_two_thirds_and_a_weaker_rule_is_warned(hall: Hall) -> None:
    await hall.open_sitting(range(1, 41))
    async with hall.client() as chair:
        made = await chair.post(
            "/api/votes",
            json={"vote_id": "bn1", "title": "Bãi nhiệm đại biểu", "kind": "dismissal"},
        )
        assert made.status_code == 200, made.text
        answer = made.json()
        assert answer["warnings"] == []
        assert (answer["needed"]["needed"], answer["needed"]["of"]) == (34, 50)
        v = await vote(chair, "bn1")
        assert (v["kind"], v["rule"], v["mode"]) == ("dismissal", "vn-two-thirds", "secret")
        assert v["needed"]["text"] == (
            "Biểu quyết theo: ít nhất hai phần ba tổng số đại biểu — cần ít nhất 34/50"
        )

        weak = await chair.post(
            "/api/votes",
            json={
                "vote_id": "bn2",
                "title": "Bãi nhiệm đại biểu",
                "kind": "dismissal",
                "rule": "vn-council",
                "mode": "open",
            },
        )
        warnings = weak.json()["warnings"]
        assert [(w["code"], w["params"]) for w in warnings] == [
            (
                "vote.rule-not-kind",
                {"kind": "dismissal", "kind_rule": "vn-two-thirds", "rule": "vn-council"},
            ),
            ("vote.mode-not-kind", {"kind": "dismissal", "kind_mode": "secret", "mode": "open"}),
        ]
        assert "Bãi nhiệm đại biểu" in warnings[0]["text"]
        # The vote records them: the view carries them too.
        assert [w["code"] for w in (await vote(chair, "bn2"))["warnings"]] == [
            "vote.rule-not-kind",
            "vote.mode-not-kind",
        ]

        # Changing the kind brings the kind's rule and mode: the warnings go.
        patched = await chair.patch("/api/votes/bn2", json={"kind": "resolution", "mode": "open"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["warnings"] == []
        v = await vote(chair, "bn2")
        assert (v["kind"], v["rule"], v["mode"]) == ("resolution", "vn-council", "open")
        # Once open, a vote cannot be changed.
        assert (await chair.post("/api/votes/bn2/open")).is_success
        refused = await chair.patch("/api/votes/bn2", json={"title": "Khác"})
        assert refused.status_code == 409


async def test_annul_mid_vote_rerun_and_enter_a_show_of_hands(hall: Hall) -> None:
    await hall.open_sitting(range(1, 41))
    async with hall.client() as chair:
        assert (
            await chair.post("/api/votes", json={"vote_id": "v1", "title": "Ngân sách"})
        ).is_success
        assert (await chair.post("/api/votes/v1/open")).is_success
        now = hall.clock.now()
        await hall.feed(*(VoteKeyPressed(at=now, seat=s, key=1) for s in range(1, 11)))
        # The system fails mid-vote: the chair annuls it.
        empty = await chair.post("/api/votes/v1/annul", json={"reason": " "})
        assert empty.status_code == 422
        r = await chair.post(
            "/api/votes/v1/annul", json={"reason": "Hệ thống biểu quyết gặp sự cố"}
        )
        assert r.status_code == 200, r.text
        v1 = await vote(chair, "v1")
        assert v1["state"] == "annulled"
        assert v1["result"]["annulled"]["reason"] == "Hệ thống biểu quyết gặp sự cố"
        (listed,) = await results(chair)
        assert listed["vote_id"] == "v1"
        assert listed["annulled"] is not None

        # Run it again: a new vote linked to the annulled one, same title, kind and rule.
        rerun = await chair.post("/api/votes/v1/rerun", json={})
        assert rerun.status_code == 200, rerun.text
        new_id = rerun.json()["vote_id"]
        v2 = await vote(chair, new_id)
        assert (v2["state"], v2["title"], v2["kind"], v2["rule"], v2["rerun_of"]) == (
            "prepared",
            "Ngân sách",
            "resolution",
            "vn-council",
            "v1",
        )
        assert (await vote(chair, "v1"))["rerun_by"] == new_id
        again = await chair.post("/api/votes/v1/rerun", json={})
        assert again.status_code == 409

        # The keypads still fail: the chair takes it by show of hands.
        too_many = await chair.post(
            f"/api/votes/{new_id}/manual-result",
            json={"method": "show-of-hands", "totals": [30, 8, 3]},
        )
        assert too_many.status_code == 422, too_many.text
        wrong_keys = await chair.post(
            f"/api/votes/{new_id}/manual-result",
            json={"method": "show-of-hands", "totals": [30, 8]},
        )
        assert wrong_keys.status_code == 422
        ok = await chair.post(
            f"/api/votes/{new_id}/manual-result",
            json={"method": "show-of-hands", "totals": [30, 8, 2]},
        )
        assert ok.status_code == 200, ok.text
        v2 = await vote(chair, new_id)
        assert v2["state"] == "closed"
        result = v2["result"]
        assert result["manual"] == "show-of-hands"
        assert (result["voted"], result["did_not_vote"], result["present"]) == (40, 0, 40)
        # Decided by the same rule: 30 of 50 is more than half.
        assert result["outcome"]["adopted"] is True
        assert result["outcome"]["required"] == 26
        assert result["choices"] == []
        assert result["participants"] == []
        assert [r["vote_id"] for r in await results(chair)] == ["v1", new_id]


async def test_a_practice_vote_runs_on_the_hall_and_stays_out_of_the_record(hall: Hall) -> None:
    await hall.open_sitting(range(1, 6))
    async with hall.client() as chair:
        made = await chair.post(
            "/api/votes", json={"vote_id": "thu", "title": "Biểu quyết thử", "practice": True}
        )
        assert made.status_code == 200, made.text
        # No quorum needed to test the keypads.
        assert (await chair.post("/api/votes/thu/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=1, key=1))
        assert (await chair.post("/api/votes/thu/close")).is_success
        v = await vote(chair, "thu")
        assert v["practice"] is True
        assert v["state"] == "closed"
        assert await results(chair) == []
        wall = cast(WallView, hall.daemon.runtime.hub.view(Audience.WALL))
        show = wall["show"]
        assert show is not None
        assert show["practice"] is True
        records = (await chair.get("/api/participation")).json()
        assert all(r["votes"] == [] and r["votes_missed"] == [] for r in records)
