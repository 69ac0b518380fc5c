"""The ``cortex-tui`` command line (typer), one module per command group.

``_app`` holds the root app; each module registers its commands on it when imported below:
``tools`` (doctor, validate, hook), ``run`` (run, up), ``demo`` (demo), ``control`` (down, stop, restart, logs),
``inspect`` (status, events), ``observe`` (metrics), ``serve`` (api, mcp), ``session`` (attach, send, approve,
deny, interrupt), ``review`` (review …, clean), ``bestof`` (best-of), ``plan`` (plan), ``shell`` (--version,
completion).
Shared options and the error printer are in ``_options``; finding a run and its records in ``_runs``.
A new command goes into the module of its group (or a new module imported here).
"""

# ruff: noqa: I001  (the import order below is the order of the commands in `cortex-tui --help`)
from __future__ import annotations

import sys

from cortex_tui.cli import tools, run, demo, control, handover, integrate, inspect, observe, serve, session, intake, queue, review, bestof, plan, shell
from cortex_tui.cli._app import DEBUG, app
from cortex_tui.cli._options import echo_error
from cortex_tui.errors import CortexError, disk_error

__all__ = ["app", "bestof", "control", "demo", "handover", "inspect", "intake", "integrate", "main", "observe", "plan", "queue", "review", "run", "serve",
           "session", "shell", "tools"]


def main() -> None:
    try:
        app(prog_name="cortex-tui")  # also under `python -m cortex_tui.cli`: usage lines and completion
    except CortexError as e:
        if DEBUG["on"]:
            raise
        echo_error(e)
        sys.exit(e.exit_code)
    except OSError as e:  # full disk, read-only state dir…: the path and what to do, exit 4 (traceback: --debug)
        if DEBUG["on"]:
            raise
        err = disk_error(None, e, "file access")
        echo_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
