"""One vote: its definition, its life cycle, its running tally and its result.

The life cycle is data: `TRANSITIONS` maps (state, command) to the next state and is the only
place that says which command is allowed when (read it like h11's `_state.py`):

    prepared --open--> open <--hold/resume--> hold
    open, hold --close--> closed --publish--> published
    prepared, open, hold --cancel--> cancelled
    prepared --manual--> closed             (a result taken by show of hands or on paper)
    open, hold, closed, published --annul--> annulled

An annulled vote (hủy kết quả) keeps its result in the record, marked annulled with the
chair's reason, and decides nothing; it may be run again as a new vote linked to it
(`VoteDefinition.rerun_of`, `Vote.rerun_by`). An open vote that is annulled is closed first,
on what was counted, in the same step.

Anything not in the table is a conflict (`CommandRejected("vote.wrong_state", ...)`).

Presses are counted incrementally (O(1) per press, whatever the size of the hall). While the
vote is open the vote must know each seat's current choice, to let a delegate change it and
to count every seat once; that mapping lives in `Vote._choice_of_seat` and nowhere else. For a
secret vote it is dropped at close: the result keeps only totals and the set of seats that took
part, and no snapshot, notification or record ever carries a seat's choice.

Whether a press counts is decided in one place, `controller.core.ballots.press_refusal`;
`Vote.count` then counts it. This module knows nothing of presence or seats' delegates (the
meeting core passes the electorate in), does no I/O and never reads a clock: `now` is passed
in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.kinds import VoteWarning
from chamber.controller.core.model import (
    AnswerSet,
    Language,
    MajorityRule,
    ManualMethod,
    VoteKind,
    VoteMode,
)
from chamber.controller.core.rules import Counts, Outcome, decide


class VoteState(StrEnum):
    PREPARED = "prepared"
    OPEN = "open"
    HOLD = "hold"
    CLOSED = "closed"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    ANNULLED = "annulled"


class VoteCommand(StrEnum):
    OPEN = "open"
    HOLD = "hold"
    RESUME = "resume"
    CLOSE = "close"
    CANCEL = "cancel"
    PUBLISH = "publish"
    ANNUL = "annul"
    MANUAL = "manual"


# The whole vote life cycle. A (state, command) pair that is not here is a conflict.
TRANSITIONS: dict[tuple[VoteState, VoteCommand], VoteState] = {
    (VoteState.PREPARED, VoteCommand.OPEN): VoteState.OPEN,
    (VoteState.PREPARED, VoteCommand.CANCEL): VoteState.CANCELLED,
    (VoteState.OPEN, VoteCommand.HOLD): VoteState.HOLD,
    (VoteState.OPEN, VoteCommand.CLOSE): VoteState.CLOSED,
    (VoteState.OPEN, VoteCommand.CANCEL): VoteState.CANCELLED,
    (VoteState.HOLD, VoteCommand.RESUME): VoteState.OPEN,
    (VoteState.HOLD, VoteCommand.CLOSE): VoteState.CLOSED,
    (VoteState.HOLD, VoteCommand.CANCEL): VoteState.CANCELLED,
    (VoteState.CLOSED, VoteCommand.PUBLISH): VoteState.PUBLISHED,
    (VoteState.PREPARED, VoteCommand.MANUAL): VoteState.CLOSED,
    # An open vote is closed on what was counted, then annulled, in one step (`Ballots`).
    (VoteState.OPEN, VoteCommand.ANNUL): VoteState.ANNULLED,
    (VoteState.HOLD, VoteCommand.ANNUL): VoteState.ANNULLED,
    (VoteState.CLOSED, VoteCommand.ANNUL): VoteState.ANNULLED,
    (VoteState.PUBLISHED, VoteCommand.ANNUL): VoteState.ANNULLED,
}

# States in which the vote holds the keypads (at most one vote at a time may be in one).
ACTIVE_STATES = frozenset({VoteState.OPEN, VoteState.HOLD})


def next_state(vote_id: str, state: VoteState, command: VoteCommand) -> VoteState:
    try:
        return TRANSITIONS[(state, command)]
    except KeyError:
        raise CommandRejected(
            "vote.wrong_state", vote=vote_id, state=state.value, command=command.value
        ) from None


class PressRejected(StrEnum):
    """Why a key press did not count; sent in the "press.rejected" notification."""

    UNKNOWN_SEAT = "unknown-seat"
    NO_OPEN_VOTE = "no-open-vote"
    VOTE_ON_HOLD = "vote-on-hold"
    NOT_ENTITLED = "not-entitled"
    NOT_PRESENT = "not-present"
    INVALID_KEY = "invalid-key"
    ALREADY_VOTED = "already-voted"
    NOT_CALLED_YET = "not-called-yet"


@dataclass(frozen=True)
class VoteDefinition:
    """What the chair prepared; fixed once the vote exists."""

    vote_id: str
    title: str
    item_id: str | None
    answers: AnswerSet
    # One label per key, key 1 first.
    options: tuple[str, ...]
    mode: VoteMode
    rule: MajorityRule
    # 0: no time limit.
    duration_s: float
    warning_s: float
    change_until_close: bool
    quorum_required: bool
    weighted: bool
    # What the vote decides; its rule should be its kind's (`warnings` says where not).
    kind: VoteKind = VoteKind.RESOLUTION
    # A practice vote (biểu quyết thử): kept out of the results and the participation record.
    practice: bool = False
    # The annulled vote this one runs again (biểu quyết lại).
    rerun_of: str | None = None
    # Where the vote departs from its kind (rule, mode), worked out when it was prepared.
    warnings: tuple[VoteWarning, ...] = ()
    # The wall shows the running totals and the seats' keys while the vote runs (never for a
    # secret vote); False: only how many have voted, until the close.
    live_totals: bool = True

    @property
    def keys(self) -> int:
        return len(self.options)

    @property
    def abstain_key(self) -> int | None:
        return 3 if self.answers is AnswerSet.YES_NO_ABSTAIN else None

    @property
    def secret(self) -> bool:
        return self.mode is VoteMode.SECRET

    def to_json(self) -> dict[str, Any]:
        return {
            "vote_id": self.vote_id,
            "title": self.title,
            "item_id": self.item_id,
            "answers": self.answers.value,
            "options": list(self.options),
            "mode": self.mode.value,
            "rule": self.rule.key,
            "duration_s": self.duration_s,
            "warning_s": self.warning_s,
            "change_until_close": self.change_until_close,
            "quorum_required": self.quorum_required,
            "weighted": self.weighted,
            "kind": self.kind.value,
            "practice": self.practice,
            "rerun_of": self.rerun_of,
            "warnings": [{"code": w.code, "params": dict(w.params)} for w in self.warnings],
            "live_totals": self.live_totals,
        }


@dataclass(frozen=True)
class Annulment:
    """Why and when the chair annulled a vote's result."""

    reason: str
    at: float


@dataclass(frozen=True)
class VoteResult:
    """A closed vote. `choices` (seat, key) is empty for a secret vote, by construction."""

    vote_id: str
    # Head count per key, key 1 first; "did not vote" is never one of them.
    totals: tuple[int, ...]
    # Weight per key for a weighted vote, else None.
    weighted_totals: tuple[int, ...] | None
    voted: int
    did_not_vote: int
    present: int
    entitled: int
    all_members: int
    electorate_at_open: tuple[int, ...]
    electorate_at_close: tuple[int, ...]
    # Seats that took part, in seat order.
    participants: tuple[int, ...]
    choices: tuple[tuple[int, int], ...]
    outcome: Outcome
    closed_at: float
    auto_closed: bool
    # A result the chair entered, taken by show of hands or on paper; None: by the system.
    manual: ManualMethod | None = None
    # Set when the chair annulled the result: it stays in the record and decides nothing.
    annulled: Annulment | None = None

    @property
    def stands(self) -> bool:
        """The result decides something: it was not annulled."""
        return self.annulled is None

    def to_json(self, options: tuple[str, ...]) -> dict[str, Any]:
        """The result as JSON, made once per result: a decided result never changes (an
        annulment makes a new one), and every refresh of the read model puts each result in
        several views. The copy returned is shallow; its lists are the same objects each time,
        which the stream's differ passes over by identity (`patch.diff`). Callers add keys to
        it; none changes what it holds."""
        made = self.__dict__.get("_rendered")
        if made is None or made[0] != options:
            made = (options, self._json(options))
            self.__dict__["_rendered"] = made  # a frozen dataclass: kept beside its fields
        return dict(made[1])

    def _json(self, options: tuple[str, ...]) -> dict[str, Any]:
        return {
            "vote_id": self.vote_id,
            "totals": [
                {"key": k, "label": label, "count": c}
                for k, (label, c) in enumerate(zip(options, self.totals, strict=True), start=1)
            ],
            "weighted_totals": (
                list(self.weighted_totals) if self.weighted_totals is not None else None
            ),
            "voted": self.voted,
            "did_not_vote": self.did_not_vote,
            "present": self.present,
            "entitled": self.entitled,
            "all_members": self.all_members,
            "electorate_at_open": len(self.electorate_at_open),
            "electorate_at_close": len(self.electorate_at_close),
            "participants": list(self.participants),
            "choices": [{"seat": s, "key": k} for s, k in self.choices],
            "outcome": {
                "rule": self.outcome.rule,
                "base": self.outcome.base.value,
                "base_count": self.outcome.base_count,
                "required": self.outcome.required,
                "adopted": self.outcome.adopted,
                "tie": self.outcome.tie,
                "winner": self.outcome.winner,
                "explanation": self.outcome.explanation,
            },
            "closed_at": self.closed_at,
            "auto_closed": self.auto_closed,
            "manual": self.manual.value if self.manual is not None else None,
            "annulled": (
                {"reason": self.annulled.reason, "at": self.annulled.at}
                if self.annulled is not None
                else None
            ),
        }


class Vote:
    """The mutable life of one vote. The meeting core owns it and feeds it validated input."""

    def __init__(self, definition: VoteDefinition, created_at: float) -> None:
        self.definition = definition
        self.state = VoteState.PREPARED
        self.created_at = created_at
        self.opened_at: float | None = None
        self.closed_at: float | None = None
        self.deadline: float | None = None
        # Time left while the countdown is stopped (prepared or on hold); None: no limit.
        self.remaining_s: float | None = definition.duration_s or None
        self.warned = False
        self.electorate_at_open: frozenset[int] = frozenset()
        self.heads = [0] * definition.keys
        self.weights = [0] * definition.keys
        # The ONLY seat -> key mapping. For a secret vote it lives in memory while the vote
        # is open or on hold and is emptied at close; nothing else may copy it.
        self._choice_of_seat: dict[int, int] = {}
        self.participants: set[int] = set()
        # Roll-call: seats in the order they are called, and the position being called.
        self.call_order: list[int] = []
        self._call_position: dict[int, int] = {}
        self.call_index = 0
        self.result: VoteResult | None = None
        # The vote that runs this one again, once it is annulled.
        self.rerun_by: str | None = None

    @property
    def vote_id(self) -> str:
        return self.definition.vote_id

    def redefine(self, definition: VoteDefinition) -> None:
        """A prepared vote's new definition (`Ballots.amend` has checked it)."""
        if self.state is not VoteState.PREPARED or definition.vote_id != self.vote_id:
            raise CommandRejected("vote.not_changeable", vote=self.vote_id)
        self.definition = definition
        self.remaining_s = definition.duration_s or None
        self.heads = [0] * definition.keys
        self.weights = [0] * definition.keys

    # --- life cycle -------------------------------------------------------------------------

    def _move(self, command: VoteCommand) -> None:
        self.state = next_state(self.vote_id, self.state, command)

    def check(self, command: VoteCommand) -> None:
        """Raise the conflict `command` would meet, without changing anything."""
        next_state(self.vote_id, self.state, command)

    def open(self, now: float, electorate: frozenset[int]) -> None:
        self._move(VoteCommand.OPEN)
        self.opened_at = now
        self.electorate_at_open = electorate
        if self.remaining_s is not None:
            self.deadline = now + self.remaining_s
        if self.definition.mode is VoteMode.ROLL_CALL:
            self.call_order = sorted(electorate)
            self._call_position = {seat: i for i, seat in enumerate(self.call_order)}

    def hold(self, now: float) -> None:
        self._move(VoteCommand.HOLD)
        if self.deadline is not None:
            self.remaining_s = max(self.deadline - now, 0.0)
            self.deadline = None

    def resume(self, now: float) -> None:
        self._move(VoteCommand.RESUME)
        if self.remaining_s is not None:
            self.deadline = now + self.remaining_s

    def cancel(self, now: float) -> None:
        self._move(VoteCommand.CANCEL)
        self.closed_at = now
        self.deadline = None
        self._choice_of_seat.clear()

    def publish(self) -> None:
        self._move(VoteCommand.PUBLISH)

    def annul(self, now: float, reason: str) -> VoteResult:
        """Annul a closed or published vote's result (an open one is closed first, by
        `Ballots`): the result stays, marked with the reason, and decides nothing."""
        if self.state in ACTIVE_STATES or self.result is None:
            raise CommandRejected("vote.annul_not_closed", vote=self.vote_id)
        self._move(VoteCommand.ANNUL)
        self.result = replace(self.result, annulled=Annulment(reason, now))
        return self.result

    def enter_manual(
        self,
        now: float,
        *,
        method: ManualMethod,
        totals: tuple[int, ...],
        present: int,
        entitled: int,
        all_members: int,
        language: Language,
    ) -> VoteResult:
        """Close a prepared vote on counts the chair took by show of hands or on paper,
        decided by the vote's own rule. Nobody's choice is known: no seat took part on the
        system, so the result names no seat (`Ballots` has checked the counts)."""
        self._move(VoteCommand.MANUAL)
        d = self.definition
        self.closed_at = now
        self.deadline = None
        self.remaining_s = None
        self.heads = list(totals)
        self.weights = list(totals)
        counts = Counts(
            options=totals,
            abstain_key=d.abstain_key,
            present=present,
            entitled=entitled,
            all_members=all_members,
        )
        outcome = decide(
            d.rule,
            counts,
            language,
            choices=d.options if d.answers is AnswerSet.CHOICES else None,
        )
        voted = sum(totals)
        self.result = VoteResult(
            vote_id=d.vote_id,
            totals=totals,
            weighted_totals=None,
            voted=voted,
            did_not_vote=present - voted,
            present=present,
            entitled=entitled,
            all_members=all_members,
            electorate_at_open=(),
            electorate_at_close=(),
            participants=(),
            choices=(),
            outcome=outcome,
            closed_at=now,
            auto_closed=False,
            manual=method,
        )
        return self.result

    def close(
        self,
        now: float,
        *,
        electorate: frozenset[int],
        weight_of: Mapping[int, int],
        entitled: int,
        all_members: int,
        language: Language,
        auto: bool,
    ) -> VoteResult:
        """Close the vote and decide it. `weight_of` gives each voting seat's weight;
        `entitled` and `all_members` are heads, or weights for a weighted vote."""
        self._move(VoteCommand.CLOSE)
        self.closed_at = now
        self.deadline = None
        self.remaining_s = None
        return self._decide(
            now,
            electorate=electorate,
            weight_of=weight_of,
            entitled=entitled,
            all_members=all_members,
            language=language,
            auto=auto,
        )

    def restore_sealed(
        self,
        totals: tuple[int, ...],
        weighted_totals: tuple[int, ...] | None,
        participants: tuple[int, ...],
        *,
        weight_of: Mapping[int, int],
        entitled: int,
        all_members: int,
        language: Language,
    ) -> VoteResult:
        """Put back a closed secret vote's totals from its sealed closing record.

        Its presses were destroyed when it was sealed, so a replay closes it with nothing
        counted; the sealed record (totals and participants, no choices) restores the result,
        decided again by the same rule over the same electorate.
        """
        d = self.definition
        result = self.result
        if not d.secret or result is None:
            raise CommandRejected("vote.not_closed_secret", vote=self.vote_id)
        if len(totals) != d.keys or any(t < 0 for t in totals):
            raise CommandRejected("vote.totals_keys", vote=self.vote_id)
        if sum(totals) != len(participants) or len(set(participants)) != len(participants):
            raise CommandRejected("vote.totals_participants", vote=self.vote_id)
        if (weighted_totals is None) == d.weighted or (
            weighted_totals is not None and len(weighted_totals) != d.keys
        ):
            raise CommandRejected("vote.weighted_totals", vote=self.vote_id)
        self.heads = list(totals)
        self.weights = list(weighted_totals) if weighted_totals is not None else list(totals)
        self.participants = set(participants)
        self._choice_of_seat.clear()
        restored = self._decide(
            result.closed_at,
            electorate=frozenset(result.electorate_at_close),
            weight_of=weight_of,
            entitled=entitled,
            all_members=all_members,
            language=language,
            auto=result.auto_closed,
        )
        if result.annulled is not None:
            # Annulled in the step that closed it: the mark survives the restore.
            restored = replace(restored, annulled=result.annulled)
            self.result = restored
        return restored

    def _decide(
        self,
        now: float,
        *,
        electorate: frozenset[int],
        weight_of: Mapping[int, int],
        entitled: int,
        all_members: int,
        language: Language,
        auto: bool,
    ) -> VoteResult:
        d = self.definition
        # Someone who voted and then left still counts as present for this vote.
        present_seats = electorate | self.participants
        if d.weighted:
            present = sum(weight_of.get(s, 1) for s in present_seats)
            options = tuple(self.weights)
        else:
            present = len(present_seats)
            options = tuple(self.heads)
        counts = Counts(
            options=options,
            abstain_key=d.abstain_key,
            present=present,
            entitled=entitled,
            all_members=all_members,
        )
        outcome = decide(
            d.rule,
            counts,
            language,
            choices=d.options if d.answers is AnswerSet.CHOICES else None,
            weighted=d.weighted,
        )
        if d.secret:
            choices: tuple[tuple[int, int], ...] = ()
            # The secret ballot ends here: only totals and participants survive the close.
            self._choice_of_seat.clear()
        else:
            choices = tuple(sorted(self._choice_of_seat.items()))
        self.result = VoteResult(
            vote_id=d.vote_id,
            totals=tuple(self.heads),
            weighted_totals=tuple(self.weights) if d.weighted else None,
            voted=len(self.participants),
            did_not_vote=len(electorate - self.participants),
            present=len(present_seats),
            entitled=entitled,
            all_members=all_members,
            electorate_at_open=tuple(sorted(self.electorate_at_open)),
            electorate_at_close=tuple(sorted(electorate)),
            participants=tuple(sorted(self.participants)),
            choices=choices,
            outcome=outcome,
            closed_at=now,
            auto_closed=auto,
        )
        return self.result

    # --- timer ------------------------------------------------------------------------------

    @property
    def warn_at(self) -> float | None:
        d = self.definition
        if self.deadline is None or self.warned or d.warning_s <= 0:
            return None
        return self.deadline - d.warning_s

    def next_deadline(self) -> float | None:
        """The next moment this vote needs a Tick: the warning, then the auto-close."""
        warn = self.warn_at
        return warn if warn is not None else self.deadline

    # --- presses ----------------------------------------------------------------------------

    def choice_of(self, seat: int) -> int | None:
        """The seat's current key, only for lighting that seat's own keypad."""
        return self._choice_of_seat.get(seat)

    @property
    def calling(self) -> int | None:
        """Roll-call: the seat being called now, or None when everyone has been called."""
        if self.call_index < len(self.call_order):
            return self.call_order[self.call_index]
        return None

    def admit(self, seat: int) -> None:
        """Roll-call: a member who arrives during the vote is called after the others."""
        if self.definition.mode is VoteMode.ROLL_CALL and seat not in self._call_position:
            self._call_position[seat] = len(self.call_order)
            self.call_order.append(seat)

    def advance_call(self, present: Callable[[int], bool]) -> int | None:
        """Move the call past the current seat and any seat whose member has left."""
        self.call_index += 1
        while self.call_index < len(self.call_order) and not present(
            self.call_order[self.call_index]
        ):
            self.call_index += 1
        return self.calling

    def called(self, seat: int) -> bool:
        """Roll-call: the seat has been called (now or before) and may press."""
        position = self._call_position.get(seat)
        return position is not None and position <= self.call_index

    def count(self, seat: int, key: int, weight: int) -> int | None:
        """Count a press that `controller.core.ballots.press_refusal` let through; returns
        the seat's previous key (None if it had none), whose count it takes back."""
        previous = self._choice_of_seat.get(seat)
        if previous is not None:
            self.heads[previous - 1] -= 1
            self.weights[previous - 1] -= weight
        self.heads[key - 1] += 1
        self.weights[key - 1] += weight
        self._choice_of_seat[seat] = key
        self.participants.add(seat)
        return previous

    # --- views ------------------------------------------------------------------------------

    def tally_json(self) -> dict[str, Any]:
        """The running tally; for a secret vote only how many have voted, and who (the seats,
        never their keys: the wall's who-has-voted map), until it closes."""
        d = self.definition
        data: dict[str, Any] = {"voted": len(self.participants)}
        if d.secret and self.state in (VoteState.PREPARED, VoteState.OPEN, VoteState.HOLD):
            data["voted_seats"] = sorted(self.participants)
            return data
        data["totals"] = list(self.heads)
        if d.weighted:
            data["weighted_totals"] = list(self.weights)
        return data

    def to_json(self, now: float) -> dict[str, Any]:
        d = self.definition
        if self.deadline is not None:
            countdown: float | None = max(self.deadline - now, 0.0)
        else:
            countdown = self.remaining_s
        data: dict[str, Any] = {
            **d.to_json(),
            "state": self.state.value,
            "created_at": self.created_at,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "deadline": self.deadline,
            "countdown_s": countdown,
            "warned": self.warned,
            "electorate_at_open": len(self.electorate_at_open),
            "tally": self.tally_json(),
            "result": self.result.to_json(d.options) if self.result is not None else None,
            "rerun_by": self.rerun_by,
        }
        if d.mode is VoteMode.ROLL_CALL:
            data["call_order"] = list(self.call_order)
            data["calling"] = self.calling
        if not d.secret and self.state in ACTIVE_STATES:
            data["choices"] = [
                {"seat": s, "key": k} for s, k in sorted(self._choice_of_seat.items())
            ]
        return data
