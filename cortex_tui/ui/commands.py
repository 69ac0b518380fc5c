"""Command palette entries for every action, on the current session and by session name.

Entries post the same messages the screens post (:mod:`cortex_tui.ui.messages`); sort and filter are
method calls down to the dashboard. Destructive actions are confirmed like their keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Protocol, cast

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message

from cortex_tui.ui.messages import Attach, OpenSession, ShowScreen
from cortex_tui.ui.present import FILTER_MODES, SORT_MODES
from cortex_tui.ui.screens.dashboard import DashboardScreen
from cortex_tui.ui.screens.session_actions import request_action
from cortex_tui.ui.view import RunView

ACTIONS: tuple[tuple[str, str], ...] = (
    ("approve", "Approve the waiting prompt"),
    ("deny", "Deny the waiting prompt"),
    ("interrupt", "Interrupt the agent"),
    ("stop", "Stop the session"),
    ("restart", "Restart the session"),
)


class PaletteHost(Protocol):
    """What the palette needs from the app."""

    @property
    def view(self) -> RunView: ...

    @property
    def current_session(self) -> str | None: ...

    @property
    def dashboard(self) -> DashboardScreen: ...

    @property
    def app(self) -> App[object]: ...

    def post_message(self, message: Message) -> bool: ...


def entries(host: PaletteHost) -> list[tuple[str, Callable[[], object], str]]:
    """(title, callback, help) for everything the palette offers right now."""
    out: list[tuple[str, Callable[[], object], str]] = []
    post = host.post_message

    def act(action: str, name: str) -> None:
        request_action(host.app, post, action, name)

    current = host.current_session
    if current:
        for action, help_text in ACTIONS:
            out.append((f"{action.capitalize()} {current}", partial(act, action, current), help_text))
        out.append((f"Attach to {current}", partial(post, Attach(current)), "Suspend the UI and attach in tmux"))
    for name, rec in host.view.sessions.items():
        out.append((f"Open {name}", partial(post, OpenSession(name)), f"{rec.state.value} · {rec.agent}"))
        if rec.state.value == "waiting":
            out.append((f"Approve {name}", partial(act, "approve", name), "waiting for approval"))
    dashboard = host.dashboard
    for mode in SORT_MODES:
        out.append((f"Sort by {mode}", partial(dashboard.set_sort, mode), "Dashboard order"))
    for mode in FILTER_MODES:
        out.append((f"Show {mode} sessions", partial(dashboard.set_filter, mode), "Dashboard filter"))
    out.append(("Toggle events panel", dashboard.action_toggle_events, "Show or hide the live event feed"))
    out.append(("Toggle pane preview", dashboard.action_toggle_preview, "The selected session's pane under the table"))
    out.append(("New session", partial(post, ShowScreen("new-session")), "Name, agent, prompt and scope"))
    out.append(("Review queue", partial(post, ShowScreen("review")),
                "Approve, reject or request changes on finished branches"))
    out.append(("Task queue", partial(post, ShowScreen("queue")),
                "Pending (and why each waits), running, done, per type; the pool and its warm slots"))
    out.append(("Compare variants", partial(post, ShowScreen("compare")), "Best-of: score table, diffs, pick the winner"))
    out.append(("Keys", partial(post, ShowScreen("help")), "Show every key binding"))
    return out


class CortexCommands(Provider):
    """Session actions for the command palette."""

    async def discover(self) -> Hits:
        host = cast(PaletteHost, self.app)
        for title, cb, help_text in entries(host)[:12]:
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        host = cast(PaletteHost, self.app)
        matcher = self.matcher(query)
        for title, cb, help_text in entries(host):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)
