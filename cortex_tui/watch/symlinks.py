"""Writes that leave the worktree through a symlink, seen without the agent's help (shell commands, agents
without hooks): a sweep over the worktree's symlinks when a session ends (#12 item 9).

Git does not follow symlinks, so ``link/x`` written through a link committed in the base tree changes
nothing git or the worktree watcher can see. The sweep looks at every symlink of the worktree that resolves
outside it:

- a link the session made or changed itself (a changed path, or a changed path that goes through one):
  its resolved target is reported — the session pointed a path of its worktree outside it;
- a link that was already there (committed): files at its resolved target modified since the attempt started
  are reported (by mtime; bounded: :data:`MAX_WALK` entries per link, :data:`MAX_FOUND` reported).

Each finding is the resolved target (the evidence) and the link it was reached through. Names are the agent's
choice: callers show them through :func:`cortex_tui.text.visible`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.backends.git import git

MAX_WALK = 5000
"""Entries looked at under one linked directory."""
MAX_FOUND = 50
"""Findings reported per sweep (the first ones; a link to a busy directory must not flood the events)."""


@dataclass(frozen=True)
class Escape:
    target: str
    """The resolved path outside the worktree."""
    link: str
    """The worktree-relative symlink it was reached through."""
    how: str
    """``made by the session`` or ``written through a committed link``."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def committed_links(worktree: Path) -> list[str]:
    """Worktree-relative paths of the symlinks in its index (mode 120000)."""
    out = git(worktree, "ls-files", "-s", "-z")
    links = []
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        if path and meta.startswith("120000 "):
            links.append(path)
    return links


def _links_on(worktree: Path, rel: str) -> list[str]:
    """``rel`` and each of its parent directories that is a symlink (worktree-relative)."""
    parts = Path(rel).parts
    found = []
    for i in range(1, len(parts) + 1):
        sub = os.path.join(*parts[:i])
        if os.path.islink(worktree / sub):
            found.append(sub)
    return found


def _written_since(target: str, since: float) -> list[str]:
    """``target`` (a file) or the files under it (a directory) modified at or after ``since``."""
    try:
        st = os.stat(target)
    except OSError:
        return []
    if not os.path.isdir(target):
        return [target] if st.st_mtime >= since else []
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(target, followlinks=False):
        for name in filenames:
            seen += 1
            p = os.path.join(dirpath, name)
            try:
                if os.lstat(p).st_mtime >= since:
                    found.append(p)
            except OSError:
                continue
            if seen >= MAX_WALK or len(found) >= MAX_FOUND:
                return found
        dirnames.sort()
        seen += len(dirnames)
        if seen >= MAX_WALK:
            break
    return found


def made(worktree: Path, changed: Iterable[str]) -> list[Escape]:
    """Symlinks among (or on the way to) ``changed`` paths that resolve outside ``worktree``: cheap (no git),
    also used while the session runs, on each batch of changes the watcher reports."""
    if not worktree.is_dir():
        return []
    root = os.path.realpath(worktree)
    out: list[Escape] = []
    for link in sorted({link for rel in changed for link in _links_on(worktree, rel)}):
        target = os.path.realpath(worktree / link)
        if not _inside(target, root) and all(e.target != target for e in out):
            out.append(Escape(target, link, "made by the session"))
    return out


def sweep(worktree: Path, changed: Iterable[str], since: float) -> list[Escape]:
    """Writes outside ``worktree`` through its symlinks (see the module doc); blocking, call it in a thread."""
    if not worktree.is_dir():
        return []
    root = os.path.realpath(worktree)
    changed = list(changed)
    out = made(worktree, changed)
    seen = {e.target for e in out}
    made_links = {e.link for e in out} | {link for rel in changed for link in _links_on(worktree, rel)}
    for link in committed_links(worktree):
        if link in made_links or not os.path.islink(worktree / link):
            continue
        target = os.path.realpath(worktree / link)
        if _inside(target, root):
            continue
        for path in _written_since(target, since):
            if path not in seen:
                seen.add(path)
                out.append(Escape(path, link, "written through a committed link"))
        if len(out) >= MAX_FOUND:
            break
    return out[:MAX_FOUND]
