"""The integration entry as an engine command, and its automatic re-run (issue #16).

:class:`IntegrationDesk` (``Supervisor.review.gate``) runs the gate for every front end (``I`` in the TUI,
the API), one at a time, in a thread, and announces each result as an ``integration`` event. The review desk
tells it when the queue changed (:meth:`IntegrationDesk.changed`: a branch joined the queue or finished again
after a change request, an entry was decided, the base moved): a kept entry that no longer describes the
queue is marked stale (``integration_stale``, its reasons saved in the entry), and with ``[run] integrate =
"auto"`` the gate re-runs once the queue has been quiet for ``integrate_debounce_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cortex_tui.engine.events import Emit
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import RunSpec
from cortex_tui.model.state import RunState

if TYPE_CHECKING:
    from cortex_tui.review.integrate import IntegrationResult
    from cortex_tui.review.integration_entry import Approved
    from cortex_tui.review.queue import ReviewQueue


POLL_S = 15.0


class IntegrationDesk:
    """The integration gate of one run, driven from the engine's loop."""

    def __init__(self, *, repo: Path, run_dir: Path, emit: Emit, state: Callable[[], RunState],
                 queue: Callable[[], ReviewQueue], run_spec: Callable[[], RunSpec | None]) -> None:
        self.repo = repo
        self.run_dir = run_dir
        self.emit = emit
        self.state = state
        self.queue = queue
        self.run_spec = run_spec
        self._lock = asyncio.Lock()
        self._check: asyncio.Task[None] | None = None
        self._again = False
        self._timer: asyncio.Task[None] | None = None
        self._integrating = False
        """An automatic re-run is past its debounce and integrating: a later change never cancels it (it looks
        again when it ends — ``integrate`` calls :meth:`changed`)."""
        self._winner: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.poll_s = POLL_S
        """``integrate = "auto"``: how often the base and the members' branches are looked at for moves made
        outside the engine (a commit on the base by hand, a push to a branch)."""
        self.auto_runs = 0
        """Re-runs started by a change (``integrate = "auto"``)."""

    def _spec(self) -> RunSpec | None:
        """The run's ``[run]`` table: the engine's, else the layout the run was started with."""
        spec = self.run_spec()
        if spec is None:
            from cortex_tui.layout import parse_layout

            state = self.state()
            try:
                spec = parse_layout(state.layout_text, Path(state.layout_path)).layout.run
            except CortexError:
                return None
        return spec

    @property
    def auto(self) -> bool:
        spec = self._spec()
        return spec is not None and spec.integrate == "auto"

    # -------------------------------------------------------------- commands
    async def integrate(self, sessions: list[str] | None = None, verify: str | None = None, *,
                        trigger: str = "manual") -> IntegrationResult:
        """Run the gate over ``sessions`` (None: every entry awaiting a decision); keep and announce it."""
        from cortex_tui.review.integration_run import integrate_run

        spec = await asyncio.to_thread(self._spec)
        cmd = verify if verify is not None else (spec.verify if spec else None)
        async with self._lock:  # one integration worktree: one gate at a time
            res = await asyncio.to_thread(lambda: integrate_run(self.queue(), self.run_dir, self.state(), sessions,
                                                                cmd, trigger=trigger))
        self.emit("integration", None, ok=res.ok, sessions=res.order, failing=res.failing_set, commit=res.commit,
                  pairs=[p.model_dump() for p in res.pair_conflicts], left_out=res.left_out, trigger=trigger,
                  verify=None if res.verify is None else res.verify.exit_code)
        return res

    async def entry(self) -> IntegrationResult | None:
        """The last result kept for this run (None: the gate never ran)."""
        from cortex_tui.review.integration_entry import load

        return await asyncio.to_thread(load, self.run_dir)

    async def approve(self) -> Approved:
        """``review approve --integration``: fast-forward the base to the kept combination (then the queue's
        conflicts are re-checked, and the entry goes stale: the base moved)."""
        from cortex_tui.review.integration_entry import approve

        async with self._lock:
            done = await asyncio.to_thread(approve, self.repo, self.run_dir)
            await asyncio.to_thread(lambda: self.queue().refresh())
        self.emit("review", None, decision="approve_integration", detail=f"{done.method} to {done.new[:12]}",
                  backup=done.backup)
        self.changed()
        return done

    # -------------------------------------------------------------- the queue changed
    def changed(self) -> None:
        """Something the entry depends on may have changed: check it (in a task; a check in flight runs once
        more afterwards, so the last change is always seen)."""
        loop = asyncio.get_running_loop()
        if self._watch is None and self.auto:  # from now on moves made outside the engine are seen too
            self._watch = loop.create_task(self._watching(), name="cortex-integration-watch")
        if self._check is not None and not self._check.done():
            self._again = True
            return
        self._check = loop.create_task(self._checking(), name="cortex-integration-check")

    async def _watching(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            self.changed()

    async def _checking(self) -> None:
        while True:
            self._again = False
            try:
                await self._check_once()
            except CortexError as e:
                self.emit("review_error", None, error=f"integration: {e.message}")
            if not self._again:
                return

    async def _check_once(self) -> None:
        from cortex_tui.review.integration_entry import load, save
        from cortex_tui.review.integration_run import awaiting_names, stale_reasons

        def look() -> tuple[IntegrationResult | None, list[str], list[str], bool]:
            state = self.state()
            awaiting = awaiting_names(self.queue(), state)
            res = load(self.run_dir)
            if res is None:
                return None, awaiting, [], False
            reasons = stale_reasons(self.repo, res, state, awaiting)
            new = reasons != res.stale
            if new:
                res.stale = reasons
                save(self.run_dir, res)
            return res, awaiting, reasons, new

        res, awaiting, reasons, new = await asyncio.to_thread(look)
        auto = self.auto
        if reasons and new:
            self.emit("integration_stale", None, reasons=reasons, rerun=auto and bool(awaiting))
        pending = self._timer is not None and not self._timer.done()
        if auto and awaiting and (reasons or (res is None and len(awaiting) >= 2)) and (new or not pending):
            self._debounce()  # a look that finds nothing new never restarts the wait (polls would starve it)

    def _debounce(self) -> None:
        if self._integrating:
            return
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().create_task(self._rerun(), name="cortex-integration-rerun")

    async def _rerun(self) -> None:
        spec = self._spec()
        await asyncio.sleep(spec.integrate_debounce_s if spec else 0.0)
        self.auto_runs += 1
        self._integrating = True
        try:
            await self.integrate(trigger="auto")
        except CortexError as e:
            self.emit("review_error", None, error=f"integration: {e.message}")
        finally:
            self._integrating = False

    def check_winner(self, winner: str | None) -> None:
        """Best-of: the winner is checked against the base (with every branch already approved in the run
        merged there) and the other entries awaiting a decision, by the same gate (an ``integration`` event,
        ``trigger = "bestof"``); it runs in a task, the caller does not wait for its verify."""
        if winner is None:
            return

        async def run() -> None:
            try:
                await self.integrate(trigger="bestof")
            except CortexError as e:
                self.emit("review_error", winner, error=f"integration of the best-of winner: {e.message}")

        self._winner = asyncio.get_running_loop().create_task(run(), name="cortex-integration-winner")

    async def aclose(self) -> None:
        """Stop a pending re-run and a check (a gate already running in its thread finishes and is kept)."""
        for t in (self._watch, self._timer, self._check, self._winner):
            if t is not None and not t.done():
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

