"""Open a line's serial device the same way whether it is a real port or a test double.

A line's `device` is either a path (`/dev/ttyUSB0`, a pty link) or a URL
`socket://127.0.0.1:4001` (an RS-485-to-TCP converter, or a test that serves the line over a
socket), zigpy's idea. `open_link` gives the same small interface for both: a serial port
opened with pyserial, non-blocking, watched through its file descriptor (`loop.add_reader`,
no thread, no polling); a socket through asyncio's own transport (pyserial's socket:// handler
blocks the loop for 0.3 s on close and can leak its socket when the peer went first).
This module knows nothing of any protocol and never reads a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import serial

from chamber.drivers.errors import TransportError

Parity = str  # serial.PARITY_NONE / PARITY_EVEN / PARITY_ODD


def open_serial(
    device: str, baud: int, parity: Parity = serial.PARITY_NONE, stopbits: float = 1
) -> Any:
    """Open `device` (a path or a pyserial URL) non-blocking, 8 data bits. A path is locked
    for this process alone (flock): a second master on the line (another daemon, or
    `chamber commission` while the daemon runs) is refused instead of talking over it."""
    exclusive = {} if "://" in device else {"exclusive": True}
    try:
        return serial.serial_for_url(
            device,
            baudrate=baud,
            bytesize=serial.EIGHTBITS,
            parity=parity,
            stopbits=stopbits,
            timeout=0,
            write_timeout=0,
            **exclusive,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TransportError(f"cannot open serial line {device!r}: {exc}") from exc


class Link(Protocol):
    """An open line: bytes out with `write`; `closed` completes (or fails) when it is gone."""

    device: str
    closed: asyncio.Future[None]

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


async def open_link(device: str, baud: int, on_data: Callable[[bytes], None]) -> Link:
    """Open a serial device path, or a `socket://host:port` URL, as a `Link`."""
    if device.startswith("socket://"):
        return await SocketLink.open(device, on_data)
    return SerialLink(device, baud, on_data)


class SocketLink(asyncio.Protocol):
    """A line reached over TCP (`socket://host:port`), on asyncio's transport."""

    def __init__(self, device: str, on_data: Callable[[bytes], None]) -> None:
        self.device = device
        self._on_data = on_data
        self._transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, device: str, on_data: Callable[[bytes], None]) -> SocketLink:
        url = urlsplit(device)
        if not url.hostname or not url.port:
            raise TransportError(f"{device!r}: write socket://host:port")
        link = cls(device, on_data)
        try:
            await asyncio.get_running_loop().create_connection(lambda: link, url.hostname, url.port)
        except OSError as exc:
            raise TransportError(f"cannot connect to {device!r}: {exc.strerror or exc}") from exc
        return link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_exception(
                TransportError(f"line {self.device!r} lost: {exc or 'closed by the peer'}")
            )
            self.closed.exception()  # retrieved by the owner; marked so asyncio stays quiet

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError(f"line {self.device!r} is closed")
        self._transport.write(data)

    def close(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self._transport is not None:
            self._transport.close()


class SerialLink:
    """One open serial line on the running event loop.

    Received bytes go to `on_data` as they arrive; `write` queues bytes and flushes them
    when the port can take them. A read or write error closes the link and sets `closed`,
    whose exception (a `TransportError`) the owner awaits to learn the line is gone.
    """

    def __init__(
        self,
        device: str,
        baud: int,
        on_data: Callable[[bytes], None],
        parity: Parity = serial.PARITY_NONE,
        stopbits: float = 1,
    ) -> None:
        self.device = device
        self._loop = asyncio.get_running_loop()
        self._port = open_serial(device, baud, parity, stopbits)
        self._on_data = on_data
        self._pending = bytearray()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        try:
            self._fd = int(self._port.fileno())
        except (AttributeError, OSError, serial.SerialException) as exc:
            self._port.close()
            raise TransportError(f"{device!r} has no file descriptor to watch") from exc
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = self._port.read(4096)
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            return
        if data:
            self._on_data(bytes(data))

    def write(self, data: bytes) -> None:
        if self.closed.done():
            raise TransportError(f"serial line {self.device!r} is closed")
        if self._pending:
            self._pending += data
            return
        try:
            n = self._port.write(data) or 0
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            raise TransportError(f"write to {self.device!r} failed: {exc}") from exc
        if n < len(data):
            self._pending += data[n:]
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        try:
            n = self._port.write(bytes(self._pending)) or 0
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            return
        del self._pending[:n]
        if not self._pending:
            self._loop.remove_writer(self._fd)

    def _fail(self, exc: BaseException) -> None:
        if not self.closed.done():
            self.closed.set_exception(TransportError(f"serial line {self.device!r} failed: {exc}"))
            # Retrieved by the owner; marking it here keeps asyncio from warning if not.
            self.closed.exception()
        self._teardown()

    def _teardown(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()

    def close(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._teardown()
