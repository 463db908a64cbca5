"""One PTZ camera over VISCA: Sony's VISCA over IP (UDP 52381), or raw VISCA in UDP datagrams.

The driver owns the camera's socket. It numbers its VISCA-over-IP messages, resets the
camera's sequence count when it starts and when the camera reports a sequence error, waits
for the camera's ACK and completion with a timeout, and tries a command `ATTEMPTS` times
before it gives it up. The camera's health is a `LineHealth` of its own ("camera:ID":
online, and the last error in words), reported like a line's, so the technician's view and
the fault list show a camera that does not answer.

It never blocks the floor: the runtime never waits on it (`ready()` returns at once), a
recall is queued and only the newest queued recall is sent, and a silent camera costs only
its own timeouts. It imports the codec and the core's camera spec, nothing of the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from chamber.controller.core.cameras import CameraSpec, CameraTransport
from chamber.controller.core.clock import Clock
from chamber.controller.core.effects import UnitCommand
from chamber.drivers.base import HealthSink, LineHealth, UnitHealth
from chamber.drivers.health import LineMonitor
from chamber.protocols import visca

log = logging.getLogger("chamber.drivers.camera")

ATTEMPTS = 3
ACK_TIMEOUT_S = 0.3
"""VISCA cameras ACK within a few milliseconds; three of these are a dead camera."""
COMPLETION_TIMEOUT_S = 10.0
"""A preset recall completes when the head stops: seconds at a slow preset speed."""
PROBE_EVERY_S = 5.0
"""A camera nobody sends to is asked its position this often, so a dead one shows."""


class CameraError(Exception):
    """A command the camera did not carry out: no answer, or a VISCA error reply."""


@dataclass(frozen=True)
class Outcome:
    """What came of one command: done, or why not; `position` for a position inquiry."""

    done: bool
    detail: str = ""
    position: tuple[int, int] | None = None


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, driver: CameraDriver) -> None:
        self.driver = driver

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.driver._received(data)

    def error_received(self, exc: Exception) -> None:
        self.driver._socket_error(exc)


class CameraDriver:
    """The `Driver` of one camera (it serves no seat: `send` ignores unit commands)."""

    def __init__(
        self,
        spec: CameraSpec,
        clock: Clock,
        on_health: HealthSink,
        *,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        completion_timeout_s: float = COMPLETION_TIMEOUT_S,
        probe_every_s: float = PROBE_EVERY_S,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.monitor = LineMonitor(f"camera:{spec.id}", on_health)
        self._sink = on_health
        self.ack_timeout_s = ack_timeout_s
        self.completion_timeout_s = completion_timeout_s
        self.probe_every_s = probe_every_s
        self.last_error = ""
        self.sent_recalls = 0
        self._client = visca.ViscaIpClient()
        self._transport: asyncio.DatagramTransport | None = None
        self._replies: asyncio.Queue[visca.IpEvent | visca.Reply] = asyncio.Queue()
        self._recall: int | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._opened = asyncio.Event()

    @property
    def name(self) -> str:
        return self.monitor.health.line

    @property
    def seats(self) -> frozenset[int]:
        return frozenset()

    @property
    def online(self) -> bool:
        return self.monitor.health.connected

    def send(self, command: UnitCommand) -> None:
        """Unit commands are for seat units; a camera takes none."""

    def health(self) -> list[UnitHealth | LineHealth]:
        h = self.monitor.health
        if self.last_error and h.detail != self.last_error:
            h = LineHealth(h.line, h.connected, self.last_error, h.cycle_ms, h.adapter)
        return [h]

    async def ready(self) -> None:
        """At once: the floor never waits for a camera."""

    def recall(self, preset: int) -> None:
        """Queue a preset recall; a newer one replaces a recall not yet sent."""
        self._recall = preset
        self._wake.set()

    # --- the socket ------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        try:
            if self.spec.transport is CameraTransport.VISCA_IP:
                event: visca.IpEvent | visca.Reply = self._client.receive_datagram(
                    data, position=True
                )
            else:
                event = visca.parse_reply(data, position=True)
        except visca.ViscaRemoteError as exc:
            self._error(f"garbage from the camera: {exc}")
            return
        self._replies.put_nowait(event)

    def _socket_error(self, exc: Exception) -> None:
        self._error(f"socket: {exc}")

    def _error(self, detail: str) -> None:
        if detail != self.last_error:
            log.warning(
                "camera %s: %s",
                self.spec.id,
                detail,
                extra={"event": "camera-error", "camera": self.spec.id, "detail": detail},
            )
            self.last_error = detail
            self._sink(self.health()[0])

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Socket(self), remote_addr=(self.spec.host, self.spec.port)
        )
        self._opened.set()
        try:
            if self.spec.transport is CameraTransport.VISCA_IP:
                await self._reset()
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.probe_every_s):
                        await self._wake.wait()
                self._wake.clear()
                preset, self._recall = self._recall, None
                if preset is not None:
                    self.sent_recalls += 1
                    await self.execute(visca.PresetRecall(preset))
                elif not self.online or not self._lock.locked():
                    await self.execute(visca.PositionInquiry())
        finally:
            self._opened.clear()
            self._transport.close()
            self._transport = None

    async def _reset(self) -> bool:
        assert self._transport is not None
        for _ in range(ATTEMPTS):
            self._drain()
            self._transport.sendto(self._client.reset())
            try:
                while True:
                    async with asyncio.timeout(self.ack_timeout_s):
                        event = await self._replies.get()
                    if isinstance(event, visca.ControlAck):
                        self._online()
                        return True
            except TimeoutError:
                continue
        self._offline(f"no answer to the sequence reset ({ATTEMPTS} attempts)")
        return False

    def _drain(self) -> None:
        while not self._replies.empty():
            self._replies.get_nowait()

    def _online(self) -> None:
        if not self.online:
            self.last_error = ""
        self.monitor.connected()

    def _offline(self, detail: str) -> None:
        self.last_error = detail
        self.monitor.disconnected(detail)

    async def execute(self, command: visca.Command) -> Outcome:
        """Send one command and wait for its completion (retries included). Never raises
        for the camera's answer or its silence: the outcome says what came of it. It waits
        for `run` to have opened the camera's socket."""
        await self._opened.wait()
        async with self._lock:
            outcome = await self._exchange(command)
        if outcome.done:
            self._online()
            if self.last_error:
                self.last_error = ""
                self._sink(self.health()[0])
        elif outcome.detail.startswith("no answer"):
            self._offline(outcome.detail)
        else:
            self._error(outcome.detail)
        return outcome

    async def _exchange(self, command: visca.Command) -> Outcome:
        if self._transport is None:
            return Outcome(False, "no answer: the camera's socket is not open")
        ip = self.spec.transport is CameraTransport.VISCA_IP
        for _ in range(ATTEMPTS):
            self._drain()
            if ip:
                sequence, datagram = self._client.command(command)
            else:
                sequence, datagram = -1, visca.encode_command(command, 1)
            self._transport.sendto(datagram)
            try:
                outcome = await self._await_reply(command, sequence)
            except TimeoutError:
                continue
            if outcome is not None:
                return outcome
            # a sequence error: the camera's count is reset, the command sent again
            if not await self._reset():
                break
        return Outcome(False, f"no answer to {type(command).__name__} ({ATTEMPTS} attempts)")

    async def _await_reply(self, command: visca.Command, sequence: int) -> Outcome | None:
        acked = False
        while True:
            timeout = self.completion_timeout_s if acked else self.ack_timeout_s
            async with asyncio.timeout(timeout):
                event = await self._replies.get()
            if isinstance(event, visca.ControlError):
                return None
            if isinstance(event, visca.ControlAck):
                continue
            if isinstance(event, visca.IpReply):
                if event.sequence != sequence:
                    continue  # a late answer to a command given up
                reply = event.reply
            else:
                reply = event
            match reply:
                case visca.Ack():
                    acked = True
                case visca.Position(_, pan, tilt):
                    return Outcome(True, position=(pan, tilt))
                case visca.Completion():
                    return Outcome(True)
                case visca.Refusal(_, _, code):
                    return Outcome(False, f"refused {type(command).__name__}: {code.name}")
