"""A session's triggers, active first, each with the evidence that fired it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class TriggerHistory(Static):
    """Renders a pre-built Rich table of triggers (see :func:`cortex_tui.ui.present.trigger_table`)."""

    def show(self, table: Text) -> None:
        self.update(table)
