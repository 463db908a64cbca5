"""The read model: one view of the hall per audience, projected from the core's public state.

Every face of the daemon reads the hall through here: the stream (a view, then patches to it,
`controller/core/patch.py`), `GET /api/state`, `GET /api/results`, the web wall and its MQTT
twin. What each audience may see is decided here, once:

- `chair` (the chair's and the secretary's tokens) and `technician`: the whole state, with the
  units' and lines' health;
- `observer` (the public): the same without the health;
- `wall` (the display wall, web or MQTT, open to every token): only what a wall shows, with the
  vote it shows already chosen (`vote`: the one holding the keypads, else the latest vote of
  the current agenda item).

No view holds a seat's choice in a secret vote (the core's snapshot has none: only how many
have voted while it runs, and after the close who took part, as the hall's law allows). The
fields of each view are listed in docs/stream.md.

Pure: no I/O, no clock. The views are plain JSON (dicts, lists, text, numbers), typed below
with TypedDicts for the top level; their parts are the core's own JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

from chamber.controller.core.model import Language
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.core.triage import Triage, forced_mics, triage
from chamber.controller.core.wall_text import WallText, vote_text


class Audience(StrEnum):
    CHAIR = "chair"
    TECHNICIAN = "technician"
    OBSERVER = "observer"
    WALL = "wall"


# The audience of each API role (controller.auth.Role's values).
AUDIENCE_OF_ROLE: Mapping[str, Audience] = {
    "chair": Audience.CHAIR,
    "secretary": Audience.CHAIR,
    "technician": Audience.TECHNICIAN,
    "observer": Audience.OBSERVER,
}
# Views any token may ask for instead of its own: they show less than any role's own view.
PUBLIC_AUDIENCES = frozenset({Audience.OBSERVER, Audience.WALL})
STAFF_AUDIENCES = frozenset({Audience.CHAIR, Audience.TECHNICIAN})


def audience_for(role: str, wanted: str | None = None) -> Audience | None:
    """The audience a token of `role` is served: its own, or a public one it asks for
    (`wanted`); None when it asks for a view it may not see."""
    own = AUDIENCE_OF_ROLE.get(role, Audience.OBSERVER)
    if wanted is None or wanted == own.value:
        return own
    try:
        asked = Audience(wanted)
    except ValueError:
        return None
    return asked if asked in PUBLIC_AUDIENCES else None


class HallInfo(TypedDict):
    id: str
    name: str
    short_name: str
    members: int
    language: str
    # A training hall (`[hall] training`): every face shows "ĐÀO TẠO / TRAINING". Absent: false.
    training: NotRequired[bool]


class Health(TypedDict):
    lines: list[dict[str, Any]]
    units: list[dict[str, Any]]


class PublicView(TypedDict):
    """The observer's view: the meeting as the core states it, without the units' health."""

    hall: HallInfo
    now: float
    language: str
    sitting: dict[str, Any]
    attendance: dict[str, Any]
    quorum: dict[str, Any]
    active_vote: str | None
    # The vote the wall shows (see `shown_vote`), by id; None when it shows none.
    shown_vote: str | None
    votes: list[dict[str, Any]]
    results: list[dict[str, Any]]
    sittings: list[dict[str, Any]]
    floor: dict[str, Any]


class StaffView(PublicView):
    """The chair's and the technician's view: all of the observer's, and the health."""

    health: Health
    # The lines worst first, the units by trouble, the faults, the forced microphones
    # (`controller/core/triage.py`).
    triage: Triage


class WallView(TypedDict):
    """What a display wall shows, and nothing else."""

    # The wall's screen (`wall_screen`): "vote" (a vote to come, open or on hold), "speech"
    # (someone has the floor; the last result shrinks to a line), "result", or "idle" (the
    # agenda, the attendance map, the date and the clock).
    screen: str
    hall: HallInfo
    now: float
    language: str
    sitting: dict[str, Any]
    # The agenda item the wall's header names: the shown vote's own item, else the current
    # one; None when there is none.
    item: WallItem | None
    # The last sitting held, for a wall between sittings; None before the first.
    last_sitting: dict[str, Any] | None
    attendance: dict[str, Any]
    quorum: dict[str, Any]
    # The vote the wall shows, whole; None when it shows none.
    vote: dict[str, Any] | None
    # How the wall shows that vote (`WallShow`), decided here so that no wall works out a
    # vote's states itself; None when it shows none.
    show: WallShow | None
    floor: dict[str, Any]


class WallItem(TypedDict):
    """An agenda item as the wall's header names it: "Nội dung 2/3"."""

    id: str
    title: str
    # The item's English title when the sitting gives one, else "".
    title_en: str
    number: int
    count: int


class WallShow(TypedDict):
    """What a wall shows of its vote, by the vote's state."""

    # Prepared, open or on hold: the countdown and the count of those who voted are up.
    live: bool
    # Closed or published: the result is up.
    decided: bool
    # The count's denominator, the vote's one electorate figure (`snapshots.electorate`):
    # voted + did not vote once decided.
    electorate: int
    # The totals per answer to show (the result's once decided, the running ones while it
    # runs), or None: a secret vote's stay hidden until it closes, a cancelled vote has none.
    counts: list[int] | None
    # A vote that runs with its totals hidden (a secret vote, or one the hall or the vote
    # keeps without live totals, `live_totals`): the wall says the totals come at the close,
    # and shows neither the totals nor any seat's key until then.
    totals_hidden: bool
    # The seat map is up (not while prepared or cancelled); `choices` are its seats' keys,
    # never any for a secret vote nor while the totals are hidden.
    seat_map: bool
    choices: list[dict[str, int]]
    # While the vote runs with its totals hidden: the seats that have voted, without their
    # keys (a who-has-voted map beside a count, never beside moving totals); else empty.
    voted_seats: list[int]
    # The bars' scale: the count the rule is reckoned over (the result's base once decided,
    # else the electorate the rule will use), so a bar's length is its share of that base;
    # `bar_mark` is the count needed, marked on the scale (None: known only at the close).
    bar_base: int
    bar_mark: int | None
    # The vote's words and figures per language ("vi", "en"): `controller/core/wall_text.py`.
    text: dict[str, WallText]
    # Once decided: the seats of the electorate at the close that did not vote, which the
    # seat map marks "Không tham gia" (before the close a seat that has not voted yet is
    # only that); empty until then.
    did_not_vote: list[int]
    # The countdown: it runs to `deadline` (daemon time) while open, else stands at
    # `countdown_s` (on hold, prepared); None when there is none to show.
    deadline: float | None
    countdown_s: float | None
    warning: bool
    held: bool
    # A practice vote (biểu quyết thử): the wall says so; it decides nothing.
    practice: bool
    # The chair annulled the vote (hủy kết quả): the wall says so and shows no totals.
    annulled: bool


View = StaffView | PublicView | WallView

_LIVE = frozenset({"prepared", "open", "hold"})
_DECIDED = frozenset({"closed", "published"})


def totals_hidden(vote: Mapping[str, Any]) -> bool:
    """The wall keeps `vote`'s running totals and seats' keys hidden: it runs (prepared, open
    or on hold) and is secret or kept without live totals (`live_totals`)."""
    return vote.get("state") in _LIVE and (
        vote.get("mode") == "secret" or not vote.get("live_totals", True)
    )


def wall_show(vote: Mapping[str, Any], quorum: Mapping[str, Any], members: int = 0) -> WallShow:
    """How a wall shows `vote` (a vote of the core's snapshot) in its state; `members` is the
    body's total delegates, the base of the shares the wall reads out."""
    state = vote.get("state")
    secret = vote.get("mode") == "secret"
    hidden = totals_hidden(vote)
    result = vote.get("result") if state in _DECIDED else None
    tally = vote.get("tally") or {}
    counts: list[int] | None = None
    if isinstance(result, Mapping):
        counts = [int(t.get("count", 0)) for t in result.get("totals", [])]
    elif (
        state not in ("cancelled", "annulled")
        and not hidden
        and isinstance(tally.get("totals"), list)
    ):
        counts = [int(c) for c in tally["totals"]]
    electorate = int(vote.get("electorate", 0))
    raw_choices = result.get("choices", []) if isinstance(result, Mapping) else vote.get("choices")
    # The vote's own list when it is one (views are read, never changed in place): the
    # stream's differ then compares it once for the vote and the wall (`patch.Memo`).
    choices: list[Any] = []
    voted_seats: list[int] = []
    if hidden:
        if secret:
            voted_seats = [int(s) for s in tally.get("voted_seats") or []]
        else:
            voted_seats = [int(c["seat"]) for c in raw_choices or [] if isinstance(c, Mapping)]
    elif not secret:
        choices = raw_choices if isinstance(raw_choices, list) else list(raw_choices or [])
    live = state in _LIVE
    needed = vote.get("needed") or {}
    if isinstance(result, Mapping):
        outcome = result.get("outcome") or {}
        bar_base = int(outcome.get("base_count", 0))
        bar_mark: int | None = int(outcome.get("required", 0))
    else:
        of, need = needed.get("of"), needed.get("needed")
        bar_base = int(of) if isinstance(of, int) else electorate
        bar_mark = int(need) if isinstance(need, int) else None
    return {
        "live": live,
        "decided": isinstance(result, Mapping),
        "electorate": electorate,
        "counts": counts,
        "totals_hidden": hidden and state in ("open", "hold"),
        "seat_map": state not in ("prepared", "cancelled"),
        "choices": choices,
        "voted_seats": voted_seats,
        "bar_base": bar_base,
        "bar_mark": bar_mark,
        "text": {
            lang.value: vote_text(vote, counts, electorate, members, lang) for lang in Language
        },
        "did_not_vote": (
            [int(x) for x in result.get("did_not_vote_seats") or []]
            if isinstance(result, Mapping)
            else []
        ),
        "deadline": vote.get("deadline") if state == "open" else None,
        "countdown_s": vote.get("countdown_s") if live else None,
        "warning": bool(vote.get("warned")) and state == "open",
        "held": state == "hold",
        "practice": bool(vote.get("practice")),
        "annulled": state == "annulled",
    }


def shown_vote(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The vote the wall shows: the one holding the keypads, else the latest vote of the
    current agenda item (its result stays up until the hall moves on to another item)."""
    votes: list[Mapping[str, Any]] = list(state.get("votes") or ())
    active = state.get("active_vote")
    if active is not None:
        for vote in votes:
            if vote.get("vote_id") == active:
                return vote
    sitting = state.get("sitting") or {}
    item = sitting.get("current_item")
    for vote in reversed(votes):
        if vote.get("item_id") in (item, None):
            found: Mapping[str, Any] = vote
            return found
    return None


def wall_item(sitting: Mapping[str, Any], vote: Mapping[str, Any] | None) -> WallItem | None:
    """The agenda item the wall's header names: `vote`'s own item when it has one on the
    agenda, else the current item; None when neither is on the agenda."""
    agenda = [a for a in sitting.get("agenda") or () if isinstance(a, Mapping)]
    wanted = [vote.get("item_id")] if vote is not None else []
    wanted.append(sitting.get("current_item"))
    for item_id in wanted:
        if item_id is None:
            continue
        for number, item in enumerate(agenda, start=1):
            if item.get("id") == item_id:
                return {
                    "id": str(item_id),
                    "title": str(item.get("title", "")),
                    "title_en": str(item.get("title_en", "") or ""),
                    "number": number,
                    "count": len(agenda),
                }
    return None


def wall_screen(show: WallShow | None, floor: Mapping[str, Any]) -> str:
    """The wall's screen: a running vote's above all, then a speech, then the shown vote's
    end (its result, or that it was cancelled or annulled), else idle."""
    if show is not None and show["live"]:
        return "vote"
    if floor.get("live"):
        return "speech"
    return "result" if show is not None else "idle"


def _wall_vote(vote: Mapping[str, Any]) -> dict[str, Any]:
    """The shown vote as the wall view carries it: whole, less its running totals and its
    seats' keys while the wall keeps them hidden (`totals_hidden`)."""
    shown = dict(vote)
    if totals_hidden(vote) and vote.get("mode") != "secret":
        tally = vote.get("tally") or {}
        shown["tally"] = {"voted": tally.get("voted", 0)}
        shown.pop("choices", None)
    return shown


def project(
    snapshot: Mapping[str, Any],
    hall: HallInfo,
    health: Health,
    faults: Sequence[Mapping[str, Any]] = (),
    *,
    triaged: Callable[[Health, Mapping[str, Any], Sequence[Mapping[str, Any]]], Triage] = triage,
) -> dict[Audience, View]:
    """Every audience's view of the core's `snapshot()`, with the hall, the health and the
    runtime's fault list (`controller/faults.py`). `triaged` works out the technician's
    triage (`Projector` passes one that reuses the last).

    The views share their parts (they are read, never changed in place)."""
    shown = shown_vote(snapshot)
    public: PublicView = {
        "hall": hall,
        "now": snapshot["now"],
        "language": snapshot["language"],
        "sitting": snapshot["sitting"],
        "attendance": snapshot["attendance"],
        "quorum": snapshot["quorum"],
        "active_vote": snapshot["active_vote"],
        "shown_vote": shown.get("vote_id") if shown is not None else None,
        "votes": snapshot["votes"],
        "results": snapshot["results"],
        "sittings": snapshot["sittings"],
        "floor": snapshot["floor"],
    }
    staff = cast(
        StaffView,
        {**public, "health": health, "triage": triaged(health, snapshot["floor"], faults)},
    )
    attendance = snapshot["attendance"]
    past = snapshot["sittings"]
    shown_how = (
        wall_show(shown, snapshot["quorum"], int(hall.get("members", 0)))
        if shown is not None
        else None
    )
    wall: WallView = {
        "screen": wall_screen(shown_how, snapshot["floor"]),
        "hall": hall,
        "now": snapshot["now"],
        "language": snapshot["language"],
        "sitting": snapshot["sitting"],
        "item": wall_item(snapshot["sitting"], shown),
        "last_sitting": past[-1] if past else None,
        "attendance": {
            "present_seats": attendance.get("present_seats", []),
            "present": attendance.get("present", 0),
            "registration": {"open": bool(attendance.get("registration", {}).get("open"))},
        },
        "quorum": snapshot["quorum"],
        "vote": _wall_vote(shown) if shown is not None else None,
        "show": shown_how,
        "floor": snapshot["floor"],
    }
    return {
        Audience.CHAIR: staff,
        Audience.TECHNICIAN: staff,
        Audience.OBSERVER: public,
        Audience.WALL: wall,
    }


class Projector:
    """`project`, for a caller that projects again and again (the runtime, on every refresh):
    the technician's triage is worked out again only when the health or the fault list it
    comes from is another object than last time. At 4,096 units the triage sorts every unit;
    the runtime keeps the same health and fault list between health changes, so a refresh
    for presses reuses it, and `patch.diff` skips the unchanged part by identity.

    Pure: what it keeps is the last inputs and the triage made of them."""

    def __init__(self) -> None:
        # The health and fault list the kept triage was made of (the objects themselves:
        # an id alone is unique only while its object lives).
        self._source: tuple[Health, Sequence[Mapping[str, Any]]] | None = None
        self._triage: Triage | None = None

    def __call__(
        self,
        snapshot: Mapping[str, Any],
        hall: HallInfo,
        health: Health,
        faults: Sequence[Mapping[str, Any]] = (),
    ) -> dict[Audience, View]:
        return project(snapshot, hall, health, faults, triaged=self._triaged)

    def _triaged(
        self, health: Health, floor: Mapping[str, Any], faults: Sequence[Mapping[str, Any]]
    ) -> Triage:
        kept, source = self._triage, self._source
        if kept is None or source is None or source[0] is not health or source[1] is not faults:
            self._source = (health, faults)
            kept = self._triage = triage(health, floor, faults)
            return kept
        forced = forced_mics(floor)
        if forced != kept["forced_mics"]:
            kept = self._triage = {**kept, "forced_mics": forced}
        return kept


def core_views(core: MeetingCore, hall: HallInfo, health: Health) -> dict[Audience, View]:
    """`project` over a running core's public snapshot."""
    return project(core.snapshot(), hall, health)


def results(view: View) -> list[dict[str, Any]]:
    """The closed votes' results of a staff or observer view (`GET /api/results`)."""
    found = cast(Mapping[str, Any], view).get("results")
    return list(found) if isinstance(found, list) else []
