"""Watching a run's files: its logs, exit files and agent events, every session's worktree, and the agents'
own session files (Codex's rollout, Gemini's chat file) that live outside the run.

:class:`RunWatcher` runs inotify (or watchfiles where inotify is missing or out of watches), drops noise
(``.git``, caches, editor swap files) and hands over each batch as typed :class:`Changes` by session slug.
It reports its own trouble (a watched directory vanished) through ``on_error`` and watches again; anything
else it raises, for :func:`cortex_tui.engine.tasks.supervised` to report and restart it.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchfiles import Change

NOISE_DIRS = frozenset({".git", "__pycache__", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                        ".venv", "venv", ".tox", ".cache", "dist", "build", ".idea", ".vscode"})
NOISE_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~", ".tmp", ".DS_Store")
RETRY_S = 1.0
"""After the watcher itself failed (a watched directory vanished): watch again this much later."""


@dataclass
class Changes:
    """One batch of changes, by session slug."""

    logs: set[str] = field(default_factory=set)
    exits: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    worktrees: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """slug -> [(path relative to the worktree, "added" | "modified" | "deleted")]."""
    agent_files: set[str] = field(default_factory=set)
    """Sessions whose agent wrote its own session file (:meth:`RunWatcher.watch_agent_file`)."""

    def __bool__(self) -> bool:
        return bool(self.logs or self.exits or self.events or self.worktrees or self.agent_files)

    def merge(self, other: Changes) -> Changes:
        wt = {k: list(v) for k, v in self.worktrees.items()}
        for slug, items in other.worktrees.items():
            wt.setdefault(slug, []).extend(items)
        return Changes(self.logs | other.logs, self.exits | other.exits, self.events | other.events, wt,
                       self.agent_files | other.agent_files)

    @classmethod
    def everything(cls, slugs: Iterable[str]) -> Changes:
        """What to look at after lost events: each session's log, events, exit file and whole worktree."""
        s = set(slugs)
        return cls(logs=set(s), exits=set(s), events=set(s), worktrees={slug: [(".", "modified")] for slug in s})


def classify(raw: Iterable[tuple[Any, str]], run_dir: str, wt_root: str,
             agent_files: Mapping[str, str] | None = None) -> Changes:
    """``(watchfiles.Change, path)`` pairs → :class:`Changes` (``run_dir``/``wt_root`` end with ``os.sep``;
    ``agent_files``: an agent's own session file -> its session's slug)."""
    from watchfiles import Change

    kinds = {Change.added: "added", Change.modified: "modified", Change.deleted: "deleted"}
    out = Changes()
    for change, path in raw:
        if agent_files and path in agent_files:
            out.agent_files.add(agent_files[path])
        elif path.startswith(run_dir):
            name = os.path.basename(path)
            if path.endswith(".log"):
                out.logs.add(name[:-4])
            elif path.endswith(".code"):
                out.exits.add(name[:-5])
            elif path.endswith("events.jsonl"):
                out.events.add(os.path.basename(os.path.dirname(path)))
        elif path.startswith(wt_root):
            slug, _, relpath = path[len(wt_root):].partition(os.sep)
            if relpath:
                out.worktrees.setdefault(slug, []).append((relpath.replace(os.sep, "/"), kinds[change]))
    return out


class RunWatcher:
    """Watch ``run_dir`` and ``worktrees_root`` until ``stop`` is set, calling ``on_batch`` per batch."""

    def __init__(self, run_dir: Path, worktrees_root: Path, stop: asyncio.Event, *,
                 on_batch: Callable[[Changes], Awaitable[None]], on_error: Callable[[str], None],
                 everything: Callable[[], Changes], on_watching: Callable[[], None] = lambda: None,
                 paused: Callable[[str], bool] = lambda slug: False,
                 agent_files: dict[str, str] | None = None) -> None:
        self.dirs = (run_dir, worktrees_root)
        self.run_dir = str(run_dir) + os.sep
        self.wt_root = str(worktrees_root) + os.sep
        self.stop = stop
        self.on_batch = on_batch
        self.on_error = on_error
        self.everything = everything
        self.on_watching = on_watching
        """Called once the watch is set up (and a catch-up is done): from now on nothing is missed."""
        self.paused = paused
        """A worktree (by slug) appearing while this says True is not watched yet: its checkout (thousands of
        files in a large repo) is no work for the event loop. :meth:`resume` watches it once it is made."""
        self.agent_files: dict[str, str] = {} if agent_files is None else agent_files
        """An agent's own session file (absolute path) -> its session's slug: written, it is read at once
        (with inotify; the sample tick reads it otherwise). Its directory is watched, not recursively."""
        self._inotify: Any = None

    def watch_agent_file(self, path: str, slug: str) -> None:
        """Report writes to ``path`` (an agent's session file outside the run) as ``agent_files`` changes."""
        self.agent_files[path] = slug
        self._watch_dir(os.path.dirname(path))

    def forget_agent_file(self, path: str) -> None:
        self.agent_files.pop(path, None)
        d = os.path.dirname(path)
        w = self._inotify
        if (w is not None and w.fd >= 0 and not d.startswith((self.run_dir, self.wt_root))
                and not any(os.path.dirname(p) == d for p in self.agent_files)):
            w._forget_tree(d)

    def _watch_dir(self, d: str) -> None:
        w = self._inotify
        if w is not None and w.fd >= 0 and d not in w._wds and not d.startswith((self.run_dir, self.wt_root)):
            w._add_dir(d)

    def keep(self, change: Change, path: str) -> bool:
        if path in self.agent_files:
            return True
        if path.startswith(self.run_dir):
            return path.endswith((".log", ".code", "events.jsonl"))
        if not path.startswith(self.wt_root):
            return False
        parts = path[len(self.wt_root):].split(os.sep)
        return not any(p in NOISE_DIRS for p in parts[1:]) and not path.endswith(NOISE_SUFFIXES)

    def skip_dir(self, path: str) -> bool:
        if not path.startswith((self.run_dir, self.wt_root)):
            return True  # below an agent file's directory: only that directory itself is watched
        if os.path.basename(path) in NOISE_DIRS:
            return True
        if path.startswith(self.wt_root):
            slug = path[len(self.wt_root):]
            return os.sep not in slug and self.paused(slug)
        return False

    def watch_checkout(self, slug: str) -> bool:
        """Watch a worktree being made, from its spawn's thread, once its files are checked out and before
        anything else writes there (the agent is not started yet): everything written from then on is an
        event, so :meth:`resume` finds it watched and no whole look is needed. True when it is watched (with
        inotify only: watchfiles watches new directories by itself)."""
        w = self._inotify
        if w is None or w.fd < 0:
            return False
        return bool(w.add_tree_in_thread(self.wt_root + slug))

    async def resume(self, slug: str) -> bool:
        """Watch a worktree skipped while it was being made; True when it was added now (the caller looks at
        the whole worktree once: what was written before the watch went unseen). The walk of its directories
        runs in a worker thread (a 5,000-file checkout held the loop 100–500 ms here). False when it was
        watched already (e.g. by :meth:`watch_checkout` during its spawn)."""
        w = self._inotify
        path = self.wt_root + slug
        if w is None or w.fd < 0 or w.watching(path) or not os.path.isdir(path):
            return False
        return bool(await w.add_tree_off_loop(path))

    async def run(self, *, catch_up: bool = False) -> None:
        """Watch; with ``catch_up`` (a restart after a failure) everything is looked at once first."""
        from watchfiles import awatch

        from cortex_tui.watch import inotify

        paths = [str(d) for d in self.dirs]
        use_inotify = inotify.available()
        while not self.stop.is_set():
            try:
                if use_inotify:
                    with inotify.InotifyWatcher(paths, self.keep, self.skip_dir) as w:
                        self._inotify = w
                        for path in list(self.agent_files):
                            self._watch_dir(os.path.dirname(path))
                        catch_up = await self._ready(catch_up)
                        async for raw in w.batches(self.stop):
                            changes = classify(raw, self.run_dir, self.wt_root, self.agent_files)
                            if w.overflowed:  # the kernel dropped events: look at everything once
                                w.overflowed = False
                                changes = changes.merge(self.everything())
                            await self.on_batch(changes)
                else:
                    catch_up = await self._ready(catch_up)
                    async for raw in awatch(*paths, watch_filter=self.keep, debounce=50, step=10,
                                            rust_timeout=1000, stop_event=self.stop, recursive=True,
                                            force_polling=False):
                        await self.on_batch(classify(raw, self.run_dir, self.wt_root))
            except (OSError, RuntimeError) as e:  # the watcher itself died (a watched dir vanished…)
                self.on_error(str(e))
                if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                    use_inotify = False  # out of inotify watches: watchfiles copes (it polls when it must)
                for d in self.dirs:
                    d.mkdir(parents=True, exist_ok=True)
                await asyncio.sleep(RETRY_S)  # then watch again; the tick's reconcile covered the gap

    async def _ready(self, catch_up: bool) -> bool:
        if catch_up:
            await self.on_batch(self.everything())
        self.on_watching()
        return False
