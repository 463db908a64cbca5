"""One MQTT 3.1.1 connection to the broker over asyncio, on the sans-IO `protocols.mqtt_packet`.

The controller's client, as lean as the driver needs and no more: `MqttLink.start` connects
(TCP or TLS), sends CONNECT and waits for the CONNACK; `subscribe` waits for its SUBACK;
`publish_window` writes many publications in one write and gives one future for all their
PUBACKs; `ack` sends PUBACKs for deliveries, several in one write, when the caller says so
(the driver acknowledges a press only once it is durable, so nothing here acknowledges on
its own). Deliveries reach `on_publish` from the read callback itself, in arrival order, with
no queue and no task in between.

Keepalive (3.1.2.10): a PINGREQ goes out when nothing was sent for half the keepalive; a
connection that has heard nothing from the broker for a whole keepalive after a PINGREQ is
taken as lost and closed.

Every wait ends with the connection: a connection lost before its CONNACK, its SUBACK or a
window's PUBACKs fails that wait at once with `MqttLinkError` (the broker killed while the
controller connects must not cost the timeout), and so does one bounded by `timeout_s`
that ran out (the connection is then closed: it cannot be trusted). Bytes the broker should
never send close the connection with the codec's `PacketError` as the cause.

It does no reconnection and keeps no state across connections: that is the driver's
(`drivers.mqtt.MqttUnits`), which opens a fresh link each time, as its session is persistent
at the broker.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from chamber.drivers.errors import TransportError
from chamber.protocols import mqtt_packet as pk

log = logging.getLogger(__name__)


class MqttLinkError(TransportError):
    """The connection failed, was refused, was lost, or a wait on it ran out."""


class MqttRefused(MqttLinkError):
    """The broker answered CONNECT with a refusal (3.2.2.3)."""

    def __init__(self, code: int) -> None:
        try:
            name = pk.ConnectReturn(code).name.lower().replace("_", " ")
        except ValueError:
            name = f"return code {code}"
        super().__init__(f"the broker refused the connection: {name}")
        self.code = code


class Outgoing(Protocol):
    """What one publication needs: `protocols.mqtt.Publication` has it."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...


OnPublish = Callable[[pk.Publish], None]
T = TypeVar("T")


class _Window:
    """Publications written together: one future once the broker has acknowledged them all."""

    __slots__ = ("future", "remaining", "timer")

    def __init__(self, future: asyncio.Future[None], remaining: int) -> None:
        self.future = future
        self.remaining = remaining
        self.timer: asyncio.TimerHandle | None = None


class MqttLink(asyncio.Protocol):
    """One connection: build it, then `start` it; it is spent once `closed` is done."""

    def __init__(self, connect: pk.Connect, on_publish: OnPublish, timeout_s: float) -> None:
        self._connect = connect
        self.on_publish = on_publish
        self._timeout = timeout_s
        self._loop = asyncio.get_running_loop()
        self._codec = pk.ClientConnection()
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[pk.ConnAck] = self._loop.create_future()
        self._subacks: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._windows: dict[int, _Window] = {}
        # Set once the connection is gone; its exception says why.
        self.closed: asyncio.Future[None] = self._loop.create_future()
        # Keepalive: whether anything went out or came in since the last tick, and how many
        # ticks a PINGREQ has waited for any word from the broker (0: none waits).
        self._sent = False
        self._heard = False
        self._pinged = 0
        # Set once DISCONNECT is written: nothing more goes out.
        self._leaving = False
        self._keepalive: asyncio.TimerHandle | None = None

    # --- opening and closing --------------------------------------------------------------

    async def start(self, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> pk.ConnAck:
        """Connect, send CONNECT and return the broker's accepting CONNACK. Deliveries may
        reach `on_publish` before this returns (a persistent session's, right behind it)."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._loop.create_connection(
                    lambda: self, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except (OSError, TimeoutError) as exc:
            raise MqttLinkError(f"cannot connect to {host}:{port}: {exc or 'timed out'}") from exc
        try:
            return await self._bounded(self._connack, "CONNACK")
        except BaseException:
            self.abort()
            raise

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        try:
            transport.write(self._codec.send(self._connect))
        except pk.PacketUsageError as exc:
            self._lost(MqttLinkError(f"cannot send CONNECT: {exc}"))
            return
        keepalive = self._connect.keepalive
        if keepalive:
            self._keepalive = self._loop.call_later(keepalive / 2, self._tick, keepalive / 2)

    def connection_lost(self, exc: Exception | None) -> None:
        why = f": {exc}" if exc else ""
        self._lost(MqttLinkError(f"the broker closed the connection{why}"))

    async def aclose(self) -> None:
        """Leave cleanly (DISCONNECT: the broker drops the will) and wait, within `timeout_s`,
        until the broker has closed the connection (3.14.4). By then it has read everything
        sent before, the PUBACKs above all: the next connection of the same client takes the
        session over, and PUBACKs that reached the broker only after that would be lost."""
        transport = self._transport
        if transport is None or self.closed.done() or transport.is_closing():
            self.close()
            return
        transport.write(pk.encode(pk.Disconnect()))
        self._leaving = True  # nothing may follow a DISCONNECT (3.14.4)
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.wait({self.closed})
        except TimeoutError:
            pass
        finally:
            self.abort()

    def close(self) -> None:
        """Leave cleanly (DISCONNECT: the broker drops the will) and close the socket, without
        waiting for the broker (see `aclose`)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(pk.encode(pk.Disconnect()))
            self._transport.close()
        self._lost(MqttLinkError("the connection was closed"))

    def abort(self) -> None:
        """Drop the connection without a word (the broker publishes the will)."""
        if self._transport is not None:
            self._transport.abort()
        self._lost(MqttLinkError("the connection was dropped"))

    def _lost(self, error: MqttLinkError) -> None:
        """End every wait of this connection with `error`, once."""
        if self.closed.done():
            return
        self.closed.set_exception(error)
        self.closed.exception()  # seen: a link nobody awaits must not log it
        if self._keepalive is not None:
            self._keepalive.cancel()
        waits: list[asyncio.Future[pk.ConnAck] | asyncio.Future[tuple[int, ...]]] = [
            self._connack,
            *self._subacks.values(),
        ]
        windows = list(self._windows.values())
        self._subacks.clear()
        self._windows.clear()
        for window in windows:
            if window.timer is not None:
                window.timer.cancel()
            if not window.future.done():
                window.future.set_exception(error)
                window.future.exception()
        for waiting in waits:
            if not waiting.done():
                waiting.set_exception(error)
                waiting.exception()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    async def _bounded(self, future: asyncio.Future[T], what: str) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            error = MqttLinkError(f"no {what} within {self._timeout:g} s")
            self._lost(error)
            raise error from None

    # --- sending ---------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or self.closed.done() or self._leaving:
            raise MqttLinkError("the connection is gone")
        transport.write(data)
        self._sent = True

    async def subscribe(self, filters: Sequence[tuple[str, int]]) -> tuple[int, ...]:
        """Subscribe and return the broker's SUBACK codes, one per filter (3.9.3)."""
        packet_id = self._codec.new_packet_id()
        future: asyncio.Future[tuple[int, ...]] = self._loop.create_future()
        self._write(self._codec.send(pk.Subscribe(packet_id, tuple(filters))))
        self._subacks[packet_id] = future
        return await self._bounded(future, "SUBACK")

    def publish_window(self, publications: Iterable[Outgoing]) -> asyncio.Future[None]:
        """Write every publication in one write; the future is done when the broker has
        acknowledged each QoS 1 one, at once if none is. It fails with the connection, or
        after `timeout_s` without all the acknowledgements (the connection is then closed)."""
        future: asyncio.Future[None] = self._loop.create_future()
        if self.closed.done() or self._leaving:
            future.set_exception(MqttLinkError("the connection is gone"))
            return future
        send = self._codec.send_publish
        window = _Window(future, 0)
        chunks = []
        windows = self._windows
        for p in publications:
            try:
                packet_id, data = send(p.topic, p.payload, int(p.qos), p.retain)
            except pk.PacketUsageError as exc:
                log.error("cannot publish on %r: %s", p.topic, exc, extra={"event": "mqtt-bad-out"})
                continue
            chunks.append(data)
            if packet_id:
                windows[packet_id] = window
                window.remaining += 1
        self._write(b"".join(chunks))
        if window.remaining:
            window.timer = self._loop.call_later(self._timeout, self._window_late)
        else:
            future.set_result(None)
        return future

    def _window_late(self) -> None:
        self._lost(MqttLinkError(f"no PUBACK within {self._timeout:g} s"))

    def ack(self, packet_ids: Sequence[int]) -> None:
        """PUBACK each delivery named, in the order given, in one write. Nothing is sent on a
        lost connection: the broker delivers those again to the next session."""
        if not packet_ids or self.closed.done() or self._leaving:
            return
        self._write(b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in packet_ids))

    # --- receiving -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._heard = True
        codec = self._codec
        codec.receive_data(data)
        windows = self._windows
        try:
            while (packet := codec.next_event()) is not None:
                if isinstance(packet, pk.Publish):
                    self.on_publish(packet)
                elif isinstance(packet, pk.PubAck):
                    window = windows.pop(packet.packet_id, None)
                    if window is not None:
                        window.remaining -= 1
                        if not window.remaining:
                            if window.timer is not None:
                                window.timer.cancel()
                            if not window.future.done():
                                window.future.set_result(None)
                elif isinstance(packet, pk.ConnAck):
                    self._connacked(packet)
                elif isinstance(packet, pk.SubAck):
                    waiting = self._subacks.pop(packet.packet_id, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(packet.codes)
                # PINGRESP: hearing it is all it is for.
        except pk.PacketError as exc:
            log.warning(
                "MQTT broker sent what MQTT 3.1.1 forbids: %s",
                exc,
                extra={"event": "mqtt-bad-packet", "reason": str(exc.reason)},
            )
            error = MqttLinkError(f"the broker broke MQTT 3.1.1: {exc}")
            error.__cause__ = exc
            self._lost(error)
        except Exception as exc:
            # A delivery the caller could not take: end the connection (the persistent
            # session delivers what was not acknowledged again), as a lost one does.
            log.exception("MQTT delivery handler failed", extra={"event": "mqtt-handler-failed"})
            error = MqttLinkError(f"a delivery could not be taken: {exc!r}")
            error.__cause__ = exc
            self._lost(error)

    def _connacked(self, packet: pk.ConnAck) -> None:
        if self._connack.done():
            return
        if packet.code != pk.ConnectReturn.ACCEPTED:
            self._connack.set_exception(MqttRefused(packet.code))
            self._connack.exception()
        else:
            self._connack.set_result(packet)

    def eof_received(self) -> bool | None:
        return None  # close the transport: the broker is gone

    # --- keepalive -------------------------------------------------------------------------

    def _tick(self, every: float) -> None:
        if self.closed.done() or self._leaving:
            return
        if self._heard:
            self._pinged = 0
        elif self._pinged:
            self._pinged += 1
            if self._pinged > 2:  # a whole keepalive since the PINGREQ, and not a word
                self._lost(MqttLinkError("the broker did not answer a PINGREQ in a keepalive"))
                return
        self._heard = False
        if not self._sent and not self._pinged:
            self._write(pk.encode(pk.PingReq()))
            self._pinged = 1
        self._sent = False
        self._keepalive = self._loop.call_later(every, self._tick, every)
