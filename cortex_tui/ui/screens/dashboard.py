"""The default screen: every session in one table, the run summary on top, the selected session's live pane
under the table, the event feed below."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from cortex_tui.ui.keys import SESSION_ACTIONS
from cortex_tui.ui.messages import Attach, OpenSession, ShowScreen
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
from cortex_tui.ui.screens.session_actions import request_action
from cortex_tui.ui.view import RunView
from cortex_tui.ui.widgets.events_panel import EventsPanel
from cortex_tui.ui.widgets.key_bar import KeyBar
from cortex_tui.ui.widgets.pane_preview import PanePreview
from cortex_tui.ui.widgets.run_header import RunHeader
from cortex_tui.ui.widgets.session_table import SessionTable

MIN_PREVIEW = 6
"""Rows (border included) below which the pane preview is not worth showing."""


class DashboardScreen(Screen[None]):
    """Sessions table + header + preview + events. Rows are refreshed from the live RunState in coalesced
    flushes; re-sorts wait for a pause in typing (see :class:`SessionTable`)."""

    BINDINGS = [
        *SESSION_ACTIONS,
        Binding("n", "new_session", "New"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("e", "toggle_events", "Events"),
        Binding("p", "toggle_preview", "Preview"),
        Binding("slash", "filter_events", "Find event", show=False),
        Binding("escape", "focus_table", "Back", show=False),
    ]

    def __init__(self, view: RunView, *, flush_interval: float = 0.1, input_quiet: float = 0.2,
                 max_flush_delay: float = 1.0, ticking: bool = True,
                 last_input_at: Callable[[], float] = lambda: float("-inf"),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id="dashboard")
        self.view = view
        self.flush_interval = flush_interval
        """Coalescing window for table refreshes (0.1 s = at most 10 redraws/s)."""
        self.input_quiet = input_quiet
        """Table refreshes wait until no key was pressed for this long..."""
        self.max_flush_delay = max_flush_delay
        """...but never longer than this."""
        self.ticking = ticking
        """Refresh "12 s ago" columns every second (snapshot tests turn it off)."""
        self.last_input_at = last_input_at
        self.monotonic = monotonic
        self.filter_mode = "all"
        self.preview_on = True
        """Show the selected session's pane under the table (``p`` toggles)."""
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._flush_timer_pending = False
        self._settle_pending = False
        self._first_dirty_at = 0.0
        self._resumed = False
        """Shown again after an opaque screen: the next flush also brings the "12 s ago" cells up to date."""
        self._table: SessionTable | None = None
        self._events_panel: EventsPanel | None = None
        self._preview: PanePreview | None = None
        self._fitted: tuple[int, int, bool, bool] | None = None
        self.flushes = 0
        """How many coalesced table refreshes ran (tests and the benchmark read this)."""

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        yield SessionTable(id="sessions")
        yield PanePreview(self._capture, id="preview")
        yield EventsPanel(id="events")
        yield KeyBar()

    async def _capture(self, name: str) -> str:
        return await self.view.engine.screen(name)

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

    @property
    def preview(self) -> PanePreview:
        if self._preview is None:
            self._preview = self.query_one("#preview", PanePreview)
        return self._preview

    def on_mount(self) -> None:
        # toasts take their own rows above the key bar instead of covering the events panel (app.tcss)
        rack = self.query("#textual-toastrack")
        if rack:
            self.move_child(rack.first(), after=self.query_one(KeyBar))
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
        self._arm_flush()

    def _arm_flush(self) -> None:
        if not self._flush_timer_pending:
            self._flush_timer_pending = True
            self._first_dirty_at = self.monotonic()
            self.set_timer(self.flush_interval, self._timed_flush)

    def _timed_flush(self) -> None:
        # Input first: while keys are arriving, table refreshes wait (up to max_flush_delay) so a
        # keystroke never queues behind a full table repaint.
        now = self.monotonic()
        quiet_for = now - self.last_input_at()
        waited = now - self._first_dirty_at
        if quiet_for < self.input_quiet and waited < self.max_flush_delay:
            self.set_timer(self.input_quiet - quiet_for, self._timed_flush)
            return
        self._flush_timer_pending = False
        if self.shown:
            self.flush()

    @property
    def shown(self) -> bool:
        """On screen: on top, or under a see-through screen (a modal dialog). ``is_current`` is also true under
        an opaque screen (the session view): rows refreshed there are work nobody sees — they wait, marked
        dirty, for :meth:`on_screen_resume`."""
        screen = self.app.screen
        return screen is self or (self.is_current and screen.styles.background.a < 1)

    def _schedule_tick(self) -> None:
        """Refresh relative times once a second; re-armed after each run (never piles up)."""
        self.set_timer(1.0, self._tick)

    def _tick(self) -> None:
        if self.shown and self.ticking:
            self.refresh_activity()
        self._schedule_tick()

    def refresh_activity(self) -> int:
        """Bring only the "12 s ago" cells up to date (the once-a-second tick); returns cells changed.

        Rows with other pending changes are left to the next flush. Cheap: no full row is rebuilt.
        """
        if self._all_dirty:
            return 0  # a full flush is due anyway
        view = self.view
        table = self.table
        now = view.clock()
        pal = view.palette
        sessions, extras = view.sessions, view.extras
        changed = 0
        for name in table.keys_in_order():
            rec = sessions.get(name)
            if rec is None or name in self._dirty:
                continue
            cell = activity_cell(last_activity(rec, extras.get(name)), now, pal)
            if table.cell(name, "activity") != cell:
                table.update_cell(name, "activity", cell)
                changed += 1
        return changed

    def flush(self, *, force_order: bool = False) -> None:
        """Bring the table and header up to date with the engine's RunState, by row key."""
        view = self.view
        sessions = view.sessions
        names = set(sessions) if self._all_dirty else self._dirty & set(sessions)
        gone = [k for k in self.table.keys_in_order() if k not in sessions]
        self._dirty.clear()
        self._all_dirty = False
        now = view.clock()
        pal = view.palette
        upserts = []
        removals = list(gone)
        for name in names:
            rec = sessions[name]
            if matches_filter(rec, self.filter_mode):
                upserts.append(row_view(rec, view.specs.get(name), view.extras.get(name), now, pal))
            else:
                removals.append(name)
        table = self.table
        with self.app.batch_update():
            table.apply(upserts, removals, now=self.monotonic(), last_key_at=self.last_input_at())
            if self._resumed:
                self._resumed = False
                self.refresh_activity()  # (the rows just rebuilt compare equal)
            if force_order:
                table.settle(self.monotonic(), force=True)
            self.query_one(RunHeader).show(run_summary(
                view.run_id, sessions, view.run_budget, pal, supervising=view.supervising,
                sort_mode=table.sort_mode, filter_mode=self.filter_mode, nodes=view.nodes))
            self._fit_preview()
        self.flushes += 1
        self._settle_later()

    def _settle_later(self) -> None:
        """A re-sort is waiting for a pause in typing: try again when it may happen."""
        table = self.table
        if table.settled or self._settle_pending:
            return
        self._settle_pending = True
        wait = table.wait_before_settle(self.monotonic(), self.last_input_at())
        self.set_timer(max(0.05, wait), self._settle)

    def _settle(self) -> None:
        self._settle_pending = False
        if self.table.settle(self.monotonic(), self.last_input_at()):
            self._fit_preview()
        else:
            self._settle_later()

    def on_screen_resume(self) -> None:
        # the rows that changed while an opaque screen covered this one (not all of them: the frame that shows
        # the dashboard again is a repaint of cached rows, the flush follows when the keys pause)
        self._resumed = True
        self._arm_flush()
        # it captured nothing while another screen was on top; not in the frame that shows the dashboard again
        self.set_timer(self.preview.follow_delay, self.preview.request_capture)

    def on_resize(self, _event: events.Resize) -> None:
        self._fit_preview()

    def _fit_preview(self) -> None:
        """Give the table the rows it needs and the preview the rest (or all but its share when the table
        would fill the screen); hide the preview where it would be too small to read."""
        events_h = (self.events_panel.outer_size.height or 10) if self.events_panel.display else 0
        avail = self.size.height - 2 - events_h  # header and key bar
        rows = self.table.row_count + 1
        key = (avail, rows, self.preview_on, self.events_panel.display)
        if key == self._fitted:
            return
        self._fitted = key
        preview = self.preview
        if self.preview_on and avail - rows >= MIN_PREVIEW:
            table_h = rows
        elif self.preview_on and avail >= 2 * MIN_PREVIEW + 2:
            table_h = avail - max(MIN_PREVIEW, avail * 2 // 5)
        else:
            preview.display = False
            self.table.styles.height = "1fr"
            return
        self.table.styles.height = table_h
        if not preview.display:
            preview.display = True
            preview.request_capture()

    def session_output(self, session: str) -> None:
        """The engine saw output of ``session``: re-capture the preview if it shows that session."""
        if self.app.screen is self and self.preview.session == session:
            self.preview.request_capture()

    # ------------------------------------------------------------------ actions
    @property
    def current(self) -> str | None:
        return self.table.current_key

    @on(SessionTable.RowHighlighted, "#sessions")
    def _row_highlighted(self, event: SessionTable.RowHighlighted) -> None:
        self.preview.show_session(event.key)

    @on(SessionTable.RowSelected, "#sessions")
    def _row_selected(self, event: SessionTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenSession(event.key))

    @on(EventsPanel.JumpTo)
    def _jump(self, event: EventsPanel.JumpTo) -> None:
        event.stop()
        self.post_message(OpenSession(event.session))

    def action_act(self, action: str) -> None:
        if self.current:
            request_action(self.app, self.post_message, action, self.current)

    def action_attach(self) -> None:
        if self.current:
            self.post_message(Attach(self.current))

    def action_new_session(self) -> None:
        self.post_message(ShowScreen("new-session"))

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
        self.flush(force_order=True)
        self.notify(f"showing: {mode}", timeout=1.5)

    def action_toggle_events(self) -> None:
        panel = self.events_panel
        panel.display = not panel.display
        if not panel.display:
            self.table.focus()
        self.call_after_refresh(self._fit_preview)

    def action_toggle_preview(self) -> None:
        self.preview_on = not self.preview_on
        self._fit_preview()
        self.notify(f"pane preview {'on' if self.preview_on else 'off'}", timeout=1.5)

    def action_filter_events(self) -> None:
        panel = self.events_panel
        panel.display = True
        panel.query_one(Input).focus()
        self.call_after_refresh(self._fit_preview)

    def action_focus_table(self) -> None:
        self.table.focus()
