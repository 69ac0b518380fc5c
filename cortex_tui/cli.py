"""The ``cortex-tui`` command line (typer). Thin: every command calls the engine or the store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cortex_tui.errors import CortexError, StateError, UsageError
from cortex_tui.selfpath import child_pythonpath

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Supervise fleets of coding agents in tmux windows and git worktrees.")

RepoOpt = Annotated[Path, typer.Option("--repo", help="The git repository the run works on.")]
StateOpt = Annotated[Path | None, typer.Option("--state-dir", help="Run state directory (default <repo>/coordination).")]
RunOpt = Annotated[str | None, typer.Option("--run", help="Run id (default: the most recently active run).")]
_DEBUG = {"on": False}


# ---------------------------------------------------------------------- helpers
def _state_dir(repo: Path, state_dir: Path | None) -> Path:
    from cortex_tui.backends.git import repo_root

    return (state_dir or repo_root(repo.resolve()) / "coordination").resolve()


def _open_run(repo: Path, state_dir: Path | None, run: str | None) -> tuple[Any, Any]:
    """(RunStore, RunState) of an existing run."""
    from cortex_tui.store.files import RunStore, list_runs

    sd = _state_dir(repo, state_dir)
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


def _layout_of(state: Any) -> Any:
    from cortex_tui.layout import parse_layout

    return parse_layout(state.layout_text, Path(state.layout_path))


def _record(state: Any, session: str) -> Any:
    rec = state.sessions.get(session)
    if rec is None:
        raise UsageError(f"no session named {session!r} in run {state.run!r}",
                         f"sessions: {', '.join(state.sessions) or 'none'}")
    return rec


def _supervisor(layout: Path, repo: Path, state_dir: Path | None, headless: bool) -> Any:
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.layout import load_layout

    loaded = load_layout(layout)
    return Supervisor(loaded, repo, state_dir, headless=headless)


def _remote_node(state: Any, node: str) -> Any:
    """The RemoteNode of a session on ``node`` (from the layout stored with the run)."""
    from cortex_tui.engine.remote import make_remote_node

    spec = _layout_of(state).layout.node_by_name(node)
    if spec is None:
        raise StateError(f"run {state.run!r}: node {node!r} is no longer in its layout")
    return make_remote_node(spec, state.run, state.socket)


def _fail(e: CortexError) -> None:
    typer.echo(f"error: {e.message}", err=True)
    if e.hint:
        typer.echo(f"  hint: {e.hint}", err=True)


# ---------------------------------------------------------------------- commands
@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _DEBUG["on"] = debug


@app.command()
def doctor(
    node: Annotated[str | None, typer.Option(help="Also check a remote node of --layout.")] = None,
    layout: Annotated[Path | None, typer.Option(help="Layout declaring --node.")] = None,
) -> None:
    """Check python, tmux, git, ssh; say what to install."""
    from cortex_tui.doctor import render, run_checks

    text, code = render(run_checks())
    typer.echo(text)
    if node:
        from cortex_tui.doctor import check_node

        node_text, ok = check_node(node, str(layout) if layout else None)
        typer.echo("\n" + node_text)
        code = code or (0 if ok else 1)
    raise typer.Exit(code)


@app.command()
def validate(layout: Path) -> None:
    """Validate a layout file (exit 2 with file:line: field on errors)."""
    from cortex_tui.layout import load_layout

    loaded = load_layout(layout)
    typer.echo(f"{layout}: ok — run {loaded.layout.run.name!r}, {len(loaded.layout.session)} session(s)")


@app.command()
def run(
    layout: Path,
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    headless: Annotated[bool, typer.Option("--headless", help="No UI; progress on stderr.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write report JSON here.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    timeout: Annotated[str | None, typer.Option(help="Stop everything after this long (e.g. 30m).")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="Trigger kinds that fail the run (comma list).")] = None,
) -> None:
    """Supervise a layout to completion (headless: for CI). Exit 0 only if every session finished with 0."""
    from cortex_tui.durations import parse_duration
    from cortex_tui.headless.run import run_headless

    try:
        t = parse_duration(timeout) if timeout else None
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from None
    sup = _supervisor(layout, repo, state_dir, headless=True)
    kinds = [k.strip() for k in fail_on.split(",")] if fail_on else []
    raise typer.Exit(run_headless(sup, report=report, junit=junit, timeout=t, fail_on=kinds))


@app.command()
def up(
    layout: Path,
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    detach: Annotated[bool, typer.Option("--detach", help="Supervise in the background; return at once.")] = False,
) -> None:
    """Start (or re-attach to) a run: the TUI, or a background supervisor with --detach."""
    sup = _supervisor(layout, repo, state_dir, headless=False)
    if detach:
        _start_daemon(layout, repo, sup.state_dir, sup.store)
        return
    _run_tui(sup)


def _run_tui(sup: Any) -> None:
    if not sys.stdout.isatty():
        raise UsageError("the TUI needs a terminal", "use --detach, or `cortex-tui run LAYOUT --headless`")
    from cortex_tui.ui.app import run_tui

    run_tui(sup)


def _start_daemon(layout: Path, repo: Path, state_dir: Path, store: Any) -> None:
    store.ensure()
    log = open(store.dir / "supervisor.log", "ab")
    argv = [sys.executable, "-m", "cortex_tui.cli", "_supervise", str(layout.resolve()), "--repo", str(repo.resolve()),
            "--state-dir", str(state_dir)]
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                            close_fds=True, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (store.dir / "supervisor.log").read_text(errors="replace")[-2000:]
            raise CortexError(f"background supervisor exited with code {proc.returncode}:\n{tail}")
        holder = store.lock_holder()
        if holder == proc.pid and store.state_path.exists():
            st = store.load()
            if st is not None and st.supervisor_pid == proc.pid:
                typer.echo(f"run {store.run!r} supervised in the background (pid {proc.pid}); "
                           f"`cortex-tui status --repo {repo}` to watch, `cortex-tui down --repo {repo}` to stop")
                return
        time.sleep(0.05)
    raise CortexError("background supervisor did not start within 30 s", f"see {store.dir / 'supervisor.log'}")


@app.command("_supervise", hidden=True)
def _supervise(layout: Path, repo: RepoOpt = Path("."), state_dir: StateOpt = None) -> None:
    from cortex_tui.engine.runner import attach_progress, supervise_to_end

    sup = _supervisor(layout, repo, state_dir, headless=False)
    attach_progress(sup)
    asyncio.run(supervise_to_end(sup, stop_on_signal=False, until_done=True))


@app.command()
def demo(
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to make the demo repo (default: a temp dir).")] = None,
    headless: Annotated[bool, typer.Option("--headless", help="No TUI (default when stdout is not a terminal).")] = False,
) -> None:
    """Make a throwaway git repo and run the demo layout (sim agents, no API key) in it."""
    from cortex_tui.demo import auto_approve, make_demo_repo

    root = directory or Path(tempfile.mkdtemp(prefix="cortex-demo-"))
    repo, layout = make_demo_repo(root)
    typer.echo(f"demo repo: {repo}\nlayout:    {layout}", err=True)
    sup = _supervisor(layout, repo, None, headless=headless or not sys.stdout.isatty())
    if headless or not sys.stdout.isatty():
        from cortex_tui.headless.run import run_headless

        auto_approve(sup)
        code = run_headless(sup, report=repo / "coordination" / "demo-report.json", junit=None, timeout=240.0,
                            fail_on=[])
        typer.echo(f"report: {repo / 'coordination' / 'demo-report.json'}  (exit code of the run: {code})", err=True)
        typer.echo(f"status: {repo / 'coordination' / 'status.md'}", err=True)
        return
    _run_tui(sup)


@app.command()
def status(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the sessions of a run (state, branch, triggers)."""
    from cortex_tui.store.status import STATE_GLYPH, status_dict

    store, state = _open_run(repo, state_dir, run_id)
    holder = store.lock_holder()
    try:
        layout = _layout_of(state)
        budgets = {s.name: (s.budget_usd, s.budget_tokens) for s in layout.sessions}
    except CortexError:
        budgets = {}
    data = status_dict(state, budgets, supervisor_alive=holder is not None)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    sup = f"supervisor pid {holder}" if holder else "no supervisor running (state as last seen)"
    typer.echo(f"run {state.run} · base {state.base} · {sup}")
    for s in data["sessions"]:
        trig = ", ".join(dict.fromkeys(t["kind"] for t in s["triggers"] if t["active"]))
        typer.echo(f"  {STATE_GLYPH.get(s['state'], ' ')} {s['name']:<20} {s['state']:<9} {s['branch']:<32} "
                   f"exit={'' if s['exit_code'] is None else s['exit_code']:<4} {trig}")


@app.command()
def attach(session: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Attach this terminal to a session's tmux window (detach with the tmux prefix + d)."""
    from cortex_tui.backends.tmux import Tmux

    _, state = _open_run(repo, state_dir, run_id)
    rec = _record(state, session)
    if not rec.window_id:
        raise CortexError(f"session {session!r} has no window (state: {rec.state.value})")
    if rec.node != "local":
        argv = _remote_node(state, rec.node).attach_argv(rec.window_id)
    else:
        argv = Tmux(state.socket).attach_argv(rec.window_id)
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    os.execvpe(argv[0], argv, env)


def _pane_action(session: str, repo: Path, state_dir: Path | None, run_id: str | None, what: str,
                 text: str = "") -> None:
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.engine import actions

    store, state = _open_run(repo, state_dir, run_id)
    rec = _record(state, session)
    if not rec.state.live:
        raise CortexError(f"session {session!r} is not running (state: {rec.state.value})")
    tmux = Tmux(state.socket) if rec.node == "local" else _remote_node(state, rec.node).tmux
    detail = text
    if what == "send":
        actions.send_text(tmux, rec, text)
    elif what in ("approve", "deny"):
        detail = actions.answer(tmux, rec, what == "approve").text
    elif what == "interrupt":
        actions.interrupt(tmux, rec)
    store.append_event({"ts": time.time(), "run": state.run, "kind": "action", "session": session,
                        "data": {"action": what, "detail": detail, "by": os.environ.get("USER", "cli")}})
    typer.echo(f"{what}: sent to {session!r}")


@app.command()
def send(session: str, text: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Type TEXT into a session (literally) and press Enter."""
    _pane_action(session, repo, state_dir, run_id, "send", text)


@app.command()
def approve(session: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Answer yes to the approval prompt a session is waiting on (refuses when none is shown)."""
    _pane_action(session, repo, state_dir, run_id, "approve")


@app.command()
def deny(session: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Answer no to the approval prompt a session is waiting on."""
    _pane_action(session, repo, state_dir, run_id, "deny")


@app.command()
def interrupt(session: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Send the agent's interrupt key (Ctrl-C / Escape)."""
    _pane_action(session, repo, state_dir, run_id, "interrupt")


@app.command()
def down(repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None) -> None:
    """Stop every session and the run's tmux server. Worktrees, branches and logs stay."""
    from cortex_tui.engine.down import take_down

    store, state = _open_run(repo, state_dir, run_id)
    for line in take_down(store, state):
        typer.echo(line)


@app.command()
def events(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the run's events (events.jsonl)."""
    store, _ = _open_run(repo, state_dir, run_id)
    offset = 0
    while True:
        evs, offset = store.read_events(offset)
        for ev in evs:
            if as_json:
                typer.echo(json.dumps(ev))
            else:
                t = time.strftime("%H:%M:%S", time.localtime(ev.get("ts", 0)))
                data = ev.get("data") or {}
                detail = " ".join(f"{k}={v}" for k, v in data.items() if k not in ("at",))[:160]
                typer.echo(f"{t} {ev.get('session') or '-':<16} {ev.get('kind'):<16} {detail}")
        if not follow:
            return
        time.sleep(0.2)


def _mount_optional() -> None:
    """Sub-apps that live in their own packages."""
    try:
        from cortex_tui.review.cli import clean_command, review_app
    except ImportError:
        return
    app.add_typer(review_app, name="review", help="Review queue: list, show, approve, reject, request changes.")
    app.command("clean")(clean_command)


_mount_optional()


def _mount_bestof() -> None:
    """``best-of N --task ...``: fan-out, scoring, judge, winner — lives in cortex_tui.bestof (docs/bestof.md)."""
    from cortex_tui.bestof.cli import best_of_command

    app.command("best-of")(best_of_command)


_mount_bestof()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, hidden=True)
def hook(ctx: typer.Context) -> None:
    """(internal) Claude Code hook handler: appends the hook payload to the session's event file."""
    from cortex_tui import hook as hook_mod

    raise typer.Exit(hook_mod.main(list(ctx.args)))


def main() -> None:
    try:
        app()
    except CortexError as e:
        if _DEBUG["on"]:
            raise
        _fail(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
