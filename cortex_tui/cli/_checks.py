"""The independence test as the CLI shows it: warnings on stderr before ``validate``/``up``/``run`` go on,
an error with ``--strict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.errors import LayoutError
from cortex_tui.independence import Report, check_layout
from cortex_tui.layout import LoadedLayout

StrictOpt = Annotated[bool, typer.Option("--strict", help="Sessions that may run together on the same files are "
                                                          "an error (exit 2), not a warning.")]


def repo_for(layout_path: Path, repo: Path | None) -> Path | None:
    """Where the tracked files are: ``--repo``, else the repo holding the layout, else the current one."""
    from cortex_tui.independence import tracked_files

    for cand in (repo, layout_path.resolve().parent, Path.cwd()):
        if cand is not None and cand.is_dir() and tracked_files(cand) is not None:
            return cand
    return None


def independence(loaded: LoadedLayout, repo: Path | None, *, strict: bool = False) -> Report:
    """Print the test's warnings (stderr); raise :class:`LayoutError` listing them when ``strict``."""
    report = check_layout(loaded, repo_for(loaded.path, repo))
    if strict and report.overlaps:
        raise LayoutError("\n".join(o.message() for o in report.overlaps),
                          "add depends_on or narrow the scopes (or drop --strict to start anyway)")
    for o in report.overlaps:
        typer.echo(f"warning: {o.message()}", err=True)
    return report
