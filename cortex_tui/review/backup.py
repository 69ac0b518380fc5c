"""Back up a worktree before removal: unmerged commits and uncommitted files onto ``refs/cortex/backup/...``.

Uncommitted (staged, unstaged, untracked-not-ignored) changes are saved as a commit whose parent is
HEAD, built in a temporary index (``GIT_INDEX_FILE``): the user's index and stash are never touched.
Every backup is read back and compared file by file before the caller may remove anything.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.backends.git import GIT, git
from cortex_tui.errors import RefusedError
from cortex_tui.review.diffstat import uncommitted_paths
from cortex_tui.review.merge import is_ancestor
from cortex_tui.review.refs import unique_backup_ref, write_ref


@dataclass
class BackupResult:
    refs: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Uncommitted paths saved in the snapshot commit."""
    tree: str | None = None
    """Tree of the snapshot (None when there was nothing uncommitted)."""


def snapshot_tree(worktree: Path, head: str) -> str:
    """The tree of the worktree as it is now (tracked + untracked, not ignored), built in a throwaway index."""
    with tempfile.TemporaryDirectory(prefix="cortex-index-") as d:
        env = {"GIT_INDEX_FILE": str(Path(d) / "index")}
        git(worktree, "read-tree", head, env=env)
        git(worktree, "add", "-A", "--", ".", env=env)
        return git(worktree, "write-tree", env=env).strip()


def snapshot_commit(worktree: Path, head: str, message: str) -> str:
    """A commit (parent ``head``) of :func:`snapshot_tree`."""
    tree = snapshot_tree(worktree, head)
    return git(worktree, "commit-tree", tree, "-p", head, "-m", message).strip()


def _tree_entries(worktree: Path, commit: str) -> dict[str, tuple[str, str]]:
    out = git(worktree, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries: dict[str, tuple[str, str]] = {}
    for rec in out.split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        mode, _type, oid = meta.split(" ")
        entries[path] = (mode, oid)
    return entries


def _hash_link(worktree: Path, target: str) -> str:
    r = subprocess.run([*GIT, "-C", str(worktree), "hash-object", "--no-filters", "--stdin"], input=target.encode(),
                       capture_output=True, check=True)
    return r.stdout.decode().strip()


def verify_snapshot(worktree: Path, commit: str, paths: list[str]) -> None:
    """Read the snapshot back: every present path has the worktree's content, every deleted path is absent."""
    tree = _tree_entries(worktree, commit)
    regular: list[str] = []
    for rel in paths:
        p = worktree / rel
        if not os.path.lexists(p):
            if rel in tree:
                raise RefusedError(f"backup check failed: deleted {rel} is still in {commit[:12]}")
            continue
        is_link = p.is_symlink()
        if rel not in tree:
            if is_link or not p.is_dir():
                raise RefusedError(f"backup check failed: {rel} is missing from backup {commit[:12]}")
            continue  # a nested repository: recorded as a gitlink at best
        if is_link:
            if tree[rel][0] != "120000" or tree[rel][1] != _hash_link(worktree, os.readlink(p)):
                raise RefusedError(f"backup check failed: symlink {rel} differs in {commit[:12]}")
        elif p.is_file():
            regular.append(rel)
    batch = [r for r in regular if "\n" not in r]
    oids = git(worktree, "hash-object", "--stdin-paths", input="\n".join(batch) + "\n").split() if batch else []
    pairs = list(zip(batch, oids, strict=True))
    pairs += [(r, git(worktree, "hash-object", "--", r).strip()) for r in regular if "\n" in r]
    if pairs:
        for rel, oid in pairs:
            if tree[rel][1] != oid:
                raise RefusedError(f"backup check failed: {rel} differs in backup {commit[:12]}")


def backup_worktree(repo: Path, worktree: Path | None, head: str | None, base_tip: str, *, run: str, slug: str,
                    session: str, commits_merged: bool = False) -> BackupResult:
    """Write the backup refs a removal needs (none when merged and clean) and verify them.
    ``commits_merged``: the caller found the commits in the base by content (a squash merge, a rebase)."""
    res = BackupResult()
    if head and not commits_merged and not is_ancestor(repo, head, base_tip):
        ref = write_ref(repo, unique_backup_ref(repo, run, slug), head, f"cortex clean: commits of {session}")
        res.refs.append(ref)
    if worktree is not None and head:
        dirty = uncommitted_paths(worktree)
        if dirty:
            commit = snapshot_commit(worktree, head, f"cortex backup: uncommitted changes of {session}\n\n"
                                     + "\n".join(dirty[:200]))
            verify_snapshot(worktree, commit, dirty)
            ref = write_ref(repo, unique_backup_ref(repo, run, slug, "-wip"), commit,
                            f"cortex clean: uncommitted changes of {session}")
            res.refs.append(ref)
            res.files = dirty
            res.tree = git(worktree, "rev-parse", f"{commit}^{{tree}}").strip()
    return res
