"""A whole hall on one machine, for tests: the simulator on the real wire protocols, and the
daemon.

`HallRig` is what the end-to-end tests start: the simulator (pty serial lines, Modbus TCP
gateways, IP units on its own Mosquitto), then a daemon in this process, built by the daemon's
own assembly (`controller.daemon.assemble`) and wired to the simulator exactly as it would be
to real units, with a token per role. The daemon can be restarted on the same journal (replay)
while the simulated hall keeps running.

For a daemon in its own process (to kill it with SIGKILL), `write_daemon_config()` writes the
TOML that `chamber run --config` reads.

Only tests import this module: it reaches into both the daemon and the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import Clock
from chamber.controller.daemon import Daemon, assemble
from chamber.simulator.cli import config_toml
from chamber.simulator.hall import SimulatedHall

DRIVER_READY_S = 30.0


@dataclass(frozen=True)
class RigTokens:
    chair: str
    secretary: str
    technician: str
    observer: str
    metrics: str


class HallRig:
    def __init__(
        self,
        config: HallConfig,
        data_dir: Path,
        *,
        wire_time: bool = False,
        seed: int = 1,
        port: int = 0,
        clock: Clock | None = None,
        wall_mqtt: bool = True,
        sim_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.port = port
        self.clock = clock
        self.wall_mqtt = wall_mqtt
        self.sim = SimulatedHall(
            config,
            wire_time=wire_time,
            seed=seed,
            runtime_dir=data_dir / "sim",
            **dict(sim_options or {}),
        )
        self.store = TokenStore()
        self.tokens = RigTokens(
            *(self.store.add(f"{role.value} (rig)", role) for role in Role)  # enum order
        )
        self.daemon: Daemon | None = None
        self._stack = contextlib.AsyncExitStack()
        self._daemon_stack: contextlib.AsyncExitStack | None = None

    @property
    def journal_path(self) -> Path:
        return self.data_dir / f"{self.config.hall_id}.journal"

    @property
    def daemon_config(self) -> HallConfig:
        return self.sim.wired(self.config)

    def write_daemon_config(self, path: Path) -> Path:
        """The TOML that `chamber run --config` reads to drive this simulated hall."""
        path.write_text(config_toml(self.daemon_config), encoding="utf-8")
        path.chmod(0o600)
        return path

    async def __aenter__(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "sim").mkdir(exist_ok=True)
        # The simulator's broker drops to the mosquitto account: it must reach its directory.
        self.data_dir.chmod(0o711)
        (self.data_dir / "sim").chmod(0o711)
        try:
            await self._stack.enter_async_context(self.sim)
            await self.start_daemon()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_daemon()
        await self._stack.aclose()

    async def start_daemon(self) -> Daemon:
        """Start a daemon on the rig's journal (replaying whatever it holds)."""
        if self.daemon is not None:
            raise RuntimeError("the daemon is already running")
        stack = contextlib.AsyncExitStack()
        daemon = await stack.enter_async_context(
            assemble(
                self.daemon_config,
                self.data_dir,
                self.store,
                port=self.port,
                clock=self.clock,
                wall_mqtt=self.wall_mqtt,
                # No broker in the simulated hall: no MQTT driver either.
                embedded_broker=False,
            )
        )
        self._daemon_stack = stack
        self.port = daemon.port  # a restart comes back on the same port
        self.daemon = daemon
        # Until the MQTT driver has subscribed, what an IP unit publishes reaches no session
        # on a fresh broker: a hall is ready once its drivers are connected.
        try:
            for driver in daemon.runtime.drivers:
                await asyncio.wait_for(driver.ready(), DRIVER_READY_S)
        except BaseException:
            await self.stop_daemon()
            raise
        return daemon

    async def stop_daemon(self) -> None:
        if self._daemon_stack is not None:
            stack, self._daemon_stack, self.daemon = self._daemon_stack, None, None
            await stack.aclose()

    async def restart_daemon(self) -> Daemon:
        await self.stop_daemon()
        return await self.start_daemon()

    @property
    def url(self) -> str:
        if self.daemon is None:
            raise RuntimeError("the daemon is not running")
        return self.daemon.url

    def client(self, role: Role = Role.CHAIR) -> httpx.AsyncClient:
        token = getattr(self.tokens, role.value)
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    async def wait_state(
        self, predicate: Callable[[dict[str, Any]], bool], *, within: float = 10.0
    ) -> dict[str, Any]:
        """Wait until the daemon's state satisfies `predicate`, woken by each delta."""
        if self.daemon is None:
            raise RuntimeError("the daemon is not running")
        hub = self.daemon.runtime.hub
        sub = hub.subscribe()
        try:
            async with asyncio.timeout(within):
                while True:
                    await sub.get()
                    while sub.get_nowait() is not None:
                        pass
                    state = hub.snapshot().state
                    if predicate(state):
                        return state
        finally:
            sub.close()
