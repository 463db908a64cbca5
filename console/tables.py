"""Bringing a `DataTable` to a set of rows, row by row: the cursor and the scroll stay put.

`TableSync` remembers what a table shows (each row's cells, by row key). `sync(table, columns,
rows)` then writes only what differs: the cells that changed in a row that stays, a new row,
a row gone. When the order of the rows changes (a unit joins in the middle, a list sorted by
trouble moves), the rows are put in the new order in place (`DataTable.sort` on each row's
rank), never cleared and filled again: the row under the cursor stays under it. The columns
are made again only when their titles change (the hall's language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.coordinate import Coordinate
from textual.widgets import DataTable


class TableSync:
    """What one table shows; `sync` moves it to new rows with the fewest changes."""

    def __init__(self) -> None:
        self.columns: tuple[str, ...] | None = None
        self.rows: dict[str, tuple[object, ...]] = {}
        # What the last sync did, for tests: cells written, rows added, removed, reorders.
        self.cells_written = 0
        self.rows_added = 0
        self.rows_removed = 0
        self.reorders = 0

    def sync(
        self,
        table: DataTable[object],
        columns: Sequence[str],
        rows: Mapping[str, tuple[object, ...]],
    ) -> bool:
        """Show `rows` (in their order) under `columns`; True if anything changed."""
        titles = tuple(columns)
        changed = False
        cursor = self._cursor_key(table)
        if titles != self.columns:
            table.clear(columns=True)
            for i, title in enumerate(titles):
                table.add_column(title, key=str(i))
            self.columns = titles
            self.rows = {}
            changed = True
        for key in [k for k in self.rows if k not in rows]:
            table.remove_row(key)
            del self.rows[key]
            self.rows_removed += 1
            changed = True
        for key, cells in rows.items():
            before = self.rows.get(key)
            if before is None:
                table.add_row(*cells, key=key)
                self.rows_added += 1
                changed = True
            elif before != cells:
                for i, (old, new) in enumerate(zip(before, cells, strict=True)):
                    if old != new:
                        table.update_cell(key, str(i), new)
                        self.cells_written += 1
                changed = True
            self.rows[key] = cells
        order = list(rows)
        if order != self._table_order(table):
            self._reorder(table, order)
            changed = True
        if cursor is not None and cursor in rows and self._cursor_key(table) != cursor:
            # Rows above it came or went: the cursor follows its row.
            table.move_cursor(row=order.index(cursor), animate=False)
        return changed

    @staticmethod
    def _cursor_key(table: DataTable[object]) -> str | None:
        if table.cursor_type != "row" or not 0 <= table.cursor_row < table.row_count:
            return None
        return str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)

    @staticmethod
    def _table_order(table: DataTable[object]) -> list[str]:
        return [
            str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
            for i in range(table.row_count)
        ]

    def _reorder(self, table: DataTable[object], order: list[str]) -> None:
        """Put the rows in `order` in place."""
        rank = {key: i for i, key in enumerate(order)}
        # `sort` hands its key function a row's cells, not its key. It computes the keys in one
        # pass over the rows in the order they were added, which is the order of `table.rows`:
        # the n-th call is the n-th row of `table.rows`.
        added = iter([str(k.value) for k in table.rows])
        table.sort(key=lambda _cells: rank.get(next(added), len(rank)))
        self.reorders += 1
        if self._table_order(table) != order:  # not as documented: lay the rows out again
            table.clear()
            for key in order:
                table.add_row(*self.rows[key], key=key)
