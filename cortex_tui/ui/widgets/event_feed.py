"""A fixed-height, cursor-navigable view of the newest events (no virtual size, so no layout passes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from cortex_tui.text import visible


@dataclass(frozen=True)
class EventLine:
    """One pre-formatted line of the feed."""

    seq: int
    when: str
    session: str | None
    kind: str
    summary: str
    style: str = ""

    def matches(self, needle: str) -> bool:
        if not needle:
            return True
        hay = f"{self.session or ''} {self.kind} {self.summary}".lower()
        return all(part in hay for part in needle.lower().split())


class EventFeed(Widget, can_focus=True):
    """Shows the tail of a list of lines; ↑/↓ pick one (the feed stops following), End follows again."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "move(-8)", show=False),
        Binding("pagedown", "move(8)", show=False),
        Binding("end,G", "follow", "Follow", show=False),
        Binding("enter", "select", "Open session", show=False),
    ]

    DEFAULT_CSS = """
    EventFeed { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    EventFeed:focus { background: $boost; }
    """

    cursor: reactive[int] = reactive(-1, layout=False)
    """Index into :attr:`lines` of the picked event; -1 = follow the newest."""

    class Selected(Message):
        def __init__(self, line: EventLine) -> None:
            super().__init__()
            self.line = line

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: Sequence[EventLine] = ()

    def set_lines(self, lines: Sequence[EventLine]) -> None:
        self.lines = lines
        if self.cursor >= len(lines):
            self.cursor = -1
        self.refresh()

    @property
    def picked(self) -> EventLine | None:
        if not self.lines:
            return None
        return self.lines[self.cursor if self.cursor >= 0 else len(self.lines) - 1]

    def action_move(self, delta: int) -> None:
        if not self.lines:
            return
        cur = self.cursor if self.cursor >= 0 else len(self.lines) - 1
        self.cursor = max(0, min(len(self.lines) - 1, cur + delta))

    def action_follow(self) -> None:
        self.cursor = -1

    def action_select(self) -> None:
        line = self.picked
        if line is not None:
            self.post_message(self.Selected(line))

    def render(self) -> Text:
        height = max(1, self.size.height)
        n = len(self.lines)
        if not n:
            return Text("no events yet", style="dim")
        cur = self.cursor if self.cursor >= 0 else n - 1
        end = n if self.cursor < 0 else min(n, max(cur + 1, height))
        start = max(0, end - height)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i in range(start, end):
            ln = self.lines[i]
            row = Text(no_wrap=True, overflow="ellipsis")
            row.append(f"{ln.when}  ", style="dim")
            row.append(f"{visible(ln.session or '—')[:18]:<18} ")
            row.append(f"{ln.kind:<15} ", style=ln.style)
            row.append(ln.summary)
            if i == cur and self.has_focus:
                row.stylize("reverse")
            if i > start:
                text.append("\n")
            text.append_text(row)
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
