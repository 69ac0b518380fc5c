"""Looking at a session's screen for an approval prompt — only when it can have changed meaningfully.

A ``tmux capture-pane`` per batch of output cost a core at fleet scale (twenty sessions printing 100 lines/s
gave 581 captures/s). A prompt that waits does not scroll: so the screen is looked at

* when output went quiet for :data:`QUIET_S` (the agent stopped printing: maybe it waits),
* at once when the new output itself looks like a prompt (the adapter's patterns on the log's tail), or
  while a prompt is shown (the output may be its answer),
* at least every :data:`FLOOD_S` while output never pauses (an agent that animates next to its prompt),

except for adapters whose prompts the log itself shows (:func:`~cortex_tui.engine.session.prompts_in_log`:
the base rules, a prompt is the last line): the log's tail finds their prompts, so a pause is looked at only
as a safety net — for a prompt drawn with cursor moves the tail does not show — at most once per
:data:`QUIET_BACKOFF_S`, doubling up to :data:`QUIET_BACKOFF_MAX_S` while those looks find nothing (100 sim
sessions printing a line a second took 100 captures/s with a look per pause; this costs ~3/s),

and never more often than once per :data:`MIN_GAP_S` per session, with one capture in flight per session
(again if asked meanwhile). Structured signals (hooks) set approvals without looking at the screen at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine.sandbox_writes import screen_blocked
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionRecord, SessionState

log = logging.getLogger("cortex_tui.engine")

CAPTURE_LINES = 60
QUIET_S = 0.15
"""Output quiet this long: the screen is looked at (a prompt waits; it does not scroll)."""
MIN_GAP_S = 0.25
"""At most one capture per session this often (the rate cap)."""
FLOOD_S = 2.0
"""Output that never pauses is still looked at this often."""
QUIET_BACKOFF_S = 5.0
"""A base-rules adapter's pauses are looked at no more often than this at first (then doubling)..."""
QUIET_BACKOFF_MAX_S = 30.0
"""... up to this, while those looks find no prompt."""


@dataclass
class _Gate:
    last_output: float = 0.0
    unseen_since: float | None = None
    """When the first output not yet looked at arrived (None: the screen is up to date)."""
    urgent: bool = False
    last_capture: float = float("-inf")
    timer: asyncio.TimerHandle | None = None
    next_quiet: float = float("-inf")
    """A base-rules adapter's pause is not looked at before this (the safety-net backoff)."""
    quiet_gap: float = QUIET_BACKOFF_S
    backoff: bool = False
    """The session's adapter keeps the base rules (its pauses are looked at only as the backed-off net)."""

    def due(self) -> float | None:
        if self.unseen_since is None:
            return None
        if self.urgent:
            want = self.last_output
        else:
            want = min(self.last_output + QUIET_S, self.unseen_since + FLOOD_S)
            if self.backoff:
                want = max(want, self.next_quiet)
        return max(want, self.last_capture + MIN_GAP_S)


class ScreenChecks:
    def __init__(self, tasks: TaskSet, tmux_for: Callable[[SessionRecord], Tmux], book: TriggerBook,
                 on_lines: Callable[[SessionRuntime, list[str]], bool] | None = None) -> None:
        self.tasks = tasks
        self.on_lines = on_lines
        """Sees every capture first (typed prompts); True: the screen is not read as idle this time."""
        self.tmux_for = tmux_for
        self.book = book
        self._gates: dict[str, _Gate] = {}
        self.captures = 0
        """Captures started (the flood benchmark reads it)."""

    def saw_output(self, rt: SessionRuntime, hint: bool) -> None:
        """New output of ``rt``: look at its screen when that can tell something (see the module doc).
        ``hint``: the new output matches the adapter's prompt patterns."""
        urgent = hint or rt.approval.prompt is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        g = self._gates.setdefault(rt.rec.name, _Gate())
        g.backoff = rt.prompts_in_log  # the log's tail says what the screen would: a pause waits for next_quiet
        g.last_output = now
        if g.unseen_since is None:
            g.unseen_since = now
        if urgent:
            g.urgent = True
        self._arm(rt, g, loop)

    def _arm(self, rt: SessionRuntime, g: _Gate, loop: asyncio.AbstractEventLoop) -> None:
        due = g.due()
        if due is None:
            return
        if g.timer is not None:
            if g.timer.when() <= due:  # it fires first and looks again at what is due then
                return
            g.timer.cancel()
        g.timer = loop.call_at(due, self._fire, rt, g)

    def _fire(self, rt: SessionRuntime, g: _Gate) -> None:
        g.timer = None
        loop = asyncio.get_running_loop()
        due = g.due()
        if due is None:
            return
        if due > loop.time() + 0.001:  # more output came meanwhile: not quiet yet
            self._arm(rt, g, loop)
            return
        self.check_soon(rt)

    def check_soon(self, rt: SessionRuntime) -> None:
        """Look at the screen for an approval prompt now (one capture in flight per session)."""
        g = self._gates.setdefault(rt.rec.name, _Gate())
        if rt.screen_task is not None and not rt.screen_task.done():
            rt.screen_again = True
            return

        async def check() -> None:
            loop = asyncio.get_running_loop()
            while True:
                rt.screen_again = False
                rec = rt.rec
                if not rec.pane_id or not rec.state.live:
                    return
                g.last_capture = loop.time()
                g.unseen_since = None
                g.urgent = False
                if g.timer is not None:
                    g.timer.cancel()
                    g.timer = None
                self.captures += 1
                try:
                    screen = await asyncio.to_thread(self.tmux_for(rec).capture, rec.pane_id, CAPTURE_LINES)
                except CortexError as e:  # the pane went away: its exit is handled elsewhere
                    log.info("screen check of %s: %s", rec.name, e.message)
                    return
                lines = screen.splitlines()
                busy = self.on_lines(rt, lines) if self.on_lines is not None else False
                screen_blocked(self.book, rt, lines)  # a sandboxed session's refused writes (engine/sandbox_writes.py)
                prompt = rt.adapter.find_approval(lines)
                if rt.prompts_in_log:  # the safety net backs off while it finds nothing
                    g.quiet_gap = QUIET_BACKOFF_S if prompt else min(g.quiet_gap * 2, QUIET_BACKOFF_MAX_S)
                    g.next_quiet = loop.time() + (0.0 if prompt else g.quiet_gap)
                # caused by the output that drew it (when the log was last written), not by this look
                self.book.apply(rt, rt.approval.screen(prompt.text if prompt else None), cause_at=rt.output_written_at)
                if prompt is None and not busy and rec.state is SessionState.RUNNING and rt.adapter.screen_idle(lines):
                    self.book.set_state(rt, SessionState.IDLE, None)  # e.g. back at its prompt after a deny
                if not rt.screen_again:
                    self._arm(rt, g, loop)  # output that came during the capture is looked at in its turn
                    return

        rt.screen_task = self.tasks.spawn(check, f"screen:{rt.rec.name}")
