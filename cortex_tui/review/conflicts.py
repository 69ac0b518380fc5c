"""Conflict check of a branch against the base tip with ``git merge-tree --write-tree``.

Runs in the object database only: no worktree, index or ref is touched.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.backends.git import GIT
from cortex_tui.errors import GitError


@dataclass(frozen=True)
class MergeTree:
    """Result of a trial merge: the merged tree (when clean) and the conflicting paths."""

    tree: str
    conflicts: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def merge_tree(repo: Path, base: str, head: str) -> MergeTree:
    """Trial-merge ``head`` into ``base`` (commits or refs)."""
    argv = [*GIT, "-C", str(repo), "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", base, head]
    r = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    if r.returncode not in (0, 1):
        raise GitError(f"git merge-tree {base} {head} failed in {repo}: "
                       f"{r.stderr.decode(errors='replace').strip()}")
    parts = r.stdout.decode(errors="surrogateescape").split("\0")
    tree = parts[0].strip()
    conflicts: list[str] = []
    if r.returncode == 1:
        for p in parts[1:]:
            if p and p not in conflicts:
                conflicts.append(p)
        if not conflicts:
            conflicts = ["(unnamed conflict)"]
    return MergeTree(tree=tree, conflicts=conflicts)


def conflict_paths(repo: Path, base: str, head: str) -> list[str]:
    return merge_tree(repo, base, head).conflicts
