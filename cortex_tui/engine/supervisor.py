"""The Supervisor: one asyncio core that spawns, watches and re-attaches to a run's sessions.

Agents live in tmux (a dedicated server socket), never as children of this process: quitting or
killing the supervisor leaves them running, and the next ``start()`` re-attaches from ``coordination/``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cortex_tui.backends import git as gitb
from cortex_tui.backends.node import Node, NodeContext
from cortex_tui.backends.tmux import Tmux, socket_name
from cortex_tui.budgets import BudgetTracker
from cortex_tui.engine import intake
from cortex_tui.engine.clock import Clock, SystemClock
from cortex_tui.engine.commands import SessionCommands
from cortex_tui.engine.events import Event, EventBus, EventKind
from cortex_tui.engine.ingest import Ingest
from cortex_tui.engine.journal import Journal
from cortex_tui.engine.lifecycle import Lifecycle
from cortex_tui.engine.logrotate import LogRotator
from cortex_tui.engine.nodes import NodeSet
from cortex_tui.engine.observers import Observers, Plugin, start_observers
from cortex_tui.engine.periodic import Periodic
from cortex_tui.engine.pool import Pool
from cortex_tui.engine.pool_pass import SchedulingPass
from cortex_tui.engine.queue_view import TaskQueue, build_queue
from cortex_tui.engine.reattach import foreign_note, open_run
from cortex_tui.engine.reconciler import Reconciler
from cortex_tui.engine.registry import SessionRegistry
from cortex_tui.engine.review_desk import ReviewDesk
from cortex_tui.engine.review_runs import ReviewRuns
from cortex_tui.engine.routing import ChangeRouter
from cortex_tui.engine.schedule import settled, timed_out
from cortex_tui.engine.screen import ScreenChecks
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet, describe
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.engine.typed_prompt import TypedPrompts
from cortex_tui.engine.usage import UsageBook, budget_spent, run_usage
from cortex_tui.errors import DiskError
from cortex_tui.layout import LoadedLayout
from cortex_tui.model.layout import ResolvedSession, SessionSpec
from cortex_tui.model.state import RunState, SessionRecord, SessionState
from cortex_tui.resources import TreeSample
from cortex_tui.store.files import RunStore
from cortex_tui.watch.rules import OverlapTracker

log = logging.getLogger("cortex_tui.engine")

Runtime = SessionRuntime

TICK_S = 0.5


class Supervisor:
    """Supervise one run of a layout on a repo. See :mod:`cortex_tui.engine`."""

    def __init__(self, loaded: LoadedLayout, repo: Path, state_dir: Path | None = None, *,
                 headless: bool = False, socket: str | None = None, takeover: bool = True,
                 clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.loaded = loaded
        self.layout = loaded.layout
        self.repo = gitb.repo_root(repo.resolve())
        self.state_dir = (state_dir or self.repo / "coordination").resolve()
        self.run_id = self.layout.run.name
        self.store = RunStore(self.state_dir, self.run_id)
        self.tmux = Tmux(socket or socket_name(self.run_id, self.state_dir))
        self.headless = headless
        self.takeover = takeover
        self.worktrees_root = self.repo / ".cortex" / "worktrees" / self.run_id
        self.specs: dict[str, ResolvedSession] = {s.name: s for s in loaded.sessions}
        self.bus = EventBus(self.run_id, clock=self.clock)
        self.state: RunState
        self.journal = Journal(clock=self.clock, store=self.store, bus=self.bus,
                               status_path=self.state_dir / "status.md", state=lambda: getattr(self, "state", None),
                               on_fatal=self.request_stop)
        """events.jsonl, state.json and status.md; a disk error stops supervising (:attr:`fatal`)."""
        self._emit = self.journal.emit
        self._save = self.journal.save
        self.journal.after_save = LogRotator(self.store.log_path, self.layout.run.log_max,
                                             lambda e: self._emit("watch_error", None, error=e),
                                             events_dir=self.store.dir).after_save
        self._mark_dirty = self.journal.mark_dirty
        self.registry = SessionRegistry(clock=self.clock, layout=self.layout, specs=self.specs, store=self.store,
                                        worktrees_root=self.worktrees_root, state=lambda: self.state,
                                        emit=self._emit, save=lambda: self._save(force=True), on_added=self._added)
        self.rt = self.registry.rt
        self._by_slug = self.registry.by_slug
        self._get = self.registry.get
        self.overlap = OverlapTracker()
        self.book = TriggerBook(self.clock, self._emit, lambda rt, a, k: self.commands.on_trigger(rt, a, k),
                                self._mark_dirty)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self.run_budget = BudgetTracker(budget_usd=self.layout.run.budget_usd,
                                        budget_tokens=self.layout.run.budget_tokens)
        """``[run] budget_usd/budget_tokens`` against the sum of every session's usage."""
        self.usage = UsageBook(clock=self.clock, book=self.book, bus=self.bus, emit=self._emit, runtimes=self.rt,
                               records=lambda: self.state.sessions.values(), prices=self.layout.run.prices,
                               run_budget=self.run_budget, on_dirty=self._mark_dirty)
        self.ingest = Ingest(clock=self.clock, store=self.store, book=self.book, bus=self.bus, usage=self.usage,
                             overlap=self.overlap, runtimes=self.rt, best_of=self.layout.run.mode == "best-of",
                             saw_output=lambda rt, hint: self.screens.saw_output(rt, hint), on_dirty=self._mark_dirty)
        self._started = False
        self._observers: Observers | None = None
        self.metrics_addr: tuple[str, int] | None = None
        """Serve ``/metrics`` there while supervising (``--metrics-port``)."""
        self.plugins: list[Plugin] = []
        """Front ends that live in the engine's loop while it supervises (the local API: ``cortex_tui.api``)."""
        self.nodes = NodeSet(NodeContext(self.run_id, self.tmux.socket, self.repo, None), self.tmux,
                             self.layout.node_by_name, clock=self.clock, book=self.book, ingest=self.ingest,
                             emit=self._emit, store=self.store, on_sample=self.apply_sample,
                             on_dirty=self._mark_dirty)
        """Where sessions run, by node name (made on first use), and the links of polled nodes."""
        self.local = self.nodes.local
        self.pool = Pool(layout=self.layout, nodes=self.nodes, runtimes=self.rt, book=self.book, emit=self._emit,
                         save=lambda: self._save(force=True), dirty=self._mark_dirty, state=lambda: self.state,
                         repo=self.repo, spawning=lambda: self._spawning, tmux=self.tmux,
                         exiting=lambda: self._exiting)
        """``[pool]``/``[[route]]``: which ready sessions start now and where; warm worktrees (engine/pool.py)."""
        self.life = Lifecycle(clock=self.clock, book=self.book, ingest=self.ingest, nodes=self.nodes, store=self.store,
                              overlap=self.overlap, emit=self._emit, run=self.run_id, repo=self.repo,
                              headless=lambda: self.headless, base_commit=lambda: self.state.base_commit,
                              check_screen=self._check_screen_soon, after_spawn=lambda rt: self.router.after_spawn(rt),
                              on_finished=lambda rt: self.reviews.finished(rt), wake=self._wake.set, runtimes=self.rt,
                              base_branch=lambda: self.state.base, claim_warm=self.pool.claim_warm,
                              released=lambda: self.passes.soon(), durable=self.journal.durable_now,
                              watch_checkout=lambda rt: self.router.watch_checkout(rt))
        self._spawning = self.life.spawning
        self._exiting = self.life.exiting
        self._tasks = TaskSet(self._engine_error)
        """Trigger actions in flight (pause/stop/recycle)."""
        self._review_tasks = TaskSet(self._engine_error)
        self._bg = TaskSet(self._engine_error)
        """The file watcher and screen checks."""
        self.passes = SchedulingPass(runtimes=self.rt, pool=self.pool, life=self.life, book=self.book, clock=self.clock,
                                     tasks=self._bg, max_parallel=lambda: self.layout.run.max_parallel,
                                     budget_spent=lambda: self.run_budget_exceeded,
                                     review_enabled=lambda: self.review_enabled, review_queue=lambda: self.review.queue(),
                                     base=lambda: self.state.base, started=lambda: self._started)
        """Scheduling passes: each tick, after exits, and as soon as an exit frees a slot (engine/pool_pass.py)."""
        self._done_announced = False
        self.router = ChangeRouter(store=self.store, worktrees_root=self.worktrees_root, stop=self._stop,
                                   ingest=self.ingest, local=self.local, bus=self.bus, emit=self._emit,
                                   by_slug=self._by_slug, spawning=self._spawning, watched=self._watched,
                                   base_commit=lambda: self.state.base_commit, on_exit=self.life.on_exit,
                                   schedule=self.passes.soon, save=self._save, tasks=self._tasks)
        self.reconciler = Reconciler(clock=self.clock, book=self.book, life=self.life, tmux=self.tmux,
                                     runtimes=self.rt, watched=self._watched, spawning=self._spawning,
                                     read_exit=self.router.read_exit)
        self.periodic = Periodic(nodes=self.nodes, ingest=self.ingest, runtimes=self.rt, spawning=self._spawning,
                                 state=lambda: self.state, on_error=self._engine_error)
        self.typed = TypedPrompts(tasks=self._bg, clock=self.clock, headless=lambda: self.headless,
                                  send=lambda n, t: self.send(n, t, origin="prompt"), look_again=self._check_screen_soon,
                                  save=lambda: self._save(force=True))
        self.screens = ScreenChecks(self._bg, self._tmux, self.book, on_lines=self.typed.on_screen)
        self.review_enabled = True
        self.review = ReviewDesk(repo=self.repo, state_dir=self.state_dir, run=self.run_id, bus=self.bus,
                                 emit=self._emit, send=self.send, state=lambda: self.state, node_for=self.node_for,
                                 save=self.journal.save_durable, run_spec=lambda: self.layout.run)
        """Review commands (approve, reject, request_changes, reverify, choose_winner) for every front end."""
        self.reviews = ReviewRuns(desk=self.review, tasks=self._review_tasks, runtimes=self.rt, emit=self._emit,
                                  repo=self.repo, state_dir=self.state_dir, state=lambda: self.state,
                                  enabled=lambda: self.review_enabled)
        self.commands = SessionCommands(get=self._get, node_for=self.node_for, book=self.book, life=self.life,
                                        emit=self._emit, repo=self.repo, run=self.run_id,
                                        base_commit=lambda: self.state.base_commit, wake=self._wake.set,
                                        tasks=self._tasks, tmux=self.tmux, runtimes=self.rt, specs=self.specs,
                                        on_revived=self._added)

    # ------------------------------------------------------------------ public API
    def subscribe(self, cb: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(cb)

    def note(self, kind: EventKind, session: str | None, data: dict[str, Any]) -> None:
        """Publish and persist an event from an observer or a front end (notifications, API actions)."""
        self._emit(kind, session, **data)

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def fatal(self) -> DiskError | None:
        """Why supervision stopped early: the run's files could not be written (see :class:`Journal`)."""
        return self.journal.fatal

    @property
    def done(self) -> bool:
        if self._spawning or self._exiting or self._tasks:  # a restart/stop/exit in flight is not the end
            return False
        return settled(self.rt.values()) and not self.pool.lingering()

    async def start(self) -> None:
        """Take the run's lock, create or re-attach to the run, reconcile with tmux. A second call (a front end
        that started the engine itself, then hands it to ``supervise_to_end``) does nothing."""
        if self._started:
            return
        attached = await asyncio.to_thread(self._start_sync)
        windows = await asyncio.to_thread(self.tmux.list_windows)
        await self.reconciler.run(windows, initial=True)
        self._emit("attached" if attached else "run_started", None, repo=str(self.repo), socket=self.tmux.socket,
                   pid=os.getpid(), **foreign_note(windows, self.state.instance, self.tmux.socket))
        self.registry.announce_taken()
        self._save(force=True)
        self._started = True
        self._observers = await start_observers(self, self.metrics_addr, self.plugins)

    async def supervise(self, *, until_done: bool) -> None:
        """Watch everything until every session ended (``until_done``) or :meth:`request_stop`."""
        if not self._started:
            await self.start()
        watcher = self._bg.spawn(self.router.watch, "watcher", restart=True)
        self.pool.start(self._bg, self._stop)
        try:
            await self._catch_up()
            await self._schedule()
            while not self._stop.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=TICK_S)
                except TimeoutError:
                    pass
                self._wake.clear()
                await self._tick()
                self._announce_done()
                if until_done and self.done:
                    break
            if until_done and self._review_tasks and self.fatal is None:
                await self._review_tasks.wait()
        finally:
            watcher.cancel()
            await asyncio.wait([watcher])  # supervised: it ends cancelled; failures were reported as they came
            self._save(force=True)
        if self.fatal is not None:
            raise self.fatal
        self._announce_done()

    def _engine_error(self, task: str, exc: BaseException) -> None:
        """An engine task failed unexpectedly: say so (it restarts if it is long-lived)."""
        if task == "watcher":
            self.router.ok = False
        if isinstance(exc, DiskError):
            self.journal.disk_failed(exc)
        kind, _, session = task.partition(":")  # "review:<session>", "screen:<session>", "stop:<session>"…
        self._emit("engine_error", session or None, task=task, error=describe(exc))
        if kind == "review" and session:  # review screens listen for this one
            self._emit("review_error", session, error=describe(exc))

    def _announce_done(self) -> None:
        """Emit ``run_done`` once when every session has ended and its review entry is made.

        Also while supervising on (the TUI): a restarted session makes the run live again, and its end is
        announced again.
        """
        if not self.done:
            self._done_announced = False
            return
        if self._done_announced or self._review_tasks:
            return
        self._done_announced = True
        self._emit("run_done", None, states={n: r.rec.state.value for n, r in self.rt.items()})
        self._save(force=True)

    async def shutdown(self) -> None:
        """Release the lock; sessions keep running in tmux (remote ones in the node's tmux)."""
        await self.review.gate.aclose()
        self._save(force=True)
        await asyncio.to_thread(self.journal.sync.close)  # events.jsonl's last appends synced (engine/event_sync.py)
        await asyncio.to_thread(self.journal.close)  # the state writer's thread ends (engine/state_writer.py)
        if self._observers is not None:  # pending notifications go out (bounded) before the lock is released
            await self._observers.close()
            self._observers = None
        await asyncio.to_thread(self.nodes.close)
        self.store.unlock()

    # session commands (engine/commands.py): one path for the TUI, the CLI/API, MCP and on_trigger actions
    async def send(self, name: str, text: str, *, origin: str = "user") -> None:
        await self.commands.send(name, text, origin=origin)

    async def approve(self, name: str, *, origin: str = "user") -> None:
        await self.commands.answer(name, True, origin=origin)

    async def deny(self, name: str, *, origin: str = "user") -> None:
        await self.commands.answer(name, False, origin=origin)

    async def interrupt(self, name: str, *, origin: str = "user") -> None:
        await self.commands.interrupt(name, origin=origin)

    async def stop_session(self, name: str, reason: str = "stopped by user", *, origin: str = "user") -> None:
        await self.commands.stop(name, reason, origin=origin)

    async def restart_session(self, name: str, *, origin: str = "user") -> None:
        await self.commands.restart(name, origin=origin)

    async def revive_sessions(self, *, origin: str = "user") -> list[str]:
        return await self.commands.revive(origin=origin)

    async def continue_session(self, name: str, *, from_base: bool = False, origin: str = "user") -> str:
        return await self.commands.continue_blocked(name, from_base=from_base, origin=origin)

    async def queue(self) -> TaskQueue:
        """The task queue (engine/queue_view.py): what ``cortex-tui queue``, the API and the TUI's ``Q`` show."""
        return build_queue(self.state, self.layout, intake.read_inbox(self.store.dir)[0])

    def attach_argv(self, name: str) -> list[str]:
        return self.commands.attach_argv(name)

    async def screen(self, name: str, *, escapes: bool = True, lines: int = 200) -> str:
        return await self.commands.screen(name, escapes=escapes, lines=lines)

    # ------------------------------------------------------------------ start / re-attach
    def _start_sync(self) -> bool:
        """Blocking part of start(); returns whether an existing run was re-attached."""
        self.state, attached = open_run(self.loaded, self.repo, self.store, self.tmux, self.worktrees_root,
                                        takeover=self.takeover, now=self.clock.time())
        self.registry.build()
        self.run_budget.set_totals(*run_usage(self.state.sessions.values()), self.clock.time())  # re-attach: crossed stays crossed, silently
        return attached

    async def add_session(self, spec: SessionSpec, *, origin: str = "user") -> SessionRecord:
        """Add a session (a ``[[session]]`` table) to the live run; persisted before this returns, started as
        the run's limits and its dependencies allow."""
        return self.registry.add(spec, origin=origin)

    def _added(self) -> None:
        self._done_announced = False
        self._wake.set()

    async def _schedule(self) -> None:
        await self.passes.run()

    # ------------------------------------------------------------------ nodes
    def node_for(self, rec: SessionRecord) -> Node:
        """The node a session runs on (made on first use; no connection is made here)."""
        return self.nodes.get(rec.node)

    def _watched(self) -> list[Runtime]:
        """Sessions whose files are on this machine (seen by the watcher and tmux reconcile)."""
        return [rt for rt in self.rt.values() if not self.nodes.polled(rt.rec)]

    # ------------------------------------------------------------------ observation
    async def _catch_up(self) -> None:
        """After (re-)attaching: read output and events written while no supervisor watched; re-verify and
        queue sessions that ended while no supervisor saw them through review."""
        await self.reviews.catch_up()
        for rt in self.rt.values():
            if rt.rec.attempt > 0:
                self.ingest.read_log(rt)
                self.ingest.read_agent_events(rt)
                if rt.rec.state.live:
                    self._check_screen_soon(rt)

    @property
    def run_budget_exceeded(self) -> str | None:
        """Why no new session may start (the run's budget is spent), or None."""
        return budget_spent(self.run_budget)

    def _check_screen_soon(self, rt: Runtime) -> None:
        self.screens.check_soon(rt)

    # ------------------------------------------------------------------ periodic work
    async def _tick(self) -> None:
        now = self.clock.time()
        mono = self.clock.monotonic()
        if (self.store.dir / intake.INBOX).exists():  # `cortex-tui add` without the API (or before it was up)
            await self.registry.take_inbox()
        live = [rt for rt in self.rt.values() if rt.rec.state.live and rt.rec.name not in self._spawning]
        for rt in live:
            if self.router.ok:  # while the watcher is down its output is unread: that is not silence
                self.book.apply(rt, rt.silence.check(now))
            for ch in rt.errors.check(now):
                self.book.apply(rt, ch)
            why = timed_out(rt, now)
            if why is not None:
                await self.stop_session(rt.rec.name, reason=why)
                self.book.set_state(rt, SessionState.FAILED, why)  # a timeout is a failure, not a user's stop
        if await self.reconciler.periodic(mono):
            self.journal.dirty = True
        await self.periodic.run(live, mono)
        await self._schedule()
        self._save()

    def apply_sample(self, rt: Runtime, s: TreeSample, now: float) -> None:
        """CPU/RSS of a session's process tree (local /proc scan or the node's `ps`)."""
        if self.ingest.apply_sample(rt, s, now):
            self.journal.stats_dirty = True

    # ------------------------------------------------------------------ helpers
    def _tmux(self, rec: SessionRecord) -> Tmux:
        return self.node_for(rec).tmux
