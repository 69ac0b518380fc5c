"""Which paths the cleaner may ever remove: registered worktrees under ``<repo>/.cortex/worktrees/``, no symlinks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.backends.git import git
from cortex_tui.errors import GitError, RefusedError

WORKTREES_DIR = (".cortex", "worktrees")


@dataclass(frozen=True)
class RegisteredWorktree:
    path: Path
    head: str | None
    branch: str | None
    locked: bool
    prunable: bool


@dataclass(frozen=True)
class GuardedWorktree:
    """A session worktree path that passed every check; ``registered`` is None when git has forgotten it."""

    path: Path
    exists: bool
    registered: RegisteredWorktree | None


def registered_worktrees(repo: Path) -> list[RegisteredWorktree]:
    """``git worktree list --porcelain``, with the lock and prunable flags."""
    out: list[RegisteredWorktree] = []
    cur: dict[str, str] = {}
    for line in [*git(repo, "worktree", "list", "--porcelain").splitlines(), ""]:
        if not line:
            if "worktree" in cur:
                br = cur.get("branch")
                out.append(RegisteredWorktree(Path(cur["worktree"]), cur.get("HEAD"),
                                              br.removeprefix("refs/heads/") if br else None,
                                              "locked" in cur, "prunable" in cur))
            cur = {}
            continue
        k, _, v = line.partition(" ")
        cur[k] = v
    return out


def worktrees_root(repo: Path) -> Path:
    """``<repo>/.cortex/worktrees``; refused when any part of it is a symlink."""
    lexical = Path(os.path.abspath(repo)).joinpath(*WORKTREES_DIR)
    if lexical.exists() and lexical.resolve() != lexical:
        raise RefusedError(f"{lexical} leads through a symlink (to {lexical.resolve()}); not cleaning there")
    return lexical


def guard_worktree(repo: Path, path: str | Path) -> GuardedWorktree:
    """Check that ``path`` is a cortex worktree we may remove; raise :class:`RefusedError` saying why not."""
    root = worktrees_root(repo)
    p = Path(os.path.normpath(os.path.abspath(path)))
    if p == root or root not in p.parents:
        raise RefusedError(f"{p} is not under {root}; cortex-tui only removes its own worktrees")
    if p.is_symlink():
        raise RefusedError(f"{p} is a symlink (to {os.readlink(p)}); not following it")
    exists = os.path.lexists(p)
    if exists and p.resolve() != p:
        raise RefusedError(f"{p} leads through a symlink (to {p.resolve()}); not following it")
    reg = next((w for w in registered_worktrees(repo) if Path(os.path.normpath(w.path)) == p), None)
    if exists and reg is None:
        raise RefusedError(f"{p} is not a registered git worktree (git worktree list); not removing it")
    if exists:
        if not p.is_dir() or not (p / ".git").is_file():
            raise RefusedError(f"{p} has no .git file; it does not look like a worktree")
        try:
            top = git(p, "rev-parse", "--path-format=absolute", "--show-toplevel").strip()
        except GitError as e:  # e.g. a session overwrote its .git file: skip it, clean the others
            raise RefusedError(f"{p}: its .git file is broken or was overwritten ({e.message.splitlines()[-1]}); "
                               "not touching it",
                               f"`git worktree repair {p}` restores the link, then clean again") from None
        if Path(top) != p:
            raise RefusedError(f"{p} is not the top of its own worktree (git says {top})")
    return GuardedWorktree(path=p, exists=exists, registered=reg)
