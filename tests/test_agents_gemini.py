"""gemini adapter: command lines, boxed approval dialogs, headless result usage."""

from __future__ import annotations

from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.model.state import TokenUsage

SHELL_DIALOG = """
╭──────────────────────────────────────────────────────────────────╮
│ ?  Shell ls -la (list files)                                     │
│                                                                  │
│ ls -la                                                           │
│                                                                  │
│ Allow execution of: 'ls'?                                        │
│                                                                  │
│ ● 1. Yes, allow once                                             │
│   2. Yes, allow always ...                                       │
│   3. No, suggest changes (esc)                                   │
│                                                                  │
╰──────────────────────────────────────────────────────────────────╯
""".splitlines()

EDIT_DIALOG = """
│ Apply this change?                                               │
│                                                                  │
│ ● 1. Yes, allow once                                             │
│   2. Yes, allow always                                           │
│   3. Modify with external editor                                 │
│   4. No, suggest changes (esc)                                   │
""".splitlines()


def test_command_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_GEMINI_BIN", raising=False)
    a = get_adapter("gemini")
    s = make_session(agent="gemini", prompt="explain", model="gemini-2.5-pro", permission_mode="auto_edit")
    assert a.command(s, make_ctx(tmp_path, tmp_path)) == [
        "gemini", "--approval-mode", "auto_edit", "--model=gemini-2.5-pro", "--prompt-interactive", "explain"]
    assert a.command(s, make_ctx(tmp_path, tmp_path, headless=True))[-4:] == [
        "--output-format", "stream-json", "--prompt", "explain"]


@pytest.mark.parametrize("lines,no", [(SHELL_DIALOG, "3"), (EDIT_DIALOG, "4")])
def test_boxed_dialogs(lines: list[str], no: str) -> None:
    a = get_adapter("gemini")
    p = a.find_approval(lines)
    assert p is not None and "1. Yes, allow once" in p.text
    assert a.approve_keys(p) == [("literal", "1")]
    assert a.deny_keys(p) == [("literal", no)]


def test_idle_screen_is_not_a_dialog() -> None:
    a = get_adapter("gemini")
    assert a.find_approval(["│ > Type your message or @path/to/file │", "~/repo  no sandbox  gemini-2.5-pro"]) is None


def test_headless_result_usage() -> None:
    a = get_adapter("gemini")
    per_model = {"type": "result", "status": "success", "stats": {"models": {"gemini-2.5-pro": {
        "tokens": {"prompt": 24939, "candidates": 20, "total": 25113, "cached": 21263, "thoughts": 154}}}}}
    sig = a.interpret_event(per_model)
    assert [s.kind for s in sig] == ["usage", "finished"]
    assert sig[0].model == "gemini-2.5-pro" and sig[0].total
    assert sig[0].usage == TokenUsage(input=3676, cache_read=21263, output=174)
    flat = a.interpret_event({"type": "result", "stats": {"input_tokens": 100, "output_tokens": 7}})
    assert flat[0].usage == TokenUsage(input=100, output=7) and flat[0].model is None
    assert a.exposes_usage is False
