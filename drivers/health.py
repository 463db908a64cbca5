"""Per-unit health bookkeeping shared by every driver: counters, online/offline, log once.

A driver tells a `UnitMonitor` what happened (a good exchange, failed ones, a reboot, lost
events, and when its codec's rules say the unit went offline or came back). The monitor keeps
the `UnitHealth` value, writes ONE log line when a unit is lost and ONE when it is back, never
one per poll, and calls the driver's health sink only when something a technician cares
about changed: not for a new `last_seen` or `response_ms` alone. `LineMonitor` does the same
for a line's connection. Times are the injected clock's readings, passed in: the monitors
read no clock and do no I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from chamber.drivers.base import HealthSink, LineHealth, UnitHealth, UnitKind

log = logging.getLogger("chamber.drivers.health")

# Failed exchanges before a unit that has never answered is reported as silent: a first
# poll lost on a busy line is not yet a dead unit.
NEVER_ANSWERED_AFTER = 3


class UnitMonitor:
    """The health of one unit, kept by the driver that polls it."""

    def __init__(
        self,
        line: str,
        address: int,
        seat: int,
        kind: UnitKind,
        sink: HealthSink,
    ) -> None:
        # Unknown until the first answer: reported offline, but without a "lost" log line.
        self.health = UnitHealth(line, address, seat, kind, online=False)
        self._sink = sink
        self._ever_seen = False

    @property
    def online(self) -> bool:
        return self.health.online

    @property
    def seat(self) -> int:
        return self.health.seat

    @property
    def address(self) -> int:
        return self.health.address

    def _update(self, notify: bool, **changes: object) -> None:
        self.health = dataclasses.replace(self.health, **changes)  # type: ignore[arg-type]
        if notify:
            self._sink(self.health)

    def seen(self, now: float, response_ms: float | None, firmware: str = "") -> None:
        """A good exchange: refresh last_seen and response time (reported only with changes)."""
        changes: dict[str, object] = {"last_seen": now}
        if response_ms is not None:
            changes["response_ms"] = round(response_ms, 3)
        fw_changed = bool(firmware) and firmware != self.health.firmware
        if fw_changed:
            changes["firmware"] = firmware
        self._update(fw_changed, **changes)

    def set_online(self, online: bool, why: str = "") -> bool:
        """Record a transition; logs and reports only a change. Returns True on a change."""
        if online == self.health.online:
            return False
        extra = {
            "line": self.health.line,
            "address": self.address,
            "seat": self.seat,
            "kind": self.health.kind.value,
        }
        if online:
            verb = "back online" if self._ever_seen else "online"
            log.info(
                "unit %s on line %s (seat %d) %s",
                self.address,
                self.health.line,
                self.seat,
                verb,
                extra={"event": "unit-back" if self._ever_seen else "unit-found", **extra},
            )
            self._ever_seen = True
        else:
            log.warning(
                "unit %s on line %s (seat %d) lost%s",
                self.address,
                self.health.line,
                self.seat,
                f": {why}" if why else "",
                extra={"event": "unit-lost", **extra},
            )
        self._update(True, online=online)
        return True

    def count(self, *, timeouts: int = 0, crc_errors: int = 0, exceptions: int = 0) -> None:
        """Add failed exchanges. Reported while the unit is online, and once for a unit that
        has never answered, when its failures reach NEVER_ANSWERED_AFTER (a unit dead from
        the start is news: one report, one log line); not for a lost unit's probes, which
        would be one report per probe."""
        before = self.health.timeouts + self.health.crc_errors
        after = before + timeouts + crc_errors
        silent = not self._ever_seen and before < NEVER_ANSWERED_AFTER <= after
        self._update(
            self.health.online or silent,
            timeouts=self.health.timeouts + timeouts,
            crc_errors=self.health.crc_errors + crc_errors,
            exceptions=self.health.exceptions + exceptions,
        )
        if silent:
            log.warning(
                "unit %s on line %s (seat %d) does not answer",
                self.address,
                self.health.line,
                self.seat,
                extra={
                    "event": "unit-silent",
                    "line": self.health.line,
                    "address": self.address,
                    "seat": self.seat,
                    "kind": self.health.kind.value,
                },
            )

    def rebooted(self, *, first_contact: bool = False) -> None:
        """The unit reports a new start. At this driver's first contact with it that is how
        every unit answers after power-up (or after the controller's own start): one info
        line, no restart counted and no warning. Later, it is a restart the technician sees."""
        if first_contact:
            log.info(
                "unit %s on line %s (seat %d) contacted after its start; its outputs are "
                "being written",
                self.address,
                self.health.line,
                self.seat,
                extra={
                    "event": "unit-first-contact",
                    "line": self.health.line,
                    "address": self.address,
                    "seat": self.seat,
                },
            )
            return
        self._update(True, reboots=self.health.reboots + 1)
        log.warning(
            "unit %s on line %s (seat %d) restarted; its outputs are being rewritten",
            self.address,
            self.health.line,
            self.seat,
            extra={
                "event": "unit-rebooted",
                "line": self.health.line,
                "address": self.address,
                "seat": self.seat,
            },
        )

    def lost(self, events: int) -> None:
        """`events` key events were overwritten in the unit before they could be read."""
        if events <= 0:
            return
        self._update(True, lost_events=self.health.lost_events + events)
        log.warning(
            "unit %s on line %s (seat %d) lost %d event(s)",
            self.address,
            self.health.line,
            self.seat,
            events,
            extra={
                "event": "unit-lost-events",
                "line": self.health.line,
                "address": self.address,
                "seat": self.seat,
                "count": events,
            },
        )

    def refused(self, fault: str) -> None:
        """An event refused by the transport's replay rules; `fault` says why, for a
        technician. The driver writes the log line (it knows how often to)."""
        self._update(True, refused_events=self.health.refused_events + 1, fault=fault)

    def clear_fault(self) -> None:
        if self.health.fault:
            self._update(True, fault="")

    def contract(self, version: str, state: str) -> bool:
        """The contract version the unit reports and how it is served (UnitHealth.contract);
        reported on a change only. Returns True on a change (the driver logs it once)."""
        if (version, state) == (self.health.contract, self.health.contract_state):
            return False
        self._update(True, contract=version, contract_state=state)
        return True


class LineMonitor:
    """A line's connection state; logs and reports only transitions."""

    def __init__(self, line: str, sink: HealthSink) -> None:
        self.health = LineHealth(line, connected=False)
        self._sink = sink
        self._ever = False
        # Set while the line is connected: what a driver's `ready()` waits on.
        self.up = asyncio.Event()

    def connected(self, detail: str = "") -> None:
        if self.health.connected:
            return
        self.health = dataclasses.replace(self.health, connected=True, detail=detail)
        self.up.set()
        log.info(
            "line %s %s",
            self.health.line,
            "back" if self._ever else "connected",
            extra={"event": "line-back" if self._ever else "line-up", "line": self.health.line},
        )
        self._ever = True
        self._sink(self.health)

    def disconnected(self, detail: str) -> None:
        if not self.health.connected and self.health.detail == detail:
            return
        was = self.health.connected
        self.health = dataclasses.replace(self.health, connected=False, detail=detail)
        self.up.clear()
        if was or not self._ever:
            log.warning(
                "line %s down: %s",
                self.health.line,
                detail,
                extra={"event": "line-down", "line": self.health.line, "detail": detail},
            )
        self._sink(self.health)

    def adapter(self, problem: str) -> None:
        """What is wrong with the line's adapter ("" once nothing is); reported on a change.
        The driver writes the log line."""
        if problem == self.health.adapter:
            return
        self.health = dataclasses.replace(self.health, adapter=problem)
        self._sink(self.health)

    def cycle(self, cycle_ms: float) -> None:
        """Record the last cycle's duration (reported with the next transition or on demand)."""
        self.health = dataclasses.replace(self.health, cycle_ms=round(cycle_ms, 3))
