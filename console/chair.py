"""The chair's tab: attendance and quorum, the current vote, the floor, and the seat map.

`ChairPane` lays the tab out and draws each part from the client's mirror when the app asks
(`draw_attendance`, `draw_vote`, `draw_floor`); it never sends a command. Totals and the
explanation shown are the daemon's: nothing here computes a vote's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static, TabPane

from chamber.console.client import ApiClient
from chamber.console.i18n import Lang, label
from chamber.console.mirror import ACTIVE, DONE, VoteState, VoteView
from chamber.console.seating import moved_seats
from chamber.console.seatmap import SeatMap, given_name
from chamber.console.vote_dialogs import vote_marks

Clock = Callable[[], float]


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))  # a countdown shows 0:01 until the last instant
    return f"{seconds // 60}:{seconds % 60:02d}"


class ChairPane(TabPane):
    """The chair's tab (F1)."""

    def __init__(self, client: ApiClient, *, clock: Clock = time.monotonic) -> None:
        super().__init__("F1", id="chair")
        self.client = client
        self.clock = clock
        self.lang = Lang.VI
        self._shown: dict[str, Text] = {}

    def _put(self, selector: str, text: Text) -> None:
        """Show `text` in the panel `selector`, unless it shows that already (the running
        clocks draw every second; most seconds nothing else changed)."""
        if self._shown.get(selector) == text:
            return
        self._shown[selector] = text
        # The vote's and the floor's panels take the room the layout gives them, whatever
        # they show: no layout to redo. The attendance panel grows with its text.
        self.query_one(selector, Static).update(text, layout=selector == "#attendance")

    def compose(self) -> ComposeResult:
        with Horizontal(id="chair-top"):
            with Vertical(id="chair-left"):
                yield Static("", id="attendance", classes="panel")
                yield Static("", id="vote", classes="panel")
            yield Static("", id="floor", classes="panel")
        yield SeatMap(id="chair-map")

    def draw_attendance(self) -> None:
        lang = self.lang
        a = self.client.mirror.attendance()
        members = self.client.hall.members if self.client.hall is not None else 0
        text = Text()
        text.append(f"{label('attendance', lang)}\n", style="bold")
        text.append(f"{label('attendance.present', lang)}: ")
        text.append(f"{a.present}", style="bold")
        text.append(f"/{members} {label('attendance.members', lang)}\n")
        if a.quorate:
            text.append(f" {label('quorum.ok', lang)} ", style="bold black on green3")
        else:
            text.append(f" {label('quorum.missing', lang)} ", style="bold white on red3")
        text.append(f"  ({label('quorum.required', lang)} {a.required})")
        self._roll_call(text)
        self._put("#attendance", text)

    def _roll_call(self, text: Text) -> None:
        """A roll call that is open: how many have confirmed and who (given names, the last
        ones cut short); otherwise the last roll call's figure."""
        lang = self.lang
        attendance = self.client.mirror.state.get("attendance")
        attendance = attendance if isinstance(attendance, dict) else {}
        roll = attendance.get("registration")
        roll = roll if isinstance(roll, dict) else {}
        hall = self.client.hall
        if roll.get("open"):
            registered = [d for d in roll.get("registered") or [] if isinstance(d, str)]
            members = hall.members if hall is not None else 0
            text.append("\n")
            text.append(f" {label('sit.roll.open', lang)} ", style="bold black on gold3")
            text.append(f"  {len(registered)}/{members} {label('sit.roll.confirmed', lang)}")
            if registered and hall is not None:
                names = [given_name(hall.names.get(d, d)) for d in registered]
                shown = ", ".join(names[:24]) + (
                    f" … +{len(names) - 24}" if len(names) > 24 else ""
                )
                text.append(f"\n{shown}", style="dim")
            return
        done = attendance.get("registrations")
        if isinstance(done, list) and done and isinstance(done[-1], dict):
            last = done[-1]
            text.append(f"\n{label('sit.roll.last', lang, number=last.get('number', ''))}: ")
            text.append(f"{last.get('count', 0)} {label('sit.roll.confirmed', lang)}")

    def vote_countdown(self, vote: VoteView) -> float | None:
        """Seconds left on the vote's timer, from the daemon's deadline and our clock."""
        if vote.state is VoteState.OPEN and vote.deadline is not None:
            now = self.client.mirror.daemon_now(self.clock())
            if now is not None:
                return max(0.0, vote.deadline - now)
        return vote.countdown_s if vote.state in ACTIVE else None

    def draw_vote(self) -> None:
        lang = self.lang
        vote = self.client.mirror.current_vote()
        text = Text()
        if vote is None:
            text.append(f"{label('vote', lang)}\n", style="bold")
            text.append(label("vote.none", lang), style="italic")
            self._next_vote(text)
            self._put("#vote", text)
            return
        text.append(f"{label('vote', lang)} {vote.vote_id}: ", style="bold")
        text.append(f"{vote.title}\n", style="bold")
        mode = label(f"vote.mode.{vote.mode.value}", lang)
        state_style = "bold reverse" if vote.state in ACTIVE else "bold"
        text.append(f" {label(f'vote.state.{vote.state.value}', lang)} ", style=state_style)
        text.append(f"  {mode}")
        left = self.vote_countdown(vote)
        if left is not None:
            text.append(f"   {label('vote.countdown', lang)} ")
            text.append(clock_text(left), style="bold" + (" red" if left <= 10 else ""))
        text.append("\n")
        # Practice, rerun, annulled, by hand, what it needs, the daemon's warnings.
        for line, style in vote_marks(self.client.mirror.state, vote.vote_id, lang):
            text.append(line, style=style)
            text.append("\n")
        text.append(
            f"{label('vote.voted', lang)}: {vote.voted}"
            f" / {label('vote.electorate', lang)} {vote.electorate}\n"
        )
        result = vote.result
        if result is not None:
            for name, count in result.totals:
                text.append(f"  {name:<18} {count:>4}\n")
            text.append(f"  {label('vote.did_not_vote', lang):<18} {result.did_not_vote:>4}\n")
            if result.outcome is not None:
                verdict = label("vote.adopted" if result.outcome.adopted else "vote.rejected", lang)
                style = "bold black on green3" if result.outcome.adopted else "bold white on red3"
                text.append(f"{label('vote.result', lang)}: ")
                text.append(f" {verdict} ", style=style)
                text.append(f"\n{result.outcome.explanation}")
        elif vote.totals is None:
            if vote.state not in DONE:
                text.append(label("vote.hidden", lang), style="italic")
        else:
            for i, count in enumerate(vote.totals):
                name = vote.options[i] if i < len(vote.options) else str(i + 1)
                text.append(f"  {name:<18} {count:>4}\n")
        self._next_vote(text)
        self._put("#vote", text)

    def _next_vote(self, text: Text) -> None:
        """The prepared vote F5 opens, under the vote shown when it is another one and no
        vote holds the keypads."""
        m = self.client.mirror
        following = m.sitting().next_vote
        if following is None or m.state.get("active_vote") is not None:
            return
        shown = m.current_vote()
        if shown is not None and shown.vote_id == following:
            return
        for v in m.votes():
            if v.vote_id == following:
                text.append(f"\n{label('vote.next', self.lang)}: ", style="bold")
                text.append(v.title)
                return

    def draw_floor(self) -> None:
        lang = self.lang
        m = self.client.mirror
        floor = m.floor()
        hall = self.client.hall
        now = m.daemon_now(self.clock())

        moved = moved_seats(m.state)

        def who(seat: int) -> str:
            if seat in moved:  # a delegate moved to this seat, or away from it
                delegate = moved[seat]
                name = hall.names.get(delegate, delegate) if hall and delegate else ""
                return f"{seat:>3} {name}" if name else f"{seat:>3}"
            info = hall.seat(seat) if hall is not None else None
            return f"{seat:>3} {info.name}" if info is not None and info.name else f"{seat:>3}"

        text = Text()
        text.append(f"{label('floor', lang)}", style="bold")
        if floor.priority:
            text.append(f"   {label('floor.priority', lang)}: ")
            text.append(f" {label('floor.priority.on', lang)} ", style="bold white on red3")
        text.append(f"\n{label('floor.live', lang)}:\n")
        if not floor.live:
            text.append(f"  {label('floor.nobody', lang)}\n", style="italic")
        for s in floor.live:
            left = s.time_left_s
            if now is not None and s.started is not None and s.limit_s is not None:
                left = s.limit_s - (now - s.started)
            text.append(f"  ▶ {who(s.seat)}", style="bold")
            if s.muted:
                text.append(f"  {label('floor.muted', lang)}", style="bold white on red3")
            if left is not None:
                if left >= 0:
                    text.append(f"  {label('floor.left', lang)} {clock_text(left)}")
                else:
                    text.append(f"  {label('floor.over', lang)} {clock_text(-left)}", style="red")
            text.append("\n")
        for name in ("speak", "question", "reply"):
            entries = floor.waiting.get(name, ())
            text.append(f"\n{label(f'floor.list.{name}', lang)} ({len(entries)}):\n", style="bold")
            for w in entries[:6]:
                text.append(f"  {w.position:>2}. {who(w.seat)}\n")
            if len(entries) > 6:
                text.append(f"  … +{len(entries) - 6}\n")
        self._put("#floor", text)
