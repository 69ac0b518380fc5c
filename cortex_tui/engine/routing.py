"""From file changes to the engine: each batch of the run's watcher is routed to the session it belongs to.

:class:`ChangeRouter` owns the :class:`~cortex_tui.engine.watcher.RunWatcher` (a supervised task), hands exits
to the lifecycle, reads new log and event bytes through :class:`~cortex_tui.engine.ingest.Ingest`, checks
worktree changes against the base (git in a thread) and holds back those of a session still being spawned.

A batch is routed without awaiting any git work: exits first (each handled in a task of its own), then the
reads, then each session's worktree look as a task of its own (one in flight per session, what changed
meanwhile merged into its next look; at most :data:`LOOKS_AT_ONCE` at once). The watcher reads its next
batch at once: an exit is never seen behind other sessions' worktree looks (at 20 sessions on 2 loaded cores
those took seconds, one after the other, and every exit waited behind them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cortex_tui.backends.local_node import LocalNode
from cortex_tui.engine.events import EventBus
from cortex_tui.engine.ingest import Ingest
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.engine.watcher import Changes, RunWatcher
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionRecord
from cortex_tui.store.files import RunStore
from cortex_tui.watch import symlinks

MAX_PATHSPECS = 64
"""More changed paths than this in one batch are looked up as the whole worktree (one git call, no pathspecs)."""
READ_SLICE_S = 0.002
"""A batch's log and event reads hand the loop back after this much time (a key press waits behind one slice,
not behind twenty flooding sessions' reads); not in a batch with exits (their tasks see the batch's reads)."""
LOOKS_AT_ONCE = 2
"""Worktree looks (two git processes each) running at once: the cores' worth, leaving the worker threads to
the spawns and final looks that share them."""


class ChangeRouter:
    """Routes the watcher's batches; the Supervisor gives it what it needs as plain values and callbacks."""

    def __init__(self, *, store: RunStore, worktrees_root: Path, stop: asyncio.Event, ingest: Ingest,
                 local: LocalNode, bus: EventBus, emit: Callable[..., None],
                 by_slug: dict[str, SessionRuntime], spawning: set[str],
                 watched: Callable[[], list[SessionRuntime]], base_commit: Callable[[], str],
                 on_exit: Callable[[SessionRuntime, int], Awaitable[None]],
                 schedule: Callable[[], None], save: Callable[[], None], tasks: TaskSet) -> None:
        self.store = store
        self.worktrees_root = worktrees_root
        self.stop = stop
        self.ingest = ingest
        self.local = local
        self.bus = bus
        self.emit = emit
        self.by_slug = by_slug
        self.spawning = spawning
        self.watched = watched
        self.base_commit = base_commit
        self.on_exit = on_exit
        self.schedule = schedule
        """A scheduling pass soon (engine/pool_pass.py): never awaited here, the next batch waits on no spawn."""
        self.tasks = tasks
        """Where each exit is handled (its final look is git work): the next batch waits on none of them."""
        self.save = save
        self.watcher: RunWatcher | None = None
        self.ok = True
        """False from a watcher failure until its restart has caught up: no silence is judged meanwhile."""
        self.runs = 0
        self.deferred: dict[str, list[tuple[str, str]]] = {}
        """Worktree changes seen while their session was being spawned (slug -> items), looked at after."""
        self.agent_files: dict[str, str] = {}
        """Agents' own session files (path -> slug) watched across watcher restarts."""
        self.looks: dict[str, list[tuple[str, str]]] = {}
        """Worktree changes waiting for their session's look (slug -> items); a slug is here while its look task
        runs (engine/routing.py's :meth:`_look`)."""
        self._look_slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        """At most :data:`LOOKS_AT_ONCE` looks at once (one semaphore per event loop: a front end may run the
        engine in more than one)."""
        ingest.watch_agent_file = self.watch_agent_file

    def watch_agent_file(self, rt: SessionRuntime, path: Path) -> None:
        """Read ``path`` (the agent's own session file, found by its adapter) as soon as it is written."""
        key = str(path)
        if self.agent_files.get(key) == rt.rec.slug:
            return
        self.agent_files[key] = rt.rec.slug
        if self.watcher is not None:
            self.watcher.watch_agent_file(key, rt.rec.slug)

    def exit_file(self, rec: SessionRecord) -> Path:
        return self.store.exit_dir / f"{rec.slug}.code"

    def read_exit(self, rec: SessionRecord) -> int | None:
        try:
            raw = self.exit_file(rec).read_text().strip()
        except FileNotFoundError:
            return None
        return int(raw) if raw.lstrip("-").isdigit() else None

    def watch_checkout(self, rt: SessionRuntime) -> None:
        """From the spawn's thread: ``rt``'s fresh worktree holds exactly the base checkout and nothing else
        has written there yet; watched from now on, it needs no whole look after the spawn (a 5,000-file
        tree's ``git diff`` + ``ls-files`` per session, on the cores the other checkouts need)."""
        watcher = self.watcher
        if watcher is not None:
            watcher.watch_checkout(rt.rec.slug)

    async def after_spawn(self, rt: SessionRuntime) -> None:
        early = self.deferred.pop(rt.rec.slug, None)  # files it changed while the window was being made
        if self.watcher is not None and await self.watcher.resume(rt.rec.slug):
            early = [(".", "modified")]  # its worktree was not watched while being made: look at all of it once
        if early and rt.rec.state.live:
            try:
                await self.worktree_changed(rt, early)
            except CortexError as e:
                self.emit("watch_error", rt.rec.name, error=e.message)

    async def watch(self) -> None:
        """Run the watcher (a supervised task: after a failure it is run again and catches up)."""
        restarted = self.runs > 0
        self.runs += 1
        watcher = RunWatcher(self.store.dir, self.worktrees_root, self.stop, on_batch=self.handle,
                             on_error=lambda e: self.emit("watch_error", None, error=e),
                             everything=self.everything, on_watching=self._watching, paused=self._spawning_slug,
                             agent_files=self.agent_files)
        self.watcher = watcher
        await watcher.run(catch_up=restarted)  # after a failure: what changed meanwhile is looked at once

    def _spawning_slug(self, slug: str) -> bool:
        rt = self.by_slug.get(slug)
        return rt is not None and rt.rec.name in self.spawning

    def _watching(self) -> None:  # the watch is set up: judging silence is safe again
        self.ok = True

    async def handle(self, changes: Changes) -> None:
        try:
            await self.route(changes)
        except CortexError as e:  # e.g. a git call failed on a half-deleted worktree
            self.emit("watch_error", None, error=e.message)

    def everything(self) -> Changes:
        """What to look at after lost events: every live local session's files and worktree."""
        return Changes.everything(rt.rec.slug for rt in self.watched() if rt.rec.state.live)

    async def route(self, changes: Changes) -> None:
        """Route one batch: exits handled, logs and events read, worktree looks started (none awaited)."""
        for slug in changes.exits:  # first: its slot is free now, not after this batch's reads
            if (rt := self.by_slug.get(slug)) is not None and rt.rec.name not in self.spawning:
                code = self.read_exit(rt.rec)
                if code is not None and rt.rec.state.live:
                    self._exit_soon(rt, code)  # (its log is read to the end first: Lifecycle._ended)
        if changes.exits:
            self.schedule()
        slice_at = time.perf_counter()
        reads = [(self.ingest.read_log, slug) for slug in changes.logs]
        reads += [(self.ingest.read_agent_events, slug) for slug in changes.events]
        for read, slug in reads:
            if not changes.exits and time.perf_counter() - slice_at >= READ_SLICE_S:
                await asyncio.sleep(0)
                slice_at = time.perf_counter()
            if (rt := self.by_slug.get(slug)) is not None:
                read(rt)
        for slug in changes.agent_files:
            if (rt := self.by_slug.get(slug)) is not None and rt.rec.state.live:
                self.ingest.poll_usage(rt)
            elif self.watcher is not None:  # its session ended: no need to watch its agent's files any more
                for path in [p for p, s in self.agent_files.items() if s == slug]:
                    self.watcher.forget_agent_file(path)
        for slug, items in changes.worktrees.items():
            if (rt := self.by_slug.get(slug)) is None:
                continue
            if rt.rec.name in self.spawning:  # an agent that writes at once: look when the spawn is through
                self.deferred.setdefault(slug, []).extend(items)
            elif not rt.exit_seen:  # (an exited one's final look sweeps its whole worktree)
                self._look_soon(rt, items)
        self.save()

    def _look_soon(self, rt: SessionRuntime, items: list[tuple[str, str]]) -> None:
        """Look at ``items`` of ``rt``'s worktree in a task (merged into the next look if one is in flight)."""
        slug = rt.rec.slug
        running = slug in self.looks
        self.looks.setdefault(slug, []).extend(items)
        if not running:
            self.tasks.spawn(lambda: self._look(rt), f"look:{rt.rec.name}")

    async def _look(self, rt: SessionRuntime) -> None:
        slug = rt.rec.slug
        try:
            while self.looks.get(slug):
                async with self._slots():  # taken per look: a session that writes all the time waits its turn
                    items, self.looks[slug] = self.looks[slug], []
                    if rt.exit_seen or not rt.rec.state.live:
                        return
                    if rt.rec.name in self.spawning:  # restarted meanwhile: looked at once its spawn is through
                        self.deferred.setdefault(slug, []).extend(items)
                        return
                    try:
                        await self.worktree_changed(rt, items)
                    except CortexError as e:  # e.g. a git call failed on a half-deleted worktree
                        self.emit("watch_error", rt.rec.name, error=e.message)
        finally:
            self.looks.pop(slug, None)

    def _slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._look_slots is None or self._look_slots[0] is not loop:
            self._look_slots = (loop, asyncio.Semaphore(LOOKS_AT_ONCE))
        return self._look_slots[1]

    def _exit_soon(self, rt: SessionRuntime, code: int) -> None:
        """The exit handled in a task of its own (its slot is freed as that task begins: engine/lifecycle.py)."""
        async def ended() -> None:
            try:
                await self.on_exit(rt, code)
            except CortexError as e:  # e.g. a git call failed on a half-deleted worktree
                self.emit("watch_error", rt.rec.name, error=e.message)
        self.tasks.spawn(ended, f"exit:{rt.rec.name}")

    async def worktree_changed(self, rt: SessionRuntime, items: list[tuple[str, str]]) -> None:
        base = rt.rec.base_commit or self.base_commit()
        paths = sorted({p for p, _ in items})
        if len(paths) > MAX_PATHSPECS:  # git compares every path against every pathspec: ask for all at once
            paths = ["."]
        attempt = rt.rec.attempt
        changed, stat = await asyncio.to_thread(self.local.worktree_changes, rt.rec, base, paths)
        if rt.exit_seen or rt.rec.attempt != attempt:  # it ended meanwhile: its final look, taken after this
            return  # one, has the last word
        self.ingest.apply_changed(rt, changed)
        if changed:  # a symlink it made that points outside its worktree: flagged now, not only at its end
            for esc in await asyncio.to_thread(symlinks.made, Path(rt.rec.worktree), list(changed)):
                self.ingest.flag_outside(rt, esc.target, via=esc.link, how=esc.how)
        if stat is not None:
            if stat != (rt.rec.diff_added, rt.rec.diff_removed):
                rt.rec.diff_added, rt.rec.diff_removed = stat
                self.bus.publish(self.bus.make("stats", rt.rec.name, diff_added=stat[0], diff_removed=stat[1]))

