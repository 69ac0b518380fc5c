"""One session up close: live pane mirror, trigger history with evidence, facts, files, and actions."""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static

from cortex_tui.text import visible
from cortex_tui.ui.ansi import pane_text
from cortex_tui.ui.keys import SESSION_ACTIONS
from cortex_tui.ui.messages import Attach
from cortex_tui.ui.present import facts_text, files_text, state_cell, trigger_table
from cortex_tui.ui.screens.session_actions import request_action
from cortex_tui.ui.view import RunView
from cortex_tui.ui.widgets.key_bar import KeyBar
from cortex_tui.ui.widgets.pane_mirror import PaneMirror
from cortex_tui.ui.widgets.session_facts import SessionFacts
from cortex_tui.ui.widgets.trigger_history import TriggerHistory


class SessionScreen(Screen[None]):
    """Shows one session; the pane is re-captured on its output events, at most every ``capture_interval``."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        *SESSION_ACTIONS,
        Binding("m", "message", "Message"),
    ]

    capture_interval = 0.15
    """Minimum seconds between two pane captures."""
    idle_capture_every = 2.0
    """Capture at least this often even without output events (cursor moves, redraws)."""

    def __init__(self, view: RunView, name: str) -> None:
        super().__init__(id="session")
        self.view = view
        self.session = name
        self._capture_wanted = False
        self._capturing = False
        self.captures = 0
        self._ready = False
        self.last_capture_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="session-title")
        with Horizontal(id="session-body"):
            yield PaneMirror(id="pane")
            with VerticalScroll(id="session-side"):
                yield SessionFacts(id="facts")
                yield Static("Triggers", classes="section-title")
                yield TriggerHistory(id="triggers")
                yield Static("Changed files", classes="section-title")
                yield SessionFacts(id="files")
        yield Input(placeholder="message to the agent — Enter sends it (typed literally), Esc leaves", id="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self._ready = True
        self.refresh_info()
        self.request_capture()
        self.query_one(PaneMirror).focus()
        self.set_timer(self.idle_capture_every, self._idle_capture)

    def show_session(self, name: str) -> None:
        """Point this (reused) screen at another session: composing a new screen costs ~50 ms, this ~1 ms."""
        if name == self.session:
            return
        self.session = name
        self.captures = 0
        self._show(Text("capturing pane…", style="italic"))
        self.query_one("#message", Input).value = ""
        self.refresh_info()
        self.request_capture()
        self.query_one(PaneMirror).focus()

    # ------------------------------------------------------------------ content
    def refresh_info(self) -> None:
        if not self._ready:
            return
        view = self.view
        rec = view.sessions.get(self.session)
        if rec is None:
            self.query_one("#session-title", Static).update(Text(f" {visible(self.session)}: no such session",
                                                                 style="bold"))
            return
        now = view.clock()
        spec = view.specs.get(self.session)
        pal = view.palette
        title = Text(f" {visible(rec.name)} ", style="bold reverse")
        title.append("  ")
        title.append_text(state_cell(rec.state, pal))
        if rec.reason:
            title.append(f"  {visible(rec.reason)}", style=pal.muted)
        n = len(rec.active_triggers())
        if n:
            title.append(f"  ⚑ {n} active", style=f"bold {pal.warning}")
        try:
            with self.app.batch_update():
                self.query_one("#session-title", Static).update(title)
                self.query_one("#facts", SessionFacts).show(facts_text(rec, spec, view.extras.get(self.session),
                                                                       now, pal))
                self.query_one("#triggers", TriggerHistory).show(trigger_table(rec, now, pal))
                self.query_one("#files", SessionFacts).show(files_text(rec, spec, pal))
        except NoMatches:  # the screen is being torn down
            return

    def request_capture(self) -> None:
        """Re-capture the pane soon; calls during a capture merge into one more capture."""
        self._capture_wanted = True
        if not self._capturing:
            self._capturing = True
            self.run_worker(self._capture_loop(), group="capture", exit_on_error=False)

    async def _capture_loop(self) -> None:
        try:
            while self._capture_wanted:
                self._capture_wanted = False
                started = time.monotonic()
                name = self.session
                try:
                    raw = await self.view.engine.screen(name)
                except Exception as e:
                    self.last_capture_error = str(e) or type(e).__name__
                    self._show(Text(f"pane unavailable: {self.last_capture_error}", style="italic"))
                else:
                    self.last_capture_error = None
                    if name != self.session:  # switched sessions meanwhile: capture again
                        self._capture_wanted = True
                        continue
                    self._show(pane_text(raw))
                self.captures += 1
                await asyncio.sleep(max(0.0, self.capture_interval - (time.monotonic() - started)))
        finally:
            self._capturing = False

    def _show(self, text: Text) -> None:
        try:
            self.query_one(PaneMirror).show(text)
        except NoMatches:  # the screen is being torn down
            pass

    def _idle_capture(self) -> None:
        if self.is_current:
            self.request_capture()
        self.set_timer(self.idle_capture_every, self._idle_capture)

    # ------------------------------------------------------------------ actions
    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(PaneMirror).focus()
            return
        self.dismiss()

    def action_act(self, action: str) -> None:
        request_action(self.app, self.post_message, action, self.session)

    def action_attach(self) -> None:
        self.post_message(Attach(self.session))

    def action_message(self) -> None:
        self.query_one("#message", Input).focus()

    @on(Input.Submitted, "#message")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value
        if not text:
            return
        event.input.value = ""
        request_action(self.app, self.post_message, "send", self.session, text)
