"""A read-only view of the run for the screens: what they show, never how the app is wired.

Screens get a :class:`RunView` at construction and read the engine's state through it; they change
nothing through it. Actions go up as messages (:mod:`cortex_tui.ui.messages`), the app handles them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cortex_tui.model.layout import ResolvedSession, RunSpec
from cortex_tui.model.state import SessionRecord
from cortex_tui.ui.engine_protocol import Engine
from cortex_tui.ui.present import Palette, SessionExtras


class RunView:
    """The run as the screens see it: sessions, specs, the ``[run]`` table, node health, palette, clock."""

    def __init__(self, engine: Engine, extras: Mapping[str, SessionExtras], *, clock: Callable[[], float],
                 palette: Callable[[], Palette], supervising: Callable[[], bool]) -> None:
        self.engine = engine
        self._extras = extras
        self.clock = clock
        self._palette = palette
        self._supervising = supervising

    @property
    def run_id(self) -> str:
        return self.engine.run_id

    @property
    def run(self) -> RunSpec:
        """The layout's ``[run]`` table (budget, mode, base)."""
        return self.engine.layout.run

    @property
    def run_budget(self) -> float | None:
        return self.run.budget_usd

    @property
    def best_of(self) -> bool:
        return self.run.mode == "best-of"

    @property
    def sessions(self) -> Mapping[str, SessionRecord]:
        try:
            return self.engine.state.sessions
        except (AttributeError, RuntimeError):  # engine not started yet
            return {}

    @property
    def specs(self) -> Mapping[str, ResolvedSession]:
        return self.engine.specs

    @property
    def nodes(self) -> Mapping[str, Mapping[str, object]]:
        """Health of remote nodes (name -> reachable, latency_ms, …), as the engine last saw it."""
        try:
            return self.engine.state.nodes
        except (AttributeError, RuntimeError):
            return {}

    @property
    def extras(self) -> Mapping[str, SessionExtras]:
        return self._extras

    @property
    def palette(self) -> Palette:
        return self._palette()

    @property
    def supervising(self) -> bool:
        return self._supervising()
