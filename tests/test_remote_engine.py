"""Remote sessions through the engine, against a real sshd on loopback (the "node" is this machine,
with its own HOME, workdir and tmux socket dir)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end, triggers, wait_for
from sshd import SshServer

pytestmark = pytest.mark.ssh


def node_toml(sshd: SshServer) -> str:
    kw = sshd.node_kwargs()
    return (f'[[node]]\nname = "box1"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n')


def test_remote_sessions_finish_and_come_back_for_review(sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    text = f"""
[run]
name = "rem"
[defaults]
agent = "sim"
{node_toml(sshd)}
[[session]]
name = "far one"
node = "box1"
scope = ["src/**"]
verify = "test -f src/far.py && echo far-ok on $(hostname) in $(basename $(pwd))"
script = ["say hello from the node", "write src/far.py X = 1", "write docs/wander.md oops", "commit far: work"]
[[session]]
name = "far-two"
node = "box1"
memory_limit = "40MB"
verify = "echo checking; test -f missing.txt"
script = ["sleep 0.5", "write two.txt 2", "commit far: two", "tokens 10 20", "alloc 80", "busy 2"]  # CPU from /proc ticks (#18): two polls see a fraction of a second
[[session]]
name = "near"
script = ["write near.txt n", "commit near"]
"""
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=90)
    st = sup.state.sessions
    assert {n: r.state.value for n, r in st.items()} == {"far one": "finished", "far-two": "finished",
                                                          "near": "finished"}, {n: r.reason for n, r in st.items()}
    # branches fetched back into the local repo with the node's commits
    assert git(git_repo, "log", "-1", "--format=%s", st["far one"].branch).strip() == "far: work"
    assert git(git_repo, "log", "-1", "--format=%s", st["far-two"].branch).strip() == "far: two"
    assert st["far one"].worktree.startswith(str(sshd.workdir))  # it ran in the node's workdir
    log = (git_repo / "coordination/runs/rem/logs").glob("far-one-*.log")
    assert "hello from the node" in next(iter(log)).read_text()
    oos = triggers(events, "out_of_scope")
    assert [(e.session, e.data["evidence"]["path"]) for e in oos] == [("far one", "docs/wander.md")]
    assert st["far-two"].tokens is not None and st["far-two"].tokens.total == 30
    # the node's process table feeds CPU/RSS and the memory trigger like a local session's
    cpu = [e.data["cpu_percent"] for e in events if e.kind == "stats" and e.session == "far-two"
           and e.data.get("cpu_percent") is not None]
    assert cpu and max(cpu) > 10, cpu
    assert [e.session for e in triggers(events, "memory")] == ["far-two"]
    disk = [e.data["disk_bytes"] for e in events if e.kind == "stats" and e.session == "far-two"
            and e.data.get("disk_bytes")]
    assert disk and max(disk) > 4096, disk  # `du` of the node's worktree (a checkout plus .git file)
    assert sup.state.nodes["box1"]["reachable"] is True and sup.state.nodes["box1"]["latency_ms"] is not None
    # verify ran on the node, in the session's worktree there, and its result is in the review queue
    from cortex_tui.review.queue import ReviewQueue

    q = ReviewQueue.open(git_repo, None, "rem")
    far, two = q.get("far one"), q.get("far-two")
    assert far.verify is not None and far.verify.exit_code == 0 and "far-ok on" in far.verify.tail
    assert far.verify.tail.endswith(Path(st["far one"].worktree).name)  # it ran in the node's worktree
    assert far.verify.head == st["far one"].head_commit and far.ready
    assert two.verify is not None and two.verify.exit_code == 1 and two.verify.tail == "checking"
    assert far.verify.log_path and "far-ok" in Path(far.verify.log_path).read_text()  # full log copied home
    rev = [e for e in events if e.kind == "review" and e.session == "far-two"]
    assert rev and rev[-1].data["verify"]["exit_code"] == 1


def test_link_loss_marks_unknown_then_catches_up(sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    text = f"""
[run]
name = "link"
{node_toml(sshd)}
[[session]]
name = "survivor"
agent = "sim"
node = "box1"
script = ["say before", "sleep 4", "say during the outage", "sleep 3", "write s.txt s", "commit survived"]
"""
    sup = make_sup(git_repo, text, tmp_path)
    seen_unknown: list[str] = []

    async def during(s: object) -> None:
        rec = sup.state.sessions["survivor"]
        await wait_for(lambda: rec.state.value == "running" and "before" in _log(git_repo), 30, "running")
        await asyncio.to_thread(sshd.stop)  # cut the link: kills the listener and live connections
        await wait_for(lambda: rec.state.value == "unknown", 20, "unknown (link down)")
        seen_unknown.append(rec.reason or "")
        await asyncio.sleep(4)
        await asyncio.to_thread(sshd.start)

    events = run_to_end(sup, timeout=120, during=during)
    rec = sup.state.sessions["survivor"]
    assert seen_unknown and "link down" in seen_unknown[0]
    assert rec.state.value == "finished" and rec.exit_code == 0
    log = _log(git_repo)
    assert log.count("during the outage") == 1 and log.count("before") == 1  # caught up, nothing twice
    assert git(git_repo, "log", "-1", "--format=%s", rec.branch).strip() == "survived"
    assert [e.kind for e in events if e.kind in ("node_down", "node_up")] == ["node_down", "node_up"]
    assert sum(1 for e in events if e.kind == "spawned") == 1


def _log(repo: Path) -> str:
    p = repo / "coordination/runs/link/logs/survivor.log"
    return p.read_text(errors="replace") if p.exists() else ""


def test_doctor_node(sshd: SshServer, tmp_path: Path) -> None:
    from engine_helpers import cli

    layout = tmp_path / "n.toml"
    layout.write_text(f'[run]\nname = "d"\n{node_toml(sshd)}\n[[session]]\nname = "a"\nscript = ["say x"]\n')
    r = cli("doctor", "--node", "box1", "--layout", str(layout), check=False)
    assert "node box1" in r.stdout and "reachable   ok" in r.stdout and "tmux        ok" in r.stdout, r.stdout
    from cortex_tui.backends.sandbox import probe  # the loopback node is this machine: the same answer

    assert ("bwrap       ok   bubblewrap" in r.stdout) is (probe() is None), r.stdout
    assert r.returncode == 0, r.stdout + r.stderr
    sshd.stop()
    r = cli("doctor", "--node", "box1", "--layout", str(layout), check=False)
    assert r.returncode == 1 and "reachable   MISSING" in r.stdout, r.stdout


def test_remote_claude_transcript_is_mirrored_for_usage(sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    """A Claude Code session on a node: its hook events name a transcript on the node; the supervisor mirrors
    that file and reads usage from the mirror (a stand-in agent writes what the real CLI would)."""
    import json

    fixture = Path(__file__).parent / "fixtures/claude/transcript-interactive.jsonl"
    expected = json.loads((fixture.parent / "transcript-interactive.expected.json").read_text())["usage"]
    agent = (
        'd=$(dirname "$CORTEX_EVENTS_FILE"); t="$d/remote-transcript.jsonl"; '
        f'cp {fixture} "$t"; '
        'printf \'{"source":"claude-code","event":"Stop","payload":{"session_id":"s1","transcript_path":"%s"}}\\n\' '
        '"$t" >> "$CORTEX_EVENTS_FILE"; sleep 4'
    )
    text = f"""
[run]
name = "rcc"
{node_toml(sshd)}
[[session]]
name = "claude-far"
agent = "claude-code"
node = "box1"
model = "claude-sonnet-4-5-20250929"
command = {json.dumps(agent)}
"""
    sup = make_sup(git_repo, text, tmp_path)
    run_to_end(sup, timeout=60)
    rec = sup.state.sessions["claude-far"]
    assert rec.state.value == "finished", rec.reason
    assert rec.tokens is not None
    assert {k: rec.tokens.as_dict()[k] for k in expected} == expected
    assert rec.cost_usd is not None and rec.cost_usd > 0
    # the adapter read the local mirror, not the node's file
    local_events = (git_repo / "coordination/runs/rcc/sessions" / rec.slug / "events.jsonl").read_text()
    mirrored = json.loads(local_events.splitlines()[-1])["payload"]["transcript_path"]
    assert "/coordination/runs/rcc/sessions/" in mirrored and "/mirror/" in mirrored
    assert Path(mirrored).read_bytes() == fixture.read_bytes()


def test_a_remote_dependent_receives_its_dependencys_work(sshd: SshServer, git_repo: Path, tmp_path: Path) -> None:
    """#16: alpha runs on the node, its branch comes home; gamma (on the node too) depends on it and starts
    from alpha's head: the node is pushed that commit, and gamma's verify there finds alpha's file."""
    text = f"""
[run]
name = "remdep"
[defaults]
agent = "sim"
{node_toml(sshd)}
[[session]]
name = "alpha"
node = "box1"
script = ["write src/alpha.py A = 1", "commit alpha: add src/alpha.py"]
[[session]]
name = "beta"
script = ["write src/beta.py B = 1", "commit beta: add src/beta.py"]
[[session]]
name = "gamma"
node = "box1"
depends_on = ["alpha", "beta"]
verify = "test -f src/alpha.py && test -f src/beta.py && echo both-here"
script = ["write src/gamma.py G = 1", "commit gamma: on top"]
"""
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=120)
    st = sup.state.sessions
    assert {n: r.state.value for n, r in st.items()} == {"alpha": "finished", "beta": "finished",
                                                          "gamma": "finished"}, {n: r.reason for n, r in st.items()}
    alpha_head = git(git_repo, "rev-parse", st["alpha"].branch).strip()
    beta_head = git(git_repo, "rev-parse", st["beta"].branch).strip()
    assert st["gamma"].handover == {"alpha": alpha_head, "beta": beta_head}
    assert st["gamma"].worktree.startswith(str(sshd.workdir))  # it ran on the node
    ho = [e for e in events if e.kind == "handover" and e.session == "gamma"]
    assert ho and ho[0].data["method"] == "merge" and ho[0].data["merged"] == ["alpha", "beta"]
    # gamma's branch, fetched home, is built on both dependencies; its verify ran on the node and passed
    gamma = st["gamma"].branch
    for dep in (alpha_head, beta_head):
        assert subprocess.run(["git", "-C", str(git_repo), "merge-base", "--is-ancestor", dep, gamma]).returncode == 0
    from cortex_tui.review.queue import ReviewQueue

    e = ReviewQueue.open(git_repo, None, "remdep").get("gamma")
    assert e.verify is not None and e.verify.exit_code == 0 and "both-here" in e.verify.tail
    assert [c.split(":")[0] for c in e.commits[:1]] == ["gamma"]


def test_a_remote_dependents_conflict_is_resolved_here_then_runs_on_the_node(sshd: SshServer, git_repo: Path,
                                                                             tmp_path: Path) -> None:
    from cortex_tui.model.state import SessionState

    text = f"""
[run]
name = "remconf"
[defaults]
agent = "sim"
{node_toml(sshd)}
[[session]]
name = "left"
script = ["write src/app.py left", "commit left"]
[[session]]
name = "right"
script = ["write src/app.py right", "commit right"]
[[session]]
name = "join"
node = "box1"
depends_on = ["left", "right"]
verify = "grep -qx both src/app.py"
script = ["say joined on the node"]
"""
    sup = make_sup(git_repo, text, tmp_path)

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        rec = sup.state.sessions["join"]
        await wait_for(lambda: rec.state is SessionState.BLOCKED, 60, "join blocked")
        local = Path(rec.worktree)
        assert rec.blocked_paths == ["src/app.py"] and "<<<<<<<" in (local / "src" / "app.py").read_text()
        (local / "src" / "app.py").write_text("both\n")  # resolved here, where the human is
        git(local, "add", "src/app.py")
        await sup.continue_session("join")
        await wait_for(lambda: rec.state is SessionState.FINISHED and not rec.review_due, 90, "join finished")
        sup.request_stop()
        await asyncio.wait_for(task, 30)
        await sup.shutdown()
        assert not local.exists()  # the clean local checkout went before the branch was pushed to the node

    asyncio.run(main())
    j = sup.state.sessions["join"]
    assert j.worktree.startswith(str(sshd.workdir))
    parents = git(git_repo, "log", "-1", "--format=%P", j.base_commit or "").split()
    assert parents == [git(git_repo, "rev-parse", f"cortex/remconf/{n}").strip() for n in ("left", "right")]
    from cortex_tui.review.queue import ReviewQueue

    e = ReviewQueue.open(git_repo, None, "remconf").get("join")
    assert e.verify is not None and e.verify.exit_code == 0  # on the node, with the merge resolved here


def test_a_node_session_shorter_than_a_sample_still_shows_its_disk_use(sshd: SshServer, git_repo: Path,
                                                                        tmp_path: Path) -> None:
    """A node's worktree sizes are measured every DISK_S (30 s) on live sessions; one that wrote and exited on the
    node before its first measure ended with no size at all. The node's final look (the same round trip as its
    head and changed files) measures it with ``du -sk``, as this machine's does."""
    text = (f'[run]\nname = "shortnode"\n[defaults]\nagent = "sim"\n{node_toml(sshd)}'
            '[[session]]\nname = "first"\nnode = "box1"\nscript = ["sleep 2.5"]\n'  # "brief" starts after the
            '[[session]]\nname = "brief"\nnode = "box1"\ndepends_on = ["first"]\n'  # node's first measure
            'script = ["write big.txt ' + "x" * 9000 + '", "exit 0"]\n')
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=90)
    rec = sup.state.sessions["brief"]
    assert rec.state.value == "finished", rec.reason
    assert rec.worktree.startswith(str(sshd.workdir))  # it ran on the node
    sampled = [e for e in events if e.kind == "stats" and e.session == "brief" and e.data.get("disk_bytes")]
    assert not sampled  # (no periodic measure saw it: what the final look is for)
    assert rec.disk_bytes is not None and rec.disk_bytes >= 9000, rec.disk_bytes
