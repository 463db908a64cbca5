"""Everything the meeting core asks of the world, as frozen values.

Two kinds:
- `UnitCommand`s go to seat units (keypad LEDs and locks, microphones, light rings, the
  chime, forgetting a secret vote's key events). The runtime hands them to the driver that
  serves the seat; `seat=None` means every unit of that kind, which drivers send as one
  broadcast where the wire allows it.
- `Notification`s go to subscribers (the API's WebSocket, the wall, the log). Each has a
  `topic` and a JSON-ready `data` dict.

A secret vote never puts a seat's choice in a notification. The only effect that carries it
is the `KeypadLeds` to that seat's own keypad, which confirms the press to the delegate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RingState(StrEnum):
    """What a microphone unit's light ring shows (firmware_specs: mic unit, ring states)."""

    OFF = "off"
    LIVE = "live"
    QUEUED = "queued"
    NEXT = "next"
    PRIORITY = "priority"
    WARNING = "warning"  # live, and the speaking time is nearly up


class BeepPattern(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    WARNING = "warning"


@dataclass(frozen=True)
class Effect:
    pass


@dataclass(frozen=True)
class UnitCommand(Effect):
    seat: int | None


@dataclass(frozen=True)
class KeypadLeds(UnitCommand):
    """Light exactly these keys (numbered from 1) and no others; () puts every LED out."""

    lit: tuple[int, ...] = ()
    # The presence LED, kept apart from the voting keys.
    present: bool | None = None


@dataclass(frozen=True)
class KeypadLock(UnitCommand):
    """Locked keys ignore presses; `keys` says how many voting keys the current vote uses."""

    locked: bool = True
    keys: int = 0


@dataclass(frozen=True)
class Beep(UnitCommand):
    pattern: BeepPattern = BeepPattern.CONFIRM


@dataclass(frozen=True)
class MicSwitch(UnitCommand):
    on: bool = False


@dataclass(frozen=True)
class RingShow(UnitCommand):
    """`position` is the place in the waiting list (1 = first) for QUEUED and NEXT, else 0."""

    state: RingState = RingState.OFF
    position: int = 0


@dataclass(frozen=True)
class ForgetEvents(UnitCommand):
    """A secret vote has closed or was cancelled: every unit that keeps its key events where
    a bus master can read them (keypads: firmware_specs/keypad_modbus.md §5.6) empties that
    memory of every event the controller has read. It carries no choice. Drivers of units
    that keep no such memory ignore it."""


@dataclass(frozen=True)
class Chime(Effect):
    """The chair-priority chime, sounded once on the hall's sound system or chair unit."""


@dataclass(frozen=True)
class Notification(Effect):
    topic: str
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
