"""A DataTable whose rows are keyed and kept in a given order: updates touch changed cells only."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist


class RowKeyTable(DataTable[Text]):
    """A row-cursor DataTable whose rows are addressed by string keys (base of the app's tables)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    @property
    def current_key(self) -> str | None:
        """Key of the row under the cursor."""
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except (CellDoesNotExist, RowDoesNotExist):
            return None
        return None if row_key.value is None else str(row_key.value)

    def keys_in_order(self) -> list[str]:
        return [str(r.key.value) for r in self.ordered_rows]


class KeyedTable(RowKeyTable):
    """Rows keyed by a string; :meth:`apply` adds, updates (by cell), removes and re-orders them.

    The ``key_column``'s cell must read as the row key (its ``plain`` text): sorting goes by it.
    Knows nothing about sessions or variants: callers hand it finished cells.
    """

    DEFAULT_CSS = """
    KeyedTable {
        height: auto;
    }
    """

    def __init__(self, columns: Sequence[tuple[str, str, int]], *, key_column: str, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable")
        self.column_spec = tuple(columns)
        """(key, label, width) of every column."""
        self.key_column = key_column
        self._rows: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label, width in self.column_spec:
            self.add_column(label, width=width, key=key)

    def cell_text(self, key: str, column: str) -> str:
        """Plain text of one cell ('' when there is no such row)."""
        cells = self._rows.get(key)
        if cells is None:
            return ""
        idx = [c[0] for c in self.column_spec].index(column)
        return cells[idx].plain

    def apply(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells), in that order; the cursor stays on its key."""
        keep = self.current_key
        wanted = [k for k, _ in rows]
        cols = [c[0] for c in self.column_spec]
        with self.app.batch_update():
            for gone in [k for k in self._rows if k not in set(wanted)]:
                self.remove_row(gone)
                del self._rows[gone]
            for key, cells in rows:
                new = tuple(cells)
                old = self._rows.get(key)
                if old is None:
                    self.add_row(*new, key=key)
                else:
                    for col, a, b in zip(cols, old, new, strict=True):
                        if a != b:
                            self.update_cell(key, col, b)
                self._rows[key] = new
            if self.keys_in_order() != wanted:
                pos = {k: i for i, k in enumerate(wanted)}
                self.sort(self.key_column, key=lambda cell: pos.get(getattr(cell, "plain", str(cell)), len(pos)))
            self._order = wanted
            if keep is not None and keep in self._rows:
                self.move_cursor(row=self.get_row_index(keep))
