"""Writes the bubblewrap sandbox refused, read back from a session's output (docs/isolation.md): each is an
``out_of_scope`` trigger, once per path, with the evidence "blocked by sandbox".

Two readers: the log (engine/ingest.py: whole lines, and the unfinished one — a full-screen TUI such as
OpenCode may write no newline for minutes) and the screens the engine looks at anyway (engine/screen.py): a
TUI that redraws only the cells that changed (Codex's command output under its approval dialog, which showed
the same path) may never put the error's line whole into the log; its screen has it.
"""

from __future__ import annotations

from pathlib import Path

from cortex_tui.backends.sandbox import EROFS, blocked_path
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.watch.rules import TriggerChange

EROFS_TEXT = EROFS.decode()


def flag_blocked(book: TriggerBook, rt: SessionRuntime, path: str, line: str) -> None:
    """A write the sandbox refused (EROFS in the agent's output): out_of_scope, once per path."""
    wt = Path(rt.rec.worktree)
    full = Path(path) if Path(path).is_absolute() else wt / path
    shown = str(full.relative_to(wt)) if full.is_relative_to(wt) else str(full)
    key = f"sandbox:{shown}"
    if any(t.kind == "out_of_scope" and t.key == key for t in rt.rec.triggers):
        return
    book.apply(rt, TriggerChange("out_of_scope", True, {
        "path": shown, "change": "write blocked by sandbox:", "evidence": "blocked by sandbox",
        "inside_worktree": full.is_relative_to(wt), "line": line[:300], "scope": list(rt.spec.scope)},
        key=key, severity="error"))


def screen_blocked(book: TriggerBook, rt: SessionRuntime, lines: list[str]) -> None:
    """The refused writes a screen of a sandboxed session shows."""
    if rt.rec.sandbox:
        for line in lines:
            if EROFS_TEXT in line and (blocked := blocked_path(line)):
                flag_blocked(book, rt, blocked, line.strip())
