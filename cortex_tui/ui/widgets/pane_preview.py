"""The dashboard's live preview of the selected session's tmux pane (read-only; the session view is for typing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

from cortex_tui.ui.ansi import pane_text

Capture = Callable[[str], Awaitable[str]]
"""``await capture(session)``: the pane's text with its colour escapes (the engine's ``screen``)."""


class PanePreview(Widget):
    """Shows the bottom of one session's pane; re-captured on its output, at most every ``capture_interval``,
    and every ``idle_capture_every`` seconds without output. Captures nothing while hidden.

    A plain render of the last lines that fit (no scrolling, no layout pass per capture): a new capture
    repaints this widget only, so it costs the dashboard's keystrokes nothing.
    """

    DEFAULT_CSS = """
    PanePreview {
        height: 1fr;
        border: round $primary 40%;
        border-title-color: $primary;
        padding: 0 1;
        background: $background;
    }
    """

    capture_interval = 0.25
    idle_capture_every = 2.0
    follow_delay = 0.15
    """After the cursor moves, wait this long for it to stop before capturing (``j j j`` is one capture)."""

    def __init__(self, capture: Capture, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._capture_fn = capture
        self.session: str | None = None
        self.captures = 0
        """Captures finished (tests wait on it)."""
        self._capture_wanted = False
        self._capturing = False
        self._follow: Timer | None = None
        self._text = Text("no session selected", style="italic")
        self.plain = self._text.plain
        """The text shown, without styles (tests read it)."""

    def on_mount(self) -> None:
        self.can_focus = False
        self.set_timer(self.idle_capture_every, self._idle_capture)

    def show_session(self, name: str | None) -> None:
        """Preview ``name``: the title changes at once, the capture follows when the cursor rests."""
        if name == self.session:
            return
        self.session = name
        if self._follow is not None:
            self._follow.stop()
        self._follow = self.set_timer(self.follow_delay, self.request_capture)

    def request_capture(self) -> None:
        """Capture soon, if shown (not hidden, and its screen is on top: ``is_current`` is also true under a
        screen pushed on top of it)."""
        if self.session is None or not self.display or self.app.screen is not self.screen:
            return
        self._capture_wanted = True
        if not self._capturing:
            self._capturing = True
            self.run_worker(self._capture_loop(), group="preview", exit_on_error=False)

    async def _capture_loop(self) -> None:
        try:
            while self._capture_wanted and self.session is not None and self.display and self.app.screen is self.screen:
                self._capture_wanted = False
                started = time.monotonic()
                name = self.session
                try:
                    raw = await self._capture_fn(name)
                except Exception as e:  # a gone window, tmux trouble: said in the pane, not raised
                    text = Text(f"pane unavailable: {str(e) or type(e).__name__}", style="italic")
                else:
                    if name != self.session:
                        self._capture_wanted = True
                        continue
                    text = pane_text(raw)
                if name == self.session:
                    self.border_title = f"{name} · preview"
                    self.show(text)
                self.captures += 1
                await asyncio.sleep(max(0.0, self.capture_interval - (time.monotonic() - started)))
        finally:
            self._capturing = False

    def show(self, text: Text) -> None:
        self._text = text
        self.plain = text.plain
        self.refresh()

    def render(self) -> Text:
        height = self.content_region.height or self.size.height
        lines = self._text.split("\n", allow_blank=True)
        while lines and not lines[-1].plain.strip():
            lines.pop()
        tail = lines[-height:] if height > 0 else lines
        out = Text("\n").join(tail)
        out.no_wrap = True
        out.overflow = "crop"
        return out

    def _idle_capture(self) -> None:
        self.request_capture()
        self.set_timer(self.idle_capture_every, self._idle_capture)
