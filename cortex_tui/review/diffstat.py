"""Per-file +/- line counts between a merge base and a branch head, with scope flags."""

from __future__ import annotations

from pathlib import Path

from cortex_tui.backends.git import git, git_ok
from cortex_tui.review.models import FileStat
from cortex_tui.scope import in_scope


def merge_base(repo: Path, a: str, b: str) -> str | None:
    out = git(repo, "merge-base", a, b, check=False).strip()
    return out or None


def file_stats(repo: Path, base: str, head: str, scope: list[str]) -> list[FileStat]:
    """``git diff --numstat`` from ``base`` to ``head`` (renames shown as delete + add)."""
    out = git(repo, "diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", base, head)
    stats: list[FileStat] = []
    for rec in out.split("\0"):
        if not rec:
            continue
        added, removed, path = rec.split("\t", 2)
        binary = added == "-"
        stats.append(FileStat(path=path, added=0 if binary else int(added), removed=0 if binary else int(removed),
                              in_scope=in_scope(path, scope), binary=binary))
    return stats


def recorded_diff(repo: Path, base: str | None, head: str | None) -> str | None:
    """The diff an entry described (``base..head`` as recorded when it was queued), e.g. after its merge.

    None when it cannot be shown any more (nothing recorded, or the commits were garbage-collected).
    """
    if not base or not head or not git_ok(repo, "cat-file", "-e", f"{base}^{{commit}}") \
            or not git_ok(repo, "cat-file", "-e", f"{head}^{{commit}}"):
        return None
    return git(repo, "diff", "--no-color", "--no-ext-diff", "--no-renames", base, head)


def uncommitted_paths(worktree: Path) -> list[str]:
    """Paths with staged, unstaged or untracked (not ignored) changes in ``worktree``."""
    out = git(worktree, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    return sorted({rec[3:] for rec in out.split("\0") if len(rec) > 3})
