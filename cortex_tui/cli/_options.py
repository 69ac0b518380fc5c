"""Options shared by every command (``--repo``, ``--state-dir``, ``--run``, ``--json``) and the one error printer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cortex_tui.errors import CortexError, RefusedError

RepoOpt = Annotated[Path, typer.Option("--repo", help="The git repository the run works on.")]
StateOpt = Annotated[Path | None, typer.Option("--state-dir", help="Run state directory (default <repo>/coordination).")]
RunOpt = Annotated[str | None, typer.Option("--run", help="Run id (default: the most recently active run).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def complete_session(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of SESSION: the session names of the run ``--repo``/``--state-dir``/``--run`` name."""
    from cortex_tui.cli._runs import open_run
    from cortex_tui.errors import CortexError

    p = ctx.params
    try:
        _, state = open_run(Path(p.get("repo") or "."), p.get("state_dir"), p.get("run_id"))
    except (CortexError, OSError):
        return []
    return [n for n in state.sessions if n.startswith(incomplete)]


SessionArg = Annotated[str, typer.Argument(help="A session name of the run.", autocompletion=complete_session)]


def echo_error(e: CortexError, label: str = "error") -> None:
    """``label: message`` and the hint on stderr."""
    typer.echo(f"{label}: {e.message}", err=True)
    if e.hint:
        typer.echo(f"  hint: {e.hint}", err=True)


def fail(e: CortexError) -> NoReturn:
    """Print ``e`` (``refused:`` for a refusal, ``error:`` otherwise) and exit with its code."""
    echo_error(e, "refused" if isinstance(e, RefusedError) else "error")
    raise typer.Exit(e.exit_code)
