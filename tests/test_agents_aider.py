"""aider adapter: command lines, start file, (Y)es/(N)o prompts, the cost report line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.agents.aider import parse_cost_line


def test_command_lines_and_start_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_AIDER_BIN", raising=False)
    a = get_adapter("aider")
    s = make_session(agent="aider", prompt="add tests\nfor the parser", model="anthropic/claude-sonnet-4-5")
    ctx = make_ctx(tmp_path, tmp_path)
    a.prepare(s, ctx)
    argv = a.command(s, ctx)
    assert argv == ["aider", "--no-check-update", "--no-gitignore", "--no-analytics", "--analytics-log",
                    str(ctx.events_file), "--model=anthropic/claude-sonnet-4-5",
                    "--load", str(ctx.session_dir / "aider-start.txt")]
    assert (ctx.session_dir / "aider-start.txt").read_text() == "/code add tests for the parser\n"
    head = a.command(s, make_ctx(tmp_path, tmp_path, headless=True))
    assert head[-5:] == ["--yes-always", "--no-pretty", "--no-stream", "--message-file",
                         str(ctx.session_dir / "prompt.txt")]
    assert (ctx.session_dir / "prompt.txt").read_text() == "add tests\nfor the parser"


@pytest.mark.parametrize("line", [
    "Create new file? (Y)es/(N)o [Yes]: ",
    "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]: ",
    "Add file to the chat? (Y)es/(N)o/(A)ll/(S)kip all/(D)on't ask again [Yes]: ",
    "Attempt to fix lint errors? (Y)es/(N)o [Yes]:",
])
def test_confirm_prompts_found_and_answered_explicitly(line: str) -> None:
    a = get_adapter("aider")
    p = a.find_approval(["> Applied edit to src/app.py", line])
    assert p is not None and "(Y)es/(N)o" in p.text
    assert a.approve_keys(p) == [("literal", "y"), ("key", "Enter")]
    assert a.deny_keys(p) == [("literal", "n"), ("key", "Enter")]


def test_answered_prompt_and_chat_text_are_not_prompts() -> None:
    a = get_adapter("aider")
    assert a.find_approval(["Create new file? (Y)es/(N)o [Yes]: y", "> Applied edit to x.py", "> "]) is None
    assert a.find_approval(["I will ask (Y)es/(N)o questions later."]) is None


def test_cost_line() -> None:
    got = parse_cost_line("> Tokens: 13k sent, 830 received. Cost: $0.04 message, $0.04 session.")
    assert got == {"sent": 13000, "cache_write": 0, "cache_hit": 0, "received": 830,
                   "message_usd": 0.04, "session_usd": 0.04}
    cached = parse_cost_line("Tokens: 2.5k sent, 1.2k cache write, 10k cache hit, 120 received. "
                             "Cost: $0.01 message, $0.20 session.")
    assert cached is not None and cached["cache_hit"] == 10000 and cached["session_usd"] == 0.20
    assert parse_cost_line("nothing to see") is None
    assert get_adapter("aider").exposes_usage is True  # from its analytics log (test_aider_analytics_log_usage)


def test_aider_analytics_log_usage() -> None:
    """aider 0.86.2's own analytics-log lines (tests/fixtures/agents/aider/0.86.2/) carry each reply's usage."""
    from cortex_tui.budgets import UsageLedger

    fix = Path(__file__).parent / "fixtures" / "agents" / "aider" / "0.86.2" / "analytics.jsonl"
    a = get_adapter("aider")
    sigs = [s for ln in fix.read_text().splitlines() if ln.strip() for s in a.interpret_event(json.loads(ln))]
    assert [s.kind for s in sigs] == ["busy", "usage"]
    ledger = UsageLedger()
    for s in sigs:
        if s.usage is not None:
            ledger.apply(s.model, s.usage, total=s.total)
    assert (ledger.usage.input, ledger.usage.output) == (1234, 56)  # what the fake API billed (--no-stream)
    assert a.interpret_event({"event": "launched", "properties": {}}) == []
