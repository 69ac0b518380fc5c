"""Watching a run from outside: ``metrics`` (Prometheus exposition once) and ``status --tmux`` (a short
segment for the user's own tmux status line)."""

from __future__ import annotations

from pathlib import Path

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import open_run
from cortex_tui.model.state import RunState, SessionState


@app.command()
def metrics(repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Print the run's metrics once in the Prometheus text format (for node_exporter's textfile collector)."""
    from cortex_tui.engine.observers import review_counts
    from cortex_tui.metrics import Snapshot, exposition, spawn_durations
    from cortex_tui.review.queue import ReviewQueue

    store, state = open_run(repo, state_dir, run_id)
    snap = Snapshot(state=state, spawn_durations=spawn_durations(e.model_dump() for e in store.iter_events()),
                    supervisor_alive=store.lock_holder() is not None)
    snap.review, snap.verify = review_counts(ReviewQueue.open(repo, state_dir, state.run).entries())
    typer.echo(exposition(snap), nl=False)


def tmux_segment(state: RunState) -> str:
    """``⚠2 ▶5 ✗1``: sessions needing a human first, then running, then failed; empty parts left out."""
    recs = list(state.sessions.values())
    need = sum(1 for r in recs if r.state is SessionState.WAITING or any(
        t.active and t.severity in ("attention", "error") for t in r.triggers))
    running = sum(1 for r in recs if r.state in (SessionState.RUNNING, SessionState.STARTING))
    idle = sum(1 for r in recs if r.state is SessionState.IDLE)
    failed = sum(1 for r in recs if r.state is SessionState.FAILED)
    parts = [f"⚠{need}" if need else "", f"▶{running}" if running else "", f"◇{idle}" if idle else "",
             f"✗{failed}" if failed else ""]
    return " ".join(p for p in parts if p) or "✓"
