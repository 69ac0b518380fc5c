"""The real agent CLIs in the bubblewrap sandbox (issue #19), driven like the conformance scenarios against
their loopback fakes: the approval still reaches the engine, the approved command writes and commits from the
worktree, the turn's usage still comes back from the agent's own records (its state dirs are writable), and a
write outside the worktree by that same shell command fails with EROFS and raises out_of_scope "blocked by
sandbox" (HOME is read-only but for the agent's own state)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from engine_helpers import triggers
from fake_llm import ScriptedLLM
from test_conformance import NAME, _driver, answer, dump, expect, finish, state, supervise, worktree_of

from cortex_tui.backends.sandbox import probe
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor

WHY = probe()
pytestmark = [pytest.mark.conformance,
              pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}")]

SANDBOXED = ["claude-code", "codex", "gemini", "opencode", "aider"]
FOLLOW_UP = "Add command output to the chat?"
"""Aider's question after a command that printed (agents/aider.py)."""


@pytest.mark.timeout(480)  # a real CLI's boot under load (see the first wait) is more than the default 180 s
@pytest.mark.parametrize("agent", SANDBOXED)
def test_approve_commit_usage_and_a_blocked_write_in_the_sandbox(agent: str, git_repo: Path, tmp_path: Path) -> None:
    d = _driver(agent, "approve")
    wt = worktree_of(git_repo)
    stray = tmp_path / "agent-home" / "stray-write"  # the agent's HOME (supervise makes it): read-only inside
    seen: dict[str, Any] = {}

    def blocked(sup: Supervisor) -> list[str]:
        return [t.evidence.get("path", "") for t in sup.state.sessions[NAME].triggers
                if t.kind == "out_of_scope" and t.evidence.get("evidence") == "blocked by sandbox"]

    live: list[Event] = []

    def asked() -> int:  # approvals raised so far
        return len(triggers(live, "approval_waiting", NAME))

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        sup.subscribe(live.append)
        # twice the boot allowance of the plain scenarios: OpenCode took 70 s to boot in the sandbox next to
        # another real CLI at load 28 (its project snapshot), and more before its first request
        await expect(sup, lambda: state(sup) == "waiting", 60 + 2 * d.start_s, f"{agent}: waiting for approval")
        assert not (wt / "made.txt").exists()
        await answer(sup, True)
        await expect(sup, lambda: (wt / "made.txt").exists(), 30, f"{agent}: the approved command ran")
        await expect(sup, lambda: str(stray) in blocked(sup), 30, f"{agent}: the stray write raised out_of_scope")
        follow_up = False
        for _ in range(300):  # idle, or aider's follow-up question (to add a command's output to the chat)
            if state(sup) == "idle":
                break
            if state(sup) == "waiting" and (asked() > 1 or FOLLOW_UP in await sup.screen(NAME, escapes=False,
                                                                                         lines=20)):
                follow_up = True  # one trigger or two: a look between the dialogs may not have come
                break
            await asyncio.sleep(0.1)
        await expect(sup, lambda: state(sup) == "idle" or follow_up, 1, f"{agent}: idle after the turn")
        if follow_up:
            seen["follow_up"] = sup.state.sessions[NAME].reason
            await answer(sup, False)
            await expect(sup, lambda: state(sup) == "idle", 30, f"{agent}: idle after the turn")
        rec = sup.state.sessions[NAME]
        want = api.totals()
        await expect(sup, lambda: rec.tokens is not None and rec.tokens.total == want["input"] + want["output"], 20,
                     f"{agent}: tokens {want} (have {rec.tokens})")
        seen["tokens"] = rec.tokens
        await finish(sup)

    cmd = (f"echo x > {stray} || echo REFUSED; "
           "echo hi > made.txt && git add made.txt && git commit -qm made-in-sandbox && echo COMMITTED")
    session: dict[str, Any] = {"sandbox": "bwrap"}
    if d.usage_headless:  # aider: the API's own figures only for non-streamed replies (agents/aider.py)
        session["extra_args"] = [*d.layout_extra().get("extra_args", []), "--no-stream"]
    events, sup, _ = supervise(d, git_repo, tmp_path, [d.shell(cmd), d.say("Made it.")], session=session,
                               during=during, timeout=180 + d.start_s)
    rec = sup.state.sessions[NAME]
    assert rec.sandbox == "bwrap"
    ap = triggers(events, "approval_waiting", NAME)
    assert len(ap) in ((1, 2) if "follow_up" in seen else (1,)), dump(sup, events)
    assert "made.txt" in ap[0].data["evidence"]["prompt"]
    assert git(git_repo, "show", f"{rec.branch}:made.txt") == "hi\n"
    assert git(git_repo, "log", "-1", "--format=%s", rec.branch).strip() == "made-in-sandbox"
    assert seen["tokens"] is not None
    assert not stray.exists()
    oos = [t for t in triggers(events, "out_of_scope", NAME) if t.data["evidence"].get("path") == str(stray)]
    assert oos and oos[0].data["evidence"]["evidence"] == "blocked by sandbox", oos

