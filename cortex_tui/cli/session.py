"""Acting on one live session from the shell: ``attach``, ``send``, ``approve``, ``deny``, ``interrupt``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import RepoOpt, RunOpt, SessionArg, StateOpt
from cortex_tui.cli._runs import open_run, record, remote_node
from cortex_tui.errors import CortexError
from cortex_tui.model.events import Event

if TYPE_CHECKING:
    from cortex_tui.model.state import RunState
    from cortex_tui.store.files import RunStore


@app.command()
def attach(session: SessionArg, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Attach this terminal to a session's tmux window (detach with the tmux prefix + d)."""
    from urllib.parse import quote

    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.cli.control import api_request, live_api

    store, state = open_run(repo, state_dir, run_id)
    rec = record(state, session)
    window, node, now = rec.window_id, rec.node, rec.state.value
    if live_api(store) is not None:  # the live supervisor knows the window now (state.json may lag a restart)
        live = api_request(store, "GET", f"/v1/sessions/{quote(session, safe='')}", "attach", 10.0)
        window, node, now = live.get("window") or None, str(live.get("node") or node), str(live.get("state", now))
    if not window:
        raise CortexError(f"session {session!r} has no window (state: {now})")
    if node != "local":
        argv = remote_node(state, node).attach_argv(window)
    else:
        argv = Tmux(state.socket).attach_argv(window)
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    os.execvpe(argv[0], argv, env)


def _pane_action(session: str, repo: Path, state_dir: Path | None, run_id: str | None, what: str,
                 text: str = "") -> None:
    """Through the live supervisor's API when one holds the run (it knows the session's pane and state now;
    state.json is saved up to 0.25 s behind it), on tmux directly only when no supervisor serves the run."""
    from cortex_tui.cli.control import api_call, live_api

    store, state = open_run(repo, state_dir, run_id)
    if live_api(store) is not None:
        api_call(store, session, what, body={"text": text} if what == "send" else None)
        typer.echo(f"{what}: sent to {session!r}")
        return
    _direct(store, state, session, what, text)


def _direct(store: RunStore, state: RunState, session: str, what: str, text: str) -> None:
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.engine import actions

    rec = record(state, session)
    if not rec.state.live:
        raise CortexError(f"session {session!r} is not running (state: {rec.state.value})")
    tmux = Tmux(state.socket) if rec.node == "local" else remote_node(state, rec.node).tmux
    detail = text
    if what == "send":
        actions.send_text(tmux, rec, text)
    elif what in ("approve", "deny"):
        detail = actions.answer(tmux, rec, what == "approve").text
    elif what == "interrupt":
        actions.interrupt(tmux, rec)
    store.append_event(Event(ts=time.time(), run=state.run, kind="action", session=session,
                             data={"action": what, "detail": detail, "by": os.environ.get("USER", "cli")}))
    typer.echo(f"{what}: sent to {session!r}")


@app.command()
def send(session: SessionArg, text: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Type TEXT into a session (literally) and press Enter."""
    _pane_action(session, repo, state_dir, run_id, "send", text)


@app.command()
def approve(session: SessionArg, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Answer yes to the approval prompt a session is waiting on (refuses when none is shown)."""
    _pane_action(session, repo, state_dir, run_id, "approve")


@app.command()
def deny(session: SessionArg, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Answer no to the approval prompt a session is waiting on."""
    _pane_action(session, repo, state_dir, run_id, "deny")


@app.command()
def interrupt(session: SessionArg, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Send the agent's interrupt key (Ctrl-C / Escape)."""
    _pane_action(session, repo, state_dir, run_id, "interrupt")
