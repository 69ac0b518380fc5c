"""A scrollable, syntax-highlighted diff with hunk navigation."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static


class DiffView(ScrollableContainer, can_focus=True):
    """Shows a highlighted diff (prepared by the caller, e.g. in a worker); ``n``/``p`` jump between hunks."""

    BINDINGS = [
        Binding("n", "next_hunk", "Next hunk"),
        Binding("p", "previous_hunk", "Prev hunk"),
    ]

    DEFAULT_CSS = """
    DiffView {
        height: 1fr;
        overflow: auto auto;
    }
    DiffView > .diff-body {
        width: auto;
        min-width: 100%;
    }
    """

    hunk: reactive[int] = reactive(-1, init=False)
    """Index of the hunk at the top (-1: none chosen yet)."""

    class HunkChanged(Message):
        """The view jumped to another hunk."""

        def __init__(self, diff_view: DiffView, index: int, total: int) -> None:
            super().__init__()
            self.diff_view = diff_view
            self.index = index
            self.total = total

        @property
        def control(self) -> DiffView:
            return self.diff_view

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hunks: tuple[int, ...] = ()
        self.source = ""
        """Plain text currently shown (tests and callers read it)."""

    def compose(self) -> ComposeResult:
        yield Static(classes="diff-body", markup=False)

    def show(self, text: Text, hunks: tuple[int, ...] = (), title: str = "") -> None:
        """Replace the diff; scrolls back to the top."""
        self.hunks = hunks
        self.source = text.plain
        self.border_title = title
        self.query_one(".diff-body", Static).update(text)
        self.set_reactive(DiffView.hunk, -1)
        self.scroll_to(0, 0, animate=False)

    def watch_hunk(self, index: int) -> None:
        if 0 <= index < len(self.hunks):
            self.scroll_to(y=self.hunks[index], animate=False)
            self.post_message(self.HunkChanged(self, index, len(self.hunks)))

    def action_next_hunk(self) -> None:
        if self.hunks:
            self.hunk = min(self.hunk + 1, len(self.hunks) - 1)

    def action_previous_hunk(self) -> None:
        if self.hunks:
            self.hunk = max(self.hunk - 1, 0)
