"""`chamber run`: the daemon. The runtime, the drivers and the API server in one task group.

`assemble` builds a whole daemon from a hall and a data directory; `chamber run` and the test
rig (tests/rig.py) both use it. `Daemon` alone is what API tests start in-process:
`async with Daemon(...) as d:` gives a running daemon whose API listens on `d.url` (port 0
picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from chamber.controller.api import create_app
from chamber.controller.auth import Role, TokenStore
from chamber.controller.backup import BackupService
from chamber.controller.cameras import CameraService
from chamber.controller.config import HallConfig
from chamber.controller.core.clock import Clock
from chamber.controller.journal import Journal, JournalError
from chamber.controller.netbind import DEFAULT_HOST, DEFAULT_PORT, ListenError, resolve_host
from chamber.controller.runtime import DriverFactory, Runtime
from chamber.controller.service import Notifier, feed_watchdog, watchdog_interval
from chamber.controller.standby import Shipper
from chamber.controller.timesync import ClockReading, ClockWatch, read_clock
from chamber.controller.wallpub import publish_wall_state
from chamber.drivers.base import Driver, HealthSink, InputSink
from chamber.drivers.camera import CameraDriver
from chamber.drivers.errors import DriverError
from chamber.drivers.mosquitto import (
    BrokerEndpoint,
    TlsListener,
    endpoint_for,
    hall_broker,
    load_or_create_secret,
)
from chamber.drivers.mqtt import MqttUnits, ip_seats
from chamber.drivers.registry import build_drivers

log = logging.getLogger("chamber.daemon")

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The largest WebSocket message the API takes from a client (larger: closed with 1009).
WS_MAX_MESSAGE = 64 * 1024


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
                # The stream only sends; what a client sends it is read and dropped.
                ws_max_size=WS_MAX_MESSAGE,
                ssl_certfile=str(tls.cert) if tls else None,
                ssl_keyfile=str(tls.key) if tls else None,
            )
        )
        self.scheme = "https" if tls else "http"
        self.extra_jobs = list(extra)
        if tokens.path is not None:
            self.extra_jobs.append(functools.partial(watch_accounts, tokens))
        self._task: asyncio.Task[None] | None = None
        self._serving: asyncio.Future[None] | None = None
        self.port = port
        self.host = host
        # The hall file's `[backup]`, once `assemble` started it.
        self.backups: BackupService | None = None
        # The hall file's `[[cameras]]` following the floor, once `assemble` started them.
        self.cameras: CameraService | None = None
        # `--ship`: the journal's shipping server, once `assemble` started it.
        self.shipper: Shipper | None = None

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
    parser.add_argument(
        "--host",
        help="where the API listens (default: the hall file's [api] listen, or 127.0.0.1)",
    )
    parser.add_argument("--port", type=int, help="its port (default: [api] listen's, or 8700)")
    parser.add_argument(
        "--tls-cert",
        type=Path,
        help="serve the API over HTTPS: certificate (PEM; default: [api] tls_cert)",
    )
    parser.add_argument("--tls-key", type=Path, help="and its private key (PEM; [api] tls_key)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--tokens",
        type=Path,
        help="token file (default: DATA/tokens.json; made with one token per role if absent)",
    )
    parser.add_argument(
        "--ship",
        metavar="HOST:PORT",
        help="ship the journal to a standby (`chamber standby`) from this address",
    )
    parser.add_argument(
        "--takeover",
        metavar="HOST:PORT",
        help="take over from the controller that shipped DATA's journal from this address",
    )


def ensure_tokens(path: Path) -> tuple[TokenStore, dict[str, str]]:
    """Load the token file, or make one with an account per role (named by its role: give
    people accounts of their own with `chamber users add`); returns new tokens in clear."""
    if path.exists():
        return TokenStore.load(path), {}
    store = TokenStore(path=path)
    fresh = {role.value: store.add(f"{role.value} (initial)", role) for role in Role}
    path.parent.mkdir(parents=True, exist_ok=True)
    store.save(path)
    return store, fresh


# How often the daemon looks at the token file for accounts that `chamber users` removed,
# disabled or reset (a request looks at it too, at once): their streams are closed then.
ACCOUNTS_POLL_S = 1.0


async def watch_accounts(tokens: TokenStore, interval: float = ACCOUNTS_POLL_S) -> None:
    """Read the token file again whenever it changes, so that a revoked account's open
    stream connections are closed (`TokenStore.on_revoke`) without waiting for a request."""
    while True:
        await asyncio.sleep(interval)
        if tokens.refresh():
            log.info(
                "token file read again: %d accounts",
                len(tokens.accounts),
                extra={"event": "accounts-reloaded"},
            )


def new_tokens_file(tokens_path: Path) -> Path:
    """Where the new tokens go when there is no terminal to show them on."""
    return tokens_path.with_name(tokens_path.name + ".new")


def show_new_tokens(fresh: dict[str, str], tokens_path: Path) -> None:
    """Show the tokens just made, once, and never through the logs.

    On a terminal they are printed there, framed. Without one (a service) printing would put
    them in the system log, so they are written to `tokens.json.new` (mode 0600) instead, and
    one log line says where: hand them out, then delete that file.
    """
    if not fresh:
        return
    lines = [f"  {role:<11} {token}" for role, token in fresh.items()]
    if sys.stderr.isatty():
        rule = "-" * 66
        print(
            "\n".join(["", rule, "  New API tokens. They are shown this once only:", *lines, rule]),
            file=sys.stderr,
            flush=True,
        )
        return
    target = new_tokens_file(tokens_path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("New API tokens (only their hashes are kept). Hand them out, then delete me.\n")
        fh.write("\n".join(lines) + "\n")
    log.warning(
        "new API tokens written to %s: hand them out, then delete that file",
        target,
        extra={"event": "new-tokens", "file": str(target)},
    )


class StartupError(Exception):
    """`chamber run` cannot start; the message is the one line the operator reads."""


def _check_tls(tls: TlsFiles) -> None:
    import ssl

    for path in (tls.cert, tls.key):
        if not path.is_file():
            raise StartupError(f"{path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert, tls.key)
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(
            f"{tls.cert}, {tls.key}: not a usable certificate and key: {_one_line(exc)}"
        ) from None


def listen_address(config: HallConfig, host: str | None, port: int | None) -> tuple[str, int]:
    """Where the API listens: `--host`/`--port` when given, else the hall file's `[api] listen`
    (an interface name resolved to its IPv4 address now), else 127.0.0.1:8700."""
    listen = config.api.listen
    if port is not None and not 0 <= port <= 65535:
        raise StartupError(f"--port {port}: not a port number")
    if host is None and listen is not None:
        try:
            host = resolve_host(listen)
        except ListenError as exc:
            raise StartupError(f"api.listen: {exc}") from None
    if port is None:
        port = listen.port if listen is not None else DEFAULT_PORT
    return host or DEFAULT_HOST, port


def _check_data_dir(data: Path) -> None:
    import tempfile

    try:
        data.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data):
            pass
    except OSError as exc:
        raise StartupError(
            f"data directory {data}: cannot be written: {exc.strerror or exc}"
        ) from None


def _check_port(host: str, port: int) -> None:
    """Refuse at once an address the API cannot listen on (in use, not this machine's)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise StartupError(f"--host {host}: {_one_line(exc)}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                + (" (another daemon running?)" if exc.errno == errno.EADDRINUSE else "")
            ) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def _first_error(exc: BaseException) -> BaseException:
    """The first real error inside task-group wrappers."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def run(args: argparse.Namespace) -> int:
    """`chamber run`. Every error, at start or later, is one line on stderr and a non-zero
    exit: 2 for what the operator must fix before it can start, 1 for a failure while running.
    (`CHAMBER_TRACEBACK=1` shows the traceback as well, for a bug report.)"""
    try:
        return _run(args)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BaseException as wrapped:  # every failure becomes one line
        if os.environ.get("CHAMBER_TRACEBACK") == "1":
            raise
        return _report(_first_error(wrapped))


def _report(error: BaseException) -> int:
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, SystemExit):
        print("error: the API server could not start", file=sys.stderr)
    elif isinstance(error, OSError | ValueError | DriverError | JournalError):
        print(f"error: {_one_line(error)}", file=sys.stderr)
    else:
        print(f"error: unexpected {type(error).__name__}: {_one_line(error)}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    from chamber.controller.auth import TokenFileError
    from chamber.controller.config import ConfigError, load_config
    from chamber.controller.logsetup import setup_logging
    from chamber.controller.runtime import serve_until_signalled

    try:
        setup_logging(args.log_level)
    except ValueError:
        raise StartupError(f"--log-level {args.log_level!r}: unknown level") from None
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    if (args.tls_cert is None) != (args.tls_key is None):
        raise StartupError("--tls-cert and --tls-key go together")
    tls = TlsFiles(args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
    if tls is None and config.api.tls_cert is not None and config.api.tls_key is not None:
        tls = TlsFiles(config.api.tls_cert, config.api.tls_key)
    if tls is not None:
        _check_tls(tls)
    host, port = listen_address(config, args.host, args.port)
    _check_data_dir(args.data)
    _check_port(host, port)
    tokens_path = args.tokens or args.data / "tokens.json"
    try:
        store, fresh = ensure_tokens(tokens_path)
    except TokenFileError as exc:
        raise StartupError(f"token file {exc}") from None
    except OSError as exc:
        raise StartupError(f"token file {tokens_path}: {exc.strerror or exc}") from None
    show_new_tokens(fresh, tokens_path)
    ship = _address_arg("--ship", args.ship)
    if args.takeover is not None:
        _take_over(args.data, args.config, config, _address_arg("--takeover", args.takeover))
    main = serve(config, args.data, store, host, port, tls=tls, ship=ship)
    asyncio.run(serve_until_signalled(main))
    return 0


def _address_arg(flag: str, value: str | None) -> tuple[str, int] | None:
    from chamber.controller.standby import parse_address

    try:
        return None if value is None else parse_address(value)
    except ValueError as exc:
        raise StartupError(f"{flag} {exc}") from None


def _take_over(
    data: Path, hall_file: Path, config: HallConfig, old: tuple[str, int] | None
) -> None:
    """`--takeover`: the standby's checks before its daemon starts (`prepare_takeover`)."""
    from chamber.controller.standby import StandbyError, prepare_takeover

    assert old is not None
    try:
        annulled = prepare_takeover(data, hall_file, data / f"{config.hall_id}.journal", old)
    except StandbyError as exc:
        raise StartupError(str(exc)) from None
    log.info(
        "taking over",
        extra={"event": "takeover", "from": f"{old[0]}:{old[1]}", "annulled": list(annulled)},
    )


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
    ship: tuple[str, int] | None = None,
) -> None:
    """The whole daemon for `chamber run` (`assemble`), serving until cancelled. Under
    systemd (`controller.service`) it notifies readiness once the journal is replayed and the
    API listens, feeds the watchdog while its core loop keeps up, and says when it stops."""
    notifier = Notifier()
    async with assemble(
        config, data, tokens, host=host, port=port, clock=clock, tls=tls, ship=ship
    ) as d:
        log.info(
            "daemon ready",
            extra={"event": "ready", "url": d.url, "hall": config.hall_id},
        )
        notifier.send("READY=1", f"STATUS=serving hall {config.hall_id} at {d.url}")
        if ready is not None:
            ready.set()
        interval = watchdog_interval()
        runtime = d.runtime
        feeder = (
            asyncio.create_task(
                feed_watchdog(notifier, interval, lambda: (runtime.stats.batches, runtime.backlog))
            )
            if interval is not None and notifier.enabled
            else None
        )
        try:
            await asyncio.Future()  # until cancelled
        finally:
            notifier.send("STOPPING=1", "STATUS=stopping")
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
            notifier.close()


@contextlib.asynccontextmanager
async def assemble(
    config: HallConfig,
    data: Path,
    tokens: TokenStore,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    tls: TlsFiles | None = None,
    wall_mqtt: bool = True,
    embedded_broker: bool = True,
    clock_reader: Callable[[], ClockReading] | None = None,
    ship: tuple[str, int] | None = None,
) -> AsyncIterator[Daemon]:
    """The one place a daemon is built from a hall and a data directory: the journal
    (`DATA/HALL.journal`), the broker (the hall's, or our own Mosquitto: `broker_for`), the
    drivers, the API and the wall's MQTT twin. `chamber run` and the test rig both start
    their daemons here; it runs until the block is left.

    Before anything starts, the journal is checked whole (`check_journal`): a broken one stops
    the start with one line naming its first bad record. `wall_mqtt=False` leaves the wall's
    MQTT twin out; `embedded_broker=False` builds no MQTT driver at all when the hall names no
    broker (instead of running one).
    """
    journal_path = data / f"{config.hall_id}.journal"
    await asyncio.to_thread(check_journal, journal_path)
    async with contextlib.AsyncExitStack() as stack:
        endpoint: BrokerEndpoint | None = None
        if embedded_broker or not config.broker.embedded:
            endpoint = await stack.enter_async_context(broker_for(config, data))
        daemon = Daemon(
            config,
            journal_path,
            tokens,
            host=host,
            port=port,
            clock=clock,
            driver_factory=functools.partial(_with_cameras, broker=endpoint),
            tls=tls,
        )
        if wall_mqtt:

            async def wall_twin() -> None:
                # The wall's MQTT twin goes out through the hall's MQTT driver, once built.
                await daemon.runtime.started.wait()
                sinks = [d for d in daemon.runtime.drivers if isinstance(d, MqttUnits)]
                await publish_wall_state(daemon.runtime, sinks=sinks)

            daemon.extra_jobs.append(wall_twin)
        if config.cameras:
            daemon.cameras = CameraService(daemon.runtime)
            daemon.extra_jobs.append(daemon.cameras.run)
        if config.backup is not None:
            _start_backups(daemon, config, data, journal_path)
        _watch_clock(daemon, clock_reader)
        if ship is not None:
            _start_shipping(daemon, data, ship)
        await stack.enter_async_context(daemon)
        yield daemon


def _start_shipping(daemon: Daemon, data: Path, address: tuple[str, int]) -> None:
    """`--ship`: the journal shipped to a standby; each commit confirmed once it holds it."""
    from chamber.controller.standby import KEY_FILE, Shipper, load_or_create_key

    shipper = Shipper(daemon.journal, load_or_create_key(data / KEY_FILE), *address)
    daemon.runtime.replicate = shipper.replicated
    daemon.extra_jobs.append(shipper.run)
    daemon.shipper = shipper


def _watch_clock(daemon: Daemon, reader: Callable[[], ClockReading] | None) -> None:
    """The system clock's synchronisation (`controller.timesync`): one log line at start and
    on each change, a `clock` fault while it is not synchronised, shown in /metrics."""
    runtime = daemon.runtime
    watch = ClockWatch(
        runtime.faults,
        runtime.clock.now,
        reader=reader or read_clock,
        on_change=runtime._refresh_soon,
    )
    daemon.extra_jobs.append(watch.run)


def _start_backups(daemon: Daemon, config: HallConfig, data: Path, journal: Path) -> None:
    """The hall file's `[backup]`: a backup after every vote close and on its timer; a failing
    one is a health fault (`backup`), cleared by the next that succeeds."""
    from chamber.controller.backup import BackupResult

    settings = config.backup
    assert settings is not None
    runtime = daemon.runtime

    def on_result(result: BackupResult | None, error: str) -> None:
        now = runtime.clock.now()
        if result is None:
            runtime.faults.backup_failed(error, now)
            runtime._refresh_soon()
        elif runtime.faults.backup_succeeded(now):
            runtime._refresh_soon()

    service = BackupService(
        data,
        settings.dir,
        hall=config.hall_id,
        journal=journal,
        hall_file=config.source,
        every_s=settings.every_s,
        keep_last=settings.keep_last,
        keep_days=settings.keep_days,
        on_result=on_result,
        after_backup=daemon.journal.checkpoint_truncate,
    )
    daemon.backups = service
    runtime.after_vote_close.append(service.request)
    daemon.extra_jobs.append(service.run)


def _with_cameras(
    config: HallConfig,
    clock: Clock,
    sink: InputSink,
    on_health: HealthSink,
    *,
    broker: BrokerEndpoint | None = None,
) -> list[Driver]:
    """The hall's drivers, and one per camera of `[[cameras]]` (supervised like the others;
    their health is a line each)."""
    drivers = build_drivers(config, clock, sink, on_health, broker=broker)
    return drivers + [CameraDriver(spec, clock, on_health) for spec in config.cameras]


def check_journal(path: Path) -> None:
    """The whole chain, the head and the head file, before the daemon starts anything.

    Raises `JournalError` with one line: the first bad record, and what the operator can do.
    Replay checks every record again as it reads it (`Journal.records`).
    """
    from chamber.controller.journal import JournalCorruptError, check_before_start

    started = time.perf_counter()
    try:
        report = check_before_start(path)
    except JournalCorruptError as exc:
        raise JournalCorruptError(
            f"{exc}. The daemon did not start: run `chamber audit verify {path}`, then "
            f"restore the newest backup that verifies: `chamber restore BACKUP --data "
            f"{path.parent} --force` (docs/technician.md, recovery)",
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


def _broker_tls(config: HallConfig) -> TlsListener | None:
    """The hall file's `[mqtt] tls_port`, `tls_cert`, `tls_key` (relative to the hall file)."""
    if config.broker.tls_listener is None:
        return None
    port, cert, key = config.broker.tls_listener
    base = config.source.parent if config.source is not None else Path()
    return TlsListener(port, base / Path(cert).expanduser(), base / Path(key).expanduser())


@contextlib.asynccontextmanager
async def broker_for(config: HallConfig, data: Path) -> AsyncIterator[BrokerEndpoint]:
    """The configured broker, or our own Mosquitto with generated credentials, listening on the
    hall file's `[mqtt] bind` and `port` (IP units need a fixed address). A broker that an
    earlier daemon of the same data directory left running is ended first."""
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
        config.hall_id,
        ip_seats(config),
        data / "mosquitto",
        secret,
        port=config.broker.port,
        host=config.broker.bind,
        log_denied=True,
        tls=_broker_tls(config),
    )
    async with broker:
        log.info(
            "embedded broker running",
            extra={"event": "broker-started", "port": broker.port, "bind": broker.host},
        )
        yield endpoint_for(broker)
