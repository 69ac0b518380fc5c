"""Live feed of engine events with a text filter; Enter on an event jumps to its session."""

from __future__ import annotations

from collections import deque

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from cortex_tui.ui.widgets.event_feed import EventFeed, EventLine

__all__ = ["EventLine", "EventsPanel"]


class EventsPanel(Vertical):
    """A bounded, filterable event log. New events land in batches (≤ 4 repaints/s)."""

    DEFAULT_CSS = """
    EventsPanel > Input { height: 1; border: none; padding: 0 1; }
    """

    class JumpTo(Message):
        """The user picked an event; show its session."""

        def __init__(self, session: str) -> None:
            super().__init__()
            self.session = session

    def __init__(self, *, capacity: int = 500, id: str | None = None) -> None:
        super().__init__(id=id)
        self.capacity = capacity
        self._lines: deque[EventLine] = deque(maxlen=capacity)
        self._shown: list[EventLine] = []
        self._needle = ""
        self._flush_pending = False
        self.batch_interval = 0.25
        """Seconds between two repaints of the feed."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter events (session, kind, text)…", id="events-filter")
        yield EventFeed(id="events-feed")

    @property
    def feed(self) -> EventFeed:
        return self.query_one("#events-feed", EventFeed)

    @property
    def visible_count(self) -> int:
        """Events that pass the filter."""
        return sum(1 for ln in self._lines if ln.matches(self._needle))

    def add(self, line: EventLine) -> None:
        self._lines.append(line)
        if not self._flush_pending:
            self._flush_pending = True
            self.set_timer(self.batch_interval, self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        self._shown = [ln for ln in self._lines if ln.matches(self._needle)]
        self.feed.set_lines(self._shown)

    @on(Input.Changed, "#events-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.set_filter(event.value)

    def set_filter(self, needle: str) -> None:
        """Show only events whose session/kind/text contain every word of ``needle``."""
        self._needle = needle.strip()
        self.feed.cursor = -1
        self.flush()

    @on(EventFeed.Selected)
    def _selected(self, event: EventFeed.Selected) -> None:
        event.stop()
        if event.line.session:
            self.post_message(self.JumpTo(event.line.session))
