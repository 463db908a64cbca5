"""The operator console: a Textual app for the chair and the technician, over the daemon's API.

`ChamberConsole(client)` takes its data source (an `ApiClient`) and a clock in its constructor;
it reads only the client's mirror and sends only API commands. Keyboard first: every action has
a key shown in the footer; each irreversible step (open, close, cancel, publish a vote; take the
floor away) asks for a confirmation first.

It must never reach into the meeting core in-process, and never compute a vote's result: the
totals and the explanation shown are the daemon's.
"""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static, TabbedContent

from chamber.console.actions import CHAIR_ACTIONS, TECH_ACTIONS, ConsoleActions
from chamber.console.chair import ChairPane, Clock, clock_text
from chamber.console.client import ApiClient, Link
from chamber.console.dialogs import ConfirmScreen, NewVote, NewVoteScreen, SeatScreen
from chamber.console.i18n import Lang, label, lang_of
from chamber.console.mirror import ALL_PARTS
from chamber.console.seatmap import SeatMap, map_data
from chamber.console.technician import TechnicianPane

__all__ = [
    "ChairPane",
    "ChamberConsole",
    "ConfirmScreen",
    "NewVote",
    "NewVoteScreen",
    "SeatScreen",
    "TechnicianPane",
    "clock_text",
]


class ChamberConsole(ConsoleActions):
    """The chair's and the technician's console of one hall."""

    CSS = """
    #link { height: 1; padding: 0 1; background: $primary-background; }
    #link.down { background: $error; color: $text; text-style: bold; }
    #sitting { height: 1; padding: 0 1; text-style: bold; }
    .panel { border: round $primary; padding: 0 1; height: 1fr; }
    #chair-top, #tech-top { height: 1fr; }
    #chair-left, #floor, #tech-left, #faults { width: 1fr; }
    #attendance { height: 5; }
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

    def __init__(self, client: ApiClient, *, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.lang = Lang.VI
        self._tab = "chair"
        self._live = False
        # Parts of the view changed but not drawn yet (a part of a tab not shown waits).
        self._due: set[str] = set()

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="link")
        yield Static("", id="sitting")
        with TabbedContent(initial="chair", id="tabs"):
            yield ChairPane(self.client, clock=self.clock)
            yield TechnicianPane(self.client)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.client.add_listener(self._on_client_change)
        self.client.start()
        self._live = True
        self.set_interval(1.0, self._tick)  # countdowns and speaking time
        self.refresh_view()

    async def on_unmount(self) -> None:
        await self.client.close()

    def _on_client_change(self) -> None:
        self.refresh_view()

    # --- bindings shown per tab --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHAIR_ACTIONS:
            return self._tab == "chair"
        if action in TECH_ACTIONS:
            return self._tab == "tech"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._tab = event.pane.id or "chair"
        self.refresh_bindings()
        self.refresh_view()

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self._tab = tab
        self.refresh_bindings()
        self.refresh_view()

    def _relabel(self) -> None:
        """Footer labels in the hall's language (bindings are declared once, in English)."""
        lang = self.lang
        names = {
            "new_vote": "key.new",
            "open_vote": "key.open",
            "hold_vote": "key.hold",
            "close_vote": "key.close",
            "cancel_vote": "key.cancel",
            "publish_vote": "key.publish",
            "next_speaker": "key.next",
            "grant": "key.grant",
            "revoke": "key.revoke",
            "priority": "key.priority",
            "mic_on": "key.mic_on",
            "mic_off": "key.mic_off",
            "colour": "key.colour",
        }
        changed = False
        for key, bindings in list(self._bindings.key_to_bindings.items()):
            fresh = []
            for b in bindings:
                wanted = names.get(b.action)
                text = label(wanted, lang) if wanted else b.description
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
        client = self.client
        hall = client.hall
        lang = lang_of(hall.language) if hall is not None else Lang.VI
        if lang is not self.lang or self.title != label("app.title", lang):
            self.lang = lang
            self._chair().lang = lang
            self._tech().lang = lang
            self.title = label("app.title", lang)
            self._relabel()
            self._due |= ALL_PARTS
        self._draw_link()
        m = client.mirror
        if not m.ready:
            return
        due = self._due | m.take_changes()
        self._due = set()
        chair = self._tab == "chair"
        if due & {"sitting", "hall"}:
            self._draw_sitting()
        if due & {"attendance", "quorum", "hall"}:
            self._chair().draw_attendance()
        if chair and due & {"votes", "active_vote", "now", "hall"}:
            self._chair().draw_vote()
        if chair and due & {"floor", "now", "hall"}:
            self._chair().draw_floor()
        if due & {"attendance", "votes", "active_vote", "floor", "health", "hall"}:
            self._draw_maps()
        if not chair and due & {"health", "hall"}:
            self._tech().draw_health()
        # What this tab does not show waits for the other tab.
        if not chair:
            self._due |= due & {"votes", "active_vote", "now", "floor", "hall"}
        else:
            self._due |= due & {"health", "hall"}

    def _tick(self) -> None:
        """Once a second: the running clocks (the vote's countdown, the speaking times)."""
        if self._live and self.client.mirror.ready and self._tab == "chair":
            self._chair().draw_vote()
            self._chair().draw_floor()

    def _draw_sitting(self) -> None:
        lang = self.lang
        sitting = self.client.mirror.sitting()
        if sitting.open:
            item = sitting.item_title or label("sitting.item.none", lang)
            line = f"{sitting.title}  ·  {label('sitting.item', lang)}: {item}"
        else:
            line = label("sitting.none", lang)
        self.query_one("#sitting", Static).update(line)

    def _draw_link(self) -> None:
        link = self.query_one("#link", Static)
        client = self.client
        lang = self.lang
        if client.link is Link.CONNECTED:
            hall = client.hall
            where = f"{hall.name}" if hall is not None else ""
            link.update(f"● {label('status.connected', lang)}  {where}")
            link.remove_class("down")
        elif client.link is Link.CONNECTING:
            link.update(f"○ {label('status.connecting', lang)}  {client.url}")
            link.remove_class("down")
        else:
            detail = f" ({client.link_detail})" if client.link_detail else ""
            link.update(f"✖ {label('status.disconnected', lang)}  {client.url}{detail}")
            link.add_class("down")

    def _chair(self) -> ChairPane:
        return self.query_one(ChairPane)

    def _tech(self) -> TechnicianPane:
        return self.query_one(TechnicianPane)

    def _draw_maps(self) -> None:
        data = map_data(self.client.mirror, self.client.hall)
        for seatmap in self.query(SeatMap):
            seatmap.lang = self.lang
            seatmap.data = data

    def action_colour(self) -> None:
        seatmap = self.query_one("#chair-map" if self._tab == "chair" else "#tech-map", SeatMap)
        seatmap.cycle()
