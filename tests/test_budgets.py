"""Price table, usage ledger and budget tracker (pure: no I/O, explicit time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cortex_tui.budgets import (
    BudgetEvent,
    BudgetTracker,
    Price,
    UsageLedger,
    builtin_prices,
    cost_usd,
    price_for,
    validate_prices,
)
from cortex_tui.model.state import TokenUsage

SONNET = Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75)


def test_price_file_is_valid_and_complete() -> None:
    raw = json.loads((Path(__file__).parents[1] / "cortex_tui" / "data" / "prices.json").read_text())
    table = builtin_prices()
    assert set(table) == set(raw["models"])
    for fam in ("claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5", "gemini-2.5-pro", "sim-1"):
        assert fam in table
    assert price_for("sim-1") == Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75)


@pytest.mark.parametrize("model,expected", [
    ("claude-sonnet-4-5-20250929", SONNET),
    ("claude-sonnet-4-5", SONNET),
    ("claude-sonnet-4-5@20250929", SONNET),
    ("anthropic/claude-sonnet-4-5", SONNET),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", SONNET),
    ("claude-sonnet-4-5[1m]", SONNET),
    ("Claude-Sonnet-4-5-20250929", SONNET),
    ("claude-opus-4-20250514", Price(input=15.0, output=75.0, cache_read=1.5, cache_write=18.75)),
    ("claude-opus-4-5-20251101", Price(input=5.0, output=25.0, cache_read=0.5, cache_write=6.25)),
    ("claude-haiku-4-5-20251001", Price(input=1.0, output=5.0, cache_read=0.1, cache_write=1.25)),
    ("gpt-5-mini-2025-08-07", Price(input=0.25, output=2.0, cache_read=0.025, cache_write=0.25)),
])
def test_prefix_matching(model: str, expected: Price) -> None:
    assert price_for(model) == expected


@pytest.mark.parametrize("model", ["claude-opus-4-7", "o3-mini", "gpt-5x", "mystery", "", None])
def test_unknown_models_have_no_price(model: str | None) -> None:
    assert price_for(model) is None
    assert cost_usd(TokenUsage(input=1000), model) is None


def test_cost_matches_claude_codes_own_figure() -> None:
    # Claude Code 2.1.331 reported total_cost_usd 0.023535 for exactly this usage on Sonnet 4.5
    usage = TokenUsage(input=3100, output=49, cache_read=20000, cache_write=2000)
    assert cost_usd(usage, "claude-sonnet-4-5-20250929") == pytest.approx(0.023535, abs=1e-12)


def test_overrides_merge_over_builtin_and_add_models() -> None:
    ov = {"claude-sonnet-4-5": {"input": 2.0}, "my-local-model": {"input": 0.1, "output": 0.2}}
    p = price_for("claude-sonnet-4-5-20250929", ov)
    assert p == Price(input=2.0, output=15.0, cache_read=0.30, cache_write=3.75)
    local = price_for("my-local-model", ov)
    assert local == Price(input=0.1, output=0.2, cache_read=0.1, cache_write=0.1)
    assert cost_usd(TokenUsage(input=1_000_000, output=1_000_000), "my-local-model", ov) == pytest.approx(0.3)
    assert price_for("claude-haiku-4-5", ov) == builtin_prices()["claude-haiku-4-5"]  # untouched


@pytest.mark.parametrize("ov,msg", [
    ({"x": {"input": -1, "output": 1}}, "prices.x.input"),
    ({"x": {"inptu": 1, "output": 1}}, "prices.x.inptu"),
    ({"brand-new": {"input": 1}}, "unknown model, give at least input and output"),
])
def test_bad_overrides_name_the_problem(ov: dict[str, dict[str, float]], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        validate_prices(ov)


def test_ledger_increments_and_totals_per_model() -> None:
    led = UsageLedger()
    led.apply("sim-1", TokenUsage(input=100, output=10))
    led.apply("sim-1", TokenUsage(input=50, output=5))
    led.apply("claude-haiku-4-5", TokenUsage(input=1000, output=100), total=True)
    led.apply("claude-haiku-4-5", TokenUsage(input=2000, output=200), total=True)  # replaces, not adds
    assert led.by_model["sim-1"] == TokenUsage(input=150, output=15)
    assert led.usage == TokenUsage(input=2150, output=215)
    expected = (150 * 3 + 15 * 15 + 2000 * 1 + 200 * 5) / 1e6
    assert led.cost() == pytest.approx(expected)


def test_ledger_prefers_reported_cost_and_is_unknown_for_unpriced_models() -> None:
    led = UsageLedger()
    led.apply("claude-sonnet-4-5", TokenUsage(input=10), total=True, cost=1.25)
    assert led.cost() == 1.25
    led.apply("mystery", TokenUsage(output=5))
    assert led.cost() is None  # never a made-up 0 for the unknown part
    assert led.usage.total == 15


def test_tracker_warns_then_exceeds_exactly_once() -> None:
    t = BudgetTracker(budget_tokens=1000)
    assert t.add(500, None, now=10.0) == []
    ev = t.add(300, None, now=20.0)
    assert ev == [BudgetEvent("warn", "tokens", 800.0, 1000.0, 0.8, 20.0)]
    assert t.add(100, None, now=30.0) == []
    ev = t.add(100, None, now=40.0)
    assert [(e.kind, e.used, e.fraction) for e in ev] == [("exceed", 1000.0, 1.0)]
    assert t.add(5000, None, now=50.0) == []  # once each
    assert t.exceeded and t.used_fraction == pytest.approx(6.0)
    assert [e.kind for e in t.fired] == ["warn", "exceed"]


def test_jump_past_the_limit_reports_warn_then_exceed() -> None:
    t = BudgetTracker(budget_usd=1.0)
    ev = t.add(10, 2.5, now=1.0)
    assert [(e.kind, e.metric) for e in ev] == [("warn", "usd"), ("exceed", "usd")]


def test_usd_and_tokens_tracked_independently() -> None:
    t = BudgetTracker(budget_usd=1.0, budget_tokens=100)
    ev = t.add(85, 0.10, now=1.0)
    assert [(e.kind, e.metric) for e in ev] == [("warn", "tokens")]
    ev = t.add(0, 0.75, now=2.0)
    assert [(e.kind, e.metric) for e in ev] == [("warn", "usd")]
    assert t.fraction("usd") == pytest.approx(0.85) and t.fraction("tokens") == pytest.approx(0.85)


def test_set_totals_from_running_totals() -> None:
    t = BudgetTracker(budget_tokens=100)
    assert t.set_totals(50, 0.01, now=1.0) == []
    assert [e.kind for e in t.set_totals(120, 0.02, now=2.0)] == ["warn", "exceed"]
    assert t.tokens == 120


def test_unknown_cost_makes_usd_a_lower_bound() -> None:
    t = BudgetTracker(budget_usd=1.0)
    t.add(100, 0.5, now=1.0)
    t.add(100, None, now=2.0)
    assert not t.cost_known
    eff = t.efficiency()
    assert eff["usd"] is None and eff["usd_lower_bound"] == 0.5
    assert [e.kind for e in t.add(10, 0.6, now=3.0)] == ["warn", "exceed"]  # the known part alone is over


def test_zero_budget_is_spent_by_the_first_token_and_no_budget_never_fires() -> None:
    t = BudgetTracker(budget_tokens=0)
    assert t.set_totals(0, 0.0, now=0.0) == []
    assert [e.kind for e in t.add(1, None, now=1.0)] == ["warn", "exceed"]
    free = BudgetTracker()
    assert free.add(10**9, 1e6, now=1.0) == [] and free.used_fraction is None


def test_efficiency_report_and_rate() -> None:
    t = BudgetTracker(budget_usd=2.0, budget_tokens=10_000)
    t.add(1000, 0.5, now=100.0)
    t.add(2000, 0.5, now=160.0)
    eff = t.efficiency()
    assert eff["tokens"] == 3000 and eff["tokens_fraction"] == pytest.approx(0.3)
    assert eff["usd"] == 1.0 and eff["usd_fraction"] == pytest.approx(0.5)
    assert eff["used_fraction"] == pytest.approx(0.5) and eff["exceeded"] is False
    assert eff["tokens_per_minute"] == pytest.approx(3000.0)
    json.dumps(eff)  # report-ready


def test_negative_increments_are_refused() -> None:
    with pytest.raises(ValueError):
        BudgetTracker().add(-1, None, now=0.0)
