"""#13 item 9: quitting the TUI asks "keep supervising in the background? [Y/n]" (the CLI prompt after the
app has left the screen). A real terminal: ``cortex-tui up`` runs in a pane of a tmux server of its own,
keys are typed into it, and the run's lock and state say who supervises afterwards."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import wait_until
from engine_helpers import cli, status_json

from cortex_tui.backends.tmux import Tmux
from cortex_tui.store.files import RunStore

QUESTION = "keep supervising in the background? [Y/n]"


def test_no_leaves_the_run_unsupervised_and_says_so(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "q.toml"
    layout.write_text('[run]\nname = "quit"\n[defaults]\nagent = "sim"\n[[session]]\nname = "s"\n'
                      'script = ["say hello", "sleep 300"]\n')
    store = RunStore(git_repo / "coordination", "quit")
    term = Tmux(f"ctx-test-quit-{tmp_path.name}"[:60])
    out = tmp_path / "tui.out"
    cmd = (f"{sys.executable} -m cortex_tui.cli up {layout} --repo {git_repo} > /dev/tty 2>&1; "
           f"echo EXIT=$? > {out}; sleep 120")
    term.run("new-session", "-d", "-x", "120", "-y", "40", "-s", "t", cmd)

    def pane() -> str:
        return term.run("capture-pane", "-p", "-J", "-t", "t", "-S", "-60")

    def running() -> bool:
        return store.state_path.exists() and any(
            s["name"] == "s" and s["state"] == "running" for s in status_json(git_repo)["sessions"])

    try:
        wait_until(lambda: store.lock_holder() is not None and running(), timeout=60, what="the TUI runs s")
        wait_until(lambda: "hello" in pane() or "s " in pane(), timeout=30, what="the dashboard drawn")
        term.run("send-keys", "-t", "t", "q")
        wait_until(lambda: QUESTION in pane(), timeout=60, what="the question")
        term.run("send-keys", "-t", "t", "n", "Enter")
        wait_until(lambda: out.exists(), timeout=60, what="the TUI exited")
        screen = pane()
        assert "EXIT=0" in out.read_text()
        assert "still running: 1 session(s)" in screen and "nobody supervises them now" in screen, screen
        assert "supervised in the background" not in screen
        assert store.lock_holder() is None  # no supervisor holds the run
        assert running()  # the agent was left running, as said
    finally:
        term.kill_server()
        cli("down", "--repo", str(git_repo), check=False)
