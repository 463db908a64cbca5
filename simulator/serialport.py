"""Serial plumbing for simulated lines: a socat pty pair per line, and the unit side's port.

`SocatPair` runs `socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B` as a child process: the
daemon opens A like any serial device, the simulated units sit on B. Killing socat is what a
technician sees when a USB-RS485 adapter is pulled: the daemon's device disappears and its
open port fails; starting socat again with the same link names is the plug going back in.

`UnitPort` is the simulator's end: a raw, non-blocking pty file descriptor read through the
event loop. This module never interprets bytes; framing belongs to protocols/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tty
from collections.abc import Callable
from pathlib import Path

from chamber.drivers.mosquitto import die_with_parent

# socat -d -d logs this once both ptys (and their links) are set up.
_READY = re.compile(rb"starting data transfer loop")
_PTY = re.compile(rb"PTY is (\S+)")


class SerialPlumbingError(RuntimeError):
    """socat could not be started, or a pty could not be opened."""


class SocatPair:
    """One socat child process joining two pty links; restartable with the same names."""

    def __init__(self, daemon_link: Path, unit_link: Path) -> None:
        self.daemon_link = daemon_link
        self.unit_link = unit_link
        self._proc: asyncio.subprocess.Process | None = None
        self.ptys: tuple[str, ...] = ()
        self._drain: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, wait_s: float = 5.0) -> None:
        if self.running:
            return
        self._proc = await asyncio.create_subprocess_exec(
            "socat",
            "-d",
            "-d",
            f"pty,raw,echo=0,link={self.daemon_link}",
            f"pty,raw,echo=0,link={self.unit_link}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            # Its own process group: a Ctrl-C meant for the simulator must not pull every cable
            # before the simulator shuts down in order.
            start_new_session=True,
            # Yet it goes with the simulator however that ends (a SIGKILL included).
            preexec_fn=die_with_parent(),
        )
        assert self._proc.stderr is not None
        ptys: list[str] = []
        try:
            async with asyncio.timeout(wait_s):
                while True:
                    line = await self._proc.stderr.readline()
                    if not line:
                        raise SerialPlumbingError(
                            f"socat exited ({self._proc.returncode}) before its ptys were ready"
                        )
                    if m := _PTY.search(line):
                        ptys.append(m.group(1).decode())
                    if _READY.search(line):
                        break
        except TimeoutError:
            await self.stop()
            raise SerialPlumbingError("socat did not set up its ptys in time") from None
        except SerialPlumbingError:
            await self.stop()
            raise
        self.ptys = tuple(ptys)
        # Keep draining socat's log so that a full pipe never blocks it.
        self._drain = asyncio.get_running_loop().create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        while await proc.stderr.readline():
            pass

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.terminate()
        try:
            async with asyncio.timeout(3.0):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        drain = self._drain
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            self._drain = None


class UnitPort:
    """The units' end of a line: raw pty bytes in through a callback, bytes out by write."""

    def __init__(self, path: Path, on_data: Callable[[bytes], None]) -> None:
        self.path = path
        self._on_data = on_data
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise SerialPlumbingError(f"cannot open {self.path}: {exc.strerror}") from exc
        # Echo or canonical mode would mangle binary frames.
        tty.setraw(fd)
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            # The other end went away (socat stopped): the line is unplugged.
            self.close()
            return
        if data:
            self._on_data(data)

    def write(self, data: bytes) -> bool:
        """Send a frame; False when the line is unplugged (the bytes go nowhere, as on a wire)."""
        if self._fd is None:
            return False
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                # A pty buffer holds kilobytes; a full one means nobody reads: drop, as a
                # unit talking to a disconnected master would.
                return False
            except OSError:
                self.close()
                return False
            view = view[n:]
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(fd)
        os.close(fd)
