"""``plan "GOAL"``: ask a model for a plan, check it, write a commented layout, print the plan table (docs/plan.md)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import RepoOpt
from cortex_tui.errors import CortexError, UsageError


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (temp file + rename), naming the path on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise CortexError(f"{path}: cannot write the layout: {e.strerror or e}",
                          "free some space or pass --out to another place; nothing was written") from None


@app.command()
def plan(
    goal: Annotated[str, typer.Argument(help="What the run should achieve.")],
    repo: RepoOpt = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Layout to write (default <repo>/layouts/plan.toml).")] = None,
    max_sessions: Annotated[int, typer.Option("--max-sessions", help="At most this many tasks.")] = 6,
    model: Annotated[str, typer.Option("--model", help="The model that plans.")] = "claude-sonnet-4-5",
    agent: Annotated[list[str] | None, typer.Option("--agent", help="Agent(s) the tasks may use (repeat or "
                                                                     "comma list; default claude-code).")] = None,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", min=0, help="The whole run's budget, "
                                                                                  "planning included.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Messages API endpoint (default "
                                                                    "ANTHROPIC_BASE_URL or Anthropic's).")] = None,
    context_tokens: Annotated[int, typer.Option("--context-tokens", min=500, help="Cap on the repo context.")] = 12_000,
    start: Annotated[bool, typer.Option("--run", help="Start the planned run at once (TUI in a terminal, "
                                                      "headless otherwise).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    revise: Annotated[str | None, typer.Option("--revise", help="Plan what is left of this finished run "
                                                                "(its id; see `cortex-tui status`).")] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="One non-streaming request.", hidden=True)] = False,
) -> None:
    """Turn GOAL into a checked layout: tasks, scopes, depends_on, models and budgets that pass the independence test."""
    from cortex_tui.planner.core import Options, make_plan

    repo_p = repo.resolve()
    if not repo_p.is_dir():
        raise UsageError(f"--repo {repo}: no such directory")
    out_p = (out if out is not None else repo_p / "layouts" / "plan.toml")
    out_p = out_p if out_p.is_absolute() else Path.cwd() / out_p
    if out_p.exists() and not force:
        raise UsageError(f"{out_p} exists", "pass --force to overwrite it, or --out another path")
    agents = tuple(a.strip() for v in (agent or ["claude-code"]) for a in v.split(",") if a.strip())
    from cortex_tui.planner.core import run_name_for
    from cortex_tui.planner.revise import previous_run_context, unique_run_name

    state_dir = repo_p / "coordination"
    extra = previous_run_context(repo_p, revise, state_dir) if revise else ""
    run_name = unique_run_name(state_dir, f"{revise[:56]}-rev" if revise else run_name_for(goal))
    opts = Options(goal=goal, repo=repo_p, max_sessions=max_sessions, model=model, agents=agents,
                   budget_usd=budget_usd, base_url=base_url, context_tokens=context_tokens, stream=not no_stream,
                   out_path=out_p, extra_context=extra, run_name=run_name)
    result = make_plan(opts)
    typer.echo(result.context.summary(), err=True)
    if result.repaired:
        typer.echo("the first plan was refused and repaired by one follow-up request", err=True)
    write_atomic(out_p, result.layout_text)
    typer.echo(result.table(budget_usd))
    typer.echo(f"\nwrote {out_p} — check it with `cortex-tui validate {out_p}`, start it with "
               f"`cortex-tui up {out_p} --repo {repo_p}`")
    if not start:
        return
    from cortex_tui.cli._runs import supervisor

    if sys.stdout.isatty() and sys.stdin.isatty():
        from cortex_tui.cli.run import run_tui
        from cortex_tui.planner.draft import Draft
        from cortex_tui.ui.screens.plan import PlanApp

        draft = Draft(result.plan, result.fixes, result.meta, out_p, repo_p)
        choice = PlanApp(draft).run()
        if choice is None:
            typer.echo(f"not started; {out_p} is as written above")
            return
        how, text = choice
        if text != result.layout_text:
            write_atomic(out_p, text)
            typer.echo(f"saved your edits to {out_p}")
        if how == "start":
            run_tui(supervisor(out_p, repo_p, None, headless=False))
        return
    from cortex_tui.headless.run import run_headless

    sup = supervisor(out_p, repo_p, None, headless=True)
    report = sup.state_dir / f"{sup.run_id}-report.json"
    code = run_headless(sup, report=report, junit=None, timeout=None, fail_on=[])
    typer.echo(f"report: {report} (exit code of the run: {code})", err=True)
    raise typer.Exit(code)
