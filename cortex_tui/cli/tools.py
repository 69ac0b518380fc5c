"""``doctor``, ``validate`` and the internal ``hook`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._checks import StrictOpt


@app.command()
def doctor(
    node: Annotated[str | None, typer.Option(help="Also check a remote node of --layout.")] = None,
    layout: Annotated[Path | None, typer.Option(help="Layout declaring --node.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="With --probe: the agent kind to probe.")] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Start --agent's CLI briefly against its configured "
                                        "endpoint: version, auth, endpoint reachable, one short headless turn.")] = False,
    model: Annotated[str | None, typer.Option("--model", help="With --probe: the model the turn asks for.")] = None,
) -> None:
    """Check python, tmux, git, ssh; say what to install. ``--agent X --probe`` tries agent X for real."""
    if probe or agent:
        if not (probe and agent):
            raise typer.BadParameter("--agent and --probe go together: `cortex-tui doctor --agent codex --probe`")
        from cortex_tui.probe import probe as run_probe

        report = run_probe(agent, model=model)
        typer.echo(report.render())
        raise typer.Exit(0 if report.ok else 1)
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
def validate(
    layout: Path,
    repo: Annotated[Path | None, typer.Option("--repo", help="Repo whose tracked files the scopes are checked "
                                                            "against (default: the one holding the layout).")] = None,
    strict: StrictOpt = False,
) -> None:
    """Validate a layout file (exit 2 with file:line: field on errors) and run the independence test."""
    from cortex_tui.cli._checks import independence
    from cortex_tui.layout import load_layout

    loaded = load_layout(layout)
    report = independence(loaded, repo, strict=strict)
    extra = f"; {len(report.overlaps)} independence warning(s)" if report.overlaps else ""
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"{layout}: ok — run {loaded.layout.run.name!r}, {len(loaded.layout.session)} session(s){extra}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, hidden=True)
def hook(ctx: typer.Context) -> None:
    """(internal) Claude Code hook handler: appends the hook payload to the session's event file."""
    from cortex_tui import hook as hook_mod

    raise typer.Exit(hook_mod.main(list(ctx.args)))
