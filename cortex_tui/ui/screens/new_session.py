"""``n``: a new session on the live run — name, agent, prompt, scope, with defaults from the layout.

The dialog only builds and checks a :class:`~cortex_tui.model.layout.SessionSpec` (the layout's own
model, so a bad name or glob gets the layout's message); the app hands it to the engine's
``add_session`` command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import get_args

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from cortex_tui.model.layout import AgentKind, Layout, SessionSpec

AGENTS: tuple[str, ...] = get_args(AgentKind)


def default_agent(layout: Layout) -> str:
    """The layout's ``[defaults] agent``, else the agent most of its sessions use, else claude-code."""
    if layout.defaults.agent:
        return layout.defaults.agent
    used = [s.agent for s in layout.session if s.agent]
    return max(set(used), key=used.count) if used else "claude-code"


def free_name(taken: Iterable[str], stem: str = "session") -> str:
    names = set(taken)
    n = len(names) + 1
    while f"{stem}-{n}" in names:
        n += 1
    return f"{stem}-{n}"


def parse_scope(text: str) -> list[str]:
    """``src/** docs/*.md`` or ``src/**, docs/*.md`` -> globs."""
    return [g for g in text.replace(",", " ").split() if g]


def build_spec(name: str, agent: str, prompt: str, scope: str, taken: Iterable[str]) -> SessionSpec:
    """The spec the dialog describes; ValueError with a one-line reason when it is not a valid session."""
    name = name.strip()
    if name in set(taken):
        raise ValueError(f"name: a session named {name!r} already exists")
    if not prompt.strip():
        raise ValueError("prompt: say what the agent should do")
    try:
        return SessionSpec.model_validate({"name": name, "agent": agent, "prompt": prompt.strip(),
                                           "scope": parse_scope(scope)})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "session"
        raise ValueError(f"{field}: {err['msg']}") from None


class NewSessionScreen(ModalScreen[SessionSpec | None]):
    """Dismisses with the new session's spec, or None when cancelled."""

    CSS_PATH = "../review.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "create", "Create")]

    def __init__(self, layout: Layout, taken: Mapping[str, object]) -> None:
        super().__init__()
        self.run_layout = layout
        self.taken = list(taken)
        self.error = ""
        """The last refusal (tests read it)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="rv-modal", id="new-session"):
            yield Static(Text(f"New session in run {self.run_layout.run.name}", style="bold"), classes="rv-modal-title")
            yield Label("name")
            yield Input(value=free_name(self.taken), id="new-name")
            yield Label("agent")
            yield Select([(a, a) for a in AGENTS], value=default_agent(self.run_layout), allow_blank=False,
                         id="new-agent")
            yield Label("prompt")
            yield Input(placeholder="what the agent should do", id="new-prompt")
            yield Label("scope (globs it may edit; empty = everything)")
            yield Input(placeholder="src/** tests/**", id="new-scope")
            yield Static("", id="new-error", classes="rv-modal-hint")
            yield Static(Text("Enter on the prompt or ctrl+s creates · Esc cancels", style="dim"),
                         classes="rv-modal-hint")
            with Horizontal(classes="rv-modal-buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="new-create")
                yield Button("Cancel (esc)", id="new-cancel")

    def on_mount(self) -> None:
        self.query_one("#new-prompt", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_create(self) -> None:
        agent = self.query_one("#new-agent", Select).value
        try:
            spec = build_spec(self.query_one("#new-name", Input).value, str(agent),
                              self.query_one("#new-prompt", Input).value,
                              self.query_one("#new-scope", Input).value, self.taken)
        except ValueError as e:
            self.error = str(e)
            self.query_one("#new-error", Static).update(Text(self.error, style="bold red"))
            return
        self.dismiss(spec)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "new-create":
            self.action_create()
        else:
            self.dismiss(None)
