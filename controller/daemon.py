"""`chamber run`: the daemon. The runtime, the drivers and the API server in one task group.

`Daemon` is also what tests and the demo start in-process: `async with Daemon(...) as d:` gives
a running daemon whose API listens on `d.url` (port 0 picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from controller.api import create_app
from controller.auth import Role, TokenStore
from controller.config import HallConfig
from controller.core.clock import Clock
from controller.journal import Journal
from controller.runtime import DriverFactory, Runtime
from controller.wallpub import publish_wall_state
from drivers.mosquitto import (
    BrokerEndpoint,
    endpoint_for,
    hall_broker,
    load_or_create_secret,
)
from drivers.mqtt import ip_seats
from drivers.registry import build_drivers

log = logging.getLogger("chamber.daemon")

STATIC_DIR = Path(__file__).resolve().parent / "static"


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it listens (so nobody polls for it)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@dataclass(frozen=True)
class TlsFiles:
    """The API's certificate chain and private key (PEM); without them the API speaks HTTP."""

    cert: Path
    key: Path


class Daemon:
    def __init__(
        self,
        config: HallConfig,
        journal_path: Path,
        tokens: TokenStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        driver_factory: DriverFactory | None = None,
        extra: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
        tls: TlsFiles | None = None,
    ) -> None:
        self.journal = Journal.open(journal_path)
        self.runtime = Runtime(config, self.journal, clock=clock, driver_factory=driver_factory)
        static = str(STATIC_DIR) if STATIC_DIR.is_dir() else None
        self.app = create_app(self.runtime, tokens, static_dir=static)
        self.server = _Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="off",
                ws_ping_interval=10,
                ssl_certfile=str(tls.cert) if tls else None,
                ssl_keyfile=str(tls.key) if tls else None,
            )
        )
        self.scheme = "https" if tls else "http"
        self.extra_jobs = list(extra)
        self._task: asyncio.Task[None] | None = None
        self._serving: asyncio.Future[None] | None = None
        self.port = port
        self.host = host

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def run(self) -> None:
        """Serve until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.runtime.run(self.extra_jobs), name="runtime")
            tg.create_task(self._serve(), name="api")

    async def _serve(self) -> None:
        await self.runtime.started.wait()
        self._serving = asyncio.ensure_future(self.server.serve())
        try:
            await asyncio.shield(self._serving)
        finally:
            self.server.should_exit = True

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name="daemon")
        started = asyncio.ensure_future(self._until_listening())
        done, _ = await asyncio.wait({started, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            started.cancel()
            self._task.result()  # raises what stopped it
            raise RuntimeError("the daemon stopped while starting")
        return self

    async def _until_listening(self) -> None:
        await self.server.listening.wait()
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Close the API gracefully (WebSockets get a proper close), then the runtime."""
        self.server.should_exit = True
        if self._serving is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._serving), timeout=5.0)
        if self._task is not None:
            task = self._task
            # A library's own `asyncio.wait_for` (pymodbus's, on Python 3.11) can swallow a
            # cancellation that lands while it is waiting on a silent unit: cancel again until
            # the task group has really stopped, rather than wait on it forever.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=2.0)
            if not task.cancelled() and task.exception() is not None:
                log.error("the daemon stopped on an error", exc_info=task.exception())
        self.journal.close()


# --- the command line ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the hall's TOML file")
    parser.add_argument(
        "--data", type=Path, default=Path("var"), help="directory for the journal and keys"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--tls-cert", type=Path, help="serve the API over HTTPS: certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="and its private key (PEM)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--tokens",
        type=Path,
        help="token file (default: DATA/tokens.json; made with one token per role if absent)",
    )


def ensure_tokens(path: Path) -> tuple[TokenStore, dict[str, str]]:
    """Load the token file, or make one with a token per role; returns new tokens in clear."""
    if path.exists():
        return TokenStore.load(path), {}
    store = TokenStore()
    fresh = {role.value: store.add(f"{role.value} (initial)", role) for role in Role}
    path.parent.mkdir(parents=True, exist_ok=True)
    store.save(path)
    return store, fresh


def run(args: argparse.Namespace) -> int:
    from controller.config import ConfigError, load_config
    from controller.logsetup import setup_logging
    from controller.runtime import serve_until_signalled

    setup_logging(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = TlsFiles(args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
    for path in (tls.cert, tls.key) if tls else ():
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
    args.data.mkdir(parents=True, exist_ok=True)
    store, fresh = ensure_tokens(args.tokens or args.data / "tokens.json")
    for role, token in fresh.items():
        print(f"new {role} token: {token}", file=sys.stderr)
    main = serve(config, args.data, store, args.host, args.port, tls=tls)
    asyncio.run(serve_until_signalled(main))
    return 0


async def serve(
    config: HallConfig,
    data: Path,
    tokens: TokenStore,
    host: str,
    port: int,
    *,
    ready: asyncio.Event | None = None,
    clock: Clock | None = None,
    tls: TlsFiles | None = None,
) -> None:
    """The whole daemon for `chamber run`: the broker (own or configured), drivers, API.

    Before anything starts, the journal is checked whole (`check_journal`): a broken one stops
    the start with one line naming its first bad record.
    """
    journal_path = data / f"{config.hall_id}.journal"
    await asyncio.to_thread(check_journal, journal_path)
    async with contextlib.AsyncExitStack() as stack:
        endpoint = await stack.enter_async_context(broker_for(config, data))
        daemon = Daemon(
            config,
            journal_path,
            tokens,
            host=host,
            port=port,
            clock=clock,
            driver_factory=functools.partial(build_drivers, broker=endpoint),
            tls=tls,
        )
        daemon.extra_jobs.append(lambda: publish_wall_state(daemon.runtime))
        await stack.enter_async_context(daemon)
        log.info(
            "daemon ready",
            extra={"event": "ready", "url": daemon.url, "hall": config.hall_id},
        )
        if ready is not None:
            ready.set()
        await asyncio.Future()  # until cancelled


def check_journal(path: Path) -> None:
    """The whole chain, the head and the head file, before the daemon starts anything.

    Raises `JournalError` with one line: the first bad record, and what the operator can do.
    Replay checks every record again as it reads it (`Journal.records`).
    """
    from controller.journal import JournalCorruptError, check_before_start

    started = time.perf_counter()
    try:
        report = check_before_start(path)
    except JournalCorruptError as exc:
        raise JournalCorruptError(
            f"{exc}. The daemon did not start: run `chamber audit verify {path}`, then "
            "restore the journal from the last backup that verifies, with that backup's "
            ".head file or none (docs/technician.md, recovery)",
            problem=exc.problem,
            seq=exc.seq,
            detail=exc.detail,
        ) from None
    if report is not None:
        log.info(
            "journal verified",
            extra={
                "event": "journal-verified",
                "records": report.records,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )


@contextlib.asynccontextmanager
async def broker_for(config: HallConfig, data: Path) -> AsyncIterator[BrokerEndpoint]:
    """The configured broker, or our own Mosquitto on loopback with generated credentials."""
    if not config.broker.embedded:
        assert config.broker.host is not None
        yield BrokerEndpoint(
            config.broker.host,
            config.broker.port,
            config.broker.username,
            config.broker.password,
            config.broker.tls,
            config.broker.ca_file,
        )
        return
    secret = load_or_create_secret(data / "mqtt-secret")
    broker = hall_broker(
        config.hall_id, ip_seats(config), data / "mosquitto", secret, log_denied=True
    )
    async with broker:
        log.info(
            "embedded broker running",
            extra={"event": "broker-started", "port": broker.port},
        )
        yield endpoint_for(broker)
