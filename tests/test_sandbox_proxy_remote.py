"""A sandbox's network allowlist on an ssh node (issue #19): a real sshd on loopback (the "node" is this machine with
its own HOME and workdir), real bwrap, tmux, git and real connections from inside the node's sandbox. The proxy and
its forwarder are uploaded beside the sandbox launcher and run by the node's ``python -I -S`` (no cortex-tui
importable there); its refusals reach the supervisor through the node's log as ``network_refused`` events."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end
from sshd import SshServer
from test_isolation_remote import _log, needs_bwrap, node_toml

from cortex_tui.backends import sandbox, sandbox_proxy
from cortex_tui.model.state import SessionState

PROBE = r"""
import sys, urllib.request

for tag, port in (("ALLOWED", sys.argv[1]), ("OTHER", sys.argv[2])):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        print(tag + "-REACHED", flush=True)
    except Exception as e:
        print(tag + "-FAILED", type(e).__name__, getattr(e, "code", ""), flush=True)
try:
    import cortex_tui
    print("CORTEX-IMPORTABLE", cortex_tui.__file__, flush=True)
except ImportError:
    print("CORTEX-NOT-IMPORTABLE", flush=True)
"""


def _server() -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def two_servers() -> Iterator[tuple[int, int]]:
    a, b = _server(), _server()
    yield a.server_address[1], b.server_address[1]
    for s in (a, b):
        s.shutdown()
        s.server_close()


def test_the_proxy_keeps_the_refusal_mark_the_engine_reads() -> None:
    # each module is uploaded alone to a node, so each keeps its own copy of the mark
    assert sandbox_proxy.REFUSED_MARK == sandbox.REFUSED_MARK
    line = f"{sandbox_proxy.REFUSED_MARK}127.0.0.1:81 (not in the allowlist)"
    assert sandbox.refused_target(line) == ("127.0.0.1", 81)


@needs_bwrap
def test_a_network_allowlist_on_an_ssh_node_reaches_only_what_it_lists(sshd: SshServer, git_repo: Path,
                                                                       tmp_path: Path,
                                                                       two_servers: tuple[int, int]) -> None:
    allowed, other = two_servers
    (git_repo / "netprobe.py").write_text(PROBE)  # committed: in the node's worktree, readable in its sandbox
    git(git_repo, "add", "netprobe.py")
    git(git_repo, "commit", "-qm", "netprobe")
    sup = make_sup(git_repo, f"""
[run]
name = "rp"
{node_toml(sshd)}
[[session]]
name = "net"
agent = "shell"
node = "box1"
sandbox = "bwrap"
network = ["127.0.0.1:{allowed}"]
command = "python3 netprobe.py {allowed} {other}; echo PROXY=$HTTPS_PROXY"
""", tmp_path)
    events = run_to_end(sup, timeout=120)
    rec = sup.state.sessions["net"]
    assert rec.state is SessionState.FINISHED, rec.reason
    assert rec.sandbox == "bwrap" and rec.worktree.startswith(str(sshd.workdir))  # the node's worktree
    log = _log(sup, rec.slug)
    said = [ln.strip() for ln in log.splitlines()]
    # the allowlisted loopback server is reached through the node's proxy; the other one is refused with a 403
    assert "ALLOWED-REACHED" in said and "OTHER-FAILED HTTPError 403" in said, log[-3000:]
    assert f"PROXY=http://127.0.0.1:{sandbox_proxy.PROXY_PORT}" in said
    # the refusal is a line of the node's log, streamed back, and the supervisor's network_refused event
    assert f"{sandbox.REFUSED_MARK}127.0.0.1:{other} (not in the allowlist)" in log
    refused = [(e.data["host"], e.data["port"]) for e in events if e.kind == "network_refused"]
    assert refused == [("127.0.0.1", other)], refused
    # the node ran stdlib-only copies: nothing of cortex-tui is importable in its sandbox
    assert "CORTEX-NOT-IMPORTABLE" in said
    uploaded = sorted(p.name.rsplit("-", 1)[0] for p in (sshd.workdir / "lib").glob("*.py"))
    assert uploaded == ["cortex-sandbox", "cortex-sandbox-fwd", "cortex-sandbox-proxy", "cortex-sandbox-state"]


def test_the_proxy_runs_alone_with_python_S_and_refuses_a_directory_not_private_to_it(tmp_path: Path) -> None:
    # a copy outside the package, as on a node: no cortex-tui importable (-I -S)
    copy = tmp_path / "lib" / "cortex-sandbox-proxy-x.py"
    copy.parent.mkdir()
    copy.write_bytes(Path(str(sandbox_proxy.__file__)).read_bytes())
    log = tmp_path / "s.log"

    def run(where: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-I", "-S", str(copy), str(where), str(log), '["example.com"]', "--",
                               *cmd], capture_output=True, text=True, timeout=60)

    fresh = tmp_path / "net-fresh"
    ok = run(fresh, sys.executable, "-I", "-S", "-c",
             f"import os, stat, sys; m = os.stat({str(fresh / sandbox_proxy.SOCKET)!r}).st_mode; "
             "sys.exit(0 if stat.S_ISSOCK(m) else 9)")
    assert ok.returncode == 0, ok.stderr  # the socket served while the child ran, the directory gone after it
    assert not fresh.exists()
    shared = tmp_path / "net-shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    bad = run(shared, "touch", str(tmp_path / "child-ran"))
    assert bad.returncode == 126 and "is not a private directory of this user" in bad.stderr, bad.stderr
    assert not (tmp_path / "child-ran").exists()  # the agent never runs without its proxy
