"""The daemon as its own process, and the recorders that watch it from outside.

`Daemon` runs `chamber run` as a child process on a fixed port, reads its stderr line by line
(every line of every start is kept: the attacker reads them), is ready on its "daemon ready"
log line, and is ended with SIGKILL. `StreamRecorder` keeps a WebSocket on the daemon's stream
for the whole run, across the daemon's restarts; `MqttRecorder` does the same on the broker
for one account. Every wait here is on an event, with a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import websockets

from chamber.controller.core.patch import apply

CHAMBER = Path(sys.executable).with_name("chamber")
READY_S = 60.0  # the bound on one start of the daemon: replaying a long run's journal on 2 cores


class DaemonDied(AssertionError):
    """The daemon exited or never became ready."""


STOP_BOUND_S = 10.0


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel a recorder and wait for it, within a bound. aiomqtt's client can be left
    waiting on a socket the killed broker closed under it ("Bad file descriptor"): such a
    recorder is abandoned, not awaited forever, so that a run's teardown always ends."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_BOUND_S)
    if task in done:
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            task.result()


@dataclass
class Daemon:
    """`chamber run` in its own process, started and SIGKILLed over and over on one port."""

    config: Path
    data: Path
    tokens: Path
    port: int
    lines: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # seconds from spawn to ready
    generation: int = 0
    # More of `chamber run`'s options for the next start (`--ship`, `--takeover`).
    args: tuple[str, ...] = ()
    up: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> float:
        """Spawn the daemon and return once it is ready: the seconds it took."""
        loop = asyncio.get_running_loop()
        spawned = loop.time()
        self._proc = await asyncio.create_subprocess_exec(
            str(CHAMBER),
            "run",
            "--config",
            str(self.config),
            "--data",
            str(self.data),
            "--port",
            str(self.port),
            "--tokens",
            str(self.tokens),
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read(self._proc, ready))
        exited = asyncio.ensure_future(self._proc.wait())
        waiting = asyncio.ensure_future(ready.wait())
        try:
            await asyncio.wait({exited, waiting}, timeout=READY_S, return_when="FIRST_COMPLETED")
        finally:
            exited.cancel()
            waiting.cancel()
        if not ready.is_set():
            await self.kill()
            tail = "\n".join(self.lines[-20:])
            raise DaemonDied(f"the daemon did not become ready within {READY_S} s:\n{tail}")
        took = loop.time() - spawned
        self.starts.append(took)
        self.generation += 1
        self.up.set()
        async with self.changed:
            self.changed.notify_all()
        return took

    async def _read(self, proc: asyncio.subprocess.Process, ready: asyncio.Event) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if not ready.is_set() and '"ready"' in line:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and record.get("event") == "ready":
                        ready.set()

    async def kill(self) -> None:
        """SIGKILL, as a power cut would; returns once the process is gone."""
        self.up.clear()
        proc = self._proc
        if proc is not None:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        async with self.changed:
            self.changed.notify_all()

    async def wait_generation(self, after: int, within: float) -> None:
        """Until the daemon has been (re)started since generation `after`."""
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: self.generation > after and self.up.is_set())


@dataclass
class Received:
    at: float  # the loop's time at receipt
    generation: int
    data: Any


class StreamRecorder:
    """A WebSocket client of /api/stream for one token (and a `view` it asks for, such as the
    wall's), kept for the whole run. The views the messages built are rebuilt on demand
    (`views_since`): a snapshot, then each patch applied to it."""

    def __init__(
        self,
        daemon: Daemon,
        token: str,
        name: str,
        wake: asyncio.Event,
        *,
        view: str | None = None,
    ) -> None:
        self.daemon = daemon
        self.token = token
        self.view = view
        self.name = name
        self.messages: list[Received] = []
        self.wake = wake
        self.snapshots = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await stop_task(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop:
            generation = self.daemon.generation
            await self.daemon.up.wait()
            url = f"ws://127.0.0.1:{self.daemon.port}/api/stream?token={self.token}"
            if self.view is not None:
                url += f"&view={self.view}"
            try:
                async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
                    async for raw in ws:
                        data = json.loads(raw)
                        if isinstance(data, dict) and data.get("type") == "snapshot":
                            self.snapshots += 1
                        self.messages.append(Received(loop.time(), self.daemon.generation, data))
                        self.wake.set()
            except (OSError, websockets.WebSocketException, TimeoutError, ValueError):
                pass
            # Gone with the daemon: wait for its next start (the run bounds the whole wait).
            async with self.daemon.changed:
                await self.daemon.changed.wait_for(
                    lambda g=generation: (
                        self._stop  # type: ignore[misc]
                        or (self.daemon.generation > g and self.daemon.up.is_set())
                    )
                )

    def since(self, at: float) -> list[dict[str, Any]]:
        return [m.data for m in self.messages if m.at >= at and isinstance(m.data, dict)]

    def views_since(self, at: float) -> list[dict[str, Any]]:
        """The view as each message received from `at` on left it (a patch that does not fit
        is the daemon's bug: it raises)."""
        views: list[dict[str, Any]] = []
        view: Any = None
        for m in self.messages:
            data = m.data
            if not isinstance(data, dict):
                continue
            if data.get("type") == "snapshot":
                view = copy.deepcopy(data.get("state"))
            elif data.get("type") == "patch" and view is not None:
                view = apply(view, data.get("ops", []))
            else:
                continue
            if m.at >= at and isinstance(view, dict):
                views.append(copy.deepcopy(view))
        return views


class MqttRecorder:
    """One broker account subscribed to everything its ACL lets it read, for the whole run."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        identifier: str,
        *,
        on_message: Callable[[str, bytes, bool], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.identifier = identifier
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.connected = asyncio.Event()
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    identifier=self.identifier,
                ) as client:
                    await client.subscribe("#", 1)
                    self.connected.set()
                    backoff = 0.1
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        topic = str(message.topic)
                        self.messages.append((loop.time(), topic, payload, bool(message.retain)))
                        if self._on_message is not None:
                            self._on_message(topic, payload, bool(message.retain))
            except aiomqtt.MqttError:
                self.connected.clear()
                # Reconnection backoff while the broker is away: a pause between attempts.
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)


async def retained_messages(
    host: str, port: int, username: str, password: str, identifier: str, within: float
) -> list[tuple[str, bytes]]:
    """Every retained message on the broker that `username` may read.

    The broker sends the retained messages of a subscription right after its SUBACK; a second
    subscription's SUBACK comes after all of them, so once it is back they have all arrived.
    """
    found: list[tuple[str, bytes]] = []
    async with (
        asyncio.timeout(within),
        aiomqtt.Client(
            host, port, username=username, password=password, identifier=identifier
        ) as client,
    ):
        await client.subscribe("#", 0)
        await client.subscribe("$SYS/broker/version", 0)
        queue = client._queue  # what has arrived, without waiting for more
        while not queue.empty():
            message = queue.get_nowait()
            if message.retain:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                found.append((str(message.topic), payload))
    return found
