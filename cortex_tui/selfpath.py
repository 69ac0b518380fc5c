"""Make this copy of cortex_tui importable in the child processes it starts (sim agent, hooks, daemon).

Children run ``python -m cortex_tui.…``; without this they would import whatever copy the interpreter's
site-packages point at (or none, when cortex-tui runs from a source tree that is not installed).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
"""The directory that contains the ``cortex_tui`` package."""


def child_pythonpath(existing: str | None = None) -> str:
    """``PYTHONPATH`` for a child: this package's parent first, then ``existing`` (default: ours)."""
    rest = os.environ.get("PYTHONPATH", "") if existing is None else existing
    parts = [PACKAGE_PARENT, *(p for p in rest.split(os.pathsep) if p and p != PACKAGE_PARENT)]
    return os.pathsep.join(parts)
