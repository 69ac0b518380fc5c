"""What the UI needs from the engine: the Supervisor's public surface, as a Protocol.

The real :class:`cortex_tui.engine.supervisor.Supervisor` satisfies it, and so does the
synthetic engine used by the UI tests and the benchmark (``tests/synthetic_engine.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from cortex_tui.engine.events import Event
from cortex_tui.model.layout import Layout, ResolvedSession, SessionSpec
from cortex_tui.model.state import RunState


@runtime_checkable
class Engine(Protocol):
    """The Supervisor as seen by the TUI. Every method runs on the app's (= the engine's) event loop."""

    @property
    def run_id(self) -> str: ...

    @property
    def state(self) -> RunState: ...

    @property
    def specs(self) -> Mapping[str, ResolvedSession]: ...

    @property
    def layout(self) -> Layout:
        """The run's layout (its ``[run]`` table: budget, mode, base)."""
        ...

    def subscribe(self, cb: Callable[[Event], None]) -> Callable[[], None]: ...

    async def start(self) -> None: ...

    async def supervise(self, *, until_done: bool) -> None: ...

    def request_stop(self) -> None: ...

    async def send(self, name: str, text: str) -> None: ...

    async def approve(self, name: str) -> None: ...

    async def deny(self, name: str) -> None: ...

    async def interrupt(self, name: str) -> None: ...

    async def stop_session(self, name: str) -> None: ...

    async def restart_session(self, name: str) -> None: ...

    def attach_argv(self, name: str) -> list[str]: ...

    async def screen(self, name: str, *, escapes: bool = True, lines: int = 200) -> str: ...

    async def shutdown(self) -> None: ...


@runtime_checkable
class AddsSessions(Protocol):
    """An engine that can add a session to its live run (``n`` in the TUI, ``cortex-tui add``)."""

    async def add_session(self, spec: SessionSpec) -> None: ...
