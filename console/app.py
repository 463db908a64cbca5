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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Input,
    Label,
    Static,
    TabbedContent,
    TabPane,
)

from chamber.console.client import ApiClient, ApiError, Link
from chamber.console.i18n import Lang, label, lang_of
from chamber.console.mirror import ACTIVE, ALL_PARTS, DONE, VoteState, VoteView
from chamber.console.seatmap import Colouring, SeatMap, SeatMapData

Clock = Callable[[], float]

CHAIR_ACTIONS = frozenset(
    {"new_vote", "open_vote", "hold_vote", "close_vote", "cancel_vote", "publish_vote"}
    | {"next_speaker", "grant", "revoke", "priority"}
)
TECH_ACTIONS = frozenset({"mic_on", "mic_off"})


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))  # a countdown shows 0:01 until the last instant
    return f"{seconds // 60}:{seconds % 60:02d}"


# --- dialogs ----------------------------------------------------------------------------------


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; y or Enter confirms, n or Escape goes back."""

    BINDINGS = [  # noqa: RUF012 (Textual's own convention)
        Binding("y,enter", "answer(True)", "OK", show=False),
        Binding("n,escape", "answer(False)", "Back", show=False),
    ]

    def __init__(self, question: str, lang: Lang) -> None:
        super().__init__()
        self.question = question
        self.lang = lang

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, id="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('confirm.yes', self.lang)} (y)", id="yes", variant="error")
                yield Button(f"{label('confirm.no', self.lang)} (n)", id="no")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


@dataclass(frozen=True)
class NewVote:
    title: str
    secret: bool
    duration_s: float | None


class NewVoteScreen(ModalScreen[NewVote | None]):
    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, lang: Lang) -> None:
        super().__init__()
        self.lang = lang

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield Label(label("new.title", lang))
            yield Input(id="title")
            yield Checkbox(label("new.secret", lang), id="secret")
            yield Label(label("new.duration", lang))
            yield Input(id="duration", type="number")
            yield Label("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button(f"{label('new.create', lang)} (Enter)", id="create", variant="primary")
                yield Button(f"{label('confirm.no', lang)} (Esc)", id="back")

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        title = self.query_one("#title", Input).value.strip()
        raw = self.query_one("#duration", Input).value.strip()
        problem = self.query_one("#problem", Label)
        if not title:
            problem.update(label("new.title", self.lang) + " ?")
            self.query_one("#title", Input).focus()
            return
        duration: float | None = None
        if raw:
            try:
                duration = float(raw)
            except ValueError:
                duration = -1.0
            if not 0 < duration <= 86_400:
                problem.update(label("new.duration", self.lang) + " ?")
                return
        self.dismiss(NewVote(title, self.query_one("#secret", Checkbox).value, duration))

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)


class SeatScreen(ModalScreen[int | None]):
    """Asks for a seat number (prefilled with a suggestion)."""

    BINDINGS = [Binding("escape", "back", "Back", show=False)]  # noqa: RUF012

    def __init__(self, prompt: str, lang: Lang, known: frozenset[int], default: int | None) -> None:
        super().__init__()
        self.prompt = prompt
        self.lang = lang
        self.known = known
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt)
            yield Input(
                value="" if self.default is None else str(self.default), id="seat", type="integer"
            )
            yield Label("", id="problem")

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            seat = int(event.value)
        except ValueError:
            seat = -1
        if seat not in self.known:
            self.query_one("#problem", Label).update(label("seat.invalid", self.lang))
            return
        self.dismiss(seat)


# --- the app ------------------------------------------------------------------------------------


class ChamberConsole(App[None]):
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
        Binding("n", "new_vote", "New vote"),
        Binding("o", "open_vote", "Open"),
        Binding("h", "hold_vote", "Hold/Resume"),
        Binding("c", "close_vote", "Close"),
        Binding("x", "cancel_vote", "Cancel"),
        Binding("p", "publish_vote", "Publish"),
        Binding("k", "next_speaker", "Next"),
        Binding("g", "grant", "Grant"),
        Binding("r", "revoke", "Revoke"),
        Binding("y", "priority", "Priority"),
        Binding("m", "mic_on", "Mic on"),
        Binding("u", "mic_off", "Mic off"),
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
        # What each table shows: its columns' language, and each row's cells by row key.
        self._columns: dict[str, Lang] = {}
        self._rows: dict[str, dict[str, tuple[object, ...]]] = {}

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="link")
        yield Static("", id="sitting")
        with TabbedContent(initial="chair", id="tabs"):
            with TabPane("F1", id="chair"):
                with Horizontal(id="chair-top"):
                    with Vertical(id="chair-left"):
                        yield Static("", id="attendance", classes="panel")
                        yield Static("", id="vote", classes="panel")
                    yield Static("", id="floor", classes="panel")
                yield SeatMap(id="chair-map")
            with TabPane("F2", id="tech"):
                with Horizontal(id="tech-top"):
                    with Vertical(id="tech-left", classes="panel"):
                        yield Label("", id="lines-title")
                        yield DataTable(id="lines", cursor_type="none", zebra_stripes=True)
                        yield Label("", id="units-title")
                        yield DataTable(id="units", cursor_type="row", zebra_stripes=True)
                    yield Static("", id="faults")
                yield SeatMap(
                    id="tech-map",
                    colourings=(
                        Colouring.HEALTH,
                        Colouring.MIC,
                        Colouring.PRESENCE,
                        Colouring.VOTE,
                    ),
                )
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
            self._draw_attendance()
        if chair and due & {"votes", "active_vote", "now", "hall"}:
            self._draw_vote()
        if chair and due & {"floor", "now", "hall"}:
            self._draw_floor()
        if due & {"attendance", "votes", "active_vote", "floor", "health", "hall"}:
            self._draw_maps()
        if not chair and due & {"health", "hall"}:
            self._draw_health()
        # What this tab does not show waits for the other tab.
        if not chair:
            self._due |= due & {"votes", "active_vote", "now", "floor", "hall"}
        else:
            self._due |= due & {"health", "hall"}

    def _tick(self) -> None:
        """Once a second: the running clocks (the vote's countdown, the speaking times)."""
        if self._live and self.client.mirror.ready and self._tab == "chair":
            self._draw_vote()
            self._draw_floor()

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

    def _draw_attendance(self) -> None:
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
        self.query_one("#attendance", Static).update(text)

    def vote_countdown(self, vote: VoteView) -> float | None:
        """Seconds left on the vote's timer, from the daemon's deadline and our clock."""
        if vote.state is VoteState.OPEN and vote.deadline is not None:
            now = self.client.mirror.daemon_now(self.clock())
            if now is not None:
                return max(0.0, vote.deadline - now)
        return vote.countdown_s if vote.state in ACTIVE else None

    def _draw_vote(self) -> None:
        lang = self.lang
        vote = self.client.mirror.current_vote()
        text = Text()
        if vote is None:
            text.append(f"{label('vote', lang)}\n", style="bold")
            text.append(label("vote.none", lang), style="italic")
            self.query_one("#vote", Static).update(text)
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
        self.query_one("#vote", Static).update(text)

    def _draw_floor(self) -> None:
        lang = self.lang
        m = self.client.mirror
        floor = m.floor()
        hall = self.client.hall
        now = m.daemon_now(self.clock())

        def who(seat: int) -> str:
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
        self.query_one("#floor", Static).update(text)

    def _map_data(self) -> SeatMapData:
        m = self.client.mirror
        floor = m.floor()
        return SeatMapData(
            hall=self.client.hall,
            present=m.attendance().present_seats,
            vote=m.current_vote(),
            live=floor.live_seats,
            waiting=floor.waiting_seats,
            units_online=self._units_online(),
        )

    def _units_online(self) -> dict[int, bool]:
        # A seat is healthy only if all its units are online.
        online: dict[int, bool] = {}
        for u in self.client.mirror.units():
            online[u.seat] = online.get(u.seat, True) and u.online
        return online

    def _draw_maps(self) -> None:
        data = self._map_data()
        for seatmap in self.query(SeatMap):
            seatmap.lang = self.lang
            seatmap.data = data

    def _draw_health(self) -> None:
        lang = self.lang
        m = self.client.mirror
        self.query_one("#lines-title", Label).update(Text(label("tech.lines", lang), "bold"))
        self.query_one("#units-title", Label).update(Text(label("tech.units", lang), "bold"))
        line_rows: dict[str, tuple[object, ...]] = {}
        for ln in m.lines():
            state = (
                Text(label("tech.online", lang), "green")
                if ln.connected
                else Text(label("tech.offline", lang), "bold red")
            )
            cycle = f"{ln.cycle_ms:.1f}" if ln.cycle_ms is not None else "—"
            line_rows[ln.line] = (ln.line, state, cycle, ln.detail)
        self._sync_table(
            "lines", (label("col.line", lang), label("col.state", lang), "ms", ""), line_rows
        )
        unit_rows: dict[str, tuple[object, ...]] = {}
        for u in m.units():
            state = (
                Text(label("tech.online", lang), "green")
                if u.online
                else Text(label("tech.offline", lang), "bold red")
            )
            response = f"{u.response_ms:.1f}" if u.response_ms is not None else "—"
            unit_rows[f"{u.line}/{u.address}"] = (
                u.line,
                str(u.address),
                str(u.seat),
                u.kind,
                state,
                response,
                str(u.errors),
                str(u.reboots),
            )
        self._sync_table(
            "units",
            (
                label("col.line", lang),
                label("col.address", lang),
                label("col.seat", lang),
                label("col.kind", lang),
                label("col.state", lang),
                label("col.response", lang),
                label("col.errors", lang),
                label("col.reboots", lang),
            ),
            unit_rows,
        )
        faults = Text(f"{label('tech.faults', lang)}\n", style="bold")
        if not m.faults and not m.units():
            faults.append(label("tech.none", lang), style="italic")
        for f in list(m.faults)[:30]:
            where = f.line
            if f.address is not None:
                where += f"/{f.address} {label('col.seat', lang).lower()} {f.seat}"
            what = label(f"fault.{f.event}", lang)
            if f.count is not None:
                what += f": {f.count}"
            if f.detail:
                what += f" ({f.detail})"
            faults.append(f"#{f.seq} {where} — {what}\n", style="bold red" if f.bad else "green")
        self.query_one("#faults", Static).update(faults)

    def _sync_table(
        self, name: str, columns: tuple[str, ...], rows: dict[str, tuple[object, ...]]
    ) -> None:
        """Bring table `name` to `rows` (in their order), changing only the cells that differ.

        The columns are made again only when the language changes."""
        table = self.query_one(f"#{name}", DataTable)
        shown = self._rows.setdefault(name, {})
        if self._columns.get(name) is not self.lang:
            table.clear(columns=True)
            for i, title in enumerate(columns):
                table.add_column(title, key=str(i))
            self._columns[name] = self.lang
            shown.clear()
        for key in [k for k in shown if k not in rows]:
            table.remove_row(key)
            del shown[key]
        added = False
        for key, cells in rows.items():
            before = shown.get(key)
            if before is None:
                table.add_row(*cells, key=key)
                added = True
            elif before != cells:
                for i, (old, new) in enumerate(zip(before, cells, strict=True)):
                    if old != new:
                        table.update_cell(key, str(i), new)
            shown[key] = cells
        if added and list(shown) != list(rows):
            # A new row joined at the end: lay the rows out again in their order (rare: a
            # unit seen for the first time).
            table.clear()
            for key, cells in rows.items():
                table.add_row(*cells, key=key)
            self._rows[name] = dict(rows)

    # --- commands -------------------------------------------------------------------------------

    async def _send(self, command: Awaitable[object]) -> bool:
        try:
            await command
        except ApiError as exc:
            self.notify(exc.detail, title=label("error", self.lang), severity="error")
            return False
        except OSError as exc:
            self.notify(str(exc), title=label("error", self.lang), severity="error")
            return False
        except Exception as exc:  # an HTTP library error: the link line says the rest
            self.notify(f"{type(exc).__name__}: {exc}", severity="error")
            return False
        return True

    async def _confirm(self, key: str, **fields: object) -> bool:
        answer = await self.push_screen_wait(
            ConfirmScreen(label(key, self.lang, **fields), self.lang)
        )
        return bool(answer)

    def _vote(self) -> VoteView | None:
        vote = self.client.mirror.current_vote()
        if vote is None:
            self.notify(label("vote.none", self.lang), severity="warning")
        return vote

    @work(exclusive=True, group="command")
    async def action_new_vote(self) -> None:
        spec = await self.push_screen_wait(NewVoteScreen(self.lang))
        if spec is None:
            return
        # The daemon names the vote; the stream brings it to the screen.
        await self._send(
            self.client.create_vote(spec.title, secret=spec.secret, duration_s=spec.duration_s)
        )

    async def _vote_step(self, step: str, confirm: str | None) -> None:
        vote = self._vote()
        if vote is None:
            return
        if confirm is not None and not await self._confirm(confirm, title=vote.title):
            return
        await self._send(self.client.vote_step(vote.vote_id, step))

    @work(exclusive=True, group="command")
    async def action_open_vote(self) -> None:
        await self._vote_step("open", "confirm.open")

    @work(exclusive=True, group="command")
    async def action_hold_vote(self) -> None:
        vote = self._vote()
        if vote is not None:
            step = "resume" if vote.state is VoteState.HOLD else "hold"
            await self._send(self.client.vote_step(vote.vote_id, step))

    @work(exclusive=True, group="command")
    async def action_close_vote(self) -> None:
        await self._vote_step("close", "confirm.close")

    @work(exclusive=True, group="command")
    async def action_cancel_vote(self) -> None:
        await self._vote_step("cancel", "confirm.cancel")

    @work(exclusive=True, group="command")
    async def action_publish_vote(self) -> None:
        await self._vote_step("publish", "confirm.publish")

    @work(exclusive=True, group="command")
    async def action_next_speaker(self) -> None:
        await self._send(self.client.grant_next())

    def _known_seats(self) -> frozenset[int]:
        hall = self.client.hall
        return frozenset(s.number for s in hall.seats) if hall is not None else frozenset()

    async def _ask_seat(self, prompt: str, default: int | None) -> int | None:
        return await self.push_screen_wait(
            SeatScreen(label(prompt, self.lang), self.lang, self._known_seats(), default)
        )

    @work(exclusive=True, group="command")
    async def action_grant(self) -> None:
        floor = self.client.mirror.floor()
        first = next((ws[0].seat for ws in floor.waiting.values() if ws), None)
        seat = await self._ask_seat("seat.prompt.grant", first)
        if seat is not None:
            await self._send(self.client.grant(seat))

    @work(exclusive=True, group="command")
    async def action_revoke(self) -> None:
        live = self.client.mirror.floor().live
        seat = await self._ask_seat("seat.prompt.revoke", live[0].seat if live else None)
        if seat is not None and await self._confirm("confirm.revoke", seat=seat):
            await self._send(self.client.revoke(seat))

    @work(exclusive=True, group="command")
    async def action_priority(self) -> None:
        await self._send(self.client.priority(not self.client.mirror.floor().priority))

    @work(exclusive=True, group="command")
    async def action_mic_on(self) -> None:
        seat = await self._ask_seat("seat.prompt.mic_on", self._selected_unit_seat())
        if seat is not None:
            await self._send(self.client.mic_override(seat, True))

    @work(exclusive=True, group="command")
    async def action_mic_off(self) -> None:
        seat = await self._ask_seat("seat.prompt.mic_off", self._selected_unit_seat())
        if seat is not None:
            await self._send(self.client.mic_override(seat, False))

    def _selected_unit_seat(self) -> int | None:
        units = self.client.mirror.units()
        table = self.query_one("#units", DataTable)
        if not units or table.cursor_row < 0 or table.cursor_row >= len(units):
            return None
        return units[table.cursor_row].seat

    def action_colour(self) -> None:
        seatmap = self.query_one("#chair-map" if self._tab == "chair" else "#tech-map", SeatMap)
        seatmap.cycle()
