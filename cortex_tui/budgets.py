"""Token and cost accounting: the price table, per-model usage ledgers and budget limits.

Everything here is pure (no I/O except reading the bundled ``data/prices.json`` once); time is
passed in by the caller so the engine and the tests share one clock.

Prices are USD per million tokens. A model id matches a table key exactly, or when it starts with
the key followed only by a date/version suffix (``claude-sonnet-4-5`` matches
``claude-sonnet-4-5-20250929``, ``claude-sonnet-4-5@20250929`` and ``anthropic/claude-sonnet-4-5``, but
``claude-opus-4`` does not match ``claude-opus-4-7``: an unknown model has an unknown cost, never a guess).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.model.state import TokenUsage

MTOK = 1_000_000
_SUFFIX = re.compile(r"^(?:[-@](?:\d{4}-?\d{2}-?\d{2}|latest|preview|exp|v\d)[^/]*)?(?:\[[^\]]*\])?$")
_BEDROCK = re.compile(r"^(?:[a-z]{2,4}\.)?anthropic\.")
_T = TypeVar("_T")


class Price(BaseModel):
    """USD per million tokens for one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float = Field(ge=0)
    """Reading from the prompt cache."""
    cache_write: float = Field(ge=0)
    """Writing to the prompt cache (the 5-minute tier)."""

    def cost(self, usage: TokenUsage) -> float:
        return (usage.input * self.input + usage.output * self.output + usage.cache_read * self.cache_read
                + usage.cache_write * self.cache_write) / MTOK


class PriceOverride(BaseModel):
    """One entry of the layout's ``[run] prices`` table; missing fields come from the built-in entry
    (or, for a model with no built-in entry, cache prices default to the input price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    models: dict[str, Price]


@lru_cache(maxsize=1)
def builtin_prices() -> dict[str, Price]:
    """The bundled price table (``cortex_tui/data/prices.json``)."""
    text = resources.files("cortex_tui").joinpath("data/prices.json").read_text(encoding="utf-8")
    return dict(_PriceFile.model_validate(json.loads(text)).models)


def validate_prices(overrides: dict[str, dict[str, float]] | None) -> dict[str, PriceOverride]:
    """Check a ``[run] prices`` table; raise ValueError naming the model and field at fault."""
    out: dict[str, PriceOverride] = {}
    for model, entry in (overrides or {}).items():
        try:
            ov = PriceOverride.model_validate(entry)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"prices.{model}.{where}: {err['msg']}") from None
        if _match(builtin_prices(), model) is None and (ov.input is None or ov.output is None):
            raise ValueError(f"prices.{model}: unknown model, give at least input and output prices")
        out[model] = ov
    return out


def _normalize(model: str) -> str:
    m = model.strip().lower()
    m = _BEDROCK.sub("", m)
    return m.rsplit("/", 1)[-1]  # provider prefixes: anthropic/…, openai/…, models/…


def _match(table: dict[str, _T], model: str) -> _T | None:
    """The entry whose key is the longest prefix of ``model`` followed only by a version suffix."""
    best: str | None = None
    for cand in dict.fromkeys((model, _normalize(model))):
        for key in table:
            k = key.lower()
            if cand.startswith(k) and _SUFFIX.match(cand[len(k):]) and (best is None or len(key) > len(best)):
                best = key
    return table[best] if best is not None else None


@lru_cache(maxsize=512)
def _builtin_price(model: str) -> Price | None:
    """The bundled table's entry for ``model``: a scan of every key, done once per model name (usage reports
    price every report — 100 sessions, 100 scans a second on the engine's loop)."""
    return _match(builtin_prices(), model)


def price_for(model: str | None, overrides: dict[str, dict[str, float]] | None = None) -> Price | None:
    """Price of ``model`` (overrides first, merged over the built-in entry); None when unknown."""
    if not model:
        return None
    base = _builtin_price(model)
    ov = _match(validate_prices(overrides), model) if overrides else None
    if ov is None:
        return base
    if base is None:
        if ov.input is None or ov.output is None:
            return None
        return Price(input=ov.input, output=ov.output,
                     cache_read=ov.input if ov.cache_read is None else ov.cache_read,
                     cache_write=ov.input if ov.cache_write is None else ov.cache_write)
    return base.model_copy(update={k: v for k, v in ov.model_dump().items() if v is not None})


def cost_usd(usage: TokenUsage, model: str | None, overrides: dict[str, dict[str, float]] | None = None) -> float | None:
    """Cost of ``usage`` on ``model`` in USD; None when the model's price is unknown."""
    p = price_for(model, overrides)
    return None if p is None else p.cost(usage)


# ---------------------------------------------------------------------------------------------------------
# Usage ledger: what agents report, per model


@dataclass
class UsageLedger:
    """Usage of one session, per model, fed by the adapters' ``usage`` signals.

    ``apply(..., total=False)`` adds an increment (the sim); ``total=True`` replaces the model's running
    total (Claude Code's transcript). Cost per model: the agent's own figure when it gave one, else the
    price table; unknown when any model with tokens has neither.
    """

    by_model: dict[str, TokenUsage] = field(default_factory=dict)
    reported_cost: dict[str, float] = field(default_factory=dict)

    def apply(self, model: str | None, usage: TokenUsage, *, total: bool = False,
              cost: float | None = None) -> None:
        key = model or ""
        if total:
            self.by_model[key] = usage
            if cost is not None:
                self.reported_cost[key] = cost
            return
        old = self.by_model.get(key, TokenUsage())
        self.by_model[key] = TokenUsage(input=old.input + usage.input, output=old.output + usage.output,
                                        cache_read=old.cache_read + usage.cache_read,
                                        cache_write=old.cache_write + usage.cache_write)
        if cost is not None:
            self.reported_cost[key] = self.reported_cost.get(key, 0.0) + cost

    @property
    def usage(self) -> TokenUsage:
        t = TokenUsage()
        for u in self.by_model.values():
            t = TokenUsage(input=t.input + u.input, output=t.output + u.output,
                           cache_read=t.cache_read + u.cache_read, cache_write=t.cache_write + u.cache_write)
        return t

    def cost(self, overrides: dict[str, dict[str, float]] | None = None) -> float | None:
        total = 0.0
        for model, u in self.by_model.items():
            if model in self.reported_cost:
                total += self.reported_cost[model]
                continue
            c = cost_usd(u, model or None, overrides)
            if c is None:
                if u.total:
                    return None
                continue
            total += c
        return total


# ---------------------------------------------------------------------------------------------------------
# Budgets

Metric = Literal["usd", "tokens"]


@dataclass(frozen=True)
class BudgetEvent:
    """A budget threshold crossed (reported once per metric and kind)."""

    kind: Literal["warn", "exceed"]
    metric: Metric
    used: float
    limit: float
    fraction: float
    at: float


def _fraction(used: float, limit: float) -> float:
    if limit > 0:
        return used / limit
    return 1.0 if used > 0 else 0.0  # a zero budget is spent by the first token


@dataclass
class BudgetTracker:
    """Limits of one session (or of the whole run) and what has been used against them.

    Feed it with :meth:`add` (increments) or :meth:`set_totals` (running totals); both return the
    :class:`BudgetEvent` s that fire: ``warn`` at ``warn_at`` (80 %) and ``exceed`` at 100 %, each at most
    once per metric (a jump straight past 100 % reports both, warn first). When part of the cost is unknown
    (a model with no price) the USD budget is checked against the known part, a lower bound.
    """

    budget_usd: float | None = None
    budget_tokens: int | None = None
    warn_at: float = 0.8
    tokens: int = 0
    usd: float = 0.0
    cost_known: bool = True
    """False once any usage came without a cost (so ``usd`` is a lower bound)."""
    first_at: float | None = None
    last_at: float | None = None
    fired: list[BudgetEvent] = field(default_factory=list)

    def add(self, tokens: int, cost: float | None, now: float) -> list[BudgetEvent]:
        """Add an increment of ``tokens`` costing ``cost`` USD (None = unknown)."""
        if tokens < 0 or (cost is not None and cost < 0):
            raise ValueError("usage increments must not be negative")
        return self.set_totals(self.tokens + tokens, None if cost is None else self.usd + cost, now,
                               cost_known=cost is not None)

    def set_totals(self, tokens: int, usd: float | None, now: float, *, cost_known: bool = True) -> list[BudgetEvent]:
        """Replace the running totals (e.g. from a :class:`UsageLedger`); ``usd=None`` = cost unknown."""
        if tokens != self.tokens or (usd or 0.0) != self.usd:
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
        self.tokens = max(0, tokens)
        if usd is None:
            self.cost_known = False
        else:
            self.usd = max(0.0, usd)
            self.cost_known = self.cost_known and cost_known
        return self._check(now)

    def fraction(self, metric: Metric) -> float | None:
        if metric == "usd":
            return None if self.budget_usd is None else _fraction(self.usd, self.budget_usd)
        return None if self.budget_tokens is None else _fraction(self.tokens, self.budget_tokens)

    @property
    def used_fraction(self) -> float | None:
        """The larger of the per-metric fractions used; None when there is no limit."""
        fs = [f for f in (self.fraction("usd"), self.fraction("tokens")) if f is not None]
        return max(fs) if fs else None

    @property
    def exceeded(self) -> bool:
        return any(e.kind == "exceed" for e in self.fired)

    def tokens_per_minute(self) -> float | None:
        """Burn rate between the first and the last usage seen."""
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return None
        return self.tokens / ((self.last_at - self.first_at) / 60.0)

    def efficiency(self) -> dict[str, float | int | bool | None]:
        """Used versus allotted, for reports (fractions are None where no limit is set)."""
        return {
            "tokens": self.tokens, "budget_tokens": self.budget_tokens, "tokens_fraction": self.fraction("tokens"),
            "usd": round(self.usd, 6) if self.cost_known else None, "usd_lower_bound": round(self.usd, 6),
            "budget_usd": self.budget_usd, "usd_fraction": self.fraction("usd"),
            "used_fraction": self.used_fraction, "exceeded": self.exceeded,
            "tokens_per_minute": self.tokens_per_minute(),
        }

    def _check(self, now: float) -> list[BudgetEvent]:
        out: list[BudgetEvent] = []
        for metric, used, limit in (("usd", self.usd, self.budget_usd), ("tokens", self.tokens, self.budget_tokens)):
            if limit is None:
                continue
            frac = _fraction(used, limit)
            for kind, threshold in (("warn", self.warn_at), ("exceed", 1.0)):
                if frac >= threshold and used > 0 and not any(
                        e.kind == kind and e.metric == metric for e in self.fired):
                    ev = BudgetEvent(kind, metric, float(used), float(limit), frac, now)  # type: ignore[arg-type]
                    self.fired.append(ev)
                    out.append(ev)
        return out


def run_budget_summary(data: Mapping[str, object]) -> str:
    """One line for a ``run_budget`` event: ``tokens 2,550 of 2,000 (exceeded)``."""
    metric, used, limit = data.get("metric"), data.get("used"), data.get("limit")
    word = "exceeded" if data.get("threshold") == "exceed" else "80 % used"
    if not isinstance(used, int | float) or not isinstance(limit, int | float):
        return f"{metric} {word}"
    if metric == "usd":
        return f"${used:,.2f} of ${limit:,.2f} ({word})"
    return f"tokens {used:,.0f} of {limit:,.0f} ({word})"
