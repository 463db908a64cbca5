"""What simulated delegates do, and the ground truth of what they did.

Behaviour is planned, not improvised: each script (arrivals and departures, a vote, microphone
requests) turns into a sorted list of `Action`s, each at an offset in seconds from the moment
the hall starts performing it. Plans are drawn from a `random.Random` seeded by the caller, so
the same seed always gives the same hall.

`GroundTruth` records every press a simulated unit registered: which seat, which key, when
(the event loop's clock, i.e. `time.monotonic()`, the same scale as the daemon's clock on this
machine), and the unit's own event sequence number. From it, `expected_totals` computes what a
correct controller must count for a vote under change-until-close or first-press-locks.

This module is pure: no I/O, no asyncio, no clock of its own.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ActionKind(StrEnum):
    ARRIVE = "arrive"
    DEPART = "depart"
    VOTE = "vote"
    MIC_REQUEST = "mic-request"
    MIC_CANCEL = "mic-cancel"


@dataclass(frozen=True, order=True)
class Action:
    """One thing a delegate does, `after_s` seconds after the plan starts."""

    after_s: float
    seat: int
    kind: ActionKind
    key: int = 0  # the voting key for VOTE, numbered from 1 as printed (1 yes, 2 no, 3 abstain)


class PressKind(StrEnum):
    VOTE = "vote"
    PRESENCE_ON = "presence-on"
    PRESENCE_OFF = "presence-off"
    # A delegate already present confirms in a roll call (điểm danh): the presence key pressed
    # once, and the delegate stays.
    PRESENCE_CONFIRM = "presence-confirm"
    MIC_REQUEST = "mic-request"
    MIC_CANCEL = "mic-cancel"


@dataclass(frozen=True)
class Press:
    """A press as the unit registered it, with the unit's event sequence number.

    `refused`: the unit did not take it (keys locked, a key the vote does not use, or a full
    event queue); a correct controller never counts it."""

    seat: int
    kind: PressKind
    key: int
    at: float
    seq: int
    unit: str
    refused: bool = False


# --- scripts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresenceScript:
    """Delegates arrive spread over `arrive_within_s`; a fraction leaves again later."""

    arrive_within_s: float = 1.0
    absent: float = 0.0  # fraction of seats whose delegate never comes
    depart: float = 0.0  # fraction of arrived delegates who leave again
    depart_within_s: float = 1.0  # after all arrivals

    def plan(self, seats: Sequence[int], rng: random.Random) -> list[Action]:
        _fraction("absent", self.absent)
        _fraction("depart", self.depart)
        actions: list[Action] = []
        for seat in seats:
            if rng.random() < self.absent:
                continue
            arrive = rng.uniform(0.0, self.arrive_within_s)
            actions.append(Action(arrive, seat, ActionKind.ARRIVE))
            if rng.random() < self.depart:
                leave = self.arrive_within_s + rng.uniform(0.0, self.depart_within_s)
                actions.append(Action(leave, seat, ActionKind.DEPART))
        return sorted(actions)


DEFAULT_CHOICES: Mapping[int, float] = {1: 0.6, 2: 0.25, 3: 0.15}


@dataclass(frozen=True)
class VoteScript:
    """How delegates vote: an exact choice per seat, or drawn from `distribution`.

    Reaction times are uniform over [`earliest_s`, `within_s`]: e.g. every one of 4,096 seats
    pressing within one second. `no_press` is the fraction of seats that never press (not the
    same as abstaining); `change` the fraction that press once, then change their mind
    `change_after_s` later (within the vote: the second press counts under change-until-close,
    the first under first-press-locks).
    """

    choices: Mapping[int, int] | None = None
    distribution: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_CHOICES))
    earliest_s: float = 0.0
    within_s: float = 1.0
    no_press: float = 0.0
    change: float = 0.0
    change_after_s: float = 0.5

    def plan(self, seats: Sequence[int], rng: random.Random) -> list[Action]:
        _fraction("no_press", self.no_press)
        _fraction("change", self.change)
        if not 0 <= self.earliest_s <= self.within_s:
            raise ValueError("earliest_s must lie between 0 and within_s")
        keys = sorted(self.distribution)
        weights = [self.distribution[k] for k in keys]
        if not keys or any(k < 1 for k in keys) or any(w < 0 for w in weights) or not any(weights):
            raise ValueError("distribution needs keys >= 1 with non-negative, non-zero weights")
        # Cumulative weights once, not per seat: the same draws, a tenth of the work.
        cumulative = list(itertools.accumulate(weights))
        actions: list[Action] = []
        if self.choices is not None:
            targets: Iterable[tuple[int, int]] = sorted(self.choices.items())
        else:
            targets = (
                (seat, rng.choices(keys, cum_weights=cumulative)[0])
                for seat in seats
                if rng.random() >= self.no_press
            )
        for seat, key in targets:
            if key < 1:
                raise ValueError(f"seat {seat}: voting keys are numbered from 1, got {key}")
            at = rng.uniform(self.earliest_s, self.within_s)
            if self.change and rng.random() < self.change:
                first = rng.choice([k for k in keys if k != key] or keys)
                actions.append(Action(at, seat, ActionKind.VOTE, first))
                at += self.change_after_s
            actions.append(Action(at, seat, ActionKind.VOTE, key))
        return sorted(actions)


@dataclass(frozen=True)
class MicScript:
    """A fraction of seats request the floor within `within_s`; some cancel afterwards."""

    request: float = 0.1
    within_s: float = 1.0
    cancel: float = 0.0
    cancel_after_s: float = 0.5

    def plan(self, seats: Sequence[int], rng: random.Random) -> list[Action]:
        _fraction("request", self.request)
        _fraction("cancel", self.cancel)
        actions: list[Action] = []
        for seat in seats:
            if rng.random() >= self.request:
                continue
            at = rng.uniform(0.0, self.within_s)
            actions.append(Action(at, seat, ActionKind.MIC_REQUEST))
            if rng.random() < self.cancel:
                actions.append(Action(at + self.cancel_after_s, seat, ActionKind.MIC_CANCEL))
        return sorted(actions)


def _fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a fraction between 0 and 1, got {value}")


# --- the ground truth -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedVote:
    """What a correct controller counts: the choice per seat, and the totals per key."""

    choices: Mapping[int, int]
    totals: Mapping[int, int]

    @property
    def voted(self) -> int:
        return len(self.choices)


class GroundTruth:
    """Every press the simulated units registered, in the order they registered them."""

    def __init__(self) -> None:
        self._presses: list[Press] = []

    def record(self, press: Press) -> None:
        self._presses.append(press)

    @property
    def presses(self) -> tuple[Press, ...]:
        return tuple(self._presses)

    def __len__(self) -> int:
        return len(self._presses)

    def clear(self) -> None:
        self._presses.clear()

    def votes(self, since: float | None = None, until: float | None = None) -> list[Press]:
        """Accepted vote-key presses with `since <= at <= until`."""
        return [
            p
            for p in self._presses
            if p.kind is PressKind.VOTE
            and not p.refused
            and (since is None or p.at >= since)
            and (until is None or p.at <= until)
        ]

    def expected(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        change_until_close: bool = True,
        keys: int | None = None,
        seats: Iterable[int] | None = None,
    ) -> ExpectedVote:
        """The final choice per seat (change-until-close) or the first (first-press-locks).

        `keys` drops presses of keys the vote does not use; `seats` keeps only the electorate.
        """
        allowed = set(seats) if seats is not None else None
        choices: dict[int, int] = {}
        for p in self.votes(since, until):
            if keys is not None and p.key > keys:
                continue
            if allowed is not None and p.seat not in allowed:
                continue
            if change_until_close or p.seat not in choices:
                choices[p.seat] = p.key
        return ExpectedVote(choices, dict(sorted(Counter(choices.values()).items())))

    def expected_totals(self, **kwargs: Any) -> dict[int, int]:
        return dict(self.expected(**kwargs).totals)

    def present(self) -> set[int]:
        """Seats whose last presence press says the delegate is there."""
        state: dict[int, bool] = {}
        for p in self._presses:
            if p.kind is PressKind.PRESENCE_ON:
                state[p.seat] = True
            elif p.kind is PressKind.PRESENCE_OFF:
                state[p.seat] = False
        return {seat for seat, here in state.items() if here}

    def to_records(self) -> list[dict[str, Any]]:
        return [{**asdict(p), "kind": p.kind.value} for p in self._presses]

    def to_json(self) -> str:
        return json.dumps({"presses": self.to_records()}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        truth = cls()
        for r in json.loads(text)["presses"]:
            truth.record(Press(**{**r, "kind": PressKind(r["kind"])}))
        return truth
