"""Shared adapter parts: the base interpret_event (sim usage lines) and the numbered-dialog parser."""

from __future__ import annotations

import json
import subprocess
import sys

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import AgentSignal
from cortex_tui.agents.dialogs import choices, find_numbered_dialog
from cortex_tui.model.state import TokenUsage


def test_sim_usage_lines_become_usage_increments() -> None:
    a = get_adapter("sim")
    sig = a.interpret_event({"source": "sim", "ts": 1.0, "event": "usage", "input_tokens": 120,
                             "output_tokens": 30, "model": "sim-1"})
    assert sig == [AgentSignal("usage", usage=TokenUsage(input=120, output=30), model="sim-1")]
    assert sig[0].total is False


def test_garbage_events_give_no_signal_or_zeroes() -> None:
    a = get_adapter("shell")
    assert a.interpret_event({"event": "something"}) == []
    bad = a.interpret_event({"event": "usage", "input_tokens": "lots", "output_tokens": -5, "model": 3})
    assert bad == [AgentSignal("usage", usage=TokenUsage(), model=None)]


def test_numbered_dialog_needs_choices_starting_at_one() -> None:
    import re

    q = [re.compile(r"^Proceed\?$")]
    assert find_numbered_dialog(["Proceed?", "❯ 1. Yes", "  2. No"], q) is not None
    assert find_numbered_dialog(["Proceed?", "  2. No"], q) is None
    # an older answered dialog followed by a newer bare question: not live
    assert find_numbered_dialog(["Proceed?", "❯ 1. Yes", "  2. No", "Proceed?"], q) is None
    # scrolled far away: not live
    assert find_numbered_dialog(["Proceed?", "❯ 1. Yes", *[f"line {i}" for i in range(40)]], q) is None


def test_choices_parse_box_borders() -> None:
    from cortex_tui.agents.base import ApprovalPrompt

    p = ApprovalPrompt(text="│ Apply? │\n│ ● 1. Yes, allow once │\n│   2. No (esc) │")
    assert choices(p) == [("1", "Yes, allow once"), ("2", "No (esc)")]


def test_a_sim_agent_starts_without_the_adapters_or_pydantic() -> None:
    """`python -m cortex_tui.agents.sim` imports its package first: that package must not pull in the adapters'
    base (the layout's pydantic models, ~0.3 s of CPU per agent start — ten of them shared 2 cores with the
    checkouts of benchmarks/large_repo.py)."""
    probe = "import json, sys, cortex_tui.agents.sim; print(json.dumps(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    mods = set(json.loads(r.stdout))
    assert "pydantic" not in mods and "cortex_tui.agents.base" not in mods
