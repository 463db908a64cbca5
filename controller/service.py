"""chamber under systemd: readiness, the watchdog and the service unit.

systemd's notification protocol (sd_notify(3)) is one datagram of `KEY=value` lines to the
AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading
`@`). The daemon sends `READY=1` once its journal is replayed and its API listens, `STATUS=`
lines a technician sees in `systemctl status`, `WATCHDOG=1` while its core loop is alive, and
`STOPPING=1` when it stops. Outside systemd (no `$NOTIFY_SOCKET`) each of these does nothing.
The protocol is a few lines of socket code, written here: the PyPI packages for it are either
unmaintained (sdnotify, last release 2017) or bind libsystemd and need its headers to build
(systemd-python).

The watchdog (`WatchdogSec=` in the unit; systemd passes `$WATCHDOG_USEC` and
`$WATCHDOG_PID`) is fed from the daemon's event loop only while the core loop keeps up: a
ping goes out when the core loop has nothing waiting, or has finished a batch since the last
ping. A blocked event loop sends nothing; a core loop stuck on a batch (a journal commit that
never returns, say) while inputs queue up sends nothing either. Either way systemd restarts
the daemon once `WatchdogSec` has passed, and the journal's replay brings the sitting back.

`unit_file` writes the service unit that `chamber install` puts in place; `systemd-analyze
verify` accepts it (tests/test_service.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger("chamber.service")


class Notifier:
    """Sends sd_notify datagrams to the service manager, or nothing outside one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        if address is not None and address.startswith("@"):
            address = "\0" + address[1:]  # an abstract socket name
        self.address = address
        self._sock: socket.socket | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send `fields` (each `KEY=value`) as one notification; True when it went out. A
        failure is logged once and never raised: the hall runs on without its supervisor."""
        if self.address is None:
            return False
        text = "\n".join(fields)
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(text.encode(), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning(
                    "cannot notify the service manager: %s",
                    exc.strerror or exc,
                    extra={"event": "notify-failed", "socket": self.address.lstrip("\0")},
                )
            return False
        self._failed = False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """Seconds between watchdog pings, half of what systemd allows (sd_watchdog_enabled(3)):
    None when no watchdog is set for this process."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner.strip() != str(os.getpid() if pid is None else pid):
        return None  # meant for another process of the service
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number: no watchdog", usec)
        return None
    if value <= 0:
        return None
    return value / 1e6 / 2


@dataclass
class Liveness:
    """Whether the core loop keeps up, from two readings of the runtime taken at each ping:
    how many batches it has finished, and how many inputs wait for it."""

    last_batches: int = -1

    def alive(self, batches: int, waiting: int) -> bool:
        progressed = batches != self.last_batches
        self.last_batches = batches
        return waiting == 0 or progressed


async def feed_watchdog(
    notifier: Notifier,
    interval_s: float,
    probe: Callable[[], tuple[int, int]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Until cancelled: every `interval_s`, `WATCHDOG=1` if the core loop is alive. `probe`
    gives (batches finished, inputs waiting). A missed ping is logged once per stall."""
    liveness = Liveness()
    stalled = False
    while True:
        batches, waiting = probe()
        if liveness.alive(batches, waiting):
            notifier.send("WATCHDOG=1")
            if stalled:
                log.warning("core loop moving again", extra={"event": "watchdog-resumed"})
            stalled = False
        elif not stalled:
            stalled = True
            log.error(
                "core loop stalled with %d inputs waiting: the watchdog is not fed",
                waiting,
                extra={"event": "watchdog-stalled", "waiting": waiting},
            )
        await sleep(interval_s)


# --- the service unit ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnitSettings:
    """What the unit names: the installed `chamber` command, the account, the hall file and
    the data directory, and the serial devices the daemon may open."""

    executable: str
    config: str = "/etc/chamber/hall.toml"
    data: str = "/var/lib/chamber"
    user: str = "chamber"
    group: str = "chamber"
    # Serial lines the hall file names (/dev/ttyUSB0, ...); with none, the usual serial
    # device classes (USB adapters, on-board ports, CDC-ACM) are allowed.
    devices: Sequence[str] = ()
    # Directories the daemon writes besides its data directory: the hall file's backup
    # directory ([backup] dir), which the sandbox would otherwise keep read-only.
    writable: Sequence[str] = ()
    watchdog_s: int = 20
    # A day's journal replays in seconds; a term's worth of one file may take longer.
    start_timeout_s: int = 300


SERIAL_CLASSES = ("char-ttyUSB", "char-ttyS", "char-ttyACM")


def unit_file(settings: UnitSettings) -> str:
    """The text of `chamber.service`."""
    devices = settings.devices or SERIAL_CLASSES
    allow = "\n".join(f"DeviceAllow={d} rw" for d in devices)
    return f"""\
# chamber: the hall's voting and microphone controller. Written by `chamber install`; a local
# change belongs in a drop-in (systemctl edit chamber), which an upgrade leaves alone.
[Unit]
Description=chamber hall controller (voting and microphones)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={settings.executable} run --config {settings.config} --data {settings.data}
User={settings.user}
Group={settings.group}
SupplementaryGroups=dialout
Restart=always
RestartSec=2
WatchdogSec={settings.watchdog_s}
TimeoutStartSec={settings.start_timeout_s}
TimeoutStopSec=30
# SIGTERM to the daemon alone: it stops its embedded broker itself, after its last commit;
# whatever is left after TimeoutStopSec is killed with it.
KillMode=mixed
StandardOutput=journal
StandardError=journal
SyslogIdentifier=chamber
UMask=0027
LimitNOFILE=65536

# Sandboxing: the daemon writes only its data directory (and its backup directory, if the hall
# file names one), reads its hall file, and opens only the serial lines.
ProtectSystem=strict
ReadWritePaths={" ".join([settings.data, *settings.writable])}
ProtectHome=true
PrivateTmp=true
NoNewPrivileges=true
DevicePolicy=closed
{allow}
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
SystemCallArchitectures=native
CapabilityBoundingSet=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
"""
