"""Setup, include and the bubblewrap sandbox on an ssh node (issue #19): a real sshd on loopback (the "node" is
this machine with its own HOME and workdir), real bwrap, tmux, git and shells. The sandbox tests skip only where
bwrap cannot make a sandbox here (the reason is printed)."""

from __future__ import annotations

import http.server
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end, triggers
from sshd import SshServer

from cortex_tui.backends.sandbox import probe
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState

pytestmark = pytest.mark.ssh
WHY = probe()
needs_bwrap = pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}")


def node_toml(sshd: SshServer, extra: str = "") -> str:
    kw = sshd.node_kwargs()
    return (f'[[node]]\nname = "box1"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n{extra}')


def _log(sup: Supervisor, slug: str) -> str:
    return sup.store.log_path(slug).read_text(errors="replace")


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_setup_runs_on_the_node_in_its_worktree_and_a_failing_step_fails_the_session(
        sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, f"""
[run]
name = "rs"
{node_toml(sshd)}
[defaults]
agent = "shell"
ports = 1
env = {{ DATA = "{{worktree}}/data" }}
[[session]]
name = "good"
node = "box1"
setup = ["pwd > .where && echo \\"SETUP-ON-NODE $HOME $PORT $DATA\\"", "test -f .where"]
command = "cat .where > seen.txt; git add seen.txt && git commit -qm seen; echo agent-ran"
[[session]]
name = "bad"
node = "box1"
setup = ["echo step-one", "echo broken-dependency >&2; exit 3", "echo never > never.txt"]
command = "touch agent-started"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    good, bad = sup.state.sessions["good"], sup.state.sessions["bad"]
    assert good.state is SessionState.FINISHED, good.reason
    assert good.worktree.startswith(str(sshd.workdir))  # the node's worktree
    # setup ran on the node (its HOME), in the node's worktree, before the agent, with the session's env
    assert git(git_repo, "show", f"{good.branch}:seen.txt").strip() == good.worktree
    log = _log(sup, good.slug)
    assert f"SETUP-ON-NODE {sshd.remote_home} {good.ports[0]} {good.worktree}/data" in log, log[-2000:]
    assert "setup 1/2 on node box1" in log and log.index("SETUP-ON-NODE") < log.index("agent-ran")
    assert good.setup_done and good.phase is None
    # the failing step failed its session before the agent started; its output is in the session's log
    assert bad.state is SessionState.FAILED
    assert bad.reason is not None and "setup step 2/3" in bad.reason and "exited 3" in bad.reason
    assert not (Path(bad.worktree) / "agent-started").exists() and not (Path(bad.worktree) / "never.txt").exists()
    assert bad.window_id is None and bad.attempt == 0 and not bad.setup_done
    assert "broken-dependency" in _log(sup, bad.slug)
    steps = {n: [e.data["exit_code"] for e in events if e.kind == "setup" and e.session == n] for n in ("good", "bad")}
    assert steps == {"good": [0, 0], "bad": [0, 3]}


def test_a_hanging_setup_step_on_the_node_is_killed_with_its_process_group(sshd: SshServer, git_repo: Path,
                                                                           tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    sup = make_sup(git_repo, f"""
[run]
name = "rt"
{node_toml(sshd)}
[[session]]
name = "a"
agent = "shell"
node = "box1"
setup_timeout = "3s"
setup = ["sleep 600 & echo $! > {pid_file}; echo HANGING; sleep 600", "echo never > never.txt"]
command = "touch agent-started"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FAILED and rec.phase is None
    assert rec.reason is not None and "longer than 3s (setup_timeout)" in rec.reason, rec.reason
    assert not (Path(rec.worktree) / "agent-started").exists() and not (Path(rec.worktree) / "never.txt").exists()
    log = _log(sup, rec.slug)
    assert "HANGING" in log and "killed: the setup took longer than 3s" in log
    steps = [e for e in events if e.kind == "setup" and e.session == "a"]
    assert len(steps) == 1 and steps[0].data["timed_out"] == 3.0 and steps[0].data["exit_code"] != 0
    child = int(pid_file.read_text())  # the step's background child on the node went with its group
    for _ in range(200):
        if _gone(child):
            break
        time.sleep(0.05)
    assert _gone(child), f"the setup's background child {child} survived the timeout on the node"


def test_include_on_the_node_from_its_checkout_or_this_machines(sshd: SshServer, git_repo: Path,
                                                                tmp_path: Path) -> None:
    (git_repo / ".gitignore").write_text(".env\nlocal-only.yml\nnode_modules\nshared.cfg\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-qm", "ignore")
    (git_repo / ".env").write_text("SECRET=from-this-machine\n")
    (git_repo / "local-only.yml").write_text("only: here\n")
    # the node's own checkout of the repo, with its own (different) ignored files
    checkout = tmp_path / "node-checkout"
    git(tmp_path, "clone", "-q", str(git_repo), str(checkout))
    (checkout / ".env").write_text("SECRET=from-the-node\n")
    (checkout / "node_modules" / "dep").mkdir(parents=True)
    (checkout / "node_modules" / "dep" / "index.js").write_text("module.exports = 1\n")
    (checkout / "shared.cfg").write_text("linked\n")
    sup = make_sup(git_repo, f"""
[run]
name = "ri"
{node_toml(sshd, f'checkout = "{checkout}"' + chr(10))}
[defaults]
agent = "shell"
[[session]]
name = "copy"
node = "box1"
include = [".env", "node_modules", "local-only.yml", "missing.txt"]
command = "cat .env node_modules/dep/index.js local-only.yml"
[[session]]
name = "link"
node = "box1"
include = ["shared.cfg", "local-only.yml"]
include_mode = "link"
command = "cat shared.cfg"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    copy, link = sup.state.sessions["copy"], sup.state.sessions["link"]
    assert copy.state is SessionState.FINISHED and link.state is SessionState.FINISHED, (copy.reason, link.reason)
    cw, lw = Path(copy.worktree), Path(link.worktree)
    assert cw.is_relative_to(sshd.workdir) and lw.is_relative_to(sshd.workdir)
    # from the node's checkout first (copied, not linked) ...
    assert (cw / ".env").read_text() == "SECRET=from-the-node\n" and not (cw / ".env").is_symlink()
    assert (cw / "node_modules" / "dep" / "index.js").read_text() == "module.exports = 1\n"
    # ... what it lacks from this machine's checkout
    assert (cw / "local-only.yml").read_text() == "only: here\n"
    # link mode links into the node's checkout; from this machine it can only copy, and says so
    assert (lw / "shared.cfg").is_symlink() and os.readlink(lw / "shared.cfg") == str(checkout / "shared.cfg")
    assert (lw / "local-only.yml").read_text() == "only: here\n" and not (lw / "local-only.yml").is_symlink()
    warned = {(e.session, e.data["path"]): e.data["message"] for e in events if e.kind == "setup_warning"}
    assert set(warned) == {("copy", "missing.txt"), ("copy", "local-only.yml"), ("link", "local-only.yml")}, warned
    assert "not found in node box1's checkout" in warned[("copy", "missing.txt")]
    assert "copied from this machine's checkout" in warned[("link", "local-only.yml")]
    assert "a link cannot point across machines" in warned[("link", "local-only.yml")]
    assert "SECRET=from-the-node" in _log(sup, copy.slug)
    # nothing brought counts as a change of the session (all git-ignored there)
    assert not copy.changed_files and not link.changed_files


def test_without_a_node_checkout_include_copies_from_this_machine_quietly(sshd: SshServer, git_repo: Path,
                                                                          tmp_path: Path) -> None:
    """No ``checkout`` on the node: copied from here without a warning; a ``checkout`` that is not there: copied
    from here too, and the warning says the node's checkout is missing."""
    (git_repo / ".gitignore").write_text(".env\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-qm", "ignore")
    (git_repo / ".env").write_text("SECRET=1\n")
    sup = make_sup(git_repo, f"""
[run]
name = "rq"
{node_toml(sshd)}
[[node]]
name = "box2"
host = "{sshd.host}"
port = {sshd.port}
user = "{sshd.user}"
identity = "{sshd.client_key}"
workdir = "{sshd.workdir}-2"
python = "{sshd.node_kwargs()["python"]}"
ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]
checkout = "{tmp_path / "no-such-checkout"}"
[[session]]
name = "a"
agent = "shell"
node = "box1"
include = [".env"]
command = "cat .env"
[[session]]
name = "b"
agent = "shell"
node = "box2"
include = [".env"]
command = "cat .env"
""", tmp_path)
    events = run_to_end(sup, timeout=90)
    for name in ("a", "b"):
        rec = sup.state.sessions[name]
        assert rec.state is SessionState.FINISHED, rec.reason
        assert (Path(rec.worktree) / ".env").read_text() == "SECRET=1\n"
    warned = [(e.session, e.data["message"]) for e in events if e.kind == "setup_warning"]
    assert len(warned) == 1 and warned[0][0] == "b", warned
    assert f"not in node box2's checkout ({tmp_path / 'no-such-checkout'}: not a directory there)" in warned[0][1]


@pytest.fixture
def loopback_server() -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@needs_bwrap
def test_the_sandbox_on_an_ssh_node_refuses_out_of_scope_writes_there(sshd: SshServer, git_repo: Path,
                                                                     tmp_path: Path, loopback_server: int) -> None:
    probe_name = f"cortex-probe-{uuid.uuid4().hex}"
    node_home = sshd.remote_home / "agent-wrote-here"
    outside_fs = Path("/var/tmp") / probe_name
    fetch = (f"python3 -c 'import urllib.request as u; u.urlopen(\\\"http://127.0.0.1:{loopback_server}/\\\", "
             "timeout=5); print(\\\"REACHED\\\")' || echo UNREACHABLE")
    sup = make_sup(git_repo, f"""
[run]
name = "rb"
{node_toml(sshd)}
[defaults]
agent = "shell"
sandbox = "bwrap"
[[session]]
name = "a"
node = "box1"
scope_mode = "enforce"
scope = ["src/**"]
network = "none"
command = "echo x > src/new.py && git add src/new.py && git commit -qm in-scope && echo COMMITTED; echo y > README.md; echo h > {node_home}; echo w > {outside_fs}; echo t > /tmp/{probe_name} && echo TMP-OK; echo $CORTEX_SANDBOX; {fetch}; true"
[[session]]
name = "open"
node = "box1"
network = "host"
command = "echo y >> README.md && echo WT-OK; {fetch}"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    rec, op = sup.state.sessions["a"], sup.state.sessions["open"]
    assert rec.state is SessionState.FINISHED and op.state is SessionState.FINISHED, (rec.reason, op.reason)
    assert rec.sandbox == "bwrap" and rec.worktree.startswith(str(sshd.workdir))
    log = _log(sup, rec.slug)
    said = [ln.strip() for ln in log.splitlines()]
    assert "COMMITTED" in said and "TMP-OK" in said and "bwrap" in said, log[-3000:]
    # inside the scope: written and committed on the node, fetched back with the branch
    assert git(git_repo, "show", f"{rec.branch}:src/new.py").strip() == "x"
    # out of scope in the node's worktree, the node's HOME, elsewhere on the node: refused by its kernel
    assert (Path(rec.worktree) / "README.md").read_text() == "# test repo\n"
    assert not node_home.exists() and not outside_fs.exists() and not (Path("/tmp") / probe_name).exists()
    blocked = {e.data["evidence"]["path"]: e.data["evidence"] for e in triggers(events, "out_of_scope", "a")
               if e.data["evidence"].get("evidence") == "blocked by sandbox"}
    assert "README.md" in blocked and blocked["README.md"]["inside_worktree"] is True, blocked
    assert str(node_home) in blocked and str(outside_fs) in blocked and "src/new.py" not in blocked
    # network = "none" on the node: not even its loopback; the host-network session reaches it
    assert "UNREACHABLE" in said and "REACHED" not in said
    osaid = [ln.strip() for ln in _log(sup, op.slug).splitlines()]
    assert "WT-OK" in osaid and "REACHED" in osaid
    assert (Path(op.worktree) / "README.md").read_text().endswith("y\n")


def _path_without_bwrap(tmp_path: Path) -> Path:
    """A PATH directory with every program of /usr/bin and /bin but bwrap (a node without bubblewrap)."""
    d = tmp_path / "nobwrap-bin"
    d.mkdir()
    for src in (Path("/usr/local/bin"), Path("/usr/bin"), Path("/bin")):
        for p in src.iterdir() if src.is_dir() else []:
            if p.name != "bwrap" and not (d / p.name).exists():
                (d / p.name).symlink_to(p)
    return d


def test_a_node_without_bwrap_fails_the_sandboxed_session_naming_the_node(sshd: SshServer, git_repo: Path,
                                                                          tmp_path: Path) -> None:
    bin_dir = _path_without_bwrap(tmp_path)
    sshd.stop()
    sshd.config.write_text(sshd.config.read_text().replace("GIT_CONFIG_NOSYSTEM=1",
                                                           f"GIT_CONFIG_NOSYSTEM=1 PATH={bin_dir}"))
    sshd.start()
    text = f"""
[run]
name = "rn"
{node_toml(sshd)}
[defaults]
agent = "shell"
[[session]]
name = "boxed"
node = "box1"
sandbox = "bwrap"
command = "touch agent-started"
[[session]]
name = "boxed2"
node = "box1"
sandbox = "bwrap"
network = "none"
command = "touch agent-started"
[[session]]
name = "listed"
node = "box1"
sandbox = "bwrap"
network = ["example.com"]
command = "touch agent-started"
[[session]]
name = "plain"
node = "box1"
command = "echo PLAIN-RAN"
"""
    parse_layout(text, tmp_path / "l.toml")  # not refused here: the node is checked once, there
    sup = make_sup(git_repo, text, tmp_path)
    run_to_end(sup, timeout=90)
    boxed, plain = sup.state.sessions["boxed"], sup.state.sessions["plain"]
    assert boxed.state is SessionState.FAILED and boxed.window_id is None
    assert boxed.reason is not None and "on node box1: bwrap not found" in boxed.reason, boxed.reason
    assert "install bubblewrap on node box1 (Debian/Ubuntu: apt-get install bubblewrap" in boxed.reason
    assert not (Path(boxed.worktree) / "agent-started").exists()
    boxed2 = sup.state.sessions["boxed2"]  # network = "none" too: never run open
    assert boxed2.state is SessionState.FAILED and boxed2.window_id is None
    assert boxed2.reason is not None and "on node box1: bwrap not found" in boxed2.reason, boxed2.reason
    listed = sup.state.sessions["listed"]  # an allowlist needs the node's bwrap as "none" does: never run open
    assert listed.state is SessionState.FAILED and listed.window_id is None
    assert listed.reason is not None and "on node box1: bwrap not found" in listed.reason, listed.reason
    assert not (Path(listed.worktree) / "agent-started").exists()
    assert plain.state is SessionState.FINISHED and "PLAIN-RAN" in _log(sup, plain.slug)


@needs_bwrap
def test_sim_agent_events_and_a_linked_include_work_in_the_sandbox_on_a_node(sshd: SshServer, git_repo: Path,
                                                                              tmp_path: Path) -> None:
    (git_repo / ".gitignore").write_text("shared.cfg\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-qm", "ignore")
    checkout = tmp_path / "node-checkout"  # under /tmp: the sandbox's private /tmp must bind it back
    git(tmp_path, "clone", "-q", str(git_repo), str(checkout))
    (checkout / "shared.cfg").write_text("LINKED-CONTENT\n")
    sup = make_sup(git_repo, f"""
[run]
name = "rl"
{node_toml(sshd, f'checkout = "{checkout}"' + chr(10))}
[defaults]
sandbox = "bwrap"
[[session]]
name = "sim"
agent = "sim"
node = "box1"
scope_mode = "enforce"
scope = ["src/**"]
script = ["say starting", "write src/alpha.py A = 1", "commit alpha: add src/alpha.py", "tokens 100 20", "say done"]
[[session]]
name = "linked"
agent = "shell"
node = "box1"
include = ["shared.cfg"]
include_mode = "link"
command = "cat shared.cfg"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    sim, linked = sup.state.sessions["sim"], sup.state.sessions["linked"]
    assert sim.state is SessionState.FINISHED and linked.state is SessionState.FINISHED, (sim.reason, linked.reason)
    assert git(git_repo, "show", f"{sim.branch}:src/alpha.py").strip() == "A = 1"
    assert sim.changed_files == ["src/alpha.py"] and not sim.active_triggers()
    assert sim.tokens is not None and (sim.tokens.input, sim.tokens.output) == (100, 20)  # its events file, there
    assert (Path(linked.worktree) / "shared.cfg").is_symlink()
    assert "LINKED-CONTENT" in _log(sup, linked.slug)  # the link's target is readable inside the sandbox
    assert not [e for e in events if e.kind == "setup_warning"]


REWRITE_PY = """
import json, os
d = os.environ["CLAUDE_CONFIG_DIR"]
p = os.path.join(d, ".claude.json")
j = json.load(open(p))
j["n"] = 2
with open(p + ".tmp", "w") as f:  # Claude's own way: a temp file beside it, then a rename
    f.write(json.dumps(j))
os.replace(p + ".tmp", p)
print("REWROTE", json.dumps(j, sort_keys=True), "IN", d)
open(os.path.join(os.environ["HOME"], ".claude", "projects", "t.jsonl"), "w").write("{}")
print("PROJECTS-OK")
"""


@needs_bwrap
def test_claude_code_gets_its_own_config_dir_in_a_nodes_sandbox(sshd: SshServer, git_repo: Path,
                                                                 tmp_path: Path) -> None:
    """Claude Code's atomic rewrite of its .claude.json works in the node's read-only HOME: a per-session
    CLAUDE_CONFIG_DIR made *on the node* (backends/sandbox_state.py, run there by the launcher)."""
    home = sshd.remote_home
    (home / ".claude.json").write_text('{"seen": 1}')
    (home / ".claude").mkdir()
    (home / "rewrite.py").write_text(REWRITE_PY)  # HOME is readable in the sandbox (tmp_path's /tmp is not)
    sup = make_sup(git_repo, f"""
[run]
name = "rc"
{node_toml(sshd)}
[[session]]
name = "claude"
agent = "claude-code"
node = "box1"
sandbox = "bwrap"
command = "python3 $HOME/rewrite.py"
""", tmp_path)
    run_to_end(sup, timeout=90)
    rec = sup.state.sessions["claude"]
    assert rec.state is SessionState.FINISHED, (rec.reason, _log(sup, rec.slug)[-2000:])
    own = sshd.workdir / "runs" / "rc" / "sessions" / rec.slug / "claude-config"
    assert f'REWROTE {{"n": 2, "seen": 1}} IN {own}' in _log(sup, rec.slug)
    assert "PROJECTS-OK" in _log(sup, rec.slug)  # transcripts go to the node's ~/.claude/projects, as usual
    assert (home / ".claude.json").read_text() == '{"seen": 1}'  # the node user's own file is never written
    assert (home / ".claude" / "projects" / "t.jsonl").exists()


def test_ports_do_not_collide_across_this_machine_and_a_node(sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    """``ports`` are the run's, not a node's: a session here and one on an ssh node get disjoint ports, exported on
    each side. The two names are chosen so their key-derived searches start at the same port (run ``rn``: both at
    offset 6960), so a per-node book would hand both the same two."""
    from cortex_tui.backends.session_env import allocate

    assert allocate(2, key="rn/here", taken=[]) == allocate(2, key="rn/node21039", taken=[])  # alone: the same
    cmd = 'echo \\"P=$PORT:$CORTEX_PORT_1:$CORTEX_PORT_2\\"'
    sup = make_sup(git_repo, f"""
[run]
name = "rn"
{node_toml(sshd)}
[defaults]
agent = "shell"
ports = 2
[[session]]
name = "here"
command = "{cmd}"
[[session]]
name = "node21039"
node = "box1"
command = "{cmd}"
""", tmp_path)
    run_to_end(sup, timeout=120)
    here, there = sup.state.sessions["here"], sup.state.sessions["node21039"]
    assert here.state is SessionState.FINISHED and there.state is SessionState.FINISHED, (here.reason, there.reason)
    assert there.worktree.startswith(str(sshd.workdir))  # it ran on the node
    assert len(here.ports) == 2 and len(there.ports) == 2 and not set(here.ports) & set(there.ports)
    for rec in (here, there):
        p1, p2 = rec.ports
        assert f"P={p1}:{p1}:{p2}" in _log(sup, rec.slug), _log(sup, rec.slug)[-1500:]
