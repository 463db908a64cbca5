"""Faults a hall technician meets, injected into simulated units on command or at a rate.

Per-reply faults are decided here, for keypads and microphone units on serial lines and
keypads behind gateways: a CRC-corrupted frame (one byte of the reply changed, which every
CRC-16 detects), a silent unit (the reply is dropped, so the master times out) and a slow unit
(the reply comes late). Each can be switched on for a unit, for a whole line, or drawn at a
rate from the hall's seeded random generator. IP units have no replies to spoil: their faults
are duplicated and replayed presses, reboots and the broker going away.

Faults that act on a whole unit or transport (a reboot, a line unplugged and plugged back,
an MQTT press duplicated or replayed, a broker restart) are carried out by `SimulatedHall`,
which owns the units and processes; this module keeps their rates and counts what was done,
so that a test can compare what it injected with what the controller reported.

No I/O here, and no clock: the randomness comes from the generator the hall passes in.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from chamber.drivers.topology import UnitRef

# IP units are addressed by seat number on this pseudo-line.
IP_LINE = "mqtt"


class FaultKind(StrEnum):
    CRC = "crc"
    SILENT = "silent"
    SLOW = "slow"
    NOISE = "noise"
    REBOOT = "reboot"
    UNPLUG = "unplug"
    REPLUG = "replug"
    DUPLICATE = "duplicate"
    REPLAY = "replay"
    BROKER_RESTART = "broker-restart"


class Fate(StrEnum):
    """What happens to one reply."""

    SEND = "send"
    DROP = "drop"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per reply of a serial or gateway unit (crc, silent, slow), per request
    addressed to one (reboot: it restarts before answering), or per press an IP unit
    publishes (duplicate, replay)."""

    crc: float = 0.0
    silent: float = 0.0
    slow: float = 0.0
    slow_s: float = 0.05
    reboot: float = 0.0
    duplicate: float = 0.0
    replay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("crc", "silent", "slow", "reboot", "duplicate", "replay"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {name} must lie between 0 and 1, got {value}")
        if self.slow_s < 0:
            raise ValueError("slow_s cannot be negative")


@dataclass(frozen=True)
class Decision:
    fate: Fate
    delay_s: float = 0.0


class Faults:
    """Switched-on faults per unit and per line, the rates, and a count of what was injected."""

    def __init__(self, rng: random.Random, rates: FaultRates | None = None) -> None:
        self._rng = rng
        self.rates = rates or FaultRates()
        self._silent: set[UnitRef | str] = set()
        self._crc: set[UnitRef | str] = set()
        self._slow: dict[UnitRef | str, float] = {}
        self.injected: Counter[FaultKind] = Counter()

    # --- on command -----------------------------------------------------------------------

    def silence(self, target: UnitRef | str, on: bool = True) -> None:
        """A unit (or every unit of a line, by line id) stops answering."""
        (self._silent.add if on else self._silent.discard)(target)

    def corrupt(self, target: UnitRef | str, on: bool = True) -> None:
        """Every reply of the unit (or line) arrives with a bad CRC."""
        (self._crc.add if on else self._crc.discard)(target)

    def slow(self, target: UnitRef | str, seconds: float) -> None:
        """Replies come `seconds` late (0 puts the unit back to normal)."""
        if seconds < 0:
            raise ValueError("a delay cannot be negative")
        if seconds:
            self._slow[target] = seconds
        else:
            self._slow.pop(target, None)

    def clear(self, target: UnitRef | str | None = None) -> None:
        """Switch off the commanded faults of one target, or of all."""
        if target is None:
            self._silent.clear()
            self._crc.clear()
            self._slow.clear()
            return
        self._silent.discard(target)
        self._crc.discard(target)
        self._slow.pop(target, None)

    def set_rates(self, rates: FaultRates) -> None:
        self.rates = rates

    # --- per reply ------------------------------------------------------------------------

    def decide(self, unit: UnitRef) -> Decision:
        """The fate of the reply `unit` is about to send."""
        r = self.rates
        if self._hit(self._silent, unit) or (r.silent and self._rng.random() < r.silent):
            self.injected[FaultKind.SILENT] += 1
            return Decision(Fate.DROP)
        delay = self._slow.get(unit, self._slow.get(unit.line, 0.0))
        if r.slow and self._rng.random() < r.slow:
            delay = max(delay, r.slow_s)
        if delay:
            self.injected[FaultKind.SLOW] += 1
        if self._hit(self._crc, unit) or (r.crc and self._rng.random() < r.crc):
            self.injected[FaultKind.CRC] += 1
            return Decision(Fate.CORRUPT, delay)
        return Decision(Fate.SEND, delay)

    def damage(self, frame: bytes) -> bytes:
        """The frame with one byte changed: any CRC-16 catches every single-byte error."""
        if not frame:
            return frame
        at = self._rng.randrange(len(frame))
        out = bytearray(frame)
        out[at] ^= self._rng.randrange(1, 256)
        return bytes(out)

    def reboot_now(self) -> bool:
        """Whether the unit a request is addressed to restarts first (the reboot rate)."""
        if self.draw(self.rates.reboot):
            self.injected[FaultKind.REBOOT] += 1
            return True
        return False

    def noise(self, length: int) -> bytes:
        """Random bytes, as electrical noise puts on an idle line."""
        if length < 1:
            raise ValueError("noise needs at least one byte")
        self.injected[FaultKind.NOISE] += 1
        return self._rng.randbytes(length)

    def draw(self, rate: float) -> bool:
        return bool(rate) and self._rng.random() < rate

    def count(self, kind: FaultKind) -> None:
        self.injected[kind] += 1

    @staticmethod
    def _hit(targets: set[UnitRef | str], unit: UnitRef) -> bool:
        return unit in targets or unit.line in targets
