"""``cortex-tui integrate``: the integration gate over a run's branches (see :mod:`cortex_tui.review.integrate`).

Conflict matrix first (every pair and the cumulative merge, in the object database), then the combination on
``cortex/<run>/integration`` from the base tip in an integration worktree (``.cortex/integration/<run>``), the
verify command there, and the smallest failing set when the combination fails. Exit 1 when it does not pass.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import open_run


@app.command()
def integrate(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    sessions: Annotated[str | None, typer.Option("--sessions", help="Comma-separated sessions (default: every "
                                                 "entry of the review queue awaiting a decision).")] = None,
    verify: Annotated[str | None, typer.Option("--verify", help="Verify command (default: the run's).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per verify run.")] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Do the run's branches work together? Conflict matrix, merge, verify, smallest failing set."""
    from cortex_tui.layout import parse_layout
    from cortex_tui.model.events import Event
    from cortex_tui.review.integration_run import integrate_run
    from cortex_tui.review.queue import ReviewQueue
    from cortex_tui.text import visible

    store, state = open_run(repo, state_dir, run_id)
    root = Path(state.repo)
    queue = ReviewQueue.open(root, store.state_dir, state.run)
    names = [s.strip() for s in sessions.split(",") if s.strip()] if sessions else None
    cmd = verify
    if cmd is None:
        layout = parse_layout(state.layout_text, Path(state.layout_path))
        cmd = layout.layout.run.verify
    res = integrate_run(queue, store.dir, state, names, cmd, timeout=timeout)
    names = res.order
    store.append_event(Event(ts=time.time(), run=state.run, kind="integration", data={
        "ok": res.ok, "sessions": names, "failing": res.failing_set, "commit": res.commit,
        "pairs": [p.model_dump() for p in res.pair_conflicts], "left_out": res.left_out, "trigger": "manual"}))
    if as_json:
        typer.echo(json.dumps({**res.model_dump(mode="json"), "ok": res.ok}, indent=2))
    else:
        typer.echo(f"integration of {', '.join(visible(n) for n in names)} on {res.branch} "
                   f"(base {state.base} at {res.base_tip[:12]})")
        for p in res.pair_conflicts:
            typer.echo(f"  conflict: {visible(p.a)} + {visible(p.b)} in {', '.join(visible(x) for x in p.paths[:5])}")
        if res.left_out:
            typer.echo(f"  left out (conflicting): {', '.join(visible(n) for n in res.left_out)}")
        if res.verify is None:
            typer.echo("  no verify command (pass --verify or set [run] verify)")
        else:
            typer.echo(f"  verify: exit {res.verify.exit_code} in {res.verify.duration_s:.1f}s (log {res.verify.log_path})")
        if res.failing_set:
            first = next((s for s in res.steps if s.sessions == res.failing_set), None)
            typer.echo(f"  {' + '.join(visible(n) for n in res.failing_set)} fail together"
                       + (f" (log {first.log_path})" if first else ""))
            if first:
                for line in first.tail.splitlines()[-5:]:
                    typer.echo(f"    {visible(line)}")
        typer.echo("  OK: the combination works (`cortex-tui review approve --integration` fast-forwards the base "
                   "to it)" if res.ok else "  FAILED")
    if not res.ok:
        raise typer.Exit(1)
