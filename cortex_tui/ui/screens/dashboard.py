"""The default screen: every session in one table, the run summary on top, the event feed below."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from cortex_tui.ui.keys import SESSION_ACTIONS
from cortex_tui.ui.present import (
    COLUMN_KEYS,
    FILTER_MODES,
    SORT_MODES,
    activity_cell,
    last_activity,
    matches_filter,
    row_view,
    run_summary,
)
from cortex_tui.ui.widgets.events_panel import EventsPanel
from cortex_tui.ui.widgets.key_bar import KeyBar
from cortex_tui.ui.widgets.run_header import RunHeader
from cortex_tui.ui.widgets.session_table import SessionTable

if TYPE_CHECKING:
    from cortex_tui.ui.app import CortexApp


class DashboardScreen(Screen[None]):
    """Sessions table + header + events. Rows are refreshed from the live RunState in coalesced flushes."""

    BINDINGS = [
        *SESSION_ACTIONS,
        Binding("o", "cycle_sort", "Sort"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("e", "toggle_events", "Events"),
        Binding("slash", "filter_events", "Find event", show=False),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.filter_mode = "all"
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._flush_timer_pending = False
        self._first_dirty_at = 0.0
        self._table: SessionTable | None = None
        self._events_panel: EventsPanel | None = None
        self.flushes = 0
        """How many coalesced table refreshes ran (tests and the benchmark read this)."""

    @property
    def cortex(self) -> CortexApp:
        return cast("CortexApp", self.app)

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        yield SessionTable(id="sessions")
        yield EventsPanel(id="events")
        yield KeyBar()

    @property
    def table(self) -> SessionTable:
        if self._table is None:
            self._table = self.query_one("#sessions", SessionTable)
        return self._table

    @property
    def events_panel(self) -> EventsPanel:
        if self._events_panel is None:
            self._events_panel = self.query_one("#events", EventsPanel)
        return self._events_panel

    def on_mount(self) -> None:
        self.flush()
        self.table.focus()
        self._schedule_tick()

    # ------------------------------------------------------------------ refresh
    def mark_dirty(self, session: str | None = None) -> None:
        """Note that ``session`` (None = all) changed; a flush follows within ``flush_interval``."""
        if session is None:
            self._all_dirty = True
        else:
            self._dirty.add(session)
        if not self._flush_timer_pending:
            self._flush_timer_pending = True
            self._first_dirty_at = time.monotonic()
            self.set_timer(self.cortex.flush_interval, self._timed_flush)

    def _timed_flush(self) -> None:
        # Input first: while keys are arriving, table refreshes wait (up to max_flush_delay) so a
        # keystroke never queues behind a full table repaint.
        app = self.cortex
        quiet_for = time.monotonic() - app.last_input_at
        waited = time.monotonic() - self._first_dirty_at
        if quiet_for < app.input_quiet and waited < app.max_flush_delay:
            self.set_timer(app.input_quiet - quiet_for, self._timed_flush)
            return
        self._flush_timer_pending = False
        if self.is_current:
            self.flush()

    def _schedule_tick(self) -> None:
        """Refresh relative times once a second; re-armed after each run (never piles up)."""
        self.set_timer(1.0, self._tick)

    def _tick(self) -> None:
        if self.is_current and self.cortex.ticking:
            self.refresh_activity()
        self._schedule_tick()

    def refresh_activity(self) -> int:
        """Bring only the "12 s ago" cells up to date (the once-a-second tick); returns cells changed.

        Rows with other pending changes are left to the next flush. Cheap: no full row is rebuilt.
        """
        if self._all_dirty:
            return 0  # a full flush is due anyway
        app = self.cortex
        table = self.table
        now = app.clock()
        pal = app.palette
        changed = 0
        for name in table.keys_in_order():
            rec = app.sessions.get(name)
            if rec is None or name in self._dirty:
                continue
            cell = activity_cell(last_activity(rec, app.extras.get(name)), now, pal)
            if table.cell(name, "activity") != cell:
                table.update_cell(name, "activity", cell)
                changed += 1
        return changed

    def flush(self) -> None:
        """Bring the table and header up to date with the engine's RunState, by row key."""
        app = self.cortex
        sessions = app.sessions
        names = set(sessions) if self._all_dirty else self._dirty & set(sessions)
        gone = [k for k in self.table.keys_in_order() if k not in sessions]
        self._dirty.clear()
        self._all_dirty = False
        now = app.clock()
        pal = app.palette
        upserts = []
        removals = list(gone)
        for name in names:
            rec = sessions[name]
            if matches_filter(rec, self.filter_mode):
                upserts.append(row_view(rec, app.specs.get(name), app.extras.get(name), now, pal))
            else:
                removals.append(name)
        with app.batch_update():
            self.table.apply(upserts, removals)
            self.query_one(RunHeader).show(run_summary(
                app.run_id, sessions, app.run_budget, pal, supervising=app.supervising,
                sort_mode=self.table.sort_mode, filter_mode=self.filter_mode, nodes=app.nodes))
        self.flushes += 1

    def on_screen_resume(self) -> None:
        self.mark_dirty(None)

    # ------------------------------------------------------------------ actions
    @property
    def current(self) -> str | None:
        return self.table.current_key

    @on(SessionTable.RowSelected, "#sessions")
    def _row_selected(self, event: SessionTable.RowSelected) -> None:
        event.stop()
        self.cortex.open_session(event.key)

    @on(EventsPanel.JumpTo)
    def _jump(self, event: EventsPanel.JumpTo) -> None:
        self.cortex.open_session(event.session)

    def action_act(self, action: str) -> None:
        if self.current:
            self.cortex.act(action, self.current)

    def action_attach(self) -> None:
        if self.current:
            self.cortex.attach(self.current)

    def action_cycle_sort(self) -> None:
        self.set_sort(SORT_MODES[(SORT_MODES.index(self.table.sort_mode) + 1) % len(SORT_MODES)])

    def set_sort(self, mode: str) -> None:
        self.table.set_sort_mode(mode)
        self.mark_dirty(None)
        self.notify(f"sorted by {mode}", timeout=1.5)

    @on(SessionTable.HeaderSelected, "#sessions")
    def _header(self, event: SessionTable.HeaderSelected) -> None:
        key = event.column
        mode = {"name": "name", "state": "state", "activity": "activity", "cost": "cost", "cpu": "cpu",
                "triggers": "attention"}.get(key)
        if mode and key in COLUMN_KEYS:
            self.set_sort(mode)

    def action_cycle_filter(self) -> None:
        self.set_filter(FILTER_MODES[(FILTER_MODES.index(self.filter_mode) + 1) % len(FILTER_MODES)])

    def set_filter(self, mode: str) -> None:
        self.filter_mode = mode
        self.mark_dirty(None)
        self.flush()
        self.notify(f"showing: {mode}", timeout=1.5)

    def action_toggle_events(self) -> None:
        panel = self.events_panel
        panel.display = not panel.display
        if not panel.display:
            self.table.focus()

    def action_filter_events(self) -> None:
        panel = self.events_panel
        panel.display = True
        panel.query_one(Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()
