"""The dashboard's session table: rows keyed by session name, updated cell by cell."""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding

from cortex_tui.ui.present import COLUMNS, RowView
from cortex_tui.ui.widgets.keyed_table import RowKeyTable

SegmentLines = list[list[Segment]]


class SessionTable(RowKeyTable):
    """Sessions, one row each. Knows nothing about the engine: callers hand it :class:`RowView`s."""

    BINDINGS = [  # j/k come from RowKeyTable
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
        Binding("home", "scroll_top", "Top", show=False),
        Binding("end", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable")
        self._views: dict[str, RowView] = {}
        self._cell_version: dict[tuple[str, str], int] = {}
        self._next_version = 0
        self._cells: dict[tuple[object, ...], SegmentLines] = {}
        self.sort_mode = "attention"
        """Which of :attr:`RowView.sort` orders the rows."""

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(col.label, width=col.width, key=col.key)

    # ------------------------------------------------------------------ queries
    def view(self, key: str) -> RowView | None:
        return self._views.get(key)

    # ------------------------------------------------------------------ updates
    def apply(self, upserts: Iterable[RowView], removals: Iterable[str] = ()) -> int:
        """Add/update/remove rows by key; re-sort only if an order key moved. Returns cells changed."""
        keep = self.current_key
        reorder = False
        changed = 0
        for view in upserts:
            prev = self._views.get(view.key)
            if prev is None:
                for col in COLUMNS:
                    self._bump(view.key, col.key)
                self.add_row(*view.cells, key=view.key)
                changed += len(view.cells)
                reorder = True
            else:
                for col, old, new in zip(COLUMNS, prev.cells, view.cells, strict=True):
                    if old != new:
                        self._bump(view.key, col.key)
                        self.update_cell(view.key, col.key, new)
                        changed += 1
                if prev.sort.get(self.sort_mode) != view.sort.get(self.sort_mode):
                    reorder = True
            self._views[view.key] = view
        for key in removals:
            if key in self._views:
                del self._views[key]
                self.remove_row(key)
                changed += 1
        if reorder:
            self._resort()
        if keep is not None:
            self.focus_key(keep)
        return changed

    # ------------------------------------------------------------------ rendering
    def _bump(self, row: str, col: str) -> None:
        self._next_version += 1
        self._cell_version[(row, col)] = self._next_version

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        """DataTable re-renders *every* cell after any update; cache cells by their own version instead.

        A cell is re-rendered only when its content changed (or its position, style, cursor or width did),
        so a live update of a few cells no longer costs a full-table repaint.
        """
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        col_key = self._column_locations.get_key(column_index)
        if row_key is None or col_key is None or row_key.value is None or col_key.value is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (row_key, col_key, self._cell_version.get((row_key.value, col_key.value), 0), row_index, base_style,
               width, cursor, hover, self._show_hover_cursor, self._pseudo_class_state)
        lines = self._cells.get(key)
        if lines is None:
            if len(self._cells) > 20_000:
                self._cells.clear()
            lines = self._cells[key] = super()._render_cell(row_index, column_index, base_style, width, cursor,
                                                            hover)
        return lines

    def set_sort_mode(self, mode: str) -> None:
        keep = self.current_key
        self.sort_mode = mode
        self._resort()
        if keep is not None:
            self.focus_key(keep)

    def focus_key(self, key: str) -> bool:
        """Move the cursor to the row of ``key`` (without scrolling animation)."""
        if key not in self._views:
            return False
        idx = self.get_row_index(key)
        if idx != self.cursor_row:
            self.move_cursor(row=idx, animate=False)
        return True

    def _resort(self) -> None:
        if not self._views:
            return
        mode = self.sort_mode
        views = self._views
        self.sort("name", key=lambda cell: views[cell.plain].sort.get(mode, ()))
