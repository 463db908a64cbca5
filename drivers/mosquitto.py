"""Run and supervise the hall's own Mosquitto broker.

With no broker configured, the daemon starts Mosquitto itself: one listener on the address and
port the hall file names (`[mqtt] bind`, `port`), no anonymous clients, a password file with
one user for the controller, one for the display wall and one for each IP seat unit, an ACL
that lets each unit publish only on its own seat's topics, and client ids bound to accounts
(`use_username_as_clientid`: no account can take over another's session, the controller's
included). The supervisor restarts the broker if it dies (on the same port, so clients
reconnect by themselves) and stops it cleanly.

The broker belongs to the daemon. Its pid is kept in its directory (`mosquitto.pid`); at start a
broker left running over the same directory (by a daemon that was SIGKILLed) is found, checked
against its command line (our binary, our config file: a reused pid is never ended by mistake)
and ended before the new one starts, so there is never a second broker on other files or port.
On Linux the child also asks the kernel for SIGTERM when the daemon dies (PR_SET_PDEATHSIG).

Nothing of a secret vote reaches its disk: it runs with `persistence false`. Queued QoS 1
messages for a disconnected controller then live in the broker's memory only, and a broker
restart loses those and the controller's session; the contract makes a unit repeat a press
until it sees the controller's confirmation (firmware_specs/mqtt.md), which covers both.

Every password is derived from a hall secret with HMAC-SHA256 (`unit_password`), so the
simulator, or a technician provisioning a unit, computes the same password from the same
secret file without any password list being copied around.

Files and privileges: started as root, Mosquitto drops to the `mosquitto` user before it reads
the password and ACL files (a root-only file makes it exit with code 13). Running the broker
as root (`user root`) would avoid that but gives a network daemon full control of the
machine. Making the files world-readable would leak every unit's password to every local
user. So: the broker's directory and files are owned by the `mosquitto` user, mode 0700/0600;
only that user and root can read them. Not root, the files belong to the current user and the
broker runs as that user.

Where the files go: in the directory the caller names (the daemon's `DATA/mosquitto`), when
the broker's account can reach it. A directory below one that account cannot enter (a clone
under `/root`, mode 0700, as root: the `mosquitto` user may not pass `/root`) is not opened up
for it: the files go instead to a private runtime directory, `/run/chamber-<uid>/mosquitto-<key>`
(`<key>` is derived from the named directory's path, so a broker left running by a SIGKILLed
daemon is found again by the next start over the same directory), mode 0700 and owned by the
broker's account inside a parent that others may traverse but not list (0711), and removed
when the broker stops; one left by a daemon killed outright is removed by the next broker to
start there. Only when no such place exists does the start fail, with one line naming the
folder the account cannot enter.

This module never speaks MQTT itself (readiness is a TCP connect to the listener) and never
reads the meeting core's clock: process supervision runs on the event loop's own time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import ctypes.util
import hashlib
import hmac
import itertools
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from chamber.drivers.errors import BrokerError
from chamber.protocols.mqtt import MqttError, render_acl, seat_username

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# Every IPv4 interface: what a hall with IP units on its own network needs by default.
ALL_INTERFACES = "0.0.0.0"
PID_FILE = "mosquitto.pid"
_PR_SET_PDEATHSIG = 1
# "Denied PUBLISH from CLIENT (d0, q1, r0, m1, 'TOPIC', ... (2 bytes))"
_DENIED = re.compile(r"Denied PUBLISH from (\S+) \(.*?'(.*)', \.\.\.")
SECRET_BYTES = 32
# Mosquitto's own account on Debian; absent elsewhere, and then the broker runs as us.
BROKER_ACCOUNT = "mosquitto"


def unit_password(secret: bytes, username: str) -> str:
    """The MQTT password of `username` in a hall whose secret is `secret`.

    HMAC-SHA256 over the UTF-8 user name, base64url without padding (43 characters, 256 bits):
    printable, free of ':' (the password file's separator) and the same in every language.
    """
    if not secret:
        raise BrokerError("the hall secret is empty")
    digest = hmac.new(secret, username.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def load_or_create_secret(path: Path) -> bytes:
    """Read the hall secret at `path`, creating it (random, mode 0600) when it is missing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = secrets.token_bytes(SECRET_BYTES)
        # O_EXCL: two daemons racing on a fresh install must not end up with two secrets.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_secret(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return data
    except OSError as exc:
        raise BrokerError(f"cannot read the hall secret {path}: {exc.strerror}") from exc
    if len(data) < 16:
        raise BrokerError(f"the hall secret {path} is too short ({len(data)} bytes, need 16)")
    return data


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the broker binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class BrokerUser:
    username: str
    password: str


async def _run_tool(*argv: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except OSError as exc:
        raise BrokerError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        text = out.decode("utf-8", "replace").strip()
        raise BrokerError(f"{argv[0]} failed ({proc.returncode}): {text}")


class Mosquitto:
    """One Mosquitto process on loopback, with its files, kept running until `stop()`.

    Use as `async with Mosquitto(...) as broker:` (starts, and stops on exit), or call
    `start()`, run `supervise()` in a task, and `stop()`. `port` is known after `start()`.
    """

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, str],
        acl: str,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        binary: str = "mosquitto",
        passwd_tool: str = "mosquitto_passwd",
        ready_timeout_s: float = 10.0,
        restart_backoff_s: tuple[float, float] = (0.2, 10.0),
        log_denied: bool = False,
        stale_timeout_s: float = 5.0,
        runtime_parents: tuple[Path, ...] | None = None,
        tls: TlsListener | None = None,
    ) -> None:
        # A second listener, MQTT over TLS, on the same interface and with the same accounts.
        self.tls = tls
        # Where a private runtime directory may be made when the broker's account cannot
        # reach `directory` (see the module's doc); None: the system's (`runtime_parents()`).
        self._runtime_parents = runtime_parents
        self._files: Path | None = None
        self.stale_timeout_s = stale_timeout_s
        self.stale_ended = 0
        self.log_denied = log_denied
        if not users:
            raise BrokerError("a broker with no users would refuse every client")
        for name in users:
            if not name or ":" in name or any(c.isspace() for c in name):
                raise BrokerError(f"bad MQTT user name {name!r}")
        self.directory = directory
        self.users = dict(users)
        self.acl = acl
        self.host = host
        self._port = port
        self.binary = binary
        self.passwd_tool = passwd_tool
        self.ready_timeout_s = ready_timeout_s
        self.restart_backoff_s = restart_backoff_s
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._recent: deque[str] = deque(maxlen=20)
        self._denied_logged: dict[tuple[str, str], float] = {}
        self._changed: asyncio.Condition | None = None
        self._running = asyncio.Event()

    @property
    def port(self) -> int:
        if not self._port:
            raise BrokerError("the broker has no port before it is started")
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def files(self) -> Path:
        """The directory that holds the broker's config, password file, ACL and pid file:
        `directory`, or the private runtime directory standing in for it (module doc)."""
        if self._files is None:
            self._files = self._choose_files()
        return self._files

    @property
    def in_runtime_dir(self) -> bool:
        """The files are in a runtime directory of their own, removed when the broker stops."""
        return self.files != self.directory

    @property
    def config_file(self) -> Path:
        return self.files / "mosquitto.conf"

    @property
    def pid_file(self) -> Path:
        return self.files / PID_FILE

    @property
    def connect_host(self) -> str:
        """The address a client on this machine reaches the listener at."""
        if self.host in (ALL_INTERFACES, ""):
            return LOOPBACK
        if self.host == "::":
            return "::1"
        return self.host

    # --- files ---------------------------------------------------------------------------

    def _account(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(BROKER_ACCOUNT)
        except KeyError:
            return None

    def _choose_files(self) -> Path:
        """`directory` if the broker's account can reach it, else the runtime directory."""
        account = self._account()
        if account is None or _unreachable(self.directory, account) is None:
            return self.directory
        parents = self._runtime_parents
        if parents is None:
            parents = runtime_parents()
        key = hashlib.sha256(os.fsencode(self.directory.resolve())).hexdigest()[:16]
        refused: list[str] = []
        for parent in parents:
            base = parent / f"chamber-{os.geteuid()}"
            try:
                _shared_base(base)
            except BrokerError as exc:
                refused.append(str(exc))
                continue
            if _unreachable(base / "x", account) is not None:
                refused.append(f"{base}: out of its reach too")
                continue
            return base / f"mosquitto-{key}"
        blocked = _unreachable(self.directory, account) or "no place for the broker's files"
        raise BrokerError(
            f"{blocked}, and no runtime directory could be made for its files "
            f"({'; '.join(refused)}): {_TRAVERSE}"
        )

    def _fresh_files(self, account: pwd.struct_passwd | None) -> None:
        """Make the files' directory, private (0700) and the broker account's own. A runtime
        directory starts empty: what a SIGKILLed daemon's broker left there goes first."""
        d = self.files
        if self.in_runtime_dir:
            _remove_tree(d)
            _sweep(d.parent, keep=d)
            d.mkdir(mode=0o700)
        else:
            d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
        if account is not None:
            os.chown(d, account.pw_uid, account.pw_gid)

    async def write_files(self) -> None:
        """Write the config, password and ACL files with the ownership explained above."""
        if shutil.which(self.binary) is None:
            raise BrokerError(f"{self.binary} is not installed (Debian package: mosquitto)")
        if not self._port:
            self._port = free_port(self.connect_host)
        account = self._account()
        self._fresh_files(account)
        d = self.files
        passwords = d / "passwords"
        acl = d / "acl"
        # Plain "user:password" lines, hashed in place by mosquitto_passwd -U: one process for
        # the whole hall instead of one per unit, and the hash format is Mosquitto's own.
        plain = "".join(f"{u}:{p}\n" for u, p in sorted(self.users.items()))
        _write_private(passwords, plain)
        await _run_tool(self.passwd_tool, "-U", str(passwords))
        _write_private(acl, self.acl if self.acl.endswith("\n") else self.acl + "\n")
        lines = [
            "# Written by chamber at every start; edits here are lost.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {acl}",
            # Nothing on disk: the presses queued for the controller and the LED states of a
            # secret vote would link seats to choices there. Lost with a broker restart, a
            # press is repeated by its unit until the controller confirms it (the contract).
            "persistence false",
            # The default (1,000 QoS 1 messages queued per client, the rest dropped silently)
            # loses presses when a whole hall votes within a second; bounded still, so that a
            # client gone for good cannot take the machine's memory.
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            # Mosquitto leaves Nagle's algorithm on by default: a small PUBLISH to the controller
            # then waits for the TCP ACK of the one before, which the receiving kernel delays by
            # up to 40 ms. That was the 25-47 ms press of every vote (docs/benchmarks.md).
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"listener {self._port} {self.host}",
            # A client id is its account name: no account can take over another's session
            # (the controller's included) by connecting with its client id. A setting of the
            # listener: before any `listener` line it would open a default one on 1883.
            "use_username_as_clientid true",
        ]
        if self.tls is not None:
            # Copies the broker's account can read (the originals may be root's only).
            cert, key = d / "tls.crt", d / "tls.key"
            try:
                _write_private(cert, self.tls.cert.read_text(encoding="ascii"))
                _write_private(key, self.tls.key.read_text(encoding="ascii"))
            except (OSError, UnicodeError) as exc:
                raise BrokerError(f"the broker's TLS files: {exc}") from None
            if account is not None:
                for path in (cert, key):
                    os.chown(path, account.pw_uid, account.pw_gid)
            lines += [
                f"listener {self.tls.port} {self.host}",
                f"certfile {cert}",
                f"keyfile {key}",
                "tls_version tlsv1.2",
                "use_username_as_clientid true",
            ]
        if self.log_denied:
            # Denied publishes (a unit pressing for another seat) are logged at debug level
            # only; the supervisor keeps those lines and drops the rest of the debug chatter,
            # at the cost of a few log lines read per message.
            lines.append("log_type debug")
        if account is not None:
            lines.insert(1, f"user {BROKER_ACCOUNT}")
        _write_private(self.config_file, "\n".join(lines) + "\n")
        if account is not None:
            for path in (d, passwords, acl, self.config_file):
                os.chown(path, account.pw_uid, account.pw_gid)
            _check_reachable(d, account)

    # --- the process -----------------------------------------------------------------------

    def _argv(self) -> list[str]:
        return [self.binary, "-c", str(self.config_file)]

    async def _spawn(self) -> None:
        account = self._account()
        # Started as its own account (not as root dropping privileges later): a change of
        # user clears the parent-death signal, which must hold for the broker's whole life.
        privileges: dict[str, object] = {}
        if account is not None:
            privileges = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                # Its own session: a Ctrl-C at the terminal reaches the daemon, which stops
                # the broker in order, instead of killing the broker first.
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                env=broker_environment(),
                **privileges,  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise BrokerError(f"cannot start {self.binary}: {exc.strerror or exc}") from exc
        _write_private(self.pid_file, f"{self._proc.pid}\n")
        self._recent.clear()
        self._running = asyncio.Event()
        self._stderr_task = asyncio.create_task(self._pump_stderr(self._proc))
        await self._wait_ready(self._proc)

    async def _pump_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if " PUBLISH " in line:
                # Debug chatter, one line per message: only a denied one matters.
                if "Denied PUBLISH" in line:
                    self._denied(line)
                continue
            self._recent.append(line)
            # "mosquitto version 2.0.11 running": every listener is bound, by this process.
            if " running" in line:
                self._running.set()
            log.debug("mosquitto: %s", line, extra={"event": "broker-log", "pid": proc.pid})

    def _denied(self, line: str) -> None:
        """A publish the ACL refused: e.g. a unit pressing for another seat. Logged once a
        minute per client and topic, so a misbehaving unit cannot flood the log."""
        match = _DENIED.search(line)
        client, topic = match.groups() if match else ("?", line)
        now = asyncio.get_running_loop().time()
        last = self._denied_logged.get((client, topic))
        if last is not None and now - last < 60.0:
            return
        self._denied_logged[(client, topic)] = now
        log.warning(
            "broker refused a publish from client %s on %s (not its topic)",
            client,
            topic,
            extra={"event": "publish-denied", "client": client, "topic": topic},
        )

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        """Wait until the broker says it runs and its listener accepts a TCP connection.

        Its own "running" line comes first: a connect alone could reach another program that
        holds the port while this broker fails to bind it and exits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout_s
        exited = asyncio.ensure_future(proc.wait())
        running = asyncio.ensure_future(self._running.wait())
        try:
            await asyncio.wait(
                {exited, running}, timeout=self.ready_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise BrokerError(
                        f"mosquitto did not accept connections on {self.connect_host}:{self._port} "
                        f"within {self.ready_timeout_s} s"
                    )
                connect = asyncio.ensure_future(
                    asyncio.open_connection(self.connect_host, self._port)
                )
                done, _ = await asyncio.wait(
                    {connect, exited}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if exited in done:
                    connect.cancel()
                    with contextlib.suppress(BaseException):
                        await connect
                    if self._stderr_task is not None:
                        with contextlib.suppress(asyncio.CancelledError):
                            await self._stderr_task
                    raise BrokerError(
                        f"mosquitto exited with code {proc.returncode} while starting: "
                        + " | ".join(list(self._recent)[-5:])
                    )
                if connect in done:
                    try:
                        _, writer = connect.result()
                    except OSError:
                        # Not listening yet: the next attempt waits for the refusal again,
                        # which costs one loop turn, not a fixed sleep.
                        await asyncio.wait({exited}, timeout=0.01)
                        continue
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                    return
                connect.cancel()
        finally:
            running.cancel()
            if not exited.done():
                exited.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await exited

    def _stale_pids(self) -> list[int]:
        """Brokers of this directory still running: the one in the pid file, and any other
        process whose command line is this broker's (a pid file lost with its daemon)."""
        argv = [a.encode() for a in self._argv()]
        found: list[int] = []
        candidates: list[int] = []
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int(self.pid_file.read_text(encoding="ascii").strip()))
        with contextlib.suppress(OSError):
            candidates += [int(n) for n in os.listdir("/proc") if n.isdigit()]
        for pid in dict.fromkeys(candidates):
            if pid == os.getpid() or pid <= 1:
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if _same_broker(cmdline, argv):
                found.append(pid)
        return found

    async def end_stale(self) -> int:
        """End every broker left running over this directory; returns how many there were."""
        pids = self._stale_pids()
        for pid in pids:
            log.warning(
                "a broker of %s was left running (pid %d, its daemon died): ending it",
                self.directory,
                pid,
                extra={"event": "broker-stale", "pid": pid},
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            if not await _wait_gone(pid, self.stale_timeout_s):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not await _wait_gone(pid, self.stale_timeout_s):
                    raise BrokerError(f"a stale broker (pid {pid}) of {self.directory} survived")
        self.stale_ended += len(pids)
        return len(pids)

    async def start(self) -> None:
        """End a stale broker of this directory, write the files, start the broker and
        return once it accepts connections."""
        self._stopping = False
        await self.end_stale()
        await self.write_files()
        # An older release persisted its state here; that file can hold secret choices.
        with contextlib.suppress(FileNotFoundError):
            (self.files / "mosquitto.db").unlink()
        await self._spawn()
        log.info(
            "embedded broker up on %s:%d",
            self.host,
            self._port,
            extra={"event": "broker-up", "port": self._port, "pid": self.pid},
        )
        self._supervisor = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        low, high = self.restart_backoff_s
        delay = low
        while True:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._stop_requested():
                return
            log.warning(
                "embedded broker died (exit code %s); restarting",
                code,
                extra={"event": "broker-died", "code": code, "port": self._port},
            )
            await asyncio.sleep(delay)  # backoff before a restart, not a wait for an event
            try:
                await self._spawn()
            except BrokerError as exc:
                log.error(
                    "embedded broker restart failed: %s",
                    exc,
                    extra={"event": "broker-restart-failed"},
                )
                delay = min(delay * 2, high)
                continue
            self.restarts += 1
            delay = low
            await self._notify()
            log.info(
                "embedded broker back on %s:%d",
                self.host,
                self._port,
                extra={"event": "broker-up", "port": self._port, "pid": self.pid},
            )

    def _stop_requested(self) -> bool:
        return self._stopping

    async def _notify(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            self._changed.notify_all()

    async def wait_restarts(self, count: int) -> None:
        """Return once the broker has been restarted `count` times in all (for tests)."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            await self._changed.wait_for(lambda: self.restarts >= count)

    async def kill(self) -> None:
        """Kill the process without stopping supervision (the supervisor restarts it)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    async def stop(self) -> None:
        """Stop supervising and terminate the broker (SIGTERM, then SIGKILL after 5 s)."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5.0):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task
            self._stderr_task = None
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                if int(self.pid_file.read_text(encoding="ascii").strip()) == proc.pid:
                    self.pid_file.unlink()
        if self._files is not None and self._files != self.directory:
            # Nothing of this broker stays behind: its runtime directory goes with it.
            _remove_tree(self._files)
        self._proc = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _same_broker(cmdline: list[bytes], argv: list[bytes]) -> bool:
    """Is a /proc cmdline (NUL-split) the broker `argv` would start: same program name,
    same `-c` config file."""
    args = [a for a in cmdline if a]
    if len(args) < 3 or os.path.basename(args[0]) != os.path.basename(argv[0]):
        return False
    return any(a == b"-c" and b == argv[2] for a, b in itertools.pairwise(args))


async def _wait_gone(pid: int, within_s: float) -> bool:
    """Wait until a process that is not our child has ended (its pidfd becomes readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    loop.add_reader(fd, gone.set)
    try:
        async with asyncio.timeout(within_s):
            await gone.wait()
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn for a child process of this one: Linux ends the child (SIGTERM) when this
    process dies, even by SIGKILL, so that nothing it started is left running; None elsewhere."""
    return _die_with_parent(os.getpid())


# The service manager's variables are the daemon's alone: Debian's mosquitto is built with
# systemd support and would send its own READY=1 to the daemon's notify socket.
SERVICE_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")


def broker_environment() -> dict[str, str]:
    """The daemon's environment without the service manager's variables."""
    return {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies, or None."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    prctl = ctypes.CDLL(name, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took hold
            os._exit(1)

    return preexec


def runtime_parents() -> tuple[Path, ...]:
    """Where a broker's runtime directory may be made, best first: `/run` (a tmpfs, root's)
    for root, else the user's own `$XDG_RUNTIME_DIR`; then the system's temporary folder."""
    found: list[Path] = []
    if os.geteuid() == 0:
        found.append(Path("/run"))
    elif xdg := os.environ.get("XDG_RUNTIME_DIR"):
        found.append(Path(xdg))
    found.append(Path(tempfile.gettempdir()))
    return tuple(found)


def _shared_base(base: Path) -> None:
    """Make `base` (or accept it) as the parent of this user's broker runtime directories: a
    real directory of ours, writable by nobody else, that others may traverse but not list."""
    try:
        base.mkdir(mode=0o711)
    except FileExistsError:
        pass
    except OSError as exc:
        raise BrokerError(f"cannot make {base}: {exc.strerror or exc}") from exc
    try:
        st = base.lstat()
    except OSError as exc:
        raise BrokerError(f"cannot read {base}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise BrokerError(f"{base} is not a directory of this user's own")
    if stat.S_IMODE(st.st_mode) != 0o711:
        base.chmod(0o711)


# A runtime directory with no pid file yet is being set up, or was left by a start that failed
# before its broker ran: only the second is swept, once this old.
_SWEEP_AFTER_S = 600.0


def _sweep(base: Path, *, keep: Path) -> None:
    """Remove the runtime directories under `base` whose broker is gone: left by a daemon
    killed outright (SIGKILL), which stopped nothing. A directory whose pid file names a
    running process is kept, and so is one too young to have a pid file."""
    try:
        entries = list(base.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry == keep or not entry.name.startswith("mosquitto-"):
            continue
        try:
            st = entry.lstat()
            if not stat.S_ISDIR(st.st_mode):
                continue
            try:
                pid = int((entry / PID_FILE).read_text(encoding="ascii").strip())
            except (OSError, ValueError):
                pid = None
            if pid is None:
                if time.time() - st.st_mtime < _SWEEP_AFTER_S:
                    continue
            elif _alive(pid):
                # Its broker, or a process that took its pid since: kept either way.
                continue
            _remove_tree(entry)
        except OSError as exc:
            log.debug("cannot sweep %s: %s", entry, exc)
            continue
        log.info(
            "removed %s, the runtime directory of a broker that is gone",
            entry,
            extra={"event": "broker-runtime-swept", "path": str(entry)},
        )


def _alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie, which has ended, has no command line)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


def _remove_tree(path: Path) -> None:
    """Remove a broker's runtime directory (a real directory, never through a link)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _unreachable(directory: Path, account: pwd.struct_passwd) -> str | None:
    """Why the broker's account cannot reach `directory` (a folder above it it may not
    enter), or None when it can."""
    for parent in directory.resolve().parents:
        try:
            st = parent.stat()
        except OSError:
            continue
        if st.st_uid == account.pw_uid:
            if st.st_mode & 0o100:
                continue
        elif st.st_gid == account.pw_gid:
            if st.st_mode & 0o010:
                continue
        elif st.st_mode & 0o001:
            continue
        return (
            f"the broker runs as {account.pw_name!r}, which cannot enter {parent} "
            f"(mode {st.st_mode & 0o777:o})"
        )
    return None


_TRAVERSE = "put it under a path that account may traverse (o+x is enough, listing is not needed)"


def _check_reachable(directory: Path, account: pwd.struct_passwd) -> None:
    """Refuse early, with a clear message, a directory the broker's account cannot reach.

    Otherwise Mosquitto starts, drops privileges and exits 13 on "Unable to open pwfile".
    """
    blocked = _unreachable(directory, account)
    if blocked is not None:
        raise BrokerError(f"{blocked}: {_TRAVERSE}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path.chmod(0o600)


# --- the hall's embedded broker -----------------------------------------------------------

CONTROLLER_USER = "chamber-controller"
WALL_USER = "chamber-wall"


@dataclass(frozen=True)
class TlsListener:
    """The embedded broker's TLS listener: its port, certificate chain and key (PEM)."""

    port: int
    cert: Path
    key: Path


@dataclass(frozen=True)
class BrokerEndpoint:
    """Where and as whom an MQTT client logs in: the embedded broker or a configured one."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool = False
    ca_file: str | None = None


def hall_users(secret: bytes, ip_seats: Iterable[int]) -> dict[str, str]:
    """Every account of a hall's embedded broker, with its HMAC-derived password."""
    names = [CONTROLLER_USER, WALL_USER, *(seat_username(s) for s in sorted(set(ip_seats)))]
    return {name: unit_password(secret, name) for name in names}


def hall_broker(
    hall_id: str,
    ip_seats: Iterable[int],
    directory: Path,
    secret: bytes,
    *,
    port: int = 0,
    host: str = LOOPBACK,
    log_denied: bool = False,
    runtime_parents: tuple[Path, ...] | None = None,
    tls: TlsListener | None = None,
) -> Mosquitto:
    """The embedded broker of a hall: its accounts, and the ACL rendered from the contract.

    `port` 0 picks a free one (the demo, the simulator and tests); `chamber run` passes the
    hall file's `[mqtt] port` and `bind`. `log_denied`: log every publish the ACL refuses (the
    daemon's own broker does; a test broker need not pay for the broker's debug log)."""
    seats = sorted(set(ip_seats))
    try:
        acl = render_acl(hall_id, seats, CONTROLLER_USER, WALL_USER)
    except MqttError as exc:
        raise BrokerError(f"cannot write the broker's ACL: {exc}") from exc
    return Mosquitto(
        directory,
        hall_users(secret, seats),
        acl,
        port=port,
        host=host,
        log_denied=log_denied,
        runtime_parents=runtime_parents,
        tls=tls,
    )


def endpoint_for(broker: Mosquitto, username: str = CONTROLLER_USER) -> BrokerEndpoint:
    """How a client of the embedded broker logs in as `username`."""
    try:
        password = broker.users[username]
    except KeyError:
        raise BrokerError(f"the embedded broker has no user {username!r}") from None
    return BrokerEndpoint(broker.connect_host, broker.port, username, password)
