"""The integration gate's answer (``cortex-tui integrate --json``, ``integration.json``): plain pydantic models,
read by every front end (the TUI through the engine's review desk) and by :mod:`cortex_tui.review.integrate`."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field


class PairConflict(BaseModel):
    a: str
    b: str
    paths: list[str]


class VerifyStep(BaseModel):
    """One verify run of a combination."""

    sessions: list[str]
    commit: str
    exit_code: int
    duration_s: float
    timed_out: bool = False
    tail: str = ""
    log_path: str = ""


class IntegrationResult(BaseModel):
    """What ``cortex-tui integrate`` reports (its ``--json``)."""

    run: str
    base: str
    base_tip: str
    branch: str
    order: list[str]
    pair_conflicts: list[PairConflict] = Field(default_factory=list)
    cumulative_conflicts: list[str] = Field(default_factory=list)
    left_out: list[str] = Field(default_factory=list)
    """Branches not in the combination (they conflict with the ones before them)."""
    commit: str | None = None
    verify_command: str | None = None
    verify: VerifyStep | None = None
    failing_set: list[str] = Field(default_factory=list)
    """The smallest set of branches whose combination fails verify (empty: it passed, or no verify)."""
    steps: list[VerifyStep] = Field(default_factory=list)
    worktree: str = ""
    heads: dict[str, str] = Field(default_factory=dict)
    """Each member's branch head the combination was built from (a later head makes the entry stale)."""
    stale: list[str] = Field(default_factory=list)
    """Why this result no longer describes the queue (set by the engine when a member or the base moved)."""
    trigger: str = "manual"
    """What ran it: ``manual`` (a command, a key) or ``auto`` (a change, ``[run] integrate = "auto"``)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """No conflict, nothing left out, and verify (if any) passed: served in every JSON form."""
        return not self.pair_conflicts and not self.left_out and (self.verify is None or self.verify.exit_code == 0)
