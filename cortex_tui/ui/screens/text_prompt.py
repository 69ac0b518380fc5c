"""Ask for one line of text in a modal: Enter submits, Esc cancels (dismisses with None)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPromptScreen(ModalScreen[str | None]):
    """Dismisses with the typed text, or None when cancelled. Empty text is refused unless ``allow_empty``."""

    CSS_PATH = "../review.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, *, placeholder: str = "", hint: str = "Enter submits · Esc cancels",
                 allow_empty: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.hint = hint
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="rv-modal"):
            yield Static(Text(self.title_text, style="bold"), classes="rv-modal-title")
            yield Input(placeholder=self.placeholder, id="prompt-input")
            yield Static(Text(self.hint, style="dim"), classes="rv-modal-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.allow_empty and not event.value.strip():
            self.notify("type something first (Esc cancels)", severity="warning", timeout=3)
            return
        self.dismiss(event.value)
