"""The API's exports and signed results come only from a journal that checks: a byte changed
behind a running daemon's back gives a typed error naming the record, never a signed result,
and the daemon goes on serving."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.daemon import Daemon
from tests.fixtures import make_journal_v1 as v1


@pytest.fixture
async def chair(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    path = tmp_path / "hdnd-fixture.journal"
    shutil.copyfile(v1.HERE / v1.NAME, path)
    keys = tmp_path / f"{path.name}.secret-keys"
    shutil.copytree(v1.HERE / f"{v1.NAME}.secret-keys", keys)
    keys.chmod(0o700)
    for key in keys.iterdir():
        key.chmod(0o600)
    store = TokenStore()
    token = store.add("chair", Role.CHAIR)
    config = load_config(v1.HALL)
    # The time the fixture's sitting stood at: its secret vote left open stays open.
    async with Daemon(config, path, store, clock=FakeClock(1030.0)) as daemon:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=daemon.url, headers=headers, timeout=30) as client:
            try:
                yield client, path
            finally:
                daemon.server.should_exit = True
                await daemon.server.shutdown()


async def test_a_record_changed_behind_the_daemon_stops_exports_and_signing(
    chair: tuple[httpx.AsyncClient, Path],
) -> None:
    client, path = chair
    secret = v1.SECRET_VOTE[0]
    ok = await client.get("/api/exports/results.json")
    assert ok.status_code == 200, ok.text
    assert {r["vote_id"] for r in ok.json()["results"]} == {v1.OPEN_VOTE[0], secret}
    signed = await client.get(f"/api/votes/{secret}/signed-result")
    assert signed.status_code == 200, signed.text

    # Seat 3's last choice in the open vote, changed in the file while the daemon runs.
    with sqlite3.connect(path) as raw:
        changed = raw.execute(
            "UPDATE records SET body = replace(body, '\"key\":1', '\"key\":2') WHERE seq = 31"
        ).rowcount
    assert changed == 1

    for route in ("/api/exports/results.json", f"/api/votes/{secret}/signed-result"):
        refused = await client.get(route)
        assert refused.status_code == 500, refused.text
        assert "record 31: hash-mismatch" in refused.text
    # The daemon itself goes on: its state is the one it replayed before the change.
    state = await client.get("/api/state")
    assert state.status_code == 200
