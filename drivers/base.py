"""What every driver offers the runtime, and what it reports about its units.

A driver owns one transport (an RS-485 line, a Modbus TCP gateway, the MQTT broker). It turns
unit traffic into the meeting core's inputs and the core's unit commands into traffic. It
reconnects by itself with backoff, isolates a misbehaving unit so that the rest of its line
keeps running, and reports the health of every unit it serves.

Drivers import `protocols/` (the codecs), `controller.core` (inputs and effects) and
`drivers.topology` (the hall's wiring): never the rest of the daemon's package (its
configuration, runtime, journal or API).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from chamber.controller.core.effects import UnitCommand
from chamber.controller.core.inputs import Input


class UnitKind(StrEnum):
    KEYPAD = "keypad"
    MIC = "mic"
    IP = "ip"


@dataclass(frozen=True)
class UnitHealth:
    """One unit as its driver sees it. Times are the injected clock's seconds."""

    line: str
    address: int
    seat: int
    kind: UnitKind
    online: bool
    last_seen: float | None = None
    response_ms: float | None = None
    crc_errors: int = 0
    timeouts: int = 0
    # Replies that were a refusal (a Modbus exception response), whole on the wire.
    exceptions: int = 0
    reboots: int = 0
    lost_events: int = 0
    firmware: str = ""
    # Events the unit sent that its transport's replay rules refused (e.g. an IP unit's boot
    # counter that went back), and what is wrong with the unit, in words, until it is cured.
    refused_events: int = 0
    fault: str = ""
    # The wire contract version the unit reports ("1.1"; "" where its wire carries none) and
    # how this controller serves it: "current", "older" (an older minor version: served with
    # what that version has) or "incompatible" (another major version: not served).
    contract: str = ""
    contract_state: str = ""


class IdentifyOutcome(StrEnum):
    """What came of asking a unit to identify itself (blink its LEDs or its light ring)."""

    STARTED = "started"  # the unit took the command: it blinks now
    NOT_SUPPORTED = "not-supported"  # its contract version has no identify command
    OFFLINE = "offline"  # the unit does not answer its polls
    NO_REPLY = "no-reply"  # it answers polls, but not this command (after the retries)
    REFUSED = "refused"  # it answered with an error


@dataclass(frozen=True)
class IdentifyResult:
    """A driver's answer to `Identifying.identify`; `detail` says why, in words."""

    line: str
    address: int
    seat: int
    kind: UnitKind
    outcome: IdentifyOutcome
    seconds: int
    detail: str = ""
    # The contract version the unit reports, where its wire carries one ("1.1"); for a unit
    # that answered IDENTIFY as unknown, the versions that lack it ("1.0/1.1").
    contract: str = ""
    # The contract version that has identify, for a unit that lacks it ("1.2").
    needed: str = ""


@dataclass(frozen=True)
class LineHealth:
    line: str
    connected: bool
    detail: str = ""
    cycle_ms: float | None = None
    # What is wrong with the line's USB serial adapter (its latency timer above 1 ms), in
    # figures, until a reconnection finds it right ("" when nothing is: drivers.usbserial).
    adapter: str = ""


# A driver hands each input to the runtime through this; the runtime stamps nothing more.
InputSink = Callable[[Input], None]
# Called whenever a unit's or a line's health changes (not on every poll).
HealthSink = Callable[[UnitHealth | LineHealth], None]


class Driver(Protocol):
    """The small interface the runtime needs; each transport implements it."""

    @property
    def name(self) -> str: ...

    @property
    def seats(self) -> frozenset[int]:
        """The seats whose units this driver serves (commands for others are not its job)."""
        ...

    async def run(self) -> None:
        """Serve the transport until cancelled; reconnect on loss; never raise on bad input."""
        ...

    def send(self, command: UnitCommand) -> None:
        """Queue a command for a seat (or for all of this driver's seats when seat is None)."""
        ...

    def health(self) -> list[UnitHealth | LineHealth]:
        """The current health of the line(s) and every unit."""
        ...

    async def ready(self) -> None:
        """Return once the driver serves its units: its transport is connected (for a
        broker: subscribed, so that what a unit publishes reaches it). After a loss it waits
        for the next connection; it returns at once while connected."""
        ...


@runtime_checkable
class ChimeCapable(Protocol):
    """A driver whose units can sound the chair-priority chime."""

    def sound_chime(self, chair_seats: frozenset[int]) -> None: ...


@runtime_checkable
class Identifying(Protocol):
    """A driver whose units can show themselves to a technician for a while (the keypad
    contract's identify block, the microphone unit's IDENTIFY, both since 1.2)."""

    def units(self) -> frozenset[int]:
        """The unit addresses this driver serves on its line (`name`)."""
        ...

    async def identify(self, address: int, seconds: int) -> IdentifyResult:
        """Ask unit `address` to blink for `seconds` (0 stops it), once the line is free;
        returns what came of it. Never raises for a unit's answer."""
        ...


@runtime_checkable
class SittingAware(Protocol):
    """A driver whose units are told whether a sitting is open (the microphone units'
    heartbeat carries it). The runtime calls `sitting_changed` when its drivers start and
    whenever the core's sitting opens or closes."""

    def sitting_changed(self, sitting_open: bool) -> None: ...


# Where a unit input came from on its transport: "KIND:BOOT:SEQ" (e.g. "kp:3:41" for a
# keypad, "ip:7:5" for an IP unit), keyed by (seat, KIND) once journaled.
Origins = Mapping[tuple[int, str], str]


def origin_mark(origin: str) -> tuple[int, int] | None:
    """(boot, seq) of an origin "KIND:BOOT:SEQ", or None if it is not one."""
    parts = origin.split(":")
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


@runtime_checkable
class Resumable(Protocol):
    """A driver that picks up its units' event numbering from the journal after a restart.

    `origins` holds, per (seat, kind), the `origin` of the last journaled input. The driver
    reports events after it (pressed while the daemon was down) and none at or before it
    (already counted), whatever its transport delivers again.
    """

    def restore_origins(self, origins: Origins) -> None: ...


@runtime_checkable
class Settling(Protocol):
    """A driver that must hold its transport's acknowledgement until an input is durable.

    The runtime calls `settled(inputs)` once per batch, after the batch's journal commit,
    with every input of that batch that came from units (journaled, refused by the core or
    failed in it alike: each has had its final answer). An MQTT driver acknowledges each
    message's QoS 1 delivery here, so the broker redelivers anything the controller had not
    made durable when it died.
    """

    def settled(self, inputs: Sequence[Input]) -> None: ...
