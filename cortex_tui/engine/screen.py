"""Looking at a session's screen for an approval prompt: one capture in flight per session, again if asked
meanwhile (output keeps coming while a capture runs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionRecord, SessionState

log = logging.getLogger("cortex_tui.engine")

CAPTURE_LINES = 60


class ScreenChecks:
    def __init__(self, tasks: TaskSet, tmux_for: Callable[[SessionRecord], Tmux], book: TriggerBook) -> None:
        self.tasks = tasks
        self.tmux_for = tmux_for
        self.book = book

    def check_soon(self, rt: SessionRuntime) -> None:
        """Look at the screen for an approval prompt (one capture in flight per session)."""
        if rt.screen_task is not None and not rt.screen_task.done():
            rt.screen_again = True
            return

        async def check() -> None:
            while True:
                rt.screen_again = False
                rec = rt.rec
                if not rec.pane_id or not rec.state.live:
                    return
                try:
                    screen = await asyncio.to_thread(self.tmux_for(rec).capture, rec.pane_id, CAPTURE_LINES)
                except CortexError as e:  # the pane went away: its exit is handled elsewhere
                    log.info("screen check of %s: %s", rec.name, e.message)
                    return
                lines = screen.splitlines()
                prompt = rt.adapter.find_approval(lines)
                self.book.apply(rt, rt.approval.screen(prompt.text if prompt else None))
                if prompt is None and rec.state is SessionState.RUNNING and rt.adapter.screen_idle(lines):
                    self.book.set_state(rt, SessionState.IDLE, None)  # e.g. back at its prompt after a deny
                if not rt.screen_again:
                    return

        rt.screen_task = self.tasks.spawn(check, f"screen:{rt.rec.name}")
