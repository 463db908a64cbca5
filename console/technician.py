"""The technician's tab: the lines, the units, the live fault list, and the seat map by health.

`TechnicianPane` lays the tab out and draws it from the client's mirror when the app asks
(`draw_health`). The tables change row by row: only the cells that differ are written, so the
cursor and the scroll stay where the technician left them.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label, Static, TabPane

from chamber.console.client import ApiClient
from chamber.console.i18n import Lang, label
from chamber.console.seatmap import Colouring, SeatMap
from chamber.console.tables import TableSync


class TechnicianPane(TabPane):
    """The technician's tab (F2)."""

    def __init__(self, client: ApiClient) -> None:
        super().__init__("F2", id="tech")
        self.client = client
        self.lang = Lang.VI
        # What each table shows, so that a drawing changes only what differs.
        self.tables: dict[str, TableSync] = {}

    def compose(self) -> ComposeResult:
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

    def draw_health(self) -> None:
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
        """Bring table `name` to `rows` (in their order), row by row (console/tables.py)."""
        self.tables.setdefault(name, TableSync()).sync(
            self.query_one(f"#{name}", DataTable), columns, rows
        )

    def selected_unit_seat(self) -> int | None:
        """The seat of the unit under the table's cursor (rows are keyed "line/address")."""
        table = self.query_one("#units", DataTable)
        if not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        for u in self.client.mirror.units():
            if f"{u.line}/{u.address}" == key:
                return u.seat
        return None
