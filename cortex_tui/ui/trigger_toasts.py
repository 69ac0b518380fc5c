"""Trigger notifications without a toast storm: the first one shows at once, later ones are batched.

With 20 agents a flaky test can raise several triggers a second; a toast each would pile up and hide the
screen (and each toast mounts a widget, a full layout pass). Triggers that arrive within ``window``
seconds of the last toast are collected into one summary toast when the window ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.app import App
from textual.notifications import SeverityLevel

from cortex_tui.text import visible

SHOWN_PER_TOAST = 4
"""Triggers listed in a summary toast; the rest are counted."""


@dataclass(frozen=True)
class TriggerNote:
    session: str
    summary: str
    severity: str


def _level(severity: str) -> SeverityLevel:
    return "error" if severity in ("error", "critical") else "warning"


class TriggerToasts:
    """Shows trigger notifications on ``app``, at most one toast per ``window`` seconds."""

    def __init__(self, app: App[None], *, window: float = 2.0, timeout: float = 6.0,
                 terminal: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.window = window
        self.timeout = timeout
        self.terminal = terminal
        """``terminal(title, body)``: the desktop notification (and bell) through the terminal, once per toast."""
        self.clock = clock
        self.pending: list[TriggerNote] = []
        self.toasts = 0
        """Toasts shown so far (tests read this)."""
        self._last = float("-inf")
        self._timer = False

    def add(self, note: TriggerNote) -> None:
        self.pending.append(note)
        if self._timer:
            return
        wait = self._last + self.window - self.clock()
        if wait <= 0:
            self.show()
        else:
            self._timer = True
            self.app.set_timer(wait, self.show)

    def show(self) -> None:
        """Show everything pending as one toast (one terminal notification)."""
        self._timer = False
        notes, self.pending = self.pending, []
        if not notes:
            return
        self._last = self.clock()
        self.toasts += 1
        worst: SeverityLevel = "error" if any(_level(n.severity) == "error" for n in notes) else "warning"
        lines = [visible(f"{n.session}: {n.summary}") for n in notes[:SHOWN_PER_TOAST]]
        if len(notes) == 1:
            title = "trigger"
            self.app.notify(lines[0], title=title, severity=worst, timeout=self.timeout)
        else:
            title = f"{len(notes)} triggers"
            if len(notes) > SHOWN_PER_TOAST:
                lines.append(f"… and {len(notes) - SHOWN_PER_TOAST} more (events panel)")
            self.app.notify("\n".join(lines), title=title, severity=worst, timeout=self.timeout)
        if self.terminal is not None:
            self.terminal(f"cortex-tui {title}", "; ".join(lines))
