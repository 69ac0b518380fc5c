"""``cortex-tui clean``: remove worktrees of ended sessions without ever losing work.

A worktree goes only if it is clean and its HEAD is merged into the base, or after a backup ref was
written for its unmerged commits and a snapshot commit for its uncommitted files, and both were read
back. "Merged" is decided by content (:mod:`cortex_tui.review.landed`): a branch that was squash-merged,
rebased or cherry-picked into the base is merged, and its entry no longer awaits review. Only registered worktrees under ``<repo>/.cortex/worktrees/`` are touched, never via a symlink.
Branches are always kept. tmux windows are not killed here: the report lists them for the caller.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cortex_tui.backends.git import git, repo_root, rev_parse
from cortex_tui.backends.remote_warm import sweep_run
from cortex_tui.backends.session_env import session_env
from cortex_tui.backends.steps import describe_failure, run_steps
from cortex_tui.backends.warm_slots import WarmSweep
from cortex_tui.durations import format_duration
from cortex_tui.errors import CortexError, RefusedError
from cortex_tui.model.events import Event
from cortex_tui.model.state import RunState, SessionRecord
from cortex_tui.review.backup import backup_worktree, snapshot_tree
from cortex_tui.review.context import RunContext, default_state_dir
from cortex_tui.review.diffstat import uncommitted_paths
from cortex_tui.review.guard import GuardedWorktree, guard_worktree
from cortex_tui.review.landed import How, describe, landed, session_landed
from cortex_tui.review.merge import is_ancestor
from cortex_tui.store.files import RunStore, list_runs
from cortex_tui.text import visible

DEFAULT_OLDER_THAN_S = 6 * 3600.0
DEFAULT_MAX_KEEP = 20


@dataclass
class Removed:
    run: str
    session: str
    path: str
    reason: str
    backups: list[str] = field(default_factory=list)
    saved_files: list[str] = field(default_factory=list)
    pruned: bool = False
    """The directory was already gone; only git's record of it was dropped."""
    teardown: str | None = None
    """Its ``teardown`` step that failed (the removal went on: nothing of the worktree is lost by it)."""


@dataclass
class Kept:
    run: str
    session: str
    path: str
    reason: str


@dataclass
class WindowRef:
    """A tmux window the caller should kill (``tmux -L socket kill-window -t window_id``)."""

    run: str
    session: str
    socket: str
    window_id: str


@dataclass
class CleanReport:
    dry_run: bool = False
    removed: list[Removed] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    windows: list[WindowRef] = field(default_factory=list)
    warm: WarmSweep = field(default_factory=WarmSweep)
    """Warm slots (``[pool] warm``) of runs no supervisor holds: they hold no work and always go."""

    @property
    def backed_up(self) -> list[str]:
        return [ref for r in self.removed for ref in r.backups]

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["backed_up"] = self.backed_up
        return d

    def render(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines: list[str] = []
        v = visible  # names, paths, refs and reasons can carry what an agent chose
        for r in self.removed:
            what = "prune (directory already gone)" if r.pruned else verb
            lines.append(f"{what}: {v(r.run)}/{v(r.session)}  {v(r.path)}  ({v(r.reason)})")
            for ref in r.backups:
                lines.append(f"    backup: {v(ref)}")
            if r.saved_files:
                shown = ", ".join(v(f) for f in r.saved_files[:8]) + (" …" if len(r.saved_files) > 8 else "")
                lines.append(f"    uncommitted files saved: {shown}")
        for k in self.kept:
            lines.append(f"kept: {v(k.run)}/{v(k.session)}  {v(k.path)}  ({v(k.reason)})")
        lines += self.warm.lines()
        if not lines:
            lines.append("nothing to clean")
        n_b = len(self.backed_up)
        lines.append(f"{len(self.removed)} {verb}, {len(self.kept)} kept, {n_b} backup ref{'s' if n_b != 1 else ''}"
                     + (" (dry run: nothing changed)" if self.dry_run else ""))
        return "\n".join(lines)


@dataclass
class _Candidate:
    run: str
    store: RunStore
    state: RunState
    rec: SessionRecord
    guarded: GuardedWorktree
    ended_at: float


def _ended_at(rec: SessionRecord, path: Path) -> float:
    if rec.finished_at:
        return rec.finished_at
    try:
        return path.stat().st_mtime
    except OSError:
        return rec.created_at or 0.0


def clean(repo: Path, state_dir: Path | None = None, *, older_than_s: float = DEFAULT_OLDER_THAN_S,
          max_keep: int = DEFAULT_MAX_KEEP, dry_run: bool = False, run: str | None = None,
          now: float | None = None) -> CleanReport:
    """Remove worktrees of ended sessions older than ``older_than_s``, and beyond the newest ``max_keep``."""
    repo = repo_root(Path(repo).resolve())
    sd = Path(state_dir).resolve() if state_dir else default_state_dir(repo)
    now = time.time() if now is None else now
    report = CleanReport(dry_run=dry_run, warm=WarmSweep(dry_run=dry_run))
    candidates: list[_Candidate] = []
    for run_id in [run] if run else list_runs(sd):
        store = RunStore(sd, run_id)
        state = store.load()
        if state is None:
            continue
        if not store.lock_holder():  # a live supervisor keeps its slots filled (and hands them out)
            report.warm.extend(sweep_run(repo, state, dry_run=dry_run))
        reviews = RunContext.open(repo, sd, run_id).reviews.load()  # a lost review.json is rebuilt first
        for rec in state.sessions.values():
            try:
                g = guard_worktree(repo, rec.worktree)
            except CortexError as e:  # one odd worktree never stops the clean of the others
                if os.path.lexists(rec.worktree):
                    report.kept.append(Kept(run_id, rec.name, rec.worktree, e.message))
                continue
            if not g.exists and g.registered is None:
                continue  # already gone
            if not rec.state.terminal:
                report.kept.append(Kept(run_id, rec.name, rec.worktree, f"session is {rec.state.value}"))
                continue
            entry = reviews.entries.get(rec.name)
            if rec.review_due:
                report.kept.append(Kept(run_id, rec.name, rec.worktree, "its verify and review are not done yet"))
                continue
            if entry is not None and entry.status in ("pending", "changes_requested") \
                    and session_landed(repo, rec.branch, rec.base_commit, state.base) is None:
                report.kept.append(Kept(run_id, rec.name, rec.worktree, f"awaiting review ({entry.status})"))
                continue
            if g.registered is not None and g.registered.locked:
                report.kept.append(Kept(run_id, rec.name, rec.worktree, "worktree is locked (git worktree unlock)"))
                continue
            candidates.append(_Candidate(run_id, store, state, rec, g, _ended_at(rec, g.path)))
    candidates.sort(key=lambda c: c.ended_at, reverse=True)
    for i, c in enumerate(candidates):
        age = now - c.ended_at
        if age >= older_than_s:
            why = f"ended {format_duration(age)} ago"
        elif i >= max_keep:
            why = f"more than --max {max_keep} ended worktrees"
        else:
            report.kept.append(Kept(c.run, c.rec.name, c.rec.worktree,
                                    f"ended {format_duration(age)} ago, younger than {format_duration(older_than_s)}"))
            continue
        try:
            removed = remove_session_worktree(repo, c.state, c.rec, c.store, reason=why, dry_run=dry_run,
                                              guarded=c.guarded)
        except CortexError as e:
            report.kept.append(Kept(c.run, c.rec.name, c.rec.worktree, f"refused: {e.message}"))
            continue
        report.removed.append(removed)
        if c.rec.window_id:
            report.windows.append(WindowRef(c.run, c.rec.name, c.state.socket, c.rec.window_id))
    return report


def _merged(repo: Path, head: str | None, tip: str, branch: str) -> How | None:
    """How ``head`` is in the base, when nothing of it can be lost by removing its worktree: by ancestry, or
    by content while its commits stay reachable from the session's branch (which clean always keeps)."""
    if head is None:
        return "merge"
    how = landed(repo, head, tip)
    if how is None or how == "merge":
        return how
    bhead = rev_parse(repo, f"refs/heads/{branch}")
    return how if bhead and is_ancestor(repo, head, bhead) else None


def remove_session_worktree(repo: Path, state: RunState, rec: SessionRecord, store: RunStore, *, reason: str,
                            dry_run: bool = False, guarded: GuardedWorktree | None = None) -> Removed:
    """The one safe path that removes a session's worktree (backup, read back, then ``worktree remove``)."""
    g = guarded or guard_worktree(repo, rec.worktree)
    tip = rev_parse(repo, f"refs/heads/{state.base}") or rev_parse(repo, state.base)
    if tip is None:
        raise RefusedError(f"base {state.base!r} not found; cannot tell what is merged")
    out = Removed(state.run, rec.name, str(g.path), reason)
    if not g.exists:
        head = g.registered.head if g.registered else None
        out.pruned = True
        if dry_run:
            out.backups = [] if _merged(repo, head, tip, rec.branch) else ["(a backup ref of its HEAD)"]
            return out
        if _merged(repo, head, tip, rec.branch) is None:
            out.backups = backup_worktree(repo, None, head, tip, run=state.run, slug=rec.slug, session=rec.name).refs
        git(repo, "worktree", "remove", "--force", str(g.path))
        _log(store, state.run, rec.name, "pruned", out)
        return out
    if rec.teardown and not dry_run:  # before anything is looked at: what it leaves behind is backed up too
        out.teardown = _teardown(state, rec, store, g.path)
        if out.teardown:
            out.reason += f"; {out.teardown}"
    head = rev_parse(g.path, "HEAD")
    dirty = uncommitted_paths(g.path)
    how = _merged(repo, head, tip, rec.branch)
    merged = how is not None
    if dry_run:
        if not merged:
            out.backups.append("(a backup ref of its unmerged commits)")
        if dirty:
            out.backups.append("(a backup ref of its uncommitted files)")
            out.saved_files = dirty
        return out
    if how is not None and not dirty:
        git(repo, "worktree", "remove", str(g.path))
        out.reason += "; clean and merged" + ("" if how == "merge" else f" ({describe(how)})")
    else:
        res = backup_worktree(repo, g.path, head, tip, run=state.run, slug=rec.slug, session=rec.name,
                              commits_merged=merged)
        out.backups, out.saved_files = res.refs, res.files
        # re-check after the backup: anything written meanwhile would not be in it
        expected = res.tree or git(g.path, "rev-parse", f"{head}^{{tree}}").strip()
        if not head or rev_parse(g.path, "HEAD") != head or snapshot_tree(g.path, head) != expected:
            raise RefusedError(f"{g.path} changed while being backed up; kept (backups: {', '.join(res.refs)})")
        git(repo, "worktree", "remove", "--force", str(g.path))
    if os.path.lexists(g.path):
        raise RefusedError(f"git worktree remove left {g.path} behind")
    _log(store, state.run, rec.name, "removed", out)
    return out


def _teardown(state: RunState, rec: SessionRecord, store: RunStore, wt: Path) -> str | None:
    """Run the session's ``teardown`` steps in its worktree (output into its log), with the env its ``setup``
    had (the layout's ``env`` rendered, ports, ``CORTEX_*``); the failure, if any."""
    env = session_env(rec.teardown_env, ports=rec.ports, session=rec.name, worktree=str(wt), run=state.run)
    env.update({"CORTEX_RUN": state.run, "CORTEX_SESSION": rec.name, "CORTEX_WORKTREE": str(wt)})
    results = run_steps("teardown", rec.teardown, cwd=wt, env=env, log=store.log_path(rec.slug))
    for r in results:
        store.append_event(Event(ts=time.time(), run=state.run, kind="setup", session=rec.name,
                                 data={"phase": r.phase, "index": r.index, "total": r.total, "step": r.step,
                                       "exit_code": r.exit_code, "duration_s": r.duration_s}))
    return describe_failure(results[-1]) if results and results[-1].exit_code != 0 else None


def _log(store: RunStore, run: str, session: str, action: str, r: Removed) -> None:
    store.append_event(Event(ts=time.time(), run=run, kind="clean", session=session,
                             data={"action": action, "path": r.path, "reason": r.reason, "backups": r.backups,
                                   "saved_files": r.saved_files[:200]}))
