"""Warm slots on ssh nodes (#17): made on the node in the background over the ControlMaster with the setup run
there, refreshed when the base moves, never handed out stale, taken by a task placed on that node; adopted by
the next supervisor; removed by ``down``. A real sshd on loopback, real tmux and git, sim agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import git
from engine_helpers import cli, make_sup, run_to_end, wait_for
from sshd import SshServer
from test_pool_nodes import node_toml

from cortex_tui.backends import remote_warm as rw
from cortex_tui.backends.remote_node import make_remote_node
from cortex_tui.engine.remote_warm import NodeWarm
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.layout import NodeSpec
from cortex_tui.model.state import SessionRecord, SessionState

pytestmark = pytest.mark.ssh
SETUP = ["echo built >> .built"]


def ignore_built(repo: Path) -> str:
    (repo / ".gitignore").write_text(".built\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "ignore build output")
    return git(repo, "rev-parse", "HEAD").strip()


def head(path: Path | str) -> str:
    return git(Path(str(path)), "rev-parse", "HEAD").strip()


def test_node_slots_are_made_refreshed_claimed_exactly_adopted_and_swept(sshd: SshServer, git_repo: Path) -> None:
    bases = [ignore_built(git_repo)]
    spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}"], **sshd.node_kwargs())
    rn = make_remote_node(spec, "r", "cortex-r-warmtest")
    events: list[tuple[str | None, dict[str, Any]]] = []

    def emit(kind: str, session: str | None, **data: Any) -> None:
        events.append((session, data))

    def warm() -> NodeWarm:
        return NodeWarm(node="box1", remote=lambda: rn, repo=git_repo, run="r", count=2, base_commit=lambda: bases[-1],
                        emit=emit, setup=SETUP, env={}, checkout=None)  # type: ignore[arg-type]

    try:
        nw = warm()
        nw.fill()
        root = Path(str(rw.warm_root(rn)))
        assert root.is_relative_to(sshd.workdir)  # on the node (the loopback node's disk is this one's)
        slots = [Path(str(s.path)) for s in nw.ready]
        assert len(slots) == 2 and all(s.parent == root for s in slots)
        assert all(head(s) == bases[0] and (s / ".built").read_text() == "built\n" for s in slots)
        assert [d["action"] for _, d in events] == ["ready", "ready"] and all(d["node"] == "box1" for _, d in events)

        (git_repo / "new.txt").write_text("moved\n")  # the base moves: every slot follows, setup again
        git(git_repo, "add", "-A")
        git(git_repo, "commit", "-qm", "base moves")
        bases.append(head(git_repo))
        nw.fill()
        assert [Path(str(s.path)) for s in nw.ready] == slots
        assert all(head(s) == bases[1] and (s / "new.txt").exists() for s in slots)
        assert all((s / ".built").read_text() == "built\nbuilt\n" for s in slots)  # the setup ran again there
        assert [d["action"] for _, d in events].count("refreshed") == 2

        rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t", worktree=str(git_repo / "x/t"))
        assert nw.claim(rec, bases[1], SETUP)
        wt = Path(rec.worktree)
        assert wt == Path(str(rn.worktree_path("t"))) and wt == Path(str(rn.run_dir)) / "worktrees" / "t"
        assert git(wt, "rev-parse", "--abbrev-ref", "HEAD").strip() == "cortex/r/t" and head(wt) == bases[1]
        assert rec.setup_done and rec.base_commit == bases[1] and (wt / ".built").exists()
        bare = Path(str(rn.bare_repo(git_repo)))
        taken = wt.name
        assert f"cortex-warm/r/{slots[0].name}" not in git(bare, "branch", "--list")  # its warm branch went

        old = SessionRecord(name="u", slug="u", agent="sim", branch="cortex/r/u", worktree=str(git_repo / "x/u"))
        assert nw.claim(old, bases[0], SETUP)  # a task starting from the older base gets exactly that
        assert head(old.worktree) == bases[0] and not (Path(old.worktree) / "new.txt").exists()
        assert not old.setup_done  # the slot's setup ran at another commit: the task's own runs
        assert not nw.claim(SessionRecord(name="v", slug="v", agent="sim", branch="cortex/r/v",
                                          worktree=str(git_repo / "x/v")), bases[1], SETUP)  # none ready
        nw.fill()
        assert len(nw.ready) == 2

        again = warm()  # the next supervisor takes them up, makes none
        n = len(events)
        again.fill()
        assert sorted(s.name for s in again.ready) == sorted(s.name for s in nw.ready)
        assert [d["action"] for _, d in events[n:]] == []

        out = rw.sweep(rn, git_repo, bases[1])
        assert sorted(r.slot for r in out.removed) == sorted(s.name for s in nw.ready) and not out.kept, out
        assert not root.exists() and "cortex-warm/" not in git(bare, "branch", "--list")
        assert head(wt) == bases[1] and Path(old.worktree).is_dir()  # the tasks' worktrees are not warm slots
        assert taken == "t"
    finally:
        rn.transport.close()


def test_a_task_placed_on_a_node_takes_a_warm_slot_there_and_down_removes_them(sshd: SshServer, git_repo: Path,
                                                                               tmp_path: Path) -> None:
    base = ignore_built(git_repo)
    text = ('[run]\nname = "nwarm"\n[pool]\nsize = 1\nwarm = 1\nnode = "box1"\n[defaults]\nagent = "sim"\n'
            f'setup = {SETUP!r}\n'.replace("'", '"') + node_toml("box1", sshd)
            + "".join(f'[[session]]\nname = "t{i}"\nscript = ["ask Go on?", "write f{i}.txt {i}", "commit t{i}"]\n'
                      for i in range(2)))
    sup = make_sup(git_repo, text, tmp_path)

    async def during(s: Supervisor) -> None:  # t0 holds the pool's one slot until box1 has a warm slot ready
        nw = s.pool.node_warm["box1"]
        await wait_for(lambda: s.rt["t0"].rec.state is SessionState.WAITING and nw.status()["ready"] == 1,
                       timeout=90, what="t0 asks and box1 has a warm slot")
        await s.approve("t0")
        await wait_for(lambda: s.rt["t1"].rec.state is SessionState.WAITING, timeout=90, what="t1 asks")
        await s.approve("t1")

    events = run_to_end(sup, timeout=150, during=during)
    assert {n: rt.rec.state for n, rt in sup.rt.items()} == dict.fromkeys(sup.rt, SessionState.FINISHED)
    warm = [e for e in events if e.kind == "warm_slot" and e.data["action"] == "claimed"]
    claimed = [e.session for e in warm]
    assert "t1" in claimed and all(e.data.get("node") == "box1" for e in warm)  # t0 may start before it is ready
    setups = {e.session for e in events if e.kind == "setup"}
    for name in claimed:
        rec = sup.rt[name or ""].rec
        assert rec.node == "box1" and rec.setup_done and rec.base_commit == base
        assert name not in setups  # done ahead, in the slot
        assert Path(rec.worktree).is_relative_to(sshd.workdir) and (Path(rec.worktree) / ".built").exists()
        assert git(git_repo, "rev-parse", f"{rec.branch}~1").strip() == base  # its commit, fetched back
    status = sup.state.pool["warm"]["nodes"]["box1"]
    assert status["wanted"] == 1 and status["claimed"] == len(claimed)

    root = sshd.workdir / "runs" / "nwarm" / "warm"
    assert [d for d in root.glob("w-*") if d.is_dir()]  # kept for the next supervisor
    r = cli("down", "--repo", str(git_repo))
    assert "removed warm slot box1:w-" in r.stdout, r.stdout
    assert not root.exists()
    assert all(Path(sup.rt[f"t{i}"].rec.worktree).is_dir() for i in range(2))  # the sessions' worktrees stay


def test_clean_on_a_node_that_cannot_be_reached_says_so_and_keeps_going(sshd: SshServer, git_repo: Path) -> None:
    from cortex_tui.layout import parse_layout

    text = '[run]\nname = "r"\n[pool]\nsize = 1\nwarm = 1\n' + node_toml("box1", sshd)
    layout = parse_layout(text, git_repo / "l.toml").layout
    sshd.stop()  # the link is down
    out = rw.sweep_nodes(git_repo, layout, "r", "cortex-r-down", head(git_repo))
    assert out.removed == [] and len(out.errors) == 1 and out.errors[0].startswith("node box1: "), out
    assert "warm slots: node box1: " in "\n".join(out.lines())
