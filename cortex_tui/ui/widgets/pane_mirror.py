"""Live mirror of a session's tmux pane (already sanitised text)."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


class PaneMirror(VerticalScroll):
    """A scrollable copy of the pane; follows the bottom unless the user scrolled up."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("capturing pane…", style="italic"), id="pane-text")

    plain = ""
    """The text currently shown, without styles (tests and the benchmark read it)."""

    def show(self, text: Text) -> None:
        self.plain = text.plain
        follow = self.scroll_y >= self.max_scroll_y - 1
        self.query_one("#pane-text", Static).update(text)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)
