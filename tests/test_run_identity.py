"""A new run never adopts windows it did not make (#12: stale-server adoption).

An old run's tmux server outlives its state (kill -9 of the supervisor, then ``coordination/`` removed):
its windows, dead ones included, carry the same session names on the same socket. A new run at that path
must start its own sessions, and say what it found. Real parts: a detached supervisor, kill -9, real tmux,
real git, the sim agent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from conftest import wait_until
from engine_helpers import cli

OLD = """
[run]
name = "same"
[defaults]
agent = "sim"
[[session]]
name = "a"
script = ["say old attempt", "exit 3"]
[[session]]
name = "b"
script = ["say old b", "exit 0"]
"""

NEW = OLD.replace("say old attempt", "say new attempt").replace('"exit 3"', '"exit 0"').replace(
    "say old b", "say new b")


def _tmux_windows(socket: str) -> list[str]:
    r = subprocess.run(["tmux", "-L", socket, "list-windows", "-a", "-F", "#{@cortex_session} #{pane_dead}"],
                       capture_output=True, text=True)
    return r.stdout.splitlines()


def test_a_new_run_does_not_adopt_the_dead_windows_of_an_old_server(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "same.toml"
    layout.write_text(OLD)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    run_dir = git_repo / "coordination" / "runs" / "same"

    def ended() -> bool:
        st = json.loads((run_dir / "state.json").read_text())
        return {r["state"] for r in st["sessions"].values()} <= {"failed", "finished"}

    wait_until(ended, timeout=60, what="the old run's sessions ended")
    socket = json.loads((run_dir / "state.json").read_text())["socket"]
    pid = int((run_dir / "supervisor.lock").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, what="dead")
    assert sorted(_tmux_windows(socket)) == [" 0", "a 1", "b 1"]  # the old server lives on, its panes dead
    shutil.rmtree(git_repo / "coordination")  # the old run's state is gone, its server is not

    layout.write_text(NEW)
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    logs = git_repo / "coordination" / "runs" / "same" / "logs"
    assert "new attempt" in (logs / "a.log").read_text(errors="replace")
    assert "new b" in (logs / "b.log").read_text(errors="replace")
    st = json.loads((git_repo / "coordination" / "runs" / "same" / "state.json").read_text())
    assert {n: (r["state"], r["exit_code"]) for n, r in st["sessions"].items()} == {
        "a": ("finished", 0), "b": ("finished", 0)}
    # and it said what it found
    assert "2 windows of an earlier run" in r.stderr and "not adopted" in r.stderr and "a (dead, exit 3" in r.stderr
