"""Merge an approved branch head into the base branch without ever clobbering the user's work.

* base checked out in the main repo → it must be clean (tracked files); then a real ``git merge``
  there (``--ff-only`` when possible, else ``--no-ff``; or ``--squash`` + commit).
* base checked out in any other worktree → refused (we do not merge in someone else's checkout).
* base checked out nowhere → the merge is built from ``git merge-tree`` + ``commit-tree`` and the
  branch moved with ``update-ref <new> <old>`` so a concurrent move is detected, not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cortex_tui.backends.git import git, git_ok, list_worktrees, rev_parse
from cortex_tui.errors import GitError, RefusedError
from cortex_tui.review.conflicts import merge_tree

Method = Literal["up-to-date", "fast-forward", "merge", "squash"]


@dataclass(frozen=True)
class MergeResult:
    commit: str
    """The base branch's new tip."""
    method: Method
    where: Literal["checkout", "ref"]


def is_ancestor(repo: Path, a: str, b: str) -> bool:
    return git_ok(repo, "merge-base", "--is-ancestor", a, b)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _tracked_dirty(checkout: Path) -> list[str]:
    out = git(checkout, "status", "--porcelain=v1", "--untracked-files=no")
    return [ln[3:] for ln in out.splitlines() if ln.strip()]


def _in_progress(checkout: Path) -> str | None:
    gitdir = Path(git(checkout, "rev-parse", "--path-format=absolute", "--git-dir").strip())
    for marker, what in (("MERGE_HEAD", "a merge"), ("rebase-merge", "a rebase"), ("rebase-apply", "a rebase"),
                         ("CHERRY_PICK_HEAD", "a cherry-pick"), ("REVERT_HEAD", "a revert")):
        if (gitdir / marker).exists():
            return what
    return None


def _merge_in_checkout(checkout: Path, head: str, tip: str, squash: bool, message: str) -> MergeResult:
    dirty = _tracked_dirty(checkout)
    if dirty:
        raise RefusedError(f"the base checkout {checkout} has uncommitted changes: {', '.join(dirty[:10])}",
                           "commit or stash them there, then approve again")
    busy = _in_progress(checkout)
    if busy:
        raise RefusedError(f"{busy} is in progress in {checkout}", "finish or abort it, then approve again")
    ff = is_ancestor(checkout, tip, head)
    try:
        if squash:
            git(checkout, "merge", "--squash", "--quiet", head)
            if git_ok(checkout, "diff", "--cached", "--quiet"):
                return MergeResult(tip, "up-to-date", "checkout")
            git(checkout, "commit", "--quiet", "-m", message)
            method: Method = "squash"
        elif ff:
            git(checkout, "merge", "--ff-only", "--quiet", head)
            method = "fast-forward"
        else:
            git(checkout, "merge", "--no-ff", "--no-edit", "--quiet", "-m", message, head)
            method = "merge"
    except GitError as e:
        if _in_progress(checkout) == "a merge":
            git(checkout, "merge", "--abort", check=False)
        elif squash:
            git(checkout, "reset", "--merge", check=False)
        raise RefusedError(f"merge into {checkout} failed and was rolled back: {e.message}") from None
    new = rev_parse(checkout, "HEAD")
    assert new is not None
    return MergeResult(new, method, "checkout")


def _merge_by_ref(repo: Path, base: str, head: str, tip: str, tree: str, squash: bool,
                  message: str) -> MergeResult:
    method: Method
    if not squash and is_ancestor(repo, tip, head):
        new, method = head, "fast-forward"
    else:
        parents = ["-p", tip] if squash else ["-p", tip, "-p", head]
        new = git(repo, "commit-tree", tree, *parents, "-m", message).strip()
        method = "squash" if squash else "merge"
    try:
        git(repo, "update-ref", "-m", f"cortex review: {method} {head[:12]}", f"refs/heads/{base}", new, tip)
    except GitError as e:
        raise RefusedError(f"base branch {base!r} moved while merging; nothing was changed ({e.message})",
                           "approve again") from None
    return MergeResult(new, method, "ref")


def merge_into_base(repo: Path, base: str, head: str, *, squash: bool = False, message: str) -> MergeResult:
    """Merge commit ``head`` into branch ``base`` of ``repo``; raise :class:`RefusedError` instead of risking work."""
    tip = rev_parse(repo, f"refs/heads/{base}")
    if tip is None:
        raise RefusedError(f"base branch {base!r} does not exist in {repo}")
    if is_ancestor(repo, head, tip):
        return MergeResult(tip, "up-to-date", "ref")
    trial = merge_tree(repo, tip, head)
    if trial.conflicts:
        raise RefusedError(f"conflicts with {base} in: {', '.join(trial.conflicts)}",
                           "ask for changes (rebase onto the base) or resolve by hand")
    checkouts = [w.path for w in list_worktrees(repo) if w.branch == base]
    others = [p for p in checkouts if not _same(p, repo)]
    if others:
        raise RefusedError(f"base branch {base!r} is checked out in {', '.join(map(str, others))}",
                           f"switch that checkout off {base}, or merge there by hand")
    if checkouts:
        return _merge_in_checkout(repo, head, tip, squash, message)
    return _merge_by_ref(repo, base, head, tip, trial.tree, squash, message)
