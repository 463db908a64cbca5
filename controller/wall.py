"""The display wall's view as the MQTT wall messages.

`wall_messages(view, hall, now=..., unix_offset=...)` turns the read model's wall view
(`controller.core.view`, `Audience.WALL`: what the stream sends with `view=wall`) into one
message per wall topic of the MQTT contract
(`protocols.mqtt`: WallSitting, WallItem, WallAttendance, WallVote, WallResult, WallSeats,
WallFloor), or None where the wall should show nothing and the retained topic is to be cleared.
The MQTT driver publishes them retained; `wall_changes` says which topics differ from what was
last published, so a countdown that merely runs on is not sent again.

The web wall (`controller/static/wall/`) shows the same view. Which vote the wall shows, and
how in its state (its countdown, its totals or none, its seat map, its result), is decided
once, in the view (`controller.core.view.shown_vote` and `wall_show`); here it is the view's
`vote` and `show`, and nothing below works out a vote's life cycle again.

Secret ballots, and votes whose running totals are hidden (`live_totals`): while such a vote
is prepared, open or on hold its totals are None, and its seat map never carries a key, only
absent / present / voted (the view's `show.voted_seats`); the snapshot itself holds no seat's
choice for a secret vote, and nothing here could add one. A result carries each answer's share
of the total delegates as the view words it (`show.text`, in the hall's language).

Times: the daemon's clock is monotonic, the contract's deadlines are Unix time. The caller
passes the daemon clock's `now` and a fixed `unix_offset` (Unix time minus daemon time, taken
once), so the same deadline always maps to the same Unix time.

Pure: no I/O, no clock, no asyncio. Missing or unexpected keys in the view are tolerated
(the view grows as the core grows); a view that is not a JSON object at all, or a value of the
wrong type where a message needs it, raises `WallStateError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from chamber.controller.core.model import Hall, Language
from chamber.protocols.mqtt import Message as WallMessage
from chamber.protocols.mqtt import (
    MessageKind,
    MicMode,
    SeatMark,
    SittingState,
    Speaker,
    SpeakerList,
    VoteMode,
    VoteState,
    Waiting,
    WallAttendance,
    WallFloor,
    WallItem,
    WallResult,
    WallSeats,
    WallSitting,
    WallVote,
)

# Every wall topic, in the order a wall that starts from nothing is best served.
WALL_KINDS: tuple[MessageKind, ...] = (
    MessageKind.WALL_SITTING,
    MessageKind.WALL_ITEM,
    MessageKind.WALL_ATTENDANCE,
    MessageKind.WALL_VOTE,
    MessageKind.WALL_RESULT,
    MessageKind.WALL_SEATS,
    MessageKind.WALL_FLOOR,
)

# The core's vote states, as the wall contract spells them.
_VOTE_STATE = {
    "prepared": VoteState.PREPARED,
    "open": VoteState.OPEN,
    "hold": VoteState.HELD,
    "closed": VoteState.CLOSED,
    "published": VoteState.PUBLISHED,
    "cancelled": VoteState.CANCELLED,
    # The wall contract has no word for a result the chair annulled (hủy kết quả): like a
    # cancelled vote, it ended with no result that stands, and the wall shows none.
    "annulled": VoteState.CANCELLED,
}

# The order in which the floor serves its lists (the core's GRANT_ORDER): the wall's waiting
# list reads top to bottom as the chair's "next" will take it.
_SERVE_ORDER = ("reply", "question", "speak")

# Schema limits of the contract (firmware_specs/schemas/wall-*.json).
_ID_MAX = 64
_TITLE_MAX = 1000
_SITTING_TITLE_MAX = 500
_NAME_MAX = 200
_ANSWER_MAX = 100
_SHARE_MAX = 200
_SPEAKERS_MAX = 64
_WAITING_MAX = 250

_SEAT_WORD = {Language.VI: "Ghế", Language.EN: "Seat"}
# The wall contract has no field for a practice vote (biểu quyết thử): its title says so.
_PRACTICE_WORD = {Language.VI: "Biểu quyết thử", Language.EN: "Practice vote"}


def _title(vote: Mapping[str, Any], show: Mapping[str, Any], language: Language) -> str:
    title = _str(vote.get("title", ""), "vote.title")
    if show.get("practice"):
        title = f"{_PRACTICE_WORD.get(language, 'Practice vote')}: {title}"
    return _clip(title, _TITLE_MAX)


class WallStateError(ValueError):
    """The state cannot be read as the daemon's state snapshot; the message says where."""


WallSet = dict[MessageKind, WallMessage | None]


def wall_messages(
    state: Mapping[str, Any], hall: Hall, *, now: float, unix_offset: float
) -> WallSet:
    """One message (or None: clear the topic) per wall topic, for the state at daemon time `now`.

    `unix_offset` is Unix time minus daemon time; deadlines go out as `deadline + unix_offset`.
    """
    if not isinstance(state, Mapping):
        raise WallStateError(f"the state is a {type(state).__name__}, not a JSON object")
    names = {d.id: d.name for d in hall.delegates}
    seat_word = _SEAT_WORD.get(hall.language, "Seat")
    vote = current_vote(state)
    show = None if vote is None else _map(state.get("show"), "show")
    return {
        MessageKind.WALL_SITTING: _sitting(state),
        MessageKind.WALL_ITEM: _item(state),
        MessageKind.WALL_ATTENDANCE: _attendance(state, hall),
        MessageKind.WALL_VOTE: _vote(vote, show, now, unix_offset, hall.language),
        MessageKind.WALL_RESULT: _result(vote, show, hall.language),
        MessageKind.WALL_SEATS: _seats(vote, show, state, hall),
        MessageKind.WALL_FLOOR: _floor(state, names, seat_word, now, unix_offset),
    }


def wall_changes(
    before: Mapping[MessageKind, WallMessage | None],
    after: Mapping[MessageKind, WallMessage | None],
) -> list[tuple[MessageKind, WallMessage | None]]:
    """The topics whose message differs, in `WALL_KINDS` order.

    A running countdown's `remaining_s` is left out of the comparison: the wall counts down
    from `deadline` by itself, and re-sending every second would only load the broker.
    """
    changed = []
    for kind in WALL_KINDS:
        if kind not in after:
            continue
        new = after[kind]
        if kind not in before or _comparable(before[kind]) != _comparable(new):
            changed.append((kind, new))
    return changed


def current_vote(view: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The vote the wall shows, as the view chose it (`controller.core.view.shown_vote`)."""
    vote = view.get("vote")
    return None if vote is None else _map(vote, "vote")


# --- one topic each ---------------------------------------------------------------------------


def _sitting(state: Mapping[str, Any]) -> WallSitting | None:
    sitting = _map(state.get("sitting"), "sitting")
    if sitting.get("open") and sitting.get("sitting_id"):
        return WallSitting(
            state=SittingState.OPEN,
            id=_clip(_str(sitting["sitting_id"], "sitting.sitting_id"), _ID_MAX),
            title=_clip(_str(sitting.get("title", ""), "sitting.title"), _SITTING_TITLE_MAX),
        )
    last = state.get("last_sitting")
    if last is None:
        return None
    last = _map(last, "last_sitting")
    return WallSitting(
        state=SittingState.CLOSED,
        id=_clip(_str(last.get("sitting_id", ""), "last_sitting.sitting_id"), _ID_MAX),
        title=_clip(_str(last.get("title", ""), "last_sitting.title"), _SITTING_TITLE_MAX),
    )


def _item(state: Mapping[str, Any]) -> WallItem | None:
    """The item the view's header names (the shown vote's own, `view.wall_item`); a view
    without one names the current item."""
    shown = state.get("item")
    if shown is not None:
        item = _map(shown, "item")
        return WallItem(
            id=_clip(_str(item.get("id"), "item.id"), _ID_MAX),
            title=_clip(_str(item.get("title", ""), "item.title"), _TITLE_MAX),
            number=_count(item.get("number"), "item.number"),
            count=_count(item.get("count"), "item.count"),
        )
    sitting = _map(state.get("sitting"), "sitting")
    current = sitting.get("current_item")
    agenda = [a for a in _list(sitting.get("agenda"), "sitting.agenda") if isinstance(a, Mapping)]
    for number, item in enumerate(agenda, start=1):
        if item.get("id") == current and current is not None:
            return WallItem(
                id=_clip(_str(current, "sitting.current_item"), _ID_MAX),
                title=_clip(_str(item.get("title", ""), "agenda.title"), _TITLE_MAX),
                number=number,
                count=len(agenda),
            )
    return None


def _attendance(state: Mapping[str, Any], hall: Hall) -> WallAttendance:
    quorum = _map(state.get("quorum"), "quorum")
    attendance = _map(state.get("attendance"), "attendance")
    registration = _map(attendance.get("registration"), "attendance.registration")
    return WallAttendance(
        registration_open=bool(registration.get("open", False)),
        present=_count(quorum.get("present", 0), "quorum.present"),
        members=hall.body.members,
        needed=_count(quorum.get("required", 0), "quorum.required"),
        quorum=bool(quorum.get("quorate", False)),
    )


def _vote(
    vote: Mapping[str, Any] | None,
    show: Mapping[str, Any] | None,
    now: float,
    unix_offset: float,
    language: Language,
) -> WallVote | None:
    """The vote topic, as the view's `show` says to show the vote in its state."""
    if vote is None or show is None:
        return None
    core_state = _str(vote.get("state"), "vote.state")
    wall_state = _VOTE_STATE.get(core_state)
    if wall_state is None:
        raise WallStateError(f"vote.state: unknown state {core_state!r}")
    raw = show.get("counts")
    totals = None if raw is None else tuple(_count(t, "show.counts") for t in _list(raw, "show"))
    deadline = _number_or_none(show.get("deadline"), "show.deadline")
    if deadline is not None:
        remaining: float | None = max(deadline - now, 0.0)
        wall_deadline: float | None = max(deadline + unix_offset, 0.0)
    else:
        # Stopped (prepared, on hold): the time left as the core froze it; over: none.
        countdown = _number_or_none(show.get("countdown_s"), "show.countdown_s")
        remaining = max(countdown, 0.0) if countdown is not None else None
        wall_deadline = None
    tally = _map(vote.get("tally"), "vote.tally")
    return WallVote(
        state=wall_state,
        id=_clip(_str(vote.get("vote_id"), "vote.vote_id"), _ID_MAX),
        title=_title(vote, show, language),
        mode=_mode(vote),
        answers=_answers(vote),
        voted=_count(tally.get("voted", 0), "vote.tally.voted"),
        entitled=_count(show.get("electorate", 0), "show.electorate"),
        deadline=wall_deadline,
        remaining_s=remaining,
        warning=bool(show.get("warning", False)),
        totals=totals,
    )


def _result(
    vote: Mapping[str, Any] | None, show: Mapping[str, Any] | None, language: Language
) -> WallResult | None:
    if vote is None or show is None or not show.get("decided") or vote.get("result") is None:
        return None
    result = _map(vote.get("result"), "vote.result")
    outcome = _map(result.get("outcome"), "vote.result.outcome")
    counts = tuple(
        _count(_map(t, "vote.result.totals").get("count"), "vote.result.totals.count")
        for t in _list(result.get("totals"), "vote.result.totals")
    )
    text = _map(_map(show.get("text"), "show.text").get(language.value), "show.text")
    shares = tuple(
        _clip(_str(s, "show.text.lines"), _SHARE_MAX) for s in _list(text.get("lines"), "lines")
    )
    present = result.get("present")
    members = result.get("all_members")
    return WallResult(
        vote_id=_clip(_str(vote.get("vote_id"), "vote.vote_id"), _ID_MAX),
        title=_title(vote, show, language),
        passed=bool(outcome.get("adopted", False)),
        answers=_answers(vote),
        totals=counts,
        did_not_vote=_count(result.get("did_not_vote", 0), "vote.result.did_not_vote"),
        rule=_clip(_str(outcome.get("rule", vote.get("rule", "")), "outcome.rule"), _ID_MAX),
        base=_count(outcome.get("base_count", 0), "vote.result.outcome.base_count"),
        needed=_count(outcome.get("required", 0), "vote.result.outcome.required"),
        explanation=_clip(_str(outcome.get("explanation", ""), "outcome.explanation"), _TITLE_MAX),
        shares=shares if len(shares) == len(counts) else None,
        present=None if present is None else _count(present, "vote.result.present"),
        members=None if members is None else _count(members, "vote.result.all_members"),
    )


def _seats(
    vote: Mapping[str, Any] | None,
    show: Mapping[str, Any] | None,
    state: Mapping[str, Any],
    hall: Hall,
) -> WallSeats | None:
    if vote is None or show is None or not show.get("seat_map"):
        return None
    mode = _mode(vote)
    attendance = _map(state.get("attendance"), "attendance")
    present = _counts(attendance.get("present_seats"), "attendance.present_seats")
    result = vote.get("result")
    keys: dict[int, int] = {}
    voted: set[int] = set()
    if isinstance(result, Mapping):
        voted = _counts(result.get("participants"), "vote.result.participants")
    else:
        # While the totals are hidden (a secret vote, or one without live totals): who has
        # voted, without their keys (the view's `show.voted_seats`).
        voted = _counts(show.get("voted_seats"), "show.voted_seats")
    if mode is not VoteMode.SECRET:
        # The view gives a secret vote's seats no choices; never take them even so.
        keys = _choices(show.get("choices", []))
    marks: list[tuple[int, int | SeatMark]] = []
    for number in _voting_keypads(hall):
        key = keys.get(number)
        mark: int | SeatMark
        if key is not None and 1 <= key <= 10:
            mark = key
        elif number in voted:
            mark = SeatMark.VOTED
        elif number in present:
            mark = SeatMark.PRESENT
        else:
            mark = SeatMark.ABSENT
        marks.append((number, mark))
    return WallSeats(
        vote_id=_clip(_str(vote.get("vote_id"), "vote.vote_id"), _ID_MAX),
        mode=mode,
        seats=tuple(marks),
    )


# The seats of a hall whose keypad counts on the wall's map (a voting member's), in order; by
# hall, kept with the hall itself (an id is unique only while its object lives).
_KEYPADS: dict[int, tuple[Hall, tuple[int, ...]]] = {}


def _voting_keypads(hall: Hall) -> tuple[int, ...]:
    kept = _KEYPADS.get(id(hall))
    if kept is not None and kept[0] is hall:
        return kept[1]
    voting = {d.id for d in hall.delegates if d.voting}
    numbers = tuple(
        seat.number
        for seat in sorted(hall.seats, key=lambda s: s.number)
        if seat.has_keypad and seat.delegate in voting
    )
    if len(_KEYPADS) > 16:
        _KEYPADS.clear()
    _KEYPADS[id(hall)] = (hall, numbers)
    return numbers


def _counts(value: Any, where: str) -> set[int]:
    """A list of counts (seat numbers) as a set; checked as a whole, at C speed where it can be
    (at 4,096 seats this runs four times a second), and item by item to say what is wrong."""
    items = _list(value, where)
    if not items or (set(map(type, items)) == {int} and min(items) >= 0):
        return set(items)
    return {_count(s, where) for s in items}


def _choices(value: Any) -> dict[int, int]:
    """`show.choices`: seat -> key."""
    items = _list(value, "show.choices")
    if not items or set(map(type, items)) == {dict}:
        try:
            keys = {c["seat"]: c["key"] for c in items}
        except KeyError:
            keys = {}
        else:
            if not keys or (
                set(map(type, keys)) == {int}
                and set(map(type, keys.values())) == {int}
                and min(keys) >= 0
                and min(keys.values()) >= 0
            ):
                return keys
    keys = {}
    for choice in items:
        c = _map(choice, "show.choices")
        keys[_count(c.get("seat"), "choice.seat")] = _count(c.get("key"), "choice.key")
    return keys


def _floor(
    state: Mapping[str, Any],
    names: Mapping[str, str],
    seat_word: str,
    now: float,
    unix_offset: float,
) -> WallFloor | None:
    floor = state.get("floor")
    if floor is None:
        return None
    floor = _map(floor, "floor")
    mode_text = _str(floor.get("mode", "request"), "floor.mode")
    try:
        mode = MicMode(mode_text)
    except ValueError:
        raise WallStateError(f"floor.mode: unknown mode {mode_text!r}") from None
    taken_at = _number_or_none(floor.get("at"), "floor.at")

    def name(seat: int, delegate: Any) -> str:
        if isinstance(delegate, str) and delegate in names:
            return _clip(names[delegate], _NAME_MAX)
        return f"{seat_word} {seat}"

    speakers = []
    for raw in _list(floor.get("live"), "floor.live")[:_SPEAKERS_MAX]:
        turn = _map(raw, "floor.live")
        seat = _count(turn.get("seat"), "floor.live.seat")
        left = _number_or_none(turn.get("time_left_s"), "floor.live.time_left_s")
        deadline: float | None = None
        remaining: float | None = None
        overtime = False
        if left is not None and taken_at is not None:
            over = _number_or_none(turn.get("overtime_s"), "floor.live.overtime_s") or 0.0
            # The snapshot's times are as of its own `at`; carry them to `now`.
            end_at = taken_at + left - over
            remaining = max(end_at - now, 0.0)
            overtime = now > end_at
            deadline = max(end_at + unix_offset, 0.0)
        speakers.append(
            Speaker(
                seat=seat,
                name=name(seat, turn.get("delegate")),
                list=_speaker_list(turn.get("list")),
                deadline=deadline,
                remaining_s=remaining,
                overtime=overtime,
            )
        )
    waiting_lists = _map(floor.get("waiting", {}), "floor.waiting")
    waiting: list[Waiting] = []
    for list_name in _SERVE_ORDER:
        for raw in _list(waiting_lists.get(list_name, []), f"floor.waiting.{list_name}"):
            entry = _map(raw, "floor.waiting")
            seat = _count(entry.get("seat"), "floor.waiting.seat")
            waiting.append(
                Waiting(
                    seat=seat,
                    name=name(seat, entry.get("delegate")),
                    list=SpeakerList(list_name),
                )
            )
    return WallFloor(mode=mode, speakers=tuple(speakers), waiting=tuple(waiting[:_WAITING_MAX]))


# --- reading the state defensively ------------------------------------------------------------


def _comparable(message: WallMessage | None) -> Any:
    if isinstance(message, WallVote) and message.deadline is not None:
        return dataclasses.replace(message, remaining_s=None)
    if isinstance(message, WallFloor):
        return dataclasses.replace(
            message,
            speakers=tuple(
                dataclasses.replace(s, remaining_s=None) if s.deadline is not None else s
                for s in message.speakers
            ),
        )
    return message


def _mode(vote: Mapping[str, Any]) -> VoteMode:
    text = _str(vote.get("mode", "open"), "vote.mode")
    try:
        return VoteMode(text)
    except ValueError:
        raise WallStateError(f"vote.mode: unknown mode {text!r}") from None


def _answers(vote: Mapping[str, Any]) -> tuple[str, ...]:
    options = _list(vote.get("options"), "vote.options")
    return tuple(_clip(_str(o, "vote.options"), _ANSWER_MAX) for o in options[:10])


def _speaker_list(value: Any) -> SpeakerList:
    try:
        return SpeakerList(value)
    except ValueError:
        raise WallStateError(f"floor: unknown speakers' list {value!r}") from None


def _map(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise WallStateError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise WallStateError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise WallStateError(f"{where}: expected text, got {type(value).__name__}")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WallStateError(f"{where}: expected a count, got {value!r}")
    return value


def _number_or_none(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WallStateError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _clip(text: str, limit: int) -> str:
    """Fit the contract's length limit; a cut title ends with an ellipsis, not mid-word noise."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
