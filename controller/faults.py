"""The technician's fault list: what went wrong with each line and unit, with its time.

The drivers report health on changes only (`drivers/health.py`); the `FaultBook` turns those
reports into faults, one per line or unit and kind, never one per report:

| kind | opens when | clears when |
|---|---|---|
| `line-down` | a line loses its transport | it is connected again |
| `offline` | a unit is lost, or has never answered | it answers again |
| `errors` | a unit's timeouts or damaged replies go up | none for `ERRORS_QUIET_S` |
| `restart` | a unit restarted (not its first contact) | at once: an event |
| `lost-events` | presses were overwritten in a unit before they were read | at once |
| `refused` | the unit's transport refused its events (`fault` says why) | its fault is cured |
| `contract` | a unit of an older or another major contract version | it reports ours |
| `adapter` | a line's USB adapter's latency timer is above 1 ms | a reconnection finds 1 ms |
| `backup` | the daemon's backup failed (line `backup`, `detail` says why) | a backup succeeds |
| `clock` | the system clock is not synchronised (line `clock`; `controller.timesync`) | it is |

Each fault counts its occurrences and keeps the time of the first and the last (the
runtime's clock). `detail` is a word a console translates ("lost", "never answered",
"older", "incompatible") or, for a line down or events refused, the driver's own
description. A technician acknowledges a fault (journaled as `fault-ack`): it stays in
the list, marked, until it clears; a fault that cleared without being acknowledged stays
until it is, so that a unit that came and went is still seen. A fault that opens again
after it was gone is a new one. Pure: the times are passed in, nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from chamber.drivers.base import LineHealth, UnitHealth

# A counted fault (timeouts, damaged replies) clears after this long without a new one.
ERRORS_QUIET_S = 60.0


class FaultKind(StrEnum):
    LINE_DOWN = "line-down"
    OFFLINE = "offline"
    ERRORS = "errors"
    RESTART = "restart"
    LOST_EVENTS = "lost-events"
    REFUSED = "refused"
    CONTRACT = "contract"
    BACKUP = "backup"
    ADAPTER = "adapter"
    CLOCK = "clock"


# Kinds that are events: cleared as soon as they are raised, shown until acknowledged.
EVENT_KINDS = frozenset({FaultKind.RESTART, FaultKind.LOST_EVENTS})
# How bad each kind is, for the order of the list (lower first).
SEVERITY = {
    FaultKind.LINE_DOWN: 0,
    FaultKind.OFFLINE: 1,
    FaultKind.CONTRACT: 2,
    FaultKind.REFUSED: 3,
    FaultKind.LOST_EVENTS: 4,
    FaultKind.RESTART: 5,
    FaultKind.ERRORS: 6,
    FaultKind.BACKUP: 3,
    FaultKind.ADAPTER: 6,
    FaultKind.CLOCK: 6,
}

# The `line` of faults that are the controller's own, not a line's or a unit's.
BACKUP_LINE = "backup"
CLOCK_LINE = "clock"


class UnknownFault(KeyError):
    """No fault of that id is in the list (it cleared and was acknowledged, or never was)."""


def fault_id(line: str, address: int | None, kind: FaultKind) -> str:
    """A fault's id: "LINE/ADDRESS/KIND", "LINE/-/KIND" for the line itself."""
    return f"{line}/{'-' if address is None else address}/{kind.value}"


@dataclass(frozen=True)
class Fault:
    line: str
    address: int | None
    seat: int | None
    unit_kind: str | None
    kind: FaultKind
    first_at: float
    last_at: float
    count: int
    active: bool
    detail: str = ""
    acknowledged_at: float | None = None

    @property
    def id(self) -> str:
        return fault_id(self.line, self.address, self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line": self.line,
            "address": self.address,
            "seat": self.seat,
            "unit_kind": self.unit_kind,
            "kind": self.kind.value,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "count": self.count,
            "active": self.active,
            "detail": self.detail,
            "acknowledged": self.acknowledged_at is not None,
            "acknowledged_at": self.acknowledged_at,
        }


class FaultBook:
    """The live fault list of a hall, fed with every health report."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._units: dict[tuple[str, int], UnitHealth] = {}
        self._seen: set[tuple[str, int]] = set()  # units that answered at least once
        self._lines: dict[str, LineHealth] = {}
        # Whether the list changed since `observe` began: a report costs no copy of the list.
        self._changed = False
        # The system clock's state as last read (`controller.timesync`); None: not read.
        self.clock_synced: bool | None = None

    # --- what the drivers report ----------------------------------------------------------

    def observe(self, item: UnitHealth | LineHealth, now: float) -> bool:
        """Take one health report; returns whether the fault list changed."""
        self._changed = False
        if isinstance(item, LineHealth):
            self._line(item, now)
        else:
            self._unit(item, now)
        self.expire(now)
        return self._changed

    def _line(self, item: LineHealth, now: float) -> None:
        self._lines[item.line] = item
        if item.connected:
            self._clear(item.line, None, FaultKind.LINE_DOWN, now)
        else:
            self._raise(item.line, None, None, None, FaultKind.LINE_DOWN, now, item.detail)
        if item.adapter:
            self._raise(item.line, None, None, None, FaultKind.ADAPTER, now, item.adapter)
        else:
            self._clear(item.line, None, FaultKind.ADAPTER, now)

    def _unit(self, h: UnitHealth, now: float) -> None:
        key = (h.line, h.address)
        prev = self._units.get(key)
        self._units[key] = h
        where = (h.line, h.address, h.seat, h.kind.value)
        if h.online:
            self._seen.add(key)
            self._clear(h.line, h.address, FaultKind.OFFLINE, now)
        elif prev is not None and prev.online:
            self._raise(*where, FaultKind.OFFLINE, now, "lost")
        elif key not in self._seen and (h.timeouts or h.crc_errors or h.contract_state):
            self._raise(*where, FaultKind.OFFLINE, now, "never answered")
        errors = h.timeouts + h.crc_errors
        before = 0 if prev is None else prev.timeouts + prev.crc_errors
        if errors > before and h.online:
            self._raise(*where, FaultKind.ERRORS, now, "", count=errors - before)
        reboots = h.reboots - (0 if prev is None else prev.reboots)
        if reboots > 0:
            self._raise(*where, FaultKind.RESTART, now, "", count=reboots)
        lost = h.lost_events - (0 if prev is None else prev.lost_events)
        if lost > 0:
            self._raise(*where, FaultKind.LOST_EVENTS, now, "", count=lost)
        if h.fault:
            refused = h.refused_events - (0 if prev is None else prev.refused_events)
            self._raise(*where, FaultKind.REFUSED, now, h.fault, count=max(1, refused))
        else:
            self._clear(h.line, h.address, FaultKind.REFUSED, now)
        if h.contract_state in ("older", "incompatible"):
            if prev is None or (prev.contract, prev.contract_state) != (
                h.contract,
                h.contract_state,
            ):
                self._raise(*where, FaultKind.CONTRACT, now, h.contract_state)
        else:
            self._clear(h.line, h.address, FaultKind.CONTRACT, now)

    def _raise(
        self,
        line: str,
        address: int | None,
        seat: int | None,
        unit_kind: str | None,
        kind: FaultKind,
        now: float,
        detail: str,
        *,
        count: int = 1,
    ) -> None:
        fid = fault_id(line, address, kind)
        old = self._faults.get(fid)
        active = kind not in EVENT_KINDS
        if old is None:
            self._faults[fid] = Fault(
                line, address, seat, unit_kind, kind, now, now, count, active, detail
            )
            self._changed = True
            return
        if old.active and active and kind is not FaultKind.ERRORS and old.detail == detail:
            return  # the same condition reported again: no new occurrence
        self._changed = True
        self._faults[fid] = replace(
            old,
            last_at=now,
            count=old.count + count,
            active=active,
            detail=detail,
            # Seen, then it came back after clearing: to be seen again.
            acknowledged_at=old.acknowledged_at if old.active else None,
        )

    def _clear(self, line: str, address: int | None, kind: FaultKind, now: float) -> None:
        fid = fault_id(line, address, kind)
        old = self._faults.get(fid)
        if old is None or not old.active:
            return
        self._changed = True
        if old.acknowledged_at is not None:
            del self._faults[fid]  # seen, and over
        else:
            self._faults[fid] = replace(old, active=False)

    def expire(self, now: float) -> bool:
        """Clear the counted faults that went quiet; returns whether any did."""
        changed = False
        for fault in list(self._faults.values()):
            if (
                fault.kind is FaultKind.ERRORS
                and fault.active
                and now - fault.last_at >= ERRORS_QUIET_S
            ):
                self._clear(fault.line, fault.address, fault.kind, now)
                changed = True
        return changed

    def backup_failed(self, detail: str, now: float) -> None:
        """The daemon's backup failed: one fault, counted, until a backup succeeds."""
        self._raise(BACKUP_LINE, None, None, None, FaultKind.BACKUP, now, detail)

    def backup_succeeded(self, now: float) -> bool:
        """A backup succeeded: the backup fault clears; returns whether the list changed."""
        self._changed = False
        self._clear(BACKUP_LINE, None, FaultKind.BACKUP, now)
        return self._changed

    def clock_unsynchronised(self, detail: str, now: float) -> None:
        """The system clock is not synchronised: one fault until it is."""
        self.clock_synced = False
        self._raise(CLOCK_LINE, None, None, None, FaultKind.CLOCK, now, detail)

    def clock_synchronised(self, now: float) -> bool:
        """The system clock is synchronised: the clock fault clears; returns whether the
        list changed."""
        self.clock_synced = True
        self._changed = False
        self._clear(CLOCK_LINE, None, FaultKind.CLOCK, now)
        return self._changed

    # --- what the technician does -----------------------------------------------------------

    def get(self, fid: str) -> Fault:
        try:
            return self._faults[fid]
        except KeyError:
            raise UnknownFault(fid) from None

    def acknowledge(self, fid: str, now: float) -> Fault:
        """The technician has seen fault `fid`: kept, marked, until it clears (gone at once if
        it has cleared already). Returns the fault as it was acknowledged."""
        fault = self.get(fid)
        if fault.acknowledged_at is not None:
            return fault
        seen = replace(fault, acknowledged_at=now)
        if fault.active:
            self._faults[fid] = seen
        else:
            del self._faults[fid]
        return seen

    # --- what the views show --------------------------------------------------------------

    def faults(self) -> list[Fault]:
        """The list, worst first: not yet acknowledged before acknowledged, open before
        cleared, then by how bad the kind is and the latest occurrence."""
        return sorted(
            self._faults.values(),
            key=lambda f: (
                f.acknowledged_at is not None,
                not f.active,
                SEVERITY[f.kind],
                -f.last_at,
                f.line,
                -1 if f.address is None else f.address,
            ),
        )

    def snapshot(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.faults()]
