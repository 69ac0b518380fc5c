"""A session's runtime before its agent starts: reserved ports, rendered ``env``, ``include``d files and the
``setup`` phase (docs/isolation.md).

:class:`Isolation` is used by :class:`~cortex_tui.engine.lifecycle.Lifecycle` in its spawn thread:
:meth:`Isolation.runtime_spec` fills the session's ports and env placeholders, :meth:`Isolation.preparer` gives
the node the callback it runs once the worktree exists (include, then setup), with the node's
:class:`~cortex_tui.backends.node.Workspace`: this machine's worktree, or an ssh node's (the steps then run there,
``backends/remote_steps.py``). Events and state changes are
handed to the loop (``call_soon_threadsafe``), never made from the thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cortex_tui.backends.node import LOCAL, Workspace
from cortex_tui.backends.session_env import WORKTREE_LATER, PortBook, fill_worktree, session_env
from cortex_tui.backends.steps import describe_failure
from cortex_tui.engine.events import Emit, EventKind
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.store.files import RunStore

log = logging.getLogger("cortex_tui.engine")


class Isolation:
    """Ports, env, include and setup of a run's sessions."""

    def __init__(self, *, run: str, repo: Path, store: RunStore, emit: Emit,
                 runtimes: Mapping[str, SessionRuntime], on_dirty: Callable[[], None] | None = None) -> None:
        self.run = run
        self.repo = repo
        self.store = store
        self.emit = emit
        self.runtimes = runtimes
        self.on_dirty = on_dirty
        self.ports = PortBook()
        self.loop: asyncio.AbstractEventLoop | None = None
        """The engine's loop (set by the spawn before its thread starts): events are made there."""

    def _post(self, kind: EventKind, session: str, **data: Any) -> None:
        loop = self.loop
        if loop is None:
            self.emit(kind, session, **data)
            return
        loop.call_soon_threadsafe(lambda: self.emit(kind, session, **data))
        if self.on_dirty is not None:
            loop.call_soon_threadsafe(self.on_dirty)

    def runtime_spec(self, rt: SessionRuntime, spec: ResolvedSession) -> ResolvedSession:
        """``spec`` with the session's ports reserved (kept in its record) and its env rendered (blocking)."""
        rec = rt.rec
        others = [r.rec.ports for n, r in self.runtimes.items() if n != rec.name]
        try:
            rec.ports = self.ports.reserve(rec.name, spec.ports, key=f"{self.run}/{rec.name}", current=rec.ports,
                                           others=others)
        except OSError as e:
            raise CortexError(f"cannot reserve {spec.ports} TCP port(s): {e}", "free some ports or lower ports =") from e
        rec.teardown = list(spec.teardown)
        rec.teardown_env = dict(spec.env) if spec.teardown else {}  # teardown gets the env setup got
        # on an ssh node the worktree is the node's, known at spawn (backends/remote_node.py fills it in)
        worktree = rec.worktree if spec.node == LOCAL else WORKTREE_LATER
        env = session_env(spec.env, ports=rec.ports, session=spec.name, worktree=worktree, run=self.run)
        return spec.model_copy(update={"env": env})

    def preparer(self, rt: SessionRuntime, spec: ResolvedSession) -> Callable[[Workspace], None] | None:
        """What the node runs in the new worktree before the agent (None: nothing to do)."""
        if not spec.include and (not spec.setup or rt.rec.setup_done):
            return None

        def prepare(ws: Workspace) -> None:
            self._include(rt, spec, ws)
            if spec.setup and not rt.rec.setup_done:
                self._setup(rt, spec, ws)
        return prepare

    def _include(self, rt: SessionRuntime, spec: ResolvedSession, ws: Workspace) -> None:
        if not spec.include:
            return
        for inc in ws.include(spec.include, repo=self.repo, mode=spec.include_mode):
            if inc.problem is not None and not (rt.rec.attempt > 0 and inc.problem.startswith("already")):
                log.warning("session %s: include %s: %s", rt.rec.name, inc.path, inc.problem)
                self._post("setup_warning", rt.rec.name, message=f"include {inc.path}: {inc.problem}", path=inc.path)

    def _setup(self, rt: SessionRuntime, spec: ResolvedSession, ws: Workspace) -> None:
        rec = rt.rec
        rec.phase = "setup"
        env = {**fill_worktree(spec.env, ws.path), "CORTEX_RUN": self.run, "CORTEX_SESSION": spec.name,
               "CORTEX_WORKTREE": ws.path}

        def on_step(i: int, step: str) -> None:
            rec.reason = f"setup {i}/{len(spec.setup)}: {step[:80]}"
            if self.loop is not None and self.on_dirty is not None:
                self.loop.call_soon_threadsafe(self.on_dirty)
        try:
            results = ws.run_steps("setup", spec.setup, env=env, log=self.store.log_path(rec.slug),
                                   on_step=on_step, timeout=spec.setup_timeout)
        finally:
            rec.phase = None
            rec.reason = None
        for r in results:
            self._post("setup", rec.name, phase=r.phase, index=r.index, total=r.total, step=r.step,
                       exit_code=r.exit_code, duration_s=r.duration_s, timed_out=r.timed_out)
        if results and results[-1].exit_code != 0:
            raise CortexError(describe_failure(results[-1]),
                              f"its output is in {self.store.log_path(rec.slug)}; the agent was not started")
        rec.setup_done = True
