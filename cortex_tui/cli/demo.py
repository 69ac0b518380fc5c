"""``cortex-tui demo``: the bundled sim-agent layout in a fresh demo repo (TUI in a terminal, headless otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._runs import supervisor
from cortex_tui.cli.run import run_tui


@app.command()
def demo(
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Where to make the demo repo (default: a new folder under $TMPDIR/cortex-demos-UID/, "
                      "the last 3 kept).")] = None,
    headless: Annotated[bool, typer.Option("--headless", help="No TUI (default when stdout is not a terminal).")] = False,
) -> None:
    """Run the demo: six sim agents (no API key) that fire all 8 triggers within a minute, in a fresh demo repo."""
    from cortex_tui.demo import KEEP_DEMOS, PLANNED_FAILURE, auto_approve, demos_home, make_demo_repo, new_demo_root
    from cortex_tui.doctor import require_tools

    require_tools()  # before any folder is made: say what is missing, exit 2
    if directory is not None:
        root = directory
        where = ""
    else:
        root, removed = new_demo_root()
        where = (f"  (demo folders live in {demos_home()}: the last {KEEP_DEMOS} are kept"
                 + (f", {len(removed)} older removed)" if removed else ")"))
    repo, layout = make_demo_repo(root)
    typer.echo(f"demo repo: {repo}{where}\nlayout:    {layout}", err=True)
    typer.echo(f"demo: session {PLANNED_FAILURE!r} fails on purpose (exit 1) to show the repeated_error and "
               "exited triggers", err=True)
    interactive = not headless and sys.stdout.isatty()
    sup = supervisor(layout, repo, None, headless=not interactive)
    if interactive:
        run_tui(sup)
        return
    from cortex_tui.demo import verdict
    from cortex_tui.headless.run import run_headless

    auto_approve(sup)
    report = repo / "coordination" / "demo-report.json"
    code = run_headless(sup, report=report, junit=None, timeout=240.0, fail_on=[])
    ok, lines = verdict(sup)
    for line in lines:
        typer.echo(line, err=True)
    if report.exists():
        why = f" — 1 because {PLANNED_FAILURE!r} fails on purpose" if code == 1 and ok else ""
        typer.echo(f"report: {report}  (exit code of the run: {code}{why})", err=True)
    status = repo / "coordination" / "status.md"
    if status.exists():
        typer.echo(f"status: {status}", err=True)
    if code not in (0, 1):  # timeout, supervisor error, signal: the demo itself failed
        raise typer.Exit(code)
    raise typer.Exit(0 if ok else 1)
