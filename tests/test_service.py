"""chamber under systemd (controller/service.py).

* The service unit passes `systemd-analyze verify` without a single complaint (verify only
  warns about a bad key or value and still exits 0, so its output must be empty too: a unit
  with a typo is shown to produce output). systemd is installed here but is not PID 1, so the
  sandboxing options are checked by `verify` only, never enforced in the suite.
* `chamber run`, started as the unit starts it (with `$NOTIFY_SOCKET` and `$WATCHDOG_USEC`),
  notifies readiness after its journal is replayed and its API listens, feeds the watchdog,
  and says when it stops. The notify socket is a real AF_UNIX datagram socket of the test.
* The watchdog is fed only while the core loop keeps up.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chamber.controller.service import (
    Liveness,
    Notifier,
    UnitSettings,
    feed_watchdog,
    unit_file,
    watchdog_interval,
)
from tests.test_startup import READY_TIMEOUT, ROOT, chamber_command, env, hall_file

VERIFY = shutil.which("systemd-analyze")
needs_verify = pytest.mark.skipif(VERIFY is None, reason="systemd-analyze is not installed")


def verify(unit: Path) -> tuple[int, str]:
    assert VERIFY is not None
    done = subprocess.run(
        [VERIFY, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, (done.stdout + done.stderr).strip()


@needs_verify
@pytest.mark.parametrize("devices", [(), ("/dev/ttyUSB0", "/dev/ttyUSB1")])
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path, devices: tuple[str, ...]) -> None:
    executable = shutil.which("chamber") or str(Path(sys.executable).parent / "chamber")
    assert Path(executable).exists()
    unit = tmp_path / "chamber.service"
    unit.write_text(unit_file(UnitSettings(executable=executable, devices=devices)), "utf-8")
    code, output = verify(unit)
    assert code == 0, output
    assert output == ""
    text = unit.read_text("utf-8")
    assert "Type=notify" in text
    assert "WatchdogSec=20" in text
    assert "Restart=always" in text
    for device in devices or ("char-ttyUSB", "char-ttyS", "char-ttyACM"):
        assert f"DeviceAllow={device} rw" in text


@needs_verify
def test_a_backup_directory_is_writable_in_the_sandbox(tmp_path: Path) -> None:
    """ProtectSystem=strict keeps everything but the data directory read-only: the hall
    file's backup directory is named beside it, or every backup under systemd would fail."""
    executable = shutil.which("chamber") or str(Path(sys.executable).parent / "chamber")
    settings = UnitSettings(executable=executable, writable=("/media/usb/chamber-backups",))
    unit = tmp_path / "chamber.service"
    unit.write_text(unit_file(settings), "utf-8")
    assert verify(unit) == (0, "")
    lines = unit.read_text("utf-8").splitlines()
    assert "ReadWritePaths=/var/lib/chamber /media/usb/chamber-backups" in lines
    assert "ReadWritePaths=/var/lib/chamber" in unit_file(UnitSettings(executable)).splitlines()


@needs_verify
def test_verify_complains_about_a_unit_with_a_typo(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key gives output (with exit code 0)."""
    executable = shutil.which("chamber") or str(Path(sys.executable).parent / "chamber")
    text = unit_file(UnitSettings(executable=executable)).replace("Type=notify", "Typo=notify")
    unit = tmp_path / "chamber.service"
    unit.write_text(text, "utf-8")
    _, output = verify(unit)
    assert "Typo" in output


def test_watchdog_interval_is_half_what_systemd_allows_and_only_for_this_process() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "42"}, pid=42) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "41"}, pid=42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "twenty"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_the_notifier_reaches_a_path_and_an_abstract_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    abstract = f"chamber-test-{os.getpid()}"
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as by_path,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as by_name,
    ):
        by_path.bind(path)
        by_name.bind("\0" + abstract)
        for sock, address in ((by_path, path), (by_name, "@" + abstract)):
            notifier = Notifier({"NOTIFY_SOCKET": address})
            assert notifier.enabled
            assert notifier.send("READY=1", "STATUS=serving")
            assert sock.recv(4096) == b"READY=1\nSTATUS=serving"
            notifier.close()


def test_outside_systemd_the_notifier_does_nothing_and_a_dead_socket_is_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert not Notifier({}).enabled
    assert not Notifier({}).send("READY=1")
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody.sock")})
    assert not gone.send("WATCHDOG=1")
    assert not gone.send("WATCHDOG=1")
    gone.close()
    assert len([r for r in caplog.records if "service manager" in r.getMessage()]) == 1


def test_liveness() -> None:
    live = Liveness()
    assert live.alive(batches=0, waiting=0)  # idle: nothing waits
    assert live.alive(batches=0, waiting=0)
    assert live.alive(batches=5, waiting=3)  # busy, but it moved
    assert not live.alive(batches=5, waiting=3)  # stuck on a batch while inputs queue
    assert not live.alive(batches=5, waiting=9)
    assert live.alive(batches=6, waiting=9)  # moving again


async def test_the_watchdog_is_not_fed_while_the_core_loop_is_stuck(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setblocking(False)
        readings = iter([(1, 0), (2, 4), (2, 4), (2, 7), (3, 7)])
        notifier = Notifier({"NOTIFY_SOCKET": path})
        pings: list[bool] = []
        done = asyncio.Event()

        async def step(_: float) -> None:
            try:
                pings.append(sock.recv(64) == b"WATCHDOG=1")
            except BlockingIOError:
                pings.append(False)
            if len(pings) == 5:
                done.set()
                await asyncio.Future()  # the loop ends here, cancelled below

        task = asyncio.create_task(feed_watchdog(notifier, 1.0, lambda: next(readings), sleep=step))
        await asyncio.wait_for(done.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        notifier.close()
    assert pings == [True, True, False, False, True]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory outside pytest's 0700 tree: the embedded broker drops to its own account
    and must traverse it to reach its own directory."""
    base = Path(tempfile.mkdtemp(prefix="chamber-service-test-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_chamber_run_notifies_ready_feeds_the_watchdog_and_says_it_stops(
    open_dir: Path,
) -> None:
    base = open_dir
    config = hall_file(base)
    notify = base / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(sock.fileno(), lambda: messages.put_nowait(sock.recv(4096).decode()))
    environment = env() | {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "400000"}
    process = await asyncio.create_subprocess_exec(
        *chamber_command(
            "run", "--config", str(config), "--data", str(base / "data"), "--port", "0"
        ),
        cwd=ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        first = await asyncio.wait_for(messages.get(), READY_TIMEOUT)
        assert first.splitlines()[0] == "READY=1"
        assert first.splitlines()[1].startswith("STATUS=serving hall hdnd-ninh-binh at http://")
        for _ in range(3):
            assert await asyncio.wait_for(messages.get(), READY_TIMEOUT) == "WATCHDOG=1"
        process.send_signal(signal.SIGTERM)
        while (message := await asyncio.wait_for(messages.get(), READY_TIMEOUT)) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1\nSTATUS=stopping"
        assert await asyncio.wait_for(process.wait(), READY_TIMEOUT) == 0
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
        assert process.stderr is not None
        await process.stderr.read()
