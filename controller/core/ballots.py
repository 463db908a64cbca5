"""The ballots of a sitting: votes from creation to result, presses, roll call and secrecy.

`Ballots` holds the sitting's votes and the one that holds the keypads, and turns the vote
commands, the key presses and the members' arrivals and departures during a vote into effects.
`MeetingCore` routes to it; it never sees a sitting opening or closing except through
`new_sitting`.

Whether a press counts is decided in one place, `press_refusal`: the seat, the vote's state,
the member's right to vote and presence, the key, the roll call and a first press that may not
be changed, in that order. A counted press changes the tally (`Vote.count`), confirms the key on
the seat's own LEDs and, in a vote that keeps the first press, locks the keypad. A refused
press is answered with a "press.rejected" notification and a REJECT beep; it never raises.

A secret vote never puts a seat's choice in a notification: its tallies say only how many have
voted, and when it ends every unit is told to forget its key events. Nothing here does I/O or
reads a clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from chamber.controller.core.attendance import Attendance
from chamber.controller.core.effects import (
    Beep,
    BeepPattern,
    Effect,
    ForgetEvents,
    KeypadLeds,
    KeypadLock,
    Notification,
)
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.i18n import answer_labels
from chamber.controller.core.inputs import (
    AmendVote,
    AnnulVote,
    CancelVote,
    CloseVote,
    CreateVote,
    EnterManualResult,
    HoldVote,
    OpenVote,
    PublishVote,
    RerunVote,
    ResumeVote,
    SecretVoteSealed,
    VoteKeyPressed,
)
from chamber.controller.core.keypads import Keypads, KeypadState, wanted
from chamber.controller.core.kinds import (
    Needed,
    kind_policy,
    kind_warnings,
    needed,
    needed_json,
    needed_over,
)
from chamber.controller.core.limits import (
    MAX_ANNUL_REASON,
    MAX_CHOICES,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    MIN_CHOICES,
    UNTIMED,
)
from chamber.controller.core.model import AnswerSet, Delegate, Hall, VoteKind, VoteMode
from chamber.controller.core.rules import quorum_required as quorum_needed
from chamber.controller.core.rules import rule_for
from chamber.controller.core.snapshots import vote_json
from chamber.controller.core.votes import (
    ACTIVE_STATES,
    PressRejected,
    Vote,
    VoteCommand,
    VoteDefinition,
    VoteResult,
    VoteState,
)


def press_refusal(
    vote: Vote | None, seat: int, key: int, *, known: bool, weight: int | None, present: bool
) -> PressRejected | None:
    """Why a press from `seat` does not count in `vote` (the vote holding the keypads), or
    None when it counts. `known`: the hall has the seat; `weight`: the seat's member may vote
    with this weight (None: nobody entitled sits there); `present`: the member is present."""
    if not known:
        return PressRejected.UNKNOWN_SEAT
    if vote is None:
        return PressRejected.NO_OPEN_VOTE
    if vote.state is not VoteState.OPEN:
        return PressRejected.VOTE_ON_HOLD
    if weight is None:
        return PressRejected.NOT_ENTITLED
    if not present:
        return PressRejected.NOT_PRESENT
    d = vote.definition
    if type(key) is not int or not 1 <= key <= d.keys:
        return PressRejected.INVALID_KEY
    if d.mode is VoteMode.ROLL_CALL and not vote.called(seat):
        return PressRejected.NOT_CALLED_YET
    if not d.change_until_close and vote.choice_of(seat) is not None:
        return PressRejected.ALREADY_VOTED
    return None


class Ballots:
    """The votes of the open sitting and the keypads they drive."""

    def __init__(self, hall: Hall, attendance: Attendance) -> None:
        self.hall = hall
        self.language = hall.language
        self.attendance = attendance
        self._seats: frozenset[int] = frozenset(s.number for s in hall.seats)
        delegates: dict[str, Delegate] = {d.id: d for d in hall.delegates}
        self._delegate_at: dict[int, Delegate] = {
            s.number: delegates[s.delegate] for s in hall.seats if s.delegate is not None
        }
        # Seats of voting members and the weight each carries in a weighted vote.
        self.weight_of: dict[int, int] = {
            seat: d.weight for seat, d in self._delegate_at.items() if d.voting
        }
        voting = [d for d in hall.delegates if d.voting]
        self._entitled_heads = len(voting)
        self._entitled_weight = sum(d.weight for d in voting)
        # Vacant places of the body (members not listed in the hall) weigh 1 each.
        vacant = max(hall.body.members - len(voting), 0)
        self._all_weight = self._entitled_weight + vacant
        self.keypads = Keypads(s.number for s in hall.seats if s.has_keypad)

        # Votes of the open sitting, in creation order; ids are unique for the core's life.
        self.votes: dict[str, Vote] = {}
        self._vote_ids: set[str] = set()
        self.active: Vote | None = None

    # --- lookups ----------------------------------------------------------------------------

    def delegate_id(self, seat: int) -> str | None:
        d = self._delegate_at.get(seat)
        return d.id if d is not None else None

    def vote(self, vote_id: str) -> Vote:
        vote = self.votes.get(vote_id)
        if vote is None:
            raise CommandRejected("vote.not_found", vote=vote_id)
        return vote

    def closed_votes(self) -> tuple[tuple[VoteDefinition, VoteResult], ...]:
        """The sitting's results, annulled ones (marked) included, practice votes left out:
        a practice vote is never part of the record."""
        return tuple(
            (v.definition, v.result)
            for v in self.votes.values()
            if v.result is not None and not v.definition.practice
        )

    def new_sitting(self) -> None:
        """A sitting opened or closed: its votes are in its record, and a new list starts."""
        self.votes = {}

    def next_deadline(self) -> float | None:
        """The active vote's next warning or end."""
        return self.active.next_deadline() if self.active is not None else None

    def vote_json(self, vote: Vote, now: float) -> dict[str, Any]:
        data = vote_json(vote, now, self.delegate_id)
        data["needed"] = needed_json(vote.definition.rule, self.needed_for(vote), self.language)
        data["warnings"] = [w.to_json(self.language) for w in vote.definition.warnings]
        return data

    def needed_for(self, vote: Vote) -> Needed | None:
        """What `vote` needs to pass: from its result once decided, else over the electorate
        it has now (those present while prepared, the electorate at open once opened); heads,
        or weights for a weighted vote. None for a base of votes cast before the close."""
        result = vote.result
        if result is not None:
            return needed_over(vote.definition.rule, result.outcome.base_count)
        entitled, all_members = self._totals_for(vote)
        seats = (
            vote.electorate_at_open
            if vote.state is not VoteState.PREPARED
            else self.attendance.voting_present
        )
        if vote.definition.weighted:
            present = sum(self.weight_of.get(s, 1) for s in seats)
        else:
            present = len(seats)
        return needed(
            vote.definition.rule, all_members=all_members, entitled=entitled, present=present
        )

    def present_count(self) -> int:
        """Voting members present now, in heads."""
        return len(self.attendance.voting_present)

    def member_counts(self) -> tuple[int, int]:
        """Voting members listed in the hall and all members of the body, in heads."""
        return self._entitled_heads, self.hall.body.members

    def _wanted(self, seat: int, vote: Vote | None) -> KeypadState:
        """What the keypad at `seat` should show with `vote` on the keypads; its presence LED
        as attendance says (during a roll call: the delegate has confirmed)."""
        state = wanted(
            vote,
            seat,
            present=self.attendance.is_present(seat),
            voting=seat in self.weight_of,
        )
        state.present = self.attendance.presence_led(seat)
        return state

    def presence_leds(self, seats: Collection[int] | None = None) -> list[Effect]:
        """The keypads whose presence LED differs from what attendance says now (a roll call
        opened or closed, a delegate confirmed); `seats` None: every keypad."""
        vote = self.active
        effects: list[Effect] = []
        for seat in self.keypads.seats if seats is None else sorted(seats):
            if seat in self.keypads:
                effects += self.keypads.update(seat, self._wanted(seat, vote))
        return effects

    def move(self, from_seat: int, to_seat: int) -> list[Effect]:
        """The delegate of `from_seat` now sits at `to_seat` (no vote holds the keypads; the
        core checked both seats): their right to vote and weight go with them."""
        self._delegate_at[to_seat] = self._delegate_at.pop(from_seat)
        weight = self.weight_of.pop(from_seat, None)
        if weight is not None:
            self.weight_of[to_seat] = weight
        return self.presence_leds((from_seat, to_seat))

    def seat_card(self, delegate_id: str, from_seat: int | None, to_seat: int) -> list[Effect]:
        """A card seats `delegate_id` at `to_seat` (no vote holds the keypads; the core checked
        it): from `from_seat` (None: the delegate had no seat), taking `to_seat` from whoever
        sat there. Their right to vote and weight go with them."""
        delegate = self.hall.delegate(delegate_id)
        seats: list[int] = [to_seat]
        if from_seat is not None:
            self._delegate_at.pop(from_seat, None)
            self.weight_of.pop(from_seat, None)
            seats.append(from_seat)
        self._delegate_at[to_seat] = delegate
        self.weight_of.pop(to_seat, None)
        if delegate.voting:
            self.weight_of[to_seat] = delegate.weight
        return self.presence_leds(seats)

    def _totals_for(self, vote: Vote) -> tuple[int, int]:
        """Members entitled and all members of the body: heads, or weights when weighted."""
        if vote.definition.weighted:
            return self._entitled_weight, self._all_weight
        return self._entitled_heads, self.hall.body.members

    # --- the life of a vote -----------------------------------------------------------------

    def create(
        self, inp: CreateVote, now: float, *, agenda: Collection[str], current: str | None
    ) -> list[Effect]:
        """Prepare a vote of the open sitting, whose agenda has the item ids `agenda`; the
        vote belongs to the item it names, else to the `current` one."""
        self._check_new_id(inp.vote_id)
        if inp.item_id is not None and inp.item_id not in agenda:
            raise CommandRejected("agenda.item_not_found", item=inp.item_id)
        kind = inp.vote_kind if inp.vote_kind is not None else VoteKind.RESOLUTION
        policy = self.hall.policies.vote
        kp = kind_policy(kind, self.hall.policies)
        answers = inp.answers
        if answers is None:
            answers = AnswerSet.CHOICES if inp.choices else kp.answers
        definition = self._define(
            vote_id=inp.vote_id,
            title=inp.title,
            item_id=inp.item_id if inp.item_id is not None else current,
            answers=answers,
            choices=inp.choices,
            mode=inp.mode if inp.mode is not None else (kp.mode or policy.mode),
            rule=inp.rule if inp.rule is not None else kp.rule,
            duration_s=policy.duration_s if inp.duration_s is None else inp.duration_s,
            warning_s=policy.warning_s if inp.warning_s is None else inp.warning_s,
            change_until_close=(
                policy.change_until_close
                if inp.change_until_close is None
                else inp.change_until_close
            ),
            # A practice vote tests the hall, quorum or not, unless the chair says otherwise.
            quorum_required=(
                (policy.quorum_required and not inp.practice)
                if inp.quorum_required is None
                else inp.quorum_required
            ),
            weighted=inp.weighted,
            kind=kind,
            practice=inp.practice,
            rerun_of=None,
            live_totals=policy.live_totals if inp.live_totals is None else inp.live_totals,
        )
        return self._add(Vote(definition, inp.at), now)

    def vote_id_taken(self, vote_id: str) -> bool:
        """Whether a vote of this or an earlier sitting has the id `vote_id` (ids are unique
        across sittings)."""
        return vote_id in self._vote_ids

    def _check_new_id(self, vote_id: str) -> None:
        if not vote_id:
            raise CommandRejected("vote.id_missing")
        if vote_id in self._vote_ids:
            raise CommandRejected("vote.exists", vote=vote_id)

    def _add(self, vote: Vote, now: float) -> list[Effect]:
        self.votes[vote.vote_id] = vote
        self._vote_ids.add(vote.vote_id)
        return [Notification("vote.created", self.vote_json(vote, now))]

    def _define(
        self,
        *,
        vote_id: str,
        title: str,
        item_id: str | None,
        answers: AnswerSet,
        choices: tuple[str, ...],
        mode: VoteMode,
        rule: str,
        duration_s: float,
        warning_s: float,
        change_until_close: bool,
        quorum_required: bool,
        weighted: bool,
        kind: VoteKind,
        practice: bool,
        rerun_of: str | None,
        live_totals: bool = True,
    ) -> VoteDefinition:
        """A vote's definition from its resolved fields, checked; the one place that checks
        what a vote may be (a new vote, an amended one and a rerun all come through here)."""
        if not title.strip():
            raise CommandRejected("vote.title_missing")
        if answers is AnswerSet.CHOICES:
            if not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
                raise CommandRejected(
                    "vote.choices_count", min=MIN_CHOICES, max=MAX_CHOICES, count=len(choices)
                )
            if not all(c.strip() for c in choices) or len(set(choices)) != len(choices):
                raise CommandRejected("vote.choices_invalid")
            options = choices
        else:
            if choices:
                raise CommandRejected("vote.choices_unexpected", answers=answers.value)
            options = answer_labels(self.language, answers)
        duration, warning = duration_s, warning_s
        if duration < 0 or warning < 0:
            raise CommandRejected("vote.time_negative")
        if duration > MAX_VOTE_DURATION_S or warning > MAX_VOTE_WARNING_S:
            raise CommandRejected("vote.duration_too_long", max_s=MAX_VOTE_DURATION_S)
        if duration == UNTIMED:
            warning = 0.0
        elif warning >= duration:
            raise CommandRejected("vote.warning_after_end", warning_s=warning, duration_s=duration)
        majority = rule_for(rule, self.hall.policies)
        return VoteDefinition(
            vote_id=vote_id,
            title=title,
            item_id=item_id,
            answers=answers,
            options=options,
            mode=mode,
            rule=majority,
            duration_s=float(duration),
            warning_s=float(warning),
            change_until_close=change_until_close,
            quorum_required=quorum_required,
            weighted=weighted,
            kind=kind,
            practice=practice,
            rerun_of=rerun_of,
            # A practice vote decides nothing: no kind to follow.
            warnings=() if practice else kind_warnings(kind, rule, mode, self.hall.policies),
            live_totals=live_totals,
        )

    def amend(self, inp: AmendVote, now: float, *, agenda: Collection[str]) -> list[Effect]:
        """Change a prepared vote. A new kind brings its own rule and mode unless the
        command names them too."""
        vote = self.vote(inp.vote_id)
        if vote.state is not VoteState.PREPARED:
            raise CommandRejected("vote.not_amendable", vote=vote.vote_id, state=vote.state.value)
        if inp.item_id is not None and inp.item_id not in agenda:
            raise CommandRejected("agenda.item_not_found", item=inp.item_id)
        d = vote.definition
        kind = inp.vote_kind if inp.vote_kind is not None else d.kind
        kp = kind_policy(kind, self.hall.policies)
        new_kind = kind is not d.kind
        answers = inp.answers if inp.answers is not None else d.answers
        if inp.choices is not None:
            choices = inp.choices
        elif answers is AnswerSet.CHOICES and d.answers is AnswerSet.CHOICES:
            choices = d.options
        else:
            choices = ()
        if inp.mode is not None:
            mode = inp.mode
        elif new_kind:
            mode = kp.mode or self.hall.policies.vote.mode
        else:
            mode = d.mode
        rule = inp.rule if inp.rule is not None else (kp.rule if new_kind else d.rule.key)
        duration = d.duration_s if inp.duration_s is None else inp.duration_s
        warning = d.warning_s if inp.warning_s is None else inp.warning_s
        # A new length takes the hall's warning when the old one would not fit it.
        if (
            inp.duration_s is not None
            and inp.warning_s is None
            and duration != UNTIMED
            and (warning >= duration or d.duration_s == UNTIMED)
        ):
            warning = min(self.hall.policies.vote.warning_s, duration / 2)
        definition = self._define(
            vote_id=d.vote_id,
            title=inp.title if inp.title is not None else d.title,
            item_id=inp.item_id if inp.item_id is not None else d.item_id,
            answers=answers,
            choices=choices,
            mode=mode,
            rule=rule,
            duration_s=duration,
            warning_s=warning,
            change_until_close=(
                d.change_until_close if inp.change_until_close is None else inp.change_until_close
            ),
            quorum_required=(
                d.quorum_required if inp.quorum_required is None else inp.quorum_required
            ),
            weighted=d.weighted,
            kind=kind,
            practice=d.practice,
            rerun_of=d.rerun_of,
            live_totals=d.live_totals if inp.live_totals is None else inp.live_totals,
        )
        vote.redefine(definition)
        return [Notification("vote.amended", self.vote_json(vote, now))]

    def rerun(self, inp: RerunVote, now: float) -> list[Effect]:
        """Biểu quyết lại: a new prepared vote with the annulled vote's definition."""
        old = self.vote(inp.of_vote_id)
        if old.state is not VoteState.ANNULLED:
            raise CommandRejected(
                "vote.rerun_not_annulled", vote=old.vote_id, state=old.state.value
            )
        if old.rerun_by is not None:
            raise CommandRejected("vote.rerun_done", vote=old.vote_id, rerun=old.rerun_by)
        self._check_new_id(inp.vote_id)
        definition = replace(old.definition, vote_id=inp.vote_id, rerun_of=old.vote_id)
        old.rerun_by = inp.vote_id
        effects = self._add(Vote(definition, inp.at), now)
        effects.append(
            Notification(
                "vote.rerun",
                {"at": inp.at, "vote_id": inp.vote_id, "rerun_of": old.vote_id},
            )
        )
        return effects

    def annul(self, inp: AnnulVote) -> list[Effect]:
        """Hủy kết quả: an open vote is closed on what was counted, then annulled; a closed
        or published one keeps its result, marked annulled with the reason."""
        vote = self.vote(inp.vote_id)
        reason = inp.reason.strip()
        if not reason:
            raise CommandRejected("vote.annul_reason_missing")
        if len(reason) > MAX_ANNUL_REASON:
            raise CommandRejected("vote.annul_reason_too_long", max=MAX_ANNUL_REASON)
        vote.check(VoteCommand.ANNUL)
        effects: list[Effect] = []
        if vote.state in ACTIVE_STATES:
            effects += self._close(vote, inp.at, auto=False)
        result = vote.annul(inp.at, reason)
        effects.append(
            Notification(
                "vote.annulled",
                {
                    "at": inp.at,
                    "vote_id": vote.vote_id,
                    "reason": reason,
                    "result": result.to_json(vote.definition.options),
                },
            )
        )
        return effects

    def enter_manual(self, inp: EnterManualResult) -> list[Effect]:
        """A result taken by show of hands or on paper, for a prepared vote: the counts are
        checked against the electorate and decided by the vote's own rule."""
        vote = self.vote(inp.vote_id)
        vote.check(VoteCommand.MANUAL)
        d = vote.definition
        if d.weighted:
            raise CommandRejected("vote.manual_weighted", vote=vote.vote_id)
        if len(inp.totals) != d.keys:
            raise CommandRejected(
                "vote.manual_answers", vote=vote.vote_id, keys=d.keys, count=len(inp.totals)
            )
        if any(t < 0 for t in inp.totals):
            raise CommandRejected("vote.manual_negative")
        entitled, all_members = self.member_counts()
        present = self.present_count() if inp.present is None else inp.present
        if not 0 <= present <= entitled:
            raise CommandRejected("vote.manual_present_range", present=present, entitled=entitled)
        voted = sum(inp.totals)
        if voted > present:
            raise CommandRejected("vote.manual_too_many", voted=voted, present=present)
        if d.quorum_required:
            need = quorum_needed(self.hall.policies.quorum, self.hall.body.members)
            if present < need:
                raise CommandRejected("vote.no_quorum", present=present, required=need)
        result = vote.enter_manual(
            inp.at,
            method=inp.method,
            totals=inp.totals,
            present=present,
            entitled=entitled,
            all_members=all_members,
            language=self.language,
        )
        return [
            Notification(
                "vote.closed",
                {
                    "at": inp.at,
                    "vote_id": vote.vote_id,
                    "auto": False,
                    "manual": inp.method.value,
                    "result": result.to_json(d.options),
                },
            )
        ]

    def open_refusal(self, vote: Vote) -> CommandRejected | None:
        """Why prepared `vote` cannot be opened now (another vote holds the keypads, or it
        needs a quorum the hall lacks), or None."""
        if self.active is not None:
            return CommandRejected(
                "vote.another_active", vote=self.active.vote_id, state=self.active.state.value
            )
        if vote.definition.quorum_required and not self.attendance.quorate:
            q = self.attendance.quorum_json()
            return CommandRejected("vote.no_quorum", present=q["present"], required=q["required"])
        return None

    def open(self, inp: OpenVote) -> list[Effect]:
        vote = self.vote(inp.vote_id)
        vote.check(VoteCommand.OPEN)
        refusal = self.open_refusal(vote)
        if refusal is not None:
            raise refusal
        electorate = frozenset(self.attendance.voting_present)
        vote.open(inp.at, electorate)
        self.active = vote
        # Clear what the last vote left lit, then restate every lock: the electorate unlocks.
        keypads = self.keypads
        effects: list[Effect] = [*keypads.leds_off_all()]
        for seat in keypads.seats:
            effects.append(keypads.restate_lock(seat, self._wanted(seat, vote)))
        effects.append(
            Notification(
                "vote.opened",
                {
                    "at": inp.at,
                    "vote_id": vote.vote_id,
                    "electorate": len(electorate),
                    "deadline": vote.deadline,
                    "duration_s": vote.definition.duration_s,
                },
            )
        )
        if vote.definition.mode is VoteMode.ROLL_CALL:
            effects.append(self._call_notification(vote))
        return effects

    def hold(self, inp: HoldVote) -> list[Effect]:
        vote = self.vote(inp.vote_id)
        vote.hold(inp.at)
        return [
            self.keypads.lock_all(vote.definition.keys),
            Notification(
                "vote.held",
                {"at": inp.at, "vote_id": vote.vote_id, "remaining_s": vote.remaining_s},
            ),
        ]

    def resume(self, inp: ResumeVote) -> list[Effect]:
        vote = self.vote(inp.vote_id)
        vote.resume(inp.at)
        effects: list[Effect] = []
        for seat in self.keypads.seats:
            effects += self.keypads.update(seat, self._wanted(seat, vote))
        effects.append(
            Notification(
                "vote.resumed", {"at": inp.at, "vote_id": vote.vote_id, "deadline": vote.deadline}
            )
        )
        return effects

    def close(self, inp: CloseVote) -> list[Effect]:
        return self._close(self.vote(inp.vote_id), inp.at, auto=False)

    def _close(self, vote: Vote, at: float, *, auto: bool) -> list[Effect]:
        entitled, all_members = self._totals_for(vote)
        result = vote.close(
            at,
            electorate=frozenset(self.attendance.voting_present),
            weight_of=self.weight_of,
            entitled=entitled,
            all_members=all_members,
            language=self.language,
            auto=auto,
        )
        self.active = None
        return [
            self.keypads.lock_all(vote.definition.keys),
            *self.keypads.leds_off_all(),
            *_forget_secret(vote),
            Notification(
                "vote.closed",
                {
                    "at": at,
                    "vote_id": vote.vote_id,
                    "auto": auto,
                    "result": result.to_json(vote.definition.options),
                },
            ),
        ]

    def cancel(self, inp: CancelVote) -> list[Effect]:
        vote = self.vote(inp.vote_id)
        was_active = vote.state in ACTIVE_STATES
        vote.cancel(inp.at)
        effects: list[Effect] = []
        if was_active:
            self.active = None
            effects += [
                self.keypads.lock_all(vote.definition.keys),
                *self.keypads.leds_off_all(),
                *_forget_secret(vote),
            ]
        effects.append(Notification("vote.cancelled", {"at": inp.at, "vote_id": vote.vote_id}))
        return effects

    def publish(self, inp: PublishVote) -> list[Effect]:
        vote = self.vote(inp.vote_id)
        vote.publish()
        assert vote.result is not None  # a closed vote always has one
        return [
            Notification(
                "vote.result",
                {
                    "at": inp.at,
                    "vote_id": vote.vote_id,
                    "title": vote.definition.title,
                    "item_id": vote.definition.item_id,
                    "result": vote.result.to_json(vote.definition.options),
                },
            )
        ]

    def sealed(self, inp: SecretVoteSealed) -> list[Effect]:
        # Live, the core already holds this result and the record changes nothing; on replay
        # the presses are gone and the record is what restores the totals.
        vote = self.vote(inp.vote_id)
        entitled, all_members = self._totals_for(vote)
        vote.restore_sealed(
            inp.totals,
            inp.weighted_totals,
            inp.participants,
            weight_of=self.weight_of,
            entitled=entitled,
            all_members=all_members,
            language=self.language,
        )
        return []

    def timers(self, at: float) -> tuple[list[Effect], float | None]:
        """Fire the active vote's warning and auto-close due by `at`, each at its own time.
        Returns the effects and the time of the last one that fired (None: none did)."""
        vote = self.active
        effects: list[Effect] = []
        fired: float | None = None
        if vote is None or vote.state is not VoteState.OPEN or vote.deadline is None:
            return effects, fired
        warn_at = vote.warn_at
        if warn_at is not None and at >= warn_at:
            vote.warned = True
            fired = warn_at
            effects.append(
                Notification(
                    "vote.warning",
                    {
                        "at": warn_at,
                        "vote_id": vote.vote_id,
                        "remaining_s": vote.deadline - warn_at,
                        "deadline": vote.deadline,
                    },
                )
            )
            if at < vote.deadline:
                # Every seat hears that the vote is about to close (one broadcast).
                effects.append(Beep(None, BeepPattern.WARNING))
        if at >= vote.deadline:
            fired = vote.deadline
            effects.extend(self._close(vote, vote.deadline, auto=True))
        return effects, fired

    # --- members during a vote ----------------------------------------------------------------

    def presence(self, seat: int, present: bool) -> list[Effect]:
        """A member arrived or left (attendance has it already): the seat's keypad, and the
        roll call, which calls an arrival after the others and moves past a departure."""
        vote = self.active
        voting = seat in self.weight_of
        effects: list[Effect] = []
        if vote is not None and voting and present:
            vote.admit(seat)
        if seat in self.keypads:
            effects += self.keypads.update(
                seat,
                self._wanted(seat, vote),
                relock=vote is not None and voting and not present,
            )
        if vote is not None and voting and not present and vote.calling == seat:
            effects.extend(self._advance_call(vote))
        return effects

    # --- key presses (unit input: never raises) -----------------------------------------------

    def press(self, inp: VoteKeyPressed) -> list[Effect]:
        seat = inp.seat
        vote = self.active
        weight = self.weight_of.get(seat)
        refusal = press_refusal(
            vote,
            seat,
            inp.key,
            known=seat in self._seats,
            weight=weight,
            present=seat in self.attendance.present_seats,
        )
        if refusal is not None:
            return self._reject_press(inp, refusal, vote)
        # press_refusal let it through: there is a vote, and the seat's member may vote.
        assert vote is not None
        assert weight is not None
        vote.count(seat, inp.key, weight)
        d = vote.definition
        # The only effect allowed to carry a secret choice: the seat's own keypad LEDs, which
        # confirm every counted press; a vote that keeps the first press then locks the seat.
        effects: list[Effect] = []
        if seat in self.keypads:
            effects += self.keypads.update(seat, self._wanted(seat, vote), confirm=True)
            # The same for every key: it tells that the press counted, never which key.
            effects.append(Beep(seat, BeepPattern.CONFIRM))
        else:
            # A seat the hall lists without a keypad pressed all the same: it is confirmed,
            # and locked after its press, outside the mirror of the keypads.
            effects.append(KeypadLeds(seat, lit=(inp.key,), present=True))
            effects.append(Beep(seat, BeepPattern.CONFIRM))
            if not d.change_until_close:
                effects.append(KeypadLock(seat, locked=True, keys=d.keys))
        if d.secret:
            effects.append(
                Notification(
                    "vote.tally",
                    {"at": inp.at, "vote_id": d.vote_id, "voted": len(vote.participants)},
                )
            )
        else:
            effects.append(
                Notification(
                    "vote.tally",
                    {
                        "at": inp.at,
                        "vote_id": d.vote_id,
                        "seat": seat,
                        "delegate": self._delegate_at[seat].id,
                        "key": inp.key,
                        "voted": len(vote.participants),
                        "totals": list(vote.heads),
                    },
                )
            )
        if vote.calling == seat:
            effects.extend(self._advance_call(vote))
        return effects

    def _reject_press(
        self, inp: VoteKeyPressed, reason: PressRejected, vote: Vote | None
    ) -> list[Effect]:
        data: dict[str, Any] = {"at": inp.at, "seat": inp.seat, "reason": reason.value}
        if vote is not None:
            data["vote_id"] = vote.vote_id
        # Even a refused key could hint at a secret choice: say only that a key was pressed.
        if vote is None or not vote.definition.secret:
            data["key"] = inp.key
        notification = Notification("press.rejected", data)
        if reason is PressRejected.UNKNOWN_SEAT:
            return [notification]
        return [notification, Beep(inp.seat, BeepPattern.REJECT)]

    # --- roll call ----------------------------------------------------------------------------

    def _advance_call(self, vote: Vote) -> list[Effect]:
        vote.advance_call(self.attendance.is_present)
        return [self._call_notification(vote)]

    def _call_notification(self, vote: Vote) -> Notification:
        seat = vote.calling
        return Notification(
            "vote.call",
            {
                "vote_id": vote.vote_id,
                "seat": seat,
                "delegate": self.delegate_id(seat) if seat is not None else None,
                "position": vote.call_index + 1 if seat is not None else None,
                "of": len(vote.call_order),
            },
        )

    # --- resynchronising units ------------------------------------------------------------------

    def keypad_state(self) -> list[Effect]:
        """What every keypad should show now, whatever it shows: lock then LEDs, seat by seat;
        and, between votes, a reminder to forget a secret vote's key events."""
        vote = self.active
        effects: list[Effect] = []
        for seat in self.keypads.seats:
            effects += self.keypads.restate(seat, self._wanted(seat, vote))
        if vote is None and any(v.definition.secret for v in self.votes.values()):
            # A restart may have come between a secret vote's close and the units' forgetting.
            effects.append(ForgetEvents(None))
        return effects


def _forget_secret(vote: Vote) -> list[Effect]:
    """After a secret vote no unit may keep its choices where a bus master can read them."""
    return [ForgetEvents(None)] if vote.definition.secret else []
