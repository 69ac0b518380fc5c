"""Reading an agent's own JSON-lines session file (Codex's rollout, Gemini's chat) incrementally: found once
by the adapter's rule, then read from the last offset, a torn last line kept for the next read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from cortex_tui.agents.base import AgentSignal


def iso_epoch(v: object) -> float | None:
    """An agent record's ISO 8601 timestamp (``Z`` or an offset) as epoch seconds; None when unreadable."""
    if not isinstance(v, str):
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class JsonlTail:
    """The session file of the session started in ``cwd`` (after ``since``), read incrementally."""

    home: Path
    cwd: str
    since: float
    path: Path | None = None
    offset: int = 0
    _partial: bytes = b""
    _last_find: float = field(default=float("-inf"))

    marker: ClassVar[bytes] = b""
    """A line without these bytes is skipped undecoded (cheap filtering of a chatty file); b"" keeps all."""

    def _find(self) -> Path | None:
        raise NotImplementedError

    def signals_of(self, obj: dict[str, Any]) -> list[AgentSignal]:
        raise NotImplementedError

    def read(self) -> list[AgentSignal]:
        if self.path is None:
            self.path = self._find()
            if self.path is None:
                return []
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        if not data:
            return []
        self.offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        out: list[AgentSignal] = []
        for raw in lines:
            if self.marker not in raw:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.extend(self.signals_of(obj))
        return out
