"""aider's own transcript, ``--chat-history-file`` (markdown, appended as the session goes), read incrementally.

aider writes every user message as ``#### <text>`` and every tool message as a ``> <text>`` block-quote line
(the same text it prints), e.g. its refusal to edit a file outside its git root — Python's
``'<path>' is not in the subpath of '<root>' …`` (a repr of the resolved path). Those lines are the adapter's
structured record of the paths it refused: one outside the session's worktree is an ``outside`` signal (the
attempt to edit it, which aider itself blocked).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cortex_tui.agents.base import AgentSignal

_REFUSED = re.compile(r"""^> (?P<path>'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*") is not in the subpath of """)
MAX_READ = 1 << 20
"""At most this many new bytes per read (a huge transcript is caught up over several ticks)."""


def refused_path(line: str) -> str | None:
    """The path of aider's "is not in the subpath of" refusal on this transcript line (None: not one)."""
    m = _REFUSED.match(line)
    if not m:
        return None
    try:
        path = ast.literal_eval(m.group("path"))
    except (ValueError, SyntaxError):
        return None
    return path if isinstance(path, str) and path.startswith("/") else None


@dataclass
class HistoryTail:
    path: Path
    worktree: str
    offset: int = 0

    def read(self) -> list[AgentSignal]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(MAX_READ)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out: list[AgentSignal] = []
        root = os.path.realpath(self.worktree)
        for raw in data[:end].split(b"\n"):
            line = raw.decode("utf-8", "replace").rstrip()
            if (p := refused_path(line)) is not None:
                real = os.path.realpath(p)
                if real != root and not real.startswith(root.rstrip("/") + "/"):
                    out.append(AgentSignal("outside", text=real))
        return out

    def checkpoint(self) -> dict[str, Any]:
        return {"path": str(self.path), "worktree": self.worktree, "offset": self.offset}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> HistoryTail | None:
        if isinstance(data.get("path"), str) and isinstance(data.get("worktree"), str) \
                and isinstance(data.get("offset"), int):
            return cls(Path(data["path"]), data["worktree"], max(0, data["offset"]))
        return None
