"""Accounts per person: the chair and a deputy chair with tokens of their own open, close and
annul votes and give the floor; the journal's records and the minutes name each. A removed
account is refused at once and its stream is closed; the token files of earlier releases
still work."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from chamber.controller import users_cli
from chamber.controller.auth import Role, TokenStore, token_hash
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import PresenceChanged, Tick, VoteKeyPressed
from chamber.controller.core.model import Language
from chamber.controller.daemon import Daemon
from chamber.controller.exports import CSV_BOM, Format, What, render, replay_journal
from chamber.controller.journal import JournalReader

from .conftest import SITTING

# Waiting for the daemon to close a stream: a bound on a wait, never a sleep.
CLOSE_TIMEOUT = 20.0
CHAIR = "Nguyễn Văn An"
DEPUTY = "Trần Thị Bình"
SECRETARY = "Lê Thị Hoa"


def users(tokens: Path, *argv: str) -> int:
    """`chamber users --tokens FILE ARGS`, as the command line runs it."""
    parser = argparse.ArgumentParser(prog="chamber users")
    users_cli.add_arguments(parser)
    return users_cli.run(parser.parse_args(["--tokens", str(tokens), *argv]))


def made_token(out: str) -> str:
    """The token `chamber users add` printed: its last line."""
    return out.strip().splitlines()[-1]


@contextlib.asynccontextmanager
async def running(
    config: HallConfig, journal: Path, store: TokenStore, clock: FakeClock
) -> AsyncIterator[Daemon]:
    async with Daemon(config, journal, store, clock=clock) as daemon:
        try:
            yield daemon
        finally:
            daemon.server.should_exit = True
            await daemon.server.shutdown()


async def feed(daemon: Daemon, *inputs: Any) -> None:
    for inp in inputs:
        daemon.runtime.feed(inp)
    await daemon.runtime.command(lambda at: Tick(at=at))


def client(daemon: Daemon, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=daemon.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


async def closed_with(ws: Any) -> int | None:
    """Read until the daemon closes the stream; the close code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), CLOSE_TIMEOUT)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


@pytest.fixture
def accounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict[str, str]]:
    """A token file made with `chamber users add`: the chair, a deputy chair (the chair role,
    held by a named deputy) and the secretary."""
    path = tmp_path / "data" / "tokens.json"
    tokens: dict[str, str] = {}
    for account_id, name, role in (
        ("chu-tich", CHAIR, "chair"),
        ("pho-chu-tich", DEPUTY, "chair"),
        ("thu-ky", SECRETARY, "secretary"),
    ):
        assert users(path, "add", "--name", name, "--role", role, "--id", account_id) == 0
        tokens[account_id] = made_token(capsys.readouterr().out)
    return path, tokens


async def test_the_chair_and_a_deputy_are_named_in_the_journal_and_the_minutes(
    tmp_path: Path, hall_config: HallConfig, accounts: tuple[Path, dict[str, str]]
) -> None:
    path, tokens = accounts
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    clock = FakeClock(1000.0)
    journal = tmp_path / "hall.journal"
    async with (
        running(hall_config, journal, TokenStore.load(path), clock) as daemon,
        client(daemon, tokens["chu-tich"]) as chair,
        client(daemon, tokens["pho-chu-tich"]) as deputy,
        client(daemon, tokens["thu-ky"]) as secretary,
    ):
        assert (await secretary.post("/api/sitting/open", json=SITTING)).is_success
        await feed(daemon, *(PresenceChanged(clock.now(), s, True) for s in range(1, 31)))
        for vote_id in ("v1", "v2"):
            body = {"vote_id": vote_id, "title": f"Nghị quyết số {vote_id[1]}"}
            assert (await secretary.post("/api/votes", json=body)).is_success
        # v1: the deputy opens it, the chair closes it.
        assert (await deputy.post("/api/votes/v1/open")).is_success
        await feed(daemon, *(VoteKeyPressed(clock.now(), s, 1) for s in range(1, 27)))
        clock.advance(5)
        assert (await chair.post("/api/votes/v1/close")).is_success
        # v2: the chair opens it, the deputy closes it and annuls it.
        assert (await chair.post("/api/votes/v2/open")).is_success
        clock.advance(5)
        assert (await deputy.post("/api/votes/v2/close")).is_success
        r = await deputy.post("/api/votes/v2/annul", json={"reason": "Sai nội dung"})
        assert r.is_success, r.text
        # The deputy gives the floor to seat 3, the chair to seat 5.
        for who, seat in ((deputy, 3), (chair, 5)):
            r = await who.post("/api/floor/grant", json={"seat": seat})
            assert r.is_success, r.text
            clock.advance(10)
            assert (await chair.post("/api/floor/revoke", json={"seat": seat})).is_success
        assert (await chair.post("/api/sitting/close")).is_success

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for _seq, record, _digest in JournalReader(journal).records():
        by_kind.setdefault(record["kind"], []).append(record)

    def actor(account_id: str, name: str, role: str = "chair") -> dict[str, str]:
        return {"id": account_id, "name": name, "role": role}

    assert [r["actor"] for r in by_kind["open-vote"]] == [
        actor("pho-chu-tich", DEPUTY),
        actor("chu-tich", CHAIR),
    ]
    assert [r["actor"] for r in by_kind["close-vote"]] == [
        actor("chu-tich", CHAIR),
        actor("pho-chu-tich", DEPUTY),
    ]
    assert by_kind["annul-vote"][0]["actor"] == actor("pho-chu-tich", DEPUTY)
    assert by_kind["open-sitting"][0]["actor"] == actor("thu-ky", SECRETARY, "secretary")
    assert [r["actor"] for r in by_kind["grant"]] == [
        actor("pho-chu-tich", DEPUTY),
        actor("chu-tich", CHAIR),
    ]
    # A delegate's press carries no actor: the actor is always an operator.
    assert all("actor" not in r for r in by_kind["vote-key"] + by_kind["presence"])

    view = replay_journal(journal, hall_config)
    assert view.votes["v1"].actors["opened"].name == DEPUTY
    assert view.votes["v1"].actors["closed"].name == CHAIR
    assert view.votes["v2"].actors["annulled"].name == DEPUTY
    vi = render(view, What.MINUTES, Format.HTML, language=Language.VI)
    assert f"Người mở biểu quyết: {DEPUTY} (chủ tọa); người kết thúc biểu quyết: {CHAIR}" in vi
    assert f"Người mở biểu quyết: {CHAIR} (chủ tọa); người kết thúc biểu quyết: {DEPUTY}" in vi
    assert f"Người hủy kết quả: {DEPUTY} (chủ tọa)" in vi
    assert "Người cho phát biểu" in vi
    en = render(view, What.MINUTES, Format.HTML, language=Language.EN)
    assert f"Opened by: {DEPUTY} (chair); closed by: {CHAIR} (chair)" in en
    assert f"Annulled by: {DEPUTY} (chair)" in en
    assert "Floor given by" in en
    # Each speech names who gave the floor: the deputy's grant first, then the chair's.
    speeches = en[en.index("Floor given by") :]
    assert speeches.index(f"<td>{DEPUTY} (chair)</td>") < speeches.index(f"<td>{CHAIR} (chair)")

    results = json.loads(render(view, What.RESULTS, Format.JSON))["results"]
    assert results[0]["actors"]["opened"] == actor("pho-chu-tich", DEPUTY)
    assert results[1]["actors"]["annulled"] == actor("pho-chu-tich", DEPUTY)
    text = render(view, What.RESULTS, Format.CSV, language=Language.EN)
    assert text.startswith(CSV_BOM)
    rows = list(csv.DictReader(io.StringIO(text[1:], newline="")))
    v1 = next(r for r in rows if r["Vote id"] == "v1")
    assert (v1["Opened by"], v1["Closed by"]) == (f"{DEPUTY} (chair)", f"{CHAIR} (chair)")


async def test_a_removed_account_is_refused_and_its_stream_closed(
    tmp_path: Path,
    hall_config: HallConfig,
    accounts: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, tokens = accounts
    clock = FakeClock(1000.0)
    async with running(hall_config, tmp_path / "hall.journal", TokenStore.load(path), clock) as d:
        url = f"{d.url.replace('http://', 'ws://')}/api/stream?token={tokens['pho-chu-tich']}"
        async with (
            client(d, tokens["pho-chu-tich"]) as deputy,
            client(d, tokens["chu-tich"]) as chair,
            websockets.connect(url) as ws,
        ):
            assert json.loads(await asyncio.wait_for(ws.recv(), CLOSE_TIMEOUT))["type"]
            assert (await deputy.get("/api/state")).status_code == 200
            assert users(path, "remove", "pho-chu-tich") == 0
            assert DEPUTY in capsys.readouterr().out
            # The daemon sees the change by itself and closes the deputy's stream.
            code = await closed_with(ws)
            assert code == 4401
            r = await deputy.get("/api/state")
            assert r.status_code == 401
            assert r.json()["code"] == "auth.token_invalid"
            assert (await chair.get("/api/state")).status_code == 200
            # Disabled, then enabled again; reset gives a new token and the old one stops.
            assert users(path, "disable", "chu-tich") == 0
            assert (await chair.get("/api/state")).status_code == 401
            assert users(path, "disable", "chu-tich", "--enable") == 0
            assert (await chair.get("/api/state")).status_code == 200
            assert users(path, "reset", "chu-tich") == 0
            fresh = made_token(capsys.readouterr().out)
            assert (await chair.get("/api/state")).status_code == 401
            async with client(d, fresh) as again:
                assert (await again.get("/api/state")).status_code == 200
    # The file keeps hashes only, never a token.
    text = path.read_text(encoding="utf-8")
    assert fresh not in text
    assert fresh.partition(".")[2] not in text
    assert users(path, "--lang", "en", "list") == 0
    listed = capsys.readouterr().out
    assert "chu-tich\tNguyễn Văn An\tchair\tactive" in listed
    assert "pho-chu-tich" not in listed
    assert users(path, "remove", "pho-chu-tich") == 2
    assert "pho-chu-tich" in capsys.readouterr().err


async def test_a_token_file_of_an_earlier_release_keeps_working(
    tmp_path: Path, hall_config: HallConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.json"
    old = {"chair": "x" * 43, "technician": "y" * 43}
    path.write_text(
        json.dumps(
            [
                {"name": f"{role} (initial)", "role": role, "sha256": token_hash(token)}
                for role, token in old.items()
            ]
        ),
        encoding="utf-8",
    )
    store = TokenStore.load(path)
    assert [(a.id, a.name, a.role) for a in store.accounts] == [
        ("chair", "chair (initial)", Role.CHAIR),
        ("technician", "technician (initial)", Role.TECHNICIAN),
    ]
    clock = FakeClock(1000.0)
    journal = tmp_path / "hall.journal"
    async with (
        running(hall_config, journal, store, clock) as daemon,
        client(daemon, old["chair"]) as chair,
        client(daemon, old["technician"]) as t,
    ):
        assert (await chair.post("/api/sitting/open", json=SITTING)).is_success
        assert (await t.get("/api/state")).status_code == 200
        # A change through `chamber users` writes the new form; the old tokens still work.
        assert users(path, "add", "--name", DEPUTY, "--role", "chair") == 0
        assert json.loads(path.read_text(encoding="utf-8"))["version"] == 2
        assert (await chair.post("/api/sitting/close")).is_success
        async with client(daemon, made_token(capsys.readouterr().out)) as deputy:
            assert (await deputy.get("/api/state")).status_code == 200
    opened = next(r for _, r, _ in JournalReader(journal).records() if r["kind"] == "open-sitting")
    assert opened["actor"] == {"id": "chair", "name": "chair (initial)", "role": "chair"}
