"""Is a branch's work already in the base? Decided by content, not only by ancestry (issue #16).

A branch whose changes reached the base through a squash merge, a rebase or a cherry-pick has no ancestry
link to the base tip, yet nothing of it is lost when its worktree goes, and its dependents may build on the
base. :func:`landed` answers how, checking from the cheapest to the most expensive:

1. ``merge``: the head is an ancestor of the tip (a merge or a fast-forward);
2. ``content``: merging the head into the tip would change nothing (``git merge-tree`` gives the tip's own
   tree: every change of the branch is already there, however it got there);
3. ``rebase``: every commit of the branch has a patch-equivalent commit on the tip's side (``git cherry``:
   a rebase or cherry-picks, even when the base changed those lines again later);
4. ``squash``: the branch's whole diff since the merge base, as one commit, is patch-equivalent to one
   commit on the tip's side (``git cherry`` of a synthetic squash commit: ``git merge --squash``, GitHub's
   "Squash and merge").

Anything else is unmerged work (``None``): a partial cherry-pick, a squash with hand-edited changes, a
revert of part of it. The answer only depends on the two commits, so it is memoised per (repo, head, tip).
Blocking: call it in a thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from cortex_tui.backends import git as gitb

How = Literal["merge", "content", "rebase", "squash"]

_CACHE_MAX = 4096
_cache: dict[tuple[str, str, str], How | None] = {}
_lock = threading.Lock()


def _cherry_all_upstream(repo: Path, tip: str, head: str) -> bool:
    """``git cherry tip head``: every commit of ``head`` not in ``tip`` has an equivalent in ``tip`` (and
    there is at least one such commit)."""
    out = gitb.git(repo, "cherry", tip, head).split()
    marks = out[0::2]
    return bool(marks) and all(m == "-" for m in marks)


def _squash_upstream(repo: Path, tip: str, head: str, base: str) -> bool:
    """The branch's whole diff since ``base`` (the merge base), as one commit, has an equivalent in ``tip``."""
    tree = gitb.git(repo, "rev-parse", f"{head}^{{tree}}").strip()
    if tree == gitb.git(repo, "rev-parse", f"{base}^{{tree}}").strip():
        return False  # no net change: nothing was squashed anywhere (content already said if it is merged)
    squashed = gitb.commit_tree(repo, tree, [base], "cortex: squash probe\n")
    return _cherry_all_upstream(repo, tip, squashed)


def _compute(repo: Path, head: str, tip: str) -> How | None:
    if gitb.is_ancestor(repo, head, tip):
        return "merge"
    mt = gitb.merge_tree(repo, tip, head)
    if mt.clean and mt.tree == gitb.git(repo, "rev-parse", f"{tip}^{{tree}}").strip():
        return "content"
    base = gitb.git(repo, "merge-base", tip, head, check=False).strip()
    if base == tip:  # the base has no commit the branch lacks: nothing can have landed there
        return None
    if _cherry_all_upstream(repo, tip, head):
        return "rebase"
    if base and _squash_upstream(repo, tip, head, base):
        return "squash"
    return None


def landed(repo: Path, head: str, tip: str) -> How | None:
    """How the work of commit ``head`` is in commit ``tip`` (see the module doc); None: it is not."""
    key = (str(repo), head, tip)
    with _lock:
        if key in _cache:
            return _cache[key]
    how = _compute(repo, head, tip)
    with _lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = how
    return how


def session_landed(repo: Path, branch: str, start: str | None, base: str) -> How | None:
    """How a session's ``branch`` is in the ``base`` branch, when it has commits of its own (not an ancestor
    of ``start``, the commit it started from): a branch with nothing of its own has nothing that landed."""
    head = gitb.rev_parse(repo, f"refs/heads/{branch}")
    tip = gitb.rev_parse(repo, f"refs/heads/{base}") or gitb.rev_parse(repo, base)
    if head is None or tip is None or (start and gitb.is_ancestor(repo, head, start)):
        return None
    return landed(repo, head, tip)


def describe(how: How) -> str:
    """Words for a report: 'merged', 'squash-merged', …"""
    return {"merge": "merged", "content": "its changes are in the base", "rebase": "rebased or cherry-picked "
            "into the base", "squash": "squash-merged"}[how]
