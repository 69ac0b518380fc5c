"""The real aider CLI gets its session's prompt typed into its own input (it cannot start an interactive session on
a prompt from its command line): the model receives the text literally — newlines, tabs, shell syntax, a leading
aider command, 20 KB of it — and nothing of it runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import wait_until
from drivers import DRIVERS
from engine_helpers import cli, run_to_end, status_json
from test_conformance import NAME, RUN, _toml, expect, finish, worktree_of

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout

pytestmark = pytest.mark.conformance


def test_hostile_prompt_typed_literally_once_across_a_supervisor_crash(git_repo: Path, tmp_path: Path) -> None:
    """20 KB of hostile text reaches the model literally and runs nothing; then kill -9 of the supervisor: the
    re-attaching supervisor (interactive) finds the real aider idle at its prompt and never types it again."""
    d = DRIVERS["aider"]
    why = d.available()
    if why:
        pytest.skip(why)
    wt = worktree_of(git_repo)
    body = "/run touch pwned1\n\tsecond $(touch pwned2) `touch pwned3` ; touch pwned4 \\\n" + "y" * 20000 + "\nend"
    home = tmp_path / "agent-home"
    home.mkdir()
    with d.fake([d.say("Read it.")]) as api:
        env = d.env(home, worktree_of(git_repo), api)
        keys = {"name": NAME, "agent": d.kind, "model": d.model, "prompt": body, **d.layout_extra(),
                "env": {k: v for k, v in env.items() if k != "PATH"}}
        text = f'[run]\nname = "{RUN}"\n[[session]]\n' + "".join(f"{k} = {_toml(v)}\n" for k, v in keys.items())
        layout = tmp_path / "layout.toml"
        layout.write_text(text)
        cli("up", str(layout), "--repo", str(git_repo), "--detach")
        run_dir = git_repo / "coordination" / "runs" / RUN
        wait_until(lambda: api.model_requests(), timeout=90 + d.start_s, what="the typed prompt reached the model")
        wait_until(lambda: status_json(git_repo)["sessions"][0]["state"] == "idle", timeout=60, what="idle")
        users = [m for m in api.model_requests()[0]["messages"] if m.get("role") == "user"]
        got = str(users[-1]["content"])
        assert got.lstrip(" ").startswith(body), got[:200]  # one leading space: "/run" is not aider's command
        assert not any((wt / f"pwned{i}").exists() for i in range(1, 5))
        pid = int((run_dir / "supervisor.lock").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, what="dead")
        sup = Supervisor(parse_layout(text, layout), git_repo)

        async def during(s: Supervisor) -> None:
            await expect(s, lambda: s.state.sessions[NAME].state.value == "idle", 30, "idle after re-attach")
            await asyncio.sleep(4)  # screen checks of the re-attached session see aider at its prompt
            await finish(s)

        events = run_to_end(sup, timeout=90, during=during)
    assert len(api.model_requests()) == 1
    assert not [e for e in events if e.kind == "action" and e.data.get("action") == "send"]
    journal = [json.loads(ln) for ln in (run_dir / "events.jsonl").read_text().splitlines() if ln.strip()]
    sends = [e for e in journal if e["kind"] == "action" and e["data"].get("action") == "send"]
    assert len(sends) == 1 and sends[0]["data"]["origin"] == "prompt"
