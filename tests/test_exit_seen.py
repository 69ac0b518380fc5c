"""An agent's exit is seen when its exit file appears, whatever the other sessions' worktree looks are doing
(#17: at 20 sessions on 2 loaded cores exits were seen 6–13 s late, behind the watcher's batch awaiting every
session's worktree look, one after the other, before its exits). Real tmux, git, sim and shell agents."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end, wait_for

from cortex_tui.engine import reconciler
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
