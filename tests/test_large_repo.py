"""Large repos (#18): ten sessions spawn in a repo of thousands of files; `status --json` stays correct the
whole time, the checkouts are never taken for the agents' writes, and a write made at once is still seen.

Real git (a 3,000-file repo), real tmux, real sim agents; `status --json` is the real CLI in another process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from engine_helpers import cli, make_sup, triggers, wait_for

from cortex_tui.engine.events import Event

N = 10
STATES = {"pending", "starting", "running", "idle", "waiting", "finished", "failed", "stopped", "unknown"}


def big_repo(path: Path, files: int = 3000) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(files):
        d = path / "lib" / f"pkg{i % 60}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"VALUE = {i}\n" * 20)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "big"], check=True)
    return path


def _all_running(look: dict[str, object]) -> bool:
    """Whether a ``status --json`` look shows every session running."""
    sessions = look.get("sessions")
    return isinstance(sessions, list) and all(s.get("state") == "running" for s in sessions)


@pytest.mark.parametrize("api", [False, True], ids=["files", "api"])
def test_status_json_correct_while_ten_sessions_spawn_in_a_large_repo(tmp_path: Path, api: bool) -> None:
    """``api``: the supervisor serves its API as under ``cortex-tui up`` (status is answered by it); else the
    CLI reads the run's files."""
    from cortex_tui.api.server import ApiServer

    repo = big_repo(tmp_path / "big")
    text = '[run]\nname = "big"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i}"\nscope = ["lib/pkg{i}/**"]\n'
        f'script = ["write lib/pkg{i}/new_{i}.py x = 1", "write docs/out_{i}.md oops", "listen 600"]\n'
        for i in range(N))
    sup = make_sup(repo, text, tmp_path)
    if api:
        sup.plugins.append(ApiServer(sup))
    seen: list[Event] = []
    sup.subscribe(seen.append)
    looks: list[dict[str, object]] = []

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))

        async def poll_status() -> None:
            # until a look itself shows all running (the files path reads state.json, saved up to 0.25 s after
            # the engine's own state changed: a stop on the engine's state left a last look from before)
            while not looks or not _all_running(looks[-1]) or len(looks) < 3:
                r = await asyncio.to_thread(cli, "status", "--repo", str(repo), "--json")
                looks.append(json.loads(r.stdout))
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(poll_status(), 180)
            await wait_for(lambda: len(triggers(seen, "out_of_scope")) >= N, 60, "each session's write out of scope")
        finally:
            sup.request_stop()
            await task
            await sup.shutdown()
            sup.tmux.kill_server()

    asyncio.run(main())
    assert len(looks) >= 3
    for data in looks:  # every look during the spawn is a whole, valid status
        assert data["supervisor"] == {"pid": sup.state.supervisor_pid, "alive": True}
        sessions = data["sessions"]
        assert isinstance(sessions, list) and sorted(s["name"] for s in sessions) == sorted(f"s{i}" for i in range(N))
        assert all(s["state"] in STATES for s in sessions)
        assert not any(s["state"] == "failed" for s in sessions)
    last = looks[-1]["sessions"]
    assert isinstance(last, list) and all(s["state"] == "running" for s in last)
    # the checkout of 3,000 files is no agent's work: only what each agent wrote counts
    oos = triggers(seen, "out_of_scope")
    assert sorted(e.data["evidence"]["path"] for e in oos) == sorted(f"docs/out_{i}.md" for i in range(N))
    for i in range(N):
        assert sorted(sup.state.sessions[f"s{i}"].changed_files) == sorted([f"lib/pkg{i}/new_{i}.py",
                                                                            f"docs/out_{i}.md"])
