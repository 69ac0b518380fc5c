"""SSH transport and remote node against a real sshd on loopback (tests/sshd.py)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import git, wait_until
from sshd import SshServer, free_port

import cortex_tui
from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.ssh import (
    SshAuthError,
    SshHostKeyError,
    SshTransport,
    SshUnreachable,
    stop_stream,
)
from cortex_tui.model.layout import NodeSpec

pytest_plugins = ["sshd"]  # the `sshd` fixture (also registered from tests/conftest.py)
pytestmark = pytest.mark.ssh

PYTHONPATH = str(Path(cortex_tui.__file__).resolve().parent.parent)
HOSTILE = [
    "two words", "it's", 'say "hi"', "$HOME", "${PATH}", "$(touch {canary})", "`touch {canary}`",
    "; touch {canary}", "&& touch {canary}", "| touch {canary}", "x\ntouch {canary}", "'; touch {canary}; '",
    '"; touch {canary}; "', "back\\slash\\", "*", "~", "-n", "--", "#not a comment", "trailing;", "tab\there",
    "%s %d", "é ☃ unicode", "", " ", "\\", "!event", "{a,b}", ">{canary}",
]


def make_transport(sshd: SshServer, tmp_path: Path, **node_kw: object) -> SshTransport:
    kw: dict[str, object] = {"name": "box1", **sshd.node_kwargs(), **node_kw}
    known = kw.pop("known_hosts", sshd.known_hosts)
    assert known is None or isinstance(known, Path)
    return SshTransport(NodeSpec.model_validate(kw), tmp_path / "ctl", known, config_file="none",
                        alive_interval=1, alive_count_max=2, connect_timeout=5)


@pytest.fixture
def transport(sshd: SshServer, tmp_path: Path) -> Iterator[SshTransport]:
    t = make_transport(sshd, tmp_path)
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def node(transport: SshTransport) -> RemoteNode:
    rn = RemoteNode(transport, "r1", socket=f"cortex-test-{os.getpid()}")
    rn.setup()
    return rn


def sim_argv(rn: RemoteNode, slug: str, steps: list[str], name: str = "s1") -> list[str]:
    script = rn.session_dir(slug) / "script.json"
    rn.put_file(script, json.dumps(steps).encode())
    return [rn.node.python, "-m", "cortex_tui.agents.sim", "--script-file", str(script), "--name", name]


def accepted_logins(sshd: SshServer) -> int:
    return sshd.log_file.read_text(errors="replace").count("Accepted publickey")


# transport ----------------------------------------------------------------------------------------
def test_one_master_connection_is_reused(sshd: SshServer, transport: SshTransport) -> None:
    t0 = time.perf_counter()
    transport.connect()
    connect_ms = (time.perf_counter() - t0) * 1000
    pid = transport.master_pid()
    assert pid is not None and transport.is_connected()
    assert transport.control_path.is_socket() and len(str(transport.control_path)) <= 100
    samples = []
    for i in range(5):
        t0 = time.perf_counter()
        r = transport.run(["echo", f"run {i}"])
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.returncode == 0 and r.stdout == f"run {i}\n"
    transport.connect()  # no-op while the master lives
    assert transport.master_pid() == pid
    assert accepted_logins(sshd) == 1, "every command must ride the one master connection"
    assert statistics.median(samples) < connect_ms
    latency = transport.ping()
    assert latency is not None and latency > 0
    transport.close()
    assert not transport.is_connected() and transport.ping() is None
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               timeout=5, what="master exited")


def test_hostile_arguments_reach_the_node_literally(sshd: SshServer, transport: SshTransport) -> None:
    canary = sshd.workdir / "CANARY"
    values = [v.replace("{canary}", str(canary)) for v in HOSTILE]
    for v in values:
        rb = transport.run_bytes(["printf", "%s", v])
        assert rb.returncode == 0, (v, rb.stderr)
        assert rb.stdout == v.encode(), v
    r = transport.run([sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *values])
    assert json.loads(r.stdout) == values
    r = transport.run(["cat"], input="".join(values))  # stdin passes through untouched too
    assert r.stdout == "".join(values)
    assert not canary.exists(), "a hostile argument was executed by the remote shell"


def test_hostile_names_in_remote_tmux(sshd: SshServer, node: RemoteNode) -> None:
    canary = sshd.workdir / "CANARY"
    name = f"it's \"x\" $(touch {canary}) `touch {canary}` ; #1 ;"
    text = f"hi $(touch {canary}); 'q' \"d\" `x` #h ;"
    argv = sim_argv(node, "hostile", ["listen 20"], name=name)
    sp = node.spawn(name=name, slug="hostile", argv=argv, env={"PYTHONPATH": PYTHONPATH, "EVIL": f"$(touch {canary})"},
                    cwd=node.workdir)
    wins = [w for w in node.list_windows() if w.tag == name]
    assert len(wins) == 1 and wins[0].name == name
    wait_until(lambda: b"cortex sim agent" in node.read_log("hostile", sp.log_offset), what="sim started")
    node.send_keys(sp.window.pane_id, [("literal", text), ("key", "Enter")])
    wait_until(lambda: f"received: {text}".encode() in node.read_log("hostile", sp.log_offset), what="echo")
    # a restart replaces the window found by its (hostile) tag: never two windows for one session
    sp2 = node.spawn(name=name, slug="hostile", argv=argv, env={"PYTHONPATH": PYTHONPATH}, cwd=node.workdir,
                     header=f"restart $(touch {canary})")
    assert [w.window_id for w in node.list_windows() if w.tag == name] == [sp2.window.window_id]
    assert sp2.window.window_id != sp.window.window_id and sp2.log_offset > sp.log_offset
    assert not canary.exists()


def test_connection_errors_are_classified(sshd: SshServer, tmp_path: Path) -> None:
    # unknown host key under the strict default
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(SshHostKeyError) as ei:
        make_transport(sshd, tmp_path / "a", known_hosts=empty).connect()
    assert "accept-new" in (ei.value.hint or "")
    # accept-new learns it on first contact, and later connections check it
    t = make_transport(sshd, tmp_path / "b", known_hosts=empty, host_key_policy="accept-new")
    t.connect()
    assert "ssh-ed25519" in empty.read_text()
    t.close()
    # a different key for the same host: mismatch
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[{sshd.host}]:{sshd.port} " + " ".join(Path(f"{other}.pub").read_text().split()[:2]) + "\n")
    with pytest.raises(SshHostKeyError) as ei2:
        make_transport(sshd, tmp_path / "c", known_hosts=wrong).connect()
    assert "does not match" in ei2.value.message
    # a key the node does not authorize
    with pytest.raises(SshAuthError) as ei3:
        make_transport(sshd, tmp_path / "d", identity=str(other)).connect()
    assert "authorized_keys" in (ei3.value.hint or "")
    # nothing listening
    with pytest.raises(SshUnreachable):
        make_transport(sshd, tmp_path / "e", port=free_port()).connect()


def test_attach_argv_is_well_formed(node: RemoteNode) -> None:
    node.ensure_server()
    argv = node.attach_argv("@7")
    assert argv[0].endswith("ssh") and "-t" in argv and "-T" not in argv
    dd = argv.index("--")
    assert argv[dd + 1] == node.node.host
    assert shlex.split(argv[-1]) == ["tmux", "-u", "-L", node.tmux.socket, "select-window", "-t", "@7", ";",
                                     "attach-session", "-t", "=cortex"]
    # ssh itself accepts every option (-G prints the resolved config without connecting)
    g = subprocess.run([*argv[:dd], "-G", *argv[dd:dd + 2]], capture_output=True, text=True, check=True).stdout
    assert f"port {node.node.port}" in g and f"controlpath {node.transport.control_path}" in g
    # and the remote tmux command line is valid there: same server and target, non-interactive command
    r = node.transport.run([*shlex.split(argv[-1])[:4], "has-session", "-t", "=cortex"])
    assert r.returncode == 0, r.stderr


# remote sessions ----------------------------------------------------------------------------------
def test_remote_session_pushes_runs_and_fetches_back(sshd: SshServer, tmp_path: Path, git_repo: Path) -> None:
    # a node workdir with spaces, quotes and a `$` exercises every path through git, tmux and the shell
    t = make_transport(sshd, tmp_path, workdir=f"{sshd.workdir}/node dir $HOME 'q'")
    try:
        rn = RemoteNode(t, "r1", socket=f"cortex-test-{os.getpid()}")
        wd = rn.setup()
        assert str(wd).endswith("node dir $HOME 'q'")
        base = git(git_repo, "rev-parse", "HEAD").strip()
        wt = rn.prepare_worktree(git_repo, "cortex/s1", base, "s1")
        assert (Path(str(wt)) / "src" / "app.py").read_text() == "print('hello')\n"
        assert rn.prepare_worktree(git_repo, "cortex/s1", base, "s1") == wt  # idempotent
        argv = sim_argv(rn, "s1", ["say working", "write src/new.py x = 1", "commit add new module", "say done"])
        sp = rn.spawn(name="s1", slug="s1", argv=argv, env={"PYTHONPATH": PYTHONPATH}, cwd=wt, header="── attempt 1")
        wait_until(lambda: rn.exit_code("s1") is not None, timeout=20, what="remote sim exit")
        assert rn.exit_code("s1") == 0
        wins = [w for w in rn.list_windows() if w.tag == "s1"]
        assert len(wins) == 1 and wins[0].dead
        out = rn.read_log("s1", sp.log_offset)
        assert b"Committed: add new module" in out and b"attempt 1" not in out
        assert not rn.worktree_dirty("s1")
        assert git_repo.joinpath("src", "new.py").exists() is False
        head = rn.fetch_branch(git_repo, "cortex/s1")
        assert git(git_repo, "rev-parse", "cortex/s1").strip() == head
        assert git(git_repo, "log", "-1", "--format=%s", "cortex/s1").strip() == "add new module"
        assert git(git_repo, "show", "cortex/s1:src/new.py") == "x = 1\n"
        assert git(git_repo, "merge-base", "cortex/s1", "main").strip() == base
    finally:
        t.close()


def test_link_loss_agent_survives_and_log_catches_up(sshd: SshServer, node: RemoteNode, git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "HEAD").strip()
    wt = node.prepare_worktree(git_repo, "cortex/ll", base, "ll")
    steps = [s for i in range(1, 16) for s in (f"say tick {i}", "sleep 0.3")] + ["commit tick tock", "say finished"]
    sp = node.spawn(name="ll", slug="ll", argv=sim_argv(node, "ll", steps), env={"PYTHONPATH": PYTHONPATH}, cwd=wt)
    local_log = Path(sp.log_path)  # the "node" is this machine: its disk is readable directly
    seen = b""

    def got(marker: bytes) -> bool:
        nonlocal seen
        seen += node.read_log("ll", sp.log_offset + len(seen))
        return marker in seen

    wait_until(lambda: got(b"tick 2"), what="tick 2 over ssh")
    stream = node.stream_log("ll", sp.log_offset + len(seen))
    assert stream.stdout is not None
    os.set_blocking(stream.stdout.fileno(), False)
    first: list[bytes] = []
    # the stream's own connection must be up before the cut (else sshd may fork it after we listed them)
    out = stream.stdout

    def delivered() -> bool:
        first.append(out.read() or b"")
        return b"tick" in b"".join(first)

    wait_until(delivered, what="the stream delivers")
    master = node.transport.master_pid()
    assert master is not None

    # cut the link: kill the master, stop sshd (drops every connection)
    os.kill(master, signal.SIGKILL)
    sshd.stop()
    assert not node.transport.is_connected() and node.transport.ping() is None
    with pytest.raises(SshUnreachable):
        node.list_windows()  # link down is an error, never "no windows"
    stream.wait(timeout=10)  # the stream ends with the link
    stop_stream(stream)
    wait_until(lambda: b"tick 6" in local_log.read_bytes(), what="agent keeps running during the outage")

    sshd.start()
    node.transport.connect()
    assert node.transport.master_pid() not in (None, master)
    polled = node.read_logs({"ll": sp.log_offset + len(seen), "nope": 0})  # all sessions, one round trip
    assert polled["nope"] == b""
    missed = polled["ll"]
    assert node.read_log("ll", sp.log_offset + len(seen)).startswith(missed)
    assert b"tick 5" in missed and b"tick 2\r" not in missed
    full = local_log.read_bytes()[sp.log_offset:]
    assert full.startswith(seen + missed), "catch-up must continue exactly at the saved offset"
    seen += missed
    # no orphan `tail -F` left on the node by the stream that died with the link
    tails = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and p.info["cmdline"][0] == "tail"
             and sp.log_path in p.info["cmdline"]]
    assert tails == []

    # the live stream resumes from the offset until the agent finishes
    stream = node.stream_log("ll", sp.log_offset + len(seen))
    assert stream.stdout is not None
    os.set_blocking(stream.stdout.fileno(), False)
    tail = b""

    def streamed() -> bool:
        nonlocal tail
        tail += stream.stdout.read() or b""  # type: ignore[union-attr]
        return b"finished" in tail

    wait_until(streamed, timeout=20, what="streamed to the end")
    stop_stream(stream)
    assert (seen + tail).count(b"tick 1\r") == 1 and (seen + tail).count(b"tick 15") == 1
    wait_until(lambda: node.exit_code("ll") == 0, what="exit code on the node")
    assert [w.tag for w in node.list_windows()].count("ll") == 1  # nothing spawned twice
    node.fetch_branch(git_repo, "cortex/ll")
    assert git(git_repo, "log", "-1", "--format=%s", "cortex/ll").strip() == "tick tock"
