"""Placement across nodes: ``[[route]]`` sends labelled tasks to a node group of two loopback sshd nodes with
``max_sessions``; a node whose link is cut gets no new task. Real sshd, tmux, git, sim agents."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end, wait_for
from sshd import SshServer

from cortex_tui.engine import pool as poolmod
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.layout import SessionSpec
from cortex_tui.model.state import SessionState

pytestmark = pytest.mark.ssh


def node_toml(name: str, s: SshServer) -> str:
    kw = s.node_kwargs()
    return (f'[[node]]\nname = "{name}"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={s.known_hosts}"]\ngroup = "far"\nmax_sessions = 1\n')


def test_routed_tasks_spread_over_a_node_group_and_skip_a_cut_link(sshd: SshServer, git_repo: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poolmod, "REMOTE_PROBE_S", 0.2)
    second = SshServer(tmp_path / "node2")
    second.start()
    try:
        text = ('[run]\nname = "place"\n[pool]\nsize = 4\n[defaults]\nagent = "sim"\n'
                + node_toml("box1", sshd) + node_toml("box2", second)
                + '[[route]]\nname = "far"\nmatch = { labels = ["far"] }\nnode = "far"\n'
                + "".join(f'[[session]]\nname = "f{i}"\nlabels = ["far"]\nscript = ["sleep 1", "write f{i}.txt {i}", '
                          f'"commit f{i}"]\n' for i in range(4))
                + '[[session]]\nname = "here"\nscript = ["ask Go on?", "write h.txt h", "commit here"]\n')
        sup = make_sup(git_repo, text, tmp_path)

        async def during(s: Supervisor) -> None:
            await wait_for(lambda: all(sup.rt[f"f{i}"].rec.state.terminal for i in range(4)), timeout=180,
                           what="the first four far tasks")
            await asyncio.to_thread(second.stop)  # box2's link is cut: nothing new goes there
            for i in (4, 5):
                await sup.add_session(SessionSpec(name=f"f{i}", labels=["far"],
                                                  script=["write g.txt g", f"commit f{i}"]))
            await wait_for(lambda: all(sup.rt[f"f{i}"].rec.state.terminal for i in (4, 5)), timeout=120,
                           what="the two added after the cut")
            await wait_for(lambda: sup.rt["here"].rec.state is SessionState.WAITING, timeout=60, what="here asks")
            await sup.approve("here")  # it kept the run open meanwhile

        events = run_to_end(sup, timeout=300, during=during)
    finally:
        second.close()
    st = {n: rt.rec for n, rt in sup.rt.items()}
    assert {n: r.state for n, r in st.items()} == dict.fromkeys(st, SessionState.FINISHED), \
        {n: (r.state.value, r.reason) for n, r in st.items()}
    placed = {e.session: e.data for e in events if e.kind == "placed"}
    first = {placed[f"f{i}"]["node"] for i in range(4)}
    assert first == {"box1", "box2"}  # the group's two nodes shared the work
    assert all(placed[f"f{i}"]["candidates"] == ["box1", "box2"] for i in range(6))
    assert placed["f4"]["node"] == placed["f5"]["node"] == "box1"  # never onto the cut link
    assert st["here"].node == "local" and "here" not in placed  # not routed: stays on this machine
    on = {e.session: e.data["node"] for e in events if e.kind == "spawned"}
    assert on == {**{n: d["node"] for n, d in placed.items()}, "here": "local"}  # the spawned event names it too
    assert max_live_per_node(events, st) <= 1  # max_sessions = 1 on each
    waits = [e.data.get("reason") or "" for e in events if e.kind == "state" and e.data["state"] == "pending"]
    assert any("box1 full (1 sessions)" in w for w in waits)


def max_live_per_node(events: list[Event], recs: Mapping[str, object]) -> int:
    """The most sessions holding a slot on one node at once, replayed by time: from the state event that makes
    a session live until its exit was seen (``finished``'s ``exited_at``) or a state event that ends it."""
    live = {s.value for s in SessionState if s.live}
    node = {e.session: e.data["node"] for e in events if e.kind == "placed"}
    state: dict[str, str] = {}
    since: dict[str, float] = {}
    marks: dict[str, list[tuple[float, int]]] = {}
    for e in events:
        if e.session is None or e.session not in node:
            continue
        at = marks.setdefault(node[e.session], [])
        if e.kind == "state":
            was, now = state.get(e.session) in live, e.data["state"] in live
            state[e.session] = e.data["state"]
            if now and not was:
                since[e.session] = e.ts
            elif was and not now and e.session in since:
                at += [(since.pop(e.session), 1), (e.ts, -1)]
        elif e.kind == "finished" and e.session in since and e.data.get("exited_at") is not None:
            at += [(since.pop(e.session), 1), (float(e.data["exited_at"]), -1)]
    for name, t in since.items():
        marks[node[name]].append((t, 1))
    most = 0
    for at in marks.values():
        n = 0
        for _, step in sorted(at):  # an end before a start at the same moment
            n += step
            most = max(most, n)
    return most
