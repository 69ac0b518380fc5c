"""The ``cortex-tui`` command line (typer), one module per command group.

``_app`` holds the root app; each module registers its commands on it when imported (``COMMANDS``, loaded by
:func:`main` — after ``status --json`` had its chance to answer without them, ``cli/status_fast.py``):
``tools`` (doctor, validate, hook), ``run`` (run, up), ``demo`` (demo), ``control`` (down, stop, restart, logs),
``inspect`` (status, events), ``observe`` (metrics), ``serve`` (api, mcp), ``session`` (attach, send, approve,
deny, interrupt), ``review`` (review …, clean), ``bestof`` (best-of), ``plan`` (plan), ``shell`` (--version,
completion).
Shared options and the error printer are in ``_options``; finding a run and its records in ``_runs``.
A new command goes into the module of its group (or a new module listed in ``COMMANDS``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # not at run time: `status --json` (cli/status_fast.py) does not pay for typing's import
    from typing import Any

COMMANDS = ("tools", "run", "demo", "control", "handover", "integrate", "inspect", "observe", "serve", "session", "intake", "queue", "review", "bestof", "plan", "shell")
"""The command modules, in the order of their commands in `cortex-tui --help` (a new module goes here)."""

__all__ = ["app", "bestof", "control", "demo", "handover", "inspect", "intake", "integrate", "main", "observe", "plan", "queue", "review", "run", "serve",
           "session", "shell", "tools"]


def _load() -> None:
    """Import every command module (each registers its commands on the root app)."""
    import importlib

    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str) -> Any:
    """``cortex_tui.cli.app`` (and the command modules) load the whole CLI on first use: importing this
    package costs nothing, so ``status --json`` (cli/status_fast.py) answers before typer and every model load."""
    if name in ("app", "DEBUG") or name in __all__:
        _load()
        from cortex_tui.cli import _app

        if name in ("app", "DEBUG"):
            return getattr(_app, name)
        return sys.modules[f"{__name__}.{name}"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    from cortex_tui.cli.status_fast import run_fast

    if run_fast(sys.argv[1:]):
        return
    _load()
    from cortex_tui.cli._app import DEBUG, app
    from cortex_tui.cli._options import echo_error
    from cortex_tui.errors import CortexError, disk_error

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
