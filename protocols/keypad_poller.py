"""The timing of one keypad line's transactions, sans-IO (keypad_modbus.md §6).

A keypad line is one master and its units, one request in flight at a time. `KeypadPoller`
holds every timing decision of a transaction: when its frame may go (t3.5 of silence after
the last byte heard, or the broadcast turnaround after a broadcast, §6.1), how long its
reply may take (the contract's per-request timeout at the line's baud and character format,
§6.2, counted from the moment the frame was written), whether a failed attempt is tried
again (`tries`), and what became of it: a reply, a damaged reply (bytes came that made no
frame), or silence. Bytes arrive through `received`, clock readings through every call:
it reads no clock, does no I/O and never blocks, so a driver only moves bytes and readings
in and out (drivers.modbus_line), and a test drives it with any bytes at any times.

Frames are cut by the project's own RTU or Modbus TCP framer (`protocols.keypad.KeypadFramer`);
over TCP a reply is matched to its request by the MBAP transaction id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pymodbus.pdu import ModbusPDU

from chamber.protocols import keypad as kp
from chamber.protocols.modbus_timing import CharFormat


class Phase(StrEnum):
    IDLE = "idle"  # no transaction
    READY = "ready"  # a frame waits for its moment (`due`)
    AWAITING = "awaiting"  # written; its reply is awaited until `deadline`


class Ending(StrEnum):
    REPLY = "reply"  # a whole frame from the unit asked (any contents: the caller decodes)
    DAMAGED = "damaged"  # bytes came, but no whole frame by the deadline
    SILENT = "silent"  # nothing came by the deadline
    SENT = "sent"  # a broadcast: written, nothing awaited (§5.4)


@dataclass(frozen=True)
class Attempt:
    """One attempt's end. `final` is False when another attempt follows (a retry)."""

    ending: Ending
    final: bool
    reply: ModbusPDU | None = None
    # Seconds from the frame's write to the reply's last byte (None without a reply).
    elapsed_s: float | None = None


class PollerUsageError(kp.KeypadUsageError):
    """The driver called the poller out of turn (a bug in the caller, not bad input)."""


@dataclass(frozen=True)
class LineTiming:
    """The silences and timeouts of one line. `t35_s` is 0 over a TCP gateway (the gateway
    keeps the RTU silences on its side); `timeout` gives a request's reply timeout (§6.2)."""

    t35_s: float
    broadcast_turnaround_s: float
    timeout: Callable[[ModbusPDU], float]

    @classmethod
    def rtu(cls, baud: int, char_format: CharFormat = kp.DEFAULT_FORMAT) -> LineTiming:
        kp.check_baud(baud)
        return cls(
            kp.t35(baud, char_format.bits_per_char),
            kp.BROADCAST_TURNAROUND_S,
            lambda request: kp.request_timeout(request, baud, char_format),
        )

    @classmethod
    def tcp(cls, timeout_s: float = kp.TCP_RESPONSE_TIMEOUT_S) -> LineTiming:
        return cls(0.0, kp.BROADCAST_TURNAROUND_S, lambda _request: timeout_s)


class KeypadPoller:
    """One transaction at a time on a keypad line; see the module's docstring.

    The driver's loop: `start(request, tries)`; then, while `phase` is READY, write
    `frame()` at `due` (or at once if `due` has passed) and call `sent(now)`; while AWAITING,
    feed bytes to `received(data, now)` and, at `deadline`, call `expire(now)`. Each returns
    an `Attempt` when an attempt ends, None otherwise; after a final one the poller is IDLE.
    """

    def __init__(self, timing: LineTiming, transport: kp.Transport = kp.Transport.RTU) -> None:
        self.timing = timing
        self.transport = transport
        self._framer = kp.KeypadFramer(transport, kp.Side.CONTROLLER)
        self.phase = Phase.IDLE
        self._request: ModbusPDU | None = None
        self._frame = b""
        self._tries_left = 0
        self._quiet_until = 0.0  # no frame before this: the line's silence (§6.1)
        self._sent_at = 0.0
        self.deadline: float | None = None
        self._heard = False  # bytes came during this attempt
        self._tid = 0
        # Bytes heard outside any attempt (a late reply, noise): dropped, counted.
        self.stray_bytes = 0

    @property
    def due(self) -> float:
        """The earliest moment the next frame may go on the wire."""
        return self._quiet_until

    @property
    def request(self) -> ModbusPDU | None:
        return self._request

    @property
    def broadcast(self) -> bool:
        return self._request is not None and self._request.dev_id == kp.BROADCAST

    def start(self, request: ModbusPDU, tries: int = 1) -> None:
        """Begin a transaction of `request`, attempted up to `tries` times (a broadcast once:
        no reply says it was missed)."""
        if self.phase is not Phase.IDLE:
            raise PollerUsageError(f"a transaction is {self.phase}: one at a time on a line")
        if tries < 1:
            raise PollerUsageError(f"at least one attempt, not {tries}")
        if self.transport is kp.Transport.TCP:
            self._tid = self._tid % 0xFFFF + 1
            request.transaction_id = self._tid
        self._frame = kp.encode_frame(request, self.transport)
        self._request = request
        self._tries_left = 1 if request.dev_id == kp.BROADCAST else tries
        self.phase = Phase.READY

    def frame(self) -> bytes:
        if self.phase is not Phase.READY:
            raise PollerUsageError(f"no frame to send while {self.phase}")
        return self._frame

    def sent(self, now: float) -> Attempt | None:
        """The frame was handed to the port at `now`. A broadcast ends here."""
        if self.phase is not Phase.READY or self._request is None:
            raise PollerUsageError(f"nothing was ready to send while {self.phase}")
        self._tries_left -= 1
        self._sent_at = now
        self._heard = False
        self._framer.reset()
        if self.broadcast:
            # No reply marks its end: stay silent while the units apply it (§5.4).
            self._quiet_until = now + max(self.timing.t35_s, self.timing.broadcast_turnaround_s)
            return self._end(Attempt(Ending.SENT, True))
        self.deadline = now + self.timing.timeout(self._request)
        self.phase = Phase.AWAITING
        # Until a byte is heard, the silence counts from the frame's write.
        self._quiet_until = now + self.timing.t35_s
        return None

    def received(self, data: bytes, now: float) -> Attempt | None:
        """Bytes from the line at `now` (the time they were read)."""
        if not data:
            return None
        # Whatever it is, the line was busy until now: the next frame waits t3.5 from here.
        self._quiet_until = max(self._quiet_until, now + self.timing.t35_s)
        if self.phase is not Phase.AWAITING or self._request is None:
            self.stray_bytes += len(data)
            return None
        self._heard = True
        try:
            frames = self._framer.feed(data)
        except kp.KeypadProtocolError:
            return None  # a TCP header that cannot be right: bytes heard, the deadline decides
        for pdu in frames:
            if self._answers(pdu):
                elapsed = now - self._sent_at
                return self._end(Attempt(Ending.REPLY, True, pdu, elapsed))
        return None

    def _answers(self, pdu: ModbusPDU) -> bool:
        assert self._request is not None
        if pdu.dev_id != self._request.dev_id:
            return False  # another unit's frame (a late one, or an address clash)
        return not (self.transport is kp.Transport.TCP and pdu.transaction_id != self._tid)

    def expire(self, now: float) -> Attempt | None:
        """The deadline passed at `now` without a reply: this attempt failed."""
        if self.phase is not Phase.AWAITING:
            return None
        if self.deadline is not None and now < self.deadline:
            return None
        ending = Ending.DAMAGED if self._heard else Ending.SILENT
        self._framer.reset()
        self.deadline = None
        if self._tries_left > 0:
            self.phase = Phase.READY
            self._quiet_until = max(self._quiet_until, now)
            return Attempt(ending, False)
        return self._end(Attempt(ending, True))

    def abandon(self) -> None:
        """The line went away: drop the transaction (nothing of it is reported)."""
        self._end(Attempt(Ending.SILENT, True))
        self._quiet_until = 0.0

    def _end(self, attempt: Attempt) -> Attempt:
        self.phase = Phase.IDLE
        self._request = None
        self.deadline = None
        self._frame = b""
        return attempt
