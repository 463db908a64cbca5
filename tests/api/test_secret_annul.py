"""A secret vote annulled while open, through the real daemon: it is sealed like any close
(the presses go, the closing record keeps totals and participants), nothing ties a seat to a
choice in the stream, the journal, the API or the exports, and after a restart the vote is
still annulled with its reason and its totals; the vote run again and taken on paper too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import Daemon

from .conftest import Hall, make_tokens
from .test_secret_ballot import CHOICES, EXPORTS, journal_files, links, secret_vote

REASON = "Hệ thống biểu quyết gặp sự cố"


async def test_a_secret_vote_annulled_while_open_is_sealed_and_stays_annulled(
    tmp_path: Path, hall_config: HallConfig
) -> None:
    store, tokens = make_tokens()
    clock = FakeClock(1000.0)
    path = tmp_path / "hall.journal"

    async def daemon_once(step: Any) -> Any:
        async with Daemon(hall_config, path, store, clock=clock) as daemon:
            hall = Hall(daemon, clock, tokens, store)
            try:
                return await step(hall)
            finally:
                await hall.aclose()

    async def annul_rerun_and_count(hall: Hall) -> dict[str, Any]:
        await secret_vote(hall, close=False)
        async with hall.client() as chair:
            r = await chair.post("/api/votes/v2/annul", json={"reason": REASON})
            assert r.is_success, r.text
            r = await chair.post("/api/votes/v2/rerun", json={"vote_id": "v3"})
            assert r.is_success, r.text
            r = await chair.post(
                "/api/votes/v3/manual-result", json={"method": "paper", "totals": [20, 6, 2]}
            )
            assert r.is_success, r.text
            state = (await chair.get("/api/state")).json()
            assert links(state) == []
            for url in (*EXPORTS[:-1], "/api/exports/minutes.html"):
                response = await chair.get(url)
                assert response.status_code == 200, url
                text = response.content.decode("utf-8")
                if url.endswith(".json"):
                    assert links(json.loads(text)) == [], url
                assert "v2=" not in text, url
                assert "Kết quả theo đại biểu" not in text, url
        journal = hall.daemon.journal
        # Sealed at the annulment: no press left, the closing record has totals only.
        assert journal.secret_presses() == []
        kinds = [record["kind"] for _, record in journal.records()]
        assert "vote-key" not in kinds
        sealed = [r for _, r in journal.records() if r["kind"] == "secret-vote-sealed"]
        assert [(r["vote_id"], r["totals"]) for r in sealed] == [("v2", [14, 10, 4])]
        for name, data in journal_files(journal.path).items():
            assert b'"key"' not in data, name
        votes: dict[str, Any] = {v["vote_id"]: v for v in state["state"]["votes"]}
        return votes

    before = await daemon_once(annul_rerun_and_count)
    assert before["v2"]["state"] == "annulled"
    assert before["v2"]["result"]["annulled"]["reason"] == REASON
    assert [t["count"] for t in before["v2"]["result"]["totals"]] == [14, 10, 4]
    assert before["v2"]["result"]["voted"] == len(CHOICES)
    assert before["v3"]["result"]["manual"] == "paper"

    async def after_restart(hall: Hall) -> dict[str, Any]:
        async with hall.client() as chair:
            state = (await chair.get("/api/state")).json()["state"]
        return {v["vote_id"]: v for v in state["votes"]}

    after = await daemon_once(after_restart)
    for vote_id in ("v2", "v3"):
        assert after[vote_id]["state"] == before[vote_id]["state"]
        assert after[vote_id]["result"] == before[vote_id]["result"]
    assert after["v2"]["rerun_by"] == "v3"
