"""Command palette entries for every action, on the current session and by session name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from cortex_tui.ui.present import FILTER_MODES, SORT_MODES

if TYPE_CHECKING:
    from cortex_tui.ui.app import CortexApp

ACTIONS: tuple[tuple[str, str], ...] = (
    ("approve", "Approve the waiting prompt"),
    ("deny", "Deny the waiting prompt"),
    ("interrupt", "Interrupt the agent"),
    ("stop", "Stop the session"),
    ("restart", "Restart the session"),
)


def entries(app: CortexApp) -> list[tuple[str, Callable[[], object], str]]:
    """(title, callback, help) for everything the palette offers right now."""
    out: list[tuple[str, Callable[[], object], str]] = []
    current = app.current_session
    if current:
        for action, help_text in ACTIONS:
            out.append((f"{action.capitalize()} {current}", partial(app.act, action, current), help_text))
        out.append((f"Attach to {current}", partial(app.attach, current), "Suspend the UI and attach in tmux"))
    for name, rec in app.sessions.items():
        out.append((f"Open {name}", partial(app.open_session, name), f"{rec.state.value} · {rec.agent}"))
        if rec.state.value == "waiting":
            out.append((f"Approve {name}", partial(app.act, "approve", name), "waiting for approval"))
    for mode in SORT_MODES:
        out.append((f"Sort by {mode}", partial(app.set_sort, mode), "Dashboard order"))
    for mode in FILTER_MODES:
        out.append((f"Show {mode} sessions", partial(app.set_filter, mode), "Dashboard filter"))
    out.append(("Toggle events panel", app.toggle_events, "Show or hide the live event feed"))
    out.append(("Review queue", app.action_review, "Approve, reject or request changes on finished branches"))
    out.append(("Compare variants", app.action_compare, "Best-of: score table, diffs, pick the winner"))
    out.append(("Keys", app.action_help, "Show every key binding"))
    return out


class CortexCommands(Provider):
    """Session actions for the command palette."""

    async def discover(self) -> Hits:
        app = cast("CortexApp", self.app)
        for title, cb, help_text in entries(app)[:12]:
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        app = cast("CortexApp", self.app)
        matcher = self.matcher(query)
        for title, cb, help_text in entries(app):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)
