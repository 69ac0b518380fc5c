"""What the UI needs from the engine: the Supervisor's public surface, as a Protocol.

The real :class:`cortex_tui.engine.supervisor.Supervisor` satisfies it, and so does the
synthetic engine used by the UI tests and the benchmark (``tests/synthetic_engine.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from cortex_tui.bestof.models import Comparison
from cortex_tui.engine.events import Event
from cortex_tui.engine.queue_view import TaskQueue
from cortex_tui.engine.review_view import BranchDiff, Decision, QueueView
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


@runtime_checkable
class Queues(Protocol):
    """An engine that answers the run's task queue (the Supervisor; the remote engine through ``/v1/queue``)."""

    async def queue(self) -> TaskQueue: ...


class ReviewCommands(Protocol):
    """The engine's review desk (:class:`cortex_tui.engine.review_desk.ReviewDesk`, or the same desk through the
    local API: ``api/remote_review.py``). The Review and Compare screens read and decide only through it."""

    @property
    def sends(self) -> bool:
        """"Request changes" can type into the agent (False: a desk with no supervisor)."""
        ...

    async def entries(self, *, refresh: bool = False) -> QueueView: ...

    async def diff(self, session: str) -> BranchDiff: ...

    async def approve(self, session: str, *, squash: bool = False, by: str | None = None) -> Decision: ...

    async def reject(self, session: str, *, reason: str = "", by: str | None = None) -> Decision: ...

    async def request_changes(self, session: str, text: str, *, by: str | None = None) -> Decision: ...

    async def reverify(self, session: str) -> Decision: ...

    async def comparison(self) -> Comparison | None: ...

    async def compare(self, *, top_k: int = 3) -> Comparison: ...

    async def choose_winner(self, session: str, *, by: str | None = None) -> Comparison: ...


@runtime_checkable
class Reviews(Protocol):
    """An engine with a review desk (the Supervisor and the remote engine; not every test double)."""

    @property
    def review(self) -> ReviewCommands: ...
