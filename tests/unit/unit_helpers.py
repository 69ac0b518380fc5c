"""Build engine objects for the unit tier: no tmux, no git, a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import Action, TriggerBook
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionRecord, SessionState


def runtimes(sessions_toml: str, clock: FakeClock, run: str = "[run]\nname = \"u\"\n") -> dict[str, SessionRuntime]:
    """One SessionRuntime per ``[[session]]`` (sim agents unless told otherwise), in layout order."""
    text = run + '[defaults]\nagent = "sim"\n' + sessions_toml
    loaded = parse_layout(text, Path("unit.toml"))
    out: dict[str, SessionRuntime] = {}
    for spec in loaded.sessions:
        rec = SessionRecord(name=spec.name, slug=spec.name, agent=spec.agent, branch=f"cortex/u/{spec.name}",
                            worktree=f"/nonexistent/{spec.name}", created_at=clock.time())
        out[spec.name] = SessionRuntime.from_record(spec, rec, clock.time())
    return out


def set_state(rt: SessionRuntime, state: SessionState, exit_code: int | None = None) -> None:
    rt.rec.state = state
    rt.rec.exit_code = exit_code


class Recorder:
    """A TriggerBook whose callbacks are recorded."""

    def __init__(self, clock: FakeClock) -> None:
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []
        self.actions: list[tuple[str, Action, str]] = []
        self.dirty = 0
        self.book = TriggerBook(clock, self.emit, self.on_action, self.on_dirty)

    def emit(self, kind: str, session: str | None, /, **data: Any) -> None:
        self.events.append((kind, session, data))

    def on_action(self, rt: SessionRuntime, action: Action, kind: str) -> None:
        self.actions.append((rt.rec.name, action, kind))

    def on_dirty(self) -> None:
        self.dirty += 1

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, _, d in self.events if k == kind]
