"""``[pool]``: queued tasks run that many at a time, start when a slot frees, and survive a kill -9 of the
supervisor (nothing lost, nothing started twice); warm slots; the memory ceiling. Real tmux, git, sim agents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, wait_until
from engine_helpers import cli, make_sup, run_to_end, status_json

from cortex_tui.engine.events import Event
from cortex_tui.model.events import EventKind
from cortex_tui.model.state import SessionState

LIVE = {s.value for s in SessionState if s.live}


def sessions(n: int, steps: str) -> str:
    return "".join(f'[[session]]\nname = "t{i}"\nscript = [{steps.format(i=i)}]\n' for i in range(n))


def most_live(events: list[Event]) -> int:
    """The most sessions holding a slot at once, replayed from the events by time: a session holds one from
    the state event that makes it live until its exit was seen (``finished``'s ``exited_at``: the final look
    after it holds none) or a state event that ends it."""
    state: dict[str, str] = {}
    since: dict[str, float] = {}
    spans: list[tuple[float, float]] = []
    for e in events:
        if not e.session:
            continue
        if e.kind == "state":
            was, now = state.get(e.session) in LIVE, e.data["state"] in LIVE
            state[e.session] = e.data["state"]
            if now and not was:
                since[e.session] = e.ts
            elif was and not now and e.session in since:
                spans.append((since.pop(e.session), e.ts))
        elif e.kind == "finished" and e.session in since and e.data.get("exited_at") is not None:
            spans.append((since.pop(e.session), float(e.data["exited_at"])))
    spans += [(t, float("inf")) for t in since.values()]
    most = live = 0
    for _, step in sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans]):  # an end before a start
        live += step
        most = max(most, live)
    return most


def test_a_pool_of_3_runs_10_tasks_3_at_a_time_each_once(git_repo: Path, tmp_path: Path) -> None:
    text = '[run]\nname = "pool3"\n[pool]\nsize = 3\n[defaults]\nagent = "sim"\n' + sessions(
        10, '"sleep 0.3", "write f{i}.txt {i}", "commit t{i}"')
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=240)
    states = {n: rt.rec.state for n, rt in sup.rt.items()}
    assert set(states.values()) == {SessionState.FINISHED}, {n: (rt.rec.state, rt.rec.reason) for n, rt in sup.rt.items()}
    assert most_live(events) == 3  # never more than the pool's slots, and the slots were used
    spawned = sorted(e.session or "" for e in events if e.kind == "spawned")
    assert spawned == sorted(f"t{i}" for i in range(10))
    waited = {e.session for e in events if e.kind == "state" and e.data.get("reason") == "waiting for a free slot (pool of 3)"}
    assert len(waited) >= 7  # the ones queued behind the first three said why they waited
    scaled = [e.data for e in events if e.kind == "pool_scaled"]
    assert scaled and scaled[0]["slots"] == 3
    assert sup.state.pool["slots"] == 3


def test_an_exit_frees_its_slot_at_once_the_next_task_starts_during_its_final_look(git_repo: Path,
                                                                                   tmp_path: Path) -> None:
    text = '[run]\nname = "poolgap"\n[pool]\nsize = 1\n[defaults]\nagent = "sim"\n' + sessions(
        3, '"write f{i}.txt {i}", "commit t{i}"')
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=240)
    assert {rt.rec.state for rt in sup.rt.values()} == {SessionState.FINISHED}
    at = {(e.kind, e.session, e.data.get("state")): i for i, e in enumerate(events)}
    for prev, nxt in (("t0", "t1"), ("t1", "t2")):
        # the slot's next task was admitted when the exit was seen, not after the exited one's git work
        # (head, diff, sweep) and review: its start comes before that session's `finished`
        assert at[("state", nxt, "starting")] < at[("finished", prev, None)], [
            (e.kind, e.session, e.data.get("state")) for e in events if e.kind in ("state", "finished")]
    assert most_live(events) == 1  # and never two agents in the one slot
    for i in range(3):  # each one's end was looked at all the same
        rec = sup.rt[f"t{i}"].rec
        assert rec.head_commit == git(git_repo, "rev-parse", rec.branch).strip() and rec.diff_added == 1


def test_pool_min_max_grows_with_the_queue_and_never_above_max(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "poolmm"\n[pool]\nmin = 1\nmax = 4\n[defaults]\nagent = "sim"\n'
            + sessions(8, '"sleep 0.3", "write f{i}.txt {i}", "commit t{i}"'))
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=240)
    assert {rt.rec.state for rt in sup.rt.values()} == {SessionState.FINISHED}
    assert most_live(events) == 4
    slots = [e.data["slots"] for e in events if e.kind == "pool_scaled"]
    assert slots[0] == 4 and min(slots) >= 1 and max(slots) == 4  # 8 queued: straight to max
    assert slots[-1] < 4  # the queue drained: the pool shrank back


def test_memory_floor_keeps_tasks_queued_and_says_why(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "poolmem"\n[pool]\nsize = 2\nmemory_limit = "8MiB"\n[defaults]\nagent = "sim"\n'
            + sessions(2, '"write f{i}.txt {i}"'))
    sup = make_sup(git_repo, text, tmp_path)

    async def during(s: object) -> None:
        import asyncio

        from engine_helpers import wait_for
        await wait_for(lambda: all(rt.rec.reason and "memory" in rt.rec.reason for rt in sup.rt.values()),
                       timeout=30, what="both tasks waiting on memory")
        await asyncio.sleep(1.0)  # a few more passes: still nothing starts
        assert all(rt.rec.state is SessionState.PENDING and rt.rec.attempt == 0 for rt in sup.rt.values())
        sup.request_stop()

    events = run_to_end(sup, timeout=60, during=during)
    assert not [e for e in events if e.kind == "spawned"]
    reason = sup.rt["t0"].rec.reason or ""
    assert reason.startswith("waiting: local memory: one sim task needs") and "above the floor" in reason
    q = json.loads(cli("queue", "--repo", str(git_repo), "--json").stdout)  # what a person sees, from state.json
    assert q["waiting"] == {"t0": reason, "t1": reason} and q["pool"]["slots"] == 2
    assert q["pool"]["nodes"]["local"]["available"] <= 8 << 20
    assert q["by_type"] == {"-": {"pending": 2, "running": 0, "done": 0}}


def test_kill_9_of_a_pool_supervisor_loses_nothing_and_starts_nothing_twice(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "pool.toml"
    # the first two are short, the rest long: when the first is seen done (status is a CLI call, slow under
    # load) the next two run for a while yet and the last two are still queued
    layout.write_text('[run]\nname = "poolk"\n[pool]\nsize = 2\n[defaults]\nagent = "sim"\n' + "".join(
        f'[[session]]\nname = "t{i}"\nscript = ["sleep {1 if i < 2 else 8}", "write f{i}.txt {i}", "commit t{i}"]\n'
        for i in range(6)))
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    run_dir = git_repo / "coordination/runs/poolk"

    def states() -> dict[str, str]:
        return {s["name"]: s["state"] for s in status_json(git_repo)["sessions"]}

    wait_until(lambda: "finished" in states().values(), timeout=120, interval=0.2, what="a first task done")
    pid = int((run_dir / "supervisor.lock").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, what="dead")
    before = states()
    assert "pending" in before.values(), before  # queued tasks were left behind by the dead supervisor
    # added while no supervisor ran: waits in the inbox, runs in the pool later
    r = cli("add", "--repo", str(git_repo), "--name", "late", "--agent", "sim", "--prompt", "p", "--labels", "docs",
            "--json")
    assert json.loads(r.stdout)[0]["queued"] == "inbox"
    run = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                          "--headless", "--timeout", "300"], capture_output=True, text=True, timeout=360,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    final = states()
    assert final == dict.fromkeys([*(f"t{i}" for i in range(6)), "late"], "finished")
    q = json.loads(cli("queue", "--repo", str(git_repo), "--json").stdout)
    assert q["by_type"] == {"-": {"pending": 0, "running": 0, "done": 6}, "docs": {"pending": 0, "running": 0, "done": 1}}
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    spawned = sorted(e["session"] for e in events if e["kind"] == "spawned")
    assert spawned == sorted([*(f"t{i}" for i in range(6)), "late"]), [  # each exactly once across both supervisors
        (e["kind"], e["session"], e["data"]) for e in events if e["kind"] in ("spawned", "attached", "run_started")]
    for i in range(6):
        assert git(git_repo, "log", "-1", "--format=%s", f"cortex/poolk/t{i}").strip() == f"t{i}"


def test_warm_slots_are_taken_by_tasks_and_refilled(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "poolw"\n[pool]\nsize = 1\nwarm = 2\n[defaults]\nagent = "sim"\n'
            'setup = ["echo built > .built"]\n'
            + sessions(4, '"sleep 0.5", "write f{i}.txt {i}", "commit t{i}"'))
    (git_repo / ".gitignore").write_text(".built\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "ignore build output")
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=240)
    assert {rt.rec.state for rt in sup.rt.values()} == {SessionState.FINISHED}
    claimed = [e.session for e in events if e.kind == "warm_slot" and e.data["action"] == "claimed"]
    assert len(claimed) >= 2  # t0 may start before the first slot is ready; the queued ones find slots
    base = sup.state.base_commit
    for name in claimed:
        rec = sup.rt[name or ""].rec
        assert rec.base_commit == base and rec.setup_done
        wt = Path(rec.worktree)
        assert (wt / ".built").read_text() == "built\n"  # the slot's setup, done ahead
        assert git(wt, "rev-parse", "--abbrev-ref", "HEAD").strip() == rec.branch
        assert f"worktree {wt}\n" in git(git_repo, "worktree", "list", "--porcelain")  # git knows where it is now
        assert git(git_repo, "rev-parse", f"{rec.branch}~1").strip() == base  # its one commit, on the base
    setups = [e.session for e in events if e.kind == "setup"]
    assert not set(setups) & set(claimed)  # a warm task's setup did not run again
    ready = [e for e in events if e.kind == "warm_slot" and e.data["action"] == "ready"]
    assert len(ready) >= 2 + len(claimed) - 1  # refilled after the claims
    slots = sorted((git_repo / ".cortex/warm/poolw").glob("w-*"))
    assert len([s for s in slots if s.is_dir()]) == 2  # kept for the next supervisor
    git(git_repo, "worktree", "prune")  # a moved slot's admin dir points at its new place: prune keeps it
    for name in claimed:
        assert git(Path(sup.rt[name or ""].rec.worktree), "status", "--porcelain") == ""
    branches = git(git_repo, "branch", "--list", "cortex-warm/poolw/*")
    assert all(f"cortex-warm/poolw/{d.name}" in branches for d in slots if d.is_dir())


def test_a_warm_task_starts_its_agent_in_the_idle_window_made_ahead_for_its_slot(git_repo: Path,
                                                                                 tmp_path: Path) -> None:
    import asyncio

    text = ('[run]\nname = "poolwin"\n[pool]\nsize = 1\nwarm = 1\n[defaults]\nagent = "sim"\n'
            + sessions(3, '"say hello from t{i}", "write f{i}.txt {i}", "commit t{i}"'))
    sup = make_sup(git_repo, text, tmp_path)
    events: list[Event] = []
    sup.subscribe(events.append)
    ahead: list[tuple[str, str]] = []

    async def main() -> None:
        await sup.start()
        warm = sup.pool.warm
        assert warm is not None
        await asyncio.to_thread(warm.scan)
        await asyncio.to_thread(warm.fill)  # the slot and its window, before any task runs
        ahead.extend((w.window_id, w.warm) for w in sup.tmux.list_windows() if w.warm)
        await asyncio.wait_for(sup.supervise(until_done=True), 240)
        await sup.shutdown()

    asyncio.run(main())
    assert {rt.rec.state for rt in sup.rt.values()} == {SessionState.FINISHED}
    assert len(ahead) == 1 and ahead[0][1].startswith("w-")  # an idle window, named by its slot's option
    claimed = [e for e in events if e.kind == "warm_slot" and e.data["action"] == "claimed"]
    assert [e.session for e in claimed][:1] == ["t0"] and claimed[0].data["slot"] == ahead[0][1]
    assert sup.rt["t0"].rec.window_id == ahead[0][0]  # t0's agent ran in the window made ahead, not a new one
    assert all(e.data["window"] for e in claimed)  # so did every task that took a slot
    wins = {w.window_id: w for w in sup.tmux.list_windows()}
    for e in claimed:
        rec = sup.rt[e.session or ""].rec
        w = wins[rec.window_id or ""]
        assert (w.tag, w.warm, w.instance, w.name) == (rec.name, "", sup.state.instance, rec.name)
        assert w.dead and w.dead_status == 0
        log = (sup.store.log_path(rec.slug)).read_text()
        assert f"hello from {rec.name}" in log  # its output was piped to its log from the start
    idle = [w for w in wins.values() if w.warm]  # the refill made the next slot its window too
    assert len(idle) == 1 and not idle[0].dead and (git_repo / ".cortex/warm/poolwin" / idle[0].warm).is_dir()
    sup.tmux.kill_server()


def test_the_next_supervisor_takes_up_idle_windows_of_its_slots_and_closes_the_others(git_repo: Path) -> None:
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.engine.warm import WarmSlots

    base = git(git_repo, "rev-parse", "HEAD").strip()
    tmux = Tmux("warmwin")
    tmux.ensure_server(git_repo, "test")
    tmux.instance = "run-1"

    def ignore(kind: EventKind, session: str | None, /, **data: Any) -> None:
        return None

    def slots() -> WarmSlots:
        return WarmSlots(repo=git_repo, run="r", count=2, base_commit=lambda: base, emit=ignore, tmux=tmux)

    try:
        first = slots()
        first.fill()
        a, b = first.ready
        made = {first.windows[a.name].window_id, first.windows[b.name].window_id}
        assert {w.window_id for w in tmux.list_windows() if w.warm} == made
        stray = tmux.warm_window(slot="w-gone", cwd=git_repo, run="r")  # a slot no longer on disk
        node = tmux.warm_window(slot="w-far", cwd=git_repo, run="r", owner="box1")  # an ssh node's, same server
        git(a, "checkout", "-q", "-b", "elsewhere")  # a slot that cannot be trusted any more
        again = slots()
        again.scan()
        assert again.ready == [b]
        assert {k: w.window_id for k, w in again.windows.items()} == {b.name: first.windows[b.name].window_id}
        left = {w.window_id for w in tmux.list_windows() if w.warm}
        assert left == {first.windows[b.name].window_id, node.window_id}  # the others closed
        assert stray.window_id not in left and node.warm == "box1/w-far"  # a node's slot's is the node's to judge
        again.fill()  # back to two: the new slot gets its window
        assert len(again.ready) == 2 and set(again.windows) == {d.name for d in again.ready}
    finally:
        tmux.kill_server()


def _move_base(git_repo: Path, bases: list[str]) -> None:
    """A new commit on the base branch; its hash appended to ``bases`` (what a WarmSlots' base_commit reads)."""
    (git_repo / "new.txt").write_text("moved\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base moves")
    bases.append(git(git_repo, "rev-parse", "HEAD").strip())


def test_a_warm_slot_follows_the_base_and_is_reset_to_it_when_taken(git_repo: Path) -> None:
    from cortex_tui.engine.warm import WarmSlots
    from cortex_tui.model.state import SessionRecord

    bases = [git(git_repo, "rev-parse", "HEAD").strip()]
    seen: list[tuple[str, dict[str, object]]] = []

    def emit(kind: EventKind, session: str | None, /, **data: Any) -> None:
        seen.append((kind, data))

    warm = WarmSlots(repo=git_repo, run="r", count=1, base_commit=lambda: bases[-1], emit=emit)
    warm.fill()
    slot = warm.ready[0]
    _move_base(git_repo, bases)
    warm.fill()
    assert warm.ready == [slot] and git(slot, "rev-parse", "HEAD").strip() == bases[-1]
    assert [d["action"] for _, d in seen] == ["ready", "refreshed"]
    (slot / "README.md").write_text("scribbled\n")  # however it got there: the task gets the base, clean
    (slot / "stray.txt").write_text("x\n")
    rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t",
                        worktree=str(git_repo / ".cortex/worktrees/r/t"))
    assert warm.claim(rec, bases[0])  # a task starting from the older base gets exactly that
    wt = Path(rec.worktree)
    assert git(wt, "rev-parse", "HEAD").strip() == bases[0] and not git(wt, "status", "--porcelain").strip()
    assert not (wt / "new.txt").exists() and not slot.exists()
    warm.count = 0
    warm.fill()  # the refill deletes the claimed slot's warm branch
    assert "cortex-warm/r/" not in git(git_repo, "branch", "--list")
    assert not warm.claim(SessionRecord(name="u", slug="u", agent="sim", branch="cortex/r/u",
                                        worktree=str(git_repo / ".cortex/worktrees/r/u")), bases[0])  # none left


def test_a_pool_only_run_lingers_for_tasks_added_later_then_ends(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "service.toml"
    layout.write_text('[run]\nname = "svc"\n[pool]\nsize = 2\nlinger = "20s"\n[defaults]\nagent = "sim"\n')
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    run_dir = git_repo / "coordination/runs/svc"
    pid = int((run_dir / "supervisor.lock").read_text())
    tasks = tmp_path / "t.toml"
    tasks.write_text("".join(f'[[session]]\nname = "s{i}"\nscript = ["write s{i}.txt {i}", "commit s{i}"]\n'
                             for i in range(3)))
    out = json.loads(cli("add", "--repo", str(git_repo), "--file", str(tasks), "--json").stdout)
    assert [r["queued"] for r in out] == ["supervisor"] * 3  # the idle pool's supervisor was still there
    wait_until(lambda: {s["state"] for s in status_json(git_repo)["sessions"]} == {"finished"}, timeout=120,
               what="the added tasks done")
    # nothing more comes: after the linger the supervisor ends by itself
    wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, timeout=120,
               what="the supervisor ending after its linger")
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "run_done" for e in events)
    assert sorted(e["session"] for e in events if e["kind"] == "spawned") == ["s0", "s1", "s2"]


def test_a_route_limit_is_a_pool_of_its_own_inside_the_pool(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "poolr"\n[pool]\nsize = 4\n[defaults]\nagent = "sim"\n'
            '[[route]]\nname = "docs"\nmatch = { labels = ["docs"] }\nlimit = 1\n'
            + "".join(f'[[session]]\nname = "d{i}"\nlabels = ["docs"]\nscript = ["sleep 0.5", "write d{i}.txt x", '
                      f'"commit d{i}"]\n' for i in range(3))
            + sessions(3, '"sleep 0.5", "write f{i}.txt {i}", "commit t{i}"'))
    sup = make_sup(git_repo, text, tmp_path)
    events = run_to_end(sup, timeout=240)
    assert {rt.rec.state for rt in sup.rt.values()} == {SessionState.FINISHED}
    docs = [e for e in events if e.session and e.session.startswith("d")]
    assert most_live(docs) == 1  # never two docs tasks at once
    assert most_live(events) >= 2  # while the others used the rest of the pool
    assert any(e.data.get("reason") == "waiting: route 'docs' runs 1 at once" for e in docs if e.kind == "state")
    assert all(sup.rt[f"d{i}"].spec.route == 0 for i in range(3)) and sup.rt["t0"].spec.route is None


def test_the_next_supervisor_reuses_warm_slots_drops_ones_it_cannot_trust_and_keeps_edited_ones(git_repo: Path) -> None:
    from cortex_tui.engine.warm import WarmSlots

    base = git(git_repo, "rev-parse", "HEAD").strip()

    def ignore(kind: EventKind, session: str | None, /, **data: Any) -> None:
        return None

    def slots(setup: list[str]) -> WarmSlots:
        return WarmSlots(repo=git_repo, run="r", count=3, base_commit=lambda: base, setup=setup, emit=ignore)

    first = slots(["echo ok > .ok"])
    first.fill()
    a, b, c = first.ready
    (b / "README.md").write_text("changed in place\n")  # a tracked change: not the base any more
    git(a, "checkout", "-q", "-b", "elsewhere")  # not on its warm branch (a claim cut off half-way)
    again = slots(["echo ok > .ok"])
    again.scan()
    assert again.ready == [c]
    assert not a.exists()  # nothing of anyone's in it: removed
    assert (b / "README.md").read_text() == "changed in place\n"  # someone's edit: kept where it is, not handed out
    other = slots(["echo other > .ok"])  # the setup changed: a slot made with the old one is not ready
    other.scan()
    assert other.ready == [] and not c.exists() and b.exists()


def test_a_slot_reset_to_a_moved_base_is_moved_without_a_git_worktree_move(git_repo: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim whose base is not the slot's (reset first) moves the slot by a rename and its admin link rewritten,
    like the plain claim: no ``git worktree move`` process on the pick-up's path, and git knows the new place."""
    from cortex_tui.engine.warm import WarmSlots
    from cortex_tui.model.state import SessionRecord

    bases = [git(git_repo, "rev-parse", "HEAD").strip()]
    warm = WarmSlots(repo=git_repo, run="r", count=1, base_commit=lambda: bases[-1], emit=lambda *a, **k: None)
    warm.fill()
    slot = warm.ready[0]
    _move_base(git_repo, bases)
    bindir, record = tmp_path / "recbin", tmp_path / "git-argv.log"  # real git, each call's argv recorded
    bindir.mkdir()
    real = shutil.which("git")
    assert real
    (bindir / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {record}\nexec {real} "$@"\n')
    (bindir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    rec = SessionRecord(name="t", slug="t", agent="sim", branch="cortex/r/t",
                        worktree=str(git_repo / ".cortex/worktrees/r/t"))
    assert warm.claim(rec, bases[-1])  # the refill has not looked since the base moved: reset, then moved
    calls = record.read_text().splitlines()
    assert any("checkout" in c for c in calls), calls  # the reset ran (through the recording git)
    assert not any("worktree move" in c for c in calls), calls
    wt = Path(rec.worktree)
    assert not slot.exists() and git(wt, "rev-parse", "HEAD").strip() == bases[-1]
    assert git(wt, "rev-parse", "--abbrev-ref", "HEAD").strip() == rec.branch
    assert not git(wt, "status", "--porcelain").strip()
    git(git_repo, "worktree", "prune")  # git's record points at the new place: prune keeps it
    assert f"worktree {wt}\n" in git(git_repo, "worktree", "list", "--porcelain")
    assert f"worktree {slot}\n" not in git(git_repo, "worktree", "list", "--porcelain")


def test_a_warm_slot_with_changed_tracked_files_is_kept_not_removed_at_start_up(git_repo: Path) -> None:
    """Someone edited a file in a warm slot between two supervisors: the next one neither hands the slot out nor
    deletes it (``worktree remove --force`` used to take the edit with it); it says so, and fills another."""
    from cortex_tui.engine.warm import KEPT_DIRTY, WarmSlots

    base = git(git_repo, "rev-parse", "HEAD").strip()
    seen: list[dict[str, Any]] = []

    def record(kind: EventKind, session: str | None, /, **data: Any) -> None:
        seen.append(data)

    def slots() -> WarmSlots:
        return WarmSlots(repo=git_repo, run="r", count=1, base_commit=lambda: base, emit=record)

    first = slots()
    first.fill()
    (slot,) = first.ready
    tracked = next(p for p in slot.iterdir() if p.is_file() and p.name != ".git")
    tracked.write_text("someone's edit\n")
    again = slots()
    again.scan()
    assert again.ready == [] and tracked.read_text() == "someone's edit\n"
    assert {"action": "kept", "slot": slot.name, "ms": 0.0, "why": KEPT_DIRTY} in seen
    again.fill()
    assert len(again.ready) == 1 and again.ready[0] != slot and tracked.read_text() == "someone's edit\n"
