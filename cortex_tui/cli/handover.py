"""``cortex-tui continue SESSION [--from-base]``: a session ``blocked`` by its dependencies' merge conflict starts.

Resolve the conflict in its worktree (``git add`` the files) and continue, or start it from the run's base
without its dependencies' work (the conflicted merge is kept under a backup ref). With a live supervisor the
command goes through the run's local API; without one, the record is updated and a background supervisor
started (as ``restart`` does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import RepoOpt, RunOpt, SessionArg, StateOpt
from cortex_tui.cli._runs import open_run, record


@app.command(name="continue")
def continue_(
    session: SessionArg,
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    from_base: Annotated[bool, typer.Option("--from-base", help="Start it from the base without its dependencies' work.")] = False,
) -> None:
    """Start a `blocked` session: with the merge resolved in its worktree, or --from-base."""
    from cortex_tui.cli.control import api_call
    from cortex_tui.cli.run import start_daemon
    from cortex_tui.engine.handover import continue_blocked
    from cortex_tui.model.state import SessionState

    store, state = open_run(repo, state_dir, run_id)
    rec = record(state, session)
    if store.lock_holder():
        api_call(store, session, "continue-from-base" if from_base else "continue")
        typer.echo(f"{session!r} continues" + (" from the base" if from_base else f" in {rec.worktree}"))
        return
    done = continue_blocked(Path(state.repo), state.run, rec, state.base_commit, from_base=from_base)
    rec.state = SessionState.PENDING
    rec.reason = None
    store.save(state)
    start_daemon(Path(state.layout_path), Path(state.repo), store.state_dir, store, [])
    typer.echo(f"{done}; a background supervisor starts it (`cortex-tui logs {session} -f` follows it)")
