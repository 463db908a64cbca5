"""The seat map: the hall's seating chart, one cell a seat, coloured by what the operator asks.

Colourings: presence; vote (per-seat choices of an OPEN vote only: a secret ballot has no seat
to choice link, so its seats show only presence; once decided, the seats that did not vote
show "Không tham gia", and a secret vote's others that they took part); microphone (speaking,
waiting); unit health.
Cells show the seat number and the delegate's given name (the last word of a Vietnamese name),
width-aware so that "Quyên" or "Đức" take exactly their cells.

A widget only: it never talks to the daemon; the app hands it typed views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rich.cells import cell_len
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from chamber.console.i18n import Lang, label
from chamber.console.mirror import ACTIVE, HallInfo, Mirror, SeatInfo, VoteView
from chamber.console.seating import seated_hall


class Colouring(StrEnum):
    PRESENCE = "presence"
    VOTE = "vote"
    MIC = "mic"
    HEALTH = "health"

    def next(self, allowed: tuple[Colouring, ...]) -> Colouring:
        i = allowed.index(self) if self in allowed else -1
        return allowed[(i + 1) % len(allowed)]


# Styles: foreground on background, readable on a dark terminal and in a screenshot.
ABSENT = "grey50 on grey15"
PRESENT = "black on green3"
NEUTRAL = "white on grey30"
CHOICE_STYLES = (
    "black on green3",  # key 1: tán thành / yes
    "white on red3",  # key 2: không tán thành / no
    "black on gold3",  # key 3: không biểu quyết / abstain
    "white on blue3",
    "black on cyan3",
    "black on magenta3",
)
# After the close: a seat of the electorate that did not vote ("Không tham gia"), and in a
# secret vote a seat that took part (its choice is nobody's to show).
DID_NOT_VOTE = "black on grey70"
TOOK_PART = "white on dark_blue"
MIC_LIVE = "white on red3"
MIC_WAITING = "black on gold3"
UNIT_OK = "black on green3"
UNIT_BAD = "white on red3"
UNIT_UNKNOWN = "grey50 on grey15"


@dataclass(frozen=True)
class SeatMapData:
    """Everything the map shows, as plain values (so that a render is a pure function)."""

    hall: HallInfo | None = None
    present: frozenset[int] = frozenset()
    vote: VoteView | None = None
    live: frozenset[int] = frozenset()
    waiting: frozenset[int] = frozenset()
    units_online: dict[int, bool] = field(default_factory=dict)


def map_data(mirror: Mirror, hall: HallInfo | None) -> SeatMapData:
    """What the seat maps show, from the client's mirror and the hall."""
    floor = mirror.floor()
    # A seat is healthy only if all its units are online.
    online: dict[int, bool] = {}
    for u in mirror.units():
        online[u.seat] = online.get(u.seat, True) and u.online
    return SeatMapData(
        hall=seated_hall(hall, mirror.state),  # a delegate moved shows at their new seat
        present=mirror.attendance().present_seats,
        vote=mirror.current_vote(),
        live=floor.live_seats,
        waiting=floor.waiting_seats,
        units_online=online,
    )


def given_name(full: str) -> str:
    """A Vietnamese name's given name is its last word ("Phạm Mạnh Dũng" -> "Dũng")."""
    words = full.split()
    return words[-1] if words else ""


def fit(text: str, width: int) -> str:
    """`text` cut and padded to exactly `width` terminal cells."""
    out = ""
    for ch in text:
        if cell_len(out + ch) > width:
            break
        out += ch
    return out + " " * (width - cell_len(out))


class SeatMap(Widget):
    """The seating chart. Set `data` and `colouring`; it redraws itself."""

    DEFAULT_CSS = """
    SeatMap { height: auto; min-height: 4; }
    """

    colouring: reactive[Colouring] = reactive(Colouring.PRESENCE)
    # A new hall changes the map's height (a layout, in `watch_data`); new data on the same
    # hall repaints the map only if it changes what the map shows (a vote prepared changes no
    # cell of a map coloured by presence).
    data: reactive[SeatMapData] = reactive(SeatMapData, always_update=True, repaint=False)
    lang: reactive[Lang] = reactive(Lang.VI)

    def __init__(
        self,
        *,
        colourings: tuple[Colouring, ...] = (Colouring.PRESENCE, Colouring.VOTE, Colouring.MIC),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.colourings = colourings
        self.colouring = colourings[0]
        self._looked: tuple[object, ...] = ()  # what the last render showed (`_looks`)
        self.renders = 0  # how many times the map was drawn (for tests and the bench)

    def watch_data(self, old: SeatMapData, new: SeatMapData) -> None:
        if old.hall != new.hall:
            self.refresh(layout=True)
        elif self._looks() != self._looked:
            self.refresh()

    def _looks(self) -> tuple[object, ...]:
        """What the map shows now: its caption and each seat's style."""
        hall = self.data.hall
        seats = hall.seats if hall is not None else ()
        return (self.caption(), tuple(self.style_of(s) for s in seats))

    def cycle(self) -> Colouring:
        self.colouring = self.colouring.next(self.colourings)
        return self.colouring

    def style_of(self, seat: SeatInfo) -> str:
        d = self.data
        present = seat.number in d.present
        if self.colouring is Colouring.PRESENCE:
            return PRESENT if present else ABSENT
        if self.colouring is Colouring.VOTE:
            vote = d.vote
            result = vote.result if vote is not None else None
            if result is not None:
                # Decided: each seat's key (none for a secret vote), who took part, and the
                # seats of the electorate that did not: "Không tham gia".
                if seat.number in result.did_not_vote_seats:
                    return DID_NOT_VOTE
                key = result.choices.get(seat.number)
                if key is not None and key >= 1:
                    return CHOICE_STYLES[(key - 1) % len(CHOICE_STYLES)]
                if seat.number in result.participants:
                    return TOOK_PART
                return NEUTRAL if present else ABSENT
            if vote is None or vote.secret or vote.state not in ACTIVE:
                return NEUTRAL if present else ABSENT
            key = vote.choices.get(seat.number)
            if key is None or key < 1:
                return NEUTRAL if present else ABSENT
            return CHOICE_STYLES[(key - 1) % len(CHOICE_STYLES)]
        if self.colouring is Colouring.MIC:
            if seat.number in d.live:
                return MIC_LIVE
            if seat.number in d.waiting:
                return MIC_WAITING
            return NEUTRAL if present else ABSENT
        online = d.units_online.get(seat.number)
        if online is None:
            return UNIT_UNKNOWN
        return UNIT_OK if online else UNIT_BAD

    def caption(self) -> Text:
        lang = self.lang
        mode = (
            label(f"seatmap.by.{self.colouring.value}", lang)
            if self.colouring
            in (
                Colouring.PRESENCE,
                Colouring.VOTE,
                Colouring.MIC,
            )
            else label("tech.units", lang)
        )
        text = Text(f"{label('seatmap', lang)} — {mode}  ", style="bold")
        legend: list[tuple[str, str]]
        if self.colouring is Colouring.PRESENCE:
            legend = [
                (label("legend.present", lang), PRESENT),
                (label("legend.absent", lang), ABSENT),
            ]
        elif self.colouring is Colouring.VOTE:
            vote = self.data.vote
            if vote is not None and vote.secret:
                legend = [(label("vote.mode.secret", lang), NEUTRAL)]
                if vote.result is not None:
                    legend.append((label("legend.voted", lang), TOOK_PART))
            else:
                options = vote.options if vote is not None else ()
                legend = [
                    (option, CHOICE_STYLES[i % len(CHOICE_STYLES)])
                    for i, option in enumerate(options)
                ]
            if vote is not None and vote.result is not None:
                legend.append((label("vote.did_not_vote", lang), DID_NOT_VOTE))
        elif self.colouring is Colouring.MIC:
            legend = [
                (label("legend.mic_on", lang), MIC_LIVE),
                (label("legend.waiting", lang), MIC_WAITING),
            ]
        else:
            legend = [
                (label("tech.online", lang), UNIT_OK),
                (label("tech.offline", lang), UNIT_BAD),
            ]
        for name, style in legend:
            text.append(f" {name} ", style=style)
            text.append(" ")
        return text

    def render(self) -> Text:
        self.renders += 1
        self._looked = self._looks()
        hall = self.data.hall
        out = self.caption()
        if hall is None or not hall.seats:
            return out
        rows = sorted({s.row for s in hall.seats})
        cols = max(s.col for s in hall.seats)
        width = max(4, min(14, (self.size.width or 120) // max(cols, 1)))
        by_place = {(s.row, s.col): s for s in hall.seats}
        for row in rows:
            out.append("\n")
            for col in range(1, cols + 1):
                seat = by_place.get((row, col))
                if seat is None:
                    out.append(" " * width)
                    continue
                cell = fit(f"{seat.number:>2} {given_name(seat.name)}", width - 1)
                out.append(cell, style=self.style_of(seat))
                out.append(" ")
        return out
