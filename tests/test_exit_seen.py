"""An agent's exit is seen when its exit file appears, whatever the other sessions' worktree looks are doing
(#17: at 20 sessions on 2 loaded cores exits were seen 6–13 s late, behind the watcher's batch awaiting every
session's worktree look, one after the other, before its exits). Real tmux, git, sim and shell agents."""

from __future__ import annotations

import asyncio
import shlex
import threading
import time
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end, wait_for

from cortex_tui.backends.node import FinalLook
from cortex_tui.engine import lifecycle, reconciler
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.state import SessionRecord, SessionState


def test_an_exit_is_seen_while_another_sessions_worktree_look_hangs(git_repo: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With the periodic reconcile off (only the watcher can see an exit), a look at the busy session's
    worktree that does not return until the test lets it must not keep the quick session's exit unseen."""
    monkeypatch.setattr(reconciler, "RECONCILE_S", 1e9)
    gate = tmp_path / "GATE"
    text = f'''
[run]
name = "exitseen"
[[session]]
name = "busy"
agent = "shell"
command = "while [ ! -f {shlex.quote(str(gate))} ]; do date +%s%N > busy.txt; sleep 0.2; done"
[[session]]
name = "quick"
agent = "sim"
script = ["sleep 2", "write q.txt q", "commit quick"]
'''
    sup = make_sup(git_repo, text, tmp_path)
    held = threading.Event()
    release = threading.Event()
    look = sup.local.worktree_changes

    def held_look(rec: SessionRecord, base: str, paths: list[str]) -> tuple[dict[str, str], tuple[int, int] | None]:
        if rec.name == "busy":  # (a real look, held in its worker thread as a slow git on a loaded disk is)
            held.set()
            release.wait(300)
        return look(rec, base, paths)

    monkeypatch.setattr(sup.local, "worktree_changes", held_look)
    while_held: list[bool] = []

    async def during(s: Supervisor) -> None:
        try:
            await wait_for(held.is_set, timeout=60, what="a look at busy's worktree")
            await wait_for(lambda: s.rt["quick"].rec.state is SessionState.FINISHED, timeout=60,
                           what="quick's exit seen while a look at busy's worktree hangs")
            while_held.append(not release.is_set())
        finally:
            release.set()
            gate.write_text("")

    events = run_to_end(sup, timeout=120, during=during)
    assert while_held == [True]
    quick = sup.rt["quick"].rec
    assert quick.exit_code == 0 and quick.changed_files == ["q.txt"] and quick.diff_added == 1  # its final look
    assert sup.rt["busy"].rec.state is SessionState.FINISHED
    assert "busy.txt" in sup.rt["busy"].rec.changed_files  # the held look went on once let go (or the final one)
    assert not [e for e in events if e.kind in ("engine_error", "watch_error")]


def test_exits_a_reattach_finds_are_looked_at_side_by_side(git_repo: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Four sessions end while no supervisor watches; the next supervisor's start finds all four exits in one
    reconcile. One session's final look hangs (held in its worker thread, as a slow git on a loaded disk is): the
    other three must still be seen and finished meanwhile — the reconcile awaited each exit's look before the next
    (#17) — and no more than EXITS_AT_ONCE final looks run at once."""
    gate = tmp_path / "GATE"
    names = ["a", "b", "c", "d"]
    text = '[run]\nname = "sidebyside"\n' + "".join(
        f'[[session]]\nname = "{n}"\nagent = "shell"\ncommand = "while [ ! -f {shlex.quote(str(gate))} ]; do '
        f"sleep 0.2; done; echo {n} > {n}.txt; git add -A && git commit -qm {n}\"\n" for n in names)
    first = make_sup(git_repo, text, tmp_path)

    async def run_first() -> None:  # all four start; the supervisor goes (the agents keep running in tmux)
        await first.start()
        task = asyncio.create_task(first.supervise(until_done=True))
        await wait_for(lambda: all(first.rt[n].rec.state is SessionState.RUNNING for n in names), timeout=60,
                       what="all four running")
        first.request_stop()
        await asyncio.wait_for(task, 30)
        await first.shutdown()

    asyncio.run(run_first())
    gate.write_text("")
    exits = [first.router.exit_file(first.rt[n].rec) for n in names]
    end = time.monotonic() + 60
    while not all(p.exists() for p in exits):
        assert time.monotonic() < end, "the agents did not end"
        time.sleep(0.1)

    sup = make_sup(git_repo, text, tmp_path)
    look = sup.local.final_look
    held = threading.Event()
    release = threading.Event()
    counter = threading.Lock()
    running = [0, 0]  # now, most at once

    def slow_look(rec: SessionRecord, base: str) -> FinalLook | None:
        with counter:
            running[0] += 1
            running[1] = max(running)
        try:
            if rec.name == "a":
                held.set()
                release.wait(300)
            else:
                time.sleep(0.3)  # long enough for the looks to meet
            return look(rec, base)
        finally:
            with counter:
                running[0] -= 1

    monkeypatch.setattr(sup.local, "final_look", slow_look)
    while_held: list[bool] = []

    async def reattach() -> None:
        start = asyncio.create_task(sup.start())
        try:
            await wait_for(held.is_set, timeout=60, what="a's final look")
            await wait_for(lambda: all(sup.rt[n].rec.state is SessionState.FINISHED for n in names[1:]),
                           timeout=60, what="b, c and d finished while a's final look hangs")
            while_held.append(not release.is_set() and sup.rt["a"].exit_seen
                              and sup.rt["a"].rec.state is SessionState.RUNNING)
        finally:
            release.set()
            await asyncio.wait_for(start, 60)
        await sup.shutdown()

    asyncio.run(reattach())
    assert while_held == [True]
    assert 2 <= running[1] <= lifecycle.EXITS_AT_ONCE
    for n in names:  # each with its own final look: head, diff, changed files
        rec = sup.rt[n].rec
        assert rec.state is SessionState.FINISHED and rec.exit_code == 0, (n, rec.state, rec.reason)
        assert rec.changed_files == [f"{n}.txt"] and rec.diff_added == 1
