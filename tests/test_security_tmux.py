"""Hostile paths never reach tmux as formats (#12 item 1): a repo, state dir or node workdir named
``x-#(touch pwned)-#{pane_pid}`` runs nothing, the session runs in its worktree and its log is complete.
Real tmux, git, sim agents and (for the node) a real sshd on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end
from sshd import SshServer

HOSTILE = "x-#(touch pwned)-#{pane_pid}"


def _hostile_repo(base: Path) -> Path:
    repo = base / HOSTILE / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# hostile\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def _pwned(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found += [p for p in root.rglob("pwned")]
    return found


def _layout(extra: str = "", node: str = "") -> str:
    return f"""
[run]
name = "hostile"
[defaults]
agent = "sim"
{extra}
[[session]]
name = "one"
{node}
script = ["say start-marker", "write here.txt 1", "commit one: here", "say end-marker"]
"""


def _check_log(log: Path, worktree: Path) -> None:
    """Complete from the agent's banner to its last line, and it ran in ``worktree``."""
    text = log.read_text(errors="replace")
    assert "cortex sim agent" in text and "start-marker" in text and "end-marker" in text, text
    assert f"cwd {worktree.resolve()}" in text, text


def test_hostile_repo_and_state_dir_run_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # tmux runs #() jobs in the client's cwd
    repo = _hostile_repo(tmp_path)
    state = tmp_path / HOSTILE / "state"
    lt = tmp_path / "layout.toml"
    lt.write_text(_layout())
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.layout import parse_layout

    sup = Supervisor(parse_layout(lt.read_text(), lt), repo, state, headless=True)
    run_to_end(sup)
    rec = sup.state.sessions["one"]
    assert rec.state.value == "finished", (rec.state, rec.reason)
    wt = Path(rec.worktree)
    assert HOSTILE in str(wt)
    # the agent ran in its own worktree: it says so, and what it wrote is on its branch
    assert git(repo, "show", f"{rec.branch}:here.txt").strip() == "1"
    logs = list((state / "runs" / "hostile" / "logs").glob("one*.log"))
    assert logs, list(state.rglob("*"))
    _check_log(logs[0], wt)
    assert _pwned(tmp_path, Path(os.environ["HOME"])) == []


@pytest.mark.ssh
def test_hostile_node_workdir_runs_nothing(sshd: SshServer, git_repo: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    kw = sshd.node_kwargs()
    workdir = sshd.workdir / HOSTILE
    node = (f'[[node]]\nname = "box1"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{workdir}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n')
    sup = make_sup(git_repo, _layout(node, 'node = "box1"'), tmp_path)
    run_to_end(sup, timeout=90)
    rec = sup.state.sessions["one"]
    assert rec.state.value == "finished", (rec.state, rec.reason)
    assert rec.worktree.startswith(str(workdir)), rec.worktree
    assert git(git_repo, "show", f"{rec.branch}:here.txt").strip() == "1"
    # the node's own log is complete, and so is the local copy
    node_logs = list((workdir / "runs" / "hostile" / "logs").glob("one*.log"))
    assert node_logs, sorted(str(p) for p in workdir.rglob("*"))[:40]
    _check_log(node_logs[0], Path(rec.worktree))
    _check_log(next((git_repo / "coordination/runs/hostile/logs").glob("one*.log")), Path(rec.worktree))
    assert _pwned(tmp_path, Path(os.environ["HOME"]), sshd.remote_home) == []


def test_tmux_literal_round_trips_through_a_format(tmp_path: Path) -> None:
    """The escaping helper itself: what tmux prints for an escaped format is the original string."""
    from cortex_tui.backends.tmux import Tmux, fmt_literal

    t = Tmux("sec-fmt")
    t.ensure_server(tmp_path, "banner")
    try:
        for s in (HOSTILE, "a##b", "#", "#{", "}#,", "#[fg=red]x", "a##[b", "#(x)#[y]#{z}", "##"):
            out = t.run("display-message", "-p", "-t", "=cortex:", fmt_literal(s)).rstrip("\n")
            assert out == s
    finally:
        t.kill_server()
