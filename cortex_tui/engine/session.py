"""One session's in-memory companion: its adapter, rules and output tail, rebuilt from its record."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import AgentAdapter
from cortex_tui.budgets import BudgetTracker, UsageLedger
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import SessionRecord
from cortex_tui.watch.rules import ApprovalRule, RepeatedErrorRule, ScopeRule, SilenceRule, ThresholdRule

RESET_ON_ATTEMPT = ("silence", "approval_waiting", "exited", "memory")
"""Trigger kinds that belong to one attempt: a new attempt clears them."""


@dataclass
class SessionRuntime:
    """In-memory companion of one session: adapter, rules, output tail."""

    spec: ResolvedSession
    rec: SessionRecord
    adapter: AgentAdapter
    silence: SilenceRule
    errors: RepeatedErrorRule
    approval: ApprovalRule = field(default_factory=ApprovalRule)
    scope: ScopeRule = field(default_factory=lambda: ScopeRule([]))
    memory: ThresholdRule | None = None
    budget: BudgetTracker = field(default_factory=BudgetTracker)
    ledger: UsageLedger = field(default_factory=UsageLedger)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    partial: bytes = b""
    output_written_at: float | None = None
    """When the log read last was last written (its mtime): the cause time of a prompt seen on the screen."""
    screen_task: asyncio.Task[None] | None = None
    screen_again: bool = False
    exit_seen: bool = False

    @property
    def name(self) -> str:
        return self.rec.name

    @property
    def restart_at(self) -> float | None:
        """A pending automatic restart; kept in the record (state.json) so that a supervisor crash during
        the backoff does not lose it."""
        return self.rec.restart_at

    @restart_at.setter
    def restart_at(self, at: float | None) -> None:
        self.rec.restart_at = at

    @classmethod
    def from_record(cls, spec: ResolvedSession, rec: SessionRecord, now: float,
                    adapter: AgentAdapter | None = None) -> SessionRuntime:
        """Fresh rules for ``rec``; on re-attach, what its record says (usage, active triggers) is restored
        so that nothing fires twice."""
        rt = cls(
            spec=spec, rec=rec, adapter=adapter or get_adapter(spec.agent),
            silence=SilenceRule(spec.silence_after, spec.silence_cpu_percent,
                                last_progress=rec.last_progress_at or now),
            errors=RepeatedErrorRule(spec.error_repeats, spec.error_window),
            scope=ScopeRule(list(spec.scope)),
            memory=ThresholdRule("memory", spec.memory_limit) if spec.memory_limit else None,
            budget=BudgetTracker(budget_usd=spec.budget_usd, budget_tokens=spec.budget_tokens),
            ledger=UsageLedger(by_model=dict(rec.usage_by_model), reported_cost=dict(rec.reported_cost)),
        )
        rt.adapter.restore_usage_checkpoint(rec.adapter_state)
        rec.budget_usd, rec.budget_tokens = spec.budget_usd, spec.budget_tokens  # status reads them here
        if rec.tokens is not None:  # re-attach: thresholds already crossed stay crossed (their triggers exist)
            rt.budget.set_totals(rec.tokens.total, rec.cost_usd, now, cost_known=rec.cost_usd is not None)
        # triggers that were active stay known to their rules so they do not fire twice
        for t in rec.triggers:
            if t.kind == "out_of_scope":
                rt.scope.fired.add(t.key)
            if t.active and t.kind == "silence":
                rt.silence.active = True
            if t.active and t.kind == "approval_waiting":
                rt.approval.prompt = str(t.evidence.get("prompt", ""))
            if t.kind == "memory" and t.active and rt.memory is not None:
                rt.memory.active = True
        return rt

    def reset_for_attempt(self, now: float) -> None:
        """Fresh rules and clocks for a new attempt — on the event loop, *before* the window exists, so
        nothing the agent prints in its first milliseconds can be undone by this bookkeeping."""
        rec, spec = self.rec, self.spec
        rec.started_at = now
        rec.finished_at = None
        rec.exit_code = None
        rec.last_progress_at = now
        rec.prompt_typed_at = None  # a typed prompt (engine/typed_prompt.py) is typed again in the new attempt
        self.exit_seen = False
        self.silence = SilenceRule(spec.silence_after, spec.silence_cpu_percent, last_progress=now)
        self.approval = ApprovalRule()
        self.partial = b""
        for t in rec.triggers:
            if t.active and t.kind in RESET_ON_ATTEMPT:
                t.active = False
                t.cleared_at = now

    @property
    def detects_approval(self) -> bool:
        """Whether looking at the screen can find an approval prompt for this adapter."""
        return detects_approval(self.adapter)

    @property
    def prompts_in_log(self) -> bool:
        """Whether the log's new lines show every prompt its screen could (see :func:`prompts_in_log`)."""
        return prompts_in_log(self.adapter)


def detects_approval(adapter: AgentAdapter) -> bool:
    """Whether looking at the screen can find an approval prompt for this adapter."""
    return bool(adapter.approval_patterns) or type(adapter).find_approval is not AgentAdapter.find_approval


def prompts_in_log(adapter: AgentAdapter) -> bool:
    """Whether the log's new lines show whatever a look at this adapter's screen could find: it keeps the base
    rules (a prompt = the screen's last non-empty line matching ``approval_patterns``; no idle or input screen),
    and the new lines and the unfinished last one are matched against the same patterns as they arrive
    (:func:`cortex_tui.engine.ingest.prompt_hint`). Then output that does not look like a prompt needs no look
    at the screen when it goes quiet — a fleet of such agents printing a line a second otherwise costs a
    ``capture-pane`` per session per second."""
    t = type(adapter)
    return all(getattr(t, m) is getattr(AgentAdapter, m) for m in ("find_approval", "screen_idle", "input_ready"))
