"""The `exited` trigger's evidence leads with the cause (`Not logged in · Please run /login`), not ~4 KB of
stream-json or ASCII art with its spaces lost (#13 item 16)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end, triggers

from cortex_tui.model.describe import describe_trigger
from cortex_tui.watch.cause import exit_cause

RESULT = {"type": "result", "subtype": "success", "is_error": True, "duration_ms": 12,
          "result": "Not logged in · Please run /login", "session_id": "x", "total_cost_usd": 0,
          "usage": {"input_tokens": 0, "output_tokens": 0, "server_tool_use": {"web_search_requests": 0}},
          "modelUsage": {}, "permission_denials": [], "terminal_reason": "api_error", "pad": "y" * 3000}


def test_stream_json_result_and_ascii_art_give_the_cause() -> None:
    lines = [json.dumps({"type": "system", "subtype": "init", "tools": ["Bash"] * 200}), json.dumps(RESULT)]
    assert exit_cause(lines) == "Not logged in · Please run /login"
    art = ["╭────────────────────────────────╮", "│   Unable   to   connect   to   API   (ECONNREFUSED)   │",
           "╰────────────────────────────────╯", "Press Ctrl-C to exit"]
    assert exit_cause(art) == "Unable to connect to API (ECONNREFUSED)"
    assert exit_cause(["all good", "bye"]) is None


def test_engine_exited_evidence_leads_with_the_cause(git_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"type": "system", "subtype": "init", "tools": ["Bash"] * 300}) + "\n"
                   + json.dumps(RESULT) + "\n")
    layout = (f'[run]\nname = "cause"\n[[session]]\nname = "claude-like"\nagent = "shell"\n'
              f'command = "cat {out}; exit 1"\n')
    sup = make_sup(git_repo, layout, tmp_path)
    events = run_to_end(sup, timeout=60)
    ev = triggers(events, "exited", "claude-like")[0].data["evidence"]
    assert next(iter(ev)) == "cause" and ev["cause"] == "Not logged in · Please run /login"
    assert all(len(ln) <= 302 for ln in ev["last_lines"])  # no 4 KB lines in the evidence
    assert describe_trigger("exited", ev) == "exited with code 1: Not logged in · Please run /login"


def test_real_claude_not_logged_in(tmp_path: Path) -> None:
    claude = shutil.which("claude")
    if claude is None:
        pytest.skip("the Claude Code CLI is not installed (scripts/bootstrap.sh --dev)")
    env = {k: v for k, v in os.environ.items() if "ANTHROPIC" not in k and "CLAUDE" not in k}
    env.update(HOME=str(tmp_path), CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    r = subprocess.run([claude, "-p", "hello", "--output-format", "stream-json", "--verbose"], capture_output=True,
                       text=True, env=env, timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)
    cause = exit_cause((r.stdout + r.stderr).splitlines())
    assert cause is not None and ("Not logged in" in cause or "API key" in cause or "login" in cause), r.stdout[-500:]
