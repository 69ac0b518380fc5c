"""Usage and budgets: a session's tokens and cost, the run's total, and what crossing a budget means.

A session past its budget gets a ``budget`` trigger (its ``on_trigger.budget`` action applies; the 80 %
warning never acts). The run past ``[run] budget_*`` gives every live session a ``budget`` trigger, and
:func:`budget_spent` then keeps pending sessions from starting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cortex_tui.budgets import BudgetEvent, BudgetTracker
from cortex_tui.engine.clock import Clock
from cortex_tui.engine.events import Emit, EventBus
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.model.state import SessionRecord, TokenUsage
from cortex_tui.watch.rules import TriggerChange

USAGE_SAVE_S = 1.0
"""Usage reports alone mark the state dirty at most this often (100 sessions reporting every second made a
whole-state save 4 times a second); the last report is marked within this. Budget triggers save at once."""


def run_usage(records: Iterable[SessionRecord]) -> tuple[int, float | None]:
    """Tokens and known USD used by these sessions so far (None: no cost is known)."""
    recs = list(records)
    tokens = sum(r.tokens.total for r in recs if r.tokens is not None)
    costs = [r.cost_usd for r in recs if r.cost_usd is not None]
    return tokens, (sum(costs) if costs else None)


def budget_spent(b: BudgetTracker) -> str | None:
    """Why no new session may start (the run's budget is spent), or None."""
    if b.budget_usd is not None and (b.fraction("usd") or 0.0) >= 1.0:
        return f"run budget spent (${b.usd:,.2f} of ${b.budget_usd:,.2f})"
    if b.budget_tokens is not None and (b.fraction("tokens") or 0.0) >= 1.0:
        return f"run budget spent ({b.tokens:,} of {b.budget_tokens:,} tokens)"
    return None


def _evidence(ev: BudgetEvent) -> dict[str, Any]:
    return {"metric": ev.metric, "used": ev.used, "limit": ev.limit, "fraction": round(ev.fraction, 3),
            "threshold": ev.kind}


class UsageBook:
    """Accounts usage reports into session records and evaluates session and run budgets."""

    def __init__(self, *, clock: Clock, book: TriggerBook, bus: EventBus, emit: Emit,
                 runtimes: Mapping[str, SessionRuntime], records: Callable[[], Iterable[SessionRecord]],
                 prices: dict[str, dict[str, float]] | None,
                 run_budget: BudgetTracker, on_dirty: Callable[[], None]) -> None:
        self.clock = clock
        self.book = book
        self.bus = bus
        self.emit = emit
        self.runtimes = runtimes
        self.records = records
        """Every session record of the run (the run's total counts them all)."""
        self.prices = prices
        self.run_budget = run_budget
        self.on_dirty = on_dirty
        self._dirtied = float("-inf")
        self._dirty_timer: asyncio.TimerHandle | None = None

    def add(self, rt: SessionRuntime, usage: TokenUsage, model: str | None, *, total: bool = False,
            cost: float | None = None) -> None:
        """Account a usage report (increment or running total), price it, evaluate the budgets."""
        rec = rt.rec
        rt.ledger.apply(model, usage, total=total, cost=cost)
        rec.adapter_state = rt.adapter.usage_checkpoint()
        rec.usage_by_model = dict(rt.ledger.by_model)
        rec.reported_cost = dict(rt.ledger.reported_cost)
        rec.tokens = rt.ledger.usage
        rec.cost_usd = rt.ledger.cost(self.prices)
        now = self.clock.time()
        for ev in rt.budget.set_totals(rec.tokens.total, rec.cost_usd, now, cost_known=rec.cost_usd is not None):
            evidence = _evidence(ev)
            if ev.kind == "warn":
                self.book.apply(rt, TriggerChange("budget", True, evidence, key=f"warn:{ev.metric}",
                                                  severity="warning"), act=False)
            else:
                self.book.apply(rt, TriggerChange("budget", True, evidence, key=f"exceed:{ev.metric}",
                                                  severity="error"))
        self.bus.publish(self.bus.make("stats", rec.name, tokens=rec.tokens.as_dict(), cost_usd=rec.cost_usd))
        self.check_run_budget(now)
        self._dirty_soon()

    def _dirty_soon(self) -> None:
        """Mark the state dirty now, or once :data:`USAGE_SAVE_S` after the last time (real time: disk pace)."""
        if self._dirty_timer is not None:
            return
        wait = self._dirtied + USAGE_SAVE_S - time.monotonic()
        if wait > 0:
            try:
                self._dirty_timer = asyncio.get_running_loop().call_later(wait, self._dirty_now)
                return
            except RuntimeError:  # no loop (a synchronous caller): at once
                pass
        self._dirty_now()

    def _dirty_now(self) -> None:
        self._dirty_timer = None
        self._dirtied = time.monotonic()
        self.on_dirty()

    def run_totals(self) -> tuple[int, float | None]:
        return run_usage(self.records())

    def check_run_budget(self, now: float) -> None:
        """``[run]`` budget: a warning event at 80 %; past 100 % every live session gets a ``budget`` trigger
        (so its ``on_trigger.budget`` action applies) and no pending session starts any more."""
        b = self.run_budget
        if b.budget_tokens is None and b.budget_usd is None:  # no run budget: nothing to check (the sum over
            return  # every session per usage report cost 100 sessions 10k additions/s)
        tokens, usd = self.run_totals()
        for ev in self.run_budget.set_totals(tokens, usd, now, cost_known=usd is not None):
            data = _evidence(ev)
            self.emit("run_budget", None, **data)
            if ev.kind != "exceed":
                continue
            for rt in self.runtimes.values():
                if rt.rec.state.live:
                    self.book.apply(rt, TriggerChange("budget", True, {**data, "scope": "run"},
                                                      key=f"run:{ev.metric}", severity="error"))
