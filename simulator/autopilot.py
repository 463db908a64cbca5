"""The delegates' autopilot: simulated people who react to what their seat units show.

Scripts (simulator.delegates) say in advance who presses what and when. The autopilot does
not know when a vote opens: like a delegate in the hall, it looks at its keypad. When the keys
unlock with no choice lit, the delegate decides (a seeded draw over the answers the vote
offers), waits a human reaction time and presses; a few never press, a few change their mind
once. When the keys lock again (hold, close, or first-press-locks after the press) anything
still pending is dropped. Delegates arrive at the start (presence key), and now and then one
asks for the floor while the waiting list is short.

Every press goes through the hall's own `press`, `set_presence` and `mic_request`, so it
travels on the real wire and lands in the hall's ground truth like any scripted press.

The units are looked at every `check_every_s` (100 ms by default): the unit models offer no
change callbacks, and a tenth of a second is well below a person's reaction time.

Never here: anything that reads the daemon's state. The autopilot knows only what a delegate
sees on the unit in front of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from chamber.protocols import keypad, micunit
from chamber.simulator.delegates import Action, ActionKind, PresenceScript, Press
from chamber.simulator.hall import SimulatedHall, SimulatorError
from chamber.simulator.keypads import KeypadUnitSim
from chamber.simulator.miclines import MicUnitSim

log = logging.getLogger(__name__)


class AutopilotError(ValueError):
    """The autopilot was configured with values no hall of people could have."""


DEFAULT_LEANING: Mapping[int, float] = {1: 0.70, 2: 0.18, 3: 0.12}


@dataclass(frozen=True)
class Temperament:
    """How the simulated delegates behave.

    `leaning`: the weight of each key (1 yes, 2 no, 3 abstain, or the n-th choice); keys a vote
    offers but `leaning` does not name get no weight, and a vote whose keys all have no weight
    gets an even draw. `no_press`: the share of delegates who let a vote pass without pressing
    (not the same as abstaining). `change`: the share who press, then press another key
    `change_after_s` later. `absent`: the share of seats whose delegate never comes.
    `floor_every_s`: the mean time between two requests for the floor in the whole hall
    (None: nobody asks); nobody asks while `max_waiting` units already show a request.
    `leave_every_s`: the mean time between two delegates stepping out of the hall (None:
    nobody leaves); one steps out only while their keys are locked (never in the middle of a
    vote), and comes back `away_s` later, to vote in whatever runs by then.
    `confirm_roll_call`: a delegate in the hall whose presence LED went dark after it had been
    lit (the controller asks for a roll-call confirmation, điểm danh) presses the presence key
    once, a reaction time later.
    """

    leaning: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_LEANING))
    reaction_s: tuple[float, float] = (0.8, 6.0)
    no_press: float = 0.04
    change: float = 0.03
    change_after_s: tuple[float, float] = (1.0, 3.0)
    absent: float = 0.0
    arrive_within_s: float = 5.0
    floor_every_s: float | None = 25.0
    max_waiting: int = 4
    leave_every_s: float | None = None
    away_s: tuple[float, float] = (20.0, 90.0)
    confirm_roll_call: bool = False
    check_every_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("no_press", "change", "absent"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise AutopilotError(f"{name} is a share between 0 and 1, got {value}")
        for name in ("reaction_s", "change_after_s", "away_s"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise AutopilotError(f"{name} wants 0 <= low <= high, got {(low, high)}")
        if any(k < 1 for k in self.leaning) or any(w < 0 for w in self.leaning.values()):
            raise AutopilotError("leaning wants keys from 1 and weights of 0 or more")
        if self.arrive_within_s < 0:
            raise AutopilotError("arrive_within_s cannot be negative")
        if self.floor_every_s is not None and self.floor_every_s <= 0:
            raise AutopilotError("floor_every_s must be positive (or None: nobody asks)")
        if self.leave_every_s is not None and self.leave_every_s <= 0:
            raise AutopilotError("leave_every_s must be positive (or None: nobody leaves)")
        if self.max_waiting < 0:
            raise AutopilotError("max_waiting cannot be negative")
        if not 0.0 < self.check_every_s <= 1.0:
            raise AutopilotError("check_every_s must lie in (0, 1] seconds")


@dataclass(frozen=True)
class Shown:
    """What a seat's voting unit shows its delegate."""

    locked: bool
    keys: int
    lit: frozenset[int]

    @property
    def ballot(self) -> bool:
        """The keys are live for a vote."""
        return not self.locked and self.keys > 0


@dataclass
class _Delegate:
    seat: int
    # This ballot's choice (or not pressing) is made. A new ballot is known by the keys
    # locking and unlocking again, as a delegate knows it: a vote closed, another opened.
    decided: bool = False
    pending: set[asyncio.TimerHandle] = field(default_factory=set)


def choose_key(rng: random.Random, leaning: Mapping[int, float], keys: int) -> int:
    """A key in 1..keys, drawn by `leaning`; evenly when none of the offered keys has weight."""
    offered = list(range(1, keys + 1))
    weighted = [(k, w) for k in offered if (w := leaning.get(k, 0.0)) > 0]
    if not weighted:
        return rng.choice(offered)
    # By hand rather than random.choices: with tiny weights its rounding can land on a key
    # of weight 0, and a delegate never presses a key they have no leaning to.
    x = rng.random() * sum(w for _, w in weighted)
    for key, weight in weighted:
        if x < weight:
            return key
        x -= weight
    return weighted[-1][0]


class Autopilot:
    """The delegates of a running `SimulatedHall`, acting on what their units show.

    Use as `async with Autopilot(hall, seed=...)` once the hall is up; leaving the block stops
    the delegates and drops every press still to come.
    """

    def __init__(
        self, hall: SimulatedHall, *, seed: int, temperament: Temperament | None = None
    ) -> None:
        self.hall = hall
        self.temperament = temperament or Temperament()
        self.rng = random.Random(f"{seed}/autopilot")
        self._keypads: dict[int, KeypadUnitSim] = {}
        self._mics: dict[int, MicUnitSim] = {}
        for su in hall.config.units:
            if su.keypad is not None:
                host = hall.keypad_lines.get(su.keypad.line) or hall.gateways.get(su.keypad.line)
                if host is not None:
                    self._keypads[su.seat] = host.units[su.keypad.address]
            if su.mic is not None and su.mic.line in hall.mic_lines:
                self._mics[su.seat] = hall.mic_lines[su.mic.line].units[su.mic.address]
        voting = {s for s in self._keypads} | set(hall.ip_units)
        self._delegates = {seat: _Delegate(seat) for seat in sorted(voting)}
        self.expected_present: frozenset[int] = frozenset()
        self.presses: list[Press] = []
        # When each seat last made up its mind about a ballot (the loop's clock).
        self.decided_at: dict[int, float] = {}
        self.errors = 0
        self._arrivals: list[asyncio.TimerHandle] = []
        self._task: asyncio.Task[None] | None = None
        self._next_floor: float | None = None
        self._next_leave: float | None = None
        # Seats whose delegate stepped out and has not come back yet.
        self.away: set[int] = set()
        self._returns: dict[int, asyncio.TimerHandle] = {}
        # Seats whose delegate is in the hall, by the autopilot's own presses.
        self.seated: set[int] = set()
        # Roll call: seats whose LED was lit since the delegate sat down, when a dark one is
        # to be confirmed, and those that confirmed and wait for their LED to light.
        self._lit_seen: set[int] = set()
        self._confirm_at: dict[int, float] = {}
        self._confirmed: set[int] = set()
        self.confirmations = 0

    # --- life ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the autopilot is already running")
        loop = asyncio.get_running_loop()
        t = self.temperament
        plan = PresenceScript(arrive_within_s=t.arrive_within_s, absent=t.absent).plan(
            sorted(self._delegates), self.rng
        )
        self.expected_present = frozenset(a.seat for a in plan if a.kind is ActionKind.ARRIVE)
        self._arrivals = [loop.call_later(a.after_s, self._act, a) for a in plan]
        if t.floor_every_s is not None:
            self._next_floor = loop.time() + t.arrive_within_s + self._floor_gap()
        if t.leave_every_s is not None:
            self._next_leave = loop.time() + t.arrive_within_s + self._leave_gap()
        self._task = asyncio.create_task(self._watch(), name="sim-autopilot")

    async def stop(self) -> None:
        for handle in self._arrivals:
            handle.cancel()
        self._arrivals.clear()
        for handle in self._returns.values():
            handle.cancel()
        self._returns.clear()
        for d in self._delegates.values():
            self._drop(d)
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def pending(self) -> int:
        """Presses decided on and not yet made."""
        return sum(len(d.pending) for d in self._delegates.values())

    # --- what a delegate sees -----------------------------------------------------------------

    def shown(self, seat: int) -> Shown | None:
        """The seat's voting unit as its delegate sees it; None for a seat without one."""
        if (kp := self._keypads.get(seat)) is not None:
            out = kp.registers.outputs
            keys = min(out.keys, kp.registers.identity.key_count)
            return Shown(out.locked, keys, frozenset(out.leds))
        if (ip := self.hall.ip_units.get(seat)) is not None:
            s = ip.state
            return Shown(s.locked, s.keys, frozenset(s.lit))
        return None

    def floor_busy(self, seat: int) -> bool:
        """The seat's microphone is live or its ring shows a request."""
        if (mic := self._mics.get(seat)) is not None:
            return mic.state.mic_on or mic.state.ring is not micunit.RingState.OFF
        if (ip := self.hall.ip_units.get(seat)) is not None:
            return ip.state.mic_on or ip.state.ring != "off"
        return True  # no microphone: nothing to ask with

    # --- acting -------------------------------------------------------------------------------

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.look(loop.time())
            await asyncio.sleep(self.temperament.check_every_s)

    def look(self, now: float) -> None:
        """Every delegate looks at their unit once and reacts to what changed."""
        for d in self._delegates.values():
            shown = self.shown(d.seat)
            if shown is None:
                continue
            if not shown.ballot:
                self._drop(d)
                d.decided = False
                continue
            if not d.decided and not shown.lit:
                self._decide(d, shown.keys, now)
            elif not d.decided:
                d.decided = True  # a ballot resumed after a hold: the choice is already made
        if self._next_floor is not None and now >= self._next_floor:
            self._next_floor = now + self._floor_gap()
            self._ask_floor()
        if self.temperament.confirm_roll_call:
            self._roll_call(now)
        if self._next_leave is not None and now >= self._next_leave:
            self._next_leave = now + self._leave_gap()
            self._step_out()

    def _decide(self, d: _Delegate, keys: int, now: float) -> None:
        d.decided = True
        self.decided_at[d.seat] = now
        t = self.temperament
        if self.rng.random() < t.no_press:
            return
        key = choose_key(self.rng, t.leaning, keys)
        at = self.rng.uniform(*t.reaction_s)
        if keys > 1 and self.rng.random() < t.change:
            first = choose_key(self.rng, {k: 1.0 for k in range(1, keys + 1) if k != key}, keys)
            self._later(d, at, first)
            at += self.rng.uniform(*t.change_after_s)
        self._later(d, at, key)

    def _later(self, d: _Delegate, delay: float, key: int) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                d.pending.discard(handle)
            self._press(d.seat, key)

        handle = loop.call_later(delay, fire)
        d.pending.add(handle)

    def _drop(self, d: _Delegate) -> None:
        for handle in d.pending:
            handle.cancel()
        d.pending.clear()

    def _press(self, seat: int, key: int) -> None:
        try:
            self.presses.append(self.hall.press(seat, key))
        except (SimulatorError, keypad.KeypadUsageError) as exc:
            self.errors += 1
            log.warning("autopilot: seat %d could not press key %d: %s", seat, key, exc)

    def _act(self, action: Action) -> None:
        try:
            press = self.hall.act(action)
        except SimulatorError as exc:
            self.errors += 1
            log.warning("autopilot: seat %d could not %s: %s", action.seat, action.kind, exc)
            return
        if press is not None:
            self.presses.append(press)
        if action.kind is ActionKind.ARRIVE:
            self.seated.add(action.seat)
        elif action.kind is ActionKind.DEPART:
            self.seated.discard(action.seat)
            self._forget_roll_call(action.seat)

    def presence_led(self, seat: int) -> bool | None:
        """The seat's presence LED as its delegate sees it; None when it shows none (yet)."""
        if (kp := self._keypads.get(seat)) is not None:
            return bool(kp.registers.outputs.presence_led)
        if (ip := self.hall.ip_units.get(seat)) is not None:
            return ip.state.present_led
        return None

    def _forget_roll_call(self, seat: int) -> None:
        self._lit_seen.discard(seat)
        self._confirm_at.pop(seat, None)
        self._confirmed.discard(seat)

    def _roll_call(self, now: float) -> None:
        """A delegate in the hall sees the presence LED go dark after it was lit: the chair
        asks for a confirmation; the delegate presses once, and not again until it lit."""
        for seat in sorted(self.seated):
            led = self.presence_led(seat)
            if led is None:
                continue
            if led:
                self._lit_seen.add(seat)
                self._confirm_at.pop(seat, None)
                self._confirmed.discard(seat)
                continue
            if seat not in self._lit_seen or seat in self._confirmed:
                continue
            due = self._confirm_at.setdefault(
                seat, now + self.rng.uniform(*self.temperament.reaction_s)
            )
            if now < due:
                continue
            del self._confirm_at[seat]
            self._confirmed.add(seat)
            try:
                self.presses.append(self.hall.confirm_presence(seat))
                self.confirmations += 1
            except (SimulatorError, keypad.KeypadUsageError) as exc:
                self.errors += 1
                log.warning("autopilot: seat %d could not confirm the roll call: %s", seat, exc)

    def _floor_gap(self) -> float:
        mean = self.temperament.floor_every_s or 1.0
        return self.rng.expovariate(1.0 / mean)

    def _leave_gap(self) -> float:
        mean = self.temperament.leave_every_s or 1.0
        return self.rng.expovariate(1.0 / mean)

    def _step_out(self) -> None:
        """A delegate present, with locked keys and no microphone business, steps out for a
        while (the presence key), and comes back later (the presence key again). Not while
        the presence LED is dark: a roll call waits for the delegate's confirmation, and the
        controller would take the press for it."""
        candidates = [
            s
            for s in sorted(self.expected_present - self.away)
            if (shown := self.shown(s)) is not None
            and not shown.ballot
            and not self.floor_busy(s)
            and self.presence_led(s) is not False
        ]
        if not candidates:
            return
        seat = self.rng.choice(candidates)
        self._act(Action(0.0, seat, ActionKind.DEPART))
        self.away.add(seat)
        back = self.rng.uniform(*self.temperament.away_s)
        self._returns[seat] = asyncio.get_running_loop().call_later(back, self._come_back, seat)

    def _come_back(self, seat: int) -> None:
        self._returns.pop(seat, None)
        self.away.discard(seat)
        self._act(Action(0.0, seat, ActionKind.ARRIVE))

    def _ask_floor(self) -> None:
        here = sorted(self.expected_present - self.away)
        waiting = sum(1 for s in here if self.floor_busy(s))
        if waiting >= self.temperament.max_waiting:
            return
        idle = [s for s in here if not self.floor_busy(s)]
        if not idle:
            return
        seat = self.rng.choice(idle)
        try:
            self.presses.append(self.hall.mic_request(seat))
        except SimulatorError as exc:
            self.errors += 1
            log.warning("autopilot: seat %d could not ask for the floor: %s", seat, exc)


def press_chair_priority(hall: SimulatedHall, seat: int, held: bool) -> None:
    """The chair presses (or lets go of) the priority key on a serial chair unit.

    The unit queues the key event and the line's master polls it, as with any other key.
    """
    for su in hall.config.units:
        if su.seat == seat and su.mic is not None and su.mic.line in hall.mic_lines:
            unit = hall.mic_lines[su.mic.line].units[su.mic.address]
            event = (
                micunit.UnitEvent.PRIORITY_PRESSED if held else micunit.UnitEvent.PRIORITY_RELEASED
            )
            unit.state = unit.state.press(event)
            return
    raise SimulatorError(f"seat {seat} has no serial microphone unit with a priority key")
