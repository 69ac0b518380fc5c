"""Keeping the records true to tmux: at start (re-attach) and every :data:`RECONCILE_S` while supervising.

:func:`cortex_tui.engine.reattach.reconcile` decides (pure); :class:`Reconciler` applies its decisions in
order: a window found again is attached (adopted after a supervisor restart), an exit file seen is an exit
(:meth:`Lifecycle.on_exit`), a window gone without one is a failure (the tmux server's death named as such).
The exits one reconcile finds are handled side by side: each is seen (its pool slot freed) at once, and their final
looks (git, disk use: in threads) run at most :data:`~cortex_tui.engine.lifecycle.EXITS_AT_ONCE` at a time — one
session's slow look no longer keeps the others' exits unseen (a re-attach finding twenty ended sessions looked at
them one after another).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.engine.clock import Clock
from cortex_tui.engine.lifecycle import Lifecycle
from cortex_tui.engine.reattach import reconcile, server_gone_reason
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.model.state import SessionRecord, SessionState

RECONCILE_S = 5.0
"""Windows killed from outside are noticed this late; exits are seen at once through exit files."""


class Reconciler:
    """Matches the watched sessions' records against tmux windows and exit files."""

    def __init__(self, *, clock: Clock, book: TriggerBook, life: Lifecycle, tmux: Tmux,
                 runtimes: Mapping[str, SessionRuntime], watched: Callable[[], list[SessionRuntime]],
                 spawning: Collection[str], read_exit: Callable[[SessionRecord], int | None]) -> None:
        self.clock = clock
        self.book = book
        self.life = life
        self.tmux = tmux
        self.runtimes = runtimes
        self.watched = watched
        """Sessions whose files are on this machine (a polled node's sessions are reconciled by its poll)."""
        self.spawning = spawning
        self.read_exit = read_exit
        self.last = 0.0
        """When the last reconcile ran (monotonic)."""

    async def run(self, listing: list[WindowInfo], initial: bool = False) -> None:
        """Match records against tmux windows and exit files (also picks up what ended while away)."""
        watched = [rt.rec for rt in self.watched() if rt.rec.name not in self.spawning]
        codes = {rec.name: self.read_exit(rec) for rec in watched}
        exits: list[tuple[SessionRuntime, int]] = []
        # only windows this run made (their @cortex_instance is the run's id): never an earlier run's
        for d in reconcile(watched, listing, codes, initial=initial, instance=self.tmux.instance or ""):
            if d.name in self.spawning:  # started meanwhile (a pass while an exit before it was looked at)
                continue
            rt = self.runtimes[d.name]
            rec = rt.rec
            if d.action == "pending":
                rec.state = SessionState.PENDING
            elif d.action in ("adopt", "attach") and d.window is not None:
                rec.window_id, rec.pane_id, rec.pane_pid = d.window.window_id, d.window.pane_id, d.window.pane_pid
                if d.action == "adopt":
                    rec.attempt = max(rec.attempt, 1)
                    self.book.set_state(rt, SessionState.RUNNING, "adopted after supervisor restart")
            elif d.action == "exited" and d.code is not None:
                exits.append((rt, d.code))
            elif d.action == "vanished":
                gone = await asyncio.to_thread(lambda: not self.tmux.alive())
                self.book.set_state(rt, SessionState.FAILED, server_gone_reason() if gone
                                    else "tmux window vanished (killed outside cortex-tui?)")
                rec.finished_at = self.clock.time()
        # independent sessions side by side, each seen at once (their looks bounded: Lifecycle.on_exit)
        done = await asyncio.gather(*(self.life.on_exit(rt, code) for rt, code in exits), return_exceptions=True)
        self.last = self.clock.monotonic()
        for err in done:  # every exit was handled; then the first failure goes on as before (a DiskError: exit 4)
            if isinstance(err, BaseException):
                raise err

    async def periodic(self, mono: float) -> bool:
        """Reconcile when :data:`RECONCILE_S` have passed; returns whether a session's state changed."""
        if mono - self.last < RECONCILE_S:
            return False
        before = {n: r.rec.state for n, r in self.runtimes.items()}
        await self.run(await asyncio.to_thread(self.tmux.list_windows))
        return any(self.runtimes[n].rec.state != s for n, s in before.items())
