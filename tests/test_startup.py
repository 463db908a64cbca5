"""`chamber run` as an operator starts it, as its own process.

* Every start-up error is one line on stderr, `error: ...`, and a non-zero exit; never a
  traceback: a missing or bad hall file, a hall id that the daemon could not use, a data
  directory it cannot write, a port in use, missing or unusable TLS files, a bad token file,
  a damaged journal.
* Every hall id that `config check` accepts starts the daemon (the known crasher, a trailing
  hyphen, is refused by both with the same line).
* New tokens are shown once and never in the logs: without a terminal they go to a file only
  its owner can read, on a terminal they are printed there; a second start shows nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chamber.controller.auth import TokenStore
from chamber.drivers.mosquitto import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "vn-council.toml"
# A bound on a broken test, not a wait: the daemon says when it is ready.
READY_TIMEOUT = 60.0


def chamber_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chamber.controller.cli", *args]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.pop("CHAMBER_TRACEBACK", None)
    return out


def hall_file(tmp_path: Path, hall_id: str = "hdnd-ninh-binh") -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count('id = "hdnd-ninh-binh"') == 1
    path = tmp_path / "hall.toml"
    text = text.replace('id = "hdnd-ninh-binh"', f'id = "{hall_id}"')
    # The embedded broker binds the hall's interface and port (0.0.0.0:1883 by default):
    # a test takes loopback and a free port, so that runs side by side never clash.
    text += f'\n[mqtt]\nbind = "127.0.0.1"\nport = {free_port()}\n'
    path.write_text(text, "utf-8")
    return path


def run_once(*args: str) -> tuple[int, str]:
    """A `chamber run` that is expected to stop by itself at start."""
    done = subprocess.run(
        chamber_command("run", *args),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT,
        check=False,
    )
    return done.returncode, done.stderr


def assert_one_error_line(code: int, stderr: str, expected: str, *, only_line: bool = True) -> None:
    assert code != 0
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    assert lines[-1].startswith("error: "), stderr
    assert re.search(expected, lines[-1]), lines[-1]
    assert sum(line.startswith("error: ") for line in lines) == 1
    if only_line:
        assert len(lines) == 1, stderr


def test_a_missing_hall_file(tmp_path: Path) -> None:
    code, err = run_once("--config", str(tmp_path / "none.toml"), "--data", str(tmp_path / "d"))
    assert code == 2
    assert_one_error_line(code, err, r"none\.toml: cannot read: No such file")


def test_a_bad_hall_file(tmp_path: Path) -> None:
    config = hall_file(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace('fraction = "1/2"', 'fraction = "1e-9999"'),
        "utf-8",
    )
    code, err = run_once("--config", str(config), "--data", str(tmp_path / "d"))
    assert code == 2
    assert_one_error_line(code, err, r"policies\.quorum\.fraction: not a fraction")


def test_the_known_crashing_hall_id_is_refused_by_check_and_run_alike(tmp_path: Path) -> None:
    config = hall_file(tmp_path, "hdnd-")
    code, err = run_once("--config", str(config), "--data", str(tmp_path / "d"))
    assert code == 2
    assert_one_error_line(code, err, r"hall\.id: hall id 'hdnd-' is not allowed")
    check = subprocess.run(
        chamber_command("config", "check", str(config)),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT,
        check=False,
    )
    assert check.returncode == 2
    assert check.stderr == err


def test_a_data_directory_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    code, err = run_once("--config", str(hall_file(tmp_path)), "--data", str(blocker / "data"))
    assert code == 2
    assert_one_error_line(code, err, r"data directory .*: cannot be written: Not a directory")


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_once(
            "--config", str(hall_file(tmp_path)), "--data", str(tmp_path / "d"), "--port", str(port)
        )
    assert code == 2
    assert_one_error_line(
        code, err, rf"cannot listen on 127\.0\.0\.1:{port}: Address already in use"
    )


def test_missing_and_unusable_tls_files(tmp_path: Path) -> None:
    config = str(hall_file(tmp_path))
    data = str(tmp_path / "d")
    code, err = run_once(
        "--config", config, "--data", data, "--tls-cert", str(tmp_path / "no.pem"),
        "--tls-key", str(tmp_path / "no.key"),
    )  # fmt: skip
    assert code == 2
    assert_one_error_line(code, err, r"no\.pem: no such file")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n", encoding="utf-8")
    code, err = run_once(
        "--config", config, "--data", data, "--tls-cert", str(junk), "--tls-key", str(junk)
    )
    assert code == 2
    assert_one_error_line(code, err, r"junk\.pem: not a usable certificate and key")
    code, err = run_once("--config", config, "--data", data, "--tls-cert", str(junk))
    assert_one_error_line(code, err, r"--tls-cert and --tls-key go together")


def test_a_bad_token_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    for content in ("{not json", '[{"name": "x", "role": "emperor", "sha256": "00"}]'):
        tokens.write_text(content, encoding="utf-8")
        code, err = run_once(
            "--config",
            str(hall_file(tmp_path)),
            "--data",
            str(tmp_path / "d"),
            "--tokens",
            str(tokens),
        )
        assert code == 2
        assert_one_error_line(code, err, r"token file .*tokens\.json: ")


def test_a_damaged_journal(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "hdnd-ninh-binh.journal").write_bytes(bytes(range(256)) * 40)
    code, err = run_once(
        "--config", str(hall_file(tmp_path)), "--data", str(data), "--log-level", "error"
    )
    assert code == 1
    assert_one_error_line(code, err, r"hdnd-ninh-binh\.journal")


# --- starting for real -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(
    config: Path, data: Path, *, stderr: int | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`chamber run` on a free port, until the test is done with it (then SIGTERM)."""
    process = await asyncio.create_subprocess_exec(
        *chamber_command("run", "--config", str(config), "--data", str(data), "--port", "0"),
        cwd=ROOT,
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if stderr is None else stderr,
    )
    try:
        yield process
    except BaseException:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), READY_TIMEOUT)
        raise
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    rest = b""
    if process.stderr is not None:
        rest = await asyncio.wait_for(process.stderr.read(), READY_TIMEOUT)
    code = await asyncio.wait_for(process.wait(), READY_TIMEOUT)
    assert code == 0, rest.decode(errors="replace")[-3000:]


async def read_until_ready(stream: asyncio.StreamReader) -> list[str]:
    lines: list[str] = []
    while True:
        raw = await asyncio.wait_for(stream.readline(), READY_TIMEOUT)
        assert raw, "chamber run stopped before it was ready:\n" + "".join(lines)
        lines.append(raw.decode())
        if '"event": "ready"' in lines[-1]:
            return lines


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A fresh directory outside pytest's 0700 tree: the embedded broker drops to its own
    account and must be able to traverse it (not list it) to reach its own directory."""
    base = Path(tempfile.mkdtemp(prefix="chamber-startup-test-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("hall_id", ["0", "a-b", "x" + "-9" * 15 + "z"])
async def test_accepted_hall_ids_start_and_new_tokens_are_never_logged(
    open_dir: Path, hall_id: str
) -> None:
    tmp_path = open_dir
    config = hall_file(tmp_path, hall_id)
    checked = await asyncio.create_subprocess_exec(
        *chamber_command("config", "check", str(config)), cwd=ROOT, env=env()
    )
    assert await asyncio.wait_for(checked.wait(), READY_TIMEOUT) == 0
    data = tmp_path / "data"
    async with running(config, data) as process:
        assert process.stderr is not None
        logs = "".join(await read_until_ready(process.stderr))
    assert (data / f"{hall_id}.journal").is_file()
    new = data / "tokens.json.new"
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    tokens = re.findall(r"^\s+(\w+)\s+(\S{40,})$", new.read_text(encoding="utf-8"), re.M)
    assert {role for role, _ in tokens} == {
        "chair",
        "secretary",
        "technician",
        "observer",
        "metrics",
    }
    stored = TokenStore.load(data / "tokens.json")
    text = (data / "tokens.json").read_text("utf-8")
    for role, token in tokens:
        assert token not in logs
        assert token.partition(".")[2] not in text  # only a hash of it is kept
        principal = stored.lookup(token)
        assert principal is not None
        assert principal.role.value == role
    # Handed out and deleted: the next start makes none and shows none.
    new.unlink()
    async with running(config, data) as process:
        assert process.stderr is not None
        logs = "".join(await read_until_ready(process.stderr))
    assert not new.exists()
    assert "token" not in logs.lower()


async def test_new_tokens_are_printed_on_a_terminal(open_dir: Path) -> None:
    tmp_path = open_dir
    master, slave = pty.openpty()
    try:
        async with running(hall_file(tmp_path), tmp_path / "data", stderr=slave):
            os.close(slave)
            slave = -1
            seen = await asyncio.wait_for(_read_terminal(master), READY_TIMEOUT)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert "New API tokens. They are shown this once only:" in seen
    tokens = re.findall(r"^\s+(chair|secretary|technician|observer)\s+(\S{40,})\s*$", seen, re.M)
    assert len(tokens) == 4
    assert not (tmp_path / "data" / "tokens.json.new").exists()
    for _, token in tokens:
        assert seen.count(token) == 1


async def _read_terminal(fd: int) -> str:
    """What the daemon wrote on its terminal, up to its ready line (text logs on a tty)."""
    loop = asyncio.get_running_loop()
    seen = ""
    while "daemon ready" not in seen:
        chunk = await loop.run_in_executor(None, os.read, fd, 65536)
        assert chunk, seen
        seen += chunk.decode(errors="replace").replace("\r\n", "\n")
    return seen
