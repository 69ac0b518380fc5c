"""``?``: every key binding, grouped by where it works."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (
        ("?", "this help"),
        ("ctrl+p", "command palette (every action, every session)"),
        ("q", "quit — agents keep running in tmux"),
        ("V", "review queue: diff, verify, approve / reject / request changes"),
        ("C", "compare best-of variants, pick the winner"),
        ("Q", "task queue: pending (and why each waits), running, done, per type; the pool and its warm slots"),
        ("U", "bring the sessions back after the run's tmux server died (as `cortex-tui up` does)"),
    )),
    ("Dashboard", (
        ("↑ ↓  j k", "move between sessions"),
        ("enter", "open the session view"),
        ("o", "cycle sort: attention → name → state → activity → cost → cpu"),
        ("f", "cycle filter: all → attention → live → waiting → running → failed → done"),
        ("e", "show / hide the events panel"),
        ("p", "show / hide the selected session's live pane under the table"),
        ("n", "new session on this run: name, agent, prompt, scope"),
        ("/", "filter events (enter on an event opens its session)"),
    )),
    ("Session actions (dashboard row or session view)", (
        ("a", "approve the waiting prompt"),
        ("d", "deny the waiting prompt"),
        ("i", "interrupt the agent"),
        ("x", "stop the session (asks y/n, naming it)"),
        ("R", "restart the session (asks y/n, naming it)"),
        ("t", "attach to its tmux window, with your ~/.tmux.conf (detach: prefix d, C-b d by default)"),
        ("m", "type a message to the agent (session view)"),
        ("esc", "back to the dashboard"),
    )),
    ("Task queue (Q)", (
        ("enter", "open the selected task's session"),
        ("ctrl+r", "reload now (it also follows the engine's events)"),
        ("esc", "back"),
    )),
    ("Review queue (V) and best-of compare (C)", (
        ("a", "approve: merge the branch into the base (asks y/n)"),
        ("r", "reject, with an optional reason (the head is kept under a ref)"),
        ("c", "request changes: the text goes to the agent"),
        ("v", "re-run verify"),
        ("s", "squash on / off for approve"),
        ("!", "a shell in the session's worktree"),
        ("w", "compare: make the selected variant the winner"),
        ("I", "the integration gate: every finished branch merged together and verified"),
        ("[ ]", "previous / next hunk"),
        ("ctrl+r", "reload from disk"),
        ("esc", "back"),
    )),
    ("Integration gate (I on the review queue)", (
        ("r", "re-run the gate (merge, conflict matrix, verify the combination)"),
        ("a", "approve: move the base to the passing combination (asks y/n; backup ref first)"),
        ("esc", "back"),
    )),
)


def help_text() -> Group:
    parts: list[Text | Table] = []
    for i, (group, keys) in enumerate(KEYS):
        parts.append(Text(("\n" if i else "") + group, style="bold underline"))
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold", no_wrap=True, width=10)
        table.add_column()
        for key, what in keys:
            table.add_row(key, what)
        parts.append(table)
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("cortex-tui keys", style="bold"), id="help-title")
            yield Static(help_text(), id="help-keys")
