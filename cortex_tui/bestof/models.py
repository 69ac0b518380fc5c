"""Pydantic models of a best-of comparison: per-variant scores, the judge's verdict, ``bestof.json``.

:class:`Comparison` is what ``<state_dir>/runs/<run>/bestof.json`` holds and what a Compare screen reads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cortex_tui.model.state import TokenUsage

VerifyOutcome = Literal["pass", "fail", "none", "not_run"]
"""``none``: no verify command configured; ``not_run``: the session did not finish with exit 0."""

WEIGHT_KEYS: tuple[str, ...] = ("verify", "scope", "diff", "cost", "time", "triggers", "tests_failed", "tokens")
"""Components a weighting may name; each is a penalty (lower raw value = better)."""


class TestCounts(BaseModel):
    """Test results parsed from the verify output (pytest summary line) or a JUnit XML file."""

    model_config = ConfigDict(extra="forbid")
    __test__ = False  # not a pytest test class

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    source: Literal["pytest", "junit"]


class Score(BaseModel):
    """The scoring components of one variant (the per-session ``"score"`` object of the report)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = 0
    """1 = best, after the judge (if any)."""
    heuristic_rank: int = 0
    """Rank by the non-LLM ranking (default order or weights)."""
    ok: bool
    """Finished with exit 0 and verify did not fail."""
    state: str
    exit_code: int | None = None
    verify: VerifyOutcome
    verify_exit_code: int | None = None
    tests: TestCounts | None = None
    diff_added: int = 0
    diff_removed: int = 0
    diff_lines: int = 0
    """Added + removed lines of the branch's committed diff against the base."""
    files_changed: int = 0
    out_of_scope: list[str] = Field(default_factory=list)
    scope_violations: int = 0
    triggers: int = 0
    """How many triggers were raised (active or cleared)."""
    trigger_kinds: list[str] = Field(default_factory=list)
    tokens: int | None = None
    cost_usd: float | None = None
    wall_time_s: float | None = None
    weighted: float | None = None
    """0..1, higher is better; only when weights are configured."""
    judge_rank: int | None = None
    judge_reason: str | None = None


class JudgeVerdict(BaseModel):
    """The structured JSON the judge model must answer with."""

    model_config = ConfigDict(extra="ignore")

    ranking: list[str] = Field(min_length=1)
    """Candidate names, best first."""
    reasons: dict[str, str] = Field(default_factory=dict)
    """One short reason per candidate."""
    summary: str = ""

    @field_validator("ranking")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("ranking names a candidate twice")
        return v


class JudgeUsage(TokenUsage):
    """Tokens the judge used (same fields as any session's usage)."""

    model_config = ConfigDict(extra="forbid")


class JudgeResult(BaseModel):
    """What the LLM judge said (or why it said nothing). Recorded in the report either way."""

    model_config = ConfigDict(extra="forbid")

    model: str
    candidates: list[str]
    ok: bool = False
    ranking: list[str] = Field(default_factory=list)
    """The judge's order of the candidates (empty when it failed)."""
    reasons: dict[str, str] = Field(default_factory=dict)
    summary: str = ""
    error: str | None = None
    """API error, malformed reply, missing key, or budget exhausted; the non-LLM ranking then stands."""
    usage: JudgeUsage = Field(default_factory=JudgeUsage)
    cost_usd: float | None = None
    duration_s: float = 0.0


class BudgetUse(BaseModel):
    """The run budget (``[run] budget_usd/budget_tokens``) against variants + judge."""

    model_config = ConfigDict(extra="forbid")

    limit_usd: float | None = None
    limit_tokens: int | None = None
    used_usd: float | None = None
    used_tokens: int = 0
    judge_usd: float | None = None
    judge_tokens: int = 0
    exceeded: bool = False


class Comparison(BaseModel):
    """``bestof.json``: the whole comparison of one best-of run."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    run: str
    task: str = ""
    ranking: list[str]
    """Session names, best first (the judge's order when it answered)."""
    heuristic_ranking: list[str]
    basis: Literal["default", "weights"]
    weights: dict[str, float] | None = None
    winner: str | None = None
    chosen_by: str = "ranking"
    """``ranking`` (the top of :attr:`ranking`) or the user who picked another winner."""
    winner_queued: bool = False
    """Whether the winner has a pending entry in the review queue."""
    losers: dict[str, str | None] = Field(default_factory=dict)
    """Loser -> backup ref (``refs/cortex/bestof/<run>/<slug>``), None when its branch had no head."""
    scores: dict[str, Score]
    judge: JudgeResult | None = None
    budget: BudgetUse = Field(default_factory=BudgetUse)
    created_at: float = 0.0
