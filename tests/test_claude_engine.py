"""The real Claude Code CLI supervised by the engine (tmux + worktree + hooks), offline against a
loopback Messages API: the approval dialog becomes approval_waiting, `approve` answers it explicitly,
Stop makes the session idle, and tokens/cost equal what the server sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from claude_harness import MODEL, claude_bin, claude_env, prepare_home
from engine_helpers import make_sup, run_to_end, triggers, wait_for
from fake_anthropic import FakeAnthropic, Reply

pytestmark = [pytest.mark.claude,
              pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed "
                                 "(npm i -g @anthropic-ai/claude-code@2.1.331)")]


def test_engine_supervises_real_claude_code(git_repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "claude-home"
    worktree = git_repo / ".cortex" / "worktrees" / "cc" / "coder"
    prepare_home(home, worktree)
    script = [Reply.tool("Bash", {"command": "echo hi > made.txt", "description": "Make a file"},
                         input_tokens=2950, cache_write=11500, output_tokens=74),
              Reply.text("Made it.", input_tokens=120, cache_read=11500, cache_write=80, output_tokens=12)]
    with FakeAnthropic(script) as api:
        env = claude_env(home, api.url)
        env_toml = ", ".join(f'{k} = "{v}"' for k, v in env.items() if k != "PATH")
        text = f"""
[run]
name = "cc"
[[session]]
name = "coder"
agent = "claude-code"
model = "{MODEL}"
prompt = "make a file"
env = {{ {env_toml} }}
"""
        sup = make_sup(git_repo, text, tmp_path)
        sup.headless = False  # interactive mode: the permission dialog appears on screen
        seen: dict[str, object] = {}

        async def during(s: object) -> None:
            rec = sup.state.sessions["coder"]
            await wait_for(lambda: rec.state.value == "waiting", 40, "approval_waiting from hooks/screen")
            assert not (worktree / "made.txt").exists()
            await sup.approve("coder")
            await wait_for(lambda: (worktree / "made.txt").exists(), 20, "the approved command ran")
            await wait_for(lambda: rec.state.value == "idle", 20, "Stop hook → idle")
            totals = api.totals()
            await wait_for(lambda: rec.tokens is not None and rec.tokens.total == sum(totals.values()), 15,
                           "tokens from the transcript")
            seen["tokens"] = rec.tokens.as_dict() if rec.tokens else None
            seen["cost"] = rec.cost_usd
            await asyncio.sleep(0.2)
            await sup.stop_session("coder")

        events = run_to_end(sup, timeout=120, during=during)
    ap = triggers(events, "approval_waiting", "coder")
    assert len(ap) == 1
    assert any(e.kind == "trigger_cleared" and e.data["kind"] == "approval_waiting" for e in events)
    assert (worktree / "made.txt").read_text() == "hi\n"
    expected_cost = ((2950 + 120) * 3 + (74 + 12) * 15 + 11500 * 0.30 + (11500 + 80) * 3.75) / 1e6
    assert seen["cost"] == pytest.approx(expected_cost)
    assert sup.state.sessions["coder"].state.value == "stopped"
