"""Finding an existing run and its parts for the commands that act on one (status, send, down, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cortex_tui.errors import StateError, UsageError

if TYPE_CHECKING:
    from cortex_tui.backends.remote import RemoteNode
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.layout import LoadedLayout
    from cortex_tui.model.state import RunState, SessionRecord
    from cortex_tui.store.files import RunStore


def state_dir_of(repo: Path, state_dir: Path | None) -> Path:
    from cortex_tui.backends.git import repo_root

    return (state_dir or repo_root(repo.resolve()) / "coordination").resolve()


def open_run(repo: Path, state_dir: Path | None, run: str | None) -> tuple[RunStore, RunState]:
    """(RunStore, RunState) of an existing run (default: the most recently active one)."""
    from cortex_tui.store.files import RunStore, list_runs

    sd = state_dir_of(repo, state_dir)
    runs = list_runs(sd)
    if run is None:
        if not runs:
            raise StateError(f"no runs under {sd}", "start one with `cortex-tui up LAYOUT --repo PATH`")
        run = runs[-1]
    store = RunStore(sd, run)
    state = store.load()
    if state is None:
        raise StateError(f"no run {run!r} under {sd}", f"known runs: {', '.join(runs) or 'none'}")
    return store, state


def layout_of(state: RunState) -> LoadedLayout:
    from cortex_tui.layout import parse_layout

    return parse_layout(state.layout_text, Path(state.layout_path))


def record(state: RunState, session: str) -> SessionRecord:
    rec = state.sessions.get(session)
    if rec is None:
        raise UsageError(f"no session named {session!r} in run {state.run!r}",
                         f"sessions: {', '.join(state.sessions) or 'none'}")
    return rec


def supervisor(layout: Path, repo: Path, state_dir: Path | None, headless: bool) -> Supervisor:
    from cortex_tui.api.server import ApiServer
    from cortex_tui.doctor import require_tools
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.layout import load_layout

    loaded = load_layout(layout)
    require_tools()  # tmux, git, python: name what is missing before anything starts
    sup = Supervisor(loaded, repo, state_dir, headless=headless)
    sup.plugins.append(ApiServer(sup))  # the local API on the run's unix socket (0600)
    return sup


def serve_api_on(sup: Supervisor, host: str, port: int | None) -> None:
    """Also serve the run's API on TCP (bearer token), or nowhere at all with port -1."""
    from cortex_tui.api.server import ApiServer

    for p in list(sup.plugins):
        if isinstance(p, ApiServer):
            if port == -1:
                sup.plugins.remove(p)
            elif port is not None:
                p.tcp = (host, port)


def remote_node(state: RunState, node: str) -> RemoteNode:
    """The RemoteNode of a session on ``node`` (from the layout stored with the run)."""
    from cortex_tui.backends.remote_node import make_remote_node

    spec = layout_of(state).layout.node_by_name(node)
    if spec is None:
        raise StateError(f"run {state.run!r}: node {node!r} is no longer in its layout")
    return make_remote_node(spec, state.run, state.socket)
