"""A secret vote through the daemon leaves no seat->choice link anywhere: not in the journal
(database, WAL, shared memory, key files), not in the API's answers or exports, not on the
stream, not in the logs. Its presses survive a restart while it is open, and its result
survives one after it closed, when the presses are gone."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import websockets

from chamber.controller.auth import Role
from chamber.controller.config import HallConfig
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    CloseVote,
    CreateVote,
    OpenSitting,
    OpenVote,
    PresenceChanged,
    SecretVoteSealed,
    VoteKeyPressed,
    from_record,
    to_record,
)
from chamber.controller.core.model import VoteMode
from chamber.controller.core.patch import apply
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.daemon import Daemon

from .conftest import Hall, make_tokens
from .test_stream import recv, recv_until, stream_url

# 14 tán thành, 10 không tán thành, 4 không biểu quyết: 28 of the 30 present take part.
CHOICES = (
    {seat: 1 for seat in range(1, 15)}
    | {seat: 2 for seat in range(15, 25)}
    | {seat: 3 for seat in range(25, 29)}
)
EXPORTS = (
    "/api/exports/results.csv",
    "/api/exports/results.json",
    "/api/exports/participation.csv",
    "/api/exports/participation.json",
    "/api/exports/minutes.html",
    "/api/exports/minutes.html?lang=en",
    "/api/votes/v2/signed-result",
)


def links(value: Any, path: str = "") -> list[str]:
    """Every place in a JSON value that ties a seat (or delegate) to a choice."""
    found: list[str] = []
    if isinstance(value, dict):
        who = {"seat", "delegate", "delegate_id"} & set(value)
        what = {"key", "choice", "label"} & {k for k, v in value.items() if v is not None}
        if who and what:
            found.append(f"{path}: {value}")
        if value.get("choices"):
            found.append(f"{path}.choices: {value['choices']}")
        for k, v in value.items():
            found.extend(links(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(links(v, f"{path}[{i}]"))
    return found


def journal_files(path: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file()}
    key_dir = path.with_name(path.name + ".secret-keys")
    files |= {p.name: p.read_bytes() for p in key_dir.glob("*")}
    return files


async def secret_vote(hall: Hall, *, close: bool = True) -> None:
    await hall.open_sitting()
    now = hall.clock.now
    async with hall.client() as chair:
        body = {"vote_id": "v2", "title": "Bỏ phiếu kín: miễn nhiệm", "mode": "secret"}
        assert (await chair.post("/api/votes", json=body)).is_success
        assert (await chair.post("/api/votes/v2/open")).is_success
        # A change of mind, a key that does not exist, a press during hold, a stranger seat.
        await hall.feed(VoteKeyPressed(at=now(), seat=1, key=3))
        await hall.feed(VoteKeyPressed(at=now(), seat=2, key=9))
        assert (await chair.post("/api/votes/v2/hold")).is_success
        await hall.feed(VoteKeyPressed(at=now(), seat=3, key=2))
        assert (await chair.post("/api/votes/v2/resume")).is_success
        await hall.feed(VoteKeyPressed(at=now(), seat=45, key=1))
        await hall.feed(*(VoteKeyPressed(at=now(), seat=s, key=k) for s, k in CHOICES.items()))
        if close:
            hall.clock.advance(5)
            assert (await chair.post("/api/votes/v2/close")).is_success
            assert (await chair.post("/api/votes/v2/publish")).is_success


async def test_no_seat_choice_link_survives_a_secret_vote(
    hall: Hall, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with websockets.connect(stream_url(hall, Role.CHAIR)) as ws:
        first = await recv(ws)
        assert first["type"] == "snapshot"
        await secret_vote(hall)
        messages = await recv_until(ws, hall.daemon.runtime.hub.seq)
    # Every press the core counted moved the tally that the stream showed.
    voted = [
        op["value"] for m in messages for op in m["ops"] if op["path"] == "/votes/0/tally/voted"
    ]
    assert voted[-1] == len(CHOICES)
    assert links(messages) == []
    # Nor does any view the patches build along the way, nor any secret total while it runs.
    view = first["state"]
    for m in messages:
        view = apply(view, m["ops"])
        assert links(view) == [], m["seq"]
        for vote in view["votes"]:
            if vote["state"] in ("open", "hold"):
                assert "totals" not in vote["tally"], m["seq"]

    async with hall.client(Role.SECRETARY) as secretary:
        state = (await secretary.get("/api/state")).json()
        vote = state["state"]["votes"][0]
        assert [t["count"] for t in vote["result"]["totals"]] == [14, 10, 4]
        assert vote["result"]["voted"] == 28
        assert links(state) == []
        for url in EXPORTS:
            response = await secretary.get(url)
            assert response.status_code == 200, url
            text = response.content.decode("utf-8")
            if url.endswith(".json") or "signed-result" in url:
                assert links(json.loads(text)) == [], url
            # The participation record says who took part in v2, never how.
            assert "v2=" not in text, url
            assert "Kết quả theo đại biểu" not in text
            assert "Individual results" not in text

    journal = hall.daemon.journal
    assert journal.secret_presses() == []
    kinds = [record["kind"] for _, record in journal.records()]
    assert "vote-key" not in kinds
    sealed = [r for _, r in journal.records() if r["kind"] == "secret-vote-sealed"]
    assert [(r["vote_id"], r["totals"]) for r in sealed] == [("v2", [14, 10, 4])]
    for name, data in journal_files(journal.path).items():
        assert b"vote-key" not in data, name
        assert b'"key"' not in data, name
    assert not any(journal.path.with_name(journal.path.name + ".secret-keys").iterdir())

    for record in caplog.records:
        fields = vars(record)
        assert not ({"seat", "delegate"} & set(fields) and "key" in fields), record
        assert "key=" not in record.getMessage()


async def test_open_secret_vote_survives_a_restart_and_its_result_too(
    tmp_path: Path, hall_config: HallConfig
) -> None:
    from chamber.controller.core.clock import FakeClock

    from .conftest import Hall as HallHandle

    store, tokens = make_tokens()
    clock = FakeClock(1000.0)
    path = tmp_path / "hall.journal"

    async def daemon_once(step: Any) -> Any:
        async with Daemon(hall_config, path, store, clock=clock) as daemon:
            hall = HallHandle(daemon, clock, tokens, store)
            try:
                return await step(hall)
            finally:
                await hall.aclose()

    async def vote_and_stop(hall: HallHandle) -> int:
        await secret_vote(hall, close=False)
        # Durable while open, but only as ciphertext.
        assert len(hall.daemon.journal.secret_presses("v2")) == len(CHOICES) + 4
        return hall.daemon.runtime.core.votes["v2"].to_json(clock.now())["tally"]["voted"]

    voted = await daemon_once(vote_and_stop)
    assert voted == 28

    async def close_after_restart(hall: HallHandle) -> dict[str, Any]:
        vote = hall.daemon.runtime.core.votes["v2"]
        assert vote.state.value == "open"
        assert len(vote.participants) == 28
        async with hall.client() as chair:
            assert (await chair.post("/api/votes/v2/close")).is_success
            return (await chair.get("/api/state")).json()["state"]["votes"][0]["result"]

    closed = await daemon_once(close_after_restart)
    assert [t["count"] for t in closed["totals"]] == [14, 10, 4]

    async def result_after_restart(hall: HallHandle) -> dict[str, Any]:
        assert hall.daemon.journal.secret_presses() == []
        async with hall.client() as chair:
            return (await chair.get("/api/state")).json()["state"]["votes"][0]["result"]

    assert await daemon_once(result_after_restart) == closed


async def test_a_secret_vote_closed_by_its_deadline_is_sealed(hall: Hall) -> None:
    await secret_vote(hall, close=False)
    hall.clock.advance(120)  # past the 60 s vote: the next input closes it at its deadline
    await hall.feed(PresenceChanged(at=hall.clock.now(), seat=40, present=True))
    # The seal follows the input that closed the vote: wait until it is committed too.
    await hall.feed()
    vote = hall.daemon.runtime.core.votes["v2"]
    assert vote.state.value == "closed"
    assert vote.result is not None
    assert vote.result.auto_closed
    assert hall.daemon.journal.secret_presses() == []
    kinds = [record["kind"] for _, record in hall.daemon.journal.records()]
    assert kinds.count("secret-vote-sealed") == 1
    assert "vote-key" not in kinds


# --- the core's side: the sealed record ------------------------------------------------------


def core_with_secret_vote(hall_config: HallConfig) -> MeetingCore:
    core = MeetingCore(hall_config.hall)
    core.handle(OpenSitting(0.0, "k12", "Kỳ họp thứ 12"))
    for seat in range(1, 31):
        core.handle(PresenceChanged(0.0, seat, True))
    core.handle(CreateVote(1.0, "v2", "Bỏ phiếu kín", mode=VoteMode.SECRET))
    core.handle(OpenVote(2.0, "v2"))
    return core


def test_sealed_record_restores_a_result_whose_presses_are_gone(hall_config: HallConfig) -> None:
    live = core_with_secret_vote(hall_config)
    for seat, key in CHOICES.items():
        live.handle(VoteKeyPressed(3.0, seat, key))
    live.handle(CloseVote(4.0, "v2"))
    result = live.votes["v2"].result
    assert result is not None
    assert result.choices == ()
    sealed = SecretVoteSealed(4.0, "v2", result.totals, None, result.participants)
    assert from_record(to_record(sealed)) == sealed

    replayed = core_with_secret_vote(hall_config)
    replayed.handle(CloseVote(4.0, "v2"))  # the presses were destroyed with the key
    assert replayed.votes["v2"].result.totals == (0, 0, 0)  # type: ignore[union-attr]
    assert replayed.handle(sealed) == []
    assert replayed.votes["v2"].result == result
    # Live, where the core already holds the result, the record changes nothing.
    live.handle(sealed)
    assert live.votes["v2"].result == result
    assert replayed.snapshot() == live.snapshot()


@pytest.mark.parametrize(
    ("totals", "weighted", "participants", "code"),
    [
        ((1, 1), None, (1, 2), "invalid"),  # two keys for a three-key vote
        ((2, 0, 0), None, (1,), "invalid"),  # more votes than participants
        ((1, 0, 0), (1, 0, 0), (1,), "invalid"),  # weighted totals for an unweighted vote
        ((1, 0, -1), None, (), "invalid"),
    ],
)
def test_a_sealed_record_that_does_not_fit_is_refused(
    hall_config: HallConfig,
    totals: tuple[int, ...],
    weighted: tuple[int, ...] | None,
    participants: tuple[int, ...],
    code: str,
) -> None:
    core = core_with_secret_vote(hall_config)
    core.handle(CloseVote(4.0, "v2"))
    with pytest.raises(CommandRejected) as refused:
        core.handle(SecretVoteSealed(5.0, "v2", totals, weighted, participants))
    assert refused.value.kind == code


def test_a_sealed_record_for_an_open_vote_is_a_conflict(hall_config: HallConfig) -> None:
    core = core_with_secret_vote(hall_config)
    with pytest.raises(CommandRejected) as refused:
        core.handle(SecretVoteSealed(3.0, "v2", (0, 0, 0), None, ()))
    assert refused.value.kind == "conflict"
