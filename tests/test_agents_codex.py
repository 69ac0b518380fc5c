"""codex adapter: command lines, approval dialogs (screens as the Codex TUI draws them), exec --json usage."""

from __future__ import annotations

from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.model.state import TokenUsage

EXEC_DIALOG = """
• Running pnpm test

  Would you like to run the following command?

  Reason: run the test suite outside the sandbox

  $ pnpm test

› 1. Yes, proceed (y)
  2. Yes, and don't ask again for commands that start with `pnpm test` (p)
  3. No, and tell Codex what to do differently (esc)

  Press enter to confirm or esc to cancel
""".splitlines()

PATCH_DIALOG = """
  Would you like to make the following edits?

  src/app.py (+1 -1)

› 1. Yes, proceed (y)
  2. No, continue without making these changes (n)

  Press enter to confirm or esc to cancel
""".splitlines()


def test_command_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_CODEX_BIN", raising=False)
    a = get_adapter("codex")
    s = make_session(agent="codex", prompt="fix it", model="gpt-5-codex", permission_mode="on-request")
    assert a.command(s, make_ctx(tmp_path, tmp_path)) == [
        "codex", "--ask-for-approval", "on-request", "--model=gpt-5-codex", "--", "fix it"]
    assert a.command(s, make_ctx(tmp_path, tmp_path, headless=True)) == [
        "codex", "exec", "--json", "--sandbox", "workspace-write", "--model=gpt-5-codex", "--", "fix it"]


def test_exec_dialog_found_and_answered_by_shortcut() -> None:
    a = get_adapter("codex")
    p = a.find_approval(EXEC_DIALOG)
    assert p is not None and p.text.startswith("Would you like to run the following command?")
    assert a.approve_keys(p) == [("literal", "y")]
    assert a.deny_keys(p) == [("key", "Escape")]  # "No … (esc)"


def test_patch_dialog_deny_uses_n() -> None:
    a = get_adapter("codex")
    p = a.find_approval(PATCH_DIALOG)
    assert p is not None
    assert a.deny_keys(p) == [("literal", "n")]


def test_no_dialog_in_plain_output() -> None:
    a = get_adapter("codex")
    assert a.find_approval(["• Would you like to run the following command? I decided not to.", "› "]) is None
    assert a.find_approval(["› Ask Codex to do anything", "  gpt-5 medium · ~/repo"]) is None
    assert a.exposes_usage is True  # from its session file (tests/test_agents_codex_rollout.py)


def test_exec_json_usage_is_an_increment_with_cached_split_out() -> None:
    a = get_adapter("codex")
    sig = a.interpret_event({"type": "turn.completed",
                             "usage": {"input_tokens": 26549, "cached_input_tokens": 22272, "output_tokens": 1590}})
    assert [s.kind for s in sig] == ["usage", "idle"]
    assert sig[0].usage == TokenUsage(input=4277, cache_read=22272, output=1590)
    assert sig[0].total is False
    assert [s.kind for s in a.interpret_event({"type": "item.started", "item": {}})] == ["busy"]
    assert [s.kind for s in a.interpret_event({"type": "turn.completed", "usage": "garbage"})] == ["idle"]
