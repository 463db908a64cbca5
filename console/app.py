"""The operator console: a Textual app for the chair and the technician, over the daemon's API.

`ChamberConsole(client)` takes its data source (an `ApiClient`) and its clocks in its
constructor; it reads only the client's mirror and sends only API commands. Keyboard first:
every action has a key shown in the footer, and only the keys the hall's state allows are
offered; each irreversible step (open, close, cancel, publish a vote; take the floor away) and
quitting ask first.

Live, and saying when it is not: the stream's patches mark parts of the screen due; a drawing
pass, at most `max_redraws` times a second, draws the due parts of the tab that is shown and
nothing else (the other tab's wait until it comes up). The top line has the clock and the
time since the daemon was last heard, red past two seconds, when "connected" is no longer
said. Every command shows that it is pending, then the daemon's answer.

It must never reach into the meeting core in-process, and never compute a vote's result: the
totals and the explanation shown are the daemon's.
"""

from __future__ import annotations

import asyncio
import datetime
import math
import time
from collections import Counter, deque
from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, TabbedContent

from chamber.console.actions import CHAIR_ACTIONS, FOOTER_LABELS, TECH_ACTIONS
from chamber.console.chair import ChairPane, Clock, clock_text
from chamber.console.client import ApiClient, Link
from chamber.console.dialogs import ConfirmScreen, SeatScreen
from chamber.console.i18n import Lang, label, lang_of
from chamber.console.mirror import ALL_PARTS
from chamber.console.prepared import PreparedActions
from chamber.console.seatmap import SeatMap, map_data
from chamber.console.status import CommandLine, Freshness, LinkBar
from chamber.console.technician import Access, TechnicianPane

__all__ = [
    "ChairPane",
    "ChamberConsole",
    "ConfirmScreen",
    "SeatScreen",
    "TechnicianPane",
    "clock_text",
]


WallClock = Callable[[], datetime.datetime]


def _local_time() -> datetime.datetime:
    return datetime.datetime.now().astimezone()


def _pace() -> float:
    """The drawing rate's clock: when passes ran, not any time the hall's data names."""
    return time.monotonic()


# Each part of the screen: the parts of the view it shows, and its tab (None: always shown).
# The view's `now` (the core's time of its last input) feeds none: the running clocks are
# drawn once a second from the daemon's clock offset.
SCREEN_PARTS: dict[str, tuple[frozenset[str], str | None]] = {
    "sitting": (frozenset({"sitting", "hall"}), None),
    "attendance": (frozenset({"attendance", "quorum", "hall"}), "chair"),
    # The sitting too: the line of the next prepared vote (F5).
    "vote": (frozenset({"votes", "active_vote", "sitting", "hall"}), "chair"),
    "floor": (frozenset({"floor", "hall"}), "chair"),
    "chair-map": (frozenset({"attendance", "votes", "active_vote", "floor", "hall"}), "chair"),
    "health": (frozenset({"health", "triage", "hall"}), "tech"),
    "tech-map": (
        frozenset({"attendance", "votes", "active_vote", "floor", "health", "hall"}),
        "tech",
    ),
}


def _parts_shown(tab: str) -> frozenset[str]:
    """The view parts that feed the top lines and `tab`."""
    return frozenset().union(
        *(needs for needs, on in SCREEN_PARTS.values() if on is None or on == tab)
    )


class ChamberConsole(PreparedActions):
    """The chair's and the technician's console of one hall."""

    CSS = """
    #top { height: 1; background: $primary-background; }
    #link { width: 1fr; height: 1; padding: 0 1; }
    #link.down { background: $error; color: $text; text-style: bold; }
    #sitting { height: 1; padding: 0 1; text-style: bold; }
    #sitting.training { height: auto; max-height: 2; background: $warning-darken-3; }
    .panel { border: round $primary; padding: 0 1; height: 1fr; }
    #chair-top, #tech-top { height: 1fr; }
    #chair-left, #floor, #tech-left, #faults { width: 1fr; }
    #attendance { height: auto; min-height: 5; max-height: 10; }
    #tabs { height: 1fr; }
    #tabs ContentSwitcher { height: 1fr; }
    TabPane { padding: 0; height: 1fr; }
    SeatMap { border: round $secondary; padding: 0 0 0 1; height: auto; }
    #faults { border: round $error; padding: 0 1; height: 1fr; }
    DataTable { height: auto; max-height: 12; }
    .dialog { width: 70; height: auto; border: thick $primary; background: $surface;
              padding: 1 2; }
    ConfirmScreen, NewVoteScreen, SeatScreen { align: center middle; }
    .buttons { height: auto; margin-top: 1; }
    .buttons Button { margin-right: 2; }
    """

    BINDINGS = [  # noqa: RUF012
        Binding("f1", "tab('chair')", "Chair", show=False),
        Binding("f2", "tab('tech')", "Technician", show=False),
        Binding("v", "colour", "Colour"),
    ]

    # The footer is the list of keys; the palette would only hide some of them.
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        client: ApiClient,
        *,
        clock: Clock = time.monotonic,
        wall: WallClock = _local_time,
        max_redraws: float = 10.0,
        access: Access | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.clock = clock  # the client's clock: countdowns, and the age of the last message
        self.wall = wall  # the time of day the top line shows
        self.access = access  # the access panel's addresses and tokens (technician's tab)
        self.lang = Lang.VI
        self._tab = "chair"
        self._live = False
        # Parts of the view changed but not drawn yet (a part of a tab not shown waits).
        self._due: set[str] = set()
        # Parts of the screen (SCREEN_PARTS) to draw again; those of the hidden tab wait.
        self._dirty: set[str] = set(SCREEN_PARTS)
        self._period = 1.0 / max_redraws
        self._last_pass = -math.inf
        self._pass_due = False
        self._allowed: frozenset[str] = frozenset()
        # What the top line shows, and the view parts the shown tab (and the top) draw.
        self._link_shown: Link | None = None
        self._stale_shown = False
        self._link_text = ""
        self._shown_parts = _parts_shown("chair")
        self._drawn = asyncio.Event()
        self._after_draw: list[Callable[[], None]] = []
        # How many drawing passes ran, and what each part was drawn: for tests and the bench.
        self.passes = 0
        self.pass_times: deque[float] = deque(maxlen=1000)  # when each paced pass ran
        self.draws: Counter[str] = Counter()

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield Static("", id="link")
            yield LinkBar(id="clock")
        yield Static("", id="sitting")
        with TabbedContent(initial="chair", id="tabs"):
            yield ChairPane(self.client, clock=self.clock)
            yield TechnicianPane(self.client, clock=self.clock, wall=self.wall, access=self.access)
        yield CommandLine(id="command")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.client.add_listener(self._on_client_change)
        self.client.start()
        self._live = True
        self.set_interval(1.0, self._tick)  # the clock, the age mark, countdowns, speaking time
        self._draw_pass()

    async def on_unmount(self) -> None:
        self._live = False
        await self.client.close()

    def _on_client_change(self) -> None:
        """A stream message, a heartbeat or a link change: draw soon, at the bounded rate, if
        it changed anything the screen shows now. (A health report while the chair's tab
        shows waits in the mirror for the technician's tab; the age mark is drawn each
        second.)"""
        if self._wants_pass():
            self._schedule()

    def _wants_pass(self) -> bool:
        client = self.client
        m = client.mirror
        if m.ready:
            self._due |= m.take_changes()
        if client.link is not self._link_shown or self._stale_shown or not m.ready:
            return True
        return not self._due.isdisjoint(self._shown_parts)

    def _schedule(self) -> None:
        if self._pass_due or not self._live:
            return
        self._pass_due = True
        wait = self._last_pass + self._period - _pace()
        if wait > 0:
            self.set_timer(wait, self._draw_pass, name="console-draw")
        else:  # the last pass is long past: draw as soon as the messages queued are handled
            self.call_later(self._draw_pass)

    def _draw_pass(self) -> None:
        self._pass_due = False
        self._last_pass = _pace()
        self.pass_times.append(self._last_pass)
        try:
            self.refresh_view()
        except NoMatches:  # a pass while the app shuts down: its widgets are gone
            self._live = False

    def after_draw(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each drawing pass (the screen is painted after it)."""
        self._after_draw.append(callback)

    async def wait_drawn(self, predicate: Callable[[], bool]) -> None:
        """Wait (event-driven) until `predicate()` holds after a drawing pass; bound it with
        `asyncio.timeout`."""
        while not predicate():
            await self._drawn.wait()

    # --- keys offered ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHAIR_ACTIONS and self._tab != "chair":
            return False
        if action in TECH_ACTIONS and self._tab != "tech":
            return False
        if action in CHAIR_ACTIONS | TECH_ACTIONS and isinstance(self.screen, ModalScreen):
            return False  # a dialog is open: it answers first
        return self.state_allows(action)

    def _offer_keys(self) -> None:
        """Show the keys the state allows now (the footer is redrawn only when they change)."""
        allowed = frozenset(a for a in CHAIR_ACTIONS | TECH_ACTIONS if self.state_allows(a))
        if allowed != self._allowed:
            self._allowed = allowed
            self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._show_tab(event.pane.id or "chair")

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self._show_tab(tab)

    def _show_tab(self, tab: str) -> None:
        if tab == self._tab:
            return
        self._tab = tab
        self._shown_parts = _parts_shown(tab)
        self.refresh_bindings()
        self.refresh_view()  # what waited for this tab, now

    def _relabel(self) -> None:
        """Footer labels in the hall's language (bindings are declared once, in English)."""
        lang = self.lang
        changed = False
        for key, bindings in list(self._bindings.key_to_bindings.items()):
            fresh = []
            for b in bindings:
                wanted = FOOTER_LABELS.get(b.action, f"key.{b.action}")
                text = label(wanted, lang)
                if text == wanted:
                    text = b.description
                if text != b.description:
                    changed = True
                    b = Binding(b.key, b.action, text, show=b.show, priority=b.priority)
                fresh.append(b)
            self._bindings.key_to_bindings[key] = fresh
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.get_tab("chair").label = f"F1 {label('tab.chair', lang)}"
        tabs.get_tab("tech").label = f"F2 {label('tab.tech', lang)}"
        if changed:
            self.refresh_bindings()

    # --- drawing --------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Draw what changed in the view since the last drawing, on the tab that is shown.

        Each part of the screen depends on some parts of the view (the top-level keys the
        stream's patches touch): only those are drawn again, and the technician's tables row
        by row. A part of the tab not shown is drawn when that tab comes up."""
        if not self._live:
            return
        self.passes += 1
        client = self.client
        hall = client.hall
        lang = lang_of(hall.language) if hall is not None else Lang.VI
        if lang is not self.lang or self.title != label("app.title", lang):
            self.lang = lang
            for widget in (self._chair(), self._tech(), self._link_bar(), self._command()):
                widget.lang = lang
            self.title = label("app.title", lang)
            self._relabel()
            self._due |= ALL_PARTS
        self._draw_link()
        m = client.mirror
        if m.ready:
            self._due |= m.take_changes()
            self._draw_due()
            self._offer_keys()
        self._signal_drawn()

    def _signal_drawn(self) -> None:
        self._drawn.set()
        self._drawn = asyncio.Event()
        for callback in tuple(self._after_draw):
            self.call_after_refresh(callback)

    def _draw_due(self) -> None:
        """Mark the parts of the screen the changed view parts feed, then draw those of the
        shown tab (and the top lines); the other tab's stay marked until it comes up."""
        changed = self._due
        self._due = set()
        for name, (needs, _tab) in SCREEN_PARTS.items():
            if changed & needs:
                self._dirty.add(name)
        chair, tech = self._chair(), self._tech()
        drawers: dict[str, Callable[[], None]] = {
            "sitting": self._draw_sitting,
            "attendance": chair.draw_attendance,
            "vote": chair.draw_vote,
            "floor": chair.draw_floor,
            "chair-map": lambda: self._draw_map("#chair-map"),
            "health": tech.draw_health,
            "tech-map": lambda: self._draw_map("#tech-map"),
        }
        for name in [n for n in SCREEN_PARTS if n in self._dirty]:
            tab = SCREEN_PARTS[name][1]
            if tab is None or tab == self._tab:
                drawers[name]()
                self.draws[name] += 1
                self._dirty.discard(name)

    def _tick(self) -> None:
        """Once a second: the clock, the age mark, and the running clocks (the vote's
        countdown, the speaking times) on the chair's tab."""
        if not self._live:
            return
        try:
            self._draw_link()
        except NoMatches:  # the app shuts down
            self._live = False
            return
        if self.client.mirror.ready and self._tab == "chair":
            self._chair().draw_vote()
            self._chair().draw_floor()
        self._signal_drawn()

    def freshness(self) -> Freshness:
        client = self.client
        heard = client.heard_at
        age = None if heard is None else self.clock() - heard
        return Freshness(connected=client.link is Link.CONNECTED, age_s=age)

    def _draw_sitting(self) -> None:
        lang = self.lang
        sitting = self.client.mirror.sitting()
        if sitting.open:
            item = sitting.item_title or label("sitting.item.none", lang)
            line = f"{sitting.title}  ·  {label('sitting.item', lang)}: {item}"
        else:
            line = label("sitting.none", lang)
        widget = self.query_one("#sitting", Static)
        training = self.client.mirror.training()
        widget.set_class(training, "training")
        if training:
            text = Text()
            text.append(f" {label('sitting.training', lang)} ", style="bold black on yellow")
            text.append(f"  {line}")
            widget.update(text)
        else:
            widget.update(line)

    def _draw_link(self) -> None:
        link = self.query_one("#link", Static)
        client = self.client
        lang = self.lang
        fresh = self.freshness()
        self._link_bar().show(self.wall(), fresh)
        self._link_shown = client.link
        self._stale_shown = fresh.stale
        if fresh.stale:
            # Connected, but nothing heard lately: the data on screen may be old.
            text, down = f"◌ {label('status.stale', lang)}  {client.url}", True
        elif client.link is Link.CONNECTED:
            hall = client.hall
            where = f"{hall.name}" if hall is not None else ""
            text, down = f"● {label('status.connected', lang)}  {where}", False
        elif client.link is Link.CONNECTING:
            text, down = f"○ {label('status.connecting', lang)}  {client.url}", False
        else:
            detail = f" ({client.link_detail})" if client.link_detail else ""
            text, down = f"✖ {label('status.disconnected', lang)}  {client.url}{detail}", True
        if text != self._link_text:
            # The line's size is the layout's, whatever it says: repaint it, no layout.
            self._link_text = text
            link.update(text, layout=False)
        link.set_class(down, "down")

    def _chair(self) -> ChairPane:
        return self.query_one(ChairPane)

    def _tech(self) -> TechnicianPane:
        return self.query_one(TechnicianPane)

    def _link_bar(self) -> LinkBar:
        return self.query_one(LinkBar)

    def _command(self) -> CommandLine:
        return self.query_one(CommandLine)

    def _draw_map(self, selector: str) -> None:
        seatmap = self.query_one(selector, SeatMap)
        seatmap.lang = self.lang
        data = map_data(self.client.mirror, self.client.hall)
        if data != seatmap.data:  # the same data draws the same cells
            seatmap.data = data

    def action_colour(self) -> None:
        seatmap = self.query_one("#chair-map" if self._tab == "chair" else "#tech-map", SeatMap)
        seatmap.cycle()
