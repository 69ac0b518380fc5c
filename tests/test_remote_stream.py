"""Remote streaming (#18): each ssh node's watcher brings output, agent events and exit codes as they
happen; after a cut the poll catches up exactly once (byte offsets); hostile bytes arrive literally.
Real sshd on loopback, real tmux on the "node", the real watcher script."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end, triggers, wait_for
from sshd import SshServer
from test_remote_engine import node_toml

from cortex_tui.backends.remote_poll import parse_changed
from cortex_tui.backends.remote_stream import (
    MAX_LINE,
    BadRecord,
    ChangedRecord,
    DataRecord,
    ExitRecord,
    Hello,
    parse_record,
    watch_line,
    watcher_argv,
)
from cortex_tui.engine.node_stream import StreamStats
from cortex_tui.engine.supervisor import Supervisor


def _stream(sup: Supervisor) -> StreamStats:
    return sup.nodes.streams.stats_for("box1")


def _local_log(repo: Path, run: str, sup: Supervisor, name: str) -> bytes:
    return (repo / f"coordination/runs/{run}/logs/{sup.state.sessions[name].slug}.log").read_bytes()


@pytest.mark.ssh
def test_trigger_from_a_node_arrives_via_the_stream(sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    agent = ('sleep 2; for i in 1 2 3 4 5; do echo "Error: boom $i"; sleep 0.3; done; '
             'printf \'{"kind":"note","n":1}\\n\' >> "$CORTEX_EVENTS_FILE"; sleep 1; exit 3')
    text = f"""
[run]
name = "strm"
[defaults]
error_repeats = 1
{node_toml(sshd)}
[[session]]
name = "far"
agent = "shell"
node = "box1"
command = {json.dumps(agent)}
"""
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=90)
    rec = sup.state.sessions["far"]
    assert rec.exit_code == 3, rec.reason
    errs = [e.data["evidence"].get("line", "") for e in triggers(events, "repeated_error", "far")]
    assert errs, [e.data for e in events if e.kind == "trigger"]
    st = _stream(sup)
    # the stream carried the output (not only the poll): the code before streaming has no such path
    assert st.starts and st.log_bytes and st.records, st
    log = _local_log(git_repo, "strm", sup, "far")
    assert all(log.count(f"Error: boom {i}".encode()) == 1 for i in range(1, 6)), log
    assert sup.state.nodes["box1"]["stream"]["log_bytes"] > 0  # status shows it too


@pytest.mark.ssh
def test_out_of_scope_edit_on_a_node_arrives_via_the_stream(sshd: SshServer, git_repo: Path,
                                                            tmp_path: Path) -> None:
    """Worktree changes on a node come over the watcher too (not only with the 1 s poll): each of five edits
    outside the scope raises out_of_scope exactly once, whichever of stream and poll saw it first, and the
    stream brought at least one of them (five in a row lost to the poll would be the poll alone)."""
    agent = ('sleep 2; mkdir -p docs src; for i in 1 2 3 4 5; do echo "w $i" > docs/w$i.md; sleep 0.4; done; '
             'echo ok > src/in.py; sleep 1.5')
    text = f"""
[run]
name = "wts"
{node_toml(sshd)}
[[session]]
name = "far"
agent = "shell"
node = "box1"
scope = ["src/**"]
command = {json.dumps(agent)}
"""
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=90)
    rec = sup.state.sessions["far"]
    assert rec.exit_code == 0, rec.reason
    oos = sorted(e.data["evidence"]["path"] for e in triggers(events, "out_of_scope", "far"))
    assert oos == [f"docs/w{i}.md" for i in range(1, 6)], oos
    st = _stream(sup)
    assert st.changes >= 1, st  # the code before streamed worktree changes has only the poll
    assert sup.state.nodes["box1"]["stream"]["changes"] == st.changes


@pytest.mark.ssh
@pytest.mark.parametrize("cut", ["watcher", "master"])
def test_cut_stream_poll_catches_up_once_and_hostile_bytes_arrive_literally(
        sshd: SshServer, git_repo: Path, tmp_path: Path, cut: str) -> None:
    hostile = r'\033]0;pwn\007\033[2J"}\n{"id":"x","at":0,"data":"AAAA"}\n\377\376\001 $(touch /tmp/nope) `id`\r\n'
    agent = (f"printf '{hostile}'; "
             'i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo "tick $i"; sleep 0.25; done; '
             f"printf '{hostile}'; sleep 1")
    text = f"""
[run]
name = "cut"
{node_toml(sshd)}
[[session]]
name = "ticker"
agent = "shell"
node = "box1"
command = {json.dumps(agent)}
"""
    sup = make_sup(git_repo, text, tmp_path)
    seen: dict[str, int] = {}

    async def during(s: object) -> None:
        await wait_for(lambda: _stream(sup).log_bytes, 60, "the stream bringing output")
        proc = sup.nodes.streams.process("box1")
        assert proc is not None
        before = dataclasses.replace(_stream(sup))
        if cut == "watcher":
            proc.kill()  # cut the stream only: the link stays up, the poll catches up until the watcher is back
        else:  # kill the ControlMaster: the watcher's channel dies with it; the next poll reconnects
            transport = sup.nodes.get("box1").remote.transport  # type: ignore[attr-defined]
            pid = transport.master_pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        await wait_for(lambda: _stream(sup).starts > before.starts and _stream(sup).up, 60, "the watcher restarted")
        seen["poll_before"] = before.poll_log_bytes
        seen["poll_after_restart"] = _stream(sup).poll_log_bytes
        seen["stream_at_restart"] = _stream(sup).log_bytes

    run_to_end(sup, timeout=120, during=during)
    rec = sup.state.sessions["ticker"]
    assert rec.state.value == "finished" and rec.exit_code == 0, rec.reason
    st = _stream(sup)
    assert seen["poll_after_restart"] > seen["poll_before"], (seen, st)  # the poll brought what the cut missed
    assert st.log_bytes > seen["stream_at_restart"], (seen, st)
    log = _local_log(git_repo, "cut", sup, "ticker")
    ticks = [int(line.split()[1]) for line in log.decode(errors="replace").splitlines() if line.startswith("tick ")]
    assert ticks == list(range(1, 31)), ticks  # exactly once each, in order
    node_log = (sshd.workdir / "runs/cut/logs" / f"{rec.slug}.log").read_bytes()
    assert node_log and log.endswith(node_log), "the local mirror is the node's log, byte for byte"
    assert node_log.count(b"\x1b]0;pwn\x07") == 2 and b"\xff\xfe\x01" in node_log
    assert not Path("/tmp/nope").exists()


def test_watcher_protocol_on_real_files(tmp_path: Path) -> None:
    """The watcher script itself (run by this python, as on a node): offsets, whole event lines, the exit
    record after the output, resuming from a given offset."""
    logf, evf, exf = tmp_path / "a.log", tmp_path / "ev.jsonl", tmp_path / "a.code"
    logf.write_bytes(b"old\x00\xffNEW")
    evf.write_bytes(b'{"a":1}\n{"b":')
    proc = subprocess.Popen(watcher_argv(sys.executable), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(watch_line([("s.1:log", str(logf), 5, "bytes", ""), ("s.1:events", str(evf), 0, "lines", ""),
                                     ("s.1:exit", str(exf), 0, "exit", "")]))
        proc.stdin.flush()
        recs = [parse_record(proc.stdout.readline())]
        assert isinstance(recs[0], Hello)
        got: dict[str, bytes] = {"s.1:log": b"", "s.1:events": b""}

        def read_until(pred: object) -> None:
            for _ in range(100):  # records, not time: a watcher that says nothing fails on pytest's timeout
                if pred():  # type: ignore[operator]
                    return
                r = parse_record(proc.stdout.readline())  # type: ignore[union-attr]
                recs.append(r)
                if isinstance(r, DataRecord):
                    assert r.at == 5 + len(got[r.id]) if r.id.endswith("log") else r.at == len(got[r.id])
                    got[r.id] += r.payload()
            raise AssertionError(f"not seen in 100 records: {recs}")

        read_until(lambda: got["s.1:log"] == b"NEW" and got["s.1:events"] == b'{"a":1}\n')
        with open(evf, "ab") as f:
            f.write(b'2}\n')
        with open(logf, "ab") as f:
            f.write(b"\nmore\n")
        exf.write_text("7\n")
        read_until(lambda: isinstance(recs[-1], ExitRecord))
        ex = recs[-1]
        assert isinstance(ex, ExitRecord) and ex.code == 7 and ex.log_at == logf.stat().st_size
        assert got["s.1:log"] == b"NEW\nmore\n" and got["s.1:events"] == b'{"a":1}\n{"b":2}\n'
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0  # stdin EOF ends the watcher


@pytest.mark.parametrize("line", [
    b'{"id":"x","at":0,"data":"!!!!"}',  # not base64
    b'{"id":"x","at":-1,"data":""}',
    b'{"id":"x","at":0,"data":"","extra":1}',
    b'{"id":"x","exit":"1"}',
    b"\x1b]0;pwn\x07",
    b'{"id":"x","at":0,"data":"' + b"A" * (MAX_LINE + 4) + b'"}',
], ids=["base64", "negative", "extra", "no-log-at", "escape", "huge"])
def test_bad_records_are_refused(line: bytes) -> None:
    with pytest.raises(BadRecord):
        parse_record(line)


def test_records_parse() -> None:
    r = parse_record(b'{"id":"s.1:log","at":3,"data":"G10wOw=="}\n')
    assert isinstance(r, DataRecord) and r.payload() == b"\x1b]0;"
    e = parse_record(b'{"id":"s.1:exit","exit":"x; rm -rf /","log_at":0}')
    assert isinstance(e, ExitRecord) and e.code is None


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "walk"])
def test_watcher_streams_worktree_changes(tmp_path: Path, inotify: bool) -> None:
    """A watched worktree (as on a node): what differs from the base when the watch begins, then each touched
    path that differs comes in a changed record — new files, edits, deletions, a new directory's files, hostile
    names — and nothing for ignored files or the checkout itself. Both ways of watching: inotify, and the mtime walk of a node without it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "keep.txt").write_text("k\n")
    (repo / "gone.txt").write_text("g\n")
    (repo / ".gitignore").write_text("*.log\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-qm", "init")
    base = _git(repo, "rev-parse", "HEAD").strip()
    wt = tmp_path / "wt"
    _git(repo, "worktree", "add", "-q", "-b", "s", str(wt), "main")
    proc = subprocess.Popen(watcher_argv(sys.executable, inotify=inotify), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    seen: dict[str, str] = {}
    recs: list[object] = []

    def until(want: dict[str, str]) -> None:
        for _ in range(50):  # records, not time: a watcher that says nothing fails on pytest's timeout
            if all(seen.get(p) == k for p, k in want.items()):
                return
            r = parse_record(proc.stdout.readline())  # type: ignore[union-attr]
            recs.append(r)
            if isinstance(r, ChangedRecord):
                assert r.id == "s.1:tree"
                seen.update(parse_changed(r.payload()))
        raise AssertionError(f"not seen in 50 records: {want} (have {seen}, {recs})")

    try:
        (wt / "early.md").write_text("before the watch\n")
        proc.stdin.write(watch_line([("s.1:tree", str(wt), 0, "tree", base)]))
        proc.stdin.flush()
        assert isinstance(parse_record(proc.stdout.readline()), Hello)
        until({"early.md": "added"})  # the first look at the whole tree, once the watch is up
        hostile = ':(glob)*\n"$(touch nope)".py'
        (wt / "build.log").write_text("ignored\n")
        (wt / "out.md").write_text("outside\n")
        until({"out.md": "added"})
        (wt / "keep.txt").write_text("changed\n")
        (wt / "gone.txt").unlink()
        until({"keep.txt": "modified", "gone.txt": "deleted"})
        (wt / "pkg" / "deep").mkdir(parents=True)
        (wt / "pkg" / "deep" / "mod.py").write_text("x = 1\n")
        (wt / hostile).write_text("h\n")
        until({"pkg/deep/mod.py": "added", hostile: "added"})
        (wt / "pkg" / "deep" / "two.py").write_text("y = 2\n")  # in a directory made after the watch began
        until({"pkg/deep/two.py": "added"})
        assert "build.log" not in seen and not (wt / "nope").exists() and not Path("nope").exists()
        assert set(seen) == {"early.md", "out.md", "keep.txt", "gone.txt", "pkg/deep/mod.py", hostile,
                             "pkg/deep/two.py"}
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
