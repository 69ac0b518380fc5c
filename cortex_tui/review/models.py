"""Pydantic models of the review queue as stored in ``coordination/runs/<run>/review.json``.

The JSON of :class:`QueueEntry` is the contract of ``cortex-tui review list --json``: it always has
``session``, ``branch``, ``status``, ``verify`` (or null), ``conflicts``, ``files`` and ``commits``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cortex_tui.model.state import TokenUsage, TriggerRecord

Status = Literal["pending", "approved", "rejected", "changes_requested"]
STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "changes_requested")
Decision = Literal["approve", "reject", "request_changes"]


class VerifyResult(BaseModel):
    """Outcome of the verify command run in the session's worktree."""

    model_config = ConfigDict(extra="ignore")

    exit_code: int
    """Exit status; 124 when the command was killed by the timeout, negative for a signal."""
    duration_s: float
    tail: str
    """The last lines of combined stdout/stderr."""
    command: str = ""
    timed_out: bool = False
    head: str | None = None
    """Commit the worktree was at when verify ran."""
    log_path: str | None = None
    """Full output, kept next to review.json."""


class FileStat(BaseModel):
    """One changed file between the merge base and the branch head."""

    model_config = ConfigDict(extra="ignore")

    path: str
    added: int
    removed: int
    in_scope: bool
    binary: bool = False


class DecisionRecord(BaseModel):
    """One decision taken on an entry (also written to events.jsonl)."""

    model_config = ConfigDict(extra="ignore")

    decision: Decision
    by: str
    at: float
    detail: str = ""
    head: str | None = None


class QueueEntry(BaseModel):
    """A finished session's branch waiting for (or having had) a human decision."""

    model_config = ConfigDict(extra="ignore")

    session: str
    branch: str
    status: Status = "pending"
    verify: VerifyResult | None = None
    conflicts: list[str] = Field(default_factory=list)
    """Paths that conflict with the current base tip (``git merge-tree``)."""
    files: list[FileStat] = Field(default_factory=list)
    commits: list[str] = Field(default_factory=list)
    """Subject lines of the commits on the branch not yet in the base, newest first."""
    slug: str = ""
    worktree: str = ""
    head: str | None = None
    """Branch head the entry describes; approve refuses when the branch has moved since."""
    merge_base: str | None = None
    base_tip: str | None = None
    """Base commit the conflict check ran against."""
    verify_command: str | None = None
    """None when neither the session nor the run configures a verify command."""
    uncommitted: list[str] = Field(default_factory=list)
    """Paths with uncommitted changes in the worktree when the entry was computed (not part of the diff)."""
    completed_at: float | None = None
    queued_at: float = 0.0
    tokens: TokenUsage | None = None
    cost_usd: float | None = None
    triggers: list[TriggerRecord] = Field(default_factory=list)
    round: int = 1
    """How many times the session has finished into the queue."""
    merged_commit: str | None = None
    landed: Literal["content", "rebase", "squash"] | None = None
    """The head's changes are in the base tip without ancestry (a squash merge, a rebase, cherry-picks done
    outside review): nothing of the branch is unmerged (see :mod:`cortex_tui.review.landed`)."""
    decisions: list[DecisionRecord] = Field(default_factory=list)
    rebuilt: bool = False
    """Rebuilt from the branch and events.jsonl after review.json was lost or corrupt."""

    @property
    def ready(self) -> bool:
        """Verify passed (or none configured) and no conflicts with the base."""
        if self.conflicts:
            return False
        if self.verify_command is None:
            return True
        return self.verify is not None and self.verify.exit_code == 0

    @property
    def out_of_scope(self) -> list[str]:
        return [f.path for f in self.files if not f.in_scope]

    def contract(self) -> dict[str, object]:
        """The JSON shape of ``review list --json`` (the stored fields plus ``ready``)."""
        d = self.model_dump(mode="json")
        d["ready"] = self.ready
        return d


class ReviewDoc(BaseModel):
    """The whole ``review.json``."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    run: str
    entries: dict[str, QueueEntry] = Field(default_factory=dict)


def sort_key(e: QueueEntry) -> tuple[int, int, float, str]:
    """Awaiting a decision first; among those ready first; then by completion time."""
    awaiting = e.status in ("pending", "changes_requested")
    return (0 if awaiting else 1, 0 if e.ready else 1, e.completed_at or float("inf"), e.session)


def ordered(entries: list[QueueEntry]) -> list[QueueEntry]:
    return sorted(entries, key=sort_key)
