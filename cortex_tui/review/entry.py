"""Compute (and refresh) the queue entry of one session's branch: diff, commits, conflicts, verify."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from cortex_tui.backends.git import commit_subjects, rev_parse
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionRecord
from cortex_tui.review.conflicts import merge_tree
from cortex_tui.review.diffstat import file_stats, merge_base, uncommitted_paths
from cortex_tui.review.landed import landed
from cortex_tui.review.models import QueueEntry
from cortex_tui.review.verify import run_verify


def base_tip(repo: Path, base: str) -> str:
    tip = rev_parse(repo, f"refs/heads/{base}") or rev_parse(repo, base)
    if tip is None:
        raise CortexError(f"base branch {base!r} not found in {repo}")
    return tip


def branch_head(repo: Path, branch: str) -> str | None:
    return rev_parse(repo, f"refs/heads/{branch}")


def describe_branch(repo: Path, entry: QueueEntry, base: str, scope: list[str]) -> None:
    """Fill the diff, commits, conflicts and uncommitted paths of ``entry`` for its branch's current head."""
    head = branch_head(repo, entry.branch)
    if head is None:
        raise CortexError(f"branch {entry.branch!r} of session {entry.session!r} does not exist")
    tip = base_tip(repo, base)
    mb = merge_base(repo, tip, head) or tip
    entry.head = head
    entry.base_tip = tip
    entry.merge_base = mb
    entry.files = file_stats(repo, mb, head, scope)
    entry.commits = commit_subjects(repo, tip, head)
    entry.conflicts = merge_tree(repo, tip, head).conflicts
    entry.landed = _landed(repo, head, tip)
    wt = Path(entry.worktree)
    entry.uncommitted = uncommitted_paths(wt) if entry.worktree and (wt / ".git").exists() else []


def compute_entry(repo: Path, base: str, rec: SessionRecord, *, scope: list[str], verify_command: str | None,
                  verify_timeout_s: float = 600.0, verify_log: Path | None = None) -> QueueEntry:
    """A fresh pending entry for a finished session (runs verify; can take as long as the command)."""
    entry = QueueEntry(session=rec.name, branch=rec.branch, slug=rec.slug, worktree=rec.worktree,
                       verify_command=verify_command, completed_at=rec.finished_at or time.time(),
                       queued_at=time.time(), tokens=rec.tokens, cost_usd=rec.cost_usd,
                       triggers=list(rec.triggers))
    describe_branch(repo, entry, base, scope)
    wt = Path(rec.worktree)
    if verify_command:
        if wt.is_dir():
            entry.verify = run_verify(verify_command, wt, timeout_s=verify_timeout_s, log_path=verify_log,
                                      head=entry.head)
        else:
            from cortex_tui.review.models import VerifyResult

            entry.verify = VerifyResult(exit_code=127, duration_s=0.0, tail=f"worktree {wt} is missing",
                                        command=verify_command, head=entry.head)
    return entry


def refresh_entry(repo: Path, base: str, entry: QueueEntry, scope: list[str]) -> bool:
    """Re-run the conflict check when the base moved; re-describe when the branch moved. True if changed."""
    head = branch_head(repo, entry.branch)
    if head is None:
        return False
    tip = base_tip(repo, base)
    if head == entry.head and tip == entry.base_tip:
        return False
    if head != entry.head:
        describe_branch(repo, entry, base, scope)
        if entry.verify is not None and entry.verify.head != head:
            entry.verify = None  # it described another commit
    else:
        entry.conflicts = merge_tree(repo, tip, head).conflicts
        entry.landed = _landed(repo, head, tip)
        entry.base_tip = tip
    return True


def _landed(repo: Path, head: str, tip: str) -> Literal["content", "rebase", "squash"] | None:
    """How the head is in the tip without ancestry (None: it is not, or it is by ancestry: no commits left)."""
    how = landed(repo, head, tip)
    return None if how is None or how == "merge" else how
