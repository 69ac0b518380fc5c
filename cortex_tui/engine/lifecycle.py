"""A session's attempts: starting one on its node, stopping it, and what its end means.

:class:`Lifecycle` spawns through the session's :class:`~cortex_tui.backends.node.Node` (in a thread), and
on an exit takes a final look at the worktree (in a thread), closes the attempt's triggers and decides:
finished (queued for review), stopped, or failed (restarted later when its ``restart`` policy allows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from cortex_tui.backends.node import FinalLook, SessionPaths, SpawnRequest
from cortex_tui.engine.clock import Clock, local_hms
from cortex_tui.engine.events import Emit
from cortex_tui.engine.handover import HandoverBlocked, prepare_spawn, stale_dependents
from cortex_tui.engine.ingest import Ingest
from cortex_tui.engine.isolation import Isolation
from cortex_tui.engine.nodes import NodeSet, session_paths
from cortex_tui.engine.schedule import restart_delay
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.engine.warm import Claimed
from cortex_tui.errors import CortexError, DiskError, GitError
from cortex_tui.model.state import SessionRecord, SessionState
from cortex_tui.store.files import RunStore
from cortex_tui.watch.rules import OverlapTracker, exited_change

log = logging.getLogger("cortex_tui.engine")

EXITS_AT_ONCE = 3
"""Exits whose final look (the log drained, git head/diff/disk use and a symlink sweep in threads, a local node's
cleanup) runs at once, whoever saw them (the watcher, a reconcile); the others wait their turn, already seen — their
pool slots are free before (:meth:`Lifecycle.on_exit`). Twenty exits at once no longer fill the loop's thread pool
(six threads on two cores) ahead of the spawns that take their slots."""


class Lifecycle:
    """Spawns, stops and ends the attempts of a run's sessions."""

    def __init__(self, *, clock: Clock, book: TriggerBook, ingest: Ingest, nodes: NodeSet, store: RunStore,
                 overlap: OverlapTracker, emit: Emit, run: str, repo: Path, headless: Callable[[], bool],
                 base_commit: Callable[[], str], check_screen: Callable[[SessionRuntime], None],
                 after_spawn: Callable[[SessionRuntime], Awaitable[None]],
                 on_finished: Callable[[SessionRuntime], None], wake: Callable[[], None],
                 runtimes: Mapping[str, SessionRuntime] | None = None,
                 base_branch: Callable[[], str] | None = None,
                 claim_warm: Callable[[SessionRecord, str], Claimed | None] | None = None,
                 released: Callable[[], None] = lambda: None,
                 durable: Callable[[], Awaitable[None]] | None = None,
                 watch_checkout: Callable[[SessionRuntime], None] | None = None) -> None:
        self.clock = clock
        self.book = book
        self.ingest = ingest
        self.nodes = nodes
        self.store = store
        self.overlap = overlap
        self.emit = emit
        self.run = run
        self.repo = repo
        self.headless = headless
        """Read at each spawn: a front end may set ``Supervisor.headless`` after construction."""
        self.base_commit = base_commit
        self.check_screen = check_screen
        self.after_spawn = after_spawn
        """Called once a spawn is through (worktree changes seen while it was being made are looked at)."""
        self.on_finished = on_finished
        """Called when an attempt finished with exit 0 (the review queue takes it)."""
        self.wake = wake
        self.runtimes: Mapping[str, SessionRuntime] = runtimes if runtimes is not None else {}
        """Every session of the run (a dependent starts from its dependencies' branches: engine/handover.py)."""
        self.base_branch = base_branch
        """The run's base branch (``start_after = "approved"``: a dependent starts from its tip)."""
        self.isolation = Isolation(run=run, repo=repo, store=store, emit=emit, runtimes=self.runtimes,
                                   on_dirty=book.on_dirty)
        """Ports, env placeholders, include and setup of each spawn (engine/isolation.py)."""
        self.claim_warm = claim_warm
        """A fresh session takes a warm worktree when one is ready (engine/warm.py, engine/remote_warm.py)."""
        self.released = released
        """Called when an exit is seen, before its final look (git work in a thread): its agent is gone, so
        its pool slot is free (engine/pool.py) and a scheduling pass runs meanwhile."""
        self.durable = durable
        """Awaited before a spawn makes its window: the ``starting`` record is on disk (engine/journal.py)."""
        self.watch_checkout = watch_checkout
        """Called from a local spawn's thread once its fresh worktree is checked out (engine/routing.py)."""
        self.spawning: set[str] = set()
        self.exiting: set[str] = set()
        """Sessions whose exit is being looked at (git work in a thread)."""
        self._exit_slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    async def spawn(self, rt: SessionRuntime, *, restart: bool = False) -> None:
        """Start an attempt: fresh rules, the node's spawn (in a thread), then what it printed meanwhile."""
        rec = rt.rec
        self.spawning.add(rec.name)
        try:
            rec.sandbox = None if rt.spec.sandbox == "none" else rt.spec.sandbox  # picks its node (engine/nodes.py);
            # before the state is saved as starting: a supervisor killed before its next save adopts the window
            # (engine/reattach.py) with the sandbox it runs in (its refusals, EROFS lines and node are read by it)
            self.book.set_state(rt, SessionState.STARTING, None)
            rt.reset_for_attempt(self.clock.time())
            if self.durable is not None:  # on disk as starting before its window exists (one save per pass)
                await self.durable()
            self.isolation.loop = asyncio.get_running_loop()
            pool = self.nodes.spawn_pool(rec)  # an ssh node's spawns queue in threads of their own
            if pool is None:
                await asyncio.to_thread(self.spawn_sync, rt, restart)
            else:
                await asyncio.get_running_loop().run_in_executor(pool, self.spawn_sync, rt, restart)
        except DiskError:  # the run's own files cannot be written: not the session's failure (it is retried
            rec.state = SessionState.PENDING  # by the next supervisor); the supervisor stops with exit 4
            raise
        except HandoverBlocked as e:  # not started: a human resolves the merge or starts it from the base
            rec.blocked_paths = list(e.paths)
            self.book.set_state(rt, SessionState.BLOCKED, e.message)
            self.emit("blocked", rec.name, dependency=e.dependency, paths=e.paths, worktree=str(e.worktree),
                      hint=e.hint)
            return  # (the finally below ends the spawn)
        except CortexError as e:
            rec.finished_at = self.clock.time()
            self.book.set_state(rt, SessionState.FAILED, f"spawn failed: {e.message}")
        except Exception as e:
            log.exception("spawn of %s failed", rec.name)
            rec.finished_at = self.clock.time()
            self.book.set_state(rt, SessionState.FAILED, f"spawn failed: {e}")
        else:
            if rec.state is SessionState.STARTING:  # it may already wait on an approval it printed at once
                self.book.set_state(rt, SessionState.RUNNING, None)
            self.emit("spawned", rec.name, window=rec.window_id, branch=rec.branch, worktree=rec.worktree,
                       attempt=rec.attempt, node=rec.node)
            self.ingest.read_log(rt)  # whatever it printed while the window was being made
            if rec.state.live and rt.detects_approval:
                self.check_screen(rt)
        finally:
            self.spawning.discard(rec.name)
            self.wake()
        await self.after_spawn(rt)

    async def _mark_stale(self, rt: SessionRuntime) -> None:
        """A dependency finished again: dependents that started from its older head show ``stale base``."""
        if not any(rt.rec.name in r.rec.handover for r in self.runtimes.values()):
            return
        try:
            stale = await asyncio.to_thread(stale_dependents, self.repo, rt.rec, list(self.runtimes.values()))
        except GitError as e:
            self.emit("watch_error", rt.rec.name, error=e.message)
            return
        for rec, commits in stale:
            n = len(commits)
            rec.reason = f"stale base: {rt.rec.name} has {n} newer commit{'s' * (n != 1)}"  # shown with its state
            self.emit("stale_base", rec.name, dependency=rt.rec.name, commits=commits)

    def paths(self, rec: SessionRecord) -> SessionPaths:
        return session_paths(self.store, rec)

    def spawn_sync(self, rt: SessionRuntime, restart: bool) -> None:
        node = self.nodes.get_for(rt.rec)  # rec.sandbox set by spawn()
        start = prepare_spawn(self.repo, rt.rec, rt.spec, self.base_commit(),
                              {n: r.rec for n, r in self.runtimes.items()}, polled=node.polled,
                              base_branch=self.base_branch() if self.base_branch else None)
        claimed: Claimed | None = None
        if start.handover is not None and start.handover.merged:
            h = start.handover
            self.emit("handover", rt.rec.name, method=h.method, start=h.start, merged=[d.name for d in h.merged],
                      subjects=h.subjects)
        elif self.claim_warm is not None and start.handover is None:  # on this machine or an ssh node
            claimed = self.claim_warm(rt.rec, start.base)
        spec = self.isolation.runtime_spec(rt, start.spec)
        node.spawn(SpawnRequest(
            spec=spec, rec=rt.rec, adapter=rt.adapter, run=self.run, repo=self.repo,
            base_commit=start.base, headless=self.headless(), restart=restart, paths=self.paths(rt.rec),
            stamp=local_hms(self.clock), prepare=self.isolation.preparer(rt, spec),
            window=claimed.window if claimed is not None else None,
            checked_out=self._checked_out(rt)))

    def _checked_out(self, rt: SessionRuntime) -> Callable[[], None] | None:
        watch = self.watch_checkout
        return None if watch is None else lambda: watch(rt)

    def stop_sync(self, rt: SessionRuntime) -> None:
        attempt = rt.rec.attempt
        self.nodes.get_for(rt.rec).stop(rt.rec, rt.adapter, self.paths(rt.rec))
        if rt.rec.attempt == attempt:  # not restarted meanwhile (a new attempt is not finished)
            rt.rec.finished_at = rt.rec.finished_at or self.clock.time()
            rt.rec.serving = []

    async def on_exit(self, rt: SessionRuntime, code: int) -> None:
        """An attempt ended with ``code``: final look, triggers, then finished (review) or failed (restart?)."""
        rec = rt.rec
        if rt.exit_seen and rec.exit_code == code and rec.state.terminal:
            return
        if rec.name in self.exiting:  # its git work is in flight (the watcher and the tick both saw the exit)
            return
        rt.exit_seen = True
        self.exiting.add(rec.name)
        seen = self.clock.time()
        self.released()  # its agent is gone: its slot is free now, not after the git work below (engine/pool.py)
        try:
            async with self._looks():  # (seen already: waiting here holds no slot)
                await self._ended(rt, code, seen)
        finally:
            self.exiting.discard(rec.name)

    def _looks(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._exit_slots is None or self._exit_slots[0] is not loop:
            self._exit_slots = (loop, asyncio.Semaphore(EXITS_AT_ONCE))
        return self._exit_slots[1]

    async def _ended(self, rt: SessionRuntime, code: int, seen: float) -> None:
        rec = rt.rec
        # the whole log first, whoever saw the exit: a reconcile (a re-attach's start, the periodic one while the
        # watcher lags or is down) judged it on a tail without the last lines, and a headless run ended with
        # them never read (the proxy's refusals, a sandbox's EROFS lines, the exited trigger's last lines)
        await self.ingest.drain_log(rt)
        final: FinalLook | None = None
        try:  # head, diff size and a last sweep of its worktree (a polled node's came with its polls)
            final = await asyncio.to_thread(self.nodes.get_for(rec).final_look, rec,
                                            rec.base_commit or self.base_commit())
        except GitError as e:  # e.g. its worktree was removed by hand: the exit still counts
            self.emit("watch_error", rec.name, error=e.message)
        cleanup = getattr(self.nodes.get_for(rec), "cleanup", None)  # local nodes: daemons the agent detached
        if cleanup is not None:
            await asyncio.to_thread(cleanup, rec, rt.adapter, self.paths(rec))
        rec.cpu_percent = None  # nothing runs any more: no stale CPU/RSS on the dashboard
        rec.rss_bytes = None
        rec.serving = []
        self.ingest.read_agent_events(rt)
        self.ingest.poll_usage(rt)
        rec.exit_code = code
        rec.finished_at = self.clock.time()
        if final is not None:
            rec.head_commit = final.head
            if final.diff is not None:
                rec.diff_added, rec.diff_removed = final.diff
            if final.disk is not None:
                rec.disk_bytes = final.disk
            self.ingest.apply_changed(rt, final.changed)
            for esc in final.outside:
                self.ingest.flag_outside(rt, esc.target, via=esc.link, how=esc.how)
        self.overlap.forget(rec.name)
        self.book.apply(rt, rt.approval.screen(None))
        if rt.silence.active:
            rt.silence.active = False
            self.book.clear(rt, "silence", "", {"reason": "session ended"})
        if rec.state is SessionState.STOPPED:
            self.emit("finished", rec.name, exit_code=code, stopped=True, exited_at=seen)
            return
        self.emit("finished", rec.name, exit_code=code, exited_at=seen)
        if code == 0:
            self.book.set_state(rt, SessionState.FINISHED, None)
            await self._mark_stale(rt)
            self.on_finished(rt)
            return
        self.book.apply(rt, exited_change(code, list(rt.tail)))
        policy = rt.spec.restart
        delay = restart_delay(policy, rec.restarts)
        if policy is not None and delay is not None:
            rt.restart_at = self.clock.time() + delay
            self.book.set_state(rt, SessionState.FAILED, f"exit {code}; restart {rec.restarts + 1}/{policy.max} in {delay:g}s")
        else:
            self.book.set_state(rt, SessionState.FAILED, f"exit {code}")
