"""The embedded broker belongs to its daemon: the hall file's port and interface, never two
brokers over one directory, never a broker outliving the daemon that started it.

The daemon that dies is a child process (tests/drivers/broker_child.py) killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from chamber.controller.config import load_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.core.inputs import Input
from chamber.controller.daemon import broker_for
from chamber.drivers.base import LineHealth, UnitHealth
from chamber.drivers.mosquitto import (
    CONTROLLER_USER,
    LOOPBACK,
    BrokerEndpoint,
    free_port,
    hall_broker,
    unit_password,
)
from chamber.drivers.mqtt import Backoff, MqttUnits
from chamber.protocols import mqtt as wire
from tests.drivers.conftest import Recorder

HALL = "test-hall"
SECRET = b"a hall secret of enough bytes..."
SEATS = (1, 2)
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 15.0


@contextlib.asynccontextmanager
async def daemon_with_broker(
    directory: Path, port: int, *, death_signal: bool = True
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """A child process running the broker over `directory`; yields it and the broker's pid."""
    flags = [] if death_signal else ["--no-death-signal"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.drivers.broker_child",
        str(directory),
        str(port),
        *flags,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line, "the child did not start its broker"
        yield proc, int(json.loads(line)["pid"])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def brokers_over(directory: Path) -> list[int]:
    """Every running process whose command line is a mosquitto of `directory`."""
    conf = str(directory / "mosquitto.conf").encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            args = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            if args and os.path.basename(args[0]) == b"mosquitto" and conf in args:
                found.append(int(name))
    return found


async def ended(pid: int) -> None:
    """Return once `pid` (not our child) has ended: its pidfd becomes readable."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    gone = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(fd, gone.set)
    try:
        await gone.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_the_broker_ends_with_the_daemon_that_started_it(private_dir: Path) -> None:
    directory = private_dir / "broker"
    async with daemon_with_broker(directory, free_port()) as (daemon, broker_pid):
        assert brokers_over(directory) == [broker_pid]
        daemon.kill()  # SIGKILL: the daemon stops nothing itself
        await daemon.wait()
        await asyncio.wait_for(ended(broker_pid), WAIT_S)
    assert brokers_over(directory) == []


async def test_a_broker_left_running_is_ended_before_the_next_one_starts(
    private_dir: Path,
) -> None:
    """A broker orphaned by a SIGKILLed daemon still serves the old port. The next start over
    the same directory ends it and serves the same port: one broker, and the clients that
    were connected to the old one reconnect to the new one."""
    directory = private_dir / "broker"
    port = free_port()
    inputs: Recorder[Input] = Recorder()
    health: Recorder[UnitHealth | LineHealth] = Recorder()
    endpoint = BrokerEndpoint(
        LOOPBACK, port, CONTROLLER_USER, unit_password(SECRET, CONTROLLER_USER)
    )
    driver = MqttUnits(
        HALL, SEATS, endpoint, FakeClock(0.0), inputs, health, backoff=Backoff(0.05, 0.2)
    )
    task: asyncio.Task[None] | None = None
    try:
        async with daemon_with_broker(directory, port, death_signal=False) as (daemon, stale):
            task = asyncio.create_task(driver.run())
            await asyncio.wait_for(driver.connected.wait(), WAIT_S)
            daemon.kill()
            await daemon.wait()
        assert brokers_over(directory) == [stale]  # orphaned, and still serving its clients
        async with hall_broker(HALL, SEATS, directory, SECRET, port=port) as broker:
            assert broker.stale_ended == 1
            assert broker.port == port
            assert brokers_over(directory) == [broker.pid]
            await health.wait_for(
                lambda items: any(isinstance(h, LineHealth) and not h.connected for h in items),
                WAIT_S,
            )
            await asyncio.wait_for(driver.connected.wait(), WAIT_S)
            unit = wire.seat_username(1)
            proc = await asyncio.create_subprocess_exec(
                "mosquitto_pub",
                *("-h", LOOPBACK, "-p", str(port), "-u", unit, "-P", unit_password(SECRET, unit)),
                *("-t", wire.Topics(HALL).topic(wire.MessageKind.VOTE_KEY, 1), "-q", "1"),
                *("-m", wire.VoteKey(1, boot=1, seq=1, key=2).encode().decode()),
            )
            assert await proc.wait() == 0
            await inputs.wait_for(lambda items: len(items) == 1, WAIT_S)
        assert brokers_over(directory) == []
        await asyncio.wait_for(ended(stale), WAIT_S)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_pid_file_naming_another_program_ends_nothing(private_dir: Path) -> None:
    """A pid reused by another program after a reboot is not ours: it is left alone."""
    directory = private_dir / "broker"
    directory.mkdir(mode=0o700)
    other = await asyncio.create_subprocess_exec("sleep", "600", stdin=asyncio.subprocess.DEVNULL)
    try:
        (directory / "mosquitto.pid").write_text(f"{other.pid}\n")
        async with hall_broker(HALL, SEATS, directory, SECRET) as broker:
            assert broker.stale_ended == 0
            assert other.returncode is None
            os.kill(other.pid, 0)
            assert (directory / "mosquitto.pid").read_text().strip() == str(broker.pid)
    finally:
        other.kill()
        await other.wait()


async def test_chamber_run_serves_the_hall_files_port_and_interface(
    private_dir: Path,
) -> None:
    port = free_port()
    example = (ROOT / "examples" / "vn-council.toml").read_text(encoding="utf-8")
    assert "[mqtt]" not in example
    hall = private_dir / "hall.toml"
    hall.write_text(example + f'\n[mqtt]\nport = {port}\nbind = "127.0.0.1"\n', "utf-8")
    data = private_dir / "data"
    data.mkdir(mode=0o711)
    async with broker_for(load_config(hall), data) as endpoint:
        assert (endpoint.host, endpoint.port) == ("127.0.0.1", port)
        conf = (data / "mosquitto" / "mosquitto.conf").read_text()
        assert f"listener {port} 127.0.0.1" in conf
        assert "use_username_as_clientid true" in conf.split(f"listener {port}")[1]
        assert "persistence false" in conf
        # Nagle off: with it, a press waited up to 40 ms for a delayed ACK (bench figure 1).
        assert "set_tcp_nodelay true" in conf
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()


def test_the_default_interface_is_every_one_the_hall_needs(tmp_path: Path) -> None:
    hall = tmp_path / "hall.toml"
    hall.write_text((ROOT / "examples" / "vn-council.toml").read_text(encoding="utf-8"), "utf-8")
    broker = load_config(hall).broker
    assert (broker.bind, broker.port) == ("0.0.0.0", 1883)
