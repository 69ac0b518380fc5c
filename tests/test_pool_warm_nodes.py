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
        listed = git(bare, "worktree", "list", "--porcelain")
        assert f"worktree {wt}\n" in listed and f"worktree {slots[0]}\n" not in listed  # git knows where it went
        assert not git(wt, "status", "--porcelain").strip()
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
    rn = sup.nodes.get("box1").ready()  # type: ignore[attr-defined]
    idle = [w.window_id for w in rn.list_windows() if w.warm]
    assert len(idle) == 1  # the kept slot's idle window on the node
    r = cli("down", "--repo", str(git_repo))
    assert "removed warm slot box1:w-" in r.stdout, r.stdout
    assert not root.exists()
    assert f"closed the idle window {idle[0]} of a warm slot" in r.stdout, r.stdout
    assert not [w for w in rn.list_windows() if w.warm]  # closed with it (down stops this machine's server only)
    rn.kill_server()
    assert all(Path(sup.rt[f"t{i}"].rec.worktree).is_dir() for i in range(2))  # the sessions' worktrees stay


def test_clean_on_a_node_that_cannot_be_reached_says_so_and_keeps_going(sshd: SshServer, git_repo: Path) -> None:
    from cortex_tui.layout import parse_layout

    text = '[run]\nname = "r"\n[pool]\nsize = 1\nwarm = 1\n' + node_toml("box1", sshd)
    layout = parse_layout(text, git_repo / "l.toml").layout
    sshd.stop()  # the link is down
    out = rw.sweep_nodes(git_repo, layout, "r", "cortex-r-down", head(git_repo))
    assert out.removed == [] and len(out.errors) == 1 and out.errors[0].startswith("node box1: "), out
    assert "warm slots: node box1: " in "\n".join(out.lines())


def node_windows(rn: Any) -> dict[str, Any]:
    return {w.window_id: w for w in rn.list_windows()}


HOSTILE = "t1 #{pane_pid} $(touch pwned) `touch pwned`;"
"""A session name that would run a command or expand in a shell or a tmux format if it reached one raw."""


def test_a_task_on_a_node_starts_its_agent_in_the_warm_slots_window_made_ahead(sshd: SshServer, git_repo: Path,
                                                                              tmp_path: Path) -> None:
    base = ignore_built(git_repo)
    text = ('[run]\nname = "nwin"\n[pool]\nsize = 1\nwarm = 1\nnode = "box1"\n[defaults]\nagent = "sim"\n'
            f'setup = {SETUP!r}\n'.replace("'", '"') + node_toml("box1", sshd)
            + '[[session]]\nname = "t0"\nscript = ["ask Go on?", "write f0.txt 0", "commit t0"]\n'
            + f"[[session]]\nname = '{HOSTILE}'\nscript = [\"say hello from the warm window\", \"write f1.txt 1\", "
              '"commit t1"]\n')
    sup = make_sup(git_repo, text, tmp_path)
    ahead: dict[str, Any] = {}

    async def during(s: Supervisor) -> None:  # t0 holds the pool's one slot until box1's slot has its window
        nw = s.pool.node_warm["box1"]
        await wait_for(lambda: s.rt["t0"].rec.state is SessionState.WAITING and nw.status()["windows"] == 1,
                       timeout=90, what="t0 asks and box1 has a warm slot with its window")
        rn = s.nodes.get("box1").ready()  # type: ignore[attr-defined]
        ahead.update({wid: w for wid, w in node_windows(rn).items() if w.warm})
        await s.approve("t0")

    events = run_to_end(sup, timeout=150, during=during)
    assert {rt.rec.state for rt in sup.rt.values()} == {SessionState.FINISHED}
    assert len(ahead) == 1
    (wid, idle), = ahead.items()
    assert idle.warm.startswith("box1/w-") and idle.name == "~" + idle.warm.split("/")[1] and not idle.dead
    claimed = [e for e in events if e.kind == "warm_slot" and e.data["action"] == "claimed"]
    assert [e.session for e in claimed] == [HOSTILE] and claimed[0].data["window"] is True
    assert claimed[0].data["slot"] == idle.warm.split("/")[1]
    rec = sup.rt[HOSTILE].rec
    assert rec.node == "box1" and rec.window_id == wid  # its agent ran in the window made ahead, not a new one
    rn = sup.nodes.get("box1").ready()  # type: ignore[attr-defined]
    w = node_windows(rn)[wid]
    assert (w.tag, w.warm, w.name) == (HOSTILE, "", HOSTILE)  # renamed and tagged, the name kept literal
    assert w.dead and rec.exit_code == 0  # (tmux may list the pane dead before it has its status: not asked here)
    assert "hello from the warm window" in sup.store.log_path(rec.slug).read_text()  # piped from the start
    assert git(git_repo, "rev-parse", f"{rec.branch}~1").strip() == base and rec.setup_done
    assert not list(sshd.workdir.rglob("pwned")) and not list(git_repo.rglob("pwned"))
    assert not list(tmp_path.rglob("pwned"))
    idle_now = [x for x in node_windows(rn).values() if x.warm]  # the refill made the next slot its window
    assert len(idle_now) == 1 and idle_now[0].window_id != wid
    rn.kill_server()


def test_a_node_slot_dropped_after_the_base_moved_takes_its_window_with_it(sshd: SshServer, git_repo: Path) -> None:
    bases = [ignore_built(git_repo)]
    spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}"], **sshd.node_kwargs())
    rn = make_remote_node(spec, "r", "cortex-r-warmwin")
    setup = ["test ! -e broken && echo built >> .built"]  # fails on a base with a file named broken
    nw = NodeWarm(node="box1", remote=lambda: rn, repo=git_repo, run="r", count=1, base_commit=lambda: bases[-1],
                  emit=lambda *a, **k: None, setup=setup, env={}, checkout=None)
    try:
        nw.fill()  # the node's tmux server is started for it
        (slot,) = nw.ready
        first = nw.windows[slot.name]
        assert node_windows(rn)[first.window_id].warm == f"box1/{slot.name}"

        (git_repo / "new.txt").write_text("moved\n")  # the base moves: the slot is refreshed in place, window kept
        git(git_repo, "add", "-A")
        git(git_repo, "commit", "-qm", "base moves")
        bases.append(head(git_repo))
        nw.fill()
        assert nw.ready == [slot] and nw.windows[slot.name] == first

        (git_repo / "broken").write_text("x\n")  # again: the setup fails there, the slot is dropped
        git(git_repo, "add", "-A")
        git(git_repo, "commit", "-qm", "base breaks the setup")
        bases.append(head(git_repo))
        nw.fill()
        assert nw.ready == [] and nw.windows == {} and nw.broken
        assert first.window_id not in node_windows(rn)  # closed with its slot
        rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t", worktree=str(git_repo / "x/t"))
        assert nw.claim(rec, bases[-1], setup) is None  # nothing stale handed out: the spawn goes cold
    finally:
        rn.kill_server()
        rn.transport.close()


def test_the_next_supervisor_takes_up_node_warm_windows_closes_stale_ones_and_leaves_sessions(
        sshd: SshServer, git_repo: Path) -> None:
    base = head(git_repo)
    spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}"], **sshd.node_kwargs())
    rn = make_remote_node(spec, "r", "cortex-r-warmadopt")

    def warm() -> NodeWarm:
        return NodeWarm(node="box1", remote=lambda: rn, repo=git_repo, run="r", count=2, base_commit=lambda: base,
                        emit=lambda *a, **k: None, setup=[], env={}, checkout=None)

    try:
        first = warm()
        first.fill()
        a, b = first.ready
        wa, wb = first.windows[a.name], first.windows[b.name]
        wt = rn.prepare_worktree(git_repo, "cortex/r/live", base, "live")  # a session running on the node
        live = rn.spawn(name="live", slug="live", argv=["sleep", "300"], env={}, cwd=wt, tag="live", header="")
        stray = rw.window(rn, rw.NodeSlot("w-gone", a.path.parent / "w-gone", base))  # its slot is not on disk
        other = rn.tmux.warm_window(slot="w-local", cwd=git_repo, run="r")  # this machine's slot, a shared server
        git(Path(str(a.path)), "checkout", "-q", "-b", "elsewhere")  # a slot that cannot be trusted any more

        again = warm()  # the supervisor restarted
        again.fill()
        kept = [s for s in again.ready if s.name == b.name]
        assert kept and again.windows[b.name].window_id == wb.window_id  # taken up, not made again
        left = node_windows(rn)
        assert wa.window_id not in left and stray.window_id not in left  # the untrusted and the orphan: closed
        assert other.window_id in left  # not a node slot's: left alone
        assert live.window.window_id in left and not left[live.window.window_id].dead  # the session lives on
        assert len(again.ready) == 2 and set(again.windows) == {s.name for s in again.ready}
        new = next(s for s in again.ready if s.name != b.name)
        assert left[again.windows[new.name].window_id].warm == f"box1/{new.name}"

        rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t", worktree=str(git_repo / "x/t"))
        got = again.claim(rec, base, [])
        assert got is not None and got.window is not None and got.window.window_id == wb.window_id
    finally:
        rn.kill_server()
        rn.transport.close()


def test_what_a_setup_leaves_unignored_is_cleaned_before_a_slot_is_handed_out(sshd: SshServer, git_repo: Path) -> None:
    base = ignore_built(git_repo)
    spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}"], **sshd.node_kwargs())
    rn = make_remote_node(spec, "r", "cortex-r-warmclean")
    setup = ["echo built >> .built", "echo junk > junk.txt"]
    nw = NodeWarm(node="box1", remote=lambda: rn, repo=git_repo, run="r", count=1, base_commit=lambda: base,
                  emit=lambda *a, **k: None, setup=setup, env={}, checkout=None)
    try:
        nw.fill()
        rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t", worktree=str(git_repo / "x/t"))
        assert nw.claim(rec, base, setup)  # at the slot's commit: renamed and moved, no checkout
        wt = Path(rec.worktree)
        assert (wt / ".built").exists() and not (wt / "junk.txt").exists()  # ignored output kept, the rest gone
        assert rec.setup_done and git(wt, "rev-parse", "--abbrev-ref", "HEAD").strip() == "cortex/r/t"
    finally:
        rn.kill_server()
        rn.transport.close()


def test_a_restarted_supervisor_takes_up_the_node_warm_window_and_its_running_session(sshd: SshServer,
                                                                                     git_repo: Path,
                                                                                     tmp_path: Path) -> None:
    import asyncio

    ignore_built(git_repo)
    text = ('[run]\nname = "nrestart"\n[pool]\nsize = 1\nwarm = 1\nnode = "box1"\n[defaults]\nagent = "sim"\n'
            + node_toml("box1", sshd)
            + '[[session]]\nname = "t0"\nscript = ["ask Go on?", "write f0.txt 0", "commit t0"]\n'
            + '[[session]]\nname = "t1"\nscript = ["say hello from t1", "write f1.txt 1", "commit t1"]\n')
    first = make_sup(git_repo, text, tmp_path)
    seen: dict[str, Any] = {}

    async def until_ready() -> None:  # t0 asks (it holds the pool's one slot) and box1's slot has its window
        await first.start()
        task = asyncio.create_task(first.supervise(until_done=False))
        try:
            nw = first.pool.node_warm["box1"]
            await wait_for(lambda: first.rt["t0"].rec.state is SessionState.WAITING and nw.status()["windows"] == 1,
                           timeout=90, what="t0 asks and box1 has a warm window")
            seen["warm"] = {k: w.window_id for k, w in nw.windows.items()}
            seen["rn"] = first.nodes.get("box1").ready()  # type: ignore[attr-defined]
        finally:
            first.request_stop()
            await task
            await first.shutdown()  # the supervisor goes; t0 keeps asking on the node

    asyncio.run(until_ready())
    rn = seen["rn"]
    (slot, wid), = seen["warm"].items()
    t0_window = first.rt["t0"].rec.window_id
    stray = rw.window(rn, rw.NodeSlot("w-gone", rn.run_dir / "warm" / "w-gone", "0" * 40))  # its slot is not there
    assert {wid, t0_window, stray.window_id} <= set(node_windows(rn))

    again = make_sup(git_repo, text, tmp_path)
    ahead: dict[str, Any] = {}

    async def during(s: Supervisor) -> None:
        nw = s.pool.node_warm["box1"]
        await wait_for(lambda: s.rt["t0"].rec.state is SessionState.WAITING and nw.status()["windows"] == 1,
                       timeout=90, what="t0 asking again and the warm window taken up")
        ahead.update({k: w.window_id for k, w in nw.windows.items()})
        ahead["left"] = set(node_windows(rn))
        await s.approve("t0")

    events = run_to_end(again, timeout=150, during=during)
    assert ahead[slot] == wid and stray.window_id not in ahead["left"]  # taken up, not made again; the orphan closed
    assert {rt.rec.state for rt in again.rt.values()} == {SessionState.FINISHED}  # t0 was not lost
    assert again.rt["t0"].rec.window_id == t0_window and again.rt["t0"].rec.attempt == 1
    claimed = [e for e in events if e.kind == "warm_slot" and e.data["action"] == "claimed"]
    assert [(e.session, e.data["slot"]) for e in claimed] == [("t1", slot)]
    assert again.rt["t1"].rec.window_id == wid  # t1's agent ran in the window the first supervisor made
    rn.kill_server()


def test_a_warm_window_closed_by_hand_is_reported_gone_and_nothing_starts_in_it(sshd: SshServer,
                                                                               git_repo: Path) -> None:
    base = head(git_repo)
    spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}"], **sshd.node_kwargs())
    rn = make_remote_node(spec, "r", "cortex-r-warmgone")
    nw = NodeWarm(node="box1", remote=lambda: rn, repo=git_repo, run="r", count=1, base_commit=lambda: base,
                  emit=lambda *a, **k: None, setup=[], env={}, checkout=None)
    try:
        nw.fill()
        rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t", worktree=str(git_repo / "x/t"))
        got = nw.claim(rec, base, [])
        assert got is not None and got.window is not None
        rn.kill_window(got.window.window_id)  # by hand, between the claim and the start
        out = rn.respawn(got.window, name="t", slug="t", argv=["touch", "started"], env={"A": "1"},
                         cwd=rec.worktree, tag="t", files={"script.json": b"[]"})
        assert out is None  # the spawn makes a new window then (SshNode)
        sdir = Path(str(rn.session_dir("t")))
        assert (sdir / "script.json").read_bytes() == b"[]"  # its files came all the same, private
        assert {(f.name, f.stat().st_mode & 0o777) for f in sdir.iterdir()} == {("script.json", 0o600), ("env", 0o600)}
        assert sdir.stat().st_mode & 0o777 == 0o700
        assert not (Path(rec.worktree) / "started").exists()
        started = rn.spawn(name="t", slug="t", argv=["touch", "started"], env={"A": "1"}, cwd=rec.worktree, tag="t",
                           header="")
        assert started.window.window_id != got.window.window_id
    finally:
        rn.kill_server()
        rn.transport.close()


def test_a_node_slot_with_changed_tracked_files_is_kept_not_removed_by_the_next_supervisor(
        sshd: SshServer, git_repo: Path) -> None:
    ignore_built(git_repo)
    base = head(git_repo)
    spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}"], **sshd.node_kwargs())
    rn = make_remote_node(spec, "r", "cortex-r-keepdirty")
    events: list[dict[str, Any]] = []

    def emit(kind: str, session: str | None, **data: Any) -> None:
        events.append(data)

    def warm() -> NodeWarm:
        return NodeWarm(node="box1", remote=lambda: rn, repo=git_repo, run="r", count=1, base_commit=lambda: base,
                        emit=emit, setup=SETUP, env={}, checkout=None)  # type: ignore[arg-type]

    try:
        first = warm()
        first.fill()
        (slot,) = [Path(str(s.path)) for s in first.ready]
        tracked = next(p for p in slot.iterdir() if p.is_file() and p.name not in (".git", ".built"))
        tracked.write_text("someone's edit\n")
        again = warm()
        again.fill()
        assert [Path(str(s.path)) for s in again.ready] != [slot] and len(again.ready) == 1
        assert tracked.read_text() == "someone's edit\n"  # still there, with its edit
        assert any(d.get("action") == "kept" and d.get("slot") == slot.name for d in events), events
    finally:
        rn.transport.close()
