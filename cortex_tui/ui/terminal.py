"""Hand the terminal to another program (tmux attach, a shell) and take it back."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textual.app import App, SuspendNotSupported


async def run_suspended(app: App[Any], argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                        cwd: Path | None = None) -> int | None:
    """Run ``argv`` on the real terminal with the UI suspended; its exit status, or None when there is no
    terminal to hand over (headless, a web front end).

    ``batch_update`` keeps Textual from painting over the program while the engine, which shares the event
    loop, goes on supervising.
    """
    try:
        with app.suspend(), app.batch_update():
            proc = await asyncio.create_subprocess_exec(*argv, env=None if env is None else dict(env),
                                                        cwd=None if cwd is None else str(cwd))
            code = await proc.wait()
    except SuspendNotSupported:
        return None
    app.refresh()
    return code
