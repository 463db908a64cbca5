"""The floor: whose microphone is live, who waits for one, and how long each turn may run.

A pure, deterministic state machine of the meeting core. `Floor.handle` turns floor inputs
(microphone buttons, voice levels, the chair's priority key, the chair's and technician's
commands, clock ticks) into unit commands (`MicSwitch`, `RingShow`, `Chime`) and
notifications. Replaying the same inputs into a fresh `Floor` gives the same effects and the
same snapshot.

Never here: I/O, asyncio, or reading a clock (`now` is each input's `at`; timers fire only on
`Tick`, which the runtime sends at `next_deadline()`); and no scan over every seat of the hall
on an input: work per input is bounded by the live speakers and the waiting list.

The rules of each microphone mode are the one table `MODE_RULES`. The choices a hall engineer
will look for, all enforced and tested here:

* Open mode at the cap queues the press on the speakers' list, and the list is served first
  come, first served as soon as a delegate microphone frees up (the "open with request list"
  of the established systems). Request mode waits for the chair's grant.
* `GrantNext` without a list, and open-mode serving, take the reply list first, then the
  question list, then the speak list (`GRANT_ORDER`): a reply or point of order answers what
  was just said and loses its point if it waits behind the debate.
* A grant by the chair at the cap switches off the delegate microphone open longest: the grant
  is an explicit decision, and refusing it would only make the chair revoke by hand first.
* Chair and VIP seats (`Seat.mic_class`) do not count against the cap, their button switches
  their microphone directly in every mode, and their turns have no time limit.
* A microphone forced on by the technician (`MicOverride`) is outside every rule: it does not
  count against the cap (counting it would make a rule switch someone else off), has no time
  limit, is not muted by chair priority, and is not switched off by override mode, by the
  chair's "all off", by an agenda switch or by the delegate's own button. Only the technician
  (`MicOverride(on=False)`) or the chair naming the seat (`RevokeFloor(seat)`) ends it. It is
  recorded as a `Speech` with `forced=True` and a "floor.override" notification.
* While chair priority is held, delegate microphones are muted in both hall settings (a turn
  granted meanwhile starts muted); `ALL_OFF` also ends their turns and clears the current
  item's speakers' lists when the key goes down. The speaking clock keeps running while muted;
  the chair extends a turn if the interruption was long.
* Ring positions count within the seat's own list (1 = first). The seat that `GrantNext`
  would take shows NEXT, with position 1.
* The chair's "next" (`GrantNext(handover=True)`) hands over: the delegate microphones the
  rules govern close, then the next one waiting opens. "Add a microphone"
  (`GrantNext(add=True)`) opens the next one beside those live, and is refused at the cap.
* A delegate moved to another seat (`move_delegate`) takes their place on the lists with
  them; a turn live at the old seat ends ("moved"), the delegate asks again at the new one.
* A second press of the request button while waiting withdraws the request; a press on a live
  microphone switches it off (the delegate ends the turn), in every mode.
* Voice levels are meter data that units stream many times a second: outside voice mode, or
  at the cap, they are dropped without a notification, which would only flood subscribers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from chamber.controller.core.effects import (
    Chime,
    Effect,
    MicSwitch,
    Notification,
    RingShow,
    RingState,
)
from chamber.controller.core.errors import CommandRejected
from chamber.controller.core.inputs import (
    ApiChairPriority,
    ChairPriority,
    ExtendSpeakingTime,
    GrantFloor,
    GrantNext,
    Input,
    MicCancel,
    MicOverride,
    MicRequest,
    RegisterSpeaker,
    RevokeFloor,
    SetMicMode,
    SetSpeakingTime,
    TalkButton,
    Tick,
    VoiceLevel,
)
from chamber.controller.core.limits import (
    MAX_OPEN_MICS,
    MAX_REQUESTS,
    MAX_TURN_S,
    MAX_TURN_WARNING_S,
    MAX_VOICE_HOLD_S,
    MAX_VOICE_OPEN_DB,
    MIN_OPEN_MICS,
    MIN_VOICE_OPEN_DB,
)
from chamber.controller.core.model import (
    AtZero,
    FloorPolicy,
    Hall,
    MicClass,
    MicMode,
    PriorityMode,
    Seat,
    SpeakerList,
)

# Which list goes first when the chair says "next" and when open mode serves its queue.
GRANT_ORDER: tuple[SpeakerList, ...] = (SpeakerList.REPLY, SpeakerList.QUESTION, SpeakerList.SPEAK)

FLOOR_INPUTS: tuple[type[Input], ...] = (
    MicRequest,
    MicCancel,
    TalkButton,
    VoiceLevel,
    ChairPriority,
    ApiChairPriority,
    RegisterSpeaker,
    GrantFloor,
    GrantNext,
    RevokeFloor,
    SetMicMode,
    SetSpeakingTime,
    ExtendSpeakingTime,
    MicOverride,
    Tick,
)


class FloorPolicyError(ValueError):
    """The hall's floor policy is outside the ranges the floor can honour."""


# --- the rules of each microphone mode ------------------------------------------------------


class Press(StrEnum):
    """What a delegate seat's request button does on an idle seat."""

    OPEN = "open"  # switch the microphone on (subject to the cap)
    QUEUE = "queue"  # join a speakers' list and wait for the chair
    IGNORE = "ignore"  # the mode opens microphones another way (voice, talk button)


class AtCap(StrEnum):
    """What happens when a delegate microphone would open with the cap already reached."""

    QUEUE = "queue"  # join the speakers' list instead
    REPLACE_OLDEST = "replace-oldest"  # switch off the delegate microphone open longest
    REFUSE = "refuse"


@dataclass(frozen=True)
class ModeRules:
    press: Press
    at_cap: AtCap
    # Open a delegate microphone from the speakers' list whenever one is free.
    serve_queue: bool
    opens_on_voice: bool
    opens_on_talk: bool


MODE_RULES: dict[MicMode, ModeRules] = {
    MicMode.OPEN: ModeRules(
        Press.OPEN, AtCap.QUEUE, serve_queue=True, opens_on_voice=False, opens_on_talk=False
    ),
    MicMode.OVERRIDE: ModeRules(
        Press.OPEN,
        AtCap.REPLACE_OLDEST,
        serve_queue=False,
        opens_on_voice=False,
        opens_on_talk=False,
    ),
    MicMode.REQUEST: ModeRules(
        Press.QUEUE, AtCap.QUEUE, serve_queue=False, opens_on_voice=False, opens_on_talk=False
    ),
    MicMode.VOICE: ModeRules(
        Press.IGNORE, AtCap.REFUSE, serve_queue=False, opens_on_voice=True, opens_on_talk=False
    ),
    MicMode.PUSH_TO_TALK: ModeRules(
        Press.IGNORE, AtCap.REFUSE, serve_queue=False, opens_on_voice=False, opens_on_talk=True
    ),
}


class Origin(StrEnum):
    """How a turn began; it decides what ends it (silence for voice, release for talk)."""

    PRESS = "press"
    QUEUE = "queue"  # served from the speakers' list in open mode
    GRANT = "grant"
    VOICE = "voice"
    TALK = "talk"
    OVERRIDE = "override"


class _Due(IntEnum):
    """Timer kinds, in the order they fire when due at the same instant."""

    WARNING = 0
    TIME_UP = 1
    SILENCE = 2


# --- values others read ---------------------------------------------------------------------


@dataclass(frozen=True)
class Speech:
    """A finished turn at a microphone. `forced` marks a technician's override."""

    seat: int
    delegate_id: str | None
    list: SpeakerList
    start: float
    end: float
    overtime_s: float
    forced: bool = False

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SpeakingTotals:
    """Seconds spoken per delegate and per group (`Delegate.group`), running turns included."""

    by_delegate: dict[str, float]
    by_group: dict[str, float]
    turns_by_delegate: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "delegates": {
                d: {"seconds": s, "turns": self.turns_by_delegate.get(d, 0)}
                for d, s in self.by_delegate.items()
            },
            "groups": dict(self.by_group),
        }


# --- internal state -------------------------------------------------------------------------


@dataclass(slots=True)
class _Turn:
    """A live microphone. Mutable on purpose: warnings, extensions and silence change it."""

    seat: int
    delegate_id: str | None
    on_list: SpeakerList
    origin: Origin
    start: float
    limit_s: float  # 0: no limit
    counted: bool
    forced: bool
    warned: bool = False
    overtime: bool = False
    silent_since: float | None = None

    @property
    def end_at(self) -> float | None:
        return self.start + self.limit_s if self.limit_s > 0 else None


def _empty_order() -> dict[SpeakerList, list[int]]:
    return {lst: [] for lst in GRANT_ORDER}


@dataclass(slots=True)
class _Lists:
    """One agenda item's speakers' lists: order per list, and each waiting seat's entry."""

    order: dict[SpeakerList, list[int]] = field(default_factory=_empty_order)
    entry: dict[int, tuple[SpeakerList, float]] = field(default_factory=dict)


def _check_policy(policy: FloorPolicy) -> None:
    """A floor policy inside the hall limits of `controller.core.limits`, or FloorPolicyError."""
    if not MIN_OPEN_MICS <= policy.max_open <= MAX_OPEN_MICS:
        raise FloorPolicyError(
            f"max_open must be {MIN_OPEN_MICS}..{MAX_OPEN_MICS}, not {policy.max_open}"
        )
    if not 0 <= policy.max_requests <= MAX_REQUESTS:
        raise FloorPolicyError(f"max_requests must be 0..{MAX_REQUESTS}, not {policy.max_requests}")
    ranges = (
        ("speak_time_s", MAX_TURN_S),
        ("question_time_s", MAX_TURN_S),
        ("reply_time_s", MAX_TURN_S),
        ("warning_s", MAX_TURN_WARNING_S),
    )
    for name, most in ranges:
        value = getattr(policy, name)
        if not (math.isfinite(value) and 0 <= value <= most):
            raise FloorPolicyError(f"{name} must be 0..{most:g} s, not {value}")
    hold = policy.voice_hold_s
    if not (math.isfinite(hold) and 0 < hold <= MAX_VOICE_HOLD_S):
        raise FloorPolicyError(f"voice_hold_s must be more than 0, at most {MAX_VOICE_HOLD_S:g} s")
    level = policy.voice_open_db
    if not (math.isfinite(level) and MIN_VOICE_OPEN_DB <= level <= MAX_VOICE_OPEN_DB):
        raise FloorPolicyError(
            f"voice_open_db must be {MIN_VOICE_OPEN_DB:g}..{MAX_VOICE_OPEN_DB:g} dB, not {level}"
        )


_OFF: tuple[RingState, int] = (RingState.OFF, 0)


class Floor:
    """The hall's microphones for one sitting. Feed it inputs; send out what it returns."""

    def __init__(self, hall: Hall) -> None:
        policy = hall.policies.floor
        _check_policy(policy)
        self._policy = policy
        self._seats: dict[int, Seat] = {s.number: s for s in hall.seats}
        self._delegate_of: dict[int, str | None] = {s.number: s.delegate for s in hall.seats}
        self._group_of: dict[str, str] = {d.id: d.group for d in hall.delegates}
        self._mode = policy.mode
        self._max_open = policy.max_open
        self._time_s: dict[SpeakerList, float] = {
            SpeakerList.SPEAK: policy.speak_time_s,
            SpeakerList.QUESTION: policy.question_time_s,
            SpeakerList.REPLY: policy.reply_time_s,
        }
        self._now = -math.inf
        self.speeches: list[Speech] = []
        self._done_s: dict[str, float] = {}
        self._done_turns: dict[str, int] = {}
        self._done_group_s: dict[str, float] = {}

        self._item: str | None = None
        self._by_item: dict[str | None, _Lists] = {None: _Lists()}
        self._lists = self._by_item[None]
        self._pos: dict[int, int] = {}  # position of each waiting seat of the current item
        # Live turns in the order they opened: the first counted one is the one open longest.
        self._live: dict[int, _Turn] = {}
        self._counted: dict[int, None] = {}
        self._held_seats: dict[int, None] = {}
        self._held_api = False

        # What the units were last told; effects are the difference to the wanted state.
        self._mic_shown: set[int] = set()
        self._ring_shown: dict[int, tuple[RingState, int]] = {}
        self._head_shown: int | None = None

        # Scratch of one input, emptied by `_flush`.
        self._dirty: dict[int, None] = {}
        self._dirty_lists: set[SpeakerList] = set()
        self._notes: list[Effect] = []
        self._changed = False

    # --- public API -----------------------------------------------------------------------

    def handle(self, inp: Input) -> list[Effect]:
        """Apply one input. Unit inputs never raise; bad commands raise `CommandRejected`."""
        if not isinstance(inp, FLOOR_INPUTS):
            return []
        before = self._now
        now = self._clock(inp.at)
        try:
            self._dispatch(inp, now)
        except CommandRejected:
            # A refused command leaves the floor exactly as it was, its clock included.
            self._now = before
            raise
        return self._flush(inp.kind, now)

    def _dispatch(self, inp: Input, now: float) -> None:
        match inp:
            case MicRequest():
                self._on_press(inp.seat, inp.list, now)
            case MicCancel():
                self._on_cancel(inp.seat, now)
            case TalkButton():
                self._on_talk(inp.seat, inp.held, now)
            case VoiceLevel():
                self._on_voice(inp.seat, inp.level_db, now)
            case ChairPriority():
                self._on_chair_key(inp.seat, inp.held, now)
            case ApiChairPriority():
                self._set_priority(None, inp.held, now)
            case RegisterSpeaker():
                self._register(inp.seat, inp.list, now)
            case GrantFloor():
                self._grant(inp.seat, inp.list, now)
            case GrantNext():
                self._grant_next(inp.list, now, handover=inp.handover, add=inp.add)
            case RevokeFloor():
                self._revoke(inp.seat, now)
            case SetMicMode():
                self._set_mode(inp.mode, inp.max_open, now)
            case SetSpeakingTime():
                self._set_time(inp.list, inp.seconds)
            case ExtendSpeakingTime():
                self._extend(inp.seat, inp.seconds, now)
            case MicOverride():
                self._override(inp.seat, inp.on, now)
            case Tick():
                self._advance(now)

    def set_item(self, item_id: str | None, now: float) -> list[Effect]:
        """Show `item_id`'s speakers' lists (each item keeps its own) and start it quiet."""
        now = self._clock(now)
        if item_id == self._item:
            return []
        for seat in [s for s, t in self._live.items() if self._rule_bound(t)]:
            self._end(seat, now, "item-changed")
        for seat in self._lists.entry:
            self._mark(seat)
        self._item = item_id
        self._lists = self._by_item.setdefault(item_id, _Lists())
        self._pos.clear()
        for seat in [s for s in self._lists.entry if s in self._live]:
            self._dequeue(seat, "live")
        for seat in self._lists.entry:
            self._mark(seat)
        self._dirty_lists.update(GRANT_ORDER)
        self._changed = True
        self._note("floor.item", {"item": item_id})
        return self._flush("set-item", now)

    def next_deadline(self) -> float | None:
        """When the runtime should send the next `Tick`, or None if no timer runs."""
        return min((t for t, _, _ in self._due_times()), default=None)

    def speaking_totals(self) -> SpeakingTotals:
        """Totals from finished turns and running ones (up to the latest input's time)."""
        by_delegate = dict(self._done_s)
        turns = dict(self._done_turns)
        by_group = dict(self._done_group_s)
        for turn in self._live.values():
            if turn.delegate_id is None:
                continue
            spoken = max(0.0, self._now - turn.start)
            by_delegate[turn.delegate_id] = by_delegate.get(turn.delegate_id, 0.0) + spoken
            turns[turn.delegate_id] = turns.get(turn.delegate_id, 0) + 1
            group = self._group_of.get(turn.delegate_id, "")
            if group:
                by_group[group] = by_group.get(group, 0.0) + spoken
        return SpeakingTotals(by_delegate, by_group, turns)

    def set_delegate(self, seat: int, delegate_id: str | None) -> None:
        """Who sits at `seat` now (e.g. from a presence card); applies to turns that start later."""
        if seat not in self._seats:
            raise CommandRejected("seat.not_found", seat=seat)
        self._delegate_of[seat] = delegate_id

    def move_delegate(self, from_seat: int, to_seat: int, now: float) -> list[Effect]:
        """The delegate of `from_seat` now sits at `to_seat` (the core has checked both)."""
        now = self._clock(now)
        delegate = self._delegate_of.get(from_seat)
        if from_seat in self._live:
            self._end(from_seat, now, "moved")
        for items in self._by_item.values():
            entry = items.entry.pop(from_seat, None)
            if entry is None:
                continue
            order = items.order[entry[0]]
            order[order.index(from_seat)] = to_seat
            items.entry[to_seat] = entry
            self._dirty_lists.add(entry[0])
        self._pos.pop(from_seat, None)  # `_flush` numbers the new seat on its list
        self._delegate_of[to_seat] = delegate
        self._delegate_of[from_seat] = None
        self._mark(from_seat)
        self._mark(to_seat)
        self._changed = True
        return self._flush("move-delegate", now)

    def seat_card(
        self, seat: int, delegate_id: str, from_seat: int | None, now: float
    ) -> list[Effect]:
        """A card seats `delegate_id` at `seat` (from `from_seat`, or from no seat): whoever
        sat there loses the seat, their microphone and their places on the lists."""
        now = self._clock(now)
        if seat in self._live:
            self._end(seat, now, "moved")
        for items in self._by_item.values():
            entry = items.entry.pop(seat, None)
            if entry is not None:
                items.order[entry[0]].remove(seat)
                self._dirty_lists.add(entry[0])
        self._pos.pop(seat, None)
        self._delegate_of[seat] = None
        self._mark(seat)
        self._changed = True
        if from_seat is not None:
            return self.move_delegate(from_seat, seat, now)
        self._delegate_of[seat] = delegate_id
        return self._flush("move-delegate", now)

    def restate(self, seat: int) -> list[Effect]:
        """The commands that bring a restarted unit back to what the floor last told it."""
        if seat not in self._seats:
            raise CommandRejected("seat.not_found", seat=seat)
        state, position = self._ring_shown.get(seat, _OFF)
        return [
            MicSwitch(seat=seat, on=seat in self._mic_shown),
            RingShow(seat=seat, state=state, position=position),
        ]

    def snapshot(self) -> dict[str, Any]:
        """The floor as JSON-ready data, for the API, the console and the wall."""
        now = self._now
        live = []
        for turn in self._live.values():
            end_at = turn.end_at
            live.append(
                {
                    "seat": turn.seat,
                    "delegate": turn.delegate_id,
                    "list": turn.on_list.value,
                    "origin": turn.origin.value,
                    "started": turn.start,
                    "limit_s": turn.limit_s,
                    "time_left_s": None if end_at is None else max(0.0, end_at - now),
                    "overtime_s": 0.0 if end_at is None else max(0.0, now - end_at),
                    "warned": turn.warned,
                    "muted": self._muted(turn),
                    "counted": turn.counted,
                    "forced": turn.forced,
                }
            )
        head = self._head()
        waiting = {
            lst.value: [
                {
                    "seat": seat,
                    "delegate": self._delegate_of.get(seat),
                    "position": i,
                    "since": self._lists.entry[seat][1],
                }
                for i, seat in enumerate(self._lists.order[lst], 1)
            ]
            for lst in GRANT_ORDER
        }
        return {
            "at": now if math.isfinite(now) else None,
            "item": self._item,
            "mode": self._mode.value,
            "caps": {
                "max_open": self._max_open,
                "open": len(self._counted),
                "max_requests": self._policy.max_requests,
                "waiting": len(self._lists.entry),
            },
            "speaking_time_s": {lst.value: self._time_s[lst] for lst in GRANT_ORDER},
            "warning_s": self._policy.warning_s,
            "at_zero": self._policy.at_zero.value,
            "priority": {
                "mode": self._policy.chair_priority.value,
                "active": self._priority_active(),
                "seats": list(self._held_seats),
                "api": self._held_api,
            },
            "live": live,
            "waiting": waiting,
            "next": head,
            "speeches": len(self.speeches),
            "totals": self.speaking_totals().to_json(),
        }

    # --- unit inputs: never raise ---------------------------------------------------------

    def _unit_seat(self, seat: int, kind: str) -> Seat | None:
        unit = self._seats.get(seat)
        if unit is None:
            self._ignored(seat, kind, "unknown-seat")
            return None
        if not unit.has_mic:
            self._ignored(seat, kind, "no-microphone")
            return None
        return unit

    def _on_press(self, seat: int, lst: SpeakerList, now: float) -> None:
        unit = self._unit_seat(seat, "mic-request")
        if unit is None:
            return
        turn = self._live.get(seat)
        if turn is not None:
            if turn.forced:
                self._ignored(seat, "mic-request", "forced-on")
            else:
                self._end(seat, now, "speaker")
        elif seat in self._lists.entry:
            self._dequeue(seat, "withdrawn")
        elif not self._capped(unit):
            self._start(seat, lst, Origin.PRESS, now)
        else:
            rules = MODE_RULES[self._mode]
            match rules.press:
                case Press.OPEN:
                    self._open(unit, lst, Origin.PRESS, now, rules.at_cap)
                case Press.QUEUE:
                    self._request(seat, lst, now)
                case Press.IGNORE:
                    self._ignored(seat, "mic-request", "mode")

    def _on_cancel(self, seat: int, now: float) -> None:
        if self._unit_seat(seat, "mic-cancel") is None:
            return
        turn = self._live.get(seat)
        if turn is not None:
            if turn.forced:
                self._ignored(seat, "mic-cancel", "forced-on")
            else:
                self._end(seat, now, "speaker")
        elif seat in self._lists.entry:
            self._dequeue(seat, "withdrawn")
        else:
            self._ignored(seat, "mic-cancel", "idle")

    def _on_talk(self, seat: int, held: bool, now: float) -> None:
        unit = self._unit_seat(seat, "talk")
        if unit is None:
            return
        turn = self._live.get(seat)
        if not held:
            # A release ends a talk turn whatever the mode is now; other releases mean nothing.
            if turn is not None and turn.origin is Origin.TALK:
                self._end(seat, now, "released")
            return
        if turn is not None:
            return
        if MODE_RULES[self._mode].opens_on_talk:
            self._open(unit, SpeakerList.SPEAK, Origin.TALK, now, AtCap.REFUSE)
        else:
            self._ignored(seat, "talk", "mode")

    def _on_voice(self, seat: int, level_db: float, now: float) -> None:
        unit = self._seats.get(seat)
        if unit is None or not unit.has_mic:
            return
        loud = level_db >= self._policy.voice_open_db
        turn = self._live.get(seat)
        if turn is not None:
            # Silence closes only what voice opened, whatever the mode is now.
            if turn.origin is Origin.VOICE:
                if loud:
                    turn.silent_since = None
                elif turn.silent_since is None:
                    turn.silent_since = now
            return
        if loud and MODE_RULES[self._mode].opens_on_voice:
            self._open(unit, SpeakerList.SPEAK, Origin.VOICE, now, AtCap.REFUSE, notify=False)

    def _on_chair_key(self, seat: int, held: bool, now: float) -> None:
        unit = self._unit_seat(seat, "priority")
        if unit is None:
            return
        if unit.mic_class is not MicClass.CHAIR:
            self._note("floor.priority-rejected", {"seat": seat, "reason": "not-a-chair-seat"})
            return
        self._set_priority(seat, held, now)

    # --- commands: validate everything first, then change state ----------------------------

    def _command_seat(self, seat: int) -> Seat:
        unit = self._seats.get(seat)
        if unit is None:
            raise CommandRejected("seat.not_found", seat=seat)
        if not unit.has_mic:
            raise CommandRejected("seat.no_microphone", seat=seat)
        return unit

    def _register(self, seat: int, lst: SpeakerList, now: float) -> None:
        self._command_seat(seat)
        if seat in self._live:
            raise CommandRejected("floor.already_speaking", seat=seat)
        if seat in self._lists.entry:
            waiting_on = self._lists.entry[seat][0]
            raise CommandRejected("floor.already_waiting", seat=seat, list=waiting_on.value)
        if len(self._lists.entry) >= self._policy.max_requests:
            raise CommandRejected("floor.lists_full", max=self._policy.max_requests)
        self._enqueue(seat, lst, now)

    def _grant(self, seat: int, lst: SpeakerList | None, now: float) -> None:
        unit = self._command_seat(seat)
        if seat in self._live:
            raise CommandRejected("floor.already_speaking", seat=seat)
        waiting = self._lists.entry.get(seat)
        if lst is None:
            lst = waiting[0] if waiting is not None else SpeakerList.SPEAK
        self._open(unit, lst, Origin.GRANT, now, AtCap.REPLACE_OLDEST)

    def _grant_next(
        self, lst: SpeakerList | None, now: float, *, handover: bool, add: bool
    ) -> None:
        if lst is None:
            seat = self._head()
        else:
            order = self._lists.order[lst]
            seat = order[0] if order else None
        if seat is None:
            if lst is None:
                raise CommandRejected("floor.nobody_waiting")
            raise CommandRejected("floor.nobody_waiting_on_list", list=lst.value)
        unit = self._command_seat(seat)
        if add and not handover and self._capped(unit) and len(self._counted) >= self._max_open:
            # "Add a microphone" never closes one: at the cap the chair hands over instead.
            raise CommandRejected("floor.at_cap", max=self._max_open)
        if handover:
            # The speakers hand over: every delegate microphone the rules govern closes
            # (never the chair's, a VIP's or one the technician forced), then the next opens.
            for s in [s for s, t in self._live.items() if self._rule_bound(t)]:
                self._end(s, now, "handed-over")
        self._grant(seat, None, now)

    def _revoke(self, seat: int | None, now: float) -> None:
        if seat is None:
            for s in [s for s, t in self._live.items() if self._revocable_by_all(t)]:
                self._end(s, now, "revoked")
            return
        if seat not in self._seats:
            raise CommandRejected("seat.not_found", seat=seat)
        if seat in self._live:
            self._end(seat, now, "revoked")
        elif seat in self._lists.entry:
            self._dequeue(seat, "revoked")
        else:
            raise CommandRejected("floor.not_speaking_or_waiting", seat=seat)

    def _set_mode(self, mode: MicMode, max_open: int | None, now: float) -> None:
        if max_open is not None and not MIN_OPEN_MICS <= max_open <= MAX_OPEN_MICS:
            raise CommandRejected("floor.cap_range", min=MIN_OPEN_MICS, max=MAX_OPEN_MICS)
        self._mode = mode
        if max_open is not None:
            self._max_open = max_open
        # A lower cap is honoured at once, by closing the microphones open longest.
        while len(self._counted) > self._max_open:
            self._end(next(iter(self._counted)), now, "cap-lowered")
        self._changed = True
        self._note("floor.mode", {"mode": mode.value, "max_open": self._max_open})

    def _set_time(self, lst: SpeakerList, seconds: float) -> None:
        if not (math.isfinite(seconds) and 0 <= seconds <= MAX_TURN_S):
            raise CommandRejected("floor.speaking_time_range", max_s=MAX_TURN_S)
        self._time_s[lst] = seconds
        self._changed = True
        self._note("floor.speaking-time", {"list": lst.value, "seconds": seconds})

    def _extend(self, seat: int, seconds: float, now: float) -> None:
        if not (math.isfinite(seconds) and 0 < seconds <= MAX_TURN_S):
            raise CommandRejected("floor.extension_range", max_s=MAX_TURN_S)
        if seat not in self._seats:
            raise CommandRejected("seat.not_found", seat=seat)
        turn = self._live.get(seat)
        if turn is None:
            raise CommandRejected("floor.not_speaking", seat=seat)
        end_at = turn.end_at
        if end_at is None:
            raise CommandRejected("floor.untimed", seat=seat)
        turn.limit_s += seconds
        end_at += seconds
        if turn.overtime and end_at > now:
            turn.overtime = False
        warning_s = self._policy.warning_s
        if turn.warned and not turn.overtime and (warning_s <= 0 or end_at - warning_s > now):
            turn.warned = False
        self._mark(seat)
        self._note(
            "floor.time-extended",
            {"seat": seat, "seconds": seconds, "time_left_s": max(0.0, end_at - now)},
        )

    def _override(self, seat: int, on: bool, now: float) -> None:
        self._command_seat(seat)
        turn = self._live.get(seat)
        self._note(
            "floor.override",
            {
                "seat": seat,
                "on": on,
                "delegate": self._delegate_of.get(seat),
                "was_live": turn is not None,
            },
        )
        if not on:
            if turn is not None:
                self._end(seat, now, "override")
            return
        if turn is None:
            waiting = self._lists.entry.get(seat)
            lst = waiting[0] if waiting is not None else SpeakerList.SPEAK
            self._start(seat, lst, Origin.OVERRIDE, now, forced=True)
        elif not turn.forced:
            # Taken out of the rules: no longer counted, timed or mutable by priority.
            turn.forced = True
            turn.counted = False
            turn.limit_s = 0.0
            turn.warned = turn.overtime = False
            self._counted.pop(seat, None)
            self._mark(seat)
            self._changed = True

    # --- chair priority -------------------------------------------------------------------

    def _priority_active(self) -> bool:
        return self._held_api or bool(self._held_seats)

    def _set_priority(self, seat: int | None, held: bool, now: float) -> None:
        was = self._priority_active()
        if seat is None:
            self._held_api = held
        elif held:
            self._held_seats[seat] = None
        else:
            self._held_seats.pop(seat, None)
        active = self._priority_active()
        if was == active:
            return
        self._changed = True
        for s in self._live:
            if self._seats[s].mic_class is MicClass.DELEGATE:
                self._mark(s)
        if active:
            self._notes.append(Chime())
            if self._policy.chair_priority is PriorityMode.ALL_OFF:
                for s in [s for s, t in self._live.items() if self._rule_bound(t)]:
                    self._end(s, now, "priority")
                self._clear_requests("priority")
        self._note(
            "floor.priority",
            {"active": active, "mode": self._policy.chair_priority.value, "seat": seat},
        )

    # --- timers ---------------------------------------------------------------------------

    def _due_times(self) -> Iterator[tuple[float, _Due, int]]:
        warning_s = self._policy.warning_s
        for turn in self._live.values():
            end_at = turn.end_at
            if end_at is not None and not turn.overtime:
                if warning_s > 0 and not turn.warned:
                    yield max(turn.start, end_at - warning_s), _Due.WARNING, turn.seat
                yield end_at, _Due.TIME_UP, turn.seat
            if turn.origin is Origin.VOICE and turn.silent_since is not None:
                yield turn.silent_since + self._policy.voice_hold_s, _Due.SILENCE, turn.seat

    def _advance(self, now: float) -> None:
        due = sorted(d for d in self._due_times() if d[0] <= now)
        for _at, kind, seat in due:
            turn = self._live.get(seat)
            if turn is None:
                continue  # ended by an earlier timer of this same tick
            match kind:
                case _Due.WARNING:
                    turn.warned = True
                    self._mark(seat)
                    end_at = turn.end_at
                    left = 0.0 if end_at is None else max(0.0, end_at - now)
                    self._note(
                        "floor.warning",
                        {"seat": seat, "delegate": turn.delegate_id, "time_left_s": left},
                    )
                case _Due.TIME_UP:
                    if self._policy.at_zero is AtZero.CUT:
                        self._end(seat, now, "time-up")
                    else:
                        turn.overtime = True
                        turn.warned = True
                        self._mark(seat)
                        self._note("floor.overtime", {"seat": seat, "delegate": turn.delegate_id})
                case _Due.SILENCE:
                    self._end(seat, now, "silence")

    # --- the moves every rule is made of ---------------------------------------------------

    def _clock(self, at: float) -> float:
        # Durations must never come out negative, even if a late input carries an older stamp.
        if math.isfinite(at) and at > self._now:
            self._now = at
        return self._now if math.isfinite(self._now) else 0.0

    def _capped(self, unit: Seat) -> bool:
        return unit.mic_class is MicClass.DELEGATE

    def _rule_bound(self, turn: _Turn) -> bool:
        """A delegate microphone that the floor's rules (priority, item switch) may close."""
        return self._seats[turn.seat].mic_class is MicClass.DELEGATE and not turn.forced

    def _revocable_by_all(self, turn: _Turn) -> bool:
        return self._seats[turn.seat].mic_class is not MicClass.CHAIR and not turn.forced

    def _muted(self, turn: _Turn) -> bool:
        return self._priority_active() and self._rule_bound(turn)

    def _open(
        self,
        unit: Seat,
        lst: SpeakerList,
        origin: Origin,
        now: float,
        at_cap: AtCap,
        *,
        notify: bool = True,
    ) -> None:
        seat = unit.number
        if not self._capped(unit) or len(self._counted) < self._max_open:
            self._start(seat, lst, origin, now)
            return
        match at_cap:
            case AtCap.QUEUE:
                self._request(seat, lst, now)
            case AtCap.REPLACE_OLDEST:
                self._end(next(iter(self._counted)), now, "replaced")
                self._start(seat, lst, origin, now)
            case AtCap.REFUSE:
                if notify:
                    self._note(
                        "floor.request-rejected",
                        {"seat": seat, "list": lst.value, "reason": "cap"},
                    )

    def _request(self, seat: int, lst: SpeakerList, now: float) -> None:
        if len(self._lists.entry) >= self._policy.max_requests:
            self._note(
                "floor.request-rejected", {"seat": seat, "list": lst.value, "reason": "list-full"}
            )
            return
        self._enqueue(seat, lst, now)

    def _enqueue(self, seat: int, lst: SpeakerList, now: float) -> None:
        order = self._lists.order[lst]
        order.append(seat)
        self._lists.entry[seat] = (lst, now)
        # Joining at the end moves nobody else: no list rebuild needed.
        self._pos[seat] = len(order)
        self._mark(seat)
        self._note(
            "floor.request-added",
            {
                "seat": seat,
                "delegate": self._delegate_of.get(seat),
                "list": lst.value,
                "position": len(order),
            },
        )

    def _dequeue(self, seat: int, reason: str) -> None:
        lst, _since = self._lists.entry.pop(seat)
        self._lists.order[lst].remove(seat)
        self._pos.pop(seat, None)
        self._dirty_lists.add(lst)
        self._mark(seat)
        self._note("floor.request-removed", {"seat": seat, "list": lst.value, "reason": reason})

    def _clear_requests(self, reason: str) -> None:
        if not self._lists.entry:
            return
        count = len(self._lists.entry)
        for seat in self._lists.entry:
            self._mark(seat)
        self._lists.entry.clear()
        for order in self._lists.order.values():
            order.clear()
        self._pos.clear()
        self._note("floor.requests-cleared", {"count": count, "reason": reason})

    def _start(
        self,
        seat: int,
        lst: SpeakerList,
        origin: Origin,
        now: float,
        *,
        forced: bool = False,
    ) -> None:
        if seat in self._lists.entry:
            self._dequeue(seat, "granted")
        counted = self._capped(self._seats[seat]) and not forced
        turn = _Turn(
            seat=seat,
            delegate_id=self._delegate_of.get(seat),
            on_list=lst,
            origin=origin,
            start=now,
            limit_s=self._time_s[lst] if counted else 0.0,
            counted=counted,
            forced=forced,
        )
        self._live[seat] = turn
        if counted:
            self._counted[seat] = None
        self._mark(seat)
        self._note(
            "floor.speech-started",
            {
                "seat": seat,
                "delegate": turn.delegate_id,
                "list": lst.value,
                "origin": origin.value,
                "started": now,
                "limit_s": turn.limit_s,
                "forced": forced,
            },
        )
        if 0 < turn.limit_s <= self._policy.warning_s:
            # A turn shorter than the warning is nearly up from its first second.
            turn.warned = True
            self._note(
                "floor.warning",
                {"seat": seat, "delegate": turn.delegate_id, "time_left_s": turn.limit_s},
            )

    def _end(self, seat: int, now: float, reason: str) -> None:
        turn = self._live.pop(seat)
        self._counted.pop(seat, None)
        end_at = turn.end_at
        overtime = 0.0 if end_at is None else max(0.0, now - end_at)
        speech = Speech(
            seat=seat,
            delegate_id=turn.delegate_id,
            list=turn.on_list,
            start=turn.start,
            end=now,
            overtime_s=overtime,
            forced=turn.forced,
        )
        self.speeches.append(speech)
        if turn.delegate_id is not None:
            d = turn.delegate_id
            self._done_s[d] = self._done_s.get(d, 0.0) + speech.duration_s
            self._done_turns[d] = self._done_turns.get(d, 0) + 1
            group = self._group_of.get(d, "")
            if group:
                self._done_group_s[group] = self._done_group_s.get(group, 0.0) + speech.duration_s
        self._mark(seat)
        self._note(
            "floor.speech-ended",
            {
                "seat": seat,
                "delegate": turn.delegate_id,
                "list": turn.on_list.value,
                "start": turn.start,
                "end": now,
                "duration_s": speech.duration_s,
                "overtime_s": overtime,
                "forced": turn.forced,
                "reason": reason,
            },
        )

    def _serve_queue(self, now: float) -> None:
        if not MODE_RULES[self._mode].serve_queue:
            return
        while len(self._counted) < self._max_open:
            seat = self._head()
            if seat is None:
                return
            self._start(seat, self._lists.entry[seat][0], Origin.QUEUE, now)

    def _head(self) -> int | None:
        for lst in GRANT_ORDER:
            order = self._lists.order[lst]
            if order:
                return order[0]
        return None

    def _mark(self, seat: int) -> None:
        self._dirty[seat] = None
        self._changed = True

    def _note(self, topic: str, data: dict[str, Any]) -> None:
        self._notes.append(Notification(topic, data))

    def _ignored(self, seat: int, kind: str, reason: str) -> None:
        self._note("floor.input-ignored", {"seat": seat, "input": kind, "reason": reason})

    # --- from state to effects ------------------------------------------------------------

    def _ring_for(self, seat: int, head: int | None) -> tuple[RingState, int]:
        turn = self._live.get(seat)
        if turn is not None:
            if self._muted(turn):
                return (RingState.PRIORITY, 0)
            if turn.warned or turn.overtime:
                return (RingState.WARNING, 0)
            return (RingState.LIVE, 0)
        if seat in self._lists.entry:
            if seat == head:
                return (RingState.NEXT, 1)
            return (RingState.QUEUED, self._pos[seat])
        return _OFF

    def _flush(self, reason: str, now: float) -> list[Effect]:
        self._serve_queue(now)
        # Someone left the middle of a list: everyone behind moves up one place.
        for lst in sorted(self._dirty_lists):
            for position, seat in enumerate(self._lists.order[lst], 1):
                if self._pos.get(seat) != position:
                    self._pos[seat] = position
                    self._dirty[seat] = None
        head = self._head()
        if head != self._head_shown:
            for moved in (self._head_shown, head):
                if moved is not None:
                    self._dirty[moved] = None
            self._head_shown = head

        switch_off: list[Effect] = []
        switch_on: list[Effect] = []
        rings: list[Effect] = []
        for seat in self._dirty:
            turn = self._live.get(seat)
            mic = turn is not None and not self._muted(turn)
            if mic != (seat in self._mic_shown):
                if mic:
                    self._mic_shown.add(seat)
                    switch_on.append(MicSwitch(seat=seat, on=True))
                else:
                    self._mic_shown.discard(seat)
                    switch_off.append(MicSwitch(seat=seat, on=False))
            ring = self._ring_for(seat, head)
            if ring != self._ring_shown.get(seat, _OFF):
                if ring == _OFF:
                    del self._ring_shown[seat]
                else:
                    self._ring_shown[seat] = ring
                rings.append(RingShow(seat=seat, state=ring[0], position=ring[1]))

        # Off before on, so a hall's amplifier never sees more open microphones than allowed.
        effects = switch_off + switch_on + rings + self._notes
        if self._changed:
            effects.append(Notification("floor.changed", self._summary(reason)))
        self._dirty = {}
        self._dirty_lists = set()
        self._notes = []
        self._changed = False
        return effects

    def _summary(self, reason: str) -> dict[str, Any]:
        return {
            "reason": reason,
            "item": self._item,
            "mode": self._mode.value,
            "live": list(self._live),
            "waiting": {lst.value: list(self._lists.order[lst]) for lst in GRANT_ORDER},
            "priority": self._priority_active(),
        }
