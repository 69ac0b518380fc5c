"""The root typer app every command module registers on, and the ``--debug`` flag."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Supervise fleets of coding agents in tmux windows and git worktrees.")
DEBUG = {"on": False}


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    DEBUG["on"] = debug
