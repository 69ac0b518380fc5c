"""The dashboard's session table: rows keyed by session name, updated cell by cell, sorted by a mode."""

from __future__ import annotations

from collections.abc import Iterable

from cortex_tui.ui.present import COLUMNS, RowView
from cortex_tui.ui.widgets.grid import GridColumn, KeyedGrid


class SessionTable(KeyedGrid):
    """Sessions, one row each. Knows nothing about the engine: callers hand it :class:`RowView`s."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__([GridColumn(c.key, c.label, c.width) for c in COLUMNS], id=id)
        self._views: dict[str, RowView] = {}
        self.sort_mode = "attention"
        """Which of :attr:`RowView.sort` orders the rows."""

    def view(self, key: str) -> RowView | None:
        return self._views.get(key)

    def apply(self, upserts: Iterable[RowView], removals: Iterable[str] = ()) -> int:
        """Add/update/remove rows by key; re-sort only if an order key moved. Returns cells changed."""
        keep = self.current_key
        reorder = False
        changed = 0
        for view in upserts:
            prev = self._views.get(view.key)
            changed += self.upsert(view.key, view.cells)
            if prev is None or prev.sort.get(self.sort_mode) != view.sort.get(self.sort_mode):
                reorder = True
            self._views[view.key] = view
        for key in removals:
            if key in self._views:
                del self._views[key]
                self.remove_row(key)
                changed += 1
        if reorder:
            self._resort(keep)
        self._announce()
        return changed

    def set_sort_mode(self, mode: str) -> None:
        self.sort_mode = mode
        self._resort(self.current_key)

    def _resort(self, follow: str | None) -> None:
        """Order rows by the sort mode; the cursor follows ``follow``.

        Until the user moves the cursor it stays on the first row: Enter opens whoever needs attention most.
        """
        mode = self.sort_mode
        views = self._views
        order = sorted(views, key=lambda k: views[k].sort.get(mode, ()))
        if not self.cursor_moved or follow not in views:
            follow = order[0] if order else None
        self.set_order(order, follow=follow)
