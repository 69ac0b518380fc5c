"""The shell around the command: ``cortex-tui --version`` (in ``_app``) and ``cortex-tui completion SHELL``
(bash, zsh, fish; session names complete from the run of ``--repo``, default the current directory)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from cortex_tui.cli._app import app
from cortex_tui.errors import UsageError

try:  # register typer's bash/zsh/fish completion classes: `_CORTEX_TUI_COMPLETE=… cortex-tui` answers them
    from typer._completion_classes import completion_init

    completion_init()
except ImportError:  # pragma: no cover - a typer without them: `completion` says so
    pass

PROG = "cortex-tui"
COMPLETE_VAR = "_CORTEX_TUI_COMPLETE"
Shell = Literal["bash", "zsh", "fish"]
_INSTALL_TO: dict[str, str] = {
    "bash": "~/.local/share/bash-completion/completions/cortex-tui",
    "zsh": "~/.zfunc/_cortex-tui",
    "fish": "~/.config/fish/completions/cortex-tui.fish",
}
_AFTER = {"bash": "open a new shell (bash-completion loads it on first use)",
          "zsh": "add `fpath+=~/.zfunc; autoload -Uz compinit; compinit` to ~/.zshrc (before any compinit), "
                 "then open a new shell",
          "fish": "open a new shell"}


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (typer's own, driven by ``_CORTEX_TUI_COMPLETE``)."""
    from typer._click.shell_completion import get_completion_class  # typer vendors click
    from typer.main import get_command

    cls = get_completion_class(shell)
    if cls is None:
        raise UsageError(f"no completion for shell {shell!r}", "use bash, zsh or fish")
    comp = cls(get_command(app), {}, PROG, COMPLETE_VAR)
    return str(comp.source())


@app.command()
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
    install: Annotated[bool, typer.Option("--install", help="Write it where the shell loads completions from.")] = False,
) -> None:
    """Print (or --install) shell completion for bash, zsh or fish: commands, options and session names.

    bash: `cortex-tui completion bash > ~/.local/share/bash-completion/completions/cortex-tui`;
    zsh: `cortex-tui completion zsh > ~/.zfunc/_cortex-tui`; fish: `cortex-tui completion fish >
    ~/.config/fish/completions/cortex-tui.fish` — or `--install`, which does exactly that."""
    if shell not in _INSTALL_TO:
        raise UsageError(f"no completion for shell {shell!r}", "use bash, zsh or fish")
    script = completion_script(shell)
    if not install:
        typer.echo(script)
        return
    dest = Path(os.path.expanduser(_INSTALL_TO[shell]))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(script + "\n", encoding="utf-8")
    typer.echo(f"wrote {shell} completion to {dest}; {_AFTER[shell]}")
