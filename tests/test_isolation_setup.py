"""Per-session runtime (issue #19): setup/teardown, include, ports and env placeholders. Real tmux, git, shells."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end, wait_for
from sshd import SshServer

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import LayoutError
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState
from cortex_tui.review.clean import remove_session_worktree
from cortex_tui.store.status import session_dict
from cortex_tui.ui.present.dashboard import row_view
from cortex_tui.ui.present.format import Palette
from cortex_tui.ui.present.session import facts_text


def _log(sup: Supervisor, slug: str) -> str:
    return sup.store.log_path(slug).read_text()


def test_setup_runs_in_the_worktree_before_the_agent(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, """
[run]
name = "su"
[defaults]
setup = ["echo prepared > .setup-mark && echo SETUP-SAYS-HI", "test -f .setup-mark"]
[[session]]
name = "a"
agent = "shell"
command = "cat .setup-mark > seen.txt; echo agent-ran"
""", tmp_path)
    events = run_to_end(sup)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FINISHED, rec.reason
    assert (Path(rec.worktree) / "seen.txt").read_text().strip() == "prepared"  # setup ran first, in the worktree
    log = _log(sup, rec.slug)
    assert "SETUP-SAYS-HI" in log and "setup 1/2" in log and log.index("SETUP-SAYS-HI") < log.index("agent-ran")
    steps = [e for e in events if e.kind == "setup" and e.session == "a"]
    assert [(e.data["index"], e.data["exit_code"]) for e in steps] == [(1, 0), (2, 0)]
    assert all(e.payload() for e in steps)
    assert rec.setup_done and rec.phase is None


def test_a_failing_setup_step_fails_the_session_and_the_agent_never_starts(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, """
[run]
name = "sf"
[[session]]
name = "a"
agent = "shell"
setup = ["echo step-one", "echo broken-dependency >&2; exit 3", "echo never > never.txt"]
command = "touch agent-started"
""", tmp_path)
    events = run_to_end(sup)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FAILED
    assert rec.reason is not None and "setup step 2/3" in rec.reason and "exited 3" in rec.reason
    wt = Path(rec.worktree)
    assert not (wt / "agent-started").exists()  # the agent never ran
    assert not (wt / "never.txt").exists()  # nor the steps after the failing one
    assert rec.window_id is None and rec.attempt == 0
    assert "broken-dependency" in _log(sup, rec.slug)  # its output is in the session's log
    assert [e.data["exit_code"] for e in events if e.kind == "setup"] == [0, 3]
    assert not rec.setup_done


def test_include_copy_and_link_bring_ignored_files_and_name_a_missing_one(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / ".gitignore").write_text(".env\nconfig/local.yml\ncache\nbuild/\n")  # build/: no link matches
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore")
    (git_repo / ".env").write_text("SECRET=1\n")
    (git_repo / "config").mkdir()
    (git_repo / "config" / "local.yml").write_text("local: true\n")
    (git_repo / "cache").mkdir()
    (git_repo / "cache" / "blob").write_text("x\n")
    (git_repo / "build").mkdir()
    (git_repo / "build" / "out").write_text("o\n")
    sup = make_sup(git_repo, """
[run]
name = "inc"
[defaults]
agent = "shell"
include = [".env", "config/local.yml", "cache", "missing.cfg"]
ignore = ["build"]
[[session]]
name = "copied"
command = "cat .env config/local.yml cache/blob"
[[session]]
name = "linked"
command = "cat .env config/local.yml cache/blob"
include_mode = "link"
include = [".env", "config/local.yml", "cache", "missing.cfg", "build"]
""", tmp_path)
    events = run_to_end(sup)
    s = sup.state.sessions
    for name in ("copied", "linked"):
        assert s[name].state is SessionState.FINISHED, s[name].reason
        assert "SECRET=1" in _log(sup, s[name].slug) and "local: true" in _log(sup, s[name].slug)
        assert s[name].changed_files == []  # ignored files are no change of the session
    cw, lw = Path(s["copied"].worktree), Path(s["linked"].worktree)
    assert not (cw / ".env").is_symlink() and (cw / ".env").read_text() == "SECRET=1\n"
    assert (cw / "cache").is_dir() and not (cw / "cache").is_symlink()
    assert (lw / ".env").is_symlink() and os.path.realpath(lw / ".env") == str((git_repo / ".env").resolve())
    assert (lw / "cache").is_symlink()
    warnings = [e for e in events if e.kind == "setup_warning"]
    assert sorted((e.session, e.data["path"]) for e in warnings) == [
        ("copied", "missing.cfg"), ("linked", "build"), ("linked", "missing.cfg")]
    assert all(e.data["path"] in e.data["message"] for e in warnings)
    # a link is no directory for .gitignore's "build/": the warning says it would count as a change
    assert "not git-ignored" in next(e.data["message"] for e in warnings if e.data["path"] == "build")


ENV_CMD = ("printf '%s|%s|%s|%s|%s|%s|%s\\\\n' \\\"$PORT\\\" \\\"$CORTEX_PORT_1\\\" \\\"$CORTEX_PORT_2\\\" "
           "\\\"$APP_URL\\\" \\\"$DB\\\" \\\"$WT\\\" \\\"$RAW\\\" > env.txt")


def test_ports_and_placeholders_reach_the_agents_env(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, f"""
[run]
name = "pt"
[defaults]
agent = "shell"
ports = 2
env = {{ APP_URL = "http://127.0.0.1:{{port}}/{{session}}", DB = "db-{{run}}-{{port2}}", WT = "{{worktree}}", RAW = "{{{{x}}}}" }}
[[session]]
name = "one"
command = "{ENV_CMD}"
[[session]]
name = "two"
command = "{ENV_CMD}"
""", tmp_path)
    run_to_end(sup)
    seen: set[int] = set()
    for name in ("one", "two"):
        rec = sup.state.sessions[name]
        assert rec.state is SessionState.FINISHED, rec.reason
        p1, p2 = rec.ports
        port, c1, c2, url, db, wt, raw = (Path(rec.worktree) / "env.txt").read_text().strip().split("|")
        assert (port, c1, c2) == (str(p1), str(p1), str(p2))
        assert url == f"http://127.0.0.1:{p1}/{name}" and db == f"db-pt-{p2}" and wt == rec.worktree
        assert raw == "{x}"
        seen |= {p1, p2}
    assert len(seen) == 4  # no port shared between the run's sessions


@pytest.mark.parametrize(("env", "ports", "needle"), [
    ('{ A = "{prot}" }', 1, "unknown placeholder {prot}"),
    ('{ A = "{port2}" }', 1, "needs ports = 2"),
    ('{ A = "{port}" }', 0, "needs ports = 1"),
    ('{ A = "a}b" }', 0, "unbalanced brace"),
])
def test_an_unknown_placeholder_is_a_layout_error_with_its_line(tmp_path: Path, env: str, ports: int,
                                                                 needle: str) -> None:
    text = f'[run]\nname = "x"\n[[session]]\nname = "a"\nagent = "shell"\ncommand = "true"\nports = {ports}\nenv = {env}\n'
    with pytest.raises(LayoutError) as e:
        parse_layout(text, tmp_path / "l.toml")
    assert f"{tmp_path / 'l.toml'}:8: field 'session[0].env'" in e.value.message and needle in e.value.message


def test_include_outside_the_repo_is_a_layout_error_and_setup_on_an_ssh_node_is_not(tmp_path: Path) -> None:
    with pytest.raises(LayoutError) as e:
        parse_layout('[run]\nname = "x"\n[defaults]\ninclude = ["../x"]\n[[session]]\nname = "a"\n'
                     'agent = "shell"\ncommand = "true"\n', tmp_path / "l.toml")
    assert ":4: field 'defaults.include'" in e.value.message
    remote = ('[run]\nname = "x"\n[[node]]\nname = "n"\nhost = "h"\n[[session]]\nname = "a"\n'
              'agent = "shell"\ncommand = "true"\nnode = "n"\n')
    layout = parse_layout(remote + 'setup = ["true"]\ninclude = [".env"]\nsandbox = "bwrap"\n', tmp_path / "l.toml")
    assert layout.sessions[0].setup == ["true"]  # run on the node (tests/test_isolation_remote.py)
    # an allowlist too: its proxy runs in the node's pane (tests/test_sandbox_proxy_remote.py)
    layout = parse_layout(remote + 'sandbox = "bwrap"\nnetwork = ["example.com"]\n', tmp_path / "l.toml")
    assert layout.sessions[0].network == ["example.com"]


def test_teardown_runs_before_clean_removes_the_worktree(git_repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "teardown.txt"
    sup = make_sup(git_repo, f"""
[run]
name = "td"
[[session]]
name = "a"
agent = "shell"
ports = 1
command = "true"
env = {{ DB_URL = "db-{{port}}-{{session}}", LABEL = "from-layout" }}
teardown = ["test -e .git && echo \\"down $PORT $CORTEX_SESSION $DB_URL $LABEL\\" > {marker}"]
""", tmp_path)
    run_to_end(sup)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FINISHED and rec.teardown
    removed = remove_session_worktree(git_repo, sup.state, rec, sup.store, reason="test")  # clean's one path
    assert removed.teardown is None
    port = rec.ports[0]  # it ran inside the worktree, with the env setup gets (the layout's env rendered too)
    assert marker.read_text().strip() == f"down {port} a db-{port}-a from-layout"
    assert not Path(rec.worktree).exists()
    assert "teardown 1/1" in _log(sup, rec.slug)


def test_the_setup_phase_is_shown_while_it_runs(git_repo: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    sup = make_sup(git_repo, f"""
[run]
name = "ph"
[[session]]
name = "a"
agent = "shell"
setup = ["true", "while [ ! -e {gate} ]; do sleep 0.05; done"]
command = "echo agent-ran"
""", tmp_path)
    seen: dict[str, object] = {}

    async def during(s: Supervisor) -> None:
        rec = s.state.sessions["a"]
        await wait_for(lambda: rec.phase == "setup" and rec.reason is not None and "setup 2/2" in rec.reason, 20,
                       "the second setup step running")
        seen["state"] = rec.state
        seen["status"] = session_dict(rec)
        seen["cell"] = row_view(rec, s.specs["a"], None, 0.0, Palette()).cells[1].plain
        seen["facts"] = facts_text(rec, s.specs["a"], None, 0.0, Palette()).plain
        gate.touch()

    run_to_end(sup, during=during)
    assert seen["state"] is SessionState.STARTING
    status = seen["status"]
    assert isinstance(status, dict) and status["phase"] == "setup" and "setup 2/2" in status["reason"]
    assert seen["cell"] == "◌ setup" and "phase setup" in str(seen["facts"])
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FINISHED and rec.phase is None and rec.reason is None


def test_a_hanging_setup_step_is_killed_at_setup_timeout_and_fails_the_session(git_repo: Path,
                                                                               tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    sup = make_sup(git_repo, f"""
[run]
name = "st"
[[session]]
name = "a"
agent = "shell"
setup_timeout = "3s"
setup = ["sleep 600 & echo $! > {pid_file}; echo HANGING; sleep 600", "echo never > never.txt"]
command = "touch agent-started"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FAILED and rec.phase is None
    assert rec.reason is not None and "setup step 1/2" in rec.reason and "longer than 3s (setup_timeout)" in rec.reason
    wt = Path(rec.worktree)
    assert not (wt / "agent-started").exists() and not (wt / "never.txt").exists()
    log = _log(sup, rec.slug)
    assert "HANGING" in log and "killed: the setup took longer than 3s" in log
    steps = [e for e in events if e.kind == "setup" and e.session == "a"]
    assert len(steps) == 1 and steps[0].data["timed_out"] == 3.0 and steps[0].data["exit_code"] != 0
    # the step's whole process group went, its background child too (not only the shell)
    child = int(pid_file.read_text())

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    for _ in range(200):
        if gone():
            break
        time.sleep(0.05)
    assert gone(), f"setup's background child {child} survived the timeout"


def test_setup_timeout_is_a_duration_with_a_default(tmp_path: Path) -> None:
    base = '[run]\nname = "x"\n[[session]]\nname = "a"\nagent = "shell"\ncommand = "true"\n'
    assert parse_layout(base, tmp_path / "l.toml").sessions[0].setup_timeout == 600.0
    assert parse_layout(base + 'setup_timeout = "90s"\n', tmp_path / "l.toml").sessions[0].setup_timeout == 90.0
    for bad in ('"soon"', '0'):
        with pytest.raises(LayoutError) as e:
            parse_layout(base + f'setup_timeout = {bad}\n', tmp_path / "l.toml")
        assert f"{tmp_path / 'l.toml'}:7: field 'session[0].setup_timeout'" in e.value.message, e.value.message


@pytest.mark.ssh
def test_worktree_placeholder_on_an_ssh_node_is_the_nodes_worktree(sshd: SshServer, git_repo: Path,
                                                                    tmp_path: Path) -> None:
    """Regression: ``{worktree}`` was rendered before the node chose its worktree: the local path."""
    kw = sshd.node_kwargs()
    sup = make_sup(git_repo, f"""
[run]
name = "rw"
[[node]]
name = "box1"
host = "{kw["host"]}"
port = {kw["port"]}
user = "{kw["user"]}"
identity = "{kw["identity"]}"
workdir = "{kw["workdir"]}"
python = "{kw["python"]}"
ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]
[[session]]
name = "far"
agent = "shell"
node = "box1"
env = {{ APP_DATA = "{{worktree}}/data", NAME = "{{session}}-{{run}}" }}
command = "echo \\"DATA=$APP_DATA NAME=$NAME\\"; test \\"$APP_DATA\\" = \\"$(pwd)/data\\" && echo SAME-AS-PWD"
""", tmp_path)
    run_to_end(sup, timeout=90)
    rec = sup.state.sessions["far"]
    assert rec.state is SessionState.FINISHED, rec.reason
    assert rec.worktree.startswith(str(sshd.workdir)), rec.worktree  # the node's worktree, not the local one
    log = _log(sup, rec.slug)
    assert f"DATA={rec.worktree}/data NAME=far-rw" in log and "SAME-AS-PWD" in log, log[-2000:]
    assert "\x00" not in log


def test_a_restart_keeps_the_sessions_ports(git_repo: Path, tmp_path: Path) -> None:
    """``ports`` are stable for the session's life: its second attempt (a restart after exit 1) gets the ports
    of the first, exported the same way — even when something else listens on one of them meanwhile (a fresh
    pick would have skipped it)."""
    import socket

    cmd = ("echo \\\"$PORT $CORTEX_PORT_1 $CORTEX_PORT_2\\\" >> ports.txt; if [ -e again ]; then exit 0; fi; "
           "while [ ! -e gate ]; do sleep 0.05; done; touch again; exit 1")
    sup = make_sup(git_repo, f"""
[run]
name = "pr"
[[session]]
name = "one"
agent = "shell"
ports = 2
restart = {{ max = 1, backoff_s = [0.1] }}
command = "{cmd}"
""", tmp_path)
    holder = socket.socket()

    async def during(s: Supervisor) -> None:
        rec = s.state.sessions["one"]
        await wait_for(lambda: (Path(rec.worktree) / "ports.txt").exists(), 30, "the first attempt")
        holder.bind(("127.0.0.1", rec.ports[0]))  # its first port, taken by someone else between attempts
        holder.listen(1)
        (Path(rec.worktree) / "gate").touch()

    try:
        run_to_end(sup, during=during)
    finally:
        holder.close()
    rec = sup.state.sessions["one"]
    assert rec.state is SessionState.FINISHED and rec.restarts == 1, (rec.state, rec.reason, rec.restarts)
    lines = (Path(rec.worktree) / "ports.txt").read_text().split("\n")
    p1, p2 = rec.ports
    assert [ln for ln in lines if ln] == [f"{p1} {p1} {p2}"] * 2
