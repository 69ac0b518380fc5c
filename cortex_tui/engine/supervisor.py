"""The Supervisor: one asyncio core that spawns, watches and re-attaches to a run's sessions.

Agents live in tmux (a dedicated server socket), never as children of this process: quitting or
killing the supervisor leaves them running, and the next ``start()`` re-attaches from ``coordination/``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cortex_tui.agents.base import AgentSignal, SpawnContext
from cortex_tui.backends import git as gitb
from cortex_tui.backends.tmux import Tmux, WindowInfo, socket_name
from cortex_tui.budgets import BudgetTracker
from cortex_tui.engine import actions
from cortex_tui.engine.clock import Clock, SystemClock, local_hms, wait_real
from cortex_tui.engine.events import EPHEMERAL_KINDS, Event, EventBus
from cortex_tui.engine.observers import Observers, start_observers
from cortex_tui.engine.reattach import reconcile, refuse_strays, take_lock
from cortex_tui.engine.remote import RemoteSessions
from cortex_tui.engine.schedule import plan, restart_delay
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet, describe, supervised
from cortex_tui.engine.triggers import Action, TriggerBook
from cortex_tui.errors import CortexError
from cortex_tui.layout import LoadedLayout
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import RunState, SessionRecord, SessionState, TokenUsage
from cortex_tui.resources import DISK_S, ProcessSampler, TreeSample, disk_usage
from cortex_tui.scope import in_scope
from cortex_tui.store.files import RunStore, atomic_write
from cortex_tui.store.status import render_status_md
from cortex_tui.watch.rules import (
    OverlapTracker,
    TriggerChange,
    exited_change,
)
from cortex_tui.watch.text import clean_line

if TYPE_CHECKING:
    from watchfiles import Change

log = logging.getLogger("cortex_tui.engine")

Runtime = SessionRuntime

WRAPPER = 'f=$1; shift; "$@"; rc=$?; printf "%s\\n" "$rc" > "$f.tmp" && mv -f "$f.tmp" "$f"; exit $rc'

NOISE_DIRS = frozenset({".git", "__pycache__", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                        ".venv", "venv", ".tox", ".cache", "dist", "build", ".idea", ".vscode"})
NOISE_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~", ".tmp", ".DS_Store")
TICK_S = 0.5
SAMPLE_S = 2.0
RECONCILE_S = 5.0
"""Windows killed from outside are noticed this late; exits are seen at once through exit files."""
REMOTE_POLL_S = 1.0
"""Remote sessions: one ssh round trip per node this often (output, events, exit codes, changed files)."""
STATS_SAVE_S = 10.0
"""CPU/RSS samples alone rewrite state.json at most this often."""


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
        self.rt: dict[str, Runtime] = {}
        self._by_slug: dict[str, Runtime] = {}
        self.overlap = OverlapTracker()
        self.book = TriggerBook(self.clock, self._emit, self._on_trigger_action, self._mark_dirty)
        self.sampler = ProcessSampler()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._dirty = False
        self._stats_dirty = False
        self._last_save = 0.0
        self._last_sample = 0.0
        self._last_disk = 0.0
        self._last_reconcile = 0.0
        self._spawning: set[str] = set()
        self.run_budget = BudgetTracker(budget_usd=self.layout.run.budget_usd,
                                        budget_tokens=self.layout.run.budget_tokens)
        """``[run] budget_usd/budget_tokens`` against the sum of every session's usage."""
        self._started = False
        self._observers: Observers | None = None
        self.metrics_addr: tuple[str, int] | None = None
        """Serve ``/metrics`` there while supervising (``--metrics-port``)."""
        self.remote = RemoteSessions(self)
        self._last_remote_poll = 0.0
        self._tasks = TaskSet(self._engine_error)
        """Trigger actions in flight (pause/stop/recycle)."""
        self._review_tasks = TaskSet(self._engine_error)
        self._bg = TaskSet(self._engine_error)
        """The file watcher and screen checks."""
        self._watch_ok = True
        """False from a watcher failure until its restart has caught up: no silence is judged meanwhile."""
        self._watch_runs = 0
        self._done_announced = False
        self._deferred_wt: dict[str, list[tuple[str, str]]] = {}
        """Worktree changes seen while their session was being spawned (slug -> items), looked at after."""
        self.review_enabled = True

    # ------------------------------------------------------------------ public API
    def subscribe(self, cb: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(cb)

    def note(self, kind: str, session: str | None, data: dict[str, Any]) -> None:
        """Publish and persist an event from an observer or a front end (notifications, API actions)."""
        self._emit(kind, session, **data)

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def done(self) -> bool:
        if self._spawning or self._tasks:  # a restart/stop in flight is not the end
            return False
        return all(r.rec.state.terminal and r.restart_at is None for r in self.rt.values())

    async def start(self) -> None:
        """Take the run's lock, create or re-attach to the run, reconcile with tmux."""
        attached = await asyncio.to_thread(self._start_sync)
        windows = await asyncio.to_thread(self.tmux.list_windows)
        self._reconcile(windows, initial=True)
        self._emit("attached" if attached else "run_started", None, repo=str(self.repo), socket=self.tmux.socket,
                   pid=os.getpid())
        self._save(force=True)
        self._started = True
        self._observers = start_observers(self, self.metrics_addr)

    async def supervise(self, *, until_done: bool) -> None:
        """Watch everything until every session ended (``until_done``) or :meth:`request_stop`."""
        if not self._started:
            await self.start()
        watcher = self._bg.spawn(self._watch_files, "watcher", restart=True)
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
            if until_done and self._review_tasks:
                await self._review_tasks.wait()
        finally:
            watcher.cancel()
            await asyncio.wait([watcher])  # supervised: it ends cancelled; failures were reported as they came
            self._save(force=True)
        self._announce_done()

    def _engine_error(self, task: str, exc: BaseException) -> None:
        """An engine task failed unexpectedly: say so (it restarts if it is long-lived)."""
        if task == "watcher":
            self._watch_ok = False
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
        self._save(force=True)
        if self._observers is not None:  # pending notifications go out (bounded) before the lock is released
            await asyncio.to_thread(self._observers.close)
            self._observers = None
        await asyncio.to_thread(self.remote.close)
        self.store.unlock()

    async def send(self, name: str, text: str) -> None:
        rt = self._get(name)
        await asyncio.to_thread(actions.send_text, self._tmux(rt.rec), rt.rec, text, rt.adapter)
        self._emit("action", name, action="send", detail=text)

    async def approve(self, name: str) -> None:
        rt = self._get(name)
        prompt = await asyncio.to_thread(actions.answer, self._tmux(rt.rec), rt.rec, True, rt.adapter)
        self._emit("action", name, action="approve", detail=prompt.text)

    async def deny(self, name: str) -> None:
        rt = self._get(name)
        prompt = await asyncio.to_thread(actions.answer, self._tmux(rt.rec), rt.rec, False, rt.adapter)
        self._emit("action", name, action="deny", detail=prompt.text)

    async def interrupt(self, name: str) -> None:
        rt = self._get(name)
        await asyncio.to_thread(actions.interrupt, self._tmux(rt.rec), rt.rec, rt.adapter)
        self._emit("action", name, action="interrupt", detail="")

    async def stop_session(self, name: str, reason: str = "stopped by user") -> None:
        rt = self._get(name)
        if rt.rec.state.terminal:
            return
        rt.restart_at = None
        was_pending = rt.rec.state is SessionState.PENDING
        self.book.set_state(rt, SessionState.STOPPED, reason)
        if not was_pending:
            await asyncio.to_thread(self._stop_pane, rt)
        self._emit("action", name, action="stop", detail=reason)

    async def restart_session(self, name: str) -> None:
        rt = self._get(name)
        if rt.rec.state.live:
            rt.rec.state = SessionState.STOPPED
            await asyncio.to_thread(self._stop_pane, rt)
        self._emit("action", name, action="restart", detail="")
        await self._spawn(rt, restart=True)

    def attach_argv(self, name: str) -> list[str]:
        rt = self._get(name)
        if not rt.rec.window_id:
            raise CortexError(f"session {name!r} has no tmux window yet (state: {rt.rec.state.value})")
        if rt.rec.node != "local":
            return self.remote.link(rt.rec.node).node.attach_argv(rt.rec.window_id)
        return self.tmux.attach_argv(rt.rec.window_id)

    async def screen(self, name: str, *, escapes: bool = True, lines: int = 200) -> str:
        rt = self._get(name)
        if not rt.rec.pane_id:
            return ""
        return await asyncio.to_thread(self._tmux(rt.rec).capture, rt.rec.pane_id, lines, escapes)

    # ------------------------------------------------------------------ start / re-attach
    def _start_sync(self) -> bool:
        """Blocking part of start(); returns whether an existing run was re-attached."""
        take_lock(self.store, self.run_id, takeover=self.takeover)
        self.store.ensure()
        gitb.ensure_ignored(self.repo, "/.cortex/")
        if self.state_dir.is_relative_to(self.repo):
            rel = self.state_dir.relative_to(self.repo)
            gitb.ensure_ignored(self.repo, f"/{rel}/runs/")
            gitb.ensure_ignored(self.repo, f"/{rel}/status.md")
        self.worktrees_root.mkdir(parents=True, exist_ok=True)
        prior = self.store.load()
        attached = prior is not None
        if prior is None:
            refuse_strays(self.tmux.list_windows(), self.specs, store=self.store, run_id=self.run_id,
                          socket=self.tmux.socket, state_dir=self.state_dir)
            base_commit = gitb.rev_parse(self.repo, self.layout.run.base)
            if base_commit is None:
                raise CortexError(f"base branch {self.layout.run.base!r} does not exist in {self.repo}",
                                  "set [run] base to an existing branch, or commit something first")
            prior = RunState(run=self.run_id, layout_path=str(self.loaded.path), layout_text=self.loaded.text,
                             repo=str(self.repo), base=self.layout.run.base, base_commit=base_commit,
                             socket=self.tmux.socket, created_at=self.clock.time())
        self.state = prior
        self.state.layout_text = self.loaded.text
        self.state.layout_path = str(self.loaded.path)
        self.state.supervisor_pid = os.getpid()
        self.tmux.ensure_server(self.repo, f"cortex-tui run {self.run_id} · {self.repo}")
        for name, spec in self.specs.items():
            rec = self.state.sessions.get(name)
            if rec is None:
                slug = gitb.slugify(name)
                rec = SessionRecord(name=name, slug=slug, agent=spec.agent, node=spec.node,
                                    branch=f"cortex/{self.run_id}/{slug}",
                                    worktree=str(self.worktrees_root / slug), created_at=self.clock.time())
                self.state.sessions[name] = rec
            self._make_runtime(spec, rec)
        self.run_budget.set_totals(*self._run_usage(), self.clock.time())  # re-attach: crossed stays crossed, silently
        return attached

    def _make_runtime(self, spec: ResolvedSession, rec: SessionRecord) -> Runtime:
        rt = SessionRuntime.from_record(spec, rec, self.clock.time())
        self.rt[spec.name] = rt
        self._by_slug[rec.slug] = rt
        return rt

    def _exit_file(self, rec: SessionRecord) -> Path:
        return self.store.exit_dir / f"{rec.slug}.code"

    def _read_exit(self, rec: SessionRecord) -> int | None:
        try:
            raw = self._exit_file(rec).read_text().strip()
        except FileNotFoundError:
            return None
        return int(raw) if raw.lstrip("-").isdigit() else None

    def _reconcile(self, listing: list[WindowInfo], initial: bool = False) -> None:
        """Match records against tmux windows and exit files (also picks up what ended while away)."""
        local = [rt.rec for rt in self.rt.values() if rt.rec.node == "local" and rt.rec.name not in self._spawning]
        codes = {rec.name: self._read_exit(rec) for rec in local}
        for d in reconcile(local, listing, codes, initial=initial):
            rt = self.rt[d.name]
            rec = rt.rec
            if d.action == "pending":
                rec.state = SessionState.PENDING
            elif d.action in ("adopt", "attach") and d.window is not None:
                rec.window_id, rec.pane_id, rec.pane_pid = d.window.window_id, d.window.pane_id, d.window.pane_pid
                if d.action == "adopt":
                    rec.attempt = max(rec.attempt, 1)
                    self.book.set_state(rt, SessionState.RUNNING, "adopted after supervisor restart")
            elif d.action == "exited" and d.code is not None:
                self._on_exit(rt, d.code)
            elif d.action == "vanished":
                self.book.set_state(rt, SessionState.FAILED, "tmux window vanished (killed outside cortex-tui?)")
                rec.finished_at = self.clock.time()
        self._last_reconcile = self.clock.monotonic()

    async def _schedule(self) -> None:
        p = plan(self.rt.values(), now=self.clock.time(), limit=self.layout.run.max_parallel,
                 spawning=self._spawning, budget_spent=self.run_budget_exceeded)
        for name, reason in p.stop:
            self.book.set_state(self.rt[name], SessionState.STOPPED, reason)
        ready = [self.rt[name] for name in p.spawn]
        for rt in ready:
            rt.restart_at = None
            self._spawning.add(rt.rec.name)  # its dependents wait for it from now on, not once its task runs
        if ready:
            await asyncio.gather(*(self._spawn(rt, restart=rt.rec.attempt > 0) for rt in ready))

    async def _spawn(self, rt: Runtime, *, restart: bool = False) -> None:
        rec = rt.rec
        self._spawning.add(rec.name)
        try:
            self.book.set_state(rt, SessionState.STARTING, None)
            rt.reset_for_attempt(self.clock.time())
            await asyncio.to_thread(self._spawn_sync, rt, restart)
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
            self._emit("spawned", rec.name, window=rec.window_id, branch=rec.branch, worktree=rec.worktree,
                       attempt=rec.attempt)
            self._read_log(rt)  # whatever it printed while the window was being made
            if rec.state.live and rt.detects_approval:
                self._check_screen_soon(rt)
        finally:
            self._spawning.discard(rec.name)
            self._wake.set()
        early = self._deferred_wt.pop(rec.slug, None)  # files it changed while the window was being made
        if early and rec.state.live:
            try:
                await self._on_worktree_changes(rt, early)
            except CortexError as e:
                self._emit("watch_error", rec.name, error=e.message)

    def _ctx(self, rec: SessionRecord) -> SpawnContext:
        sdir = self.store.sessions_dir / rec.slug
        return SpawnContext(run=self.run_id, repo=self.repo, worktree=Path(rec.worktree), session_dir=sdir,
                            events_file=sdir / "events.jsonl", headless=self.headless)

    def _spawn_sync(self, rt: Runtime, restart: bool) -> None:
        rec, spec = rt.rec, rt.spec
        if spec.node != "local":
            self._spawn_remote_sync(rt, restart)
            return
        wt = Path(rec.worktree)
        if not (wt / ".git").exists():
            rec.base_commit = self.state.base_commit
            gitb.add_worktree(self.repo, wt, rec.branch, self.state.base_commit)
        elif rec.base_commit is None:
            rec.base_commit = self.state.base_commit
        ctx = self._ctx(rec)
        ctx.session_dir.mkdir(parents=True, exist_ok=True)
        rt.adapter.prepare(spec, ctx)
        argv = rt.adapter.command(spec, ctx)
        exit_file = self._exit_file(rec)
        exit_file.unlink(missing_ok=True)
        wrapped = ["/bin/sh", "-c", WRAPPER, "cortex-agent", str(exit_file), *argv]
        env = {**spec.env, **rt.adapter.env(spec, ctx), "CORTEX_RUN": self.run_id, "CORTEX_SESSION": spec.name,
               "CORTEX_EVENTS_FILE": str(ctx.events_file), "CORTEX_WORKTREE": str(wt)}
        log_path = self.store.logs_dir / f"{rec.slug}.log"
        if restart:
            rec.restarts += 1 if rec.attempt > 0 else 0
        rec.attempt += 1
        with open(log_path, "ab") as f:
            f.write(f"\n── cortex-tui: attempt {rec.attempt} · {local_hms(self.clock)} · "
                    f"{shlex.join(argv)[:200]}\n".encode())
        rec.log_offset = log_path.stat().st_size
        if restart or rec.window_id is not None or rec.attempt > 1:
            # a window of an earlier attempt (or one spawned just before a supervisor crash) must not linger
            for old in self.tmux.list_windows():
                if old.tag == rec.name:
                    self.tmux.kill_window(old.window_id)
        win = self.tmux.new_window(name=spec.name, cwd=wt, argv=wrapped, env=env, log_path=log_path,
                                   tag=spec.name, run=self.run_id)
        rec.window_id, rec.pane_id, rec.pane_pid = win.window_id, win.pane_id, win.pane_pid

    def _spawn_remote_sync(self, rt: Runtime, restart: bool) -> None:
        rec = rt.rec
        if restart:
            rec.restarts += 1 if rec.attempt > 0 else 0
        rec.attempt += 1
        self._exit_file(rec).unlink(missing_ok=True)
        header = f"\n── cortex-tui: attempt {rec.attempt} on node {rt.spec.node} · {local_hms(self.clock)}\n"
        log_path = self.store.logs_dir / f"{rec.slug}.log"
        with open(log_path, "ab") as f:
            f.write(header.encode())
        rec.log_offset = log_path.stat().st_size
        rec.window_id, rec.pane_id, rec.remote_pid = self.remote.spawn_sync(rt, header="")
        rec.pane_pid = None  # never a local pid: nothing local may be signalled or sampled by it

    def _stop_pane(self, rt: Runtime) -> None:
        rec = rt.rec
        if rec.node != "local":
            self.remote.stop_sync(rt)
            rec.finished_at = rec.finished_at or self.clock.time()
            return
        if rec.pane_id:
            try:
                actions.interrupt(self.tmux, rec, rt.adapter)
            except CortexError as e:  # the pane is already gone: the process tree is killed below if needed
                log.info("interrupt of %s before stopping it failed: %s", rec.name, e.message)
        if not wait_real(lambda: self._read_exit(rec) is not None, timeout=1.5):
            actions.kill_tree(rec.pane_pid)
        rec.finished_at = rec.finished_at or self.clock.time()

    # ------------------------------------------------------------------ observation
    async def _watch_files(self) -> None:
        from watchfiles import awatch

        from cortex_tui.watch import inotify

        paths = [str(self.store.dir), str(self.worktrees_root)]
        run_dir = str(self.store.dir) + os.sep
        wt_root = str(self.worktrees_root) + os.sep

        def keep(change: Change, path: str) -> bool:
            if path.startswith(run_dir):
                return path.endswith((".log", ".code", "events.jsonl"))
            if not path.startswith(wt_root):
                return False
            parts = path[len(wt_root):].split(os.sep)
            return not any(p in NOISE_DIRS for p in parts[1:]) and not path.endswith(NOISE_SUFFIXES)

        def skip_dir(path: str) -> bool:
            return os.path.basename(path) in NOISE_DIRS

        use_inotify = inotify.available()
        restarted = self._watch_runs > 0
        self._watch_runs += 1
        while not self._stop.is_set():
            try:
                if use_inotify:
                    with inotify.InotifyWatcher(paths, keep, skip_dir) as w:
                        if restarted:  # after a failure: what changed meanwhile is looked at once
                            restarted = False
                            await self._handle_changes(self._everything_changed(), run_dir, wt_root)
                        self._watch_ok = True
                        async for changes in w.batches(self._stop):
                            if w.overflowed:  # the kernel dropped events: look at everything once
                                w.overflowed = False
                                changes = changes | self._everything_changed()
                            await self._handle_changes(changes, run_dir, wt_root)
                else:
                    if restarted:
                        restarted = False
                        await self._handle_changes(self._everything_changed(), run_dir, wt_root)
                    self._watch_ok = True
                    async for changes in awatch(*paths, watch_filter=keep, debounce=50, step=10,
                                                rust_timeout=1000, stop_event=self._stop, recursive=True,
                                                force_polling=False):
                        await self._handle_changes(changes, run_dir, wt_root)
            except (OSError, RuntimeError) as e:  # the watcher itself died (a watched dir vanished…)
                self._emit("watch_error", None, error=str(e))
                if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                    use_inotify = False  # out of inotify watches: watchfiles copes (it polls when it must)
                for p in (self.store.dir, self.worktrees_root):
                    p.mkdir(parents=True, exist_ok=True)
                await asyncio.sleep(1.0)  # then watch again; the tick's reconcile covered the gap

    async def _handle_changes(self, changes: set[tuple[Change, str]], run_dir: str, wt_root: str) -> None:
        try:
            await self._on_changes(changes, run_dir, wt_root)
        except CortexError as e:  # e.g. a git call failed on a half-deleted worktree
            self._emit("watch_error", None, error=e.message)

    def _everything_changed(self) -> set[tuple[Change, str]]:
        """What to look at after lost events: every live session's log, events, exit file and worktree."""
        from watchfiles import Change

        out: set[tuple[Change, str]] = set()
        for rt in self.rt.values():
            rec = rt.rec
            if rec.node != "local" or not rec.state.live:
                continue
            out.add((Change.modified, str(self.store.logs_dir / f"{rec.slug}.log")))
            out.add((Change.modified, str(self._ctx(rec).events_file)))
            out.add((Change.modified, str(self._exit_file(rec))))
            out.add((Change.modified, os.path.join(str(self.worktrees_root), rec.slug, ".")))
        return out

    async def _on_changes(self, changes: set[tuple[Any, str]], run_dir: str, wt_root: str) -> None:
        from watchfiles import Change

        logs: set[str] = set()
        exits: set[str] = set()
        events: set[str] = set()
        wt_changes: dict[str, list[tuple[str, str]]] = {}
        for change, path in changes:
            if path.startswith(run_dir):
                name = os.path.basename(path)
                if path.endswith(".log"):
                    logs.add(name[:-4])
                elif path.endswith(".code"):
                    exits.add(name[:-5])
                elif path.endswith("events.jsonl"):
                    events.add(os.path.basename(os.path.dirname(path)))
            else:
                rel = path[len(wt_root):]
                slug, _, relpath = rel.partition(os.sep)
                if relpath:
                    kind = {Change.added: "added", Change.modified: "modified", Change.deleted: "deleted"}[change]
                    wt_changes.setdefault(slug, []).append((relpath.replace(os.sep, "/"), kind))
        for slug in logs:
            if (rt := self._by_slug.get(slug)) is not None:
                self._read_log(rt)
        for slug in events:
            if (rt := self._by_slug.get(slug)) is not None:
                self._read_agent_events(rt)
        for slug, items in wt_changes.items():
            if (rt := self._by_slug.get(slug)) is None:
                continue
            if rt.rec.name in self._spawning:  # an agent that writes at once: look when the spawn is through
                self._deferred_wt.setdefault(slug, []).extend(items)
            else:
                await self._on_worktree_changes(rt, items)
        for slug in exits:
            if (rt := self._by_slug.get(slug)) is not None and rt.rec.name not in self._spawning:
                code = self._read_exit(rt.rec)
                if code is not None and rt.rec.state.live:
                    self._read_log(rt)
                    self._on_exit(rt, code)
        if exits:
            await self._schedule()
        self._save()

    async def _catch_up(self) -> None:
        """After (re-)attaching: read output and events written while no supervisor watched; re-verify and
        queue sessions that ended while no supervisor saw them through review."""
        if self.review_enabled:
            from cortex_tui.review.queue import unreviewed

            try:
                for name in await asyncio.to_thread(unreviewed, self.repo, self.state_dir, self.state):
                    self._start_review(self.rt[name])
            except CortexError as e:
                self._emit("review_error", None, error=e.message)
        for rt in self.rt.values():
            if rt.rec.attempt > 0:
                self._read_log(rt)
                self._read_agent_events(rt)
                if rt.rec.state.live:
                    self._check_screen_soon(rt)

    def _read_log(self, rt: Runtime) -> None:
        rec = rt.rec
        data = read_from(self.store.logs_dir / f"{rec.slug}.log", rec.log_offset)
        if not data:
            return
        rec.log_offset += len(data)
        buf = rt.partial + data
        *complete, rt.partial = buf.split(b"\n")
        if len(rt.partial) > 65536:
            complete.append(rt.partial)
            rt.partial = b""
        now = self.clock.time()
        lines: list[str] = []
        for raw in complete:
            line = clean_line(raw.decode("utf-8", errors="replace"))
            if not line.strip():
                continue
            lines.append(line)
            rt.tail.append(line)
            if rt.adapter.is_error(line):
                self.book.apply(rt, rt.errors.error(now, line))
        rec.last_output_at = now
        if rt.adapter.progress == "output":
            rec.last_progress_at = now
            self.book.apply(rt, rt.silence.progress(now, lines[-1] if lines else None))
        if lines:
            self.bus.publish(self.bus.make("output", rec.name, lines=lines))
        if rec.state.live and rt.detects_approval:
            self._check_screen_soon(rt)
        self._dirty = True

    def _read_agent_events(self, rt: Runtime) -> None:
        rec = rt.rec
        data = read_from(self._ctx(rec).events_file, rec.events_offset)
        end = data.rfind(b"\n")
        if end < 0:
            return
        rec.events_offset += end + 1
        now = self.clock.time()
        for raw in data[: end + 1].splitlines():
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            rec.last_progress_at = now
            self.book.apply(rt, rt.silence.progress(now))
            for sig in rt.adapter.interpret_event(ev):
                self._on_signal(rt, sig)
        self._dirty = True

    def _on_signal(self, rt: Runtime, sig: AgentSignal) -> None:
        rec = rt.rec
        if sig.kind == "usage" and sig.usage is not None:
            self.add_usage(rt, sig.usage, sig.model or rt.spec.model, total=sig.total, cost=sig.cost_usd)
        elif sig.kind == "waiting":
            self.book.apply(rt, rt.approval.screen(sig.text or "permission requested"))
        elif sig.kind == "blocked":
            self.book.apply(rt, TriggerChange("out_of_scope", True, {"path": sig.text, "change": "blocked",
                                                                 "scope": list(rt.spec.scope)},
                                          key=f"blocked:{sig.text}", severity="warning"))
        elif sig.kind in ("busy", "progress") and rec.state is SessionState.IDLE:
            self.book.set_state(rt, SessionState.RUNNING, None)
        elif sig.kind == "idle" and rec.state is SessionState.RUNNING:
            self.book.set_state(rt, SessionState.IDLE, None)

    def add_usage(self, rt: Runtime, usage: TokenUsage, model: str | None, *, total: bool = False,
                  cost: float | None = None) -> None:
        """Account a usage report (increment or running total), price it, evaluate the budget."""
        rec = rt.rec
        rt.ledger.apply(model, usage, total=total, cost=cost)
        rec.adapter_state = rt.adapter.usage_checkpoint()
        rec.usage_by_model = dict(rt.ledger.by_model)
        rec.reported_cost = dict(rt.ledger.reported_cost)
        rec.tokens = rt.ledger.usage
        rec.cost_usd = rt.ledger.cost(self.layout.run.prices)
        now = self.clock.time()
        for ev in rt.budget.set_totals(rec.tokens.total, rec.cost_usd, now, cost_known=rec.cost_usd is not None):
            evidence = {"metric": ev.metric, "used": ev.used, "limit": ev.limit, "fraction": round(ev.fraction, 3),
                        "threshold": ev.kind}
            if ev.kind == "warn":
                self.book.apply(rt, TriggerChange("budget", True, evidence, key=f"warn:{ev.metric}", severity="warning"),
                            act=False)
            else:
                self.book.apply(rt, TriggerChange("budget", True, evidence, key=f"exceed:{ev.metric}", severity="error"))
        self.bus.publish(self.bus.make("stats", rec.name, tokens=rec.tokens.as_dict(), cost_usd=rec.cost_usd))
        self._check_run_budget(now)
        self._dirty = True

    def _run_usage(self) -> tuple[int, float | None]:
        """Tokens and known USD used by every session of the run so far."""
        tokens = sum(r.tokens.total for r in self.state.sessions.values() if r.tokens is not None)
        costs = [r.cost_usd for r in self.state.sessions.values() if r.cost_usd is not None]
        return tokens, (sum(costs) if costs else None)

    def _check_run_budget(self, now: float) -> None:
        """``[run]`` budget: a warning event at 80 %; past 100 % every live session gets a ``budget`` trigger
        (so its ``on_trigger.budget`` action applies) and no pending session starts any more."""
        tokens, usd = self._run_usage()
        for ev in self.run_budget.set_totals(tokens, usd, now, cost_known=usd is not None):
            data = {"metric": ev.metric, "used": ev.used, "limit": ev.limit, "fraction": round(ev.fraction, 3),
                    "threshold": ev.kind}
            self._emit("run_budget", None, **data)
            if ev.kind != "exceed":
                continue
            for rt in self.rt.values():
                if rt.rec.state.live:
                    self.book.apply(rt, TriggerChange("budget", True, {**data, "scope": "run"},
                                                  key=f"run:{ev.metric}", severity="error"))

    @property
    def run_budget_exceeded(self) -> str | None:
        """Why no new session may start (the run's budget is spent), or None."""
        b = self.run_budget
        if b.budget_usd is not None and (b.fraction("usd") or 0.0) >= 1.0:
            return f"run budget spent (${b.usd:,.2f} of ${b.budget_usd:,.2f})"
        if b.budget_tokens is not None and (b.fraction("tokens") or 0.0) >= 1.0:
            return f"run budget spent ({b.tokens:,} of {b.budget_tokens:,} tokens)"
        return None

    async def _on_worktree_changes(self, rt: Runtime, items: list[tuple[str, str]]) -> None:
        base = rt.rec.base_commit or self.state.base_commit
        changed = await asyncio.to_thread(changed_vs_base, Path(rt.rec.worktree), base, [p for p, _ in items])
        self._apply_changed(rt, changed)
        if changed:
            stat = await asyncio.to_thread(diff_size, Path(rt.rec.worktree), base)
            if stat is not None and stat != (rt.rec.diff_added, rt.rec.diff_removed):
                rt.rec.diff_added, rt.rec.diff_removed = stat
                self.bus.publish(self.bus.make("stats", rt.rec.name, diff_added=stat[0], diff_removed=stat[1]))

    def _apply_changed(self, rt: Runtime, changed: dict[str, str]) -> None:
        """Files that differ from the base (path -> added/modified/deleted): scope, overlap, progress."""
        now = self.clock.time()
        # pathspecs of new directories cover the files inside them (inotify may miss those)
        for path, real in sorted(changed.items()):
            if rt.spec.ignore and in_scope(path, rt.spec.ignore):
                continue
            if path not in rt.rec.changed_files:
                rt.rec.changed_files.append(path)
            self.book.apply(rt, rt.scope.change(path, real))
            if rt.rec.state.live and self.layout.run.mode != "best-of":  # variants of one task always overlap
                for name, change in self.overlap.change(rt.rec.name, path):
                    self.book.apply(self.rt[name], change)
        if rt.adapter.progress == "output":
            rt.rec.last_progress_at = now
            self.book.apply(rt, rt.silence.progress(now))
        self._dirty = True

    def _check_screen_soon(self, rt: Runtime) -> None:
        """Look at the screen for an approval prompt (one capture in flight per session)."""
        if rt.screen_task is not None and not rt.screen_task.done():
            rt.screen_again = True
            return

        async def check() -> None:
            while True:
                rt.screen_again = False
                rec = rt.rec
                if not rec.pane_id or not rec.state.live:
                    return
                try:
                    screen = await asyncio.to_thread(self._tmux(rec).capture, rec.pane_id, 60)
                except CortexError as e:  # the pane went away: its exit is handled elsewhere
                    log.info("screen check of %s: %s", rec.name, e.message)
                    return
                prompt = rt.adapter.find_approval(screen.splitlines())
                self.book.apply(rt, rt.approval.screen(prompt.text if prompt else None))
                if not rt.screen_again:
                    return

        rt.screen_task = self._bg.spawn(check, f"screen:{rt.rec.name}")

    def _start_review(self, rt: Runtime) -> None:
        name = f"review:{rt.rec.name}"
        if not any(t.get_name() == f"cortex-{name}" for t in asyncio.all_tasks()):  # one review per session
            self._review_tasks.spawn(lambda: self._enqueue_review(rt), name)

    async def _enqueue_review(self, rt: Runtime) -> None:
        """A finished branch joins the review queue: diff, verify, conflict check (in a thread)."""
        from cortex_tui.review.queue import on_session_finished

        remote = rt.rec.node != "local"
        if remote:
            await self.remote.fetch_back(rt)
        self._save(force=True)
        try:
            # remote worktrees are not on this machine: their verify runs on the node, after queueing
            entry = await asyncio.to_thread(on_session_finished, self.repo, self.state_dir, self.run_id,
                                            rt.rec.name, spec=rt.spec, state=self.state, verify=not remote)
            if remote and entry.verify_command:
                entry = await asyncio.to_thread(self.remote.verify, rt, entry.verify_command, entry.head)
        except CortexError as e:
            self._emit("review_error", rt.rec.name, error=e.message)
            return
        rt.rec.review_due = False
        self._save(force=True)
        v = entry.verify
        self.bus.publish(self.bus.make(
            "review", rt.rec.name, status=entry.status, conflicts=entry.conflicts,
            verify=None if v is None else {"exit_code": v.exit_code, "duration_s": v.duration_s},
            files=len(entry.files)))

    # ------------------------------------------------------------------ periodic work
    async def _tick(self) -> None:
        now = self.clock.time()
        mono = self.clock.monotonic()
        live = [rt for rt in self.rt.values() if rt.rec.state.live and rt.rec.name not in self._spawning]
        for rt in live:
            if self._watch_ok:  # while the watcher is down its output is unread: that is not silence
                self.book.apply(rt, rt.silence.check(now))
            for ch in rt.errors.check(now):
                self.book.apply(rt, ch)
            if rt.spec.timeout and rt.rec.started_at and now - rt.rec.started_at > rt.spec.timeout:
                why = f"timed out after {rt.spec.timeout:.0f}s"
                await self.stop_session(rt.rec.name, reason=why)
                self.book.set_state(rt, SessionState.FAILED, why)  # a timeout is a failure, not a user's stop
        if mono - self._last_reconcile >= RECONCILE_S:
            before = {n: r.rec.state for n, r in self.rt.items()}
            self._reconcile(await asyncio.to_thread(self.tmux.list_windows))
            if any(self.rt[n].rec.state != s for n, s in before.items()):
                self._dirty = True
        if mono - self._last_remote_poll >= REMOTE_POLL_S and any(
                rt.spec.node != "local" and rt.rec.state.live for rt in self.rt.values()):
            self._last_remote_poll = mono
            await supervised(self.remote.poll, "remote-poll", self._engine_error, restart=False)
        if live and mono - self._last_sample >= SAMPLE_S:
            self._last_sample = mono
            await self._sample(live, disk=mono - self._last_disk >= DISK_S)
            for rt in live:
                self._poll_usage(rt)
        await self._schedule()
        self._save()

    def _poll_usage(self, rt: Runtime) -> None:
        """Adapters whose usage lives in files the agent appends to (transcripts) are re-read."""
        poll = getattr(rt.adapter, "poll_usage", None)
        if poll is None:
            return
        for sig in poll():
            self._on_signal(rt, sig)

    async def _sample(self, live: list[Runtime], disk: bool) -> None:
        roots = [rt.rec.pane_pid for rt in live if rt.rec.pane_pid]
        samples = await asyncio.to_thread(self.sampler.sample, [r for r in roots if r])
        if disk:
            self._last_disk = self.clock.monotonic()
            sizes = await asyncio.to_thread(lambda: {rt.rec.name: disk_usage(Path(rt.rec.worktree)) for rt in live})
        else:
            sizes = {}
        now = self.clock.time()
        for rt in live:
            if rt.rec.name in sizes and rt.rec.node == "local":
                rt.rec.disk_bytes = sizes[rt.rec.name]
            s = samples.get(rt.rec.pane_pid or -1)
            if s is not None:
                self.apply_sample(rt, s, now)

    def apply_sample(self, rt: Runtime, s: TreeSample, now: float) -> None:
        """CPU/RSS of a session's process tree (local /proc scan or the node's `ps`)."""
        rt.rec.rss_bytes = s.rss_bytes
        if s.cpu_percent is not None:
            rt.rec.cpu_percent = round(s.cpu_percent, 1)
            self.book.apply(rt, rt.silence.cpu(now, s.cpu_percent))
        if rt.memory is not None:
            self.book.apply(rt, rt.memory.value(s.rss_bytes, processes=s.processes))
        self.bus.publish(self.bus.make("stats", rt.rec.name, cpu_percent=rt.rec.cpu_percent,
                                       rss_bytes=rt.rec.rss_bytes, disk_bytes=rt.rec.disk_bytes))
        self._stats_dirty = True

    # ------------------------------------------------------------------ state changes
    def _on_exit(self, rt: Runtime, code: int) -> None:
        rec = rt.rec
        if rt.exit_seen and rec.exit_code == code and rec.state.terminal:
            return
        rt.exit_seen = True
        rec.cpu_percent = None  # nothing runs any more: no stale CPU/RSS on the dashboard
        rec.rss_bytes = None
        self._read_agent_events(rt)
        self._poll_usage(rt)
        rec.exit_code = code
        rec.finished_at = self.clock.time()
        if rec.node == "local":
            rec.head_commit = gitb.rev_parse(self.repo, rec.branch)
            base = rec.base_commit or self.state.base_commit
            stat = diff_size(Path(rec.worktree), base)
            if stat is not None:
                rec.diff_added, rec.diff_removed = stat
            # a final sweep of the whole worktree: writes the watcher had not reported yet (an agent that
            # writes and exits at once, or one that ran while no supervisor watched) still meet the scope
            self._apply_changed(rt, changed_vs_base(Path(rec.worktree), base, ["."]))
        self.overlap.forget(rec.name)
        self.book.apply(rt, rt.approval.screen(None))
        if rt.silence.active:
            rt.silence.active = False
            self.book.clear(rt, "silence", "", {"reason": "session ended"})
        if rec.state is SessionState.STOPPED:
            self._emit("finished", rec.name, exit_code=code, stopped=True)
            return
        self._emit("finished", rec.name, exit_code=code)
        if code == 0:
            self.book.set_state(rt, SessionState.FINISHED, None)
            if self.review_enabled:
                rec.review_due = True  # saved before verify starts: a crash during verify is re-done on re-attach
                self._start_review(rt)
            return
        self.book.apply(rt, exited_change(code, list(rt.tail)))
        policy = rt.spec.restart
        delay = restart_delay(policy, rec.restarts)
        if policy is not None and delay is not None:
            rt.restart_at = self.clock.time() + delay
            self.book.set_state(rt, SessionState.FAILED, f"exit {code}; restart {rec.restarts + 1}/{policy.max} in {delay:g}s")
        else:
            self.book.set_state(rt, SessionState.FAILED, f"exit {code}")

    def _on_trigger_action(self, rt: Runtime, action: Action, kind: str) -> None:
        """``on_trigger`` asked for ``action``: run it as a task (it may wait on tmux)."""
        name = rt.rec.name
        if action == "pause":
            self._tasks.spawn(lambda: self.interrupt(name), f"pause:{name}")
        elif action == "stop":
            self._tasks.spawn(lambda: self.stop_session(name, reason=f"stopped by trigger {kind}"), f"stop:{name}")
        else:
            self._tasks.spawn(lambda: self.restart_session(name), f"recycle:{name}")

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _emit(self, kind: str, session: str | None, /, **data: Any) -> None:
        ev = self.bus.make(kind, session, **data)
        if kind not in EPHEMERAL_KINDS:
            self.store.append_event(ev.to_json())
        self.bus.publish(ev)

    def _save(self, force: bool = False) -> None:
        if not hasattr(self, "state"):
            return
        mono = self.clock.monotonic()
        if not force:
            if self._dirty and mono - self._last_save < 0.25:
                return
            if not self._dirty and not (self._stats_dirty and mono - self._last_save >= STATS_SAVE_S):
                return
        self._dirty = False
        self._stats_dirty = False
        self._last_save = mono
        self.store.save(self.state)
        atomic_write(self.state_dir / "status.md", render_status_md(self.state))

    def _tmux(self, rec: SessionRecord) -> Tmux:
        return self.tmux if rec.node == "local" else self.remote.tmux_for(rec)

    def _get(self, name: str) -> Runtime:
        try:
            return self.rt[name]
        except KeyError:
            raise CortexError(f"no session named {name!r} in run {self.run_id!r}",
                              "see `cortex-tui status` for the names") from None



def changed_vs_base(worktree: Path, base: str, paths: list[str]) -> dict[str, str]:
    """Which of ``paths`` differ from ``base`` in the worktree (committed or not), with the change kind.

    Files identical to the base (e.g. written by the initial checkout), directories and files ignored
    by .gitignore are left out, so only real edits by the agent count.
    """
    if not paths or not worktree.is_dir():
        return {}
    import subprocess

    out: dict[str, str] = {}
    r = subprocess.run(["git", "-C", str(worktree), "diff", "--no-renames", "--name-status", "-z", base, "--", *paths],
                       capture_output=True, text=True)
    fields = r.stdout.split("\0")
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if path:
            out[path] = {"A": "added", "D": "deleted"}.get(status[:1], "modified")
    r = subprocess.run(["git", "-C", str(worktree), "ls-files", "--others", "--exclude-standard", "-z", "--", *paths],
                       capture_output=True, text=True)
    for path in r.stdout.split("\0"):
        if path:
            out[path] = "added"
    return out


def read_from(path: Path, offset: int) -> bytes:
    """Bytes of ``path`` from ``offset`` on (nothing when it does not exist yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


def diff_size(worktree: Path, base: str) -> tuple[int, int] | None:
    """(+lines, -lines) of the worktree against ``base``: tracked files (committed or not) plus the lines of
    untracked, not ignored files (bounded: 200 files of at most 1 MB each)."""
    import subprocess

    r = subprocess.run(["git", "-C", str(worktree), "diff", "--numstat", base], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    added = removed = 0
    for line in r.stdout.splitlines():
        a, _, rest = line.partition("\t")
        d, _, _ = rest.partition("\t")
        if a.isdigit() and d.isdigit():  # binary files show "-"
            added, removed = added + int(a), removed + int(d)
    r = subprocess.run(["git", "-C", str(worktree), "ls-files", "--others", "--exclude-standard", "-z"],
                       capture_output=True, text=True)
    for rel in [p for p in r.stdout.split("\0") if p][:200]:
        try:
            f = worktree / rel
            if f.is_file() and not f.is_symlink() and f.stat().st_size <= 1 << 20:
                data = f.read_bytes()
                if b"\0" not in data:
                    added += data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
        except OSError:
            continue
    return added, removed
