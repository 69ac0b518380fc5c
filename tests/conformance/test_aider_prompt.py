"""The real aider CLI gets its session's prompt typed into its own input (it cannot start an interactive session on
a prompt from its command line): the model receives the text literally — newlines, tabs, shell syntax, a leading
aider command, 20 KB of it — and nothing of it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from drivers import DRIVERS
from fake_llm import ScriptedLLM
from test_conformance import expect, finish, state, supervise, worktree_of

from cortex_tui.engine.supervisor import Supervisor

pytestmark = pytest.mark.conformance


def test_hostile_long_prompt_arrives_literally(git_repo: Path, tmp_path: Path) -> None:
    d = DRIVERS["aider"]
    why = d.available()
    if why:
        pytest.skip(why)
    wt = worktree_of(git_repo)
    body = "/run touch pwned1\n\tsecond $(touch pwned2) `touch pwned3` ; touch pwned4 \\\n" + "y" * 20000 + "\nend"

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        await expect(sup, lambda: api.model_requests(), 60 + d.start_s, "aider: the typed prompt sent to the model")
        await expect(sup, lambda: state(sup) == "idle", 30, "aider: idle after the turn")
        await finish(sup)

    events, _, api = supervise(d, git_repo, tmp_path, [d.say("Read it.")], prompt=body, during=during)
    users = [m for m in api.model_requests()[0]["messages"] if m.get("role") == "user"]
    got = str(users[-1]["content"])
    assert got.lstrip(" ").startswith(body), got[:200]  # one leading space keeps "/run" from being aider's command
    assert not any((wt / f"pwned{i}").exists() for i in range(1, 5))
    sends = [e for e in events if e.kind == "action" and e.data.get("action") == "send"]
    assert len(sends) == 1 and sends[0].data["origin"] == "prompt"
