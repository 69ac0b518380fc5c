"""One-line header: run name, sessions by state, triggers, cost vs run budget."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class RunHeader(Widget):
    """Shows a pre-rendered summary line (see :func:`cortex_tui.ui.present.run_summary`).

    A plain render (not ``Static.update``) so a new summary repaints one line without a layout pass.
    """

    DEFAULT_CSS = "RunHeader { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._summary = Text()

    def show(self, summary: Text) -> None:
        if summary != self._summary:
            self._summary = summary
            self.refresh()

    @property
    def plain(self) -> str:
        return self._summary.plain

    def render(self) -> Text:
        return self._summary
