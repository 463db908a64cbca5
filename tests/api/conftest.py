"""A running daemon for the API tests: the vn-council hall, a fake clock, one token per role.

The daemon is the real one (runtime, journal, HTTP server on a free port); delegates' presses
are fed to its runtime as unit inputs. Time moves only when a test moves the clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input, PresenceChanged, Tick
from chamber.controller.daemon import Daemon

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SITTING = {
    "sitting_id": "k12",
    "title": "Kỳ họp thứ 12",
    "agenda": [{"id": "1", "title": "Nghị quyết về ngân sách tỉnh"}],
}


@pytest.fixture(scope="session")
def hall_config() -> HallConfig:
    return load_config(EXAMPLES / "vn-council.toml")


@dataclass
class Hall:
    daemon: Daemon
    clock: FakeClock
    tokens: dict[Role, str]
    store: TokenStore
    # One client per role, made on first use: making an httpx client loads the CA bundle
    # (about 0.1 s), which would dominate a walk over every route and role.
    _clients: dict[Role | None, httpx.AsyncClient] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.daemon.url

    @contextlib.asynccontextmanager
    async def client(self, role: Role | None = Role.CHAIR) -> AsyncIterator[httpx.AsyncClient]:
        client = self._clients.get(role)
        if client is None:
            headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
            client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)
            self._clients[role] = client
        yield client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        # Stop the HTTP server gracefully, so that its listening socket is closed before
        # the daemon's task is cancelled.
        self.daemon.server.should_exit = True
        await self.daemon.server.shutdown()

    async def feed(self, *inputs: Input) -> None:
        """Feed unit inputs and return once the core has taken them (and they are durable).

        A command travels through the same queue as unit inputs, so when a Tick sent after
        them is answered, they have all been handled: no sleeping, no polling.
        """
        for inp in inputs:
            self.daemon.runtime.feed(inp)
        await self.daemon.runtime.command(lambda at: Tick(at=at))

    async def seat_delegates(self, seats: range) -> None:
        await self.feed(
            *(PresenceChanged(at=self.clock.now(), seat=s, present=True) for s in seats)
        )

    async def open_sitting(self, present: range = range(1, 31)) -> None:
        async with self.client() as c:
            r = await c.post("/api/sitting/open", json=SITTING)
            assert r.status_code == 200, r.text
        await self.seat_delegates(present)


def make_tokens() -> tuple[TokenStore, dict[Role, str]]:
    store = TokenStore()
    return store, {role: store.add(f"{role.value} console", role) for role in Role}


@pytest.fixture
async def hall(tmp_path: Path, hall_config: HallConfig) -> AsyncIterator[Hall]:
    store, tokens = make_tokens()
    clock = FakeClock(1000.0)
    async with Daemon(hall_config, tmp_path / "hall.journal", store, clock=clock) as daemon:
        hall = Hall(daemon, clock, tokens, store)
        try:
            yield hall
        finally:
            await hall.aclose()
