"""This machine as a node: git worktrees under ``.cortex/worktrees``, windows on the run's tmux socket."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path

from cortex_tui.agents.base import AgentAdapter, KeyInput, SpawnContext
from cortex_tui.backends import git as gitb
from cortex_tui.backends.node import (
    LOCAL,
    STOP_GRACE_S,
    WRAPPER,
    FinalLook,
    NodeContext,
    SessionPaths,
    SpawnRequest,
    register,
)
from cortex_tui.backends.procs import capture_tree, kill_procs, procs_with_env, tree_running, wait_real
from cortex_tui.backends.steps import Included, StepResult, include_files, run_steps
from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.errors import CortexError, disk_error
from cortex_tui.model.state import SessionRecord
from cortex_tui.private import open_private, private_dir, tighten_files
from cortex_tui.resources import disk_usages
from cortex_tui.watch import symlinks

log = logging.getLogger("cortex_tui.backends")


def _read_code(path: Path) -> int | None:
    try:
        raw = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(raw) if raw.lstrip("-").isdigit() else None


class LocalWorkspace:
    """A worktree on this machine (:class:`~cortex_tui.backends.node.Workspace`)."""

    node = LOCAL

    def __init__(self, worktree: Path) -> None:
        self.worktree = worktree
        self.path = str(worktree)

    def include(self, paths: list[str], *, repo: Path, mode: str) -> list[Included]:
        return include_files(paths, repo=repo, worktree=self.worktree, mode=mode)

    def run_steps(self, phase: str, steps: list[str], *, env: dict[str, str], log: Path,
                  on_step: Callable[[int, str], None] | None, timeout: float) -> list[StepResult]:
        return run_steps(phase, steps, cwd=self.worktree, env=env, log=log, on_step=on_step, timeout=timeout)


class LocalNode:
    """Sessions on this machine (watched: the engine's file watcher sees their files)."""

    polled = False

    def __init__(self, ctx: NodeContext, tmux: Tmux | None = None) -> None:
        self.name = LOCAL
        self.ctx = ctx
        self._tmux = tmux or ctx.tmux or Tmux(ctx.socket)

    @property
    def tmux(self) -> Tmux:
        return self._tmux

    def spawn(self, req: SpawnRequest) -> None:
        rec, spec, adapter = req.rec, req.spec, req.adapter
        wt = Path(rec.worktree)
        if not (wt / ".git").exists():
            rec.base_commit = req.base_commit
            gitb.add_worktree(req.repo, wt, rec.branch, req.base_commit)
            if req.checked_out is not None and req.prepare is None:  # exactly the base checkout: watched now
                req.checked_out()
        elif rec.base_commit is None:
            rec.base_commit = req.base_commit
        if req.prepare is not None:
            req.prepare(LocalWorkspace(wt))
        ctx = SpawnContext(run=req.run, repo=req.repo, worktree=wt, session_dir=req.paths.session_dir,
                           events_file=req.paths.events, headless=req.headless)
        private_dir(ctx.session_dir)
        adapter.prepare(spec, ctx)
        tighten_files(ctx.session_dir)
        argv = adapter.command(spec, ctx)
        req.paths.exit.unlink(missing_ok=True)
        env = {**spec.env, **adapter.env(spec, ctx), "CORTEX_RUN": req.run, "CORTEX_SESSION": spec.name,
               "CORTEX_EVENTS_FILE": str(ctx.events_file), "CORTEX_WORKTREE": str(wt)}
        inner = req.wrap(argv, ctx, env) if req.wrap is not None else argv
        wrapped = ["/bin/sh", "-c", WRAPPER, "cortex-agent", str(req.paths.exit), *inner]
        try:  # before the attempt is counted: a full disk is no attempt of the session
            with open_private(req.paths.log) as f:
                f.write(f"\n── cortex-tui: attempt {rec.attempt + 1} · {req.stamp} · {shlex.join(argv)[:200]}\n"
                        .encode())
        except OSError as e:
            raise disk_error(req.paths.log, e, "writing the session log") from e
        if req.restart:
            rec.restarts += 1 if rec.attempt > 0 else 0
        rec.attempt += 1
        rec.log_offset = req.paths.log.stat().st_size
        if req.restart or rec.window_id is not None or rec.attempt > 1:
            # a window of an earlier attempt (or one spawned just before a supervisor crash) must not linger
            for old in self.tmux.list_windows():
                if old.tag == rec.name and old.instance == (self.tmux.instance or ""):  # never another run's
                    self.tmux.kill_window(old.window_id)
        win = None
        if req.window is not None:  # a warm slot's idle window: the agent starts in it (one tmux command)
            try:
                win = self.tmux.respawn_window(req.window, name=spec.name, cwd=wt, argv=wrapped, env=env,
                                               log_path=req.paths.log, tag=spec.name, run=req.run)
            except CortexError as e:  # the window is gone (killed by hand?): a new one, as without a slot
                log.info("%s: the warm window %s is gone (%s); making a new one", rec.name, req.window.window_id,
                         e.message)
        if win is None:
            win = self.tmux.new_window(name=spec.name, cwd=wt, argv=wrapped, env=env, log_path=req.paths.log,
                                       tag=spec.name, run=req.run)
        rec.window_id, rec.pane_id, rec.pane_pid = win.window_id, win.pane_id, win.pane_pid

    def stop(self, rec: SessionRecord, adapter: AgentAdapter, paths: SessionPaths) -> None:
        # this attempt's pane and processes, taken now: a restart during the grace below puts a new agent's
        # pane and pid into ``rec``, and that one must live
        pane, tree = rec.pane_id, capture_tree(rec.pane_pid)
        if pane:
            try:
                self.tmux.send_keys(pane, adapter.interrupt_keys())
            except CortexError as e:  # the pane is already gone: the process tree is killed below if needed
                log.info("interrupt of %s before stopping it failed: %s", rec.name, e.message)
        if not wait_real(lambda: _read_code(paths.exit) is not None or (bool(tree) and not tree_running(tree)),
                         timeout=STOP_GRACE_S):
            kill_procs(tree)
        self.cleanup(rec, adapter, paths)

    def cleanup(self, rec: SessionRecord, adapter: AgentAdapter, paths: SessionPaths) -> None:
        """What the agent left running outside its process tree (e.g. Codex's app-server daemon)."""
        procs = list(dict.fromkeys(p for frag in adapter.detached
                                   for p in procs_with_env("CORTEX_EVENTS_FILE", str(paths.events), cmd_has=frag)))
        if procs:
            log.info("%s: ending %d process(es) its agent left running: %s", rec.name, len(procs),
                     [p.pid for p in procs])
            kill_procs(procs, grace=1.0)

    def send_keys(self, pane_id: str, keys: list[KeyInput]) -> None:
        self.tmux.send_keys(pane_id, keys)

    def capture(self, pane_id: str, lines: int = 200, escapes: bool = False) -> str:
        return self.tmux.capture(pane_id, lines, escapes)

    def list_windows(self) -> list[WindowInfo]:
        return self.tmux.list_windows()

    def attach_argv(self, window_id: str) -> list[str]:
        return self.tmux.attach_argv(window_id)

    def final_look(self, rec: SessionRecord, base: str) -> FinalLook | None:
        head = gitb.rev_parse(self.ctx.repo, rec.branch)
        wt = Path(rec.worktree)
        if not wt.is_dir():
            return FinalLook(head, None, {})
        # a final sweep of the whole worktree: writes the watcher had not reported yet (an agent that
        # writes and exits at once, or one that ran while no supervisor watched) still meet the scope
        changed = gitb.changed_vs_base(wt, base, ["."])
        # writes through a symlink land outside it, where git and the watcher cannot see: swept here
        outside = tuple(symlinks.sweep(wt, changed, rec.started_at or 0.0))
        # its size at the end: the periodic measure (every DISK_S) never saw a session shorter than a sample
        return FinalLook(head, gitb.diff_size(wt, base), changed, outside, disk=disk_usages([wt])[wt])

    def worktree_changes(self, rec: SessionRecord, base: str,
                         paths: list[str]) -> tuple[dict[str, str], tuple[int, int] | None]:
        """Which of ``paths`` differ from ``base`` (kinds), and the diff size when any do (blocking)."""
        wt = Path(rec.worktree)
        changed = gitb.changed_vs_base(wt, base, paths)
        return changed, (gitb.diff_size(wt, base) if changed else None)

    def fetch_back(self, repo: Path, rec: SessionRecord) -> str | None:
        return None  # the branch is in the repo already

    def disk_usage(self, recs: list[SessionRecord]) -> dict[str, int | None]:
        sizes = disk_usages([Path(r.worktree) for r in recs])
        return {r.slug: sizes[Path(r.worktree)] for r in recs}

    def close(self) -> None:
        return None  # the tmux server keeps the agents; nothing to release


register("local", lambda ctx: LocalNode(ctx))
