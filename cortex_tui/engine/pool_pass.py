"""A scheduling pass: which sessions start now (engine/schedule.py's plan: dependencies, restarts, the run's
budget and ``max_parallel``), which of those the pool admits (engine/pool.py), then their spawns.

A pass runs on every tick, after each batch of exits the watcher routes, and — through :meth:`SchedulingPass.soon`
— as soon as an exit is seen: the exited session's slot is free before its final look (git work in a thread,
engine/lifecycle.py), so the next queued task starts while that look runs instead of up to a tick later.

A pass decides and starts its spawns as tasks; it does not wait for them (the sessions are marked spawning
first: a pass meanwhile neither starts them again nor gives their slots away). A pass that waited kept the
next one (coalesced behind it) from admitting anything until every spawn of its own, and each new worktree's
first look, was through: at 20 slots on 2 loaded cores a freed slot waited 0.3–1 s for its next task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from cortex_tui.engine.handover import approved_for
from cortex_tui.engine.schedule import plan
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import Coalesced, TaskSet
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.model.state import SessionState

if TYPE_CHECKING:
    from cortex_tui.engine.clock import Clock
    from cortex_tui.engine.lifecycle import Lifecycle
    from cortex_tui.engine.pool import Pool
    from cortex_tui.review.queue import ReviewQueue


class SchedulingPass:
    """The run's scheduling passes (the Supervisor gives it what it needs as values and callbacks)."""

    def __init__(self, *, runtimes: Mapping[str, SessionRuntime], pool: Pool, life: Lifecycle, book: TriggerBook,
                 clock: Clock, tasks: TaskSet, max_parallel: Callable[[], int | None],
                 budget_spent: Callable[[], str | None], review_enabled: Callable[[], bool],
                 review_queue: Callable[[], ReviewQueue], base: Callable[[], str | None],
                 started: Callable[[], bool]) -> None:
        self.runtimes = runtimes
        self.pool = pool
        self.life = life
        self.book = book
        self.clock = clock
        self.max_parallel = max_parallel
        self.budget_spent = budget_spent
        self.review_enabled = review_enabled
        self.review_queue = review_queue
        self.base = base
        self.started = started
        """Whether supervising has begun: exits found by ``start()``'s reconcile ask for no pass (``supervise()``
        begins with one of its own)."""
        self.tasks = tasks
        """Where the spawns run (a failure is reported as an ``engine_error``; a disk error stops the run)."""
        self._soon = Coalesced(self.run, tasks, "schedule")

    def soon(self) -> None:
        """A pass as a task now (or once more after the one in flight)."""
        if self.started():
            self._soon.soon()

    async def run(self) -> None:
        rts = self.runtimes
        enabled = self.review_enabled()
        approved = await approved_for(rts.values(), self.review_queue, self.base()) if enabled else set()
        spawning = self.life.spawning
        p = plan(rts.values(), now=self.clock.time(), limit=self.max_parallel(), spawning=spawning,
                 budget_spent=self.budget_spent(), approved=approved, verify_gate=enabled)
        for name, reason in p.stop:
            self.book.set_state(rts[name], SessionState.STOPPED, reason)
        ready = await self.pool.admit([rts[name] for name in p.spawn])
        for rt in ready:
            rt.restart_at = None
            spawning.add(rt.rec.name)  # its dependents wait for it from now on, not once its task runs
            self.tasks.spawn(partial(self.life.spawn, rt, restart=rt.rec.attempt > 0), f"spawn:{rt.rec.name}")
