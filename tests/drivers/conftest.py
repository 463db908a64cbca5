"""Real counterparts for the driver tests: a socat pty pair, and an embedded Mosquitto.

Every fixture here starts a real process and stops it again, whatever the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

T = TypeVar("T")


@dataclass(frozen=True)
class PtyPair:
    """Two ends of a virtual serial cable: the controller opens `master`, the units `unit`."""

    master: str
    unit: str


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A fresh directory that a broker dropping to its own account may still traverse."""
    base = Path(tempfile.mkdtemp(prefix="chamber-test-"))
    # Traversable, not listable: the broker's account reaches its own 0700 directory below.
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def pty_pair(tmp_path: Path) -> AsyncIterator[PtyPair]:
    if shutil.which("socat") is None:
        pytest.fail("socat is not installed (Debian package: socat)")
    a, b = tmp_path / "master", tmp_path / "unit"
    proc = await asyncio.create_subprocess_exec(
        "socat",
        "-d",
        "-d",
        f"pty,raw,echo=0,link={a}",
        f"pty,raw,echo=0,link={b}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # socat reports "starting data transfer loop" once both ptys (and links) exist.
        assert proc.stderr is not None

        async def ready() -> None:
            assert proc.stderr is not None
            async for line in proc.stderr:
                if b"starting data transfer loop" in line:
                    return
            raise RuntimeError("socat exited before the pty pair was ready")

        await asyncio.wait_for(ready(), 5.0)
        assert a.exists()
        assert b.exists()
        drain = asyncio.create_task(_drain(proc.stderr))
        yield PtyPair(str(a), str(b))
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), 5.0)
        if "drain" in locals():
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


async def _drain(stream: asyncio.StreamReader) -> None:
    async for _ in stream:
        pass


class Recorder(Generic[T]):
    """A sink that keeps what it is given and lets a test wait for a condition on it."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._changed = asyncio.Event()

    def __call__(self, item: T) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[T]], bool], within: float = 5.0) -> None:
        async def wait() -> None:
            while not predicate(self.items):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), within)

    def of_type(self, cls: type[Any]) -> list[Any]:
        return [i for i in self.items if isinstance(i, cls)]


def losses(reports: list[bool]) -> int:
    """How many times a unit's reported state went from online to offline."""
    return sum(1 for before, after in itertools.pairwise(reports) if before and not after)


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves a task running: every driver and server must be stopped."""
    before = asyncio.all_tasks()
    yield
    # Let cancelled tasks and closing transports finish their last callbacks.
    for _ in range(3):
        await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()
    ]
    assert not leaked, f"tasks left running: {leaked}"
