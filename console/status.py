"""The console's status lines: is it live (link, clock, last update), and the last command.

`LinkBar` says whether the console is connected and whether its data is fresh: beside the
hall's name it shows the time of day and how long ago the daemon was last heard (a stream
message, or the answer to the client's heartbeat ping). Past `STALE_S` the mark turns red and
the line no longer says "connected": it says the data is stale.

`CommandLine` shows each command from the moment it is sent ("sending …") to the daemon's
answer: done, or the refusal in the daemon's words. It keeps the notes it showed (`history`).

Widgets only: they never talk to the daemon; the app hands them what to show.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum

from rich.text import Text
from textual.widgets import Static

from chamber.console.i18n import Lang, label

STALE_S = 2.0


def age_text(seconds: float, lang: Lang) -> str:
    """How long ago, in the hall's words: "0,4 giây", "12 giây", "3 phút" ("0.4 s" in English)."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        number = f"{seconds:.1f}"
        if lang is Lang.VI:
            number = number.replace(".", ",")
        return f"{number} {label('unit.s', lang)}"
    if seconds < 120:
        return f"{int(seconds)} {label('unit.s', lang)}"
    return f"{int(seconds // 60)} {label('unit.min', lang)}"


@dataclass(frozen=True)
class Freshness:
    """What the link line shows, as plain values."""

    connected: bool
    age_s: float | None  # since the daemon was last heard; None: never

    @property
    def stale(self) -> bool:
        return self.connected and (self.age_s is None or self.age_s > STALE_S)


class LinkBar(Static):
    """The right end of the top line: the clock and the last-update mark."""

    # A fixed width: the mark's text changes at every drawing, and a width of its own would
    # lay the whole screen out again each time.
    DEFAULT_CSS = """
    LinkBar { width: 42; height: 1; padding: 0 1; content-align: right middle; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.lang = Lang.VI
        self.alarm = False  # the mark is red: nothing heard for too long
        self._shown = Text()

    def show(self, now: datetime.datetime, fresh: Freshness) -> None:
        lang = self.lang
        text = Text()
        text.append(f"{label('status.updated', lang)}: ")
        self.alarm = fresh.age_s is None or fresh.age_s > STALE_S
        if fresh.age_s is None:
            text.append(label("status.never", lang), style="bold white on red3")
        else:
            ago = label("status.ago", lang, age=age_text(fresh.age_s, lang))
            text.append(ago, style="bold white on red3" if fresh.age_s > STALE_S else "bold")
        text.append("   ")
        text.append(now.strftime("%H:%M:%S"), style="bold")
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)


class CommandState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class CommandNote:
    what: str  # the command, in the hall's words
    state: CommandState
    detail: str = ""  # the daemon's refusal, or why it could not be sent


STYLES = {
    CommandState.PENDING: ("⧗", "bold yellow"),
    CommandState.DONE: ("✔", "bold green"),
    CommandState.REFUSED: ("✖", "bold white on red3"),
    CommandState.FAILED: ("✖", "bold white on red3"),
}


class CommandLine(Static):
    """One line: the last command and where it stands."""

    DEFAULT_CSS = """
    CommandLine { height: auto; max-height: 3; padding: 0 1; }
    """

    HISTORY = 100

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.lang = Lang.VI
        self.history: list[CommandNote] = []

    def note(self, note: CommandNote) -> None:
        self.history = [*self.history[-(self.HISTORY - 1) :], note]
        mark, style = STYLES[note.state]
        text = Text()
        text.append(f"{mark} {label(f'cmd.{note.state.value}', self.lang)}", style=style)
        text.append(f": {note.what}")
        if note.state is CommandState.PENDING:
            text.append("…")
        if note.detail:
            text.append(f" — {note.detail}", style="bold")
        self.update(text)
