"""Key bindings shared by screens (one list, so the dashboard and the session view cannot drift apart)."""

from __future__ import annotations

from textual.binding import Binding

SESSION_ACTIONS: tuple[Binding, ...] = (
    Binding("a", "act('approve')", "Approve"),
    Binding("d", "act('deny')", "Deny"),
    Binding("i", "act('interrupt')", "Interrupt"),
    Binding("x", "act('stop')", "Stop"),
    Binding("R", "act('restart')", "Restart"),
    Binding("t", "attach", "Attach"),
)
"""Actions on a session (the dashboard's current row, or the session view's session)."""
