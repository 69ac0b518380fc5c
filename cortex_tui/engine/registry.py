"""The run's sessions: their specs, their runtimes by name and by slug, and how new ones join the run.

At start (:meth:`SessionRegistry.take_added`) the sessions added earlier are rebuilt from ``state.json`` and
the tasks queued in the run's inbox while no supervisor ran are taken (saved before the inbox is cleared);
while supervising, :meth:`SessionRegistry.add` adds one live (persisted before it is acknowledged) and
:meth:`SessionRegistry.take_inbox` takes what ``cortex-tui add`` queued without the API. The validation
and the records are :mod:`cortex_tui.engine.intake`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from cortex_tui.engine import intake
from cortex_tui.engine.clock import Clock
from cortex_tui.engine.events import Emit
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import Layout, ResolvedSession, SessionSpec
from cortex_tui.model.resolve import resolve_session
from cortex_tui.model.state import RunState, SessionRecord
from cortex_tui.store.files import RunStore

log = logging.getLogger("cortex_tui.engine")


class SessionRegistry:
    """Every session of the run, by name (:attr:`rt`, :attr:`specs`) and by worktree slug (:attr:`by_slug`)."""

    def __init__(self, *, clock: Clock, layout: Layout, specs: dict[str, ResolvedSession], store: RunStore,
                 worktrees_root: Path, state: Callable[[], RunState], emit: Emit,
                 save: Callable[[], None], on_added: Callable[[], None]) -> None:
        self.clock = clock
        self.layout = layout
        self.run = layout.run.name
        self.specs = specs
        self.rt: dict[str, SessionRuntime] = {}
        self.by_slug: dict[str, SessionRuntime] = {}
        self.store = store
        self.worktrees_root = worktrees_root
        self.state = state
        self.emit = emit
        self.save = save
        """Saves state.json now (an added session is durable before it is acknowledged)."""
        self.on_added = on_added
        """A session joined the live run (the run is not done any more; the loop wakes up)."""
        self.inbox_taken: list[str] = []
        """Tasks taken from the run's inbox at start (added while no supervisor ran)."""

    def get(self, name: str) -> SessionRuntime:
        try:
            return self.rt[name]
        except KeyError:
            raise CortexError(f"no session named {name!r} in run {self.run!r}",
                              "see `cortex-tui status` for the names") from None

    def make_runtime(self, spec: ResolvedSession, rec: SessionRecord) -> SessionRuntime:
        rt = SessionRuntime.from_record(spec, rec, self.clock.time())
        self.rt[spec.name] = rt
        self.by_slug[rec.slug] = rt
        return rt

    def build(self) -> None:
        """At start, once the run's state is open: every session (the layout's and the added) gets a runtime."""
        self.take_added()
        state = self.state()
        for name, spec in self.specs.items():
            self.make_runtime(spec, state.sessions[name])

    def take_added(self) -> None:
        """Sessions added to the run earlier (state.json) and while no supervisor ran (the inbox)."""
        state = self.state()
        for spec in intake.added_specs(state):
            resolved = resolve_session(self.layout, spec)
            self.specs[spec.name] = resolved
            if spec.name not in state.sessions:
                state.sessions[spec.name] = intake.new_record(resolved, self.run, self.worktrees_root,
                                                              self.clock.time())
        queued, bad = intake.read_inbox(self.store.dir)
        for problem in bad:
            log.warning("inbox: %s", problem)
        taken = []
        for spec in queued:
            if spec.name in self.specs:  # already taken by an earlier start that crashed before clearing
                continue
            resolved = intake.check_new(spec, self.layout, set(self.specs))
            self.specs[spec.name] = resolved
            state.added.append(spec.model_dump(mode="json", exclude_defaults=True))
            state.sessions[spec.name] = intake.new_record(resolved, self.run, self.worktrees_root, self.clock.time())
            taken.append(spec.name)
        if taken or bad:
            self.store.save(state)  # durable before the inbox goes
            intake.clear_inbox(self.store.dir)
            self.inbox_taken = taken

    def announce_taken(self) -> None:
        """After start: a ``session_added`` event for each task taken from the inbox."""
        for name in self.inbox_taken:
            spec = self.specs[name]
            self.emit("session_added", name, agent=spec.agent, scope=list(spec.scope), origin="inbox",
                      depends_on=list(spec.depends_on))

    async def take_inbox(self) -> None:
        """While supervising: the tasks ``cortex-tui add`` queued in the inbox (each added, or reported)."""
        queued, bad = await asyncio.to_thread(intake.read_inbox, self.store.dir)
        for problem in bad:
            self.emit("engine_error", None, task="inbox", error=problem)
        for spec in queued:
            if spec.name in self.specs:
                continue
            try:
                self.add(spec, origin="inbox")
            except CortexError as e:
                self.emit("engine_error", spec.name, task="inbox", error=e.message)
        intake.clear_inbox(self.store.dir)  # each task is in state.json (saved) or reported

    def add(self, spec: SessionSpec, *, origin: str = "user") -> SessionRecord:
        """Add a session to the live run: validated, saved in state.json, announced; started as the run's
        limits and its dependencies allow."""
        resolved = intake.check_new(spec, self.layout, set(self.specs))
        rec = intake.new_record(resolved, self.run, self.worktrees_root, self.clock.time())
        state = self.state()
        self.specs[spec.name] = resolved
        state.added.append(spec.model_dump(mode="json", exclude_defaults=True))
        state.sessions[spec.name] = rec
        self.make_runtime(resolved, rec)
        self.save()
        self.emit("session_added", spec.name, agent=resolved.agent, scope=list(resolved.scope), origin=origin,
                  depends_on=list(resolved.depends_on))
        self.on_added()
        return rec
