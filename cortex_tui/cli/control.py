"""Ending and steering runs from the shell: ``down`` (one run, a chosen one, or ``--all``), ``stop`` and
``restart`` of one session, ``logs`` of one session (``-f`` to follow, ``--lines N``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import RepoOpt, RunOpt, SessionArg, StateOpt
from cortex_tui.cli._runs import open_run, record, state_dir_of
from cortex_tui.errors import CortexError, UsageError
from cortex_tui.store.logs import log_start

if TYPE_CHECKING:
    from cortex_tui.model.state import RunState
    from cortex_tui.store.files import RunStore


def live_runs(state_dir: Path) -> list[tuple[RunStore, RunState]]:
    """Runs under ``state_dir`` that still have something to stop: a supervisor, a live or pending session,
    or a tmux server (dead panes included)."""
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.model.state import SessionState
    from cortex_tui.store.files import RunStore, list_runs

    out = []
    for run in list_runs(state_dir):
        store = RunStore(state_dir, run)
        state = store.load()
        if state is None:
            continue
        busy = any(r.state.live or r.state is SessionState.PENDING for r in state.sessions.values())
        if store.lock_holder() or busy or Tmux(state.socket).alive():
            out.append((store, state))
    return out


def _describe(state: RunState) -> str:
    counts: dict[str, int] = {}
    for r in state.sessions.values():
        counts[r.state.value] = counts.get(r.state.value, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"{state.run} ({parts or 'no sessions'}; tmux socket {state.socket})"


@app.command()
def down(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Stop every live run of this repo.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask when several runs are live.")] = False,
) -> None:
    """Stop a run: its supervisor, every session and its tmux server. Worktrees, branches and logs stay.

    With several live runs in the repo and no --run: lists them and asks (or use --all)."""
    from cortex_tui.engine.down import take_down

    if run_id is not None and all_runs:
        raise UsageError("--run and --all exclude each other")
    if run_id is not None:
        targets = [open_run(repo, state_dir, run_id)]
    else:
        sd = state_dir_of(repo, state_dir)
        targets = live_runs(sd)
        if not targets:
            store, state = open_run(repo, state_dir, None)  # the latest run, to say it is already down
            typer.echo(f"run {state.run!r} is not running (no supervisor, no live session, no tmux server); "
                       f"nothing to stop")
            return
        if len(targets) > 1 and not all_runs:
            typer.echo(f"{len(targets)} live runs in {sd}:")
            for _, st in targets:
                typer.echo(f"  {_describe(st)}")
            if yes or (sys.stdin.isatty() and typer.confirm(f"stop all {len(targets)}?", default=False)):
                pass
            else:
                raise UsageError("several live runs: name one with --run NAME, or stop them all with --all")
    for store, state in targets:
        for line in take_down(store, state):
            typer.echo(line)


def live_api(store: RunStore) -> Path | None:
    """The API socket of the supervisor that holds the run now, or None: no supervisor holds it, or the one
    that does serves no API (``--api-port -1``, an engine embedded in another program). Then, and only then,
    commands act on tmux and the saved state directly."""
    import socket

    from cortex_tui.api.server import find_socket

    if not store.lock_holder():
        return None
    try:
        path = find_socket(store.dir)
    except CortexError:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5.0)
    try:
        s.connect(str(path))
    except OSError:  # a socket file left by an earlier supervisor (kill -9): nobody listens there
        return None
    finally:
        s.close()
    return path


def api_call(store: RunStore, session: str, action: str, timeout: float = 60.0,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST ``/v1/sessions/{session}/{action}`` to the run's supervisor over its API socket (0600)."""
    from urllib.parse import quote

    return api_request(store, "POST", f"/v1/sessions/{quote(session, safe='')}/{action}", action, timeout,
                       body or {})


def api_request(store: RunStore, method: str, url: str, action: str, timeout: float = 60.0,
                body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``method url`` on the run's supervisor over its API socket (0600); ``action`` names it in errors."""
    import http.client
    import socket

    from cortex_tui.api.server import find_socket

    try:
        path = find_socket(store.dir)
    except CortexError:
        pid = store.lock_holder()
        if pid is None:
            raise
        raise CortexError(f"the supervisor holding this run (pid {pid}) serves no API, so `{action}` cannot reach "
                          "it (it was started with --api-port -1, or an engine embedded in another program)",
                          "act from that supervisor's own TUI, or quit it (`cortex-tui down` keeps the agents "
                          "running) and run the command again") from None

    class _Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(str(path))
            self.sock = s

    conn = _Unix("cortex", timeout=timeout)
    try:
        conn.request(method, url, body=None if body is None else json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", "X-Cortex-Origin": "cli"})
        resp = conn.getresponse()
        raw = resp.read()
    except OSError as e:
        raise CortexError(f"could not reach the run's supervisor at {path}: {e.strerror or e}",
                          f"see {store.dir / 'supervisor.log'}") from None
    finally:
        conn.close()
    try:
        data: dict[str, Any] = json.loads(raw or b"{}")
    except ValueError:
        data = {}
    if resp.status != 200:
        message = str(data.get("error") or data.get("message") or f"the supervisor answered {resp.status}")
        if resp.status == 404:
            raise UsageError(message, data.get("hint"))
        raise CortexError(message, data.get("hint"))
    return data


def _wait_state(store: RunStore, session: str, pred: Callable[[str], bool], timeout: float,
                after_attempt: int | None = None) -> str | None:
    """The session's state once ``pred`` holds — or, with ``after_attempt``, once it has begun a later attempt
    (a quick agent may have run and ended again between two looks)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = store.load()
        rec = st.sessions.get(session) if st is not None else None
        if rec is not None and (pred(rec.state.value) or (after_attempt is not None and rec.attempt > after_attempt)):
            return rec.state.value
        time.sleep(0.1)
    return None


@app.command()
def stop(session: SessionArg, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Stop one session (its agent and process tree); worktree, branch and log stay. `restart` starts it again."""
    from cortex_tui.engine.down import stop_one

    store, state = open_run(repo, state_dir, run_id)
    rec = record(state, session)
    if not store.lock_holder():
        typer.echo(stop_one(store, state, rec.name))
        return
    if rec.state.terminal:
        typer.echo(f"{session!r} is not running (state: {rec.state.value}); nothing to stop")
        return
    api_call(store, session, "stop")
    typer.echo(f"stopped {session!r} (worktree {rec.worktree} and branch {rec.branch} kept; "
               f"`cortex-tui restart {session}` starts it again)")


@app.command()
def restart(session: SessionArg, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Stop a session if it runs and start it again (same worktree and branch).

    Without a live supervisor for the run, starts one in the background first (as `up --detach` does)."""
    from cortex_tui.cli.run import start_daemon

    store, state = open_run(repo, state_dir, run_id)
    rec = record(state, session)
    if store.lock_holder():
        api_call(store, session, "restart")
    else:
        start_daemon(Path(state.layout_path), Path(state.repo), store.state_dir, store, ["--restart", session])
        if _wait_state(store, session, lambda s: s in ("running", "waiting") or s == "starting", 30.0,
                       after_attempt=rec.attempt) is None:
            raise CortexError(f"the background supervisor did not restart {session!r} within 30 s",
                              f"see {store.dir / 'supervisor.log'}")
    typer.echo(f"restarted {session!r} in its worktree {rec.worktree} (branch {rec.branch}); "
               f"`cortex-tui logs {session} -f` follows it")


@app.command()
def logs(
    session: SessionArg,
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what the session prints.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="How many last lines to print first.")] = 50,
) -> None:
    """Print a session's log (every byte its pane printed, control sequences made safe), without attaching."""
    store, state = open_run(repo, state_dir, run_id)
    rec = record(state, session)
    path = store.logs_dir / f"{rec.slug}.log"
    if not path.exists():
        raise CortexError(f"session {session!r} has no log yet ({path})", f"its state: {rec.state.value}")
    tail, offset = log_tail(path, lines)
    for line in tail:
        typer.echo(line)
    if not follow:
        return
    pending = b""
    try:
        while True:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            pending += chunk
            *done, pending = pending.split(b"\n")
            for raw in done:
                typer.echo(safe_line(raw))
            if not chunk:
                st = store.load()
                r = st.sessions.get(session) if st is not None else None
                if r is not None and r.state.terminal and not pending:
                    typer.echo(f"-- {session!r} ended: {r.state.value}"
                               + (f" (exit {r.exit_code})" if r.exit_code is not None else ""), err=True)
                    return
                time.sleep(0.2)
    except KeyboardInterrupt:
        return


def safe_line(raw: bytes) -> str:
    """One log line as a terminal would show it, with every escape and control sequence removed (the log is
    what an agent printed: hostile)."""
    from cortex_tui.watch.text import clean_line

    return clean_line(raw.decode("utf-8", errors="replace"))


def log_tail(path: Path, lines: int, chunk: int = 64 * 1024) -> tuple[list[str], int]:
    """The last ``lines`` lines of ``path`` (made safe) and the offset of its end (where ``-f`` goes on)."""
    size = path.stat().st_size
    if lines == 0:
        return [], size
    data = b""
    pos = size
    floor = log_start(path)  # a rotated log: nothing before this is kept (store/logs.py)
    with open(path, "rb") as f:
        while pos > floor and data.count(b"\n") <= lines:
            step = min(chunk, pos - floor)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    return [safe_line(r) for r in raw[-lines:]], size
