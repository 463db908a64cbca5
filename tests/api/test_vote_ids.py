"""A vote made without an id gets one from the daemon, which returns it: ids stay unique
across sittings (a later sitting's carry the sitting's own id)."""

from __future__ import annotations

from chamber.controller.api import vote_ids

from .conftest import Hall


def test_the_ids_to_try() -> None:
    first = vote_ids({"sitting": {"sitting_id": "k1", "open": True}, "votes": []})
    assert next(first) == "v1"
    taken = vote_ids(
        {
            "sitting": {"sitting_id": "k1", "open": True},
            "votes": [{"vote_id": "v2"}, {"vote_id": "x"}],
        }
    )
    assert [next(taken), next(taken)] == ["v3", "v4"]
    later = vote_ids(
        {
            "sitting": {"sitting_id": "kỳ họp đầu 2", "open": True},
            "sittings": [{"sitting_id": "k1"}],
            "votes": [],
        }
    )
    assert next(later) == "ky-hop-dau-2-v1"


async def test_the_daemon_names_a_new_vote_and_says_so(hall: Hall) -> None:
    await hall.open_sitting(range(1, 3))
    async with hall.client() as chair:
        made = [
            (await chair.post("/api/votes", json={"title": f"Tờ trình {n}"})).json()
            for n in range(2)
        ]
        assert [m["vote_id"] for m in made] == ["v1", "v2"]
        named = await chair.post("/api/votes", json={"vote_id": "v4", "title": "Tờ trình 4"})
        assert named.json()["vote_id"] == "v4"
        # Counting on from the sitting's three votes: v4 is taken, the daemon skips it.
        again = [
            (await chair.post("/api/votes", json={"title": "Tờ trình"})).json()["vote_id"]
            for _ in range(2)
        ]
        assert again == ["v5", "v6"]
        state = (await chair.get("/api/state")).json()["state"]
        assert [v["vote_id"] for v in state["votes"]] == ["v1", "v2", "v4", "v5", "v6"]
