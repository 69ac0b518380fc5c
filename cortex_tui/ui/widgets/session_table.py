"""The dashboard's session table: rows keyed by session name, updated cell by cell, sorted by a mode.

Rows never move under the user's fingers: cell updates show at once, but re-sorting (and dropping rows a
filter no longer shows) waits until no key was pressed for :attr:`SessionTable.resort_quiet` seconds and
happens at most once per :attr:`SessionTable.resort_every`. The cursor stays on its session through a
re-sort.
"""

from __future__ import annotations

from collections.abc import Iterable

from cortex_tui.ui.present import COLUMNS, RowView
from cortex_tui.ui.widgets.grid import GridColumn, KeyedGrid


class SessionTable(KeyedGrid):
    """Sessions, one row each. Knows nothing about the engine: callers hand it :class:`RowView`s."""

    resort_quiet = 0.3
    """No re-sort within this many seconds of a key press (a key sequence like ``k k Enter``)."""
    resort_every = 1.0
    """At most one re-sort per this many seconds."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__([GridColumn(c.key, c.label, c.width) for c in COLUMNS], id=id)
        self._views: dict[str, RowView] = {}
        self.sort_mode = "attention"
        """Which of :attr:`RowView.sort` orders the rows."""
        self._order_stale = False
        self._gone: set[str] = set()
        self._last_resort = float("-inf")
        self.resorts = 0
        """Re-sorts done (tests read this)."""

    def view(self, key: str) -> RowView | None:
        return self._views.get(key)

    @property
    def settled(self) -> bool:
        """No re-sort or row removal is waiting."""
        return not self._order_stale and not self._gone

    def apply(self, upserts: Iterable[RowView], removals: Iterable[str] = (), *, now: float = 0.0,
              last_key_at: float = float("-inf")) -> int:
        """Update rows by key; new rows are added at once, re-sorting and removals wait until
        :meth:`settle` allows them. Returns cells changed."""
        changed = 0
        for view in upserts:
            prev = self._views.get(view.key)
            changed += self.upsert(view.key, view.cells)
            if prev is None or prev.sort.get(self.sort_mode) != view.sort.get(self.sort_mode):
                self._order_stale = True
            self._views[view.key] = view
            self._gone.discard(view.key)
        for key in removals:
            if key in self._views:
                self._gone.add(key)
        self.settle(now, last_key_at)
        self._announce()
        return changed

    def wait_before_settle(self, now: float, last_key_at: float) -> float:
        """Seconds until :meth:`settle` may re-order the rows (0: now)."""
        if self._first_fill:
            return 0.0
        return max(0.0, last_key_at + self.resort_quiet - now, self._last_resort + self.resort_every - now)

    @property
    def _first_fill(self) -> bool:
        return self._last_resort == float("-inf")

    def settle(self, now: float, last_key_at: float = float("-inf"), *, force: bool = False) -> bool:
        """Re-sort and drop removed rows if the timing allows (``force``: the user asked for a new order or
        filter); True when the table is settled."""
        if self.settled:
            return True
        if not force and self.wait_before_settle(now, last_key_at) > 0:
            return False
        first = self._first_fill
        for key in self._gone:
            if key in self._views:
                del self._views[key]
                self.remove_row(key)
        self._gone.clear()
        self._order_stale = False
        self._last_resort = now
        self.resorts += 1
        self._resort(None if first and not self.cursor_moved else self.current_key)
        return True

    def set_sort_mode(self, mode: str) -> None:
        """The user asked for another order: re-sort now (the cursor keeps its session)."""
        self.sort_mode = mode
        self._resort(self.current_key)

    def _resort(self, follow: str | None) -> None:
        """Order rows by the sort mode; the cursor follows ``follow`` (None: the top row)."""
        mode = self.sort_mode
        views = self._views
        order = sorted(views, key=lambda k: views[k].sort.get(mode, ()))
        if follow not in views:
            follow = order[0] if order else None
        self.set_order(order, follow=follow)
