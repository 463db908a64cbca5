"""The election on a real three-member etcd cluster on loopback (Debian's etcd-server 3.4):
one leader at a time, and a leader whose lease is gone is fenced by etcd's refusal of its
write, not by a timer of its own."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chamber.controller.election import Election, Fenced
from chamber.drivers.mosquitto import free_port

# Debian's etcd-server (the Makefile's DEB_PACKAGES): `make setup` installs it.
ETCD = shutil.which("etcd")

READY_S = 60.0


@dataclass
class Member:
    name: str
    client_url: str
    proc: asyncio.subprocess.Process


async def _until_ready(proc: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert proc.stderr is not None
    async for raw in proc.stderr:
        line = raw.decode("utf-8", "replace")
        lines.append(line)
        if "ready to serve client requests" in line:
            return
    raise AssertionError("etcd exited:\n" + "".join(lines[-10:]))


@contextlib.asynccontextmanager
async def etcd_cluster(directory: Path, members: int = 3) -> AsyncIterator[list[Member]]:
    """`members` etcd processes on loopback, with tuned timeouts (100 ms heartbeat, 500 ms
    election); each ready on its own log line."""
    names = [f"m{i}" for i in range(members)]
    peers = {n: f"http://127.0.0.1:{free_port()}" for n in names}
    clients = {n: f"http://127.0.0.1:{free_port()}" for n in names}
    initial = ",".join(f"{n}={peers[n]}" for n in names)
    started: list[Member] = []
    readers: list[asyncio.Task[None]] = []
    try:
        for n in names:
            assert ETCD is not None
            proc = await asyncio.create_subprocess_exec(
                ETCD,
                "--name", n,
                "--data-dir", str(directory / n),
                "--listen-peer-urls", peers[n],
                "--initial-advertise-peer-urls", peers[n],
                "--listen-client-urls", clients[n],
                "--advertise-client-urls", clients[n],
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", "chamber-test",
                "--heartbeat-interval", "100",
                "--election-timeout", "500",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            started.append(Member(n, clients[n], proc))
        lines: list[str] = []
        readers = [asyncio.create_task(_until_ready(m.proc, lines)) for m in started]
        async with asyncio.timeout(READY_S):
            await asyncio.gather(*readers)
        yield started
    finally:
        for r in readers:
            r.cancel()
        for m in started:
            if m.proc.returncode is None:
                m.proc.send_signal(signal.SIGKILL)
            await m.proc.wait()


async def test_one_leader_and_a_leader_without_its_lease_is_fenced(tmp_path: Path) -> None:
    async with (
        etcd_cluster(tmp_path) as members,
        httpx.AsyncClient(base_url=members[0].client_url, timeout=10) as c0,
        httpx.AsyncClient(base_url=members[1].client_url, timeout=10) as c1,
    ):
        a = Election(c0, "controller-a")
        b = Election(c1, "controller-b")
        term_a = await a.campaign()
        assert term_a is not None
        assert await b.campaign() is None  # a holds the key: one leader at a time
        await a.keep_alive()
        written = await a.fenced_put("chamber/batch/1", "lô 1")
        assert written > term_a.revision
        # a's lease is gone (revoked here, as its expiry would): its key with it.
        await c1.post("/v3/lease/revoke", json={"ID": str(term_a.lease)})
        with pytest.raises(Fenced):
            await a.fenced_put("chamber/batch/2", "lô 2")
        with pytest.raises(Fenced):
            await a.keep_alive()
        term_b = await b.campaign()
        assert term_b is not None
        assert term_b.revision > term_a.revision
        await b.fenced_put("chamber/batch/2", "lô 2")
        # a, campaigning again with its old term forgotten, cannot take b's key.
        assert await a.campaign() is None
        with pytest.raises(Fenced):
            await a.fenced_put("chamber/batch/3", "lô 3")


async def test_the_term_survives_the_loss_of_one_member(tmp_path: Path) -> None:
    async with (
        etcd_cluster(tmp_path) as members,
        httpx.AsyncClient(base_url=members[0].client_url, timeout=10) as c0,
    ):
        a = Election(c0, "controller-a", ttl_s=5)
        assert await a.campaign() is not None
        members[2].proc.send_signal(signal.SIGKILL)
        await members[2].proc.wait()
        # Two of three: still a quorum; the guarded write goes through.
        await a.keep_alive()
        assert await a.fenced_put("chamber/batch/1", "lô 1") > 0
