"""Queue entries: diff stats with scope flags, verify with timeout, conflict refresh, ordering."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from test_review_support import Fleet, commit_file, git

from cortex_tui.model.state import SessionState, TokenUsage, TriggerRecord
from cortex_tui.review.verify import run_verify


def test_finish_builds_entry_with_stats_scope_verify_and_usage(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("api", scope=["src/**"], verify="echo checking; test -f src/new.py")
    commit_file(wt, "src/new.py", "a = 1\nb = 2\n", "add new module")
    commit_file(wt, "README.md", "# changed\n", "touch readme")
    (wt / "scratch.txt").write_text("wip")
    rec = fl.state.sessions["api"]
    rec.tokens = TokenUsage(input=100, output=20)
    rec.cost_usd = 0.5
    rec.triggers = [TriggerRecord(kind="silence", at=1.0, evidence={"idle_s": 700})]
    fl._save()
    e = fl.finish("api")
    assert e.status == "pending"
    assert e.commits == ["touch readme", "add new module"]
    files = {f.path: f for f in e.files}
    assert (files["src/new.py"].added, files["src/new.py"].removed, files["src/new.py"].in_scope) == (2, 0, True)
    assert (files["README.md"].added, files["README.md"].removed, files["README.md"].in_scope) == (1, 1, False)
    assert e.out_of_scope == ["README.md"]
    assert e.verify is not None and e.verify.exit_code == 0 and "checking" in e.verify.tail
    assert e.conflicts == [] and e.ready
    assert e.uncommitted == ["scratch.txt"]
    assert e.tokens is not None and e.tokens.total == 120 and e.cost_usd == 0.5
    assert [t.kind for t in e.triggers] == ["silence"]
    stored = json.loads((fl.store.dir / "review.json").read_text())
    assert stored["entries"]["api"]["head"] == git(git_repo, "rev-parse", fl.branch("api")).strip()
    assert [ev["session"] for ev in fl.events("review_queued")] == ["api"]


def test_verify_failure_keeps_exit_code_and_tail(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a", verify="for i in $(seq 1 200); do echo line$i; done; exit 3")
    commit_file(wt, "x.txt", "x\n")
    e = fl.finish("a")
    assert e.verify is not None and e.verify.exit_code == 3
    assert e.verify.tail.splitlines()[-1] == "line200"
    assert "line1\n" not in e.verify.tail
    assert not e.ready


def test_verify_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    r = run_verify(f"sleep 300 & echo $! > {pidfile}; echo started; wait", tmp_path, timeout_s=1.0)
    assert time.monotonic() - t0 < 10
    assert r.timed_out and r.exit_code == 124
    assert "started" in r.tail and "timed out" in r.tail
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"background child {pid} of the verify command survived the timeout")


def test_conflicts_refresh_when_base_moves_without_touching_worktree(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "README.md", "# from session\n")
    e = fl.finish("a")
    assert e.conflicts == []
    commit_file(git_repo, "README.md", "# from base\n")
    head_before = git(wt, "rev-parse", "HEAD")
    changed = fl.queue().refresh()
    assert [c.session for c in changed] == ["a"]
    assert fl.queue().get("a").conflicts == ["README.md"]
    assert not fl.queue().get("a").ready
    assert git(wt, "rev-parse", "HEAD") == head_before
    assert git(wt, "status", "--porcelain") == ""
    assert (wt / "README.md").read_text() == "# from session\n"


def test_branch_moving_after_queueing_is_redescribed_and_verify_cleared(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a", verify="true")
    commit_file(wt, "one.txt", "1\n", "one")
    fl.finish("a")
    commit_file(wt, "two.txt", "2\n", "two")
    fl.queue().refresh()
    e = fl.queue().get("a")
    assert e.commits == ["two", "one"]
    assert e.verify is None and not e.ready
    e2 = fl.queue().reverify("a")
    assert e2.verify is not None and e2.verify.exit_code == 0 and e2.ready


def test_order_is_ready_first_then_completion_time(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    for name in ("late_ok", "early_fail", "early_ok"):
        wt = fl.add(name, verify="exit 1" if "fail" in name else "true")
        commit_file(wt, f"{name}.txt", name)
    now = time.time()
    fl.finish("late_ok", finished_at=now)
    fl.finish("early_fail", finished_at=now - 100)
    fl.finish("early_ok", finished_at=now - 50)
    assert [e.session for e in fl.queue().entries()] == ["early_ok", "late_ok", "early_fail"]


def test_finishing_again_starts_a_new_round(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "a.txt", "1")
    assert fl.finish("a").round == 1
    fl.set_state("a", SessionState.RUNNING)
    commit_file(wt, "a.txt", "2")
    e = fl.finish("a")
    assert e.round == 2 and len(e.commits) == 2
