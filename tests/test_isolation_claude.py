"""The real Claude Code CLI in the bubblewrap sandbox (issue #19), offline against the loopback Messages API
(tests/fake_anthropic.py): its approval dialog still becomes approval_waiting, the approved command writes and
commits from the worktree, usage still reaches the engine, and Claude's own state stays writable while the rest of
HOME does not: its atomic rewrite of ``.claude.json`` (a temp file next to it, then a rename) lands in the session's
own ``CLAUDE_CONFIG_DIR`` (seeded from the user's), and the user's ``~/.claude.json`` is never written."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from claude_harness import MODEL, claude_bin, claude_env, prepare_home
from conftest import git
from engine_helpers import make_sup, run_to_end, triggers, wait_for
from fake_anthropic import FakeAnthropic, Reply

from cortex_tui.backends.sandbox import probe

WHY = probe()
pytestmark = [pytest.mark.claude,
              pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}"),
              pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed: run "
                                 "scripts/bootstrap.sh --dev (it puts the pinned CLI in .cortex-dev/bin)")]


def test_claude_code_in_the_sandbox_approves_commits_and_reports_usage(git_repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "claude-home"
    worktree = git_repo / ".cortex" / "worktrees" / "cb" / "coder"
    prepare_home(home, worktree)
    cfg = json.loads((home / ".claude.json").read_text())
    cfg["fullscreenUpsellSeenCount"] = 3  # its one-off tip dialog would take the approval's keys
    (home / ".claude.json").write_text(json.dumps(cfg))
    (home / ".claude").mkdir()
    (home / ".claude" / "CLAUDE.md").write_text("The user's own memory file.\n")
    users_json = (home / ".claude.json").read_bytes()
    stray = home / "stray-write"
    cmd = (f"echo hi > made.txt && git add made.txt && git commit -qm made-in-sandbox && echo COMMITTED; "
           f"echo x > {stray} || echo HOME-REFUSED")
    script = [Reply.tool("Bash", {"command": cmd, "description": "Make and commit a file"},
                         input_tokens=2950, cache_write=11500, output_tokens=74),
              Reply.text("Made it.", input_tokens=120, cache_read=11500, cache_write=80, output_tokens=12)]
    with FakeAnthropic(script) as api:
        env = claude_env(home, api.url)
        env_toml = ", ".join(f'{k} = "{v}"' for k, v in env.items() if k != "PATH")
        text = f"""
[run]
name = "cb"
[[session]]
name = "coder"
agent = "claude-code"
sandbox = "bwrap"
model = "{MODEL}"
prompt = "make a file"
env = {{ {env_toml} }}
"""
        sup = make_sup(git_repo, text, tmp_path)
        sup.headless = False  # interactive mode: the permission dialog appears on screen
        seen: dict[str, object] = {}

        async def during(s: object) -> None:
            rec = sup.state.sessions["coder"]
            await wait_for(lambda: rec.state.value == "waiting", 60, "approval_waiting from hooks/screen")
            assert not (worktree / "made.txt").exists()
            await sup.approve("coder")
            await wait_for(lambda: (worktree / "made.txt").exists(), 30, "the approved command ran")
            await wait_for(lambda: rec.state.value == "idle", 30, "Stop hook → idle")
            totals = api.totals()
            await wait_for(lambda: rec.tokens is not None and rec.tokens.total == sum(totals.values()), 20,
                           "tokens from the transcript")
            seen["tokens"] = rec.tokens.as_dict() if rec.tokens else None
            seen["cost"] = rec.cost_usd
            await asyncio.sleep(0.2)
            await sup.stop_session("coder")

        events = run_to_end(sup, timeout=180, during=during)
    rec = sup.state.sessions["coder"]
    assert rec.sandbox == "bwrap"
    # Claude rewrote its config (an interactive start counts itself) in the session's state dir, seeded from the
    # user's; the user's file is untouched, and the user's config directory is what Claude reads and writes
    state = sup.store.session_dir(rec.slug) / "claude-config"
    assert (home / ".claude.json").read_bytes() == users_json
    written = json.loads((state / ".claude.json").read_text())
    assert written["numStartups"] > cfg["numStartups"], written.get("numStartups")
    assert written["projects"][str(worktree)]["hasTrustDialogAccepted"] is True  # the seed: the user's answers
    assert (state / "CLAUDE.md").resolve() == (home / ".claude" / "CLAUDE.md").resolve()
    assert list((home / ".claude" / "projects").glob("*/*.jsonl")), "the transcript is in the user's ~/.claude"
    assert len(triggers(events, "approval_waiting", "coder")) == 1
    assert git(git_repo, "show", f"{rec.branch}:made.txt") == "hi\n"
    assert "made-in-sandbox" in git(git_repo, "log", "-1", "--format=%s", rec.branch)
    expected_cost = ((2950 + 120) * 3 + (74 + 12) * 15 + 11500 * 0.30 + (11500 + 80) * 3.75) / 1e6
    assert seen["cost"] == pytest.approx(expected_cost)
    # the rest of HOME stayed read-only: the stray write was refused, and raised out_of_scope
    assert not stray.exists()
    blocked = [e.data["evidence"]["path"] for e in triggers(events, "out_of_scope", "coder")
               if e.data["evidence"].get("evidence") == "blocked by sandbox"]
    assert str(stray) in blocked, blocked
