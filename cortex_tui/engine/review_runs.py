"""Finished sessions into the review queue: each verified and queued in an engine task of its own.

A session that exits 0 is marked ``review_due`` (saved before verify starts, so a crash during verify is
re-done on re-attach) and handed to :meth:`ReviewDesk.enqueue` in a supervised task — one per session at a
time. After (re-)attaching, the sessions that ended while no supervisor saw them through review are queued
again (:func:`cortex_tui.review.queue.unreviewed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

from cortex_tui.engine.events import Emit
from cortex_tui.engine.review_desk import ReviewDesk
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.errors import CortexError
from cortex_tui.model.state import RunState


class ReviewRuns:
    """Starts the review work of finished sessions (when the run reviews: ``enabled``)."""

    def __init__(self, *, desk: ReviewDesk, tasks: TaskSet, runtimes: Mapping[str, SessionRuntime], emit: Emit,
                 repo: Path, state_dir: Path, state: Callable[[], RunState], enabled: Callable[[], bool]) -> None:
        self.desk = desk
        self.tasks = tasks
        """The review tasks in flight (the run is not done while one runs)."""
        self.runtimes = runtimes
        self.emit = emit
        self.repo = repo
        self.state_dir = state_dir
        self.state = state
        self.enabled = enabled

    def finished(self, rt: SessionRuntime) -> None:
        """An attempt exited 0: verify it and queue it for review."""
        if self.enabled():
            rt.rec.review_due = True  # saved before verify starts: a crash during verify is re-done on re-attach
            self.start(rt)

    def start(self, rt: SessionRuntime) -> None:
        name = f"review:{rt.rec.name}"
        if not any(t.get_name() == f"cortex-{name}" for t in asyncio.all_tasks()):  # one review per session
            self.tasks.spawn(lambda: self._enqueue(rt), name)

    async def _enqueue(self, rt: SessionRuntime) -> None:
        await self.desk.enqueue(rt)

    async def catch_up(self) -> None:
        """Re-verify and queue the sessions that ended while no supervisor saw them through review."""
        if not self.enabled():
            return
        from cortex_tui.review.queue import unreviewed

        try:
            for name in await asyncio.to_thread(unreviewed, self.repo, self.state_dir, self.state()):
                self.start(self.runtimes[name])
        except CortexError as e:
            self.emit("review_error", None, error=e.message)
