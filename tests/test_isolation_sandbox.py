"""The bubblewrap sandbox (issue #19): real bwrap, tmux, git and shells. Skipped only where bwrap cannot make a
sandbox at all (the reason is printed); every assertion is about what the kernel refused or allowed."""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end, triggers, wait_for

from cortex_tui.backends import sandbox
from cortex_tui.backends.sandbox import blocked_path, probe
from cortex_tui.engine import supervisor as supervisor_module
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import LayoutError
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState

WHY = probe()
needs_bwrap = pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}")


@needs_bwrap
def test_enforce_scope_write_inside_commits_and_writes_outside_are_refused(git_repo: Path, tmp_path: Path) -> None:
    probe_name = f"cortex-probe-{uuid.uuid4().hex}"
    outside_repo = git_repo / "outside.txt"  # the main checkout: outside the worktree
    outside_fs = Path("/var/tmp") / probe_name  # writable on the host, not in the sandbox
    sup = make_sup(git_repo, f"""
[run]
name = "sb"
[[session]]
name = "a"
agent = "shell"
sandbox = "bwrap"
scope_mode = "enforce"
scope = ["src/**"]
command = "echo x > src/new.py && git add src/new.py && git commit -qm in-scope && echo COMMITTED; echo y > README.md; echo z > {outside_repo}; echo w > {outside_fs}; echo t > /tmp/{probe_name} && echo TMP-OK; true"
""", tmp_path)
    events = run_to_end(sup)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FINISHED, rec.reason
    assert rec.sandbox == "bwrap"
    wt = Path(rec.worktree)
    log = sup.store.log_path(rec.slug).read_text()
    assert "COMMITTED" in log and "TMP-OK" in log, log
    # inside the scope: written and committed on the session's branch
    assert git(git_repo, "show", f"{rec.branch}:src/new.py").strip() == "x"
    # out of scope (in the worktree), outside the worktree, outside the repo: refused by the kernel
    assert (wt / "README.md").read_text() == "# test repo\n"
    assert not outside_repo.exists() and not outside_fs.exists()
    assert log.count("Read-only file system") >= 3
    # the private /tmp is gone with the sandbox
    assert not (Path("/tmp") / probe_name).exists()
    blocked = {e.data["evidence"]["path"]: e.data["evidence"] for e in triggers(events, "out_of_scope", "a")
               if e.data["evidence"].get("evidence") == "blocked by sandbox"}
    assert "README.md" in blocked and blocked["README.md"]["inside_worktree"] is True
    assert str(outside_repo) in blocked and str(outside_fs) in blocked
    assert "src/new.py" not in blocked


@needs_bwrap
def test_without_enforce_the_whole_worktree_is_writable_but_nothing_outside(git_repo: Path, tmp_path: Path) -> None:
    home_file = Path.home() / "agent-wrote-here"
    sup = make_sup(git_repo, f"""
[run]
name = "sw"
[[session]]
name = "a"
agent = "shell"
sandbox = "bwrap"
command = "echo y >> README.md && mkdir -p deep/er && echo d > deep/er/f && echo WT-OK; echo h > {home_file}; true"
""", tmp_path)
    events = run_to_end(sup)
    rec = sup.state.sessions["a"]
    wt = Path(rec.worktree)
    assert "WT-OK" in sup.store.log_path(rec.slug).read_text()
    assert (wt / "README.md").read_text().endswith("y\n") and (wt / "deep" / "er" / "f").exists()
    assert not home_file.exists()
    paths = [e.data["evidence"]["path"] for e in triggers(events, "out_of_scope", "a")
             if e.data["evidence"].get("evidence") == "blocked by sandbox"]
    assert paths == [str(home_file)]


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
def test_network_none_cannot_reach_a_loopback_server_that_host_reaches(git_repo: Path, tmp_path: Path,
                                                                        loopback_server: int) -> None:
    fetch = (f"python3 -c 'import urllib.request as u; u.urlopen(\\\"http://127.0.0.1:{loopback_server}/\\\", "
             "timeout=5); print(\\\"REACHED\\\")' || echo UNREACHABLE")
    sup = make_sup(git_repo, f"""
[run]
name = "net"
[defaults]
agent = "shell"
sandbox = "bwrap"
[[session]]
name = "cut"
network = "none"
command = "{fetch}"
[[session]]
name = "open"
network = "host"
command = "{fetch}"
""", tmp_path)
    run_to_end(sup)
    said = {n: [ln.strip() for ln in sup.store.log_path(r.slug).read_text().splitlines()]
            for n, r in sup.state.sessions.items()}
    assert "UNREACHABLE" in said["cut"] and "REACHED" not in said["cut"]
    assert "REACHED" in said["open"] and "UNREACHABLE" not in said["open"]


def test_a_sandbox_that_cannot_be_made_is_a_layout_error_never_an_open_run(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-not-installed-here")  # a machine without bubblewrap
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(LayoutError) as e:
            parse_layout('[run]\nname = "x"\n[[session]]\nname = "a"\nagent = "shell"\ncommand = "true"\n'
                         'sandbox = "bwrap"\n', tmp_path / "l.toml")
    finally:
        sandbox.probe.cache_clear()
    assert f"{tmp_path / 'l.toml'}:7: field 'session[0].sandbox'" in e.value.message
    assert "bwrap-not-installed-here not found" in e.value.message and e.value.hint and "bubblewrap" in e.value.hint


def test_network_without_a_sandbox_and_a_bad_allowlist_entry_are_layout_errors(tmp_path: Path) -> None:
    base = '[run]\nname = "x"\n[[session]]\nname = "a"\nagent = "shell"\ncommand = "true"\n'
    with pytest.raises(LayoutError) as e:
        parse_layout(base + 'network = "none"\n', tmp_path / "l.toml")
    assert 'needs sandbox = "bwrap"' in e.value.message
    if WHY is None:
        with pytest.raises(LayoutError) as e:
            parse_layout(base + 'sandbox = "bwrap"\nnetwork = ["api.anthropic.com", "http://x/"]\n', tmp_path / "l.toml")
        assert ":8: field 'session[0].network'" in e.value.message and "'http://x/'" in e.value.message


PROBE = """
import socket, sys, urllib.request
port = int(sys.argv[1])
try:  # plain HTTP through the proxy (absolute-form request)
    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    print("HTTP-REACHED")
except Exception as e:
    print("HTTP-FAILED", type(e).__name__, getattr(e, "code", ""))
try:  # a CONNECT tunnel, as HTTPS clients use it
    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
    s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\n".encode())
    head = s.recv(200).decode()
    if " 200 " in head:
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        got = b""
        while len(got) < 12 and (more := s.recv(64)):
            got += more
        print("TUNNEL-REACHED" if got.startswith(b"HTTP/1.0 200") else f"TUNNEL-BAD {got[:40]!r}")
    else:
        print("TUNNEL-REFUSED", head.split()[1])
except OSError as e:
    print("TUNNEL-FAILED", e)
try:  # around the proxy: nothing
    socket.create_connection(("127.0.0.1", port), timeout=5)
    print("DIRECT-REACHED")
except OSError:
    print("DIRECT-FAILED")
"""


@needs_bwrap
def test_an_allowlist_reaches_its_host_through_the_proxy_and_refusals_are_events(git_repo: Path, tmp_path: Path,
                                                                                 loopback_server: int) -> None:
    probe_py = git_repo / "netprobe.py"  # in the main checkout: readable inside the sandbox
    probe_py.write_text(PROBE)
    sup = make_sup(git_repo, f"""
[run]
name = "allow"
[defaults]
agent = "shell"
sandbox = "bwrap"
[[session]]
name = "listed"
network = ["127.0.0.1:{loopback_server}"]
command = "python3 {probe_py} {loopback_server}"
[[session]]
name = "unlisted"
network = ["api.anthropic.com", "*.example.com"]
command = "python3 {probe_py} {loopback_server}"
""", tmp_path)
    events = run_to_end(sup)
    said = {n: [ln.strip() for ln in sup.store.log_path(r.slug).read_text().splitlines()]
            for n, r in sup.state.sessions.items()}
    assert {"HTTP-REACHED", "TUNNEL-REACHED", "DIRECT-FAILED"} <= set(said["listed"]), said["listed"]
    assert {"HTTP-FAILED HTTPError 403", "TUNNEL-REFUSED 403", "DIRECT-FAILED"} <= set(said["unlisted"]), said
    refused = [e for e in events if e.kind == "network_refused"]
    assert {e.session for e in refused} == {"unlisted"}
    assert {(e.data["host"], e.data["port"]) for e in refused} == {("127.0.0.1", loopback_server)}
    assert all(e.payload() for e in refused)


def test_allowlist_matching() -> None:
    from cortex_tui.backends.sandbox_proxy import allowed

    assert allowed(["api.anthropic.com"], "API.anthropic.com", 443)
    assert allowed(["127.0.0.1:8080"], "127.0.0.1", 8080) and not allowed(["127.0.0.1:8080"], "127.0.0.1", 8081)
    assert allowed(["*.example.com"], "a.b.example.com", 443) and not allowed(["*.example.com"], "example.com.evil", 443)
    assert not allowed(["*.example.com"], "evilexample.com", 443)
    assert not allowed([], "anything", 1)


@pytest.mark.parametrize(("line", "path"), [
    ("sh: 1: cannot create docs/a.md: Read-only file system", "docs/a.md"),
    ("touch: cannot touch '/etc/x': Read-only file system", "/etc/x"),
    ("mkdir: cannot create directory ‘build’: Read-only file system", "build"),
    ("OSError: [Errno 30] Read-only file system: 'out/file.txt'", "out/file.txt"),
    ("bash: notes.txt: Read-only file system", "notes.txt"),
    ("all fine here", None),
])
def test_blocked_path_reads_the_refused_path_from_output(line: str, path: str | None) -> None:
    assert blocked_path(line) == path


def test_doctor_says_whether_bwrap_can_make_a_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from cortex_tui.doctor import bwrap_check

    c = bwrap_check()
    assert c.ok is (WHY is None) and not c.required
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-not-installed-here")
    sandbox.probe.cache_clear()
    try:
        missing = bwrap_check()
    finally:
        sandbox.probe.cache_clear()
    assert not missing.ok and not missing.present and "bubblewrap" in missing.hint


@needs_bwrap
def test_the_sim_agent_works_in_the_sandbox_events_and_commits(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, """
[run]
name = "ss"
[[session]]
name = "a"
agent = "sim"
sandbox = "bwrap"
scope_mode = "enforce"
scope = ["src/**"]
script = ["say starting", "write src/alpha.py A = 1", "commit alpha: add src/alpha.py", "tokens 100 20", "say done"]
""", tmp_path)
    run_to_end(sup)
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FINISHED, rec.reason
    assert git(git_repo, "show", f"{rec.branch}:src/alpha.py").strip() == "A = 1"
    assert rec.changed_files == ["src/alpha.py"] and not rec.active_triggers()
    assert rec.tokens is not None and (rec.tokens.input, rec.tokens.output) == (100, 20)  # its events file


@needs_bwrap
def test_a_sandboxed_window_is_the_runs_own_and_survives_a_reconcile(git_repo: Path, tmp_path: Path) -> None:
    """Regression: the sandbox node made its own Tmux without the run's id, so its windows had no
    @cortex_instance and the first periodic reconcile failed a live session as "tmux window vanished"."""
    gate = git_repo / "gate"  # the main checkout is seen from inside (read-only); tmp_path is behind its /tmp
    sup = make_sup(git_repo, f"""
[run]
name = "sr"
[[session]]
name = "a"
agent = "shell"
sandbox = "bwrap"
command = "while [ ! -e {gate} ]; do sleep 0.05; done; echo released"
""", tmp_path)
    seen: dict[str, object] = {}

    async def during(s: Supervisor) -> None:
        rec = s.state.sessions["a"]
        await wait_for(lambda: rec.state is SessionState.RUNNING and rec.window_id is not None, 30, "running")
        windows = await asyncio.to_thread(s.tmux.list_windows)
        seen["instances"] = [w.instance for w in windows if w.tag == "a"]
        node = s.nodes.get_for(rec)  # the sandbox is a Node kind wrapping the node that places it (#19)
        seen["node"] = (type(node).__name__, getattr(node, "inner", None) is s.nodes.local)
        await s.reconciler.run(windows)
        seen["after"] = (rec.state, rec.reason)
        gate.touch()

    run_to_end(sup, during=during)
    assert seen["instances"] == [sup.state.instance] and sup.state.instance
    assert seen["after"] == (SessionState.RUNNING, None)
    assert seen["node"] == ("SandboxNode", True)
    engine = Path(supervisor_module.__file__).parent  # and not a branch inside the engine: no engine module imports it
    assert not [p.name for p in engine.glob("*.py") if "cortex_tui.backends.sandbox_node" in p.read_text()]
    rec = sup.state.sessions["a"]
    assert rec.state is SessionState.FINISHED, rec.reason
    assert "released" in sup.store.log_path(rec.slug).read_text()
