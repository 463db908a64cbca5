"""The embedded broker under a folder its account cannot enter (a clone under /root, as root).

Started as root, Mosquitto runs as the `mosquitto` user, which may not pass a 0700 folder of
root's. Its files then go to a private runtime directory of their own, which the broker
reaches, nobody else reads, and which goes when the broker stops. Not root, the broker runs as
this user, reaches its folder and keeps its files there: the same tests hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from chamber.controller.config import load_config
from chamber.controller.daemon import broker_for
from chamber.drivers.errors import BrokerError
from chamber.drivers.mosquitto import (
    BROKER_ACCOUNT,
    CONTROLLER_USER,
    Mosquitto,
    free_port,
    hall_broker,
    unit_password,
)
from chamber.protocols import mqtt as wire
from tests.drivers.test_mosquitto_owned import ended

HALL = "test-hall"
SECRET = b"a hall secret of enough bytes..."
SEATS = (1, 2)
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 15.0
AS_ROOT = os.geteuid() == 0


@pytest.fixture
def closed_home() -> Iterator[Path]:
    """A folder of mode 0700, as /root is: only its owner may enter it."""
    base = Path(tempfile.mkdtemp(prefix="chamber-home-"))
    base.chmod(0o700)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def broker_account() -> pwd.struct_passwd | None:
    if not AS_ROOT:
        return None
    try:
        return pwd.getpwnam(BROKER_ACCOUNT)
    except KeyError:
        return None


async def roundtrip(broker: Mosquitto) -> bytes:
    """Seat 1 publishes a key press with its own password; the controller's account, logged in
    with its own, receives it. Returns the payload the controller got."""
    topics = wire.Topics(HALL)
    topic = topics.topic(wire.MessageKind.VOTE_KEY, 1)
    payload = wire.VoteKey(1, boot=1, seq=1, key=1).encode()
    seat = wire.seat_username(1)
    async with (
        aiomqtt.Client(
            broker.connect_host,
            broker.port,
            username=CONTROLLER_USER,
            password=unit_password(SECRET, CONTROLLER_USER),
            identifier=CONTROLLER_USER,
        ) as controller,
        aiomqtt.Client(
            broker.connect_host,
            broker.port,
            username=seat,
            password=unit_password(SECRET, seat),
            identifier=seat,
        ) as unit,
    ):
        await controller.subscribe(topic, 1)
        await unit.publish(topic, payload, 1)
        async with asyncio.timeout(WAIT_S):
            async for message in controller.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError("the controller's subscription ended")


async def test_a_broker_under_a_closed_folder_starts_and_its_clients_log_in(
    closed_home: Path,
) -> None:
    directory = closed_home / "clone" / "var" / "demo" / "sim" / "broker"
    account = broker_account()
    async with hall_broker(HALL, SEATS, directory, SECRET) as broker:
        files = broker.files
        assert broker.running
        if account is not None:
            # The broker's account could not reach `directory`: its files live elsewhere.
            assert broker.in_runtime_dir
            assert closed_home not in files.parents
            assert not directory.exists()
            parent = files.parent.stat()
            assert (parent.st_uid, stat.S_IMODE(parent.st_mode)) == (0, 0o711)
            owner = account.pw_uid
        else:
            assert files == directory
            owner = os.geteuid()
        st = files.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (owner, 0o700)
        for name in ("passwords", "acl", "mosquitto.conf"):
            st = (files / name).stat()
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (owner, 0o600), name
        # The supervisor's own record of its broker: its own, as private.
        st = (files / "mosquitto.pid").stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), 0o600)
        # Hashed by mosquitto_passwd: no password in clear.
        assert unit_password(SECRET, CONTROLLER_USER) not in (files / "passwords").read_text()
        got = await roundtrip(broker)
        assert wire.VoteKey(1, boot=1, seq=1, key=1).encode() == got
        # A wrong password is refused: the password file is the one the broker reads.
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                broker.connect_host, broker.port, username=CONTROLLER_USER, password="wrong"
            ):
                pass
    if account is not None:
        assert not files.exists()  # removed with the broker


async def test_a_broker_left_running_there_is_found_by_the_next_start(
    closed_home: Path,
) -> None:
    """The runtime directory's name comes from the named directory: a broker that a SIGKILLed
    daemon left running is ended by the next start over the same directory."""
    directory = closed_home / "data" / "mosquitto"
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.drivers.broker_child",
        str(directory),
        str(port),
        "--no-death-signal",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    stale: int | None = None
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        assert line, "the child did not start its broker"
        stale = int(json.loads(line)["pid"])
        child.kill()
        await child.wait()
        os.kill(stale, 0)  # orphaned, still running
        async with hall_broker(HALL, SEATS, directory, SECRET, port=port) as broker:
            assert broker.stale_ended == 1
            assert broker.pid != stale
            await asyncio.wait_for(ended(stale), WAIT_S)
            await roundtrip(broker)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        if stale is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stale, 9)


@pytest.fixture
def nowhere(closed_home: Path) -> Path:
    """A place for runtime directories that the broker's account cannot reach either."""
    path = closed_home / "run"
    path.mkdir()
    return path


@pytest.mark.skipif(broker_account() is None, reason="only root hands the files to another account")
async def test_with_nowhere_to_put_the_files_the_start_says_why(
    closed_home: Path, nowhere: Path
) -> None:
    broker = Mosquitto(
        closed_home / "data" / "broker",
        {"u": "p"},
        "user u\ntopic read #\n",
        runtime_parents=(nowhere,),
    )
    with pytest.raises(BrokerError, match=r"cannot enter .*chamber-home-.*\(mode 700\)") as err:
        await broker.start()
    assert "o+x is enough" in str(err.value)
    await broker.stop()


async def test_chamber_run_with_its_data_under_a_closed_folder(closed_home: Path) -> None:
    """The daemon's own broker (`chamber run --data /root/...`): it starts, its controller
    account logs in, and its files are not in the data directory the account cannot reach."""
    example = (ROOT / "examples" / "vn-council.toml").read_text(encoding="utf-8")
    hall = closed_home / "hall.toml"
    hall.write_text(example + f'\n[mqtt]\nport = {free_port()}\nbind = "127.0.0.1"\n', "utf-8")
    data = closed_home / "data"
    data.mkdir(mode=0o700)
    async with broker_for(load_config(hall), data) as endpoint:
        async with aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            username=endpoint.username,
            password=endpoint.password,
            identifier=endpoint.username,
        ) as client:
            await client.subscribe("#", 1)
        if broker_account() is not None:
            assert not (data / "mosquitto").exists()
        else:
            assert (data / "mosquitto" / "mosquitto.conf").exists()


@pytest.fixture
def run_parent() -> Iterator[Path]:
    """A place for runtime directories of its own (as /run), that others may traverse."""
    run = Path(tempfile.mkdtemp(prefix="chamber-run-"))
    run.chmod(0o711)
    try:
        yield run
    finally:
        shutil.rmtree(run, ignore_errors=True)


@pytest.mark.skipif(broker_account() is None, reason="only root hands the files to another account")
async def test_runtime_directories_of_brokers_gone_are_swept(
    closed_home: Path, run_parent: Path
) -> None:
    """A daemon killed outright leaves its broker's runtime directory behind; the next broker
    to start in the same place removes it, and leaves a running broker's alone."""
    run = run_parent
    live = hall_broker(HALL, SEATS, closed_home / "one" / "broker", SECRET, runtime_parents=(run,))
    async with live:
        base = live.files.parent
        finished = await asyncio.create_subprocess_exec("true")
        await finished.wait()
        dead = base / "mosquitto-dead"
        dead.mkdir()
        (dead / "mosquitto.pid").write_text(f"{finished.pid}\n")
        (dead / "passwords").write_text("left behind\n")
        old, young = base / "mosquitto-old", base / "mosquitto-young"
        old.mkdir()
        young.mkdir()
        os.utime(old, (0, 0))
        other = Mosquitto(
            closed_home / "two" / "broker",
            {"u": "p"},
            "user u\ntopic read #\n",
            runtime_parents=(run,),
        )
        async with other:
            assert sorted(p.name for p in base.iterdir()) == sorted(
                [live.files.name, other.files.name, young.name]
            )
            assert live.running
            await roundtrip(live)
