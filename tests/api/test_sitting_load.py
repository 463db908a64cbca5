"""A sitting file loaded through the API: the sitting opens with its agenda and prepared votes
in one commit, survives a restart (replay), reloads without doubling, and is refused with
the key when wrong; the next prepared vote opens in agenda order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chamber.controller.auth import Role
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import Daemon
from tests.api.conftest import EXAMPLES, Hall, make_tokens

SITTING_FILE = EXAMPLES / "vn-council-sitting.toml"
VOTE_IDS = [
    "ky-hop-thu-9.1.1",
    "ky-hop-thu-9.1.2",
    "ky-hop-thu-9.2.1",
    "ky-hop-thu-9.3.1",
    "ky-hop-thu-9.4.1",
    "ky-hop-thu-9.4.2",
]


def file_body(**extra: Any) -> dict[str, Any]:
    text = SITTING_FILE.read_text(encoding="utf-8")
    return {"text": text, "format": "toml", "name": SITTING_FILE.name, **extra}


async def state(hall: Hall) -> dict[str, Any]:
    async with hall.client() as c:
        r = await c.get("/api/state")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["state"]
        return data


async def test_a_check_does_nothing(hall: Hall) -> None:
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post("/api/sitting/load", json=file_body(check=True))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["checked"] is True
    assert answer["opens"] is True
    assert answer["prepared"] == VOTE_IDS
    assert (await state(hall))["sitting"]["open"] is False


async def test_the_secretary_loads_it_and_a_restart_replays_it(
    tmp_path: Path, hall_config: HallConfig
) -> None:
    store, tokens = make_tokens()
    journal = tmp_path / "hall.journal"
    async with Daemon(hall_config, journal, store, clock=FakeClock(1000.0)) as daemon:
        hall = Hall(daemon, FakeClock(), tokens, store)
        try:
            async with hall.client(Role.SECRETARY) as c:
                r = await c.post("/api/sitting/load", json=file_body())
            assert r.status_code == 200, r.text
            assert r.json()["prepared"] == VOTE_IDS
            # One commit: the opening and the six votes were written together.
            assert daemon.runtime.stats.last_batch == 7
            before = await state(hall)
        finally:
            await hall.aclose()
    sitting = before["sitting"]
    assert sitting["sitting_id"] == "ky-hop-thu-9"
    assert sitting["chair"] == {"name": "Phạm Mạnh Dũng", "delegate": "d0001"}
    assert sitting["secretary"] == {"name": "Nguyễn Thị Thu Hà", "delegate": None}
    assert sitting["date"] == "2026-12-02"
    assert [a["id"] for a in sitting["agenda"]] == ["1", "2", "3", "4"]
    assert sitting["next_vote"] == VOTE_IDS[0]
    votes = before["votes"]
    assert [v["vote_id"] for v in votes] == VOTE_IDS
    assert [v["item_id"] for v in votes] == ["1", "1", "2", "3", "4", "4"]
    assert {v["state"] for v in votes} == {"prepared"}
    assert votes[4]["mode"] == "secret"
    assert votes[5]["duration_s"] == 0.0
    assert votes[0]["practice"] is True

    # The daemon restarted on the same journal: the same sitting, the same prepared votes.
    store2, tokens2 = make_tokens()
    async with Daemon(hall_config, journal, store2, clock=FakeClock(2000.0)) as daemon:
        hall = Hall(daemon, FakeClock(), tokens2, store2)
        try:
            after = await state(hall)
            assert after["sitting"] == {**before["sitting"]}
            assert [(v["vote_id"], v["title"], v["state"]) for v in after["votes"]] == [
                (v["vote_id"], v["title"], v["state"]) for v in votes
            ]
            # Loaded again: nothing doubled, nothing to do.
            async with hall.client(Role.SECRETARY) as c:
                r = await c.post("/api/sitting/load", json=file_body())
            assert r.status_code == 200, r.text
            assert r.json()["prepared"] == []
            assert r.json()["kept"] == VOTE_IDS
            assert len((await state(hall))["votes"]) == 6
        finally:
            await hall.aclose()


async def test_a_reload_prepares_only_the_votes_not_there_yet(hall: Hall) -> None:
    text = SITTING_FILE.read_text(encoding="utf-8")
    # The file as it was before its last vote was added.
    shorter = text[: text.rindex("  [[items.votes]]")]
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post("/api/sitting/load", json={"text": shorter})
        assert r.status_code == 200, r.text
        assert r.json()["prepared"] == VOTE_IDS[:5]
        r = await c.post("/api/sitting/load", json=file_body())
        assert r.status_code == 200, r.text
        assert r.json()["opens"] is False
        assert r.json()["prepared"] == VOTE_IDS[5:]
    assert [v["vote_id"] for v in (await state(hall))["votes"]] == VOTE_IDS


async def test_another_agenda_under_the_same_id_is_refused(hall: Hall) -> None:
    text = SITTING_FILE.read_text(encoding="utf-8")
    async with hall.client(Role.SECRETARY) as c:
        assert (await c.post("/api/sitting/load", json=file_body())).status_code == 200
        changed = text.replace('id = "4"', 'id = "5"')
        r = await c.post("/api/sitting/load", json={"text": changed})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "sitting.file_mismatch"


async def test_a_load_while_another_sitting_is_open_is_refused(hall: Hall) -> None:
    await hall.open_sitting()
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post("/api/sitting/load", json=file_body())
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "sitting.already_open"
    assert r.json()["params"] == {"sitting": "k12"}
    assert len((await state(hall))["votes"]) == 0


async def test_a_wrong_file_is_refused_with_its_key_in_the_language_asked(hall: Hall) -> None:
    text = SITTING_FILE.read_text(encoding="utf-8").replace('kind = "removal"', 'kind = "x"')
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post(
            "/api/sitting/load",
            json={"text": text, "name": "ky-hop-9.toml"},
            headers={"Accept-Language": "vi"},
        )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "sitting.file_invalid"
    assert problem["params"]["problem"].startswith("ky-hop-9.toml: items[3].votes[0].kind:")
    assert problem["detail"].startswith("Tệp kỳ họp không dùng được: ky-hop-9.toml: items[3]")
    bad_rule = SITTING_FILE.read_text(encoding="utf-8").replace(
        'kind = "removal"', 'rule = "ba-phan-tu"'
    )
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post("/api/sitting/load", json={"text": bad_rule})
    assert r.status_code == 422, r.text
    assert "items[3].votes[0]: " in r.json()["params"]["problem"]
    assert (await state(hall))["sitting"]["open"] is False


async def test_syntax_and_role(hall: Hall) -> None:
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post("/api/sitting/load", json={"text": "[sitting\n", "name": "a.toml"})
        assert r.status_code == 422
        assert "a.toml: TOML syntax" in r.json()["params"]["problem"]
        r = await c.post("/api/sitting/load", json={"text": "{", "format": "json"})
        assert r.status_code == 422
        assert "line 1" in r.json()["params"]["problem"]
    async with hall.client(Role.TECHNICIAN) as c:
        r = await c.post("/api/sitting/load", json=file_body())
    assert r.status_code == 403
    async with hall.client(Role.SECRETARY) as c:
        r = await c.post("/api/sitting/next-vote", json={})
    assert r.status_code == 403


async def test_next_vote_opens_them_in_agenda_order(hall: Hall) -> None:
    async with hall.client(Role.SECRETARY) as c:
        assert (await c.post("/api/sitting/load", json=file_body())).status_code == 200
    await hall.seat_delegates(range(1, 51))
    # An ad-hoc vote on item 1, made by the chair between the file's: it stays possible.
    async with hall.client() as c:
        r = await c.post("/api/votes", json={"title": "Biểu quyết bổ sung", "vote_id": "bs1"})
        assert r.status_code == 200, r.text
    opened: list[tuple[str, str | None, bool]] = []
    async with hall.client() as c:
        for _ in range(len(VOTE_IDS) + 1):
            r = await c.post("/api/sitting/next-vote")
            assert r.status_code == 200, r.text
            answer = r.json()
            opened.append((answer["vote_id"], answer["item_id"], answer["moved"]))
            now = await state(hall)
            assert now["active_vote"] == answer["vote_id"]
            assert now["sitting"]["current_item"] == answer["item_id"]
            # While it is open, the next one is refused, and nothing moves.
            refused = await c.post("/api/sitting/next-vote")
            assert refused.status_code == 409
            assert refused.json()["code"] == "vote.active"
            assert (await state(hall))["sitting"]["current_item"] == answer["item_id"]
            assert (await c.post(f"/api/votes/{answer['vote_id']}/close")).status_code == 200
        r = await c.post("/api/sitting/next-vote")
    assert r.status_code == 409
    assert r.json()["code"] == "vote.none_prepared"
    assert opened == [
        ("ky-hop-thu-9.1.1", "1", False),
        ("ky-hop-thu-9.1.2", "1", False),
        ("bs1", "1", False),
        ("ky-hop-thu-9.2.1", "2", True),
        ("ky-hop-thu-9.3.1", "3", True),
        ("ky-hop-thu-9.4.1", "4", True),
        ("ky-hop-thu-9.4.2", "4", False),
    ]
