"""A restart while a stop waits out its grace (the agent ignores the interrupt) must not kill the new agent.

Real parts: the engine in this process, real tmux, real git, a shell agent that ignores SIGINT, real signals.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
from engine_helpers import make_sup, run_to_end, wait_for

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.state import SessionState

STUBBORN = """
[run]
name = "grace"
[[session]]
name = "stubborn"
agent = "shell"
command = "trap '' INT; echo attempt-start; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"
"""


def _running(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _log(sup: Supervisor) -> str:
    p = sup.store.logs_dir / "stubborn.log"
    return p.read_text(errors="replace") if p.exists() else ""


def test_restart_during_the_stop_grace_keeps_the_new_agent(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, STUBBORN, tmp_path)
    seen: dict[str, object] = {}

    async def during(s: Supervisor) -> None:
        rec = sup.state.sessions["stubborn"]
        await wait_for(lambda: rec.state is SessionState.RUNNING and "tick 2" in _log(sup), 60, "first attempt ticks")
        old_pid, old_tree = rec.pane_pid, psutil.Process(rec.pane_pid).children(recursive=True)
        stopping = asyncio.create_task(sup.stop_session("stubborn"))
        await wait_for(lambda: rec.state is SessionState.STOPPED, 20, "stop under way")
        await sup.restart_session("stubborn")  # the stop is still in its grace: the interrupt is ignored
        new_pid = rec.pane_pid
        assert new_pid is not None and new_pid != old_pid and rec.attempt == 2
        await stopping  # the grace has run out (or the old attempt is gone): only the old attempt was stopped
        seen["new_alive"] = _running(new_pid)
        seen["old_alive"] = _running(old_pid) or any(_running(p.pid) for p in old_tree if p.is_running())
        seen["state"] = rec.state
        seen["finished_at"] = rec.finished_at
        await wait_for(lambda: _log(sup).count("attempt-start") >= 2 and "tick 3" in _log(sup).rsplit(
            "attempt-start", 1)[1], 30, "the new attempt ticks on")
        await sup.stop_session("stubborn")

    run_to_end(sup, during=during, timeout=120)
    assert seen["new_alive"] is True, "the stop killed the restarted agent"
    assert seen["old_alive"] is False
    assert seen["state"] is SessionState.RUNNING and seen["finished_at"] is None
