"""The hall's voting keypads as a wanted state and a mirror of what each was last told.

`wanted(...)` is the one place that says what a keypad should show: its keys are unlocked
exactly while a vote is open, the seat's member may vote and is present, and has not yet voted
in a vote that keeps the first press; its LEDs light the seat's own choice while a vote holds
the keypads; the presence LED follows attendance. `Keypads` remembers what every keypad was
sent and turns a wanted state into only the commands that differ, as `Floor._flush` does for
the microphones.

Some moments restate a keypad on purpose, even where the mirror says it shows the wanted
state already, because a unit may have missed or undone a command:

* a counted press is always confirmed on the seat's own LEDs (the delegate's receipt);
* a member who leaves during a vote gets an explicit lock;
* a vote that opens puts every LED out and restates every keypad's lock and key count;
* a vote that is held, closed or cancelled locks every keypad at once, and a close or cancel
  puts every LED out (each seat's whole LED state, its presence LED as it was);
* `restate` re-sends a seat's whole state (after a unit restarts or a replay).

Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from chamber.controller.core.effects import Effect, KeypadLeds, KeypadLock
from chamber.controller.core.votes import ACTIVE_STATES, Vote, VoteState


@dataclass(slots=True)
class KeypadState:
    """What one keypad shows: locked or not, the vote's key count, the lit keys, presence."""

    locked: bool = True
    keys: int = 0
    lit: tuple[int, ...] = ()
    present: bool = False


def wanted(vote: Vote | None, seat: int, *, present: bool, voting: bool) -> KeypadState:
    """What the keypad at `seat` should show with `vote` on the keypads (None: no vote).

    `voting`: the seat's member may vote. A closed or cancelled vote still names its key count
    (the locks that end it carry it) but lights nothing.
    """
    if vote is None:
        return KeypadState(True, 0, (), present)
    d = vote.definition
    choice = vote.choice_of(seat) if vote.state in ACTIVE_STATES else None
    unlocked = (
        vote.state is VoteState.OPEN
        and voting
        and present
        and (d.change_until_close or choice is None)
    )
    return KeypadState(not unlocked, d.keys, (choice,) if choice is not None else (), present)


def _lock_differs(shown: KeypadState, want: KeypadState) -> bool:
    # A locked keypad ignores its keys, so only an unlocked one cares about the key count.
    return shown.locked != want.locked or (not want.locked and shown.keys != want.keys)


class Keypads:
    """The mirror of every keypad (seats with one, ascending) and the diff to a wanted state.

    A keypad is taken to start locked, dark and showing absent, as a unit starts.
    """

    def __init__(self, seats: Iterable[int]) -> None:
        self.seats: tuple[int, ...] = tuple(sorted(seats))
        self._shown: dict[int, KeypadState] = {seat: KeypadState() for seat in self.seats}

    def __contains__(self, seat: object) -> bool:
        return seat in self._shown

    def shown(self, seat: int) -> KeypadState:
        """What the keypad at `seat` was last told (a copy)."""
        return replace(self._shown[seat])

    def update(
        self, seat: int, want: KeypadState, *, confirm: bool = False, relock: bool = False
    ) -> list[Effect]:
        """The LEDs, then the lock, each only where it differs from what the keypad shows.

        `confirm` re-lights the LEDs anyway (a counted press); `relock` re-sends a wanted lock
        anyway (a member who leaves during a vote).
        """
        shown = self._shown[seat]
        effects: list[Effect] = []
        if confirm or shown.lit != want.lit or shown.present != want.present:
            shown.lit = want.lit
            shown.present = want.present
            effects.append(KeypadLeds(seat, lit=want.lit, present=want.present))
        if _lock_differs(shown, want) or (relock and want.locked):
            shown.locked = want.locked
            shown.keys = want.keys
            effects.append(KeypadLock(seat, locked=want.locked, keys=want.keys))
        return effects

    def restate_lock(self, seat: int, want: KeypadState) -> KeypadLock:
        """The lock and key count for `seat`, sent whatever the keypad shows."""
        shown = self._shown[seat]
        shown.locked = want.locked
        shown.keys = want.keys
        return KeypadLock(seat, locked=want.locked, keys=want.keys)

    def restate(self, seat: int, want: KeypadState) -> list[Effect]:
        """A seat's whole state, lock then LEDs, whatever it shows (the mirror is not changed:
        the runtime sends this after a unit restarted, to bring it back to the mirror)."""
        return [
            KeypadLock(seat, locked=want.locked, keys=want.keys),
            KeypadLeds(seat, lit=want.lit, present=want.present),
        ]

    def lock_all(self, keys: int) -> KeypadLock:
        """Every keypad locked, in one broadcast."""
        for shown in self._shown.values():
            shown.locked = True
            shown.keys = keys
        return KeypadLock(None, locked=True, keys=keys)

    def leds_off_all(self) -> list[KeypadLeds]:
        """Every voting LED out, the presence LEDs as they are: one whole LED state per seat,
        so that a unit whose state is kept (an IP unit's retained `cmd/leds`) knows its
        presence LED too. A keypad line sends them as one broadcast."""
        effects: list[KeypadLeds] = []
        for seat, shown in self._shown.items():
            shown.lit = ()
            effects.append(KeypadLeds(seat, lit=(), present=shown.present))
        return effects
