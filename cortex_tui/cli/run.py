"""Starting and ending runs: ``run`` (headless), ``up`` (TUI or --detach), ``demo``, ``down``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._checks import StrictOpt, independence
from cortex_tui.cli._options import RepoOpt, StateOpt
from cortex_tui.cli._runs import serve_api_on, supervisor
from cortex_tui.errors import CortexError, DiskError, UsageError
from cortex_tui.layout import load_layout
from cortex_tui.private import open_private
from cortex_tui.selfpath import child_pythonpath
from cortex_tui.store.files import io_at

if TYPE_CHECKING:
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.store.files import RunStore


MetricsPortOpt = Annotated[int | None, typer.Option(
    "--metrics-port", help="Serve Prometheus /metrics on this port while supervising (0: any free port).")]
MetricsHostOpt = Annotated[str, typer.Option(
    "--metrics-host", help="Address for --metrics-port (default loopback only).")]


ApiPortOpt = Annotated[int | None, typer.Option(
    "--api-port", help="Also serve the local API on TCP with a bearer token (0: any free port; -1: no API at all).")]
ApiHostOpt = Annotated[str, typer.Option("--api-host", help="Address for --api-port (default loopback only).")]


def metrics_addr(host: str, port: int | None) -> tuple[str, int] | None:
    return None if port is None else (host, port)


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
    strict: StrictOpt = False,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = "127.0.0.1",
    api_port: ApiPortOpt = None,
    api_host: ApiHostOpt = "127.0.0.1",
    integrate: Annotated[bool, typer.Option("--integrate", help="Headless: run the integration gate over the "
                                            "finished branches at the end; a failing combination fails the run.")] = False,
) -> None:
    """Supervise a layout to completion (headless: for CI). Exit 0 only if every session finished with 0."""
    from cortex_tui.durations import parse_duration
    from cortex_tui.headless.run import run_headless

    try:
        t = parse_duration(timeout) if timeout else None
    except ValueError as e:
        raise UsageError(f"--timeout: {e}") from None
    independence(load_layout(layout), repo, strict=strict)  # before anything starts
    sup = supervisor(layout, repo, state_dir, headless=True)
    sup.metrics_addr = metrics_addr(metrics_host, metrics_port)
    serve_api_on(sup, api_host, api_port)
    kinds = [k.strip() for k in fail_on.split(",")] if fail_on else []
    raise typer.Exit(run_headless(sup, report=report, junit=junit, timeout=t, fail_on=kinds, integrate=integrate))


@app.command()
def up(
    layout: Path,
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    detach: Annotated[bool, typer.Option("--detach", help="Supervise in the background; return at once.")] = False,
    strict: StrictOpt = False,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = "127.0.0.1",
    api_port: ApiPortOpt = None,
    api_host: ApiHostOpt = "127.0.0.1",
) -> None:
    """Start (or re-attach to) a run: the TUI, or a background supervisor with --detach."""
    independence(load_layout(layout), repo, strict=strict)  # before anything starts
    sup = supervisor(layout, repo, state_dir, headless=False)
    sup.metrics_addr = metrics_addr(metrics_host, metrics_port)
    serve_api_on(sup, api_host, api_port)
    if detach:
        extra = ["--metrics-port", str(metrics_port), "--metrics-host", metrics_host] if metrics_port is not None else []
        extra += ["--api-port", str(api_port), "--api-host", api_host] if api_port is not None else []
        start_daemon(layout, repo, sup.state_dir, sup.store, extra)
        return
    run_tui(sup, layout)



def run_tui(sup: Supervisor, layout: Path | None = None) -> None:
    """The TUI; when the user quits, say what keeps running and offer to keep supervising it in the
    background (``[Y/n]``; without a terminal to ask on, a run that had a background supervisor before —
    ``up --detach``, then ``up`` — is handed back to a new one), so the agents stay watched."""
    if not sys.stdout.isatty():
        raise UsageError("the TUI needs a terminal", "use --detach, or `cortex-tui run LAYOUT --headless`")
    from cortex_tui.ui.app import run_tui as ui_run_tui

    had_daemon = bool(sup.store.lock_holder())  # the TUI takes the run over from it (SIGUSR1)
    ui_run_tui(sup)
    after_quit(sup, layout, had_daemon)


def after_quit(sup: Supervisor, layout: Path | None, had_daemon: bool, *, ask: bool | None = None) -> None:
    """After the TUI: what keeps running, and who supervises it. ``ask`` (default: stdin is a terminal) asks
    "keep supervising in the background? [Y/n]"; not asked, a run that had a background supervisor gets one
    back and any other is left unsupervised, saying so."""
    from cortex_tui.model.state import SessionState

    state = sup.store.load() or sup.state
    live = [r.name for r in state.sessions.values() if r.state.live or r.state is SessionState.PENDING]
    repo = state.repo
    if not live:
        typer.echo(f"every session of run {state.run!r} has ended; nothing keeps running "
                   f"(logs in {sup.store.logs_dir})")
        return
    names = ", ".join(live[:6]) + (f" and {len(live) - 6} more" if len(live) > 6 else "")
    typer.echo(f"still running: {len(live)} session(s) of run {state.run!r} ({names}) in tmux "
               f"(`tmux -L {state.socket} ls`)")
    back = f"`cortex-tui up {layout or state.layout_path} --repo {repo}` to come back"
    if layout is None and state.layout_path and Path(state.layout_path).is_file():
        layout = Path(state.layout_path)
    keep = had_daemon
    if layout is not None and (sys.stdin.isatty() if ask is None else ask):
        keep = typer.confirm("keep supervising in the background?", default=True)
    if keep and layout is not None:
        start_daemon(layout, Path(repo), sup.state_dir, sup.store)  # says where and how to stop it
        typer.echo(f"{back}, `cortex-tui down --repo {repo}` to stop them")
        return
    typer.echo(f"nobody supervises them now (no triggers, no review until you come back): {back} "
               f"(add --detach to supervise in the background), `cortex-tui down --repo {repo}` to stop them")


def start_daemon(layout: Path, repo: Path, state_dir: Path, store: RunStore, extra: list[str] | None = None) -> None:
    """Start ``_supervise`` in the background and wait until it holds the run.

    Until the daemon has its log open (``supervisor.log``, written by the daemon itself) its output comes
    to this process through a pipe: a daemon that cannot write its log (full disk, read-only directory)
    says why here instead of dying silently; and a failing daemon shows its own words, not the lines
    another supervisor left in the shared log.
    """
    store.ensure()
    log_path = store.dir / "supervisor.log"
    since = store.events_end()
    argv = [sys.executable, "-m", "cortex_tui.cli", "_supervise", str(layout.resolve()), "--repo", str(repo.resolve()),
            "--state-dir", str(state_dir), "--log", str(log_path), *(extra or [])]
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True, env=env)
    assert proc.stdout is not None
    early: list[bytes] = []
    reader = threading.Thread(target=lambda: early.extend(iter(proc.stdout.readline, b"")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the reader ends by itself: the daemon's log takes over its stdout
        if proc.poll() is not None:
            reader.join(5)
            said = b"".join(early).decode(errors="replace").strip()
            kind = DiskError if proc.returncode == DiskError.exit_code else CortexError
            raise kind(f"background supervisor exited with code {proc.returncode}"
                       + (f":\n{said}" if said else f" before it could write {log_path}"),
                       None if said else f"see {log_path}; check that its disk is neither full nor read-only")
        holder = store.lock_holder()
        if holder == proc.pid and store.state_path.exists():
            st = store.load()
            if st is not None and st.supervisor_pid == proc.pid and _serving(store, extra or [], since):
                typer.echo(f"run {store.run!r} supervised in the background (pid {proc.pid}); "
                           f"`cortex-tui status --repo {repo}` to watch, `cortex-tui down --repo {repo}` to stop")
                return
        time.sleep(0.05)
    raise CortexError("background supervisor did not start within 30 s", f"see {log_path}")


def _serving(store: RunStore, extra: list[str], since: int) -> bool:
    """The daemon's local API is up (or it runs without one, or it said it could not open it) — events after
    byte ``since`` of events.jsonl: what `up --detach` waits for, so a command right after it (`cortex-tui
    add`, an MCP lead) finds the API."""
    if "--api-port" in extra and extra[extra.index("--api-port") + 1] == "-1":
        return True
    events, _ = store.read_events(since)
    return any(e.kind in ("api_serving", "plugin_error") for e in events)


def _own_log(log: Path | None) -> None:
    """The daemon: from now on stdout/stderr go to ``log`` (the pipe to `up` is closed). A log that cannot be
    opened or written is a DiskError, said on the pipe, so the `up` that started the daemon reports it."""
    if log is None:
        return
    with io_at(log, "writing the supervisor log"):
        f = open_private(log)
        f.write(f"── cortex-tui supervisor pid {os.getpid()} · {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        f.flush()
        os.fsync(f.fileno())
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(f.fileno(), 1)
    os.dup2(f.fileno(), 2)
    f.close()


@app.command("_supervise", hidden=True)
def _supervise(layout: Path, repo: RepoOpt = Path("."), state_dir: StateOpt = None,
               metrics_port: MetricsPortOpt = None, metrics_host: MetricsHostOpt = "127.0.0.1",
               api_port: ApiPortOpt = None, api_host: ApiHostOpt = "127.0.0.1",
               restart: Annotated[list[str] | None, typer.Option(
                   "--restart", help="Restart these sessions once started (`cortex-tui restart` of a run "
                                     "no supervisor holds).")] = None,
               log: Annotated[Path | None, typer.Option("--log", help="Write output here.")] = None) -> None:
    from cortex_tui.engine.runner import attach_progress, supervise_to_end

    _own_log(log)
    sup = supervisor(layout, repo, state_dir, headless=False)
    sup.metrics_addr = metrics_addr(metrics_host, metrics_port)
    serve_api_on(sup, api_host, api_port)
    attach_progress(sup)

    async def main() -> None:
        if restart:
            await sup.start()
            for name in restart:
                await sup.restart_session(name)
        await supervise_to_end(sup, stop_on_signal=False, until_done=True)

    asyncio.run(main())
