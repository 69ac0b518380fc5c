"""The real agent CLIs in the bubblewrap sandbox (issue #19), driven like the conformance scenarios against
their loopback fakes: the approval still reaches the engine, the approved command writes and commits from the
worktree, and the turn's usage still comes back from the agent's own records (its state dir is writable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import git
from engine_helpers import triggers
from fake_llm import ScriptedLLM
from test_conformance import NAME, _driver, answer, expect, finish, state, supervise, worktree_of

from cortex_tui.backends.sandbox import probe
from cortex_tui.engine.supervisor import Supervisor

WHY = probe()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}")


@pytest.mark.parametrize("agent", ["codex"])
def test_approve_commit_and_usage_in_the_sandbox(agent: str, git_repo: Path, tmp_path: Path) -> None:
    d = _driver(agent, "approve")
    wt = worktree_of(git_repo)
    seen: dict[str, Any] = {}

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        await expect(sup, lambda: state(sup) == "waiting", 60 + d.start_s, f"{agent}: waiting for approval")
        assert not (wt / "made.txt").exists()
        await answer(sup, True)
        await expect(sup, lambda: (wt / "made.txt").exists(), 30, f"{agent}: the approved command ran")
        await expect(sup, lambda: state(sup) == "idle", 30, f"{agent}: idle after the turn")
        rec = sup.state.sessions[NAME]
        want = api.totals()
        await expect(sup, lambda: rec.tokens is not None and rec.tokens.total == want["input"] + want["output"], 20,
                     f"{agent}: tokens {want} (have {rec.tokens})")
        seen["tokens"] = rec.tokens
        await finish(sup)

    cmd = "echo hi > made.txt && git add made.txt && git commit -qm made-in-sandbox && echo COMMITTED"
    events, sup, _ = supervise(d, git_repo, tmp_path, [d.shell(cmd), d.say("Made it.")],
                               session={"sandbox": "bwrap"}, during=during)
    rec = sup.state.sessions[NAME]
    assert rec.sandbox == "bwrap"
    assert len(triggers(events, "approval_waiting", NAME)) == 1
    assert git(git_repo, "show", f"{rec.branch}:made.txt") == "hi\n"
    assert git(git_repo, "log", "-1", "--format=%s", rec.branch).strip() == "made-in-sandbox"
    assert seen["tokens"] is not None
