"""Trigger actions (pause/stop/recycle) and the restart policy, on real tmux + sim agents."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import make_sup, run_to_end, triggers

LAYOUT = """
[run]
name = "act"
[defaults]
agent = "sim"
[[session]]
name = "crashy"
restart = { max = 2, backoff_s = [0.3, 0.6] }
script = ["say trying", "exit 7"]
[[session]]
name = "looper"
error_repeats = 2
on_trigger = { repeated_error = "stop" }
script = ["error KeyError: 'x'", "error KeyError: 'x'", "sleep 30", "say never printed"]
[[session]]
name = "hog"
memory_limit = "50MB"
restart = { max = 1, backoff_s = [0.1] }
on_trigger = { memory = "recycle" }
script = ["alloc 100", "sleep 6"]
"""


def test_restart_policy_and_trigger_actions(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    events = run_to_end(sup, timeout=90)
    st = sup.state.sessions
    # crashy: the first run and two restarts, each with backoff, then failed for good
    assert st["crashy"].state.value == "failed" and st["crashy"].exit_code == 7
    assert st["crashy"].restarts == 2
    assert sum(1 for e in events if e.kind == "spawned" and e.session == "crashy") == 3
    assert len(triggers(events, "exited", "crashy")) == 3
    # looper: repeated_error with action stop → stopped before "never printed"
    assert st["looper"].state.value == "stopped" and "repeated_error" in (st["looper"].reason or "")
    log = (git_repo / "coordination/runs/act/logs/looper.log").read_text()
    assert "never printed" not in log
    # hog: memory over the limit → recycled (restarted in the same worktree), which is recorded
    assert len(triggers(events, "memory", "hog")) >= 1
    assert any(e.kind == "action" and e.session == "hog" and e.data["action"] == "restart" for e in events)
    # recycled once (restart max = 1), then the cap holds: no endless recycling
    assert sum(1 for e in events if e.kind == "spawned" and e.session == "hog") == 2
    assert st["hog"].restarts == 1


def test_session_timeout_fails_it(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, """
[run]
name = "to"
[[session]]
name = "slowpoke"
agent = "sim"
timeout = "2s"
script = ["say starting", "sleep 30"]
""", tmp_path)
    events = run_to_end(sup, timeout=40)
    rec = sup.state.sessions["slowpoke"]
    assert rec.state.value == "failed" and rec.reason == "timed out after 2s"
    assert [e.data["state"] for e in events if e.kind == "state" and e.session == "slowpoke"][-1] == "failed"
    assert rec.finished_at is not None and rec.started_at is not None and rec.finished_at - rec.started_at < 10
