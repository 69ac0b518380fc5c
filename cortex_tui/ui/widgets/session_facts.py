"""Key facts of one session: state, budget, resources, changed files (pre-rendered text)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class SessionFacts(Static):
    def show(self, text: Text) -> None:
        self.update(text)
