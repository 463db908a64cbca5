"""A real daemon in-process (FakeClock, no hardware) and a chair token, for console tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from textual.widgets import Static

from chamber.console.app import ChamberConsole
from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig, load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import PresenceChanged
from chamber.controller.daemon import Daemon
from chamber.drivers.base import Driver, HealthSink, InputSink

ROOT = Path(__file__).resolve().parents[2]
VN_COUNCIL = ROOT / "examples" / "vn-council.toml"


@dataclass
class Hall:
    """A running daemon and what a test needs to drive it from the side."""

    config: HallConfig
    tokens: TokenStore
    chair: str
    technician: str
    clock: FakeClock
    journal: Path
    daemon: Daemon

    @property
    def url(self) -> str:
        return self.daemon.url

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.chair}"}
        )

    def arrive(self, seats: range) -> None:
        for seat in seats:
            self.daemon.runtime.feed(PresenceChanged(at=self.clock.now(), seat=seat, present=True))

    async def open_sitting(self) -> None:
        async with self.http() as http:
            reply = await http.post(
                "/api/sitting/open",
                json={
                    "sitting_id": "k12",
                    "title": "Kỳ họp thứ 12",
                    "agenda": [{"id": "1", "title": "Nghị quyết về ngân sách tỉnh"}],
                },
            )
            reply.raise_for_status()


class HealthTap:
    """A driver factory with no drivers: it only keeps the runtime's health sink, so that a
    test reports units' health as drivers would."""

    def __init__(self) -> None:
        self.sink: HealthSink | None = None

    def __call__(
        self, config: HallConfig, clock: object, inputs: InputSink, health: HealthSink
    ) -> Sequence[Driver]:
        self.sink = health
        return []


@pytest.fixture
def vn_config() -> HallConfig:
    return load_config(VN_COUNCIL)


@pytest.fixture
async def hall(tmp_path: Path, vn_config: HallConfig) -> AsyncIterator[Hall]:
    tokens = TokenStore()
    chair = tokens.add("chair", Role.CHAIR)
    technician = tokens.add("technician", Role.TECHNICIAN)
    clock = FakeClock()
    journal = tmp_path / "hall.journal"
    async with Daemon(vn_config, journal, tokens, port=0, clock=clock) as daemon:
        yield Hall(vn_config, tokens, chair, technician, clock, journal, daemon)


def panel_text(app: ChamberConsole, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def until_drawn(app: ChamberConsole, predicate: Callable[[], bool], what: str = "") -> None:
    """Wait until a drawing pass of `app` leaves `predicate()` true (bounded)."""
    try:
        async with asyncio.timeout(20):
            await app.wait_drawn(predicate)
    except TimeoutError:
        raise AssertionError(f"never drawn: {what}") from None


async def until_shown(app: ChamberConsole, selector: str, *texts: str) -> str:
    """Wait until panel `selector` shows every one of `texts`; returns what it shows."""
    try:
        async with asyncio.timeout(20):
            await app.wait_drawn(lambda: all(t in panel_text(app, selector) for t in texts))
    except TimeoutError:
        raise AssertionError(
            f"{selector} never showed {texts!r}; it shows:\n{panel_text(app, selector)}"
        ) from None
    return panel_text(app, selector)
