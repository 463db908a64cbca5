"""The technician's tab: find a broken unit in seconds.

`TechnicianPane` lays the tab out and draws it from the client's mirror when the app asks
(`draw_health`), from the daemon's triage (`controller/core/triage.py`):

- the lines, worst first: state, units online of all, the last poll cycle, errors, restarts,
  open faults;
- every unit, the most troubled first, in a table that scrolls (offline units on top);
- the fault list, one row per line or unit and kind, with the time it began (and last
  happened), how often, and whether it is over; an acknowledged fault is dimmed until it
  clears (key `a` acknowledges the fault under the cursor);
- the microphones the technician forced on;
- the access panel: the daemon's address, the display wall's address and the tokens the
  console was given (they never scroll away).

The tables change row by row (console/tables.py): only the cells that differ are written and
the cursor stays on its row, so nothing flickers. The daemon's times are shown as the time of
day here (its clock offset is the mirror's).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label, Static, TabPane

from chamber.console.client import ApiClient
from chamber.console.i18n import Lang, label
from chamber.console.mirror import FaultView, LineSummaryView, UnitView
from chamber.console.seatmap import Colouring, SeatMap
from chamber.console.tables import TableSync

Clock = Callable[[], float]
WallClock = Callable[[], datetime.datetime]

# How long a unit blinks when the technician presses the identify key.
IDENTIFY_S = 10


@dataclass(frozen=True)
class Access:
    """Where the hall is reached: what the access panel shows. `tokens` are by role, as the
    console was given them (the daemon keeps only their hashes and cannot say them)."""

    url: str
    wall: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)


def _local_time() -> datetime.datetime:
    return datetime.datetime.now().astimezone()


def _styled(value: str, style: str) -> Text:
    """A cell whose style is part of what it is: a row that is only dimmed (acknowledged)
    compares unequal to its former self, so the table writes it again."""
    text = Text(value)
    text.stylize(style)
    return text


class TechnicianPane(TabPane):
    """The technician's tab (F2)."""

    DEFAULT_CSS = """
    #tech-lines { height: auto; max-height: 12; border: round $primary; padding: 0 1; }
    #tech-body { height: 1fr; }
    #lines { height: auto; max-height: 10; }
    #forced { height: auto; border-top: solid $secondary; }
    #access { height: auto; border: round $secondary; padding: 0 1; }
    """

    # The app's stylesheet caps every table's height and splits its panels evenly; here the
    # units and the faults take the room there is, the units the wider share (inline styles
    # are the strongest).
    _STRETCH: ClassVar[dict[str, dict[str, str]]] = {
        "#tech-left": {"width": "11fr"},
        "#faults": {"width": "9fr"},
        "#units": {"height": "1fr", "max_height": "100%"},
        "#fault-list": {"height": "1fr", "max_height": "100%"},
    }

    def __init__(
        self,
        client: ApiClient,
        *,
        clock: Clock | None = None,
        wall: WallClock = _local_time,
        access: Access | None = None,
    ) -> None:
        super().__init__("F2", id="tech")
        self.client = client
        self.lang = Lang.VI
        self.clock = clock or client.clock
        self.wall = wall
        self.access = access or Access(client.url, tokens={"console": client.token})
        # What each table shows, so that a drawing changes only what differs.
        self.tables: dict[str, TableSync] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="tech-lines"):
            yield Label("", id="lines-title")
            yield DataTable(id="lines", cursor_type="none", zebra_stripes=True)
        with Horizontal(id="tech-body"):
            with Vertical(id="tech-left", classes="panel"):
                yield Label("", id="units-title")
                yield DataTable(id="units", cursor_type="row", zebra_stripes=True)
            with Vertical(id="faults"):
                yield Label("", id="faults-title")
                yield DataTable(id="fault-list", cursor_type="row")
                yield Static("", id="forced")
        # Full width, so that no address or token is ever wrapped.
        yield Static("", id="access")
        yield SeatMap(
            id="tech-map",
            colourings=(
                Colouring.HEALTH,
                Colouring.MIC,
                Colouring.PRESENCE,
                Colouring.VOTE,
            ),
        )

    def on_mount(self) -> None:
        for selector, rules in self._STRETCH.items():
            widget = self.query_one(selector)
            for rule, value in rules.items():
                setattr(widget.styles, rule, value)

    # --- drawing ------------------------------------------------------------------------------

    def draw_health(self) -> None:
        lang = self.lang
        m = self.client.mirror
        triage = m.triage()
        self.query_one("#lines-title", Label).update(Text(label("tech.lines", lang), "bold"))
        units = m.units()
        offline = sum(not u.online for u in units)
        title = Text(label("tech.units", lang), "bold")
        title.append(f"  {len(units) - offline}/{len(units)} {label('tech.online', lang)}")
        if offline:
            title.append(f" · {offline} {label('tech.offline', lang)}", "bold red")
        self.query_one("#units-title", Label).update(title)
        self._draw_lines(triage.lines)
        self._draw_units(units, triage.unit_order)
        self._draw_faults(triage.faults)
        self._draw_forced([(f.seat, f.since) for f in triage.forced_mics])
        self._draw_access()

    def _draw_lines(self, lines: tuple[LineSummaryView, ...]) -> None:
        lang = self.lang
        rows: dict[str, tuple[object, ...]] = {}
        for s in lines:
            state = (
                Text(label("tech.online", lang), "green")
                if s.connected
                else Text(label("tech.down", lang), "bold red")
            )
            missing = s.total - s.online
            online = Text(f"{s.online}/{s.total}", "bold red" if missing else "")
            cycle = f"{s.cycle_ms:.0f}" if s.cycle_ms is not None else "—"
            faults = Text(str(s.faults), "bold red" if s.faults else "")
            rows[s.line] = (s.line, state, online, cycle, str(s.errors), str(s.reboots), faults)
        self._sync_table(
            "lines",
            (
                label("col.line", lang),
                label("col.state", lang),
                label("col.online", lang),
                label("col.cycle", lang),
                label("col.errors", lang),
                label("col.reboots", lang),
                label("col.faults", lang),
            ),
            rows,
        )

    def _draw_units(self, units: tuple[UnitView, ...], order: tuple[str, ...]) -> None:
        lang = self.lang
        rank = {key: i for i, key in enumerate(order)}
        ordered = sorted(units, key=lambda u: (rank.get(u.key, len(rank)), u.line, u.address))
        rows: dict[str, tuple[object, ...]] = {}
        for u in ordered:
            if not u.online:
                state = Text(label("tech.offline", lang), "bold red")
            elif u.fault or u.contract_state in ("older", "incompatible"):
                state = Text(label("tech.trouble", lang), "bold yellow")
            else:
                state = Text(label("tech.online", lang), "green")
            response = f"{u.response_ms:.1f}" if u.response_ms is not None else "—"
            contract = u.contract or "—"
            if u.contract_state in ("older", "incompatible"):
                contract = f"{u.contract} ({label(f'contract.{u.contract_state}', lang)})"
            rows[u.key] = (
                u.line,
                str(u.address),
                str(u.seat),
                label(f"unit.{u.kind}", lang),
                state,
                response,
                Text(str(u.errors), "yellow" if u.errors else ""),
                Text(str(u.reboots), "yellow" if u.reboots else ""),
                contract,
                u.fault,
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
                label("col.contract", lang),
                label("col.problem", lang),
            ),
            rows,
        )

    def _draw_faults(self, faults: tuple[FaultView, ...]) -> None:
        lang = self.lang
        open_count = sum(f.active and not f.acknowledged for f in faults)
        title = Text(label("tech.faults", lang), "bold")
        if open_count:
            title.append(f"  {open_count} {label('tech.faults.new', lang)}", "bold red")
        elif not faults:
            title.append(f"  {label('tech.faults.none', lang)}", "green")
        self.query_one("#faults-title", Label).update(title)
        rows: dict[str, tuple[object, ...]] = {}
        for f in faults:
            if f.acknowledged:
                style = "dim"
            elif f.active:
                style = "bold red"
            else:
                style = "yellow"
            where = f.line if f.address is None else f"{f.line}/{f.address}"
            seat = "" if f.seat is None else str(f.seat)
            if f.acknowledged:
                state = label("fault.state.seen", lang)
            elif f.active:
                state = label("fault.state.open", lang)
            else:
                state = label("fault.state.over", lang)
            what = label(f"fault.{f.kind}", lang)
            if f.count > 1:
                what += f" ×{f.count}"
            detail = label(f"fault.detail.{f.detail}", lang) if f.detail else ""
            if detail.startswith("fault.detail."):
                detail = f.detail  # the daemon's own words (a unit's fault, a line's error)
            when = self._time(f.first_at)
            if f.count > 1 and f.last_at != f.first_at:
                when += f"–{self._time(f.last_at)}"
            cells = (when, where, seat, what, state, detail)
            rows[f.id] = tuple(_styled(str(c), style) for c in cells)
        self._sync_table(
            "fault-list",
            (
                label("col.when", lang),
                label("col.where", lang),
                label("col.seat", lang),
                label("col.fault", lang),
                label("col.state", lang),
                label("col.detail", lang),
            ),
            rows,
        )

    def _draw_forced(self, forced: list[tuple[int, float | None]]) -> None:
        lang = self.lang
        text = Text(f"{label('tech.forced', lang)}: ", "bold")
        if not forced:
            text.append(label("tech.forced.none", lang), "italic")
        for i, (seat, since) in enumerate(forced):
            if i:
                text.append(", ")
            text.append(f"{label('col.seat', lang).lower()} {seat}", "bold magenta")
            if since is not None:
                text.append(f" ({label('tech.since', lang)} {self._time(since)})")
        self.query_one("#forced", Static).update(text)

    def _draw_access(self) -> None:
        lang = self.lang
        a = self.access
        text = Text(no_wrap=True, overflow="ignore")
        text.append(f"{label('access.daemon', lang)}: ", "bold")
        text.append(a.url)
        text.append(f"\n{label('access.wall', lang)}: ", "bold")
        text.append(a.wall or label("access.unknown", lang), "" if a.wall else "italic")
        for role, token in a.tokens.items():
            text.append(f"\n{label(f'access.token.{role}', lang)}: ", "bold")
            text.append(token)
        self.query_one("#access", Static).update(text)

    def _time(self, at: float | None) -> str:
        """A daemon time as the time of day here: the mirror knows the daemon's clock."""
        daemon_now = self.client.mirror.daemon_now(self.clock())
        if at is None or daemon_now is None:
            return "—"
        moment = self.wall() - datetime.timedelta(seconds=max(0.0, daemon_now - at))
        return moment.strftime("%H:%M:%S")

    def _sync_table(
        self, name: str, columns: tuple[str, ...], rows: dict[str, tuple[object, ...]]
    ) -> None:
        """Bring table `name` to `rows` (in their order), row by row (console/tables.py)."""
        self.tables.setdefault(name, TableSync()).sync(
            self.query_one(f"#{name}", DataTable), columns, rows
        )

    # --- what the keys act on -------------------------------------------------------------------

    def _row_key(self, name: str) -> str | None:
        table = self.query_one(f"#{name}", DataTable)
        if not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return None if key is None else str(key)

    def selected_unit(self) -> UnitView | None:
        """The unit under the units table's cursor (rows are keyed "line/address")."""
        key = self._row_key("units")
        return next((u for u in self.client.mirror.units() if u.key == key), None)

    def selected_unit_seat(self) -> int | None:
        unit = self.selected_unit()
        return None if unit is None else unit.seat

    def selected_fault(self) -> FaultView | None:
        """The fault under the fault list's cursor."""
        key = self._row_key("fault-list")
        return next((f for f in self.client.mirror.triage().faults if f.id == key), None)
