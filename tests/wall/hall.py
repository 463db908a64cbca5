"""A running daemon for the wall's tests, and an HTTP client with the chair's token.

The daemon is the real one (`controller.daemon.Daemon`), in the test's event loop, with the
50-seat Vietnamese council of the examples. Delegates' presses are fed to its runtime as unit
inputs; waiting is done on the daemon's own stream of deltas, never by sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.inputs import PresenceChanged, VoteKeyPressed
from chamber.controller.daemon import Daemon

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vn-council.toml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WALL_SIZE = {"width": 1920, "height": 1080}


@dataclass
class Hall:
    """A running daemon and what a test needs to drive it."""

    daemon: Daemon
    chair: httpx.AsyncClient
    observer_token: str
    tokens: TokenStore
    chair_token: str
    journal: Path
    config: HallConfig

    @property
    def wall_url(self) -> str:
        return f"{self.daemon.url}/wall/?token={self.observer_token}"

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.chair.post(path, json=body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def state(self) -> dict[str, Any]:
        response = await self.chair.get("/api/state")
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()["state"]
        return state

    def feed_presence(self, seats: range | list[int]) -> None:
        runtime = self.daemon.runtime
        for seat in seats:
            runtime.feed(PresenceChanged(at=runtime.clock.now(), seat=seat, present=True))

    def feed_presses(self, presses: dict[int, int]) -> None:
        runtime = self.daemon.runtime
        for seat, key in presses.items():
            runtime.feed(VoteKeyPressed(at=runtime.clock.now(), seat=seat, key=key))

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> None:
        """Wait until the daemon's state satisfies `predicate`, woken by each of its deltas."""
        hub = self.daemon.runtime.hub
        sub = hub.subscribe(since=hub.seq)
        try:
            async with asyncio.timeout(5):
                while not predicate(hub.snapshot().state):
                    await sub.get()
        finally:
            sub.close()


@asynccontextmanager
async def running_hall(
    journal: Path,
    *,
    config: HallConfig | None = None,
    port: int = 0,
    tokens: TokenStore | None = None,
) -> AsyncIterator[Hall]:
    config = config or load_config(EXAMPLE)
    tokens = tokens or TokenStore()
    chair_token = tokens.add("chair", Role.CHAIR)
    observer = tokens.add("wall", Role.OBSERVER)
    async with Daemon(config, journal, tokens, port=port) as daemon:
        shut = _graceful(daemon)
        headers = {"Authorization": f"Bearer {chair_token}"}
        async with httpx.AsyncClient(base_url=daemon.url, headers=headers) as chair:
            yield Hall(daemon, chair, observer, tokens, chair_token, journal, config)
        # Let the server close the walls' WebSockets itself before the daemon is cancelled:
        # a cancelled server leaves their sockets to the garbage collector.
        daemon.server.should_exit = True
        async with asyncio.timeout(10):
            await shut.wait()


def _graceful(daemon: Daemon) -> asyncio.Event:
    """An event set once the daemon's HTTP server has finished its own shutdown."""
    done = asyncio.Event()
    shutdown = daemon.server.shutdown

    async def shutdown_then_tell(sockets: Any = None) -> None:
        try:
            await shutdown(sockets=sockets)
        finally:
            done.set()

    daemon.server.shutdown = shutdown_then_tell  # type: ignore[method-assign]
    return done


@dataclass
class PageErrors:
    """What went wrong in the page: script errors, console errors, failed requests."""

    errors: list[str] = field(default_factory=list)

    def while_daemon_ran(self) -> list[str]:
        """The errors, less the page's attempts to reconnect once the test stopped the daemon
        (a wall retries its stream forever; a refused connection then is what it should get)."""
        return [e for e in self.errors if "ERR_CONNECTION_REFUSED" not in e]
