"""Where the API listens: the hall file's `[api] listen` (an address or an interface name).

* The form is checked when the hall file is read: a bad address is one clear error there.
* `chamber run` listens only where it is told: on the named address or interface, and a
  connection to another address of this machine is refused.
* An interface that does not exist, or has no IPv4 address, stops the start with one line.
* In a network namespace joined by a veth pair, another host reaches the API on the
  interface it was told to listen on, and the address it was not told is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.config import ConfigError, load_config
from chamber.controller.netbind import (
    Listen,
    ListenError,
    interface_address,
    parse_listen,
    resolve_host,
)
from chamber.drivers.mosquitto import free_port

from .test_startup import (
    READY_TIMEOUT,
    ROOT,
    assert_one_error_line,
    chamber_command,
    env,
    hall_file,
    run_once,
)


@given(
    st.ip_addresses(v=4).map(str),
    st.integers(min_value=1, max_value=65535),
)
def test_an_ipv4_listen_address_reads_back(host: str, port: int) -> None:
    listen = parse_listen(f"{host}:{port}")
    assert listen == Listen(host, port)
    assert parse_listen(str(listen)) == listen


@given(st.ip_addresses(v=6).map(str), st.integers(min_value=1, max_value=65535))
def test_an_ipv6_listen_address_reads_back(host: str, port: int) -> None:
    listen = parse_listen(f"[{host}]:{port}")
    assert (listen.host, listen.port, listen.interface) == (host, port, False)
    assert parse_listen(str(listen)) == listen


def test_the_listen_forms() -> None:
    assert parse_listen("10.0.0.5") == Listen("10.0.0.5", 8700)
    assert parse_listen("enp2s0:8000") == Listen("enp2s0", 8000, interface=True)
    assert parse_listen("lo") == Listen("lo", 8700, interface=True)
    for bad, says in [
        ("10.0.0.300:80", "not an IPv4 address"),
        ("10.0.0.5:0", "not a port number"),
        ("10.0.0.5:99999", "not a port number"),
        ("10.0.0.5:http", "not a port number"),
        ("fd00::5", "in brackets"),
        ("[fd00::zz]:80", "not an IPv6 address"),
        ("a/b:80", "neither an IP address nor an interface name"),
        ("much-too-long-name0", "neither an IP address nor an interface name"),
        ("", "empty"),
    ]:
        with pytest.raises(ListenError, match=says):
            parse_listen(bad)


def test_interfaces_resolve_to_their_address() -> None:
    assert interface_address("lo") == "127.0.0.1"
    assert resolve_host(parse_listen("lo:1")) == "127.0.0.1"
    with pytest.raises(ListenError, match="no such interface"):
        interface_address("nosuch0")


def with_api(config: Path, table: str) -> Path:
    config.write_text(config.read_text("utf-8") + f"\n[api]\n{table}\n", "utf-8")
    return config


def test_a_bad_listen_address_is_a_config_error(tmp_path: Path) -> None:
    config = with_api(hall_file(tmp_path), 'listen = "10.0.0.300:8700"')
    with pytest.raises(ConfigError, match=r"api\.listen: .*'10\.0\.0\.300' is not an IPv4"):
        load_config(config)
    config = with_api(hall_file(tmp_path), 'tls_cert = "api.crt"')
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        load_config(config)


def test_relative_tls_files_are_taken_from_the_hall_files_directory(tmp_path: Path) -> None:
    config = with_api(hall_file(tmp_path), 'tls_cert = "tls/api.crt"\ntls_key = "tls/api.key"')
    api = load_config(config).api
    assert (api.tls_cert, api.tls_key) == (tmp_path / "tls/api.crt", tmp_path / "tls/api.key")


def test_an_interface_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    config = with_api(hall_file(tmp_path), 'listen = "nosuch0:8700"')
    code, err = run_once("--config", str(config), "--data", str(tmp_path / "d"))
    assert code == 2
    assert_one_error_line(code, err, r"api\.listen: interface nosuch0: no such interface")


def test_an_address_not_on_this_machine_stops_the_start(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never a local address.
    config = with_api(hall_file(tmp_path), 'listen = "192.0.2.7:8700"')
    code, err = run_once("--config", str(config), "--data", str(tmp_path / "d"))
    assert code == 2
    assert_one_error_line(code, err, r"cannot listen on 192\.0\.2\.7:8700: Cannot assign")


@contextlib.asynccontextmanager
async def daemon(
    config: Path, data: Path, *extra: str, prefix: tuple[str, ...] = ()
) -> AsyncIterator[dict[str, object]]:
    """`chamber run` with the hall file's address (no --host, no --port); yields its ready
    log line."""
    process = await asyncio.create_subprocess_exec(
        *prefix,
        *chamber_command("run", "--config", str(config), "--data", str(data), *extra),
        cwd=ROOT,
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        seen: list[str] = []
        while True:
            raw = await asyncio.wait_for(process.stderr.readline(), READY_TIMEOUT)
            assert raw, "chamber run stopped before it was ready:\n" + "".join(seen)
            seen.append(raw.decode())
            if '"event": "ready"' in seen[-1]:
                break
        yield json.loads(seen[-1])
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.communicate(), READY_TIMEOUT)


async def answers(host: str, port: int) -> bool:
    """Whether something accepts a TCP connection there (refused: False)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), READY_TIMEOUT)
    except ConnectionRefusedError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory the embedded broker's account can traverse (as in test_startup)."""
    base = Path(tempfile.mkdtemp(prefix="chamber-network-test-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("where", ["127.0.0.1", "lo"])
async def test_the_daemon_listens_only_where_the_hall_file_says(open_dir: Path, where: str) -> None:
    port = free_port()
    config = with_api(hall_file(open_dir), f'listen = "{where}:{port}"')
    async with daemon(config, open_dir / "data") as ready:
        assert ready["url"] == f"http://127.0.0.1:{port}"
        assert await answers("127.0.0.1", port)
        # Another address of this machine (all of 127/8 is loopback): nothing listens there.
        assert not await answers("127.0.0.2", port)


async def test_the_command_line_overrides_the_hall_file(open_dir: Path) -> None:
    port, other = free_port(), free_port()
    config = with_api(hall_file(open_dir), f'listen = "127.0.0.2:{port}"')
    async with daemon(config, open_dir / "data", "--host", "127.0.0.3", "--port", str(other)):
        assert await answers("127.0.0.3", other)
        assert not await answers("127.0.0.2", port)


# --- two hosts on one machine: a network namespace and a veth pair ------------------------------

NETNS_OK = os.geteuid() == 0 and shutil.which("ip") is not None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=READY_TIMEOUT)


@pytest.fixture
def veth() -> Iterator[tuple[str, str, str, str]]:
    """A namespace (the 'hall network' host) joined to this one by a veth pair:
    (namespace, our interface, our address, its address)."""
    tag = uuid.uuid4().hex[:6]
    ns, ours, theirs = f"chns-{tag}", f"cha-{tag}", f"chb-{tag}"
    octet = int(tag[:2], 16) % 250 + 1
    here, there = f"10.213.{octet}.1", f"10.213.{octet}.2"
    ip("netns", "add", ns)
    try:
        ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
        ip("link", "set", theirs, "netns", ns)
        ip("addr", "add", f"{here}/24", "dev", ours)
        ip("link", "set", ours, "up")
        ip("-n", ns, "addr", "add", f"{there}/24", "dev", theirs)
        ip("-n", ns, "link", "set", theirs, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        yield ns, ours, here, there
    finally:
        subprocess.run(["ip", "link", "del", ours], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def reach_from(ns: str, host: str, port: int) -> bool:
    """Whether a TCP connect from inside the namespace to host:port succeeds."""
    probe = (
        "import socket, sys\n"
        "s = socket.socket()\n"
        "s.settimeout(30)\n"
        "try:\n"
        f"    s.connect(({host!r}, {port}))\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "python3", "-c", probe],
        capture_output=True,
        timeout=READY_TIMEOUT,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.skipif(not NETNS_OK, reason="network namespaces need root and iproute2")
async def test_another_host_reaches_the_api_on_the_named_interface_only(
    open_dir: Path, veth: tuple[str, str, str, str]
) -> None:
    ns, ours, here, _ = veth
    port = free_port()
    config = with_api(hall_file(open_dir), f'listen = "{ours}:{port}"')
    async with daemon(config, open_dir / "data") as ready:
        assert ready["url"] == f"http://{here}:{port}"
        assert await asyncio.to_thread(reach_from, ns, here, port)
        # This machine's loopback is not where it was told to listen.
        assert not await answers("127.0.0.1", port)
        with socket.socket() as probe:
            assert probe.connect_ex((here, port)) == 0
