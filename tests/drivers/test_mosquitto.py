"""The embedded-broker supervisor: credentials, files, start, failure and stop."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.drivers.errors import BrokerError
from chamber.drivers.mosquitto import (
    BROKER_ACCOUNT,
    CONTROLLER_USER,
    WALL_USER,
    Mosquitto,
    hall_broker,
    hall_users,
    load_or_create_secret,
    unit_password,
)

SECRET = b"0123456789abcdef0123456789abcdef"


@given(st.text(min_size=1, max_size=64))
def test_unit_passwords_are_printable_and_fixed_by_the_secret(username: str) -> None:
    password = unit_password(SECRET, username)
    assert len(password) == 43
    assert set(password) <= set(string.ascii_letters + string.digits + "-_")
    assert unit_password(SECRET, username) == password
    assert unit_password(SECRET + b"x", username) != password


def test_every_account_gets_its_own_password() -> None:
    users = hall_users(SECRET, [3, 1, 2, 2])
    assert list(users) == [CONTROLLER_USER, WALL_USER, "seat-0001", "seat-0002", "seat-0003"]
    assert len(set(users.values())) == 5


def test_the_secret_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "hall.secret"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == first
    path.write_bytes(b"short")
    with pytest.raises(BrokerError, match="too short"):
        load_or_create_secret(path)


async def test_files_are_private_to_the_broker(private_dir: Path) -> None:
    broker = hall_broker("hall-a", [1], private_dir / "broker", SECRET)
    await broker.write_files()
    passwords = (private_dir / "broker" / "passwords").read_text()
    # Hashed by mosquitto_passwd: no clear-text password on disk.
    assert unit_password(SECRET, "seat-0001") not in passwords
    assert passwords.count("\n") == 3
    for name in ("passwords", "acl", "mosquitto.conf"):
        st_ = (private_dir / "broker" / name).stat()
        assert st_.st_mode & 0o777 == 0o600
        if os.geteuid() == 0:
            assert st_.st_uid == pwd.getpwnam(BROKER_ACCOUNT).pw_uid
    conf = (private_dir / "broker" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert f"listener {broker.port} 127.0.0.1" in conf


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the files to another account")
async def test_an_unreachable_directory_gets_a_runtime_directory(tmp_path: Path) -> None:
    """Under a folder the broker's account cannot enter, the files go elsewhere (more in
    test_mosquitto_private.py); with no such place either, the refusal says why."""
    os.chmod(tmp_path, 0o700)
    broker = Mosquitto(tmp_path / "broker", {"u": "p"}, "user u\ntopic read #\n")
    await broker.write_files()
    assert broker.in_runtime_dir
    assert tmp_path not in broker.files.parents
    assert (broker.files / "passwords").stat().st_mode & 0o777 == 0o600
    shutil.rmtree(broker.files)
    (tmp_path / "run").mkdir()
    refused = Mosquitto(
        tmp_path / "broker", {"u": "p"}, "user u\n", runtime_parents=(tmp_path / "run",)
    )
    with pytest.raises(BrokerError, match="cannot enter"):
        await refused.write_files()


async def test_a_broker_that_cannot_start_says_why(private_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = Mosquitto(private_dir / "broker", {"u": "p"}, "user u\n", port=port)
        with pytest.raises(BrokerError, match="exited with code"):
            await broker.start()
        await broker.stop()


async def test_stop_ends_the_process(private_dir: Path) -> None:
    async with hall_broker("hall-a", [], private_dir / "broker", SECRET) as broker:
        pid = broker.pid
        assert pid is not None
        assert broker.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
